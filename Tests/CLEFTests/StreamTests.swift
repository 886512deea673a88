import XCTest
import Foundation
import CLEFArch
import CLEFCheckpoint
import CLEFBlob
import CLEFEngine
import CLEFExport
import CLEFData
import CLEFSignal
import CLEFStream

/// The stream engine against the batch path, on real records, and under every fault kind.
final class StreamTests: XCTestCase {
    nonisolated(unsafe) static var engines: [BlobPrecision: (Engine, UnsafeMutableRawBufferPointer)] = {
        let m = try! CheckpointModel(path: Fix.smallCkpt)
        let calib = try! ECGWindows.load([Fix.path("ecg/cinc2021/E07500"), Fix.path("ecg/cinc2021/HR06000")], maxPerRecord: 1).windows.map(\.window)
        let stats = CalibrationStats(encoder: m.encoder, windows: calib)
        var out: [BlobPrecision: (Engine, UnsafeMutableRawBufferPointer)] = [:]
        for p in BlobPrecision.allCases {
            let bytes = try! Exporter.export(weights: try! m.weights(), config: m.config, size: .small,
                                             options: Exporter.Options(precision: p), calibration: stats)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
            out[p] = (try! Engine(blob: try! BlobReader(UnsafeRawBufferPointer(buf))), buf)   // kept for the process
        }
        return out
    }()

    /// Emission at sample t equals the batch engine on the same window, bit for bit, for every
    /// precision and for hops that do and do not divide the window.
    func testStreamEqualsBatchBitForBit() throws {
        let sim = try WearableSimulator(record: Fix.path("ecg/cinc2017/A00001"), seconds: 16)
        let samples = sim.samples()
        let mv: [Float] = samples.map { if case .counts(let c) = $0 { return Float(c) / 1000 } else { return .nan } }
        for p in BlobPrecision.allCases {
            let engine = Self.engines[p]!.0
            for hop in [500, 333, 1250] {
                var config = StreamConfig()
                config.hop = hop
                let stream = StreamEngine(engine: engine, config: config)
                let batchPre = WindowPreprocessor(length: 5000)
                let ws = EngineWorkspace(engine: engine, maxLength: 5000)
                var x = [Float](repeating: 0, count: 5000), y = [Float](repeating: 0, count: 256)
                var emissions = 0
                for (i, s) in samples.enumerated() {
                    guard case .counts(let c) = s, let e = stream.push(counts: c) else { continue }
                    XCTAssertEqual(e.sampleCount, i + 1)
                    XCTAssertTrue(e.usable && e.quality.isClean)
                    Array(mv[(i + 1 - 5000)...i]).withUnsafeBufferPointer { batchPre.run($0.baseAddress!, output: &x) }
                    engine.embed(x, length: 5000, workspace: ws, output: &y)
                    XCTAssertEqual(Array(UnsafeBufferPointer(start: stream.embedding, count: 256)), y, "\(p.name) hop \(hop) at \(i + 1)")
                    emissions += 1
                }
                XCTAssertEqual(emissions, (samples.count - 5000) / hop + 1, "\(p.name) hop \(hop)")
            }
        }
    }

    /// Every fault kind: each window touching a fault is flagged, none silently clean; every hop
    /// gives a finite embedding or an explicit unusable.
    func testFaultsAreFlagged() throws {
        var f = WearableSimulator.Faults()
        f.noiseRecord = Fix.path("ecg/nstdb/ma")
        f.snrDB = 6
        f.clipCounts = 900
        f.leadOff = [(20, 4)]
        f.drops = [(45, 300)]
        f.nonFinite = [70]
        let sim = try WearableSimulator(record: Fix.path("ecg/cinc2017/A00003"), seconds: 90, faults: f)
        let samples = sim.samples()
        var config = StreamConfig()
        (config.adcMin, config.adcMax) = sim.rails
        let stream = StreamEngine(engine: Self.engines[.q8]!.0, config: config)
        // The same stream with a ring of int16 ADC counts (the firmware's): identical emissions.
        XCTAssertTrue(config.railsFitInt16)
        var countsConfig = config
        countsConfig.ring = .counts16
        let countsStream = StreamEngine(engine: Self.engines[.q8]!.0, config: countsConfig)
        var unusable = 0, flagged = 0, total = 0
        for (i, s) in samples.enumerated() {
            let e: Emission?, e2: Emission?
            switch s {
            case .counts(let c): e = stream.push(counts: c); e2 = countsStream.push(counts: c)
            case .missing: e = stream.pushMissing(); e2 = countsStream.pushMissing()
            case .nonFinite: e = stream.push(millivolts: .nan); e2 = countsStream.push(millivolts: .nan)
            }
            XCTAssertEqual(e == nil, e2 == nil)
            guard let e, let e2 else { continue }
            XCTAssertEqual([e.sampleCount, Int(e.quality.rawValue), e.usable ? 1 : 0, e.flaggedSamples],
                           [e2.sampleCount, Int(e2.quality.rawValue), e2.usable ? 1 : 0, e2.flaggedSamples])
            if e.usable {
                XCTAssertEqual((0..<256).map { stream.embedding[$0].bitPattern }, (0..<256).map { countsStream.embedding[$0].bitPattern },
                               "window ending \(i + 1): the counts ring changed the embedding")
            }
            total += 1
            let window = (i + 1 - 5000)...i
            let faulty = samples[window].contains { s in
                switch s {
                case .missing, .nonFinite: return true
                case .counts(let c): return c <= -900 || c >= 900
                }
            } || window.overlaps(10_000..<12_000)
            if faulty { XCTAssertFalse(e.quality.isClean, "window ending \(i + 1) has a fault but is clean") }
            // Away from the lead-off (whose flat run the stream detects itself), the unusable
            // samples are exactly the dropped and non-finite ones.
            if !window.overlaps(10_000..<12_000) {
                let dropped = samples[window].filter { if case .counts = $0 { return false } else { return true } }.count
                XCTAssertEqual(e.flaggedSamples, dropped, "window ending \(i + 1)")
            }
            if !e.quality.isClean { flagged += 1 }
            if e.usable {
                XCTAssertTrue((0..<256).allSatisfy { stream.embedding[$0].isFinite })
            } else { unusable += 1 }
        }
        XCTAssertEqual(total, (samples.count - 5000) / 500 + 1)
        XCTAssertGreaterThan(flagged, 0)
        print("fault run: \(total) windows, \(flagged) flagged, \(unusable) unusable")
    }

