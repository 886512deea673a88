import Foundation
import CLEFArch
import CLEFKernels
import CLEFFloat

/// Second moments of every convolution's input over calibration windows, for GPTQ weight
/// rounding (Frantar et al., 2022): rounding the weights of one output channel in order, each
/// rounding error is pushed onto the weights not rounded yet, in proportion to how their inputs
/// correlate, so that the layer's output (not each weight) stays close. Per conv and group, the
/// matrix is over the (input channel, tap) pairs a group's outputs read; one output position in
/// `positionStride` is sampled.
public struct LayerHessians {
    /// Weight name -> one d x d matrix (row-major) per group, d = inputs per group x kernel.
    public private(set) var matrices: [String: [[Double]]] = [:]

    public init(encoder: Net1DFloat, windows: [[Float]], positionStride: Int = 4) {
        let length = windows.first?.count ?? 5000
        let ws = FloatWorkspace(config: encoder.config, maxLength: length)
        var out = [Float](repeating: 0, count: encoder.embeddingDim)
        var m: [String: [[Double]]] = [:]
        let blocks = encoder.config.blocks
        for w in windows {
            w.withUnsafeBufferPointer { xp in
                encoder.forwardDetailed(xp.baseAddress!, length: length, workspace: ws, output: &out) { pt, data, c, l in
                    guard let (name, shape) = ConvInput.conv(reading: pt, blocks: blocks) else { return }
                    var mats = m[name] ?? ConvInput.zeroMatrices(shape)
                    ConvInput.accumulate(&mats, x: data, y: data, length: l, shape: shape, positionStride: positionStride,
                                         symmetric: true)
                    m[name] = mats
                }
            }
        }
        matrices = m.mapValues { $0.map(ConvInput.mirrorUpper) }
    }

    /// The upper Cholesky factor of (H' + damp I)^-1 for H' = D^-1 H D^-1, D = diag(scales):
    /// what GPTQ spreads rounding errors with. nil when the matrix is degenerate.
    static func inverseFactor(_ h: [Double], scales: [Double], damp: Double = 0.01) -> [Double]? {
        let d = scales.count
        guard h.count == d * d else { return nil }
        var a = [Double](repeating: 0, count: d * d)
        var meanDiag = 0.0
        for i in 0..<d { for j in 0..<d { a[i * d + j] = h[i * d + j] / (scales[i] * scales[j]) }; meanDiag += a[i * d + i] / Double(d) }
        guard meanDiag > 0, meanDiag.isFinite else { return nil }
        for i in 0..<d { a[i * d + i] += damp * meanDiag + (a[i * d + i] == 0 ? meanDiag : 0) }
        // Cholesky a = L L^T, then inverse = L^-T L^-1, then its upper Cholesky factor.
        guard let l = cholesky(a, d) else { return nil }
        var linv = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            linv[i * d + i] = 1 / l[i * d + i]
            for j in 0..<i {
                var s = 0.0
                for k in j..<i { s += l[i * d + k] * linv[k * d + j] }
                linv[i * d + j] = -s / l[i * d + i]
            }
        }
        var inv = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in i..<d {
            var s = 0.0
            for k in j..<d { s += linv[k * d + i] * linv[k * d + j] }
            inv[i * d + j] = s; inv[j * d + i] = s
        } }
        // Upper factor U with inv = U^T U: the transpose of the lower Cholesky factor of the
        // reversed matrix is messy; directly: U = chol(inv)^T via the lower factor.
        guard let li = cholesky(inv, d) else { return nil }
        var u = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0...i { u[j * d + i] = li[i * d + j] } }
        return u
    }

    /// Solves L L^T x = b for the lower Cholesky factor `l`.
    static func choleskySolve(_ l: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var y = b
        for i in 0..<d {
            var s = y[i]
            for k in 0..<i { s -= l[i * d + k] * y[k] }
            y[i] = s / l[i * d + i]
        }
        for i in stride(from: d - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<d { s -= l[k * d + i] * y[k] }
            y[i] = s / l[i * d + i]
        }
        return y
    }

    static func cholesky(_ a: [Double], _ d: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var s = a[i * d + j]
                for k in 0..<j { s -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * d + i] = s.squareRoot()
                } else {
                    l[i * d + j] = s / l[j * d + j]
                }
            }
        }
        return l
    }
}

