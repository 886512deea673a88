import Foundation

/// The CLEF loss and InfoNCE on a batch of embeddings, in Double, with their gradients with respect
/// to the embeddings, exactly as ../shared/oracle/README.md states them: metadata similarity from
/// the risk (NaN and +-Inf count as 0), min-max normalised, 0.8 d + 0.2, zero diagonal, optional
/// missing-metadata factor exp(-m_i m_j); softmax weights over the full row of 2B; meta-NCE with the
/// row max not detached and the 1e-8; alignment MSE over the full 2B x 2B; their mean.
/// Rows 0..<B of `z` are view one, B..<2B view two. Host-only.
public enum ContrastiveLoss {
    public struct Result: Sendable {
        public var loss: Double
        public var nce: Double
        public var align: Double
        /// dLoss/dz, [2B][D].
        public var gradient: [[Double]]
    }

    /// B x B metadata similarity (1 - d).
    public static func metadataSimilarity(risk: [Double], mask: [Double]?) -> [[Double]] {
        let b = risk.count
        let r = risk.map { $0.isFinite ? $0 : 0 }
        var d = (0..<b).map { i in (0..<b).map { j in (r[i] - r[j]) * (r[i] - r[j]) } }
        let flat = d.flatMap { $0 }
        let mn = flat.min()!, mx = flat.max()!
        for i in 0..<b {
            for j in 0..<b {
                var v = 0.8 * ((d[i][j] - mn) / (mx - mn + 1e-6)) + 0.2
                if i == j { v = 0 }
                if let m = mask { v *= exp(-m[i] * m[j]) }
                d[i][j] = 1 - v
            }
        }
        return d
    }

    static func normalized(_ z: [[Double]]) -> (zn: [[Double]], norms: [Double]) {
        let norms = z.map { max($0.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12) }
        return (zip(z, norms).map { row, n in row.map { $0 / n } }, norms)
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for k in 0..<a.count { s += a[k] * b[k] }
        return s
    }

    /// dL/dz from dL/dS (S = zn zn^T) through the row normalisation.
    static func backward(_ dS: [[Double]], zn: [[Double]], norms: [Double]) -> [[Double]] {
        let n = zn.count, dim = zn[0].count
        var dzn = [[Double]](repeating: [Double](repeating: 0, count: dim), count: n)
        for i in 0..<n {
            for j in 0..<n where dS[i][j] != 0 {
                for k in 0..<dim {
                    dzn[i][k] += dS[i][j] * zn[j][k]
                    dzn[j][k] += dS[i][j] * zn[i][k]
                }
            }
        }
        return (0..<n).map { i in
            let p = dot(zn[i], dzn[i])
            return (0..<dim).map { (dzn[i][$0] - zn[i][$0] * p) / norms[i] }
        }
    }

    public static func clef(z: [[Double]], risk: [Double], mask: [Double]?, temperature t: Double = 0.07) -> Result {
        let n = z.count, b = n / 2
        let meta = metadataSimilarity(risk: risk, mask: mask)
        let tiled = (0..<n).map { i in (0..<n).map { j in meta[i % b][j % b] } }
        let (zn, norms) = normalized(z)
        let s = (0..<n).map { i in (0..<n).map { j in dot(zn[i], zn[j]) } }
        var dS = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        // meta-NCE.
        var nce = 0.0
        for i in 0..<n {
            // Softmax weights of 1 - tiled over the full row.
            let row = tiled[i].map { 1 - $0 }
            let rm = row.max()!
            let ex = row.map { exp($0 - rm) }
            let sum = ex.reduce(0, +)
            let w = ex.map { $0 / sum }
            let logits = (0..<n).map { s[i][$0] / t }
            var m = -Double.infinity, arg = 0
            for j in 0..<n where j != i && logits[j] > m { m = logits[j]; arg = j }
            let pair = (i + b) % n
            let e = (0..<n).map { j in j == i ? 0 : exp(logits[j] - m) }
            let pos = e[pair]
            var neg = 0.0
            for j in 0..<n where j != i && j != pair { neg += w[j] * e[j] }
            let den = pos + neg + 1e-8
            nce += -log(pos / den)
            // dl_i/de_j, then through e_j = exp(l_j - m) (the max is not detached).
            var dl = [Double](repeating: 0, count: n)
            var dm = 0.0
            for j in 0..<n where j != i {
                let g = j == pair ? (-1 / pos + 1 / den) : w[j] / den
                dl[j] += g * e[j]
                dm -= g * e[j]
            }
            dl[arg] += dm
            for j in 0..<n where j != i { dS[i][j] += dl[j] / t / Double(n) }
        }
        nce /= Double(n)
        // Alignment: min-max normalised S against the tiled metadata similarity.
        let flat = s.flatMap { $0 }
        let mn = flat.min()!, mx = flat.max()!
        let range = mx - mn + 1e-6
        var align = 0.0
        var sumToMin = 0.0, sumToMax = 0.0
        var grad = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0..<n {
                let sn = (s[i][j] - mn) / range
                align += (sn - tiled[i][j]) * (sn - tiled[i][j])
                let g = 2 * (sn - tiled[i][j]) / Double(n * n)
                grad[i][j] = g / range
                sumToMin += g * (-1 / range + (s[i][j] - mn) / (range * range))
                sumToMax += g * (-(s[i][j] - mn) / (range * range))
            }
        }
        align /= Double(n * n)
        // Ties at the extremes share the gradient evenly (as torch's min()/max()).
        let minAt = (0..<(n * n)).filter { flat[$0] == mn }, maxAt = (0..<(n * n)).filter { flat[$0] == mx }
        for k in minAt { grad[k / n][k % n] += sumToMin / Double(minAt.count) }
        for k in maxAt { grad[k / n][k % n] += sumToMax / Double(maxAt.count) }
        for i in 0..<n { for j in 0..<n { dS[i][j] = (dS[i][j] + grad[i][j]) / 2 } }
        return Result(loss: (nce + align) / 2, nce: nce, align: align, gradient: backward(dS, zn: zn, norms: norms))
    }

    /// SimCLR NT-Xent: cross-entropy over [positive, 2B-2 negatives] / T, mean over the 2B rows.
    public static func infoNCE(z: [[Double]], temperature t: Double = 0.07) -> Result {
        let n = z.count, b = n / 2
        let (zn, norms) = normalized(z)
        let s = (0..<n).map { i in (0..<n).map { j in dot(zn[i], zn[j]) } }
        var dS = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        var loss = 0.0
        for i in 0..<n {
            let pair = (i + b) % n
            let cols = (0..<n).filter { $0 != i }
            let l = cols.map { s[i][$0] / t }
            let m = l.max()!
            let ex = l.map { exp($0 - m) }
            let sum = ex.reduce(0, +)
            loss += -(s[i][pair] / t - m - log(sum))
            for (k, j) in cols.enumerated() {
                dS[i][j] += (ex[k] / sum - (j == pair ? 1 : 0)) / t / Double(n)
            }
        }
        loss /= Double(n)
        return Result(loss: loss, nce: loss, align: 0, gradient: backward(dS, zn: zn, norms: norms))
    }
}
