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
        func add(_ name: String, _ x: UnsafeMutablePointer<Float>, channels c: Int, length l: Int, shape: ConvShape) {
            let cinG = shape.inPerGroup, k = shape.kernel, s = shape.stride, d = cinG * k
            let lo = shape.outLength(l), left = max(0, (lo - 1) * s + k - l) / 2
            var mats = m[name] ?? [[Double]](repeating: [Double](repeating: 0, count: d * d), count: shape.groups)
            var p = [Double](repeating: 0, count: d)
            for g in 0..<shape.groups {
                mats[g].withUnsafeMutableBufferPointer { h in
                    for t in stride(from: 0, to: lo, by: positionStride) {
                        for cl in 0..<cinG {
                            let row = x + (g * cinG + cl) * l
                            for tap in 0..<k {
                                let i = t * s + tap - left
                                p[cl * k + tap] = (i >= 0 && i < l) ? Double(row[i]) : 0
                            }
                        }
                        for a in 0..<d where p[a] != 0 {
                            let pa = p[a]
                            for b in a..<d { h[a * d + b] += pa * p[b] }
                        }
                    }
                }
            }
            m[name] = mats
        }
        for w in windows {
            w.withUnsafeBufferPointer { xp in
                encoder.forwardDetailed(xp.baseAddress!, length: length, workspace: ws, output: &out) { pt, data, c, l in
                    let b = pt.block
                    // conv1 reads Swish(block input), or the stem output in the first block.
                    if pt.kind == .act1 || (pt.kind == .output && b + 1 < blocks.count && !blocks[b + 1].activateInput) {
                        let bi = pt.kind == .act1 ? b : b + 1, spec = blocks[bi]
                        add(spec.name + ".conv1.conv.weight", data, channels: c, length: l,
                            shape: ConvShape(inChannels: spec.inChannels, outChannels: spec.middleChannels, groups: 1, kernel: 1, stride: 1))
                    } else if pt.kind == .act2 {
                        let spec = blocks[b]
                        add(spec.name + ".conv2.conv.weight", data, channels: c, length: l,
                            shape: ConvShape(inChannels: spec.middleChannels, outChannels: spec.middleChannels, groups: spec.groups,
                                             kernel: spec.kernelSize, stride: spec.stride))
                    } else if pt.kind == .act3 {
                        let spec = blocks[b]
                        add(spec.name + ".conv3.conv.weight", data, channels: c, length: l,
                            shape: ConvShape(inChannels: spec.middleChannels, outChannels: spec.outChannels, groups: 1, kernel: 1, stride: 1))
                    }
                }
            }
        }
        // Mirror the upper triangles.
        for (name, mats) in m {
            m[name] = mats.map { h in
                let d = Int(Double(h.count).squareRoot())
                var f = h
                for a in 0..<d { for b in 0..<a { f[a * d + b] = f[b * d + a] } }
                return f
            }
        }
        matrices = m
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
