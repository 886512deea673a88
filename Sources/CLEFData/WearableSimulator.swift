import Foundation

/// A simulated wearable lead-I stream from a real record: resampled to 500 Hz, converted to ADC
/// counts, with the faults real devices have (additive real noise from the noise-stress records at
/// a given SNR, lead-off, clipping at the ADC rails, dropped bursts, non-finite samples, spikes).
public struct WearableSimulator {
    public enum Sample: Equatable {
        case counts(Int32)
        case missing
        case nonFinite
    }

    public struct Faults {
        /// Real noise (an nstdb record such as `bw` or `ma`) at this signal-to-noise ratio.
        public var noiseRecord: String?
        public var snrDB: Double = 12
        /// Electrode off: (start second, seconds) runs held flat.
        public var leadOff: [(Double, Double)] = []
        /// ADC rails in counts (|counts| >= this are clipped), nil for the full int16 range.
        public var clipCounts: Int32?
        /// Dropped packets: (start second, samples).
        public var drops: [(Double, Int)] = []
        /// Single non-finite samples at these seconds (a broken front end).
        public var nonFinite: [Double] = []
        /// (second, millivolts) added to one sample: an electrode pop or an electrostatic spike.
        public var spikes: [(Double, Double)] = []
        public init() {}
    }

    public static let sampleRate = 500
    public let name: String
    /// The record's lead I (or single lead) in mV at 500 Hz; the stream loops over it.
    public let record: [Double]
    /// Scaled real noise added to the record (looped), empty without noise.
    let noise: [Double]
    /// Samples in the stream.
    public let count: Int
    public let countsPerMillivolt: Double
    public let adcBits: Int
    public let faults: Faults

    public init(record path: String, seconds: Double? = nil, countsPerMillivolt: Double = 1000, adcBits: Int = 16,
                faults: Faults = Faults()) throws {
        let rec = try WFDBRecord(path: path)
        guard let x = ECGWindows.leadI(rec) else {
            throw DataError(file: path, field: "signals", reason: "has no lead I and is not single-lead")
        }
        name = path
        record = x
        count = seconds.map { Int($0 * Double(Self.sampleRate)) } ?? x.count
        var nz: [Double] = []
        if let noisePath = faults.noiseRecord {
            let nr = try WFDBRecord(path: noisePath)
            nz = ECGWindows.resampled(nr.physical(0), from: nr.samplingFrequency)
            let m = nz.reduce(0, +) / Double(nz.count)
            nz = nz.map { $0 - m }
            let mean = x.reduce(0, +) / Double(x.count)
            let sigPower = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
            let noisePower = nz.reduce(0) { $0 + $1 * $1 } / Double(nz.count)
            let k = (sigPower / (noisePower * pow(10, faults.snrDB / 10))).squareRoot()
            nz = nz.map { $0 * k }
        }
        noise = nz
        self.countsPerMillivolt = countsPerMillivolt
        self.adcBits = adcBits
        self.faults = faults
    }

    /// Sample `i` of the stream, computed on demand (a 24-hour stream holds no more memory than a
    /// minute).
    public func sample(_ i: Int) -> Sample {
        let fs = Double(Self.sampleRate)
        let t = Double(i) / fs
        for (start, n) in faults.drops where i >= Int(start * fs) && i < Int(start * fs) + n { return .missing }
        for s in faults.nonFinite where i == Int(s * fs) { return .nonFinite }
        for (start, seconds) in faults.leadOff where t >= start && t < start + seconds { return .counts(0) }
        var v = record[i % record.count]
        if !noise.isEmpty { v += noise[i % noise.count] }
        for (s, mv) in faults.spikes where i == Int(s * fs) { v += mv }
        let rail = Double(rails.1)
        return .counts(Int32(max(-rail, min(rail, (v * countsPerMillivolt).rounded()))))
    }

    /// The whole stream (tests; the command line uses `sample(_:)`).
    public func samples() -> [Sample] { (0..<count).map(sample) }

    /// ADC rails as the stream engine sees them.
    public var rails: (Int32, Int32) {
        let hi = Int32((1 << (adcBits - 1)) - 1)
        let rail = faults.clipCounts.map { min($0, hi) } ?? hi
        return (-rail, rail)
    }
}

extension WearableSimulator {
    /// The first `count` samples (all by default) as the firmware image's test signal
    /// (Firmware-Sim/App/main.swift reads it): "CLEFSIG1", hop, sample count (int32), counts per
    /// mV (float32), ADC rails (int32 x 2), flags (bit 0: float32 preprocessing), then int16
    /// counts, all little-endian. Missing or
    /// non-finite samples have no ADC code, so a stream with those faults is refused.
    public func firmwareSignal(hop: Int, count n: Int? = nil, flags: UInt32 = 0) throws -> [UInt8] {
        let n = min(n ?? count, count)
        var out = [UInt8]("CLEFSIG1".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(Int32(hop)); put(Int32(n)); put(Float(countsPerMillivolt).bitPattern)
        put(rails.0); put(rails.1); put(flags)
        for i in 0..<n {
            guard case .counts(let c) = sample(i) else {
                throw DataError(file: name, field: "sample \(i)", reason: "is missing or non-finite; the firmware signal holds ADC counts only")
            }
            put(Int16(clamping: c))
        }
        return out
    }
}
