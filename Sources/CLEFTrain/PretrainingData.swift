import Foundation
import CLEFSignal
import CLEFData

/// Pretraining views as upstream CLEF makes them: a random 10 s segment of a band-passed record,
/// z-scored; each view adds one of identity, baseline wander, muscle artifact or both (real
/// `nstdb` noise scaled to RMS 0.1), then with probability 0.2 zeroes a run of 10-30% of the
/// window, and is z-scored last. Deterministic for a seed.
public struct PretrainingData {
    public struct Record { public var name: String; public var signal: [Double] }
    public let records: [Record]
    let noise: [[Double]]   // bw, ma (each channel), mean removed, 500 Hz
    public static let window = 5000

    public init(recordPaths: [String], noisePaths: [String]) throws {
        var recs: [Record] = []
        for p in recordPaths.flatMap(ECGWindows.recordPaths) {
            let r = try WFDBRecord(path: p)
            let x = ECGWindows.leadI(r) ?? ECGWindows.resampled(r.physical(0), from: r.samplingFrequency)
            guard x.count >= Self.window else { continue }
            recs.append(Record(name: p, signal: ECGWindows.bandpass(x)))
        }
        guard !recs.isEmpty else { throw DataError(file: recordPaths.joined(separator: " "), field: "records", reason: "no record with 10 s of signal") }
        records = recs
        var bank: [[Double]] = []
        for p in noisePaths {
            let r = try WFDBRecord(path: p)
            for c in 0..<r.signals.count {
                var x = ECGWindows.resampled(r.physical(c), from: r.samplingFrequency)
                let m = x.reduce(0, +) / Double(x.count)
                x = x.map { $0 - m }
                bank.append(x)
            }
        }
        noise = bank
    }

    /// Two augmented views of one random segment, and the record it came from.
    public func pair(_ rng: inout SplitMix) -> (record: Int, view1: [Float], view2: [Float]) {
        let r = Int(rng.next() % UInt64(records.count))
        let sig = records[r].signal
        let start = Int(rng.next() % UInt64(sig.count - Self.window + 1))
        var base = [Float](repeating: 0, count: Self.window)
        sig.withUnsafeBufferPointer { zscore($0.baseAddress! + start, count: Self.window, output: &base) }
        return (r, augment(base, &rng), augment(base, &rng))
    }

    func augment(_ base: [Float], _ rng: inout SplitMix) -> [Float] {
        var x = base.map(Double.init)
        let kind = Int(rng.next() % 4)   // 0 identity, 1 baseline wander, 2 muscle artifact, 3 both
        if kind > 0 && !noise.isEmpty {
            var seg = [Double](repeating: 0, count: Self.window)
            let half = max(1, noise.count / 2)
            let sources: [Int] = kind == 1 ? [Int(rng.next() % UInt64(half))]
                : kind == 2 ? [half + Int(rng.next() % UInt64(max(1, noise.count - half))) % noise.count]
                : [Int(rng.next() % UInt64(half)), half + Int(rng.next() % UInt64(max(1, noise.count - half))) % noise.count]
            for s in sources {
                let n = noise[s % noise.count]
                let o = Int(rng.next() % UInt64(n.count - Self.window))
                for i in 0..<Self.window { seg[i] += n[o + i] }
            }
            let rms = (seg.reduce(0) { $0 + $1 * $1 } / Double(Self.window)).squareRoot()
            for i in 0..<Self.window { x[i] += seg[i] / (rms + 1e-8) * 0.1 }
        }
        if rng.uniform() < 0.2 {
            let len = Int(Double(Self.window) * (0.1 + 0.2 * rng.uniform()))
            let s = Int(rng.next() % UInt64(Self.window - len))
            for i in s..<(s + len) { x[i] = 0 }
        }
        var out = [Float](repeating: 0, count: Self.window)
        zscore(x, count: Self.window, output: &out)
        return out
    }
}

/// SplitMix64: a small, fast, seedable generator (the trainer's only source of randomness).
public struct SplitMix {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
