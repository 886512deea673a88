import Foundation

/// A simulated wearable lead-I stream from a real record: resampled to 500 Hz, converted to ADC
/// counts, with the faults real devices have (additive real noise from the noise-stress records at
/// a given SNR, lead-off, clipping at the ADC rails, dropped bursts, non-finite samples).
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
        public init() {}
    }

    public static let sampleRate = 500
    public let name: String
    /// The record's lead I (or single lead) in mV at 500 Hz, repeated to the requested duration.
    public let millivolts: [Double]
    public let countsPerMillivolt: Double
    public let adcBits: Int
    public let faults: Faults

    public init(record: String, seconds: Double? = nil, countsPerMillivolt: Double = 1000, adcBits: Int = 16,
                faults: Faults = Faults()) throws {
        let rec = try WFDBRecord(path: record)
        guard let x = ECGWindows.leadI(rec) else {
            throw DataError(file: record, field: "signals", reason: "has no lead I and is not single-lead")
        }
        name = record
        var mv = x
        if let seconds {
            let n = Int(seconds * Double(Self.sampleRate))
            mv = (0..<n).map { x[$0 % x.count] }
        }
        if let noise = faults.noiseRecord {
            let nr = try WFDBRecord(path: noise)
            var nz = ECGWindows.resampled(nr.physical(0), from: nr.samplingFrequency)
            let m = nz.reduce(0, +) / Double(nz.count)
            nz = nz.map { $0 - m }
            let ps = mv.reduce(0) { $0 + $1 * $1 } / Double(mv.count)
            let mean = mv.reduce(0, +) / Double(mv.count)
            let sigPower = ps - mean * mean
            let noisePower = nz.reduce(0) { $0 + $1 * $1 } / Double(nz.count)
            let k = (sigPower / (noisePower * pow(10, faults.snrDB / 10))).squareRoot()
            for i in 0..<mv.count { mv[i] += k * nz[i % nz.count] }
        }
        millivolts = mv
        self.countsPerMillivolt = countsPerMillivolt
        self.adcBits = adcBits
        self.faults = faults
    }

    /// The sample stream the device would deliver.
    public func samples() -> [Sample] {
        let hi = Int32((1 << (adcBits - 1)) - 1), lo = -hi - 1
        let rail = faults.clipCounts.map { min($0, hi) } ?? hi
        var out: [Sample] = millivolts.map { v in
            let c = (v * countsPerMillivolt).rounded()
            return .counts(Int32(max(Double(-rail), min(Double(rail), c))))
        }
        _ = lo
        let fs = Double(Self.sampleRate)
        for (start, seconds) in faults.leadOff {
            let a = Int(start * fs), b = min(out.count, a + Int(seconds * fs))
            if a < b { for i in a..<b { out[i] = .counts(0) } }
        }
        for (start, n) in faults.drops {
            let a = Int(start * fs)
            for i in a..<min(out.count, a + n) { out[i] = .missing }
        }
        for t in faults.nonFinite where Int(t * fs) < out.count { out[Int(t * fs)] = .nonFinite }
        return out
    }

    /// ADC rails as the stream engine sees them.
    public var rails: (Int32, Int32) {
        let hi = Int32((1 << (adcBits - 1)) - 1)
        let rail = faults.clipCounts.map { min($0, hi) } ?? hi
        return (-rail, rail)
    }
}
