import XCTest
import CLEFArch
import CLEFFloat
import CLEFCheckpoint

/// The float32 encoder against the independent PyTorch oracle (Fixtures/clef-small-seed1).
final class EncoderFixtureTests: XCTestCase {
    func embed(_ m: CheckpointModel, _ x: [Float], n: Int, length: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * m.config.embeddingDim)
        let ws = FloatWorkspace(config: m.config, maxLength: length)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { m.encoder.embedBatch(xp.baseAddress!, count: n, length: length, workspace: ws, output: $0.baseAddress!) }
        }
        return y
    }

    func testSmallEmbeddingsMatchPyTorch() throws {
        let m = try CheckpointModel(path: Fix.smallCkpt)
        XCTAssertEqual(m.size, .small)
        XCTAssertEqual(m.config.parameterCount, 447_792)
        let x = try Fix.f32("clef-small-seed1/inputs.f32")
        let y = embed(m, x, n: 4, length: 5000)
        let ref = try Fix.f32("clef-small-seed1/embeddings.f32")
        let ref64 = try Fix.f32("clef-small-seed1/embeddings64.f32")
        let e32 = Fix.maxAbsDiff(y, ref), e64 = Fix.maxAbsDiff(y, ref64)
        print("small N=4: max |swift - torch f32| = \(e32), max |swift - torch f64| = \(e64)")
        XCTAssertLessThan(e32, 1e-4)
        XCTAssertLessThan(e64, 1e-4)
    }

    func testEveryBlockOutputMatchesPyTorch() throws {
        let m = try CheckpointModel(path: Fix.smallCkpt)
        let x = Array(try Fix.f32("clef-small-seed1/inputs.f32")[0..<5000])
        let names = ["stem"] + m.config.blocks.map(\.name)
        var seen = 0
        var out = [Float](repeating: 0, count: 256)
        let ws = FloatWorkspace(config: m.config, maxLength: 5000)
        x.withUnsafeBufferPointer { xp in
            m.encoder.forward(xp.baseAddress!, length: 5000, workspace: ws, output: &out) { i, act, c, l in
                let ref = try! Fix.f32("clef-small-seed1/layers/\(names[i]).f32")
                XCTAssertEqual(ref.count, c * l, names[i])
                let got = Array(UnsafeBufferPointer(start: act, count: c * l))
                let scale = ref.map { abs($0) }.max()!
                let rel = Fix.maxAbsDiff(got, ref) / scale
                XCTAssertLessThan(rel, 1e-4, "\(names[i]) relative error \(rel)")
                seen += 1
            }
        }
        XCTAssertEqual(seen, 11)
    }

    func testLightningCkptAndStateDictGiveIdenticalWeights() throws {
        let a = try CheckpointModel(path: Fix.smallCkpt), b = try CheckpointModel(path: Fix.smallStateDict)
        XCTAssertEqual(a.checkpoint.kind, .lightning)
        XCTAssertEqual(b.checkpoint.kind, .stateDict)
        XCTAssertEqual(a.keyPrefix, "backbone.")
        XCTAssertEqual(b.keyPrefix, "")
        let wa = try a.weights(), wb = try b.weights()
        XCTAssertEqual(wa.count, 2 + 10 * 10)   // stem conv + 10 blocks x (3 convs + 2 SE linears), weight and bias
        XCTAssertEqual(wa, wb)
    }

    /// Odd lengths, lengths below the kernel size and L = 1 exercise every padding and tail path.
    func testOtherLengthsMatchPyTorch() throws {
        let m = try CheckpointModel(path: Fix.smallStateDict)
        for length in [1, 2, 15, 16, 17, 333, 2501, 5000] {
            let x = try Fix.f32("clef-small-lengths/x_L\(length).f32")
            let y = embed(m, x, n: 2, length: length)
            let ref = try Fix.f32("clef-small-lengths/emb_L\(length).f32")
            let ref64 = try Fix.f32("clef-small-lengths/emb64_L\(length).f32")
            XCTAssertLessThan(Fix.maxAbsDiff(y, ref), 1e-4, "L=\(length)")
            XCTAssertLessThan(Fix.maxAbsDiff(y, ref64), 1e-4, "L=\(length) vs float64")
        }
    }

    /// A batch gives the same bits as the windows one at a time, whatever workspace size.
    func testBatchEqualsSingleWindows() throws {
        let m = try CheckpointModel(path: Fix.smallStateDict)
        let x = try Fix.f32("clef-small-seed1/inputs.f32")
        let all = embed(m, x, n: 4, length: 5000)
        for i in 0..<4 {
            var y = [Float](repeating: 0, count: 256)
            let ws = FloatWorkspace(config: m.config, maxLength: 6000)
            Array(x[(i * 5000)..<((i + 1) * 5000)]).withUnsafeBufferPointer {
                m.encoder.forward($0.baseAddress!, length: 5000, workspace: ws, output: &y)
            }
            XCTAssertEqual(y, Array(all[(i * 256)..<((i + 1) * 256)]))
        }
    }

    /// Medium: a checkpoint made by the oracle (see README, "Medium model check"). Skips when absent.
    func testMediumCheckpointMatchesPyTorch() throws {
        let dir = ProcessInfo.processInfo.environment["CLEF_MEDIUM_DIR"] ?? "/tmp/clef-medium"
        let ckpt = dir + "/clef_medium_seed7.ckpt"
        guard FileManager.default.fileExists(atPath: ckpt) else {
            throw XCTSkip("no medium checkpoint at \(ckpt) (make it with Tools/oracle/medium_check.sh)")
        }
        let m = try CheckpointModel(path: ckpt)
        XCTAssertEqual(m.size, .medium)
        XCTAssertEqual(m.config.parameterCount, 30_654_000)
        let x = try Fix.f32(dir + "/inputs.f32")
        let n = x.count / 5000
        let y = embed(m, x, n: n, length: 5000)
        let e = Fix.maxAbsDiff(y, try Fix.f32(dir + "/embeddings.f32"))
        print("medium N=\(n): max |swift - torch f32| = \(e)")
        XCTAssertLessThan(e, 1e-4)
    }
}
