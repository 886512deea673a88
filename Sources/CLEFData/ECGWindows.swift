import Foundation
import CLEFSignal

/// Real ECG turned into encoder input as CLEF trains: lead I (or the single lead of handheld
/// records), millivolts, resampled to 500 Hz (resample_poly), band-passed over the whole record
/// (scipy-exact filtfilt), cut into 10 s windows, each z-scored.
public enum ECGWindows {
    public static let sampleRate = 500
    public static let windowLength = 5000

    /// Lead I (or single lead) of `record` in mV at 500 Hz; nil when the record has neither.
    public static func leadI(_ record: WFDBRecord) -> [Double]? {
        guard let i = record.leadIIndex else { return nil }
        return resampled(record.physical(i), from: record.samplingFrequency)
    }

    /// Any signal resampled to 500 Hz (rational factor from the rounded rate).
    public static func resampled(_ x: [Double], from fs: Double) -> [Double] {
        let f = Int(fs.rounded())
        if f == sampleRate { return x }
        return ResamplePoly.resample(x, up: sampleRate, down: f)
    }

    /// Band-pass of a whole signal with the training filter.
    public static func bandpass(_ x: [Double]) -> [Double] {
        let f = CLEFBandpass.filter
        guard x.count > f.padLength else { return x.map { _ in 0 } }
        var y = [Double](repeating: 0, count: x.count)
        var scratch = [Double](repeating: 0, count: f.scratchCount(length: x.count))
        f.filtfilt(x, length: x.count, output: &y, scratch: &scratch)
        return y
    }

    /// Preprocessed windows of one record: (start sample, z-scored window).
    public static func windows(_ signal: [Double], strideSeconds: Double = 5, maxCount: Int = 60) -> [(Int, [Float])] {
        let y = bandpass(signal)
        var out: [(Int, [Float])] = []
        let step = max(1, Int(strideSeconds * Double(sampleRate)))
        var s = 0
        while s + windowLength <= y.count && out.count < maxCount {
            var w = [Float](repeating: 0, count: windowLength)
            y.withUnsafeBufferPointer { zscore($0.baseAddress! + s, count: windowLength, output: &w) }
            out.append((s, w))
            s += step
        }
        return out
    }

    /// Every record (`.hea`) under `path` (a record, a header or a folder), sorted by path.
    public static func recordPaths(_ path: String) -> [String] {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            let all = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
            return all.filter { $0.hasSuffix(".hea") }.sorted().map { (path as NSString).appendingPathComponent(String($0.dropLast(4))) }
        }
        return [path.hasSuffix(".hea") ? String(path.dropLast(4)) : path]
    }

    /// Windows of every lead-I record under `paths` (records without lead I are skipped and
    /// named, or with `anyLead` read from their first signal, as CLEF's pretraining does).
    public static func load(_ paths: [String], strideSeconds: Double = 5, maxPerRecord: Int = 60, anyLead: Bool = false)
        throws -> (windows: [(name: String, window: [Float])], skipped: [String]) {
        var out: [(String, [Float])] = []
        var skipped: [String] = []
        for p in paths {
            for r in recordPaths(p) {
                let rec = try WFDBRecord(path: r)
                var signal = leadI(rec)
                if signal == nil && anyLead && !rec.signals.isEmpty {
                    signal = resampled(rec.physical(0), from: rec.samplingFrequency)
                }
                guard let x = signal else { skipped.append(r); continue }
                for (s, w) in windows(x, strideSeconds: strideSeconds, maxCount: maxPerRecord) {
                    out.append(("\(r)@\(s)", w))
                }
            }
        }
        return (out, skipped)
    }
}