    func testDefaultStreamCommandRuns() throws {
        let r = try Fix.runClef(["stream", "--model", Fix.smallCkpt, "--record", Fix.path("ecg/cinc2017/A00001"), "--hop", "2500"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("windows 5, usable 5"), r.stdout)   // 30 s record, 10 s window, 5 s hop
        XCTAssertTrue(r.stdout.contains("quality clean"), r.stdout)
    }
}

final class HeadTests: XCTestCase {
    /// MIT-BIH 100: 2239 normal, 33 atrial premature and 1 ventricular beat (database README).
    func testAnnotationsAndHeartRateWindows() throws {
        let ann = try WFDBAnnotations(path: Fix.path("ecg/mitdb/100.atr"))
        XCTAssertEqual(ann.annotations.filter { $0.code == 1 }.count, 2239)
        XCTAssertEqual(ann.annotations.filter { $0.code == 8 }.count, 33)
        XCTAssertEqual(ann.annotations.filter { $0.code == 5 }.count, 1)
        XCTAssertTrue(ann.annotations.contains { $0.aux == "(N" })
        let w = try HeartRateWindows.load([Fix.path("ecg/cpsc2021/data_21_7")])
        XCTAssertEqual(w.count, 46)
        XCTAssertTrue(w.allSatisfy { $0.bpm > 40 && $0.bpm < 120 && $0.window.count == 5000 })
    }

    func testRidgeRecoversALinearMap() {
        var g = SystemRandomNumberGenerator()
        let x: [[Float]] = (0..<200).map { _ in (0..<8).map { _ in Float.random(in: -1...1, using: &g) } }
        let y = x.map { 60 + 3 * Double($0[0]) - 2 * Double($0[5]) }
        let h = RidgeHead(features: x, targets: y, alpha: 1e-6)
        XCTAssertEqual(h.weights[0], 3, accuracy: 1e-4)
        XCTAssertEqual(h.weights[5], -2, accuracy: 1e-4)
        XCTAssertEqual(h.intercept, 60, accuracy: 1e-4)
    }

