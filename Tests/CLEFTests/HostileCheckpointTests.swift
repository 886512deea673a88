import XCTest
import Foundation
import CLEFCheckpoint

/// Every kind of bad checkpoint gives a clear error naming the file, field and reason, in well
/// under a second, from the library and as a non-zero exit of `clef`.
final class HostileCheckpointTests: XCTestCase {
    /// Asserts the library refuses `path` with a message containing `expect`, and that
    /// `clef info` and `clef embed` exit non-zero with it on stderr, quickly.
    func assertRefused(_ path: String, _ expect: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let t0 = Date()
        do {
            _ = try CheckpointModel(path: path)
            XCTFail("\(path) was accepted", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertTrue(e.description.contains(expect), "message '\(e)' lacks '\(expect)'", file: file, line: line)
            XCTAssertEqual(e.file, path, file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1.0, file: file, line: line)
        let x = Fix.write([UInt8](repeating: 0, count: 4 * 16), "x16.f32")
        for args in [["info", path], ["embed", "--model", path, "--input", x, "--shape", "1,1,16", "--output", Fix.temp("y.f32")]] {
            let r = try Fix.runClef(args)
            XCTAssertNotEqual(r.status, 0, "clef \(args[0]) accepted \(path)", file: file, line: line)
            XCTAssertTrue(r.stderr.hasPrefix("clef: error: \(path):"), "stderr: \(r.stderr)", file: file, line: line)
            XCTAssertTrue(r.stderr.contains(expect), "stderr '\(r.stderr)' lacks '\(expect)'", file: file, line: line)
            XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), file: file, line: line)
            XCTAssertLessThan(r.seconds, 1.0, "clef took \(r.seconds) s", file: file, line: line)
        }
    }

    /// A one-member torch archive around a raw pickle.
    func archive(_ pickle: [UInt8], _ name: String) -> String {
        Fix.write(TorchArchiveWriter.archive(prefix: "evil", pickle: pickle, storages: []), name)
    }

