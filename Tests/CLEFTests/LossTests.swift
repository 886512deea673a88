import XCTest
import CLEFTrain
import CLEFCheckpoint

/// CLEF and InfoNCE losses against the oracle (Fixtures/clef-loss) and their gradients against
/// central finite differences.
final class LossTests: XCTestCase {
    func load() throws -> (z: [[Double]], risk: [Double], mask: [Double]) {
        let z = try Fix.f32("clef-loss/z64.f32").map(Double.init)
        return ((0..<8).map { Array(z[($0 * 256)..<(($0 + 1) * 256)]) },
                try Fix.f32("clef-loss/risk.f32").map(Double.init), try Fix.f32("clef-loss/mask.f32").map(Double.init))
    }

    /// The fixture's z64 is float64 rounded to float32, so the losses agree to that rounding.
    func testLossValuesMatchTheOracle() throws {
        let (z, risk, mask) = try load()
        XCTAssertTrue(risk[1].isNaN)
        let c = ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        let i = ContrastiveLoss.infoNCE(z: z)
        let refClef = Double(try Fix.f32("clef-loss/loss_clef64.f32")[0]), refInfo = Double(try Fix.f32("clef-loss/loss_infonce64.f32")[0])
        print("clef loss \(c.loss) (oracle \(refClef)), nce \(c.nce), align \(c.align); infonce \(i.loss) (oracle \(refInfo))")
        XCTAssertEqual(c.loss, refClef, accuracy: 1e-6)
        XCTAssertEqual(c.nce, 0.5879840843709189, accuracy: 1e-6)
        XCTAssertEqual(c.align, 0.11287491567300242, accuracy: 1e-6)
        XCTAssertEqual(i.loss, refInfo, accuracy: 1e-6)
        let tiled = try Fix.f32("clef-loss/meta_sim_tiled.f32")
        let meta = ContrastiveLoss.metadataSimilarity(risk: risk, mask: mask)
        for r in 0..<8 { for col in 0..<8 { XCTAssertEqual(meta[r % 4][col % 4], Double(tiled[r * 8 + col]), accuracy: 1e-7) } }
    }

    func testGradientsMatchFiniteDifferences() throws {
        let (z, risk, mask) = try load()
        for clef in [true, false] {
            let f: ([[Double]]) -> ContrastiveLoss.Result = { clef ? ContrastiveLoss.clef(z: $0, risk: risk, mask: mask) : ContrastiveLoss.infoNCE(z: $0) }
            let g = f(z).gradient
            var worst = 0.0, scale = 0.0
            for (i, k) in [(0, 0), (1, 17), (3, 255), (4, 100), (7, 3), (5, 200)] {
                var zp = z, zm = z
                let h = 1e-6
                zp[i][k] += h; zm[i][k] -= h
                let fd = (f(zp).loss - f(zm).loss) / (2 * h)
                worst = max(worst, abs(fd - g[i][k]))
                scale = max(scale, abs(fd))
            }
            XCTAssertLessThan(worst, 1e-6 * max(1, scale) + 1e-8, clef ? "clef" : "infonce")
        }
    }
}

