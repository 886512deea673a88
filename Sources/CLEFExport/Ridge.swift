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
        // Cholesky a = L L'.
        for j in 0..<d {
            var s = a[j * d + j]
            for k in 0..<j { s -= a[j * d + k] * a[j * d + k] }
            let l = s.squareRoot()
            a[j * d + j] = l
            for i in (j + 1)..<d {
                var t = a[i * d + j]
                for k in 0..<j { t -= a[i * d + k] * a[j * d + k] }
                a[i * d + j] = t / l
            }
        }
        var z = b
        for i in 0..<d { for k in 0..<i { z[i] -= a[i * d + k] * z[k] }; z[i] /= a[i * d + i] }
        for i in stride(from: d - 1, through: 0, by: -1) { for k in (i + 1)..<d { z[i] -= a[k * d + i] * z[k] }; z[i] /= a[i * d + i] }
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