    func realStateDict() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fix.smallStateDict))) }

    func testEmptyFile() throws { try assertRefused(Fix.write([], "empty.pt"), "empty file") }

    func testRandomBytes() throws {
        var g = SystemRandomNumberGenerator()
        var rng = g.next() // seed from the system; the message does not depend on the bytes
        let bytes = (0..<4096).map { _ -> UInt8 in rng = rng &* 6364136223846793005 &+ 1442695040888963407; return UInt8(rng >> 56) }
        try assertRefused(Fix.write([0x13, 0x37] + bytes, "random.pt"), "not a PyTorch checkpoint")
    }

    func testTruncatedZip() throws {
        let b = try realStateDict()
        try assertRefused(Fix.write(Array(b[0..<(b.count / 2)]), "truncated.pt"), "no end-of-central-directory record")
    }

    /// A central-directory entry whose size points past the end of the file.
    func testMemberPointingPastTheEnd() throws {
        var b = try realStateDict()
        let name = Array("clef_small_seed1_state_dict/data/0".utf8)
        // Find that member's central directory entry (signature PK\1\2 followed, 46 bytes on, by the name).
        var patched = false
        var i = 0
        while i + 46 + name.count < b.count {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 1 && b[i + 3] == 2 && Array(b[(i + 46)..<(i + 46 + name.count)]) == name {
                for k in 20..<28 { b[i + k] = (k % 4 == 3) ? 0x7F : 0xFF }   // sizes = 0x7FFFFFFF
                patched = true
                break
            }
            i += 1
        }
        XCTAssertTrue(patched)
        try assertRefused(Fix.write(b, "pastend.pt"), "runs past the end of the file")
    }

    /// A storage member shorter than the tensor that views it.
    func testStorageShorterThanTensor() throws {
        let ck = try TorchCheckpoint(path: Fix.smallStateDict)
        let pkl = Array(ck.zip.data(of: ck.zip.member(ck.prefix + "data.pkl")!))
        var storages: [(key: String, bytes: [UInt8])] = []
        for m in ck.zip.members where m.name.hasPrefix(ck.prefix + "data/") {
            var data = Array(ck.zip.data(of: m))
            let key = String(m.name.dropFirst(ck.prefix.count + 5))
            if key == "0" { data = Array(data[0..<(data.count / 2)]) }
            storages.append((key, data))
        }
        let p = Fix.write(TorchArchiveWriter.archive(prefix: "short", pickle: pkl, storages: storages), "short.pt")
        try assertRefused(p, "fewer than its")
    }

    func testGlobalPosixSystemIsRefused() throws {
        // cposix\nsystem\n (X'ls' TUPLE1) REDUCE STOP
        let p: [UInt8] = [0x80, 2, 0x63] + Array("posix\nsystem\n".utf8) + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52, 0x2E]
        try assertRefused(archive(p, "system.pt"), "GLOBAL 'posix.system' is not allowed")
    }

    func testGlobalBuiltinsEvalIsRefused() throws {
        let p: [UInt8] = [0x80, 2, 0x63] + Array("builtins\neval\n".utf8) + [0x58, 1, 0, 0, 0, 0x31, 0x85, 0x52, 0x2E]
        try assertRefused(archive(p, "eval.pt"), "GLOBAL 'builtins.eval' is not allowed")
        // STACK_GLOBAL (protocol 4) is checked the same way.
        let q: [UInt8] = [0x80, 4, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93, 0x2E]
        try assertRefused(archive(q, "eval4.pt"), "GLOBAL 'builtins.eval' is not allowed")
    }

    func testPathologicallyDeepNesting() throws {
        // 200k nested MARKs: refused by the mark limit.
        try assertRefused(archive([0x80, 2] + [UInt8](repeating: 0x28, count: 200_000) + [0x2E], "marks.pt"),
                          "nested MARKs")
        // 300k lists nested through the stack, then a 1M-deep chain through the memo (constant stack):
        // parsed without recursion, then refused because the top level is not a dict.
        var p: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: 300_000) + [UInt8](repeating: 0x61, count: 299_999)
        p += [0x71, 0]                                        // BINPUT 0
        for _ in 0..<1_000_000 { p += [0x5D, 0x68, 0, 0x61, 0x71, 0, 0x30] } // ] h0 a q0 POP
        p += [0x2E]
        try assertRefused(archive(p, "deep.pt"), "top-level object is not a dict")
    }

    func testDeclaredLengthOf4GB() throws {
        let p: [UInt8] = [0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 0x62, 0x2E]
        try assertRefused(archive(p, "len4g.pt"), "declared length 4294967295 exceeds")
    }

    func testLegacyTorchFileIsRefusedByName() throws {
        let legacy: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
            + [UInt8](repeating: 0, count: 64)
        try assertRefused(Fix.write(legacy, "legacy.pt"), "legacy (pre-zip, torch < 1.6)")
    }

    /// A real torch-format state_dict of another architecture (ResNet-like keys).
    func testOtherArchitecture() throws {
        let shapes: [(String, [Int])] = [("conv1.weight", [64, 1, 7]), ("bn1.weight", [64]), ("fc.weight", [10, 64])]
        var items: [(String, PickleObject)] = []
        var storages: [(key: String, bytes: [UInt8])] = []
        for (i, (name, shape)) in shapes.enumerated() {
            items.append((name, .tensor(key: "\(i)", dtype: .float32, shape: shape)))
            storages.append(("\(i)", [UInt8](repeating: 0, count: 4 * shape.reduce(1, *))))
        }
        let pkl = PickleWriter.encode(.orderedDict(items))
        let p = Fix.write(TorchArchiveWriter.archive(prefix: "resnet", pickle: pkl, storages: storages), "resnet.pt")
        // It is a valid archive: the reader sees three tensors, the model loader refuses it.
        XCTAssertEqual(try TorchCheckpoint(path: p).stateDict.map(\.key), shapes.map(\.0))
        try assertRefused(p, "missing key 'first_conv.conv.weight'")
    }

    /// Keys under an unrecognised prefix are named, not silently ignored.
    func testWrongPrefixAndWrongShape() throws {
        let ck = try TorchCheckpoint(path: Fix.smallStateDict)
        var items: [(String, PickleObject)] = []
        var storages: [(key: String, bytes: [UInt8])] = []
        for (i, e) in ck.stateDict.enumerated() {
            var shape = e.tensor.shape
            if e.key == "stage_list.1.block_list.0.conv2.conv.weight" { shape[2] = 8 }
            let n = shape.reduce(1, *) * e.tensor.dtype.byteSize
            items.append(("encoder." + e.key, .tensor(key: "\(i)", dtype: e.tensor.dtype, shape: shape)))
            storages.append(("\(i)", [UInt8](repeating: 0, count: n)))
        }
        let wrongPrefix = TorchArchiveWriter.archive(prefix: "p", pickle: PickleWriter.encode(.orderedDict(items)), storages: storages)
        try assertRefused(Fix.write(wrongPrefix, "prefix.pt"), "found 'encoder.first_conv.conv.weight': unrecognised key prefix")
        let unprefixed = items.map { (String($0.0.dropFirst(8)), $0.1) }
        let wrongShape = TorchArchiveWriter.archive(prefix: "p", pickle: PickleWriter.encode(.orderedDict(unprefixed)), storages: storages)
        try assertRefused(Fix.write(wrongShape, "shape.pt"), "state_dict['stage_list.1.block_list.0.conv2.conv.weight']: shape [32, 4, 8], expected [32, 4, 16]")
    }

    /// The writer and reader agree (the trainer's checkpoints will rely on it).
    func testPickleWriterRoundTrip() throws {
        let pkl = PickleWriter.encode(.dict([("epoch", .int(3)), ("lr", .float(7.959536998847742e-05)), ("name", .string("ü")),
                                             ("big", .int(1 << 40)), ("neg", .int(-5)), ("flags", .list([.bool(true), .none])),
                                             ("state_dict", .orderedDict([("t", .tensor(key: "0", dtype: .float32, shape: [2, 3]))]))]))
        let values: [Float] = [1, -2, 3.5, 0, 1e-3, -7]
        let raw = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let bytes = TorchArchiveWriter.archive(prefix: "archive", pickle: pkl, storages: [("0", raw)])
        let ck = try TorchCheckpoint(path: Fix.write(bytes, "roundtrip.pt"))
        let t = ck.tree
        XCTAssertEqual(t.lookup(t.root, "epoch"), .int(3))
        XCTAssertEqual(t.lookup(t.root, "lr"), .float(7.959536998847742e-05))
        XCTAssertEqual(t.lookup(t.root, "name"), .string("ü"))
        XCTAssertEqual(t.lookup(t.root, "big"), .int(1 << 40))
        XCTAssertEqual(t.lookup(t.root, "neg"), .int(-5))
        XCTAssertEqual(ck.kind, .lightning)
        XCTAssertEqual(ck.stateDict.map(\.key), ["t"])
        XCTAssertEqual(ck.stateDict[0].tensor.shape, [2, 3])
        XCTAssertEqual(try ck.floats(ck.stateDict[0].tensor, name: "t"), values)
    }
}