final class BackpropTests: XCTestCase {
    /// Every parameter's gradient of the CLEF loss for the fixture batch, against the oracle's
    /// float64 gradients, within 1e-4 of each tensor's largest magnitude.
    func testEveryParameterGradientMatchesTheOracle() throws {
        let m = try CheckpointModel(path: Fix.smallCkpt)
        let net = ReferenceNet1D(config: m.config, params: try m.weights())
        let views = try Fix.f32("clef-loss/views.f32").map(Double.init)
        let windows = (0..<8).map { Array(views[($0 * 5000)..<(($0 + 1) * 5000)]) }
        let risk = try Fix.f32("clef-loss/risk.f32").map(Double.init), mask = try Fix.f32("clef-loss/mask.f32").map(Double.init)
        var scratch: [String: [Double]] = [:]
        let z = windows.map { net.forwardBackward($0, length: 5000, embeddingGradient: { _ in [Double](repeating: 0, count: 256) }, grads: &scratch) }
        let loss = ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        XCTAssertEqual(loss.loss, 0.35042950002196066, accuracy: 1e-9)
        var grads: [String: [Double]] = [:]
        for (i, w) in windows.enumerated() {
            _ = net.forwardBackward(w, length: 5000, embeddingGradient: { _ in loss.gradient[i] }, grads: &grads)
        }
        var worst = 0.0, worstName = ""
        var checked = 0
        for s in m.config.parameterSpecs where s.role == .weight {
            let ref = try Fix.f32("clef-loss/grads/\(s.name).f32").map(Double.init)
            let got = grads[s.name]!
            XCTAssertEqual(got.count, ref.count, s.name)
            let scale = ref.map { abs($0) }.max()!
            let err = zip(got, ref).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
            if err > worst { worst = err; worstName = s.name }
            XCTAssertLessThan(err, 1e-4, s.name)
            checked += 1
        }
        XCTAssertEqual(checked, 102)
        print("gradients of \(checked) parameters: worst error \(worst) of the tensor's max (\(worstName))")
        XCTAssertNil(grads["first_bn.weight"], "BatchNorm parameters get no gradient")
    }

    /// The trainer's float32 path (engine forward + gradient kernels) against the oracle's float64
    /// gradients, within 1e-4 of each tensor's largest magnitude, and against the float64 reference.
    func testFloat32GradientsMatchTheOracle() throws {
        let m = try CheckpointModel(path: Fix.smallCkpt)
        let net = try Net1DGradient(config: m.config, params: try m.weights(), length: 5000)
        let views = try Fix.f32("clef-loss/views.f32")
        let risk = try Fix.f32("clef-loss/risk.f32").map(Double.init), mask = try Fix.f32("clef-loss/mask.f32").map(Double.init)
        let worker = net.makeWorker()
        let traces = views.withUnsafeBufferPointer { v in (0..<8).map { net.forward(v.baseAddress! + $0 * 5000, worker: worker) } }
        let loss = ContrastiveLoss.clef(z: traces.map { $0.embedding.map(Double.init) }, risk: risk, mask: mask)
        XCTAssertEqual(loss.loss, 0.35042950002196066, accuracy: 1e-5)
        views.withUnsafeBufferPointer { v in
            for i in 0..<8 { net.backward(traces[i], input: v.baseAddress! + i * 5000, dEmb: loss.gradient[i].map(Float.init), worker: worker) }
        }
        let grads = worker.gradients()
        var worst = 0.0, worstName = ""
        for s in m.config.parameterSpecs where s.role == .weight {
            let ref = try Fix.f32("clef-loss/grads/\(s.name).f32").map(Double.init)
            let got = grads[s.name]!.map(Double.init)
            XCTAssertEqual(got.count, ref.count, s.name)
            let scale = ref.map { abs($0) }.max()!
            let err = zip(got, ref).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
            if err > worst { worst = err; worstName = s.name }
            XCTAssertLessThan(err, 1e-4, s.name)
        }
        XCTAssertEqual(grads.count, 102)
        print("float32 gradients of \(grads.count) parameters: worst error \(worst) of the tensor's max (\(worstName))")
    }
}

