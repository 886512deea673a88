/// The device band-pass in integers, for cores without a float unit (RV32IMC: the ESP32-C3), where
/// the float32 sections cost about 40 M instructions per window in software float. The same
/// sections, padding and steady states as `SOSFilter`, in direct form I:
/// - samples are int32 millivolts in Q18 (inputs are cut at +-`inputLimit`); a section whose
///   output is small carries more fraction bits (`extraBits`: the first section's peak gain is
///   0.0105, and rounding its output to Q18 would lose 7 bits the second, gain 18.6, needs);
/// - a1, a2 are in Q28 and each section's b in Q(28 + shift), as fine as 31 bits allow;
/// - sums are int64 in Q(28 + the output's fraction bits). The recursion keeps its full
///   precision: the part of each output that rounding drops (`e`) is fed back through a1, a2 as
///   well (error feedback), so poles at 0.99 do not amplify rounding noise.
/// Integer-only, so host and firmware agree bit for bit; Embedded-Swift-clean.
public struct FixedSOSFilter: Sendable {
    /// Per section: b0, b1, b2 (Q(28 + bShift)), a1, a2 (Q28).
    let coefficients: [Int32]
    let bShift: [Int32]
    /// Per section, Q28: the DC gain of the sections before it and up to it (steady states).
    let gainIn: [Int64]
    let gainOut: [Int64]
    /// Per section: fraction bits of its output beyond Q18 (the last section's must be 0).
    let extraBits: [Int32]
    public let padLength: Int
    public static let fractionBits = 18
    /// Window samples are cut at +-200 mV: with the odd extension (x3) and the sections' worst
    /// case gain forwards and backwards (their impulse responses' L1 norm 3.53, squared), every
    /// value stays below 3 x 200 x 2^18 x 12.5 = 1.96e9 < 2^31.
    public static let inputLimit: Float = 200

    /// `sections`: b0, b1, b2, a1, a2 per section, float64 (a0 = 1). `extraBits`: fraction bits
    /// of each section's output beyond Q18, at most log2 of 1 / its cumulative peak gain.
    public init(sections: [Double], extraBits: [Int32], padLength: Int) {
        precondition(sections.count % 5 == 0 && extraBits.count == sections.count / 5 && extraBits.last == 0)
        var c: [Int32] = [], shifts: [Int32] = [], gIn: [Int64] = [], gOut: [Int64] = []
        var gain = 1.0
        for s in 0..<(sections.count / 5) {
            let b = sections[(5 * s)..<(5 * s + 3)], a1 = sections[5 * s + 3], a2 = sections[5 * s + 4]
            // The largest shift that keeps |b0| + |b1| + |b2| below 2^30 in Q(28 + shift).
            let l1 = b.reduce(0) { $0 + abs($1) }
            var shift: Int32 = 0
            while l1 * Self.pow2(29 + Int(shift)) < Self.pow2(30) { shift += 1 }
            let scale = Self.pow2(28 + Int(shift))
            c += b.map { Int32(($0 * scale).rounded()) }
            c += [Int32((a1 * 268435456).rounded()), Int32((a2 * 268435456).rounded())]
            shifts.append(shift)
            gIn.append(Int64((gain * 268435456).rounded()))
            gain *= (b[5 * s] + b[5 * s + 1] + b[5 * s + 2]) / (1 + a1 + a2)
            gOut.append(Int64((gain * 268435456).rounded()))
        }
        coefficients = c
        bShift = shifts
        gainIn = gIn
        gainOut = gOut
        self.extraBits = extraBits
        self.padLength = padLength
    }

    public var sectionCount: Int { bShift.count }