    func testAFWindowsAndLogisticHead() throws {
        let w = try AFWindows.load([Fix.path("ecg/cinc2017/A00004"), Fix.path("ecg/cinc2017/A00001"),
                                    Fix.path("ecg/cinc2017/A00205"), Fix.path("ecg/cpsc2021/data_101_6")])
        XCTAssertEqual(w.filter { $0.record.hasSuffix("A00004") }.map(\.af), [Bool](repeating: true, count: 5))
        XCTAssertEqual(w.filter { $0.record.hasSuffix("A00001") }.map(\.af), [Bool](repeating: false, count: 5))
        XCTAssertTrue(w.filter { $0.record.hasSuffix("A00205") }.isEmpty, "noisy '~' records are dropped")
        let cpsc = w.filter { $0.record.hasSuffix("data_101_6") }
        XCTAssertTrue(cpsc.contains { $0.af } && cpsc.contains { !$0.af }, "paroxysmal AF record has both")
        var g = SystemRandomNumberGenerator()
        let x: [[Float]] = (0..<300).map { _ in (0..<4).map { _ in Float.random(in: -1...1, using: &g) } }
        let y = x.map { $0[1] - 0.5 * $0[2] > 0 }
        let h = LogisticHead(features: x, labels: y, l2: 1e-3)
        let acc = zip(x, y).filter { (h.probability($0.0) > 0.5) == $0.1 }.count
        XCTAssertGreaterThan(acc, 285)
    }
}

/// Heads stored in the blob: read in place, evaluated by the stream engine at every usable hop,
/// malformed ones refused by name.
final class BlobHeadTests: XCTestCase {
    func testHeadsInTheBlobRunAtEveryHop() throws {
        let (engine, buf) = StreamTests.engines[.q8]!
        let blob = try BlobReader(UnsafeRawBufferPointer(buf))
        XCTAssertTrue(try LinearHeads(blob: blob).isEmpty, "an exported blob has no heads")
        var g = SystemRandomNumberGenerator()
        let d = blob.config.embeddingDim
        let hrW = (0..<d).map { _ in Float.random(in: -1...1, using: &g) }
        let foldedAF = LogisticHead(features: (0..<40).map { i in (0..<d).map { _ in Float(i % 2) + Float.random(in: -0.1...0.1, using: &g) } },
                                    labels: (0..<40).map { $0 % 2 == 1 }).folded
        var w = BlobWriter(copying: blob)
        w.add("head.hr.weight", floats: hrW, shape: [d]); w.add("head.hr.bias", floats: [72], shape: [1])
        w.add("head.af.weight", floats: foldedAF.weights.map(Float.init), shape: [d]); w.add("head.af.bias", floats: [Float(foldedAF.bias)], shape: [1])
        let bytes = w.finish()
        let hb = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { hb.deallocate() }
        bytes.withUnsafeBytes { hb.copyMemory(from: $0) }
        let withHeads = try BlobReader(UnsafeRawBufferPointer(hb))
        XCTAssertEqual(withHeads.tensors.count, blob.tensors.count + 4)
        let heads = try LinearHeads(blob: withHeads)
        XCTAssertNotNil(heads.heartRate); XCTAssertNotNil(heads.atrialFibrillation)
        // The copied encoder tensors are byte-identical: the same engine output.
        let engine2 = try Engine(blob: withHeads)
        let sim = try WearableSimulator(record: Fix.path("ecg/cinc2017/A00001"), seconds: 12)
        var config = StreamConfig(); config.hop = 500
        let a = StreamEngine(engine: engine, config: config), b = StreamEngine(engine: engine2, config: config, heads: heads)
        var checked = 0
        for i in 0..<sim.count {
            guard case .counts(let c) = sim.sample(i) else { continue }
            let ea = a.push(counts: c), eb = b.push(counts: c)
            XCTAssertEqual(ea == nil, eb == nil)
            guard let ea, let eb else { continue }
            XCTAssertNil(ea.heartRate); XCTAssertNil(ea.afProbability)
            let e = (0..<d).map { b.embedding[$0] }
            XCTAssertEqual(e, (0..<d).map { a.embedding[$0] })
            let hr = 72 + zip(hrW, e).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(Double(eb.heartRate!), hr, accuracy: 1e-4 * max(1, abs(hr)))
            let z = foldedAF.bias + zip(foldedAF.weights, e).reduce(0.0) { $0 + $1.0 * Double($1.1) }
            XCTAssertEqual(Double(eb.afProbability!), 1 / (1 + exp(-z)), accuracy: 1e-5)
            checked += 1
        }
        XCTAssertEqual(checked, 3)   // 12 s: windows at 10, 11 and 12 s
        // Malformed heads are refused with the tensor's name.
        var bad = BlobWriter(copying: blob)
        bad.add("head.hr.weight", floats: [Float](repeating: .nan, count: d), shape: [d]); bad.add("head.hr.bias", floats: [0], shape: [1])
        var half = BlobWriter(copying: blob)
        half.add("head.af.weight", floats: [Float](repeating: 0, count: d), shape: [d])
        for (writer, field) in [(bad, "head.hr.weight"), (half, "head.af.bias")] {
            let bb = writer.finish()
            let buf2 = UnsafeMutableRawBufferPointer.allocate(byteCount: bb.count, alignment: 16)
            defer { buf2.deallocate() }
            bb.withUnsafeBytes { buf2.copyMemory(from: $0) }
            XCTAssertThrowsError(try LinearHeads(blob: try BlobReader(UnsafeRawBufferPointer(buf2)))) {
                XCTAssertTrue("\($0)".contains(field), "\($0)")
            }
        }
    }
}

final class ReuseTests: XCTestCase {
    /// Why the stream recomputes every window: the training preprocessing (filtfilt over the
    /// window, z-score of the window) changes every input sample from one hop to the next, so no
    /// encoder stage sees a bit-identical input and nothing can be reused without changing results.
    func testConsecutiveWindowsShareNoIdenticalInput() throws {
        let rec = try WFDBRecord(path: Fix.path("ecg/cinc2017/A00003"))
        let x = ECGWindows.leadI(rec)!.map(Float.init)
        let pre = WindowPreprocessor(length: 5000)
        var a = [Float](repeating: 0, count: 5000), b = a
        Array(x[0..<5000]).withUnsafeBufferPointer { pre.run($0.baseAddress!, output: &a) }
        Array(x[500..<5500]).withUnsafeBufferPointer { pre.run($0.baseAddress!, output: &b) }
        let same = (0..<4500).filter { a[500 + $0] == b[$0] }.count
        let maxDiff = (0..<4500).map { abs(a[500 + $0] - b[$0]) }.max()!
        print("overlapping samples bit-identical after preprocessing: \(same) of 4500 (max difference \(maxDiff))")
        XCTAssertLessThan(same, 45)
    }
}
