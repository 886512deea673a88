import Foundation
import CLEFArch
import CLEFKernels
import CLEFFloat

/// Activation statistics of the float encoder over calibration windows: per tensor (every
/// `ActivationPoint`), its range and a histogram, from which a range method picks the
/// quantisation range.
public struct CalibrationStats {
    public struct Point {
        public var min = Float.infinity
        public var max = -Float.infinity
        public var histogram: [Double] = []
        public var count = 0.0
        /// Per-channel minimum and maximum.
        public var channelMin: [Float] = []
        public var channelMax: [Float] = []
        /// Per-channel mean over all calibration samples (for bias correction).
        public var channelMean: [Double] = []
    }

    public static let bins = 2048
    public private(set) var points: [Int: Point] = [:]
    public private(set) var windowCount = 0

    public static func key(_ p: ActivationPoint) -> Int { (p.block + 1) * 32 + Int(p.kind.rawValue) }

    /// Two passes over `windows`: ranges, then histograms over those ranges.
    public init(encoder: Net1DFloat, windows: [[Float]]) {
        let length = windows.first?.count ?? 5000
        let ws = FloatWorkspace(config: encoder.config, maxLength: length)
        var out = [Float](repeating: 0, count: encoder.embeddingDim)
        var pts: [Int: Point] = [:]
        for w in windows {
            w.withUnsafeBufferPointer { x in
                encoder.forwardDetailed(x.baseAddress!, length: length, workspace: ws, output: &out) { p, data, c, l in
                    let k = Self.key(p)
                    var s = pts[k] ?? Point()
                    if s.channelMin.isEmpty {
                        s.channelMin = [Float](repeating: .infinity, count: c)
                        s.channelMax = [Float](repeating: -.infinity, count: c)
                        s.channelMean = [Double](repeating: 0, count: c)
                    }
                    for ch in 0..<c {
                        var lo = s.channelMin[ch], hi = s.channelMax[ch]
                        var sum = 0.0
                        for i in (ch * l)..<((ch + 1) * l) { lo = Swift.min(lo, data[i]); hi = Swift.max(hi, data[i]); sum += Double(data[i]) }
                        s.channelMean[ch] += sum / Double(l) / Double(windows.count)
                        s.channelMin[ch] = lo; s.channelMax[ch] = hi
                        s.min = Swift.min(s.min, lo); s.max = Swift.max(s.max, hi)
                    }
                    pts[k] = s
                }
            }
        }
        for k in pts.keys { pts[k]!.histogram = [Double](repeating: 0, count: Self.bins) }
        for w in windows {
            w.withUnsafeBufferPointer { x in
                encoder.forwardDetailed(x.baseAddress!, length: length, workspace: ws, output: &out) { p, data, c, l in
                    let k = Self.key(p)
                    let lo = pts[k]!.min, hi = pts[k]!.max
                    let scale = hi > lo ? Float(Self.bins) / (hi - lo) : 0
                    pts[k]!.histogram.withUnsafeMutableBufferPointer { h in
                        for i in 0..<(c * l) {
                            let b = Swift.min(Self.bins - 1, Swift.max(0, Int((data[i] - lo) * scale)))
                            h[b] += 1
                        }
                    }
                    pts[k]!.count += Double(c * l)
                }
            }
        }
        points = pts
        windowCount = windows.count
    }

    public func point(_ p: ActivationPoint) -> Point? { points[Self.key(p)] }
}

/// How a quantisation range is chosen from a tensor's statistics.
public enum RangeMethod: String, CaseIterable {
    /// The observed minimum and maximum.
    case minmax
    /// The 0.01st and 99.99th percentiles.
    case percentile
    /// The clipping range that minimises the expected squared error (rounding + clipping) over the
    /// histogram, searched on a grid for each end independently.
    case mse

    public func range(_ s: CalibrationStats.Point, levels: Int) -> (Double, Double) {
        let mn = Double(s.min), mx = Double(s.max)
        if !(mx > mn) { return (Swift.min(mn, 0), Swift.max(mx, 0)) }
        let width = (mx - mn) / Double(s.histogram.count)
        switch self {
        case .minmax:
            return (Swift.min(mn, 0), Swift.max(mx, 0))
        case .percentile:
            let total = s.histogram.reduce(0, +)
            var acc = 0.0, lo = mn, hi = mx
            for (i, n) in s.histogram.enumerated() { acc += n; if acc >= total * 1e-4 { lo = mn + Double(i) * width; break } }
            acc = 0
            for (i, n) in s.histogram.enumerated().reversed() { acc += n; if acc >= total * 1e-4 { hi = mn + Double(i + 1) * width; break } }
            return (Swift.min(lo, 0), Swift.max(hi, 0))
        case .mse:
            var best = (Swift.min(mn, 0), Swift.max(mx, 0)), bestErr = Double.infinity
            let fractions = stride(from: 1.0, to: 0.19, by: -0.025).map { $0 }
            for a in fractions {
                for b in fractions {
                    let lo = Swift.min(mn * a, 0), hi = Swift.max(mx * b, 0)
                    let step = (hi - lo) / Double(levels - 1)
                    var err = 0.0
                    for (i, n) in s.histogram.enumerated() where n > 0 {
                        let v = mn + (Double(i) + 0.5) * width
                        if v < lo { err += n * (lo - v) * (lo - v) }
                        else if v > hi { err += n * (v - hi) * (v - hi) }
                        else { err += n * step * step / 12 }
                    }
                    if err < bestErr { bestErr = err; best = (lo, hi) }
                }
            }
            return best
        }
    }
}
