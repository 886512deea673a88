import Foundation
import CLEFArch
import CLEFKernels
import CLEFFloat
import CLEFBlob
import CLEFQuant

/// Turns float weights (from a checkpoint) into a weight blob of any precision. Integer blobs
/// are calibrated on real windows: per-tensor activation ranges by a `RangeMethod`, symmetric
/// per-output-channel int8 weights, zero points folded into the biases, and Swish/sigmoid tables.
public enum Exporter {
    public struct Options {
        public var precision: BlobPrecision
        public var method: RangeMethod = .mse
        public var plannedLength = 5000
        public init(precision: BlobPrecision) { self.precision = precision }
    }

    /// Quantisation of one activation tensor: real = scale * (code - zeroPoint).
    public struct QParams {
        public var scale: Double
        public var zeroPoint: Int32
    }

    public static func export(weights: [String: [Float]], config: Net1DConfig, size: ModelSize, options: Options,
                              calibration: CalibrationStats?) throws -> [UInt8] {
        var w = BlobWriter(precision: options.precision, size: size, inChannels: config.inChannels,
                           plannedLength: options.plannedLength)
        switch options.precision {
        case .f32, .f16:
            for s in config.parameterSpecs where s.role == .weight {
                guard let v = weights[s.name] else { throw ExportError("missing weight \(s.name)") }
                if options.precision == .f32 { w.add(s.name, floats: v, shape: s.shape) } else { w.add(s.name, halves: v, shape: s.shape) }
            }
        case .q8, .q16:
            guard let stats = calibration else { throw ExportError("\(options.precision.name) needs calibration windows") }
            try Quantizer(weights: weights, config: config, stats: stats, method: options.method,
                          bits: options.precision == .q8 ? 8 : 16).write(into: &w)
        }
        return w.finish()
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The integer quantisation of a whole encoder.
struct Quantizer {
    let weights: [String: [Float]]
    let config: Net1DConfig
    let stats: CalibrationStats
    let method: RangeMethod
    let bits: Int
    var qmin: Int64 { bits == 8 ? -128 : -32768 }
    var qmax: Int64 { bits == 8 ? 127 : 32767 }
    /// z-scored windows have |x| <= sqrt(L - 1) < 71 for L = 5000: int16 input codes at this
    /// scale never clip.
    static let inputScale = 71.0 / 32767.0

    func params(_ p: ActivationPoint) throws -> Exporter.QParams {
        guard let s = stats.point(p) else { throw ExportError("no calibration statistics for \(p)") }
        let (lo, hi) = method.range(s, levels: Int(qmax - qmin + 1))
        let scale = max((hi - lo) / Double(qmax - qmin), 1e-12)
        let zp = Int32(clamp(Int64((Double(qmin) - lo / scale).rounded()), qmin, qmax))
        return Exporter.QParams(scale: scale, zeroPoint: zp)
    }

    /// Symmetric mean params (zero point 0) for the SE channel means.
    func symmetric(_ p: ActivationPoint) throws -> Exporter.QParams {
        guard let s = stats.point(p) else { throw ExportError("no calibration statistics for \(p)") }
        let (lo, hi) = method.range(s, levels: Int(qmax - qmin + 1))
        return Exporter.QParams(scale: max(max(-lo, hi) / Double(qmax), 1e-12), zeroPoint: 0)
    }

    /// The packed multiplier (see `packRequant`): real = mult * 2^-(23 + shift).
    static func multiplier(_ m: Double) throws -> Int32 {
        guard m > 0, m.isFinite else { return packRequant(mult: 0, shift: 0) }
        let (f, e0) = frexp(m)          // m = f * 2^e, f in [0.5, 1)
        var e = e0
        var q = Int64((f * 8388608.0).rounded())
        if q == 1 << 23 { q = 1 << 22; e += 1 }
        if e < -39 { return packRequant(mult: 0, shift: 0) }     // below one code for any accumulator
        guard e <= 22 else { throw ExportError("requantisation multiplier \(m) is too large: calibration ranges are degenerate") }
        return packRequant(mult: Int32(q), shift: Int32(-e))
    }

    func table(_ input: Exporter.QParams, _ output: Exporter.QParams, _ f: (Double) -> Double) -> [Int64] {
        let n = lookupTableCount(bits: bits)
        return (0..<n).map { i in
            let q = bits == 8 ? Int64(i) - 128 : Int64(i) * 128 - 32768
            let real = input.scale * Double(q - Int64(input.zeroPoint))
            return clamp(Int64((f(real) / output.scale).rounded()) + Int64(output.zeroPoint), qmin, qmax)
        }
    }

    func gateTable(_ input: Exporter.QParams) -> [Int16] {
        let n = lookupTableCount(bits: bits)
        return (0..<n).map { i in
            let q = bits == 8 ? Int64(i) - 128 : Int64(i) * 128 - 32768
            let real = input.scale * Double(q - Int64(input.zeroPoint))
            return Int16((32767 / (1 + exp(-real))).rounded())
        }
    }

    func addTable(_ w: inout BlobWriter, _ name: String, _ t: [Int64]) {
        if bits == 8 { w.add(name, int8: t.map { Int8($0) }, shape: [t.count]) } else { w.add(name, int16: t.map { Int16($0) }, shape: [t.count]) }
    }

    /// Per-output-channel symmetric int8 weights, int32 bias (input zero point folded in) and
    /// requantisation to `output`.
    func addLayer(_ w: inout BlobWriter, _ prefix: String, weightName: String, biasName: String, outCount: Int,
                  input: Exporter.QParams, output: Exporter.QParams) throws {
        guard let wf = weights[weightName], let bf = weights[biasName], bf.count == outCount else {
            throw ExportError("missing weights for \(prefix)")
        }
        let per = wf.count / outCount
        var q = [Int8](repeating: 0, count: wf.count)
        var biasRequant = [Int32](repeating: 0, count: 2 * outCount)
        for o in 0..<outCount {
            let row = wf[(o * per)..<((o + 1) * per)]
            let maxAbs = Double(row.map { abs($0) }.max() ?? 0)
            let sw = maxAbs > 0 ? maxAbs / 127 : 1
            var sumQ: Int64 = 0
            for i in 0..<per {
                let v = Int8(clamp(Int64((Double(wf[o * per + i]) / sw).rounded()), -127, 127))
                q[o * per + i] = v
                sumQ += Int64(v)
            }
            let b = (Double(bf[o]) / (input.scale * sw)).rounded() - Double(Int64(input.zeroPoint) * sumQ)
            biasRequant[2 * o] = Int32(clamp(Int64(max(-9.0e18, min(9.0e18, b))), Int64(Int32.min), Int64(Int32.max)))
            biasRequant[2 * o + 1] = try Self.multiplier(input.scale * sw / output.scale)
        }
        w.add(prefix + ".weight", int8: q, shape: layerShape(weightName, outCount: outCount, per: per))
        w.add(prefix + ".bias_requant", int32: biasRequant, shape: [outCount, 2])
    }

    func layerShape(_ weightName: String, outCount: Int, per: Int) -> [Int] {
        for s in config.parameterSpecs where s.name == weightName { return s.shape }
        return [outCount, per]
    }

    func write(into w: inout BlobWriter) throws {
        let input = Exporter.QParams(scale: Self.inputScale, zeroPoint: 0)
        w.add("input.scale", floats: [Float(input.scale)], shape: [1])
        // Stem.
        let stemPre = try params(ActivationPoint(block: -1, kind: .mid1))
        var x = try params(ActivationPoint(block: -1, kind: .output))
        try addLayer(&w, "first_conv", weightName: "first_conv.conv.weight", biasName: "first_conv.conv.bias",
                     outCount: config.baseFilters, input: input, output: stemPre)
        w.add("stem.qparams", int32: [stemPre.zeroPoint, x.zeroPoint], shape: [2])
        addTable(&w, "stem.lut", table(stemPre, x, swish))
        for (bi, spec) in config.blocks.enumerated() {
            let n = spec.name
            func p(_ k: ActivationKind) throws -> Exporter.QParams { try params(ActivationPoint(block: bi, kind: k)) }
            let a1 = spec.activateInput ? try p(.act1) : x
            let m1 = try p(.mid1), a2 = try p(.act2), m2 = try p(.mid2), a3 = try p(.act3), o = try p(.conv3)
            let mean = try symmetric(ActivationPoint(block: bi, kind: .seMean))
            let h = try p(.seHidden), ha = try p(.seHiddenAct), g = try p(.seGate), y = try p(.output)
            if spec.activateInput { addTable(&w, n + ".lut_act1", table(x, a1, swish)) }
            try addLayer(&w, n + ".conv1", weightName: n + ".conv1.conv.weight", biasName: n + ".conv1.conv.bias",
                         outCount: spec.middleChannels, input: a1, output: m1)
            addTable(&w, n + ".lut_act2", table(m1, a2, swish))
            try addLayer(&w, n + ".conv2", weightName: n + ".conv2.conv.weight", biasName: n + ".conv2.conv.bias",
                         outCount: spec.middleChannels, input: a2, output: m2)
            addTable(&w, n + ".lut_act3", table(m2, a3, swish))
            try addLayer(&w, n + ".conv3", weightName: n + ".conv3.conv.weight", biasName: n + ".conv3.conv.bias",
                         outCount: spec.outChannels, input: a3, output: o)
            try addLayer(&w, n + ".se_fc1", weightName: n + ".se_fc1.weight", biasName: n + ".se_fc1.bias",
                         outCount: spec.outChannels / 2, input: mean, output: h)
            addTable(&w, n + ".lut_se", table(h, ha, swish))
            try addLayer(&w, n + ".se_fc2", weightName: n + ".se_fc2.weight", biasName: n + ".se_fc2.bias",
                         outCount: spec.outChannels, input: ha, output: g)
            w.add(n + ".lut_gate", int16: gateTable(g), shape: [lookupTableCount(bits: bits)])

            var qp = [Int32](repeating: 0, count: BlockParam.count)
            qp[BlockParam.zInput.rawValue] = x.zeroPoint
            qp[BlockParam.zAct1.rawValue] = a1.zeroPoint
            qp[BlockParam.zMid1.rawValue] = m1.zeroPoint
            qp[BlockParam.zAct2.rawValue] = a2.zeroPoint
            qp[BlockParam.zMid2.rawValue] = m2.zeroPoint
            qp[BlockParam.zAct3.rawValue] = a3.zeroPoint
            qp[BlockParam.zConv3.rawValue] = o.zeroPoint
            qp[BlockParam.zHidden.rawValue] = h.zeroPoint
            qp[BlockParam.zHiddenAct.rawValue] = ha.zeroPoint
            qp[BlockParam.zGate.rawValue] = g.zeroPoint
            qp[BlockParam.zOutput.rawValue] = y.zeroPoint
            qp[BlockParam.meanRequant.rawValue] = try Self.multiplier(o.scale / (256 * mean.scale))
            qp[BlockParam.gateRequant.rawValue] = try Self.multiplier(o.scale / (32767 * y.scale))
            qp[BlockParam.idRequant.rawValue] = try Self.multiplier(x.scale / y.scale)
            w.add(n + ".qparams", int32: qp, shape: [BlockParam.count])
            w.add(n + ".scales", floats: [x, a1, m1, a2, m2, a3, o, mean, h, ha, g, y].map { Float($0.scale) }, shape: [12])
            x = y
        }
        w.add("output.scale", floats: [Float(x.scale / 256)], shape: [1])
    }
}

@inline(__always) func swish(_ v: Double) -> Double { v / (1 + exp(-v)) }