final class TrainStepTests: XCTestCase {
    /// From clef_small_seed1.ckpt and its train_batch, one AdamW + scheduler step reproduces the
    /// oracle's weights and moments (within 1e-5 relative) and learning rates (exact).
    func testOneStepReproducesTheOracle() throws {
        let ck = try TorchCheckpoint(path: Fix.smallCkpt)
        let m = try CheckpointModel(checkpoint: ck)
        // model.parameters() order: every state_dict entry that is not a BatchNorm buffer.
        let names = m.config.parameterSpecs.filter { $0.role != .unusedBuffer }.map(\.name)
        let v1 = try Fix.f32("clef-small-seed1/train_batch/view1.f32"), v2 = try Fix.f32("clef-small-seed1/train_batch/view2.f32")
        let windows = (0..<4).map { Array(v1[($0 * 5000)..<(($0 + 1) * 5000)]) } + (0..<4).map { Array(v2[($0 * 5000)..<(($0 + 1) * 5000)]) }
        let risk = try Fix.f32("clef-small-seed1/train_batch/risk.f32").map(Double.init)
        let mask = try Fix.f32("clef-small-seed1/train_batch/mask.f32").map(Double.init)
        let params0 = try m.weights()

        // The float64 reference backprop, and the trainer's float32 path.
        let net = ReferenceNet1D(config: m.config, params: params0)
        let w64 = windows.map { $0.map(Double.init) }
        var scratch: [String: [Double]] = [:]
        let z = w64.map { net.forwardBackward($0, length: 5000, embeddingGradient: { _ in [Double](repeating: 0, count: 256) }, grads: &scratch) }
        let loss = ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        XCTAssertEqual(loss.loss, Double(try Fix.f32("clef-train-step/loss.f32")[0]), accuracy: 1e-5)
        var grads64: [String: [Double]] = [:]
        for (i, w) in w64.enumerated() { _ = net.forwardBackward(w, length: 5000, embeddingGradient: { _ in loss.gradient[i] }, grads: &grads64) }
        let (loss32, grads32) = Trainer.lossAndGradients(config: m.config, params: params0, windows: windows, threads: 1) {
            ContrastiveLoss.clef(z: $0, risk: risk, mask: mask)
        }
        XCTAssertEqual(loss32, Double(try Fix.f32("clef-train-step/loss.f32")[0]), accuracy: 1e-5)

        // Relative to each tensor's largest magnitude: the oracle stepped in float32, whose
        // gradients on this batch are 1.3e-4 of a tensor's max from float64 ones
        // (Tools/oracle/step_float32_noise.py), so the moments carry that rounding.
        func relErr(_ got: [Float], _ want: [Float]) -> Double {
            let scale = Double(want.map { abs($0) }.max()!)
            return zip(got, want).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-30)
        }
        for (label, grads) in [("float64 reference", grads64.mapValues { $0.map(Float.init) }), ("float32 trainer", grads32)] {
            var sched = CosineWarmRestarts(tCur: 3)
            XCTAssertEqual(sched.lr, 7.959536998847742e-05, accuracy: 1e-18)
            var opt = try AdamW.restore(from: ck, parameterNames: names, lr: sched.lr)
            XCTAssertEqual(opt.state["first_conv.conv.weight"]?.step, 3)
            XCTAssertNil(opt.state["first_bn.weight"], "BatchNorm parameters have no optimiser state")
            var params = params0
            opt.step(params: &params, grads: grads)
            sched.step()
            XCTAssertEqual(sched.lr, 6.57963412215599e-05, accuracy: 1e-18)
            var worst = 0.0, worstMoment = 0.0, worstName = ""
            for name in names {
                let want = try Fix.f32("clef-train-step/weights/\(name).f32")
                if let got = params[name] { worst = max(worst, relErr(got, want)) }   // BatchNorm entries are not loaded
                if let s = opt.state[name] {
                    XCTAssertEqual(s.step, 4)
                    let e = max(relErr(s.expAvg, try Fix.f32("clef-train-step/adam/\(name).exp_avg.f32")),
                                relErr(s.expAvgSq, try Fix.f32("clef-train-step/adam/\(name).exp_avg_sq.f32")))
                    if e > worstMoment { worstMoment = e; worstName = name }
                }
            }
            print("one training step (\(label) gradients): worst moment error \(worstMoment) (\(worstName)), worst weight error \(worst), of the tensor's max")
            XCTAssertLessThan(worstMoment, 1e-4, label)
            XCTAssertLessThan(worst, 1e-5, label)
        }
    }
}

