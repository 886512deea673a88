import Foundation

/// WFDB annotation files in the MIT format (`.atr`): 16-bit words holding a 6-bit code and a
/// 10-bit time increment, with the SKIP, NUM, SUB, CHN and AUX pseudo-codes.
public struct WFDBAnnotations {
    public struct Annotation: Equatable {
        public var sample: Int
        public var code: Int
        public var aux: String
    }

    public let annotations: [Annotation]

    /// Beat codes (the symbols hr_windows.py counts: N L R B A a J S V r F e j n E / f Q ?).
    public static let beatCodes: Set<Int> = [1, 2, 3, 25, 8, 4, 7, 9, 5, 41, 6, 34, 11, 35, 10, 12, 38, 13, 30]

    public init(path: String) throws(DataError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, field: "annotations", reason: "cannot read file")
        }
        let b = [UInt8](data)
        var out: [Annotation] = []
        var i = 0, t = 0
        func word(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        while i + 1 < b.count {
            let w = word(i)
            let code = w >> 10, value = w & 0x3FF
            i += 2
            switch code {
            case 0 where value == 0:
                annotations = out
                return
            case 59:    // SKIP: a 32-bit interval follows (high word first)
                guard i + 3 < b.count else { throw DataError(file: path, field: "SKIP at byte \(i)", reason: "truncated") }
                let v = Int32(bitPattern: UInt32(word(i)) << 16 | UInt32(word(i + 2)))
                t += Int(v)
                i += 4
            case 60, 61, 62: break  // NUM, SUB, CHN
            case 63:    // AUX: `value` bytes, padded to even, attached to the last annotation
                guard i + value <= b.count else { throw DataError(file: path, field: "AUX at byte \(i)", reason: "runs past the end") }
                if !out.isEmpty { out[out.count - 1].aux = String(decoding: b[i..<(i + value)], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\0")) }
                i += value + (value & 1)
            default:
                t += value
                out.append(Annotation(sample: t, code: code, aux: ""))
            }
        }
        annotations = out
    }

    /// Sample positions of beats.
    public var beats: [Int] { annotations.filter { Self.beatCodes.contains($0.code) }.map(\.sample) }
}

/// Heart-rate labelled 10 s windows as `hr_windows.py` makes them: first signal of a
/// beat-annotated record, resampled, band-passed, windows every 5 s, label 60 / mean RR of the
/// beats inside (at least 4).
public enum HeartRateWindows {
    public static func load(_ records: [String], strideSeconds: Double = 5) throws -> [(record: String, window: [Float], bpm: Double)] {
        var out: [(String, [Float], Double)] = []
        for r in records {
            let rec = try WFDBRecord(path: r)
            let ann = try WFDBAnnotations(path: r + ".atr")
            let beats = ann.beats.map { Double($0) / rec.samplingFrequency }
            let x = ECGWindows.resampled(rec.physical(0), from: rec.samplingFrequency)
            for (start, w) in ECGWindows.windows(x, strideSeconds: strideSeconds, maxCount: Int.max) {
                let t0 = Double(start) / 500, t1 = Double(start + 5000) / 500
                let inside = beats.filter { $0 >= t0 && $0 < t1 }
                guard inside.count >= 4 else { continue }
                let rr = (inside.last! - inside.first!) / Double(inside.count - 1)
                out.append((r, w, 60 / rr))
            }
        }
        return out
    }
}

/// AF vs non-AF 10 s windows as `af_windows.py` makes them: cinc2017 labels (A = AF; N, O = not;
/// '~' dropped), and for annotated records the rhythm annotations ('(AFIB' vs any other rhythm;
/// windows more than 90% one way, others dropped). Lead I or the single lead; first lead otherwise.
public enum AFWindows {
    public static func load(_ records: [String], strideSeconds: Double = 5) throws -> [(record: String, window: [Float], af: Bool)] {
        var out: [(String, [Float], Bool)] = []
        for r in records {
            let rec = try WFDBRecord(path: r)
            let dir = (r as NSString).deletingLastPathComponent
            let name = (r as NSString).lastPathComponent
            let x = ECGWindows.leadI(rec) ?? ECGWindows.resampled(rec.physical(0), from: rec.samplingFrequency)
            let windows = ECGWindows.windows(x, strideSeconds: strideSeconds, maxCount: Int.max)
            let refPath = (dir as NSString).appendingPathComponent("REFERENCE.csv")
            if let ref = try? String(contentsOfFile: refPath, encoding: .utf8),
               let line = ref.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix(name + ",") }) {
                let label = line.split(separator: ",").last.map(String.init) ?? "~"
                guard label != "~" else { continue }
                for (_, w) in windows { out.append((r, w, label == "A")) }
                continue
            }
            // Rhythm annotations: AF mask at the native rate.
            let ann = try WFDBAnnotations(path: r + ".atr")
            var af = [Bool](repeating: false, count: rec.sampleCount)
            var current = "", start = 0
            for a in ann.annotations where a.aux.hasPrefix("(") {
                if current == "(AFIB" { for i in start..<min(a.sample, af.count) { af[i] = true } }
                current = a.aux
                start = a.sample
            }
            if current == "(AFIB" { for i in start..<af.count { af[i] = true } }
            let ratio = rec.samplingFrequency / 500
            for (s, w) in windows {
                let a = Int(Double(s) * ratio), b = min(af.count, Int(Double(s + 5000) * ratio))
                guard b > a else { continue }
                let frac = Double(af[a..<b].filter { $0 }.count) / Double(b - a)
                if frac > 0.9 { out.append((r, w, true)) } else if frac < 0.1 { out.append((r, w, false)) }
            }
        }
        return out
    }
}
