import Foundation

/// `scipy.signal.resample_poly(x, up, down)` with its defaults: a Kaiser (beta 5) windowed-sinc
/// low-pass of 2 * 10 * max(up, down) + 1 taps, applied by polyphase up-FIR-down with scipy's
/// padding and trimming. Host-only.
public enum ResamplePoly {
    public static func resample(_ x: [Double], up upIn: Int, down downIn: Int) -> [Double] {
        let g = gcd(upIn, downIn)
        let up = upIn / g, down = downIn / g
        if up == 1 && down == 1 { return x }
        let nIn = x.count
        let nOut = (nIn * up) / down + ((nIn * up) % down != 0 ? 1 : 0)
        let maxRate = max(up, down)
        let halfLen = 10 * maxRate
        var h = firwinKaiser(taps: 2 * halfLen + 1, cutoff: 1.0 / Double(maxRate), beta: 5.0).map { $0 * Double(up) }
        let nPrePad = down - halfLen % down
        var nPostPad = 0
        let nPreRemove = (halfLen + nPrePad) / down
        func outputLen(_ lenH: Int) -> Int { (((nIn - 1) * up + lenH) - 1) / down + 1 }
        while outputLen(h.count + nPrePad + nPostPad) < nOut + nPreRemove { nPostPad += 1 }
        h = [Double](repeating: 0, count: nPrePad) + h + [Double](repeating: 0, count: nPostPad)
        var y = [Double](repeating: 0, count: nOut)
        for i in 0..<nOut {
            // Output k of upfirdn: sum_j h[j] * xu[k*down - j], xu[m] = x[m/up] when up divides m.
            let k = (i + nPreRemove) * down
            var acc = 0.0
            // j = k - m*up for input sample m: iterate over m in range.
            let mHi = min(nIn - 1, k / up)
            let mLo = max(0, (k - (h.count - 1) + up - 1) / up)
            if mLo <= mHi {
                for m in mLo...mHi { acc += h[k - m * up] * x[m] }
            }
            y[i] = acc
        }
        return y
    }

    /// scipy.signal.firwin(numtaps, cutoff, window=('kaiser', beta)) for a low-pass (scaled to unit DC gain).
    static func firwinKaiser(taps n: Int, cutoff: Double, beta: Double) -> [Double] {
        let alpha = 0.5 * Double(n - 1)
        var h = [Double](repeating: 0, count: n)
        let i0b = besselI0(beta)
        for i in 0..<n {
            let m = Double(i) - alpha
            let s = m == 0 ? cutoff : sin(Double.pi * cutoff * m) / (Double.pi * m)
            let r = 2 * Double(i) / Double(n - 1) - 1
            let w = besselI0(beta * (max(0, 1 - r * r)).squareRoot()) / i0b
            h[i] = s * w
        }
        let sum = h.reduce(0, +)
        return h.map { $0 / sum }
    }

    /// Modified Bessel function of the first kind, order 0 (power series; converges fast for beta 5).
    static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0
        let q = x * x / 4
        for k in 1..<200 {
            term *= q / Double(k * k)
            sum += term
            if term < sum * 1e-17 { break }
        }
        return sum
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