final class CheckpointWriterTests: XCTestCase {
    /// A written checkpoint reads back (weights, AdamW state, scheduler) through our reader, and,
    /// when the oracle venv exists, through torch.load(weights_only=True).
    func testWrittenCheckpointRoundTrips() throws {
        let ck = try TorchCheckpoint(path: Fix.smallCkpt)
        let m = try CheckpointModel(checkpoint: ck)
        let names = m.config.parameterSpecs.filter { $0.role != .unusedBuffer }.map(\.name)
        let sched = CosineWarmRestarts(tCur: 3)
        let opt = try AdamW.restore(from: ck, parameterNames: names, lr: sched.lr)
        let path = Fix.temp("written.ckpt")
        try LightningCheckpointWriter.write(path: path, config: m.config, params: try m.weights(), optimizer: opt,
                                            scheduler: sched, epoch: 3, globalStep: 3, loss: "clef")
        let back = try CheckpointModel(path: path)
        XCTAssertEqual(try back.weights(), try m.weights())
        let opt2 = try AdamW.restore(from: back.checkpoint, parameterNames: names, lr: sched.lr)
        XCTAssertEqual(opt2.state.count, opt.state.count)
        XCTAssertEqual(opt2.state["stage_list.3.block_list.1.conv2.conv.weight"]?.expAvgSq, opt.state["stage_list.3.block_list.1.conv2.conv.weight"]?.expAvgSq)
        XCTAssertEqual(back.checkpoint.tree.lookup(back.checkpoint.tree.root, "epoch"), .int(3))
        let python = "/root/.cache/clef-oracle-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", """
        import sys, torch
        ck = torch.load(sys.argv[1], weights_only=True)
        sd = {k[9:]: v for k, v in ck['state_dict'].items()}
        assert len(sd) == 257, len(sd)
        assert ck['optimizer_states'][0]['param_groups'][0]['betas'] == (0.9, 0.999)
        assert int(ck['optimizer_states'][0]['state'][0]['step']) == 3
        print('torch ok', ck['epoch'], ck['lr_schedulers'][0]['T_cur'])
        """, path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("torch ok 3 3"), text)
    }
}

final class TrainerTests: XCTestCase {
    /// 4 steps in one go equal 2 steps, a checkpoint, and 2 resumed steps, bit for bit; the
    /// checkpoint loads as a model.
    func testResumeEqualsUninterruptedRun() throws {
        let data = try PretrainingData(recordPaths: [Fix.path("ecg/cinc2021/E07500"), Fix.path("ecg/cinc2021/HR06000")],
                                       noisePaths: [Fix.path("ecg/nstdb/bw"), Fix.path("ecg/nstdb/ma")])
        var o = Trainer.Options()
        o.pairs = 2; o.steps = 4; o.stepsPerEpoch = 2; o.threads = 2; o.seed = 5
        o.metadata = ["E07500": (3.5, 0)]
        let a = try Trainer(options: o, data: data, resume: nil)
        var losses: [Double] = []
        for _ in 0..<4 { losses.append(a.step()) }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        let b = try Trainer(options: o, data: data, resume: nil)
        _ = b.step(); _ = b.step()
        let path = Fix.temp("resume.ckpt")
        try b.saveCheckpoint(path)
        let c = try Trainer(options: o, data: data, resume: path)
        XCTAssertEqual(c.globalStep, 2)
        XCTAssertEqual(c.epoch, 1)
        XCTAssertEqual(c.scheduler.lr, a.scheduler.lr == 0 ? 0 : CosineWarmRestarts(tCur: 1).lr, accuracy: 0)
        XCTAssertEqual(c.step(), losses[2])
        XCTAssertEqual(c.step(), losses[3])
        XCTAssertEqual(c.params, a.params)
        XCTAssertEqual(c.optimizer.state["first_conv.conv.weight"]?.expAvg, a.optimizer.state["first_conv.conv.weight"]?.expAvg)
        XCTAssertEqual(try CheckpointModel(path: path).size, .small)
    }
}
