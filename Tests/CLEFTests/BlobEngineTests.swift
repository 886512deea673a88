import XCTest
import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFBlob
import CLEFQuant
import CLEFEngine
import CLEFExport
import CLEFData

/// Weight blobs: round trips, validation of corrupt files, and the engines that run from them.
final class BlobEngineTests: XCTestCase {
    nonisolated(unsafe) static var model: CheckpointModel = try! CheckpointModel(path: Fix.smallCkpt)
    nonisolated(unsafe) static var weights: [String: [Float]] = try! model.weights()
    /// Calibration windows from two bundled databases (a few per record keeps the test quick).
    nonisolated(unsafe) static var calibration: [[Float]] = try! ECGWindows.load([Fix.path("ecg/cinc2021")], maxPerRecord: 1).windows.map(\.window)
    nonisolated(unsafe) static var stats = CalibrationStats(encoder: model.encoder, windows: calibration)
    nonisolated(unsafe) static var blobs: [BlobPrecision: [UInt8]] = {
        var out: [BlobPrecision: [UInt8]] = [:]
        for p in BlobPrecision.allCases {
            var o = Exporter.Options(precision: p)
            o.method = .minmax
            out[p] = try! Exporter.export(weights: weights, config: model.config, size: .small, options: o, calibration: stats)
        }
        return out
    }()

    func withBlob<R>(_ p: BlobPrecision, _ body: (BlobReader) throws -> R) throws -> R {
        let bytes = Self.blobs[p]!
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { buf.deallocate() }
        bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
        return try body(try BlobReader(UnsafeRawBufferPointer(buf)))
    }

