import CLEFDSP

/// Zero-phase IIR filtering exactly as `scipy.signal.filtfilt(b, a, x)` with its defaults
/// (odd extension of 3 * max(len(a), len(b)) samples at each end, steady-state initial
/// conditions from `lfilter_zi`), and the per-window z-score CLEF trains with.
/// Embedded-Swift-clean: Double arithmetic only, caller-provided scratch.

/// An IIR filter in transfer-function form with its `lfilter_zi` steady state, ready for
/// repeated zero-phase filtering.
public struct IIRFilter: Sendable {
    public let b: [Double]
    public let a: [Double]
    /// Steady-state initial conditions for a unit step (scipy `lfilter_zi`).
    public let zi: [Double]

    public var order: Int { b.count - 1 }
    /// scipy's default padlen: 3 * max(len(a), len(b)).
    public var padLength: Int { 3 * max(a.count, b.count) }

    /// `b`, `a` must have the same length; `a[0]` is normalised to 1.
    public init(b bIn: [Double], a aIn: [Double]) {
        let a0 = aIn[0]
        b = bIn.map { $0 / a0 }
        a = aIn.map { $0 / a0 }
        zi = Self.steadyState(b: b, a: a)
    }

    /// The steady state of the direct-form-II-transposed filter for a unit step, in closed form:
    /// yss = sum(b) / sum(a), zi[j] = sum_{i>j} (b[i] - a[i] yss). scipy's `lfilter_zi` solves the
    /// same system with LAPACK, which for a band-pass with poles near z = 1 is ill-conditioned
    /// (its answer varies with the BLAS build); the closed form is exact to rounding.
    static func steadyState(b: [Double], a: [Double]) -> [Double] {
        let n = a.count - 1
        if n == 0 { return [] }
        let yss = compensatedSum(b) / compensatedSum(a)
        var zi = [Double](repeating: 0, count: n)
        var acc = 0.0, comp = 0.0
        for j in stride(from: n - 1, through: 0, by: -1) {
            // Kahan-compensated running sum of (b[i] - a[i] yss) for i = j+1 ... n.
            let term = b[j + 1] - a[j + 1] * yss
            let y = term - comp
            let t = acc + y
            comp = (t - acc) - y
            acc = t
            zi[j] = acc
        }
        return zi
    }

    /// Sum in double-double (TwoSum error-free transformation): the band-pass's sum(a) is
    /// about 7e-13 from terms near 250, far below what plain or Kahan summation resolves.
    static func compensatedSum(_ v: [Double]) -> Double {
        var hi = 0.0, lo = 0.0
        for x in v {
            let s = hi + x
            let bb = s - hi
            let err = (hi - (s - bb)) + (x - bb)
            hi = s
            lo += err
        }
        return hi + lo
    }

    /// Scratch doubles `filtfilt` needs for an input of `length` samples.
    public func scratchCount(length: Int) -> Int { length + 2 * padLength + 2 * order }

    /// y = filtfilt(b, a, x). Requires length > padLength (scipy raises otherwise).
    /// `scratch` holds at least `scratchCount(length:)` doubles.
    public func filtfilt(_ x: UnsafePointer<Double>, length n: Int, output y: UnsafeMutablePointer<Double>,
                         scratch: UnsafeMutablePointer<Double>) {
        let pad = padLength
        precondition(n > pad, "filtfilt needs more samples than its padding")
        let ext = scratch, state = scratch + n + 2 * pad
        let total = n + 2 * pad
        // Odd extension: 2*x[0] - x[pad..1], x, 2*x[n-1] - x[n-2 ... n-1-pad].
        for i in 0..<pad { ext[i] = 2 * x[0] - x[pad - i] }
        for i in 0..<n { ext[pad + i] = x[i] }
        for i in 0..<pad { ext[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i] }
        run(ext, count: total, x0: ext[0], state: state, reverse: false)
        run(ext, count: total, x0: ext[total - 1], state: state, reverse: true)
        for i in 0..<n { y[i] = ext[pad + i] }
    }

    /// In-place lfilter (direct form II transposed) with zi * x0, forwards or backwards.
    /// The recursion runs in double-double: with poles near z = 1 the states cancel heavily and
    /// plain float64 drifts by up to 7e-4 of the signal range from the exact result.
    @inline(__always)
    func run(_ v: UnsafeMutablePointer<Double>, count: Int, x0: Double, state z: UnsafeMutablePointer<Double>, reverse: Bool) {
        let k = order
        // z holds k double-double states: hi at z[2j], lo at z[2j+1].
        for i in 0..<k {
            let (h, l) = Self.twoProduct(zi[i], x0)
            z[2 * i] = h
            z[2 * i + 1] = l
        }
        b.withUnsafeBufferPointer { bp in
            a.withUnsafeBufferPointer { ap in
                for step in 0..<count {
                    let i = reverse ? count - 1 - step : step
                    let xi = v[i]
                    // y = b0 x + z0
                    var (yh, yl) = Self.twoProduct(bp[0], xi)
                    if k > 0 { (yh, yl) = Self.ddAdd(yh, yl, z[0], z[1]) }
                    if k > 0 {
                        for j in 0..<k {
                            // z[j] = b[j+1] x + z[j+1] - a[j+1] y
                            var (h, l) = Self.twoProduct(bp[j + 1], xi)
                            if j + 1 < k { (h, l) = Self.ddAdd(h, l, z[2 * j + 2], z[2 * j + 3]) }
                            let (ph, pl) = Self.twoProduct(-ap[j + 1], yh)
                            (h, l) = Self.ddAdd(h, l, ph, pl - ap[j + 1] * yl)
                            z[2 * j] = h
                            z[2 * j + 1] = l
                        }
                    }
                    v[i] = yh + yl
                }
            }
        }
    }

