import Foundation
import CLEFArch
import CLEFBlob
import CLEFEngine
import CLEFExport
import CLEFCheckpoint
import CLEFData
import CLEFStream

/// `clef stream`: the product's main job. A simulated wearable streams a real record sample by
/// sample into the stream engine; one line (or JSON object) per hop.
enum Stream {
    static let defaultModel = "Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt"
    static let defaultRecord = "Fixtures/ecg/cinc2017/A00003"
    static let defaultCalibration = "Fixtures/ecg/cinc2021"

    /// A bundled file: relative to the working directory, else to the package the binary was built in.
    static func bundled(_ rel: String) -> String {
        if FileManager.default.fileExists(atPath: rel) || FileManager.default.fileExists(atPath: rel + ".hea") { return rel }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let p = dir.appendingPathComponent(rel).path
            if FileManager.default.fileExists(atPath: p) || FileManager.default.fileExists(atPath: p + ".hea") { return p }
            dir = dir.deletingLastPathComponent()
        }
        return rel
    }

    static func rssKB() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func run(_ args: [String]) throws {
        let o = try Options(args, flags: ["realtime", "quiet", "all-faults"],
                            known: ["model", "record", "hop", "precision", "noise", "lead-off", "clip", "drop", "nan",
                                    "jsonl", "minutes", "calibration", "head", "save-signal", "preprocess"])
        let modelPath = o.string("model") ?? bundled(defaultModel)
        let record = o.string("record") ?? bundled(defaultRecord)
        let hop = try o.int("hop", default: 500)
        // The engine: a blob as it is, or a checkpoint at the requested precision.
        var file = try ModelFile(path: modelPath)
        if let p = o.string("precision") {
            guard let precision = BlobPrecision.named(p) else { throw UsageError(description: "--precision must be f32, f16, q8 or q16") }
            if let ck = file.checkpoint, precision != .f32 {
                let calib = o.string("calibration") ?? bundled(defaultCalibration)
                let windows = try ECGWindows.load([calib], maxPerRecord: 4).windows.map(\.window)
                let stats = CalibrationStats(encoder: ck.encoder, windows: windows)
                let bytes = try Exporter.export(weights: try ck.weights(), config: ck.config, size: ck.size,
                                                options: Exporter.Options(precision: precision), calibration: stats,
                                                hessians: LayerHessians(encoder: ck.encoder, windows: windows))
                let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("clef-stream-\(getpid()).clefw").path
                guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
                    throw UsageError(description: "\(tmp): cannot write the converted model")
                }
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                file = try ModelFile(path: tmp)
            } else if file.engine.precision != precision {
                throw UsageError(description: "\(modelPath) is a \(file.engine.precision.name) blob; --precision \(p) needs a checkpoint")
            }
        }
        // The simulated device and its faults.
        var faults = WearableSimulator.Faults()
        if let n = o.string("noise") {
            let parts = n.split(separator: ":")
            guard parts.count == 2, ["bw", "ma"].contains(String(parts[0])), let snr = Double(parts[1]) else {
                throw UsageError(description: "--noise must be bw:SNRdB or ma:SNRdB (nstdb baseline wander / muscle artifact)")
            }
            faults.noiseRecord = bundled("Fixtures/ecg/nstdb/" + parts[0])
            faults.snrDB = snr
        }
        func seconds(_ name: String) throws -> Double? {
            guard let v = o.string(name) else { return nil }
            guard let d = Double(v), d >= 0 else { throw UsageError(description: "--\(name) takes a time in seconds") }
            return d
        }
        if let t = try seconds("lead-off") { faults.leadOff.append((t, 3)) }
        if let t = try seconds("drop") { faults.drops.append((t, 250)) }
        if let t = try seconds("nan") { faults.nonFinite.append(t) }
        if let c = o.string("clip") {
            guard let v = Int32(c), v > 0 else { throw UsageError(description: "--clip takes ADC counts") }
            faults.clipCounts = v
        }
        let minutes = o.string("minutes").flatMap(Double.init)
        if o.flag("all-faults") {
            // Every fault kind, spread over the run (10 minutes unless --minutes says otherwise).
            let total = (minutes ?? 10) * 60
            faults.noiseRecord = faults.noiseRecord ?? bundled("Fixtures/ecg/nstdb/ma")
            faults.snrDB = o.string("noise") == nil ? 6 : faults.snrDB
            faults.clipCounts = faults.clipCounts ?? 900
            for k in stride(from: 30.0, to: total, by: 120) {
                faults.leadOff.append((k, 4)); faults.drops.append((k + 40, 300)); faults.nonFinite.append(k + 80)
            }
        }
        let duration = minutes.map { $0 * 60 } ?? ((o.flag("all-faults")) ? 600 : nil)
        let sim = try WearableSimulator(record: record, seconds: duration, faults: faults)
        var config = StreamConfig()
        config.hop = hop
        switch o.string("preprocess") ?? "exact" {
        case "exact": config.preprocessing = .exact
        case "float32": config.preprocessing = .float32
        case "fixed": config.preprocessing = .fixedPoint
        default: throw UsageError(description: "--preprocess must be exact (scipy float64, as in training), float32 (device sections) or fixed (the sections in integers)")
        }
        config.countsPerMillivolt = Float(sim.countsPerMillivolt)
        (config.adcMin, config.adcMax) = sim.rails
        // Heads stored in the blob run inside the stream engine at every hop; --head adds a text
        // heart-rate head (and takes precedence for the bpm).
        var blobHeads: LinearHeads?
        if let blob = file.blob {
            do { blobHeads = try LinearHeads(blob: blob) } catch { throw BlobFileError(path: modelPath, error: error) }
            if blobHeads?.isEmpty == true { blobHeads = nil }
        }
        let stream = StreamEngine(engine: file.engine, config: config, heads: blobHeads)
        let head = try o.string("head").map { try Heads.load($0, dim: file.engine.config.embeddingDim) }
        let jsonl: FileHandle? = try o.string("jsonl").map { p in
            guard FileManager.default.createFile(atPath: p, contents: nil), let h = FileHandle(forWritingAtPath: p) else {
                throw UsageError(description: "\(p): cannot write")
            }
            return h
        }
        if let path = o.string("save-signal") { try saveSignal(sim, config: config, path: path) }
        let expected = max(0, (sim.count - config.windowLength) / hop + 1)
        let quiet = o.flag("quiet") || expected > 600
        print("clef stream: \(file.engine.precision.name) \(Net1DConfig.size(forBaseFilters: file.engine.config.baseFilters).map { "\($0.name)" } ?? "") model \(modelPath)")
        print("record \(record): \(String(format: "%.1f", Double(sim.count) / 500)) s of lead I at 500 Hz, hop \(hop) samples (\(String(format: "%.2f", Double(hop) / 500)) s), \(expected) windows")
        let rss0 = rssKB()
        var emitted = 0, usable = 0, flagged = 0
        // Running timing statistics in fixed memory (a 24-hour run must not grow): sum, and a
        // log-spaced histogram (5% bins from 0.01 ms) for the 99th percentile.
        var computeSum = 0.0, computeCount = 0
        var histogram = [Int](repeating: 0, count: 400)
        func bin(_ ms: Double) -> Int { min(399, max(0, Int((log(max(ms, 0.01) / 0.01) / log(1.05)).rounded(.down)))) }
        let start = Date()
        var lastProgress = Date()
        for i in 0..<sim.count {
            let s = sim.sample(i)
            if o.flag("realtime") {
                let due = start.addingTimeInterval(Double(i) / 500)
                let wait = due.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let e: Emission?
            switch s {
            case .counts(let c): e = stream.push(counts: c)
            case .missing: e = stream.pushMissing()
            case .nonFinite: e = stream.push(millivolts: .nan)
            }
            guard let e else { continue }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            computeSum += ms; computeCount += 1
            histogram[bin(ms)] += 1
            emitted += 1
            if e.usable { usable += 1 }
            if !e.quality.isClean { flagged += 1 }
            var norm: Float = 0
            if e.usable { for c in 0..<file.engine.config.embeddingDim { norm += stream.embedding[c] * stream.embedding[c] } }
            let q = qualityText(e.quality)
            let t = Double(e.sampleCount) / 500
            let finite = e.usable ? (0..<file.engine.config.embeddingDim).allSatisfy { stream.embedding[$0].isFinite } : true
            if !finite { throw UsageError(description: "non-finite embedding at \(t) s: engine fault") }
            let bpm = e.usable ? (head?.predict(UnsafePointer(stream.embedding)) ?? e.heartRate.map(Double.init)) : nil
            if !quiet {
                var value = !e.usable ? "unusable        " : bpm.map { String(format: "HR %6.1f bpm  ", $0) } ?? String(format: "|e| %8.4f", norm.squareRoot())
                if let p = e.afProbability { value += String(format: "  AF p %.2f", p) }
                print(String(format: "%8.1f s  %@  quality %@  %6.2f ms", t, value, q, ms))
            } else if Date().timeIntervalSince(lastProgress) > 2 {
                FileHandle.standardError.write(Data(String(format: "\r  %d / %d windows (%.0f%%)", emitted, expected, 100 * Double(emitted) / Double(max(1, expected))).utf8))
                lastProgress = Date()
            }
            if let jsonl {
                var obj = "{\"t\": \(t), \"samples\": \(e.sampleCount), \"quality\": \"\(q)\", \"usable\": \(e.usable), \"flagged_samples\": \(e.flaggedSamples), \"compute_ms\": \(ms)"
                if let bpm { obj += ", \"hr_bpm\": \(bpm)" }
                if let p = e.afProbability { obj += ", \"af_probability\": \(p)" }
                if e.usable {
                    obj += ", \"embedding\": [" + (0..<file.engine.config.embeddingDim).map { "\(stream.embedding[$0])" }.joined(separator: ",") + "]"
                }
                jsonl.write(Data((obj + "}\n").utf8))
            }
        }
        if quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        try jsonl?.close()
        let rss1 = rssKB()
        let mean = computeSum / Double(max(1, computeCount))
        var p99 = 0.0, seen = 0
        for (i, n) in histogram.enumerated() {
            seen += n
            if Double(seen) >= 0.99 * Double(computeCount) { p99 = 0.01 * pow(1.05, Double(i + 1)); break }
        }
        print("windows \(emitted), usable \(usable), flagged \(flagged) | compute per hop mean \(String(format: "%.2f", mean)) ms, p99 \(String(format: "%.2f", p99)) ms")
        print(String(format: "one core sustains %.0f simultaneous 500 Hz streams at this hop (hop time / mean compute)", Double(hop) / 500 * 1000 / max(mean, 1e-6)))
        print("resident memory: \(rss0) kB before the stream, \(rss1) kB after")
    }

    /// Writes the simulated ADC stream for the firmware image (`WearableSimulator.firmwareSignal`).
    static func saveSignal(_ sim: WearableSimulator, config: StreamConfig, path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(try sim.firmwareSignal(hop: config.hop, flags: UInt32(config.preprocessing.rawValue)))) else {
            throw UsageError(description: "\(path): cannot write")
        }
    }

    static func qualityText(_ q: SignalQuality) -> String {
        if q.isClean { return "clean" }
        var parts: [String] = []
        if q.contains(.missing) { parts.append("missing") }
        if q.contains(.nonFinite) { parts.append("nonfinite") }
        if q.contains(.clipped) { parts.append("clipped") }
        if q.contains(.leadOff) { parts.append("lead-off") }
        return parts.joined(separator: "+")
    }
}
