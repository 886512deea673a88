import Foundation

/// Digital Butterworth band-pass design as `scipy.signal.butter(N, [lo, hi], btype='bandpass',
/// fs=fs)`: analog prototype poles, low-pass to band-pass transform, bilinear transform with
/// pre-warping, then zeros/poles expanded to polynomials. Host-only (needs tan/sin/cos).
public enum Butterworth {
    public static func bandpass(order n: Int, low: Double, high: Double, fs: Double) -> (b: [Double], a: [Double]) {
        // Pre-warped analog band edges (scipy: fs = 2, warped = 2 * fs * tan(pi * Wn / fs)).
        let fsd = 2.0
        let wl = 2 * fsd * tan(Double.pi * (2 * low / fs) / fsd)
        let wh = 2 * fsd * tan(Double.pi * (2 * high / fs) / fsd)
        let bw = wh - wl, w0 = (wl * wh).squareRoot()
        // Analog prototype poles: -exp(1j*pi*m/(2N)), m = -N+1, -N+3, ..., N-1; gain 1; no zeros.
        var poles: [(Double, Double)] = []
        for k in 0..<n {
            let m = Double(-n + 1 + 2 * k)
            let th = Double.pi * m / Double(2 * n)
            poles.append((-cos(th), -sin(th)))
        }
        // lp2bp_zpk: each pole p -> p*bw/2 +- sqrt((p*bw/2)^2 - w0^2); N zeros at 0; gain bw^N.
        var bpPoles: [(Double, Double)] = []
        for p in poles {
            let pl = (p.0 * bw / 2, p.1 * bw / 2)
            let sq = csqrt(csub(cmul(pl, pl), (w0 * w0, 0)))
            bpPoles.append(cadd(pl, sq))
        }
        for p in poles {
            let pl = (p.0 * bw / 2, p.1 * bw / 2)
            let sq = csqrt(csub(cmul(pl, pl), (w0 * w0, 0)))
            bpPoles.append(csub(pl, sq))
        }
        var k = pow(bw, Double(n))
        // bilinear_zpk with fs2 = 2 * fsd: z = (fs2 + s) / (fs2 - s); zeros at s=0 -> z=1, and
        // (degree difference) zeros at z=-1; k *= real(prod(fs2 - z) / prod(fs2 - p)).
        let fs2 = 2 * fsd
        var zPoles: [(Double, Double)] = []
        var denom = (1.0, 0.0)
        for p in bpPoles {
            zPoles.append(cdiv(cadd((fs2, 0), p), csub((fs2, 0), p)))
            denom = cmul(denom, csub((fs2, 0), p))
        }
        let numer = pow(fs2, Double(n))   // prod(fs2 - 0) over the N zeros at s = 0
        k *= cdiv((numer, 0), denom).0
        var zZeros: [(Double, Double)] = Array(repeating: (1, 0), count: n)
        zZeros += Array(repeating: (-1, 0), count: n)
        let b = poly(zZeros).map { $0 * k }
        let a = poly(zPoles)
        return (b, a)
    }

    /// Real coefficients of prod (x - r), highest power first (numpy.poly).
    static func poly(_ roots: [(Double, Double)]) -> [Double] {
        var c: [(Double, Double)] = [(1, 0)]
        for r in roots {
            var next = c + [(0, 0)]
            for i in 0..<c.count { next[i + 1] = csub(next[i + 1], cmul(c[i], r)) }
            c = next
        }
        return c.map { $0.0 }
    }

    static func cadd(_ x: (Double, Double), _ y: (Double, Double)) -> (Double, Double) { (x.0 + y.0, x.1 + y.1) }
    static func csub(_ x: (Double, Double), _ y: (Double, Double)) -> (Double, Double) { (x.0 - y.0, x.1 - y.1) }
    static func cmul(_ x: (Double, Double), _ y: (Double, Double)) -> (Double, Double) {
        (x.0 * y.0 - x.1 * y.1, x.0 * y.1 + x.1 * y.0)
    }
    static func cdiv(_ x: (Double, Double), _ y: (Double, Double)) -> (Double, Double) {
        let d = y.0 * y.0 + y.1 * y.1
        return ((x.0 * y.0 + x.1 * y.1) / d, (x.1 * y.0 - x.0 * y.1) / d)
    }
    static func csqrt(_ x: (Double, Double)) -> (Double, Double) {
        let r = (x.0 * x.0 + x.1 * x.1).squareRoot()
        let re = ((r + x.0) / 2).squareRoot()
        let im = ((r - x.0) / 2).squareRoot()
        return (re, x.1 < 0 ? -im : im)
    }
}
