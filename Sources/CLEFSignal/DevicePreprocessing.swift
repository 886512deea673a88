import CLEFDSP

/// The band-pass for a microcontroller: the same Butterworth filter as second-order sections in
/// float32, run forwards and backwards with scipy's padding (odd extension, 33 samples) and
/// `sosfilt_zi` steady states. The exact path (`IIRFilter`, double-double) costs about 335 M
/// instructions per 10 s window on a Cortex-M4F (soft double); this one about 1 M, at a
/// measured cost in the embedding (docs/firmware.md). Host and firmware run the same float
/// operations in the same order, so they agree bit for bit. Embedded-Swift-clean.
public struct SOSFilter: Sendable {
    /// Per section: b0, b1, b2, a1, a2 (a0 = 1).
    public let sections: [Float]
    /// Per section: the two steady-state values for a unit step (scipy `sosfilt_zi`).
    public let zi: [Float]
    public let padLength: Int

    public init(sections: [Float], zi: [Float], padLength: Int) {
        precondition(sections.count % 5 == 0 && zi.count == sections.count / 5 * 2)
        self.sections = sections
        self.zi = zi
        self.padLength = padLength
    }

    public var sectionCount: Int { sections.count / 5 }
    /// Scratch floats `filtfilt` needs for `length` samples.
    public func scratchCount(length: Int) -> Int { length + 2 * padLength }

    /// y = sosfiltfilt(x) with scipy's defaults. Requires length > padLength.
    public func filtfilt(_ x: UnsafePointer<Float>, length n: Int, output y: UnsafeMutablePointer<Float>,
                         scratch ext: UnsafeMutablePointer<Float>) {
        for i in 0..<n { ext[padLength + i] = x[i] }
        filtfiltInPlace(ext, length: n)
        for i in 0..<n { y[i] = ext[padLength + i] }
    }

    /// sosfiltfilt of the `n` samples at buf[padLength ..< padLength + n], in place: `buf` has
    /// room for `padLength` more samples on each side (scipy's odd extension goes there).
    public func filtfiltInPlace(_ buf: UnsafeMutablePointer<Float>, length n: Int) {
        let pad = padLength
        precondition(n > pad, "filtfilt needs more samples than its padding")
        let x = buf + pad
        for i in 0..<pad { buf[i] = 2 * x[0] - x[pad - i] }
        for i in 0..<pad { x[n + i] = 2 * x[n - 1] - x[n - 2 - i] }
        run(buf, count: n + 2 * pad, reverse: false)
        run(buf, count: n + 2 * pad, reverse: true)
    }

    /// In place, section after section (direct form II transposed), states zi * first sample.
    func run(_ v: UnsafeMutablePointer<Float>, count: Int, reverse: Bool) {
        sections.withUnsafeBufferPointer { sp in
            zi.withUnsafeBufferPointer { zp in
                // Every section's state scales with the pass's first input (zi already holds the
                // DC gains of the sections before it).
                let x0 = v[reverse ? count - 1 : 0]
                for s in 0..<sectionCount {
                    let c = sp.baseAddress! + 5 * s
                    let b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4]
                    var z0 = zp[2 * s] * x0, z1 = zp[2 * s + 1] * x0
                    for step in 0..<count {
                        let i = reverse ? count - 1 - step : step
                        let xi = v[i]
                        let yi = b0 * xi + z0
                        z0 = b1 * xi - a1 * yi + z1
                        z1 = b2 * xi - a2 * yi
                        v[i] = yi
                    }
                }
            }
        }
    }
}

extension CLEFBandpass {
    /// `scipy.signal.butter(5, [0.67, 40], btype='bandpass', fs=500, output='sos')` (scipy 1.x
    /// float64 values): b0, b1, b2, a1, a2 per section (stored in C, `CLEFDSP` tables.c, so a
    /// firmware image keeps them in flash).
    public static var sections64: [Double] { Array(UnsafeBufferPointer(start: clef_bandpass_sections(), count: 25)) }

    /// The sections and `sosfilt_zi` of them (scipy float64 values) rounded to float32.
    public static let sos = SOSFilter(
        sections: sections64.map { Float($0) },
        zi: [
            Float(0x1.4a9478cb98467p-7), Float(-0x1.1a2c2f1a89351p-8),
            Float(0x1.7c11613a16de0p-3), Float(-0x1.16e2bb50dc5e7p-3),
            Float(-0x1.91a8fc74bdb74p-3), Float(-0x1.91a8fc74bdbabp-3),
            0, 0,
            0, 0,
        ],
        padLength: 33)

    /// The same sections in integers (`FixedSOSFilter`). The cascade's peak gains after each
    /// section are 0.0105, 0.243, 0.990, 0.996, 1.0 (scipy `sosfreqz`): 6 and 2 more fraction
    /// bits after the first two keep their outputs as precise as the input.
    public static let fixedSOS = FixedSOSFilter(sections: sections64, extraBits: [6, 2, 0, 0, 0], padLength: 33)
}

/// Which band-pass a `WindowPreprocessor` runs: `exact` reproduces scipy's float64 filtfilt (what
/// CLEF trains with); `float32` is the cheap device path above; `fixedPoint` the same sections in
/// integers, for cores without a float unit.
public enum Preprocessing: UInt8, Sendable {
    case exact = 0, float32 = 1, fixedPoint = 2
}