/// Which convolution (or squeeze-excitation linear) reads which observed tensor, and the patch
/// sums GPTQ needs.
enum ConvInput {
    /// The conv whose input `pt` is: conv1 reads Swish(block input), or the previous block's
    /// output where a block does not activate its input (the stem output for the first block).
    static func conv(reading pt: ActivationPoint, blocks: [BlockSpec]) -> (String, ConvShape)? {
        let b = pt.block
        if pt.kind == .act1 || (pt.kind == .output && b + 1 < blocks.count && !blocks[b + 1].activateInput) {
            let spec = blocks[pt.kind == .act1 ? b : b + 1]
            return (spec.name + ".conv1.conv.weight",
                    ConvShape(inChannels: spec.inChannels, outChannels: spec.middleChannels, groups: 1, kernel: 1, stride: 1))
        } else if pt.kind == .act2, b >= 0 {
            let spec = blocks[b]
            return (spec.name + ".conv2.conv.weight",
                    ConvShape(inChannels: spec.middleChannels, outChannels: spec.middleChannels, groups: spec.groups,
                              kernel: spec.kernelSize, stride: spec.stride))
        } else if pt.kind == .act3, b >= 0 {
            let spec = blocks[b]
            return (spec.name + ".conv3.conv.weight",
                    ConvShape(inChannels: spec.middleChannels, outChannels: spec.outChannels, groups: 1, kernel: 1, stride: 1))
        } else if pt.kind == .seMean, b >= 0 {
            // The squeeze-excitation's linears read one vector a window: a 1x1 conv over length 1.
            let c = blocks[b].outChannels
            return (blocks[b].name + ".se_fc1.weight", ConvShape(inChannels: c, outChannels: c / 2, groups: 1, kernel: 1, stride: 1))
        } else if pt.kind == .seHiddenAct, b >= 0 {
            let c = blocks[b].outChannels
            return (blocks[b].name + ".se_fc2.weight", ConvShape(inChannels: c / 2, outChannels: c, groups: 1, kernel: 1, stride: 1))
        }
        return nil
    }

    static func zeroMatrices(_ shape: ConvShape) -> [[Double]] {
        let d = shape.inPerGroup * shape.kernel
        return [[Double]](repeating: [Double](repeating: 0, count: d * d), count: shape.groups)
    }

    /// Adds, per group, the sum over sampled output positions of p(x) p(y)^T, where p(.) is the
    /// (input channel, tap) patch a group's output reads (zero padding as the conv does). With
    /// `symmetric` (x == y), only the upper triangle is summed.
    static func accumulate(_ mats: inout [[Double]], x: UnsafePointer<Float>, y: UnsafePointer<Float>, length l: Int,
                           shape: ConvShape, positionStride: Int, symmetric: Bool) {
        let cinG = shape.inPerGroup, k = shape.kernel, s = shape.stride, d = cinG * k
        let lo = shape.outLength(l), left = max(0, (lo - 1) * s + k - l) / 2
        var p = [Double](repeating: 0, count: d), q = [Double](repeating: 0, count: d)
        for g in 0..<shape.groups {
            mats[g].withUnsafeMutableBufferPointer { h in
                for t in stride(from: 0, to: lo, by: positionStride) {
                    for cl in 0..<cinG {
                        let off = (g * cinG + cl) * l
                        for tap in 0..<k {
                            let i = t * s + tap - left
                            let inside = i >= 0 && i < l
                            p[cl * k + tap] = inside ? Double(x[off + i]) : 0
                            q[cl * k + tap] = inside ? Double(y[off + i]) : 0
                        }
                    }
                    for a in 0..<d where p[a] != 0 {
                        let pa = p[a]
                        for b in (symmetric ? a : 0)..<d { h[a * d + b] += pa * q[b] }
                    }
                }
            }
        }
    }