    func testF32BlobRoundTripGivesTheCheckpointEmbeddings() throws {
        let x = try Fix.f32("clef-small-seed1/inputs.f32")
        let ref = try Fix.f32("clef-small-seed1/embeddings.f32")
        try withBlob(.f32) { blob in
            XCTAssertEqual(blob.precision, .f32)
            XCTAssertEqual(blob.size, .small)
            let e = try Engine(blob: blob)
            let y = e.embedAll((0..<4).map { Array(x[($0 * 5000)..<(($0 + 1) * 5000)]) }).flatMap { $0 }
            XCTAssertLessThan(Fix.maxAbsDiff(y, ref), 1e-4)
            // Weights are stored bit for bit.
            let t = blob.tensor("stage_list.3.block_list.1.conv2.conv.weight")!
            let p = blob.pointer(t, as: Float.self)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: p, count: t.elementCount)), Self.weights["stage_list.3.block_list.1.conv2.conv.weight"])
        }
    }

    func testSizesAndPrecisions() throws {
        let f32 = Double(Self.blobs[.f32]!.count)
        // Issue 3's targets: q8 and q16 meet 0.27x with SE weights at 4 bits in their last two
        // and three stages (without them 0.305x and 0.330x, before q8's input tables).
        for (p, limit) in [(BlobPrecision.f16, 0.51), (.q8, 0.27), (.q16, 0.27)] {
            let r = Double(Self.blobs[p]!.count) / f32
            print("\(p.name): \(Self.blobs[p]!.count) bytes, \(r)x of f32")
            XCTAssertLessThan(r, limit)
        }
    }

    /// q8 and q16 give identical bits across runs, workspaces and batch composition.
    func testIntegerEnginesAreBitReproducible() throws {
        let windows = Array(Self.calibration.prefix(3))
        for p in [BlobPrecision.q8, .q16] {
            try withBlob(p) { blob in
                let e1 = try Engine(blob: blob), e2 = try Engine(blob: blob)
                let a = e1.embedAll(windows)
                let b = e2.embedAll(windows.reversed()).reversed().map { $0 }
                let c = e1.embedAll([windows[1]])
                XCTAssertEqual(a, b, p.name)
                XCTAssertEqual(a[1], c[0], p.name)
            }
        }
    }

    /// The integer encoders run their blocks over time slices and chunks: every slice budget (one
    /// output step per slice for the widest block up to whole tensors) and chunk budget (down to
    /// the least each chunk buffer use needs) gives the same bits, on window lengths that exercise the
    /// padding and the last max-pool window.
    func testSlicedBlocksGiveIdenticalBits() throws {
        func codes<Act: QuantActivation>(_ q: QuantEncoder<Act>, _ x: [Int16], budget: Int,
                                         chunk: Int = QuantWorkspace<Act>.defaultChunkBudget) -> [Int32] {
            let ws = QuantWorkspace<Act>(config: q.config, maxLength: x.count, rowBudget: budget, chunkBudget: chunk,
                                         int8Outputs: q.int8Outputs)
            var out = [Int32](repeating: 0, count: q.embeddingDim)
            x.withUnsafeBufferPointer { q.forward($0.baseAddress!, length: x.count, workspace: ws, output: &out) }
            return out
        }
        func check<Act: QuantActivation>(_ q: QuantEncoder<Act>, _ name: String) {
            for length in [5000, 3331, 997] {
                let w = Self.calibration[0]
                let x = (0..<length).map { Int16(clamping: Int((w[$0 % w.count] / q.inputScale).rounded())) }
                let whole = QuantWorkspace<Act>.wholeRowBudget(config: q.config, maxLength: length)
                let reference = codes(q, x, budget: whole)
                XCTAssertTrue(reference.contains { $0 != 0 }, name)
                for budget in [0, 2500, QuantWorkspace<Act>.defaultRowBudget, whole / 3] {
                    XCTAssertEqual(codes(q, x, budget: budget), reference, "\(name) length \(length) budget \(budget)")
                }
                for chunk in [0, 1000, QuantWorkspace<Act>.deviceChunkBudget] {
                    XCTAssertEqual(codes(q, x, budget: whole, chunk: chunk), reference, "\(name) length \(length) chunk \(chunk)")
                }
            }
        }
        try withBlob(.q8) { blob in
            let q = try QuantEncoder<Int8>(blob: blob)
            XCTAssertEqual(q.int8Outputs, 2, "q8 exports int8 outputs for blocks 0 and 1")
            check(q, "q8")
        }
        try withBlob(.q16) { blob in check(try QuantEncoder<Int16>(blob: blob), "q16") }
    }

    /// The engines stay close to f32 on the bundled calibration windows (in-sample; the
    /// held-out measurement is `Tools/fidelity.sh`).
    func testEngineFidelityInSample() throws {
        let windows = Array(Self.calibration.prefix(6))
        let ref = Engine.f32(Self.model.encoder).embedAll(windows)
        for (p, worst) in [(BlobPrecision.f16, 0.0005), (.q16, 0.005), (.q8, 0.10)] {
            try withBlob(p) { blob in
                let f = Fidelity(reference: ref, candidate: try Engine(blob: blob).embedAll(windows))
                print("\(p.name): \(f)")
                XCTAssertLessThan(f.relL2Worst, worst, p.name)
            }
        }
    }

    func corrupt(_ mutate: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = Self.blobs[.q8]!
        mutate(&b)
        return b
    }

    func assertRejected(_ bytes: [UInt8], _ expect: String, file: StaticString = #filePath, line: UInt = #line) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        defer { buf.deallocate() }
        bytes.withUnsafeBytes { if $0.count > 0 { buf.copyMemory(from: $0) } }
        do {
            _ = try BlobReader(UnsafeRawBufferPointer(rebasing: buf[0..<bytes.count]))
            XCTFail("accepted", file: file, line: line)
        } catch {
            XCTAssertTrue(error.description.contains(expect), "'\(error)' lacks '\(expect)'", file: file, line: line)
        }
    }

    /// Recomputes the CRC so a test reaches the check behind it.
    func resealed(_ b: [UInt8]) -> [UInt8] {
        var b = b
        let crc = b.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<(b.count - 4)])) }
        for i in 0..<4 { b[b.count - 4 + i] = UInt8((crc >> (8 * UInt32(i))) & 0xFF) }
        return b
    }

    /// Loads bytes into an aligned buffer and builds an engine from them (an error if either refuses).
    /// Each blob's rel-L2 mean against the f32 engine on 8 windows kept out of calibration
    /// (ludb and ptbdb records).
    func heldOutErrors(_ blobs: [[UInt8]]) throws -> [Double] {
        let heldOut = try ECGWindows.load([Fix.path("ecg/ludb/1"), Fix.path("ecg/ptbdb/s0010_re")], maxPerRecord: 4).windows.map(\.window)
        let ref = Engine.f32(Self.model.encoder).embedAll(heldOut)
        var errors: [Double] = []
        for bytes in blobs {
            try engine(bytes) { errors.append(Fidelity(reference: ref, candidate: $0.embedAll(heldOut)).relL2Mean) }
        }
        return errors
    }

    func engine(_ bytes: [UInt8], _ body: (Engine) throws -> Void) throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { buf.deallocate() }
        bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
        try body(try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf))))
    }

    /// `bytes` with every Swish requantisation pair shared by all channels written once per
    /// channel (what a writer before format version 4 stored).
    func expandedRequant(_ bytes: [UInt8]) throws -> [UInt8] {
        try bytes.withUnsafeBytes { raw in
            let blob = try BlobReader(raw)
            let shared = blob.tensors.filter { $0.name.hasSuffix("_requant") && $0.shape == [1, 2] }
            var w = BlobWriter(copying: blob) { n in shared.contains { $0.name == n } }
            for t in shared {
                let p = blob.pointer(t, as: Int32.self)
                let spec = blob.config.blocks.first { t.name.hasPrefix($0.name + ".") }!
                let channels = t.name.hasSuffix("swish1_requant") ? spec.inChannels : spec.middleChannels
                w.add(t.name, int32: Array(repeating: [p[0], p[1]], count: channels).flatMap { $0 }, shape: [channels, 2])
            }
            return w.finish()
        }
    }

    /// Older files still load and run: version 1 (before int8 block outputs), version 2 (before
    /// per-channel int16 outputs) and version 3 (before 4-bit weights). A tensor newer than its
    /// file's version is refused, since an older writer cannot have meant it.
    func testOlderVersionsStillLoad() throws {
        var o = Exporter.Options(precision: .q16)
        o.method = .minmax
        o.seInt4Stages = []
        let q16Int8 = try expandedRequant(try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o,
                                                              calibration: Self.stats))
        o.channelOutputs16 = false
        let plain = try expandedRequant(try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o,
                                                            calibration: Self.stats))
        var o8 = Exporter.Options(precision: .q8)
        o8.method = .minmax
        o8.seInt4Stages = []
        let q8Int8 = try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o8, calibration: Self.stats)
        let window = [Self.calibration[0]]
        func relabelled(_ b: [UInt8], _ v: UInt8) -> [UInt8] { var b = b; b[8] = v; return resealed(b) }
        var current: [[Float]] = []
        try engine(plain) { current = $0.embedAll(window) }
        try engine(relabelled(plain, 1)) { XCTAssertEqual($0.embedAll(window), current) }
        try engine(q8Int8) { current = $0.embedAll(window) }
        try engine(relabelled(q8Int8, 2)) { XCTAssertEqual($0.embedAll(window), current) }
        try withBlob(.q16) { XCTAssertEqual($0.version, Int(BlobConstants.version)) }
        for (bytes, version, expect) in [(q16Int8, 2, "output_channels': needs format version 3"),
                                         (q8Int8, 1, "output_codes': needs format version 2"),
                                         (Self.blobs[.q8]!, 3, "se_fc1.weight' dtype: i4 needs format version 4, the file says 3")] {
            XCTAssertThrowsError(try engine(relabelled(bytes, UInt8(version))) { _ in }) {
                XCTAssertTrue("\($0)".contains(expect), "\($0)")
            }
        }
    }

    /// q16's per-tensor Swish codes store one requantisation pair for every channel (format
    /// version 4); the same pair repeated per channel gives the same bits, and a version-3 file
    /// with one pair is refused.
    func testSharedSwishRequantisation() throws {
        try withBlob(.q16) { blob in
            let shared = blob.tensors.filter { $0.name.hasSuffix("_requant") && !$0.name.hasSuffix("bias_requant") }
            XCTAssertEqual(shared.count, 29)
            XCTAssertTrue(shared.allSatisfy { $0.shape == [1, 2] })
        }
        let window = [Self.calibration[0]]
        var reference: [[Float]] = []
        try engine(Self.blobs[.q16]!) { reference = $0.embedAll(window) }
        try engine(try expandedRequant(Self.blobs[.q16]!)) { XCTAssertEqual($0.embedAll(window), reference) }
        try withBlob(.q8) { blob in
            XCTAssertEqual(blob.tensor("stage_list.3.block_list.0.swish2_requant")?.shape, [64, 2])
        }
        var o = Exporter.Options(precision: .q16)
        o.method = .minmax
        o.seInt4Stages = []
        var v3 = try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o, calibration: Self.stats)
        v3[8] = 3
        XCTAssertThrowsError(try engine(resealed(v3)) { _ in }) {
            XCTAssertTrue("\($0)".contains("_requant': one pair for every channel needs format version 4, the file says 3"), "\($0)")
        }
    }

    /// q8's convolution Swish stages (the stem, every block's conv1 and conv2) and the Swish of
    /// the block inputs that are int16 block outputs (blocks 3-9: the block outputs before the
    /// last are on the table's input grid) read one direct table, stored once (every entry points
    /// at the same data), shift 0; the inputs of blocks 1 and 2 (int8 codes) keep interpolated ones. Against `--shared-table off` on held-out windows of this nearly
    /// untrained model the error stays within its noise (the trained model's, 4.61% against 4.66%,
    /// is in docs/quantization.md).
    func testSharedSwishTable() throws {
        try withBlob(.q8) { blob in
            let blocks = Self.model.config.blocks
            let names = ["stem.swish"] + blocks.flatMap { [$0.name + ".swish2", $0.name + ".swish3"] } + blocks[3...].map { $0.name + ".swish1" }
            XCTAssertEqual(names.count, 28)
            let tables = names.map { blob.tensor($0) }
            XCTAssertTrue(tables.allSatisfy { $0?.shape == [8194] }, "\(tables.map { $0?.shape ?? [] })")
            XCTAssertEqual(Set(tables.compactMap { $0?.offset }).count, 1, "one copy of the table")
            for n in names {
                let d = blob.tensor(n + "_domain")!
                XCTAssertEqual(blob.pointer(d, as: Int32.self)[1], 0, "\(n): a direct table (shift 0)")
            }
            for b in 1...2 {
                let input = blob.tensor(blocks[b].name + ".swish1")!
                XCTAssertEqual(input.shape, [257])
                XCTAssertFalse(tables.contains { $0?.offset == input.offset })
            }
        }
        var o = Exporter.Options(precision: .q8)
        o.method = .minmax
        o.sharedTable = nil
        let interpolated = try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o, calibration: Self.stats)
        XCTAssertLessThan(Self.blobs[.q8]!.count, interpolated.count + 8 * 1024, "one 8 KB table for 28 interpolated ones")
        let errors = try heldOutErrors([Self.blobs[.q8]!, interpolated])
        print("q8 held-out rel-L2 mean: shared table \(errors[0]), interpolated tables \(errors[1])")
        XCTAssertLessThan(errors[0], 1.25 * errors[1])
    }

    /// q8's blocks with int8 inputs carry their inputs' Swish for every code
    /// (`QuantBlock.inputLUT`): the engine gives the same bits with the tables as without them
    /// (dropped from the file: the engine then computes), and a wrong entry is refused at load,
    /// naming the tensor, the channel and the code.
    func testInputLUTs() throws {
        let blocks = Self.model.config.blocks, bytes = Self.blobs[.q8]!
        let without = try withBlob(.q8) { blob in
            XCTAssertEqual(blob.tensors.map(\.name).filter { $0.hasSuffix(".swish1_lut") },
                           [blocks[1].name + ".swish1_lut", blocks[2].name + ".swish1_lut"])
            for b in 1...2 { XCTAssertEqual(blob.tensor(blocks[b].name + ".swish1_lut")?.shape, [blocks[b].inChannels, 256]) }
            return BlobWriter(copying: blob) { $0.hasSuffix(".swish1_lut") }.finish()
        }
        // (256 bytes a channel, and a 48-byte table entry each.)
        XCTAssertEqual(bytes.count - without.count, 256 * (blocks[1].inChannels + blocks[2].inChannels) + 96)
        let windows = Self.calibration + (try ECGWindows.load([Fix.path("ecg/ludb/1")], maxPerRecord: 2).windows.map(\.window))
        var withTables: [[Float]] = [], computed: [[Float]] = []
        try engine(bytes) { withTables = $0.embedAll(windows) }
        try engine(without) { computed = $0.embedAll(windows) }
        XCTAssertEqual(withTables, computed)
        // One entry off by one: refused, not used.
        let (offset, cin) = try withBlob(.q8) { blob in (blob.tensor(blocks[1].name + ".swish1_lut")!.offset, blocks[1].inChannels) }
        XCTAssertGreaterThan(cin, 3)
        var bad = bytes
        bad[offset + 3 * 256 + 128 + 5] &+= 1
        do {
            try engine(resealed(bad)) { _ in }
            XCTFail("a wrong table entry was accepted")
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.contains("tensor '\(blocks[1].name).swish1_lut'") && text.contains("channel 3, code 5"), text)
        }
        // A table on a block whose inputs are int16 (block 3), or of the wrong shape: refused.
        let misplaced = try withBlob(.q8) { blob in
            var w = BlobWriter(copying: blob)
            w.add(blocks[3].name + ".swish1_lut", int8: [Int8](repeating: 0, count: 256 * blocks[3].inChannels), shape: [blocks[3].inChannels, 256])
            return w.finish()
        }
        let misshapen = try withBlob(.q8) { blob in
            var w = BlobWriter(copying: blob) { $0 == blocks[2].name + ".swish1_lut" }
            w.add(blocks[2].name + ".swish1_lut", int8: [Int8](repeating: 0, count: 255 * blocks[2].inChannels), shape: [blocks[2].inChannels, 255])
            return w.finish()
        }
        for (bytes, expect) in [(misplaced, "input tables are for q8 blocks with int8 inputs"), (misshapen, "swish1_lut")] {
            do {
                try engine(bytes) { _ in }
                XCTFail("accepted: \(expect)")
            } catch {
                XCTAssertTrue("\(error)".contains(expect), "\(error)")
            }
        }
    }

    /// The integer engines' input codes (`Engine.quantize`: rounding on the float grid, without
    /// `rintf`) equal the nearest code, ties to even, clamped to int16, NaN as 0: on every tie
    /// and its neighbours across the int16 range and beyond, the extremes and random values.
    func testInputCodesRoundTiesToEven() {
        var xs: [Float] = [0, -0, .nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                           32767.5, -32768.5, 32766.5, -32767.5, 1e9, -1e9, .leastNonzeroMagnitude]
        for k in -33_000...33_000 {
            let h = Float(k) + 0.5
            xs += [h, h.nextUp, h.nextDown, Float(k)]
        }
        var seed: UInt64 = 7
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            xs.append(Float(Int64(bitPattern: seed) >> 40) / 97)
        }
        var got = [Int16](repeating: 0, count: xs.count)
        Engine.quantize(xs, count: xs.count, scale: 1, into: &got)
        for (i, x) in xs.enumerated() {
            let v = x.rounded(.toNearestOrEven)
            let want = Int16(max(-32768, min(32767, v.isNaN ? 0 : v)))
            if got[i] != want { XCTFail("\(x): \(got[i]), want \(want)"); return }
        }
        // A scale: x / scale before the rounding (ties of the scaled value).
        let scaled: [Float] = [0.25, 0.75, -0.25, 1.25]
        var codes = [Int16](repeating: 0, count: 4)
        Engine.quantize(scaled, count: 4, scale: 0.5, into: &codes)
        XCTAssertEqual(codes, [0, 2, 0, 2])
    }

    /// 4-bit weights: the writer packs two values a byte (even element low), each row starting on
    /// a byte; the reader checks the packed size; q8 small stores its last two stages' SE linears
    /// so, q16 small its last three stages'.
    func testInt4WeightsRoundTrip() throws {
        var w = BlobWriter(precision: .q8, size: .small, inChannels: 1)
        let values: [Int8] = [-8, 7, 1, -1, 3, 0, -2, 5, 4, -7, 6, 2, -3, 1, 0]   // 3 rows of 5
        w.add("x", int4: values, shape: [3, 5])
        let bytes = w.finish()
        try bytes.withUnsafeBytes { raw in
            let blob = try BlobReader(raw)
            let t = try blob.require("x", .i4, [3, 5])
            XCTAssertEqual(t.byteCount, 9)
            let p = blob.pointer(t, as: UInt8.self)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: p, count: 9)), [0x78, 0xF1, 0x03, 0xE0, 0x45, 0x09, 0x26, 0x1D, 0x00])
            // Unpacked by the engine's dot product: each row against x = e_j gives back value j.
            let sp = blob.pointer(t, as: Int8.self)
            for r in 0..<3 {
                for j in 0..<5 {
                    var x = [Int32](repeating: 0, count: 5)
                    x[j] = 1
                    XCTAssertEqual(dot2S4S32(sp + 3 * r, sp + 3 * r, x, 5).0, Int64(values[5 * r + j]))
                }
            }
        }
        // A byte count for unpacked rows is refused, naming the tensor.
        var bad = bytes
        let table = bad.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 36, as: UInt32.self)) }
        bad[table + 28] = 15
        assertRejected(resealed(bad), "tensor 'x' size: 15 bytes, but shape [3, 5] of i4 needs 9")
        try withBlob(.q8) { blob in
            let last = Self.model.config.filterList.count - 1
            for spec in Self.model.config.blocks {
                for fc in [".se_fc1.weight", ".se_fc2.weight"] {
                    XCTAssertEqual(blob.tensor(spec.name + fc)?.dtype, spec.stage >= last - 1 ? .i4 : .i8, spec.name + fc)
                }
            }
        }
        try withBlob(.q16) { blob in
            for (name, dtype) in [("stage_list.2.block_list.1.se_fc2.weight", BlobDType.i8), ("stage_list.3.block_list.0.se_fc1.weight", .i4)] {
                XCTAssertEqual(blob.tensor(name)?.dtype, dtype, name)
            }
        }
    }

    /// q16's per-channel int16 block outputs are the default (a tensor in every block: the last
    /// one's carries only the shortcut multipliers); q8 keeps one scale per output. On windows
    /// kept out of calibration they are no worse than one scale per output: a channel that
    /// calibration saw on one side of zero must still reach the other (the first cut clipped
    /// those at zero: 0.067% against 0.029% here, 0.53% against 0.027% on medium).
    func testPerChannelOutputs() throws {
        try withBlob(.q16) { blob in
            for spec in Self.model.config.blocks { XCTAssertNotNil(blob.tensor(spec.name + ".output_channels"), spec.name) }
        }
        try withBlob(.q8) { blob in XCTAssertNil(blob.tensor("stage_list.4.block_list.0.output_channels")) }
        var o = Exporter.Options(precision: .q16)
        o.method = .minmax
        o.channelOutputs16 = false
        let perTensor = try Exporter.export(weights: Self.weights, config: Self.model.config, size: .small, options: o, calibration: Self.stats)
        let errors = try heldOutErrors([Self.blobs[.q16]!, perTensor])
        print("q16 held-out rel-L2 mean: per channel \(errors[0]), per tensor \(errors[1])")
        XCTAssertLessThanOrEqual(errors[0], errors[1])
    }

    func testCorruptBlobsAreRejected() {
        assertRejected([], "shorter than a header")
        assertRejected(corrupt { $0[0] = 0x58 }, "not a CLEF weight blob")
        assertRejected(corrupt { $0[$0.count / 2] ^= 0x10 }, "checksum mismatch")
        assertRejected(corrupt { $0.removeLast(100) }, "truncated")
        assertRejected(resealed(corrupt { $0[8] = 5 }), "format version 5 is newer than this reader")
        assertRejected(resealed(corrupt { $0[8] = 0 }), "format version 0 is not supported")
        // Misaligned tensor table and tensor data offsets.
        let table = Self.blobs[.q8]!.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 36, as: UInt32.self)) }
        assertRejected(resealed(corrupt { $0[36] = UInt8((table + 2) & 0xFF) }), "misaligned")
        assertRejected(resealed(corrupt { $0[table + 24] |= 0x04 }), "aligned")
        // Absurd dimensions.
        assertRejected(resealed(corrupt { for i in 8..<12 { $0[table + i] = 0xFF } }), "absurd")
        // A name prefix (format version 4) running past the string table.
        let named = try! withBlob(.q8) { b in (0..<b.tensorCount).first { (try? b.entry($0).name.hasPrefix("stage_list.")) == true }! }
        assertRejected(resealed(corrupt { $0[table + 48 * named + 44] = 0xFF; $0[table + 48 * named + 45] = 0xFF }),
                       "tensor \(named) name: lies outside the string table")
        // Architecture fields that do not describe the named size.
        assertRejected(resealed(corrupt { $0[18] = 48 }), "do not describe a CLEF-small encoder")
        // A valid file whose int16 stem weights leave the symmetric range: the engine refuses it.
        let offset = try! withBlob(.q8) { $0.tensor("first_conv.weight")!.offset }
        let bad = resealed(corrupt { $0[offset] = 0x00; $0[offset + 1] = 0x80 })
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bad.count, alignment: 16)
        defer { buf.deallocate() }
        bad.withUnsafeBytes { buf.copyMemory(from: $0) }
        XCTAssertThrowsError(try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf)))) {
            XCTAssertTrue("\($0)".contains("first_conv.weight") && "\($0)".contains("-32768"), "\($0)")
        }
        // int8 output codes with a step ratio of 0 (it must be 1...256).
        let codes = try! withBlob(.q8) { $0.tensor("stage_list.0.block_list.0.output_codes")!.offset }
        let zeroRatio = resealed(corrupt { for i in 0..<4 { $0[codes + 3 * 12 + i] = 0 } })
        zeroRatio.withUnsafeBytes { buf.copyMemory(from: $0) }
        XCTAssertThrowsError(try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf)))) {
            XCTAssertTrue("\($0)".contains("stage_list.0.block_list.0.output_codes") && "\($0)".contains("channel 3"), "\($0)")
        }
        // Per-channel int16 outputs: a zero point outside int16, and a last block whose outputs
        // would leave the one scale the final mean reads.
        func q16Rejected(_ tensor: String, _ byte: Int, _ value: UInt8, _ expect: String, line: UInt = #line) {
            let offset = try! withBlob(.q16) { $0.tensor(tensor)!.offset }
            var b = Self.blobs[.q16]!
            b[offset + byte] = value
            XCTAssertThrowsError(try engine(resealed(b)) { _ in }, line: line) {
                XCTAssertTrue("\($0)".contains(tensor) && "\($0)".contains(expect), "\($0)", line: line)
            }
        }
        q16Rejected("stage_list.1.block_list.0.output_channels", 5 * 16 + 2, 0x01, "channel 5: needs an int16 zero point")
        q16Rejected(Self.model.config.blocks.last!.name + ".output_channels", 2 * 16, 0x55, "channel 2: the last block's outputs")
        // The same tensors in a file that says q8 (whose engine has no per-channel outputs).
        var asQ8 = Self.blobs[.q16]!
        asQ8[12] = BlobPrecision.q8.rawValue
        XCTAssertThrowsError(try engine(resealed(asQ8)) { _ in }) {
            XCTAssertTrue("\($0)".contains("output_channels") && "\($0)".contains("q16's"), "\($0)")
        }
        // A companding knee beyond the int8 codes.
        let compand = try! withBlob(.q8) { $0.tensor("output.compand")!.offset }
        let badKnee = resealed(corrupt { $0[compand] = 200 })
        badKnee.withUnsafeBytes { buf.copyMemory(from: $0) }
        XCTAssertThrowsError(try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf)))) {
            XCTAssertTrue("\($0)".contains("output.compand") && "\($0)".contains("knee 200"), "\($0)")
        }
    }

    /// The blob CLI: export, info and embed, with the same contract as for checkpoints.
    func testCLIExportInfoEmbed() throws {
        let out = Fix.temp("s.clefw")
        let r = try Fix.runClef(["export", "--checkpoint", Fix.smallCkpt, "--precision", "q8", "--method", "minmax",
                                 "--calibration", Fix.path("ecg/cinc2021/E07500"), "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("x of the f32 blob"), r.stdout)
        let info = try Fix.runClef(["info", out])
        XCTAssertTrue(info.stdout.contains("precision:   q8"), info.stdout)
        XCTAssertTrue(info.stdout.contains("peak RAM:"), info.stdout)
        let y = Fix.temp("y.f32")
        let e = try Fix.runClef(["embed", "--model", out, "--input", Fix.path("clef-small-seed1/inputs.f32"), "--shape", "4,1,5000", "--output", y])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual(try Fix.f32(y).count, 4 * 256)
        let q8Channels = try Fix.runClef(["export", "--checkpoint", Fix.smallCkpt, "--precision", "q8", "--channel-outputs", "on",
                                          "--calibration", Fix.path("ecg/cinc2021/E07500"), "--output", out])
        XCTAssertEqual(q8Channels.status, 2)
        XCTAssertTrue(q8Channels.stderr.contains("--channel-outputs is a q16 option"), q8Channels.stderr)
        let badStage = try Fix.runClef(["export", "--checkpoint", Fix.smallCkpt, "--precision", "q8", "--se-int4", "6",
                                        "--calibration", Fix.path("ecg/cinc2021/E07500"), "--output", out])
        XCTAssertEqual(badStage.status, 2)
        XCTAssertTrue(badStage.stderr.contains("--se-int4 takes none, all or stage indices 0...5"), badStage.stderr)
        let missing = try Fix.runClef(["export", "--checkpoint", Fix.smallCkpt, "--precision", "q8", "--output", out])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("needs --calibration"), missing.stderr)
        var bad = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        bad[200] ^= 1
        let badPath = Fix.write(bad, "bad.clefw")
        let b = try Fix.runClef(["info", badPath])
        XCTAssertEqual(b.status, 1)
        XCTAssertTrue(b.stderr.contains("\(badPath): crc32: checksum mismatch"), b.stderr)
    }
}
