import Foundation
import CLEFArch
import CLEFFloat
import CLEFKernels

/// Quantisation sensitivity in float ("fake quantisation"): the float encoder with chosen
/// tensors rounded to a grid of 2^bits levels over their calibrated range, so the error each
/// tensor contributes can be measured before choosing what to keep at 16 bits.
public struct FakeQuant {
    public let encoder: Net1DFloat
    public let stats: CalibrationStats
    public let method: RangeMethod
    /// Ranges are widened by this factor around zero (headroom for unseen data), for 8-bit
    /// and for 16-bit tensors.
    public var headroom8: Float = 1
    public var headroom16: Float = 1.5
    /// Per point, overriding `headroom16` (as the exporter's x2 block outputs, x3 elsewhere).
    public var headroom16For: ((ActivationPoint) -> Float)? = nil

    public init(encoder: Net1DFloat, stats: CalibrationStats, method: RangeMethod) {
        self.encoder = encoder
        self.stats = stats
        self.method = method
    }

    /// Points quantised per channel (min/max of each channel) rather than per tensor.
    public var perChannel: Set<ActivationKind> = []

    /// Embeddings with every point for which `bits(point)` is non-nil quantised to that many bits.
    public func embed(_ windows: [[Float]], bits: (ActivationPoint) -> Int?) -> [[Float]] {
        let l = windows.first?.count ?? 5000
        let ws = FloatWorkspace(config: encoder.config, maxLength: l)
        var grids: [Int: (Float, Float, Float)] = [:]   // key -> (lo, hi, step)
        return windows.map { w in
            var y = [Float](repeating: 0, count: encoder.embeddingDim)
            w.withUnsafeBufferPointer { x in
                encoder.forwardDetailed(x.baseAddress!, length: l, workspace: ws, output: &y) { p, data, c, n in
                    guard let b = bits(p), let s = stats.point(p) else { return }
                    if perChannel.contains(p.kind) && s.channelMin.count == c {
                        let hr = b <= 8 ? headroom8 : (headroom16For?(p) ?? headroom16)
                        for ch in 0..<c {
                            let lo = min(s.channelMin[ch], 0) * hr, hi = max(s.channelMax[ch], 0) * hr
                            let step = max((hi - lo) / Float((1 << b) - 1), 1e-12)
                            for i in (ch * n)..<((ch + 1) * n) {
                                let v = min(max(data[i], lo), hi)
                                data[i] = lo + ((v - lo) / step).rounded() * step
                            }
                        }
                        return
                    }
                    let k = CalibrationStats.key(p) * 64 + b
                    if grids[k] == nil {
                        let (lo, hi) = method.range(s, levels: 1 << b)
                        let hr = b <= 8 ? headroom8 : (headroom16For?(p) ?? headroom16)
                        let l = Float(lo) * hr, h = Float(hi) * hr
                        grids[k] = (l, h, (h - l) / Float((1 << b) - 1))
                    }
                    let (lo, hi, step) = grids[k]!
                    for i in 0..<(c * n) {
                        let v = min(max(data[i], lo), hi)
                        data[i] = lo + ((v - lo) / step).rounded() * step
                    }
                }
            }
            return y
        }
    }
}