    static func mirrorUpper(_ h: [Double]) -> [Double] {
        let d = Int(Double(h.count).squareRoot())
        var f = h
        for a in 0..<d { for b in 0..<a { f[a * d + b] = f[b * d + a] } }
        return f
    }
}

/// Moments of one conv's input for GPTQ with error feedback from the layers already quantised
/// ("asymmetric calibration", as in GPTAQ, Li et al. 2025): the rounding targets the float
/// model's output W x_f from the quantised model's input x_q, so every layer also absorbs what
/// the layers before it got wrong. `h` = sum x_q x_q^T, `cross` = sum x_q x_f^T (per group,
/// d x d), and each input channel's mean on both paths (for bias correction).
public struct LayerMoments {
    public var h: [[Double]]
    public var cross: [[Double]]
    public var meanQuantised: [Double]
    public var meanFloat: [Double]
}

/// Runs the float encoder and the partially quantised one (float weights replaced by their
/// dequantised values as the exporter commits them) over the calibration windows.
public final class SequentialMoments {
    public let config: Net1DConfig
    let reference: Net1DFloat
    let windows: [[Float]]
    let positionStride: Int
    /// Current weights: float, or dequantised once committed.
    public private(set) var current: [String: [Float]]

    public init(reference: Net1DFloat, weights: [String: [Float]], windows: [[Float]], positionStride: Int = 4) {
        config = reference.config
        self.reference = reference
        self.windows = windows
        self.positionStride = positionStride
        current = weights
    }

    /// Replaces a tensor of the simulated quantised model with its dequantised value.
    func commit(_ name: String, _ values: [Float]) { current[name] = values }

    /// Moments of the input of conv `weightName` (nil if no conv reads an observed tensor by that name).
    func moments(for weightName: String) -> LayerMoments? {
        guard let quantised = try? Net1DFloat(config: config, tensors: { self.current[$0] }) else { return nil }
        let length = windows.first?.count ?? 5000
        let ws = FloatWorkspace(config: config, maxLength: length)
        var out = [Float](repeating: 0, count: config.embeddingDim)
        let blocks = config.blocks
        var h: [[Double]]? = nil, cross: [[Double]]? = nil
        var meanQ: [Double] = [], meanF: [Double] = [], count = 0
        var floatInput: [Float] = []
        for w in windows {
            w.withUnsafeBufferPointer { xp in
                reference.forwardDetailed(xp.baseAddress!, length: length, workspace: ws, output: &out) { pt, data, c, l in
                    guard let (name, _) = ConvInput.conv(reading: pt, blocks: blocks), name == weightName else { return }
                    floatInput = Array(UnsafeBufferPointer(start: data, count: c * l))
                }
                quantised.forwardDetailed(xp.baseAddress!, length: length, workspace: ws, output: &out) { pt, data, c, l in
                    guard let (name, shape) = ConvInput.conv(reading: pt, blocks: blocks), name == weightName,
                          floatInput.count == c * l else { return }
                    if h == nil {
                        h = ConvInput.zeroMatrices(shape); cross = h
                        meanQ = [Double](repeating: 0, count: c); meanF = meanQ
                    }
                    ConvInput.accumulate(&h!, x: data, y: data, length: l, shape: shape, positionStride: positionStride,
                                         symmetric: true)
                    floatInput.withUnsafeBufferPointer { f in
                        ConvInput.accumulate(&cross!, x: data, y: f.baseAddress!, length: l, shape: shape,
                                             positionStride: positionStride, symmetric: false)
                        for ch in 0..<c {
                            var sq = 0.0, sf = 0.0
                            for i in (ch * l)..<((ch + 1) * l) { sq += Double(data[i]); sf += Double(f[i]) }
                            meanQ[ch] += sq / Double(l); meanF[ch] += sf / Double(l)
                        }
                    }
                    count += 1
                }
            }
        }
        guard let h, let cross, count > 0 else { return nil }
        return LayerMoments(h: h.map(ConvInput.mirrorUpper), cross: cross,
                            meanQuantised: meanQ.map { $0 / Double(count) }, meanFloat: meanF.map { $0 / Double(count) })
    }
}