/// A checkpoint laid out as the upstream CLEF training code writes it (no hyper_parameters;
/// loops; EarlyStopping and ModelCheckpoint state; AdamW state), built with our pickle writer from
/// the fixture's weights: the reader picks the state_dict and reads nothing else.
final class UpstreamLayoutTests: XCTestCase {
    func testUpstreamStyleLightningCheckpointLoads() throws {
        let src = try TorchCheckpoint(path: Fix.smallStateDict)
        var sd: [(String, PickleObject)] = []
        var storages: [(key: String, bytes: [UInt8])] = []
        var optimizerState: [(Int, PickleObject)] = []
        for (i, e) in src.stateDict.enumerated() {
            let m = src.zip.member(src.prefix + "data/" + e.tensor.storageKey)!
            sd.append(("backbone." + e.key, .tensor(key: "\(i)", dtype: e.tensor.dtype, shape: e.tensor.shape)))
            storages.append(("\(i)", Array(src.zip.data(of: m))))
            if e.tensor.dtype == .float32 {
                let k = storages.count
                storages.append(("\(k)", [UInt8](repeating: 0, count: m.size)))
                storages.append(("\(k + 1)", [UInt8](repeating: 0, count: m.size)))
                optimizerState.append((i, .dict([("step", .tensor(key: "\(k)", dtype: .float32, shape: [])),
                                                 ("exp_avg", .tensor(key: "\(k)", dtype: .float32, shape: e.tensor.shape)),
                                                 ("exp_avg_sq", .tensor(key: "\(k + 1)", dtype: .float32, shape: e.tensor.shape))])))
            }
        }
        let best = storages.count
        storages.append(("\(best)", [0, 0, 0x80, 0x3F]))
        let progress = PickleObject.dict([("total", .dict([("ready", .int(30)), ("completed", .int(30))])),
                                          ("current", .dict([("ready", .int(0)), ("completed", .int(0))]))])
        let root = PickleObject.dict([
            ("epoch", .int(29)), ("global_step", .int(3000)), ("pytorch-lightning_version", .string("2.1.3")),
            ("state_dict", .orderedDict(sd)),
            ("loops", .dict([("fit_loop", .dict([("state_dict", .dict([])), ("epoch_progress", progress),
                                                ("epoch_loop.batch_progress", progress),
                                                ("epoch_loop.state_dict", .dict([("_batches_that_stepped", .int(3000))]))]))])),
            ("callbacks", .dict([
                ("EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}", .dict([
                    ("wait_count", .int(2)), ("stopped_epoch", .int(0)), ("best_score", .tensor(key: "\(best)", dtype: .float32, shape: [])),
                    ("patience", .int(5))])),
                ("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, 'train_time_interval': None}", .dict([
                    ("monitor", .string("val_loss")), ("best_model_score", .tensor(key: "\(best)", dtype: .float32, shape: [])),
                    ("best_model_path", .string("/ckpt/epoch=29.ckpt")), ("current_score", .tensor(key: "\(best)", dtype: .float32, shape: [])),
                    ("dirpath", .string("/ckpt")), ("best_k_models", .dict([("/ckpt/epoch=29.ckpt", .tensor(key: "\(best)", dtype: .float32, shape: []))])),
                    ("kth_best_model_path", .string("/ckpt/epoch=29.ckpt")), ("kth_value", .tensor(key: "\(best)", dtype: .float32, shape: [])),
                    ("last_model_path", .string(""))])),
            ])),
            ("optimizer_states", .list([.dict([("state", .intDict(optimizerState)), ("param_groups", .list([.dict([
                ("lr", .float(1e-4)), ("betas", .tuple([.float(0.9), .float(0.999)])), ("eps", .float(1e-8)),
                ("weight_decay", .float(5e-4)), ("amsgrad", .bool(false)), ("foreach", .none), ("maximize", .bool(false)),
                ("capturable", .bool(false)), ("differentiable", .bool(false)), ("fused", .none),
                ("initial_lr", .float(1e-4)), ("params", .list((0..<sd.count).map { .int($0) }))])]))])])),
            ("lr_schedulers", .list([.dict([("T_0", .int(10)), ("T_i", .int(20)), ("T_mult", .int(2)), ("eta_min", .float(1e-6)),
                                            ("T_cur", .int(9)), ("base_lrs", .list([.float(1e-4)])), ("last_epoch", .int(29)),
                                            ("_step_count", .int(30)), ("verbose", .bool(false)), ("_get_lr_called_within_step", .bool(false)),
                                            ("_last_lr", .list([.float(2.5e-6)]))])])),
        ])
        let bytes = TorchArchiveWriter.archive(prefix: "archive", pickle: PickleWriter.encode(root), storages: storages)
        let path = Fix.write(bytes, "upstream.ckpt")
        let m = try CheckpointModel(path: path)
        XCTAssertEqual(m.checkpoint.kind, .lightning)
        XCTAssertEqual(m.size, .small)
        XCTAssertFalse(m.checkpoint.topLevelKeys.contains("hyper_parameters"))
        XCTAssertEqual(try m.weights(), try CheckpointModel(path: Fix.smallStateDict).weights())
        let r = try Fix.runClef(["info", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("loops, callbacks, optimizer_states, lr_schedulers"), r.stdout)
    }
}
