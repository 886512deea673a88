import CLEFArch
import CLEFBlob

/// Downstream heads stored in the blob next to the encoder and evaluated at every hop: heart
/// rate in bpm (ridge: w . e + b) and atrial fibrillation (logistic: sigmoid(w . e + b), the
/// feature standardisation folded into w and b). Optional float32 tensors `head.hr.weight` [D],
/// `head.hr.bias` [1], `head.af.weight` [D], `head.af.bias` [1]; a blob without them has no heads.
/// Reads the weights in place; Embedded-Swift-clean, no allocation.
public struct LinearHeads {
    public struct Head {
        public let weight: UnsafePointer<Float>
        public let bias: Float
        public func value(_ e: UnsafePointer<Float>, count: Int) -> Float {
            var s = bias
            for i in 0..<count { s += weight[i] * e[i] }
            return s
        }
    }
    public let heartRate: Head?
    public let atrialFibrillation: Head?
    public let dim: Int

    public init(blob: BlobReader) throws(BlobError) {
        let dim = blob.config.embeddingDim
        self.dim = dim
        func head(_ name: String) throws(BlobError) -> Head? {
            guard blob.tensor("head.\(name).weight") != nil || blob.tensor("head.\(name).bias") != nil else { return nil }
            let w = try blob.require("head.\(name).weight", .f32, [dim])
            let b = try blob.require("head.\(name).bias", .f32, [1])
            let bias = blob.pointer(b, as: Float.self).pointee
            let weight = blob.pointer(w, as: Float.self)
            for i in 0..<dim where !weight[i].isFinite {
                throw BlobError("tensor 'head.\(name).weight'", "value \(i) is not finite")
            }
            guard bias.isFinite else { throw BlobError("tensor 'head.\(name).bias'", "is not finite") }
            return Head(weight: weight, bias: bias)
        }
        let hr = try head("hr"), af = try head("af")
        heartRate = hr
        atrialFibrillation = af
    }

    public var isEmpty: Bool { heartRate == nil && atrialFibrillation == nil }

    /// Heart rate (bpm) of an embedding, if the blob has that head.
    public func bpm(_ e: UnsafePointer<Float>) -> Float? { heartRate?.value(e, count: dim) }

    /// Probability of atrial fibrillation, if the blob has that head.
    public func afProbability(_ e: UnsafePointer<Float>) -> Float? {
        guard let z = atrialFibrillation?.value(e, count: dim) else { return nil }
        return 1 / (1 + expf32(-z))
    }
}

/// e^x in float32 without libm (range-reduced polynomial; 1 ulp-level is plenty for a probability).
@inline(__always)
func expf32(_ x: Float) -> Float {
    let c = min(max(x, -87), 88)
    let n = (c * 1.442695).rounded()
    let r = c - n * 0.6931472
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720; p = p * r + 1.0 / 120; p = p * r + 1.0 / 24; p = p * r + 1.0 / 6; p = p * r + 0.5
    p = p * r + 1; p = p * r + 1
    return p * Float(sign: .plus, exponent: Int(n), significand: 1)
}