    /// a * b as p + e exactly (Dekker's product with Veltkamp's split). Not an FMA: the error term
    /// is the same exact value either way, but a C library's `fma` may be a plain multiply-add
    /// (newlib's is), which would silently change the filter on a microcontroller.
    @inline(__always)
    static func twoProduct(_ a: Double, _ b: Double) -> (Double, Double) {
        let p = a * b
        guard p.isFinite, abs(a) < 0x1p995, abs(b) < 0x1p995 else { return (p, 0) }
        let (ah, al) = split(a), (bh, bl) = split(b)
        return (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
    }

    @inline(__always)
    static func split(_ a: Double) -> (Double, Double) {
        let c = 134_217_729.0 * a   // 2^27 + 1
        let hi = c - (c - a)
        return (hi, a - hi)
    }

    @inline(__always)
    static func ddAdd(_ ah: Double, _ al: Double, _ bh: Double, _ bl: Double) -> (Double, Double) {
        let s = ah + bh
        let bb = s - ah
        let e = (ah - (s - bb)) + (bh - bb) + al + bl
        let h = s + e
        return (h, e - (h - s))
    }
}

/// (x - mean) / (population std + 1e-8), in Double, written as Float.
public func zscore(_ x: UnsafePointer<Double>, count n: Int, output: UnsafeMutablePointer<Float>) {
    var mean = 0.0
    for i in 0..<n { mean += x[i] }
    mean /= Double(n)
    var v = 0.0
    for i in 0..<n { let d = x[i] - mean; v += d * d }
    let sd = (v / Double(n)).squareRoot() + 1e-8
    for i in 0..<n { output[i] = Float((x[i] - mean) / sd) }
}

/// The same z-score of float32 values, summed in Double exactly as the Double version would
/// after converting them (so both paths give the same bits). `output` may be `x`.
public func zscore(_ x: UnsafePointer<Float>, count n: Int, output: UnsafeMutablePointer<Float>) {
    var mean = 0.0
    for i in 0..<n { mean += Double(x[i]) }
    mean /= Double(n)
    var v = 0.0
    for i in 0..<n { let d = Double(x[i]) - mean; v += d * d }
    let sd = (v / Double(n)).squareRoot() + 1e-8
    for i in 0..<n { output[i] = Float((Double(x[i]) - mean) / sd) }
}

/// The float32 device path's z-score in single precision only, which a Cortex-M4F runs in
/// hardware (Double is a software routine there: its per-sample division alone cost 2.9 M
/// instructions per window, the Double sums another 1 M): compensated (Kahan) Float sums for
/// the mean and the variance, then one subtract and multiply per sample. `output` may be `x`.
public func zscoreSingle(_ x: UnsafePointer<Float>, count n: Int, output: UnsafeMutablePointer<Float>) {
    var sum: Float = 0, carry: Float = 0
    for i in 0..<n {
        let y = x[i] - carry, t = sum + y
        carry = (t - sum) - y
        sum = t
    }
    let mean = sum / Float(n)
    var squares: Float = 0
    carry = 0
    for i in 0..<n {
        let d = x[i] - mean
        let y = d * d - carry, t = squares + y
        carry = (t - squares) - y
        squares = t
    }
    let k = 1 / ((squares / Float(n)).squareRoot() + 1e-8)
    for i in 0..<n { output[i] = (x[i] - mean) * k }
}

/// The band-pass CLEF trains with: `scipy.signal.butter(5, [0.67, 40], btype='bandpass', fs=500)`,
/// as scipy's exact float64 values. The tf-form filter is so ill-conditioned (poles near z = 1)
/// that a 1e-12 relative change in a coefficient moves filtfilt's output by 5e-4 of the signal
/// range, so the training filter is kept bit for bit rather than redesigned.
public enum CLEFBandpass {
    /// Numerator and denominator (stored in C, `CLEFDSP` tables.c, so a firmware image keeps
    /// them in flash).
    public static var b: [Double] { Array(UnsafeBufferPointer(start: clef_bandpass_b(), count: 11)) }
    public static var a: [Double] { Array(UnsafeBufferPointer(start: clef_bandpass_a(), count: 11)) }
    public static let sampleRate = 500.0
    public static let filter = IIRFilter(b: b, a: a)
}

/// The per-window preprocessing CLEF trains with (band-pass filtfilt over the window, z-score),
/// with its scratch allocated once, so batch and stream run the very same arithmetic.
public final class WindowPreprocessor {
    public let length: Int
    public let mode: Preprocessing
    let filter: IIRFilter
    let input: UnsafeMutablePointer<Double>
    let filtered: UnsafeMutablePointer<Double>
    let scratch: UnsafeMutablePointer<Double>
    let scratch32: UnsafeMutablePointer<Float>
    let scratchFixed: UnsafeMutablePointer<Int32>

