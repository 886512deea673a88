import Foundation
import CLEFArch
import CLEFTrain
import CLEFRisk
import CLEFData

/// `clef train`: CLEF or InfoNCE pretraining from WFDB records to Lightning checkpoints.
enum Train {
    static func run(_ args: [String]) throws {
        let o = try Options(args, known: ["data", "metadata", "size", "loss", "batch", "epochs", "steps", "seed", "threads",
                                          "out", "resume", "steps-per-epoch", "noise", "lr"], repeatable: ["data", "noise"])
        guard !o.all("data").isEmpty else { throw UsageError(description: "clef train needs --data PATH... (WFDB records or folders)") }
        var opt = Trainer.Options()
        opt.out = try o.required("out")
        if let s = o.string("size") {
            guard let size = ModelSize.allCases.first(where: { "\($0.name)" == s }) else { throw UsageError(description: "--size must be small, medium or large") }
            opt.size = size
        }
        opt.loss = o.string("loss") ?? "clef"
        guard ["clef", "infonce"].contains(opt.loss) else { throw UsageError(description: "--loss must be clef or infonce") }
        opt.pairs = try o.int("batch", default: 32)
        opt.stepsPerEpoch = try o.int("steps-per-epoch", default: 100)
        opt.seed = UInt64(try o.int("seed", default: 1))
        if let lr = o.string("lr") {
            guard let v = Double(lr), v > 0, v.isFinite else { throw UsageError(description: "--lr must be a positive number, got '\(lr)'") }
            opt.lr = v
        }
        opt.threads = try o.int("threads", default: ProcessInfo.processInfo.activeProcessorCount)
        if o.string("epochs") != nil && o.string("steps") != nil { throw UsageError(description: "give --epochs or --steps, not both") }
        opt.steps = o.string("epochs") != nil ? try o.int("epochs", default: 1) * opt.stepsPerEpoch : try o.int("steps", default: opt.stepsPerEpoch)
        if let meta = o.string("metadata") {
            guard let text = try? String(contentsOfFile: meta, encoding: .utf8) else { throw UsageError(description: "\(meta): cannot read") }
            let (rows, problems) = try RiskTable.compute(csv: text, file: meta)
            for p in problems { FileHandle.standardError.write(Data("clef: \(p)\n".utf8)) }
            for r in rows { opt.metadata[r.record] = (r.riskPercent ?? .nan, Double(r.mask)) }
        }
        let noise = o.all("noise").isEmpty ? ["Fixtures/ecg/nstdb/bw", "Fixtures/ecg/nstdb/ma"].map(Stream.bundled) : o.all("noise")
        let data = try PretrainingData(recordPaths: o.all("data"), noisePaths: noise)
        try FileManager.default.createDirectory(atPath: opt.out, withIntermediateDirectories: true)
        let trainer = try Trainer(options: opt, data: data, resume: o.string("resume"))
        print("clef train: \(opt.size.name), \(opt.loss) loss, \(opt.pairs) pairs per step, \(data.records.count) records, \(opt.threads) threads, steps \(trainer.globalStep)..<\(opt.steps)")
        let logPath = (opt.out as NSString).appendingPathComponent("loss.csv")
        if !FileManager.default.fileExists(atPath: logPath) { try "step,epoch,loss,lr,seconds\n".write(toFile: logPath, atomically: true, encoding: .utf8) }
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        let start = Date()
        var done = 0
        while trainer.globalStep < opt.steps {
            let t0 = Date()
            let lr = trainer.scheduler.lr
            let loss = trainer.step()
            let dt = Date().timeIntervalSince(t0)
            done += 1
            log.write(Data("\(trainer.globalStep),\(trainer.epoch),\(loss),\(lr),\(dt)\n".utf8))
            let rate = Double(done) / Date().timeIntervalSince(start)
            let eta = Double(opt.steps - trainer.globalStep) / max(rate, 1e-9)
            let bar = String(repeating: "#", count: 20 * trainer.globalStep / opt.steps).padding(toLength: 20, withPad: ".", startingAt: 0)
            FileHandle.standardError.write(Data(String(format: "\r[%@] step %d/%d  loss %.4f  %.3f steps/s  ETA %.0f s   ", bar,
                                                       trainer.globalStep, opt.steps, loss, rate, eta).utf8))
            if trainer.globalStep % opt.stepsPerEpoch == 0 || trainer.globalStep == opt.steps {
                let path = (opt.out as NSString).appendingPathComponent(trainer.globalStep == opt.steps ? "last.ckpt" : "epoch=\(trainer.epoch).ckpt")
                try trainer.saveCheckpoint(path)
            }
        }
        try log.close()
        FileHandle.standardError.write(Data("\n".utf8))
        // The final weights alone (no optimiser state): what `clef export`, `embed` and `stream` need.
        let weights = (opt.out as NSString).appendingPathComponent("model.ckpt")
        try trainer.saveCheckpoint(weights, weightsOnly: true)
        print("wrote \((opt.out as NSString).appendingPathComponent("last.ckpt")) (resumable), \(weights) (weights only) and \(logPath)")
    }
}
