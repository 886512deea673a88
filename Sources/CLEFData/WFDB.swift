import Foundation

/// Why a WFDB record could not be read: the file, the field and the reason.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var field: String
    public var reason: String
    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(file): \(field): \(reason)" }
}

/// A PhysioNet WFDB record: header (`.hea`) and signal files in formats 16 and 212, including
/// format 16 after a byte offset (the MATLAB v4 `.mat` files of the CinC challenges).
public struct WFDBRecord {
    public struct Signal {
        public var fileName: String
        public var format: Int
        public var byteOffset: Int
        /// ADC units per physical unit (0 in the header means uncalibrated: 200 is used, as WFDB does).
        public var gain: Double
        public var baseline: Int
        public var units: String
        public var adcResolution: Int
        public var adcZero: Int
        public var initialValue: Int?
        public var checksum: Int?
        public var description: String
    }

    public let name: String
    public let headerPath: String
    public let samplingFrequency: Double
    public let sampleCount: Int
    public let signals: [Signal]
    /// Digital samples per signal.
    public let digital: [[Int16]]
    /// Comment lines of the header (without '#').
    public let comments: [String]

    /// Reads `path` (with or without `.hea`).
    public init(path: String) throws(DataError) {
        let base = path.hasSuffix(".hea") ? String(path.dropLast(4)) : path
        let hp = base + ".hea"
        headerPath = hp
        let dir = (hp as NSString).deletingLastPathComponent
        func fail(_ field: String, _ reason: String, file: String? = nil) -> DataError {
            DataError(file: file ?? hp, field: field, reason: reason)
        }
        guard let data = FileManager.default.contents(atPath: hp) else { throw fail("header", "cannot read file") }
        guard data.count < 1 << 20 else { throw fail("header", "larger than 1 MB: not a WFDB header") }
        let text = String(decoding: data, as: UTF8.self)
        var lines: [String] = []
        var comments: [String] = []
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let l = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            let t = l.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("#") { comments.append(String(t.dropFirst()).trimmingCharacters(in: .whitespaces)); continue }
            if t.isEmpty { continue }
            lines.append(t)
        }
        self.comments = comments
        guard let recordLine = lines.first else { throw fail("record line", "missing") }
        // Record line: name[/segments] nsig [fs[/counterfreq][(base)] [nsamp [date time]]]; fields
        // past the fourth are ignored (cinc2017 carries a non-standard date there).
        let rf = recordLine.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard rf.count >= 2 else { throw fail("record line", "needs at least a name and a signal count") }
        guard !rf[0].contains("/") else { throw fail("record line", "multi-segment records are not supported") }
        name = rf[0]
        guard let nsig = Int(rf[1]), nsig >= 0, nsig <= 256 else { throw fail("record line: signal count", "'\(rf[1])' is not 0...256") }
        var fs = 250.0
        if rf.count > 2 {
            let f = rf[2].split(separator: "/").first.map(String.init) ?? rf[2]
            guard let v = Double(f.split(separator: "(").first.map(String.init) ?? f), v > 0, v < 1e6 else {
                throw fail("record line: sampling frequency", "'\(rf[2])' is not a positive number")
            }
            fs = v
        }
        samplingFrequency = fs
        var declaredSamples: Int?
        if rf.count > 3 {
            guard let v = Int(rf[3]), v >= 0 else { throw fail("record line: sample count", "'\(rf[3])' is not a count") }
            declaredSamples = v
        }
        guard lines.count >= 1 + nsig else { throw fail("signal lines", "header declares \(nsig) signals but has \(lines.count - 1) signal lines") }
        var sigs: [Signal] = []
        for s in 0..<nsig {
            let f = lines[1 + s].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let field = "signal \(s)"
            guard f.count >= 2 else { throw fail(field, "needs a file name and a format") }
            // format[xsamples][:skew][+offset]
            var fmtText = f[1]
            var offset = 0
            if let plus = fmtText.firstIndex(of: "+") {
                guard let o = Int(fmtText[fmtText.index(after: plus)...]), o >= 0 else { throw fail(field + ": format", "bad byte offset in '\(f[1])'") }
                offset = o
                fmtText = String(fmtText[..<plus])
            }
            if let colon = fmtText.firstIndex(of: ":") { fmtText = String(fmtText[..<colon]) }
            if let x = fmtText.firstIndex(of: "x") {
                guard fmtText[fmtText.index(after: x)...] == "1" else { throw fail(field + ": format", "samples-per-frame other than 1 are not supported ('\(f[1])')") }
                fmtText = String(fmtText[..<x])
            }
            guard let fmt = Int(fmtText), fmt == 16 || fmt == 212 else {
                throw fail(field + ": format", "format '\(f[1])' is not supported (formats 16 and 212 are)")
            }
            // gain[(baseline)][/units]
            var gain = 200.0, baseline: Int?, units = "mV"
            if f.count > 2 {
                var g = f[2]
                if let slash = g.firstIndex(of: "/") { units = String(g[g.index(after: slash)...]); g = String(g[..<slash]) }
                if let open = g.firstIndex(of: "("), let close = g.firstIndex(of: ")"), open < close {
                    guard let b = Int(g[g.index(after: open)..<close]) else { throw fail(field + ": baseline", "'\(f[2])'") }
                    baseline = b
                    g = String(g[..<open])
                }
                guard let gv = Double(g), gv >= 0, gv.isFinite else { throw fail(field + ": gain", "'\(f[2])' is not a gain") }
                gain = gv == 0 ? 200 : gv
            }
            let adcRes = f.count > 3 ? Int(f[3]) ?? 0 : 0
            let adcZero = f.count > 4 ? Int(f[4]) ?? 0 : 0
            let initial = f.count > 5 ? Int(f[5]) : nil
            let checksum = f.count > 6 ? Int(f[6]) : nil
            let desc = f.count > 8 ? f[8...].joined(separator: " ") : ""
            sigs.append(Signal(fileName: f[0], format: fmt, byteOffset: offset, gain: gain, baseline: baseline ?? adcZero,
                               units: units, adcResolution: adcRes, adcZero: adcZero, initialValue: initial,
                               checksum: checksum, description: desc))
        }
        signals = sigs
        // Signals sharing a file are interleaved by frame, in header order.
        var out = [[Int16]](repeating: [], count: nsig)
        var files: [String] = []
        for s in sigs where !files.contains(s.fileName) { files.append(s.fileName) }
        var count = declaredSamples
        for file in files {
            let members = (0..<nsig).filter { sigs[$0].fileName == file }
            let fmt = sigs[members[0]].format, off = sigs[members[0]].byteOffset
            guard members.allSatisfy({ sigs[$0].format == fmt && sigs[$0].byteOffset == off }) else {
                throw fail("signal file \(file)", "signals in one file must share format and offset")
            }
            let path = (dir as NSString).appendingPathComponent(file)
            guard let raw = FileManager.default.contents(atPath: path) else { throw fail("signal file", "cannot read", file: path) }
            guard raw.count >= off else { throw fail("byte offset", "\(off) is past the end of the \(raw.count)-byte file", file: path) }
            let k = members.count
            let body = raw.count - off
            let frames: Int
            switch fmt {
            case 16: frames = body / (2 * k)
            default: frames = (body * 2 / 3) / k  // 212: 3 bytes per 2 samples
            }
            if let c = count {
                guard frames >= c else {
                    throw fail("signal data", "holds \(frames) samples per signal, fewer than the \(c) the header declares", file: path)
                }
            } else {
                count = frames
            }
            let n = count!
            var decoded = [[Int16]](repeating: [Int16](repeating: 0, count: n), count: k)
            raw.withUnsafeBytes { p in
                if fmt == 16 {
                    for i in 0..<n {
                        for j in 0..<k {
                            let o = off + 2 * (i * k + j)
                            decoded[j][i] = Int16(bitPattern: UInt16(p[o]) | UInt16(p[o + 1]) << 8)
                        }
                    }
                } else {
                    // Format 212: each pair of samples in 3 bytes; low 8 bits then nibbles.
                    for idx in 0..<(n * k) {
                        let pair = idx / 2, o = off + 3 * pair
                        let v: Int
                        if idx % 2 == 0 {
                            v = Int(p[o]) | (Int(p[o + 1]) & 0x0F) << 8
                        } else {
                            v = Int(p[o + 2]) | (Int(p[o + 1]) & 0xF0) << 4
                        }
                        let s = v >= 2048 ? v - 4096 : v
                        decoded[idx % k][idx / k] = Int16(s)
                    }
                }
            }
            for (j, s) in members.enumerated() {
                // Header checksum: 16-bit two's-complement sum of all samples (0 means none here
                // for cinc2017, whose headers store 0; such records are not checked).
                if let c = sigs[s].checksum, c != 0 {
                    var sum: Int16 = 0
                    for v in decoded[j] { sum = sum &+ v }
                    guard Int(sum) == Int(Int16(truncatingIfNeeded: c)) else {
                        throw fail("signal \(s) (\(sigs[s].description)): checksum", "samples sum to \(sum) but the header says \(c): corrupt or truncated data", file: path)
                    }
                }
                if let iv = sigs[s].initialValue, n > 0, Int(decoded[j][0]) != iv {
                    throw fail("signal \(s): initial value", "first sample is \(decoded[j][0]) but the header says \(iv)", file: path)
                }
                out[s] = decoded[j]
            }
        }
        digital = out
        sampleCount = count ?? 0
    }

    /// Physical values of signal `index`: (digital - baseline) / gain.
    public func physical(_ index: Int) -> [Double] {
        let s = signals[index]
        return digital[index].map { (Double($0) - Double(s.baseline)) / s.gain }
    }

    /// Lead I where the record has it (by description, case-insensitive), otherwise the only
    /// signal of a single-lead record. Returns nil for multi-lead records without lead I.
    public var leadIIndex: Int? {
        if let i = signals.firstIndex(where: { $0.description.lowercased() == "i" }) { return i }
        return signals.count == 1 ? 0 : nil
    }
}
