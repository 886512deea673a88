import Foundation

/// Ridge regression on embeddings (the heart-rate head): centred features and target,
/// (X'X + alpha I) w = X'y solved by Cholesky in Double.
public struct RidgeHead {
    public var weights: [Double]
    public var intercept: Double

    public init(features x: [[Float]], targets y: [Double], alpha: Double = 10) {
        let n = x.count, d = x[0].count
        var mean = [Double](repeating: 0, count: d)
        for r in x { for j in 0..<d { mean[j] += Double(r[j]) / Double(n) } }
        let ym = y.reduce(0, +) / Double(n)
        var a = [Double](repeating: 0, count: d * d), b = [Double](repeating: 0, count: d)
        for (r, t) in zip(x, y) {
            let c = (0..<d).map { Double(r[$0]) - mean[$0] }
            for i in 0..<d {
                b[i] += c[i] * (t - ym)
                for j in i..<d { a[i * d + j] += c[i] * c[j] }
            }
        }
        for i in 0..<d { a[i * d + i] += alpha; for j in 0..<i { a[i * d + j] = a[j * d + i] } }
        let z = solveSPD(a, b, d)
        weights = z
        intercept = ym - zip(z, mean).reduce(0) { $0 + $1.0 * $1.1 }
    }

    public func predict(_ e: UnsafePointer<Float>) -> Double {
        var s = intercept
        for j in 0..<weights.count { s += weights[j] * Double(e[j]) }
        return s
    }

    public func predict(_ e: [Float]) -> Double { e.withUnsafeBufferPointer { predict($0.baseAddress!) } }
}

/// L2-regularised logistic regression on standardised embeddings (the AF head), fitted by
/// Newton's method (IRLS) in Double.
public struct LogisticHead {
    public var weights: [Double]
    public var bias: Double
    var mean: [Double]
    var scale: [Double]

    public init(features x: [[Float]], labels y: [Bool], l2: Double = 1) {
        let n = x.count, d = x[0].count
        mean = (0..<d).map { j in x.reduce(0) { $0 + Double($1[j]) } / Double(n) }
        let means = mean
        scale = (0..<d).map { j in
            let v = x.reduce(0.0) { a, r in let c = Double(r[j]) - means[j]; return a + c * c } / Double(n)
            return max(1e-6, v.squareRoot())
        }
        let scales = scale
        let z = x.map { r in (0..<d).map { (Double(r[$0]) - means[$0]) / scales[$0] } }
        var w = [Double](repeating: 0, count: d + 1)   // last entry: bias
        for _ in 0..<25 {
            var g = [Double](repeating: 0, count: d + 1), h = [Double](repeating: 0, count: (d + 1) * (d + 1))
            for (zi, yi) in zip(z, y) {
                var s = w[d]
                for j in 0..<d { s += w[j] * zi[j] }
                let p = 1 / (1 + Foundation.exp(-s)), r = p - (yi ? 1 : 0), q = max(p * (1 - p), 1e-9)
                for j in 0...d {
                    let fj = j == d ? 1 : zi[j]
                    g[j] += r * fj
                    for k in j...d { h[j * (d + 1) + k] += q * fj * (k == d ? 1 : zi[k]) }
                }
            }
            for j in 0..<d { g[j] += l2 * w[j]; h[j * (d + 1) + j] += l2 }
            h[d * (d + 1) + d] += 1e-9
            for j in 0...d { for k in 0..<j { h[j * (d + 1) + k] = h[k * (d + 1) + j] } }
            let step = solveSPD(h, g, d + 1)
            var change = 0.0
            for j in 0...d { w[j] -= step[j]; change = max(change, abs(step[j])) }
            if change < 1e-8 { break }
        }
        weights = Array(w[0..<d])
        bias = w[d]
    }

    /// The same head on raw embeddings: sigmoid(w . e + b) with the standardisation folded in
    /// (what a blob stores).
    public var folded: (weights: [Double], bias: Double) {
        var b = bias
        var w = [Double](repeating: 0, count: weights.count)
        for j in 0..<weights.count { w[j] = weights[j] / scale[j]; b -= weights[j] * mean[j] / scale[j] }
        return (w, b)
    }

    /// Probability of AF.
    public func probability(_ e: [Float]) -> Double {
        var s = bias
        for j in 0..<weights.count { s += weights[j] * (Double(e[j]) - mean[j]) / scale[j] }
        return 1 / (1 + Foundation.exp(-s))
    }
}

/// Solves a x = b for a symmetric positive definite a (n x n, row-major) by Cholesky.
func solveSPD(_ aIn: [Double], _ b: [Double], _ n: Int) -> [Double] {
    var a = aIn
    for j in 0..<n {
        var s = a[j * n + j]
        for k in 0..<j { s -= a[j * n + k] * a[j * n + k] }
        let l = max(s, 1e-300).squareRoot()
        a[j * n + j] = l
        for i in (j + 1)..<n {
            var t = a[i * n + j]
            for k in 0..<j { t -= a[i * n + k] * a[j * n + k] }
            a[i * n + j] = t / l
        }
    }
    var z = b
    for i in 0..<n { for k in 0..<i { z[i] -= a[i * n + k] * z[k] }; z[i] /= a[i * n + i] }
    for i in stride(from: n - 1, through: 0, by: -1) { for k in (i + 1)..<n { z[i] -= a[k * n + i] * z[k] }; z[i] /= a[i * n + i] }
    return z
}