    /// 2^e exactly (no Int shifts: `Int` has 32 bits on the microcontrollers).
    static func pow2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }

    /// Millivolts -> Q18, cut at +-`inputLimit` (non-finite values become 0).
    @inline(__always)
    public static func quantize(_ v: Float) -> Int32 {
        guard v.isFinite else { return 0 }
        return Int32((max(-inputLimit, min(inputLimit, v)) * Float(1 << fractionBits)).rounded())
    }

    /// Q18 -> millivolts.
    @inline(__always)
    public static func millivolts(_ v: Int32) -> Float { Float(v) * (1 / Float(1 << fractionBits)) }

    /// The z-score of `n` Q18 samples (population std + 1e-8 mV, as the float paths compute it),
    /// as the mean to subtract and the Float factor that turns a deviation into z (`z(_:_:)`).
    /// The sums are int64 (the squared deviations scaled down only if they could overflow,
    /// beyond 64 mV for 5000 samples), then one square root and one division per window: no
    /// float per sample but the final multiply, which matters where floats are software.
    public static func zscoreParameters(_ q: UnsafePointer<Int32>, count n: Int) -> (mean: Int32, scale: Float) {
        var sum: Int64 = 0
        for i in 0..<n { sum &+= Int64(q[i]) }
        let mean = Int32(truncatingIfNeeded: roundedQuotient(sum, Int64(n)))
        var largest: Int64 = 0
        for i in 0..<n { largest = max(largest, abs(Int64(q[i]) &- Int64(mean))) }
        // (d >> k)^2 summed n times stays below 2^62.
        let room = (62 - (Int64.bitWidth - Int64(n).leadingZeroBitCount)) / 2
        let k = max(0, (Int64.bitWidth - largest.leadingZeroBitCount) - room)
        var squares: Int64 = 0
        for i in 0..<n {
            let d = (Int64(q[i]) &- Int64(mean)) >> Int64(k)
            squares &+= d &* d
        }
        let sd = (Double(squares) * pow2(2 * k) / Double(n)).squareRoot() * pow2(-fractionBits) + 1e-8
        return (mean, Float(pow2(-fractionBits) / sd))
    }

    /// z of one Q18 sample from `zscoreParameters` (the deviation saturates at 32 bits, which
    /// the input cut keeps out of reach).
    @inline(__always)
    public static func z(_ q: Int32, _ p: (mean: Int32, scale: Float)) -> Float {
        floatValue(Int32(clamping: Int64(q) &- Int64(p.mean))) * p.scale
    }

    /// a / b rounded to nearest (halves away from zero), b > 0.
    static func roundedQuotient(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? (a &+ b / 2) / b : -((-a &+ b / 2) / b)
    }

    /// sosfiltfilt of the `n` samples at buf[padLength ..< padLength + n] (Q18), in place, with
    /// room for `padLength` more on each side (the odd extension goes there).
    public func filtfiltInPlace(_ buf: UnsafeMutablePointer<Int32>, length n: Int) {
        let pad = padLength
        precondition(n > pad, "filtfilt needs more samples than its padding")
        let x = buf + pad
        for i in 0..<pad { buf[i] = 2 &* x[0] &- x[pad - i] }
        for i in 0..<pad { x[n + i] = 2 &* x[n - 1] &- x[n - 2 - i] }
        run(buf, count: n + 2 * pad, reverse: false)
        run(buf, count: n + 2 * pad, reverse: true)
    }

    /// The exact 64-bit product of two 32-bit values.
    @inline(__always)
    func wide(_ a: Int32, _ b: Int32) -> Int64 { Int64(a) &* Int64(b) }

    /// One pass, section after section, from the steady state of the pass's first input.
    func run(_ v: UnsafeMutablePointer<Int32>, count: Int, reverse: Bool) {
        let x0 = Int64(v[reverse ? count - 1 : 0])          // Q18
        let half = Int64(1) << 27
        for s in 0..<sectionCount {
            let b0 = coefficients[5 * s], b1 = coefficients[5 * s + 1], b2 = coefficients[5 * s + 2]
            let a1 = coefficients[5 * s + 3], a2 = coefficients[5 * s + 4]
            let extraIn = s > 0 ? Int64(extraBits[s - 1]) : 0, extraOut = Int64(extraBits[s])
            // b x is in Q(28 + shift + input bits); the sum is in Q(28 + output bits).
            let shift = Int64(bShift[s]) + extraIn - extraOut
            // Steady state for the constant x0: inputs gainIn * x0, outputs gainOut * x0. The
            // states are kept in 32 bits (|x|, |y| < 2^31 by the input cut, |e| <= 2^27), so
            // every product is 32 x 32 -> 64 bits (SMULL on Arm; RV32 still spends about 135
            // instructions per section and sample on the 64-bit arithmetic).
            var x1 = Int32(truncatingIfNeeded: (gainIn[s] &* x0 &+ (half >> extraIn)) >> (28 - extraIn)), x2 = x1
            let full = (gainOut[s] &* x0) << extraOut
            let y0 = (full &+ half) >> 28
            var y1 = Int32(truncatingIfNeeded: y0), e1 = Int32(truncatingIfNeeded: full &- (y0 << 28))
            var y2 = y1, e2 = e1
            for step in 0..<count {
                let i = reverse ? count - 1 - step : step
                let xi = v[i]
                let acc = ((wide(b0, xi) &+ wide(b1, x1) &+ wide(b2, x2)) >> shift)
                    &- wide(a1, y1) &- wide(a2, y2) &- ((wide(a1, e1) &+ wide(a2, e2)) >> 28)
                let y = max(-2147483648, min(2147483647, (acc &+ half) >> 28))
                e2 = e1; e1 = Int32(truncatingIfNeeded: acc &- (y << 28))
                y2 = y1; y1 = Int32(truncatingIfNeeded: y)
                x2 = x1; x1 = xi
                v[i] = y1
            }
        }
    }
}