    /// `padded`: the caller only uses `runPadded` (the float32 path then needs no scratch of its own).
    public init(length: Int, mode: Preprocessing = .exact, filter: IIRFilter = CLEFBandpass.filter, padded: Bool = false) {
        precondition(length > filter.padLength && length > CLEFBandpass.sos.padLength,
                     "a window must be longer than the filter padding")
        self.length = length
        self.mode = mode
        self.filter = filter
        // The float32 and fixed-point paths need only their own scratch (their z-scores sum on
        // the fly, in compensated Float and in int64), and none when the caller brings padded room.
        doubles = mode == .exact ? 2 * length + filter.scratchCount(length: length) : 3
        floats = mode == .float32 && !padded ? CLEFBandpass.sos.scratchCount(length: length) : 1
        ints = mode == .fixedPoint && !padded ? length + 2 * CLEFBandpass.fixedSOS.padLength : 1
        input = .allocate(capacity: mode == .exact ? length : 1)
        filtered = .allocate(capacity: mode == .exact ? length : 1)
        scratch = .allocate(capacity: mode == .exact ? filter.scratchCount(length: length) : 1)
        scratch32 = .allocate(capacity: floats)
        scratchFixed = .allocate(capacity: ints)
        self.padded = padded
    }

    let padded: Bool
    let doubles: Int, floats: Int, ints: Int

    deinit {
        input.deallocate(); filtered.deallocate(); scratch.deallocate(); scratch32.deallocate(); scratchFixed.deallocate()
    }

    /// Bytes of scratch this preprocessor holds (for memory reports).
    public var byteCount: Int { doubles * 8 + floats * 4 + ints * 4 }

    /// Free floats `runPadded` needs on each side of the window.
    public var padding: Int {
        switch mode {
        case .exact: return 0
        case .float32: return CLEFBandpass.sos.padLength
        case .fixedPoint: return CLEFBandpass.fixedSOS.padLength
        }
    }

    /// The window (millivolts) at buf[padding ..< padding + length] -> the encoder input, in
    /// place; the `padding` floats on each side are overwritten.
    public func runPadded(_ buf: UnsafeMutablePointer<Float>) {
        switch mode {
        case .exact:
            run(buf, output: buf)
        case .float32:
            CLEFBandpass.sos.filtfiltInPlace(buf, length: length)
            zscoreSingle(UnsafePointer(buf + padding), count: length, output: buf + padding)
        case .fixedPoint:
            // Millivolts -> Q18 in the same 4-byte slots, filtered, and back; the memory is
            // re-bound for the integer use, as Swift requires, and the floats written untyped.
            let pad = padding, total = length + 2 * pad, raw = UnsafeMutableRawPointer(buf)
            for i in pad..<(pad + length) {
                raw.storeBytes(of: FixedSOSFilter.quantize(raw.load(fromByteOffset: 4 * i, as: Float.self)),
                               toByteOffset: 4 * i, as: Int32.self)
            }
            let q = raw.bindMemory(to: Int32.self, capacity: total)
            CLEFBandpass.fixedSOS.filtfiltInPlace(q, length: length)
            let z = FixedSOSFilter.zscoreParameters(q + pad, count: length)
            for i in pad..<(pad + length) {
                raw.storeBytes(of: FixedSOSFilter.z(q[i], z), toByteOffset: 4 * i, as: Float.self)
            }
            _ = raw.bindMemory(to: Float.self, capacity: total)
        }
    }

    /// `window` (millivolts, `length` samples) -> z-scored band-passed encoder input. `output`
    /// may be `window` (both paths read the whole window before writing).
    public func run(_ window: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        switch mode {
        case .exact:
            for i in 0..<length { input[i] = Double(window[i]) }
            filter.filtfilt(input, length: length, output: filtered, scratch: scratch)
        case .float32:
            // Filtered into the output, then z-scored in place (zscore reads every value before
            // writing any).
            precondition(!padded, "this preprocessor was made for runPadded")
            CLEFBandpass.sos.filtfilt(window, length: length, output: output, scratch: scratch32)
            zscoreSingle(UnsafePointer(output), count: length, output: output)
            return
        case .fixedPoint:
            precondition(!padded, "this preprocessor was made for runPadded")
            let pad = CLEFBandpass.fixedSOS.padLength
            for i in 0..<length { scratchFixed[pad + i] = FixedSOSFilter.quantize(window[i]) }
            CLEFBandpass.fixedSOS.filtfiltInPlace(scratchFixed, length: length)
            let z = FixedSOSFilter.zscoreParameters(scratchFixed + pad, count: length)
            for i in 0..<length { output[i] = FixedSOSFilter.z(scratchFixed[pad + i], z) }
            return
        }
        zscore(filtered, count: length, output: output)
    }
}
