import Foundation
import CLEFEngine

/// Agreement of an engine's embeddings with the float32 reference: cosine similarity and
/// relative L2 error, worst and mean over windows.
public struct Fidelity: CustomStringConvertible {
    public var windows = 0
    public var cosineWorst = 1.0, cosineMean = 0.0
    public var relL2Worst = 0.0, relL2Mean = 0.0

    public init(reference: [[Float]], candidate: [[Float]]) {
        windows = reference.count
        var cs = 0.0, rs = 0.0
        for (r, c) in zip(reference, candidate) {
            var dot = 0.0, nr = 0.0, nc = 0.0, diff = 0.0
            for i in 0..<r.count {
                dot += Double(r[i]) * Double(c[i]); nr += Double(r[i] * r[i]); nc += Double(c[i] * c[i])
                diff += Double((r[i] - c[i]) * (r[i] - c[i]))
            }
            let cos = dot / max(1e-30, (nr * nc).squareRoot())
            let rel = (diff / max(1e-30, nr)).squareRoot()
            cs += cos; rs += rel
            cosineWorst = min(cosineWorst, cos); relL2Worst = max(relL2Worst, rel)
        }
        cosineMean = cs / Double(max(1, windows)); relL2Mean = rs / Double(max(1, windows))
    }

    public var description: String {
        String(format: "cosine worst %.6f mean %.6f | relative L2 worst %.4f%% mean %.4f%% (%d windows)",
               cosineWorst, cosineMean, 100 * relL2Worst, 100 * relL2Mean, windows)
    }
}

extension Engine {
    /// Embeddings of equal-length windows.
    public func embedAll(_ windows: [[Float]]) -> [[Float]] {
        guard let l = windows.first?.count else { return [] }
        let ws = EngineWorkspace(engine: self, maxLength: l / config.inChannels)
        return windows.map { w in
            var y = [Float](repeating: 0, count: config.embeddingDim)
            w.withUnsafeBufferPointer { embed($0.baseAddress!, length: l / config.inChannels, workspace: ws, output: &y) }
            return y
        }
    }
}
