import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFEngine
import CLEFTrain

/// `clef bench`: single-thread float32 forward timings. Tools/bench.sh runs it next to the
/// PyTorch / ONNX Runtime anchors in one go and prints the ratios.
enum Bench {
    static func run(_ args: [String]) throws {
        let o = try Options(args, flags: ["json", "train"], known: ["model", "repeats", "size", "threads"])
        let repeats = try o.int("repeats", default: 50)
        if o.flag("train") { return try benchTrain(threads: try o.int("threads", default: 1), json: o.flag("json")) }
        let encoder: Net1DFloat
        if let path = o.string("model"), ModelFile.isBlob(path) {
            return try benchBlob(path, repeats: repeats, json: o.flag("json"))
        }
        if let path = o.string("model") {
            encoder = try CheckpointModel(path: path).encoder
        } else {
            // Random weights: timings do not depend on the values.
            let sizeName = o.string("size") ?? "small"
            guard let size = ModelSize.allCases.first(where: { "\($0.name)" == sizeName }) else {
                throw UsageError(description: "--size must be small, medium or large")
            }
            encoder = try randomEncoder(.preset(size))
        }
        var rows: [(String, [Double], Int)] = []
        for n in [1, 32] {
            let l = 5000
            var rng = SplitMix64(seed: 42)
            let x = (0..<(n * l * encoder.config.inChannels)).map { _ in rng.nextGaussianish() }
            var y = [Float](repeating: 0, count: n * encoder.embeddingDim)
            let ws = FloatWorkspace(config: encoder.config, maxLength: l)
            let reps = n == 1 ? repeats : max(3, repeats / 10)
            var times: [Double] = []
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    for i in 0..<(reps + 3) {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        encoder.embedBatch(xp.baseAddress!, count: n, length: l, workspace: ws, output: yp.baseAddress!)
                        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                        if i >= 3 { times.append(dt) }
                    }
                }
            }
            rows.append(("swift f32 \(encoder.config.blocks.count == 10 ? "small" : "model") fwd (\(n),\(encoder.config.inChannels),\(l))", times, n))
        }
        let macs = encoder.config.multiplyAccumulates(inputLength: 5000)
        for (name, t, n) in rows {
            let s = t.sorted()
            let median = s[s.count / 2], mean = t.reduce(0, +) / Double(t.count)
            if o.flag("json") {
                print("{\"case\": \"\(name)\", \"threads\": 1, \"median_ms\": \(median), \"mean_ms\": \(mean), \"min_ms\": \(s[0]), \"repeats\": \(t.count)}")
            } else {
                let gmacs = Double(macs * n) / (median * 1e6)
                print(String(format: "%-36@ thr 1  median %8.3f ms  mean %8.3f ms  min %8.3f ms  (%d reps, %.1f GMAC/s)",
                             name, median, mean, s[0], t.count, gmacs))
            }
        }
    }

    /// Single-window timing of a blob's engine (f32, f16, q8 or q16).
    static func benchBlob(_ path: String, repeats: Int, json: Bool) throws {
        let f = try ModelFile(path: path)
        let e = f.engine
        var rng = SplitMix64(seed: 42)
        let x = (0..<(5000 * e.config.inChannels)).map { _ in rng.nextGaussianish() }
        var y = [Float](repeating: 0, count: e.config.embeddingDim)
        let ws = EngineWorkspace(engine: e, maxLength: 5000)
        var times: [Double] = []
        x.withUnsafeBufferPointer { xp in
            for i in 0..<(repeats + 3) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                e.embed(xp.baseAddress!, length: 5000, workspace: ws, output: &y)
                if i >= 3 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
            }
        }
        let s = times.sorted()
        let name = "swift \(e.precision.name) small fwd (1,1,5000)"
        if json {
            print("{\"case\": \"\(name)\", \"threads\": 1, \"median_ms\": \(s[s.count / 2]), \"mean_ms\": \(times.reduce(0, +) / Double(times.count)), \"min_ms\": \(s[0]), \"repeats\": \(times.count)}")
        } else {
            print(String(format: "%-36@ thr 1  median %8.3f ms  min %8.3f ms  (%d reps)", name, s[s.count / 2], s[0], times.count))
        }
    }

    /// One CLEF training step of 32 pairs (64 windows of 5000 samples), small model, random
    /// weights and inputs, as bench_torch.py's train-step case.
    static func benchTrain(threads: Int, json: Bool) throws {
        let config = Net1DConfig.preset(.small)
        var rng = SplitMix64(seed: 3)
        var params: [String: [Double]] = [:]
        for s in config.parameterSpecs where s.role == .weight {
            params[s.name] = (0..<s.elementCount).map { _ in Double(rng.nextGaussianish()) * 0.05 }
        }
        let windows = (0..<64).map { _ in (0..<5000).map { _ in rng.nextGaussianish() } }
        let risk = (0..<32).map { _ in Double(rng.nextGaussianish()) }, mask = (0..<32).map { _ in Double(abs(rng.nextGaussianish())) / 3 }
        var p32 = params.mapValues { $0.map(Float.init) }
        var opt = AdamW()
        // Warm-up step (page faults, allocator), then the timed ones.
        var times: [Double] = []
        let buffers = StepBuffers(config: config, length: 5000, windows: 64, threads: threads)
        for rep in 0..<4 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (_, total) = Trainer.lossAndGradients(config: config, params: p32, windows: windows, threads: threads,
                                                      buffers: buffers) {
                ContrastiveLoss.clef(z: $0, risk: risk, mask: mask)
            }
            opt.step(params: &p32, grads: total)
            if rep > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        let s = times.sorted(), median = s[s.count / 2]
        let name = "swift small train step 32 pairs"
        if json {
            print("{\"case\": \"\(name)\", \"threads\": \(threads), \"median_ms\": \(median), \"mean_ms\": \(times.reduce(0, +) / Double(times.count)), \"min_ms\": \(s[0]), \"repeats\": \(times.count)}")
        } else {
            print(String(format: "%@ thr %d  median %.0f ms  min %.0f ms  (%d reps)", name, threads, median, s[0], times.count))
        }
    }

    static func randomEncoder(_ config: Net1DConfig) throws -> Net1DFloat {
        var rng = SplitMix64(seed: 7)
        var table: [String: [Float]] = [:]
        for s in config.parameterSpecs where s.role == .weight {
            let fanIn = s.shape.count > 1 ? s.shape.dropFirst().reduce(1, *) : 1
            let scale = 1 / Float(fanIn).squareRoot()
            table[s.name] = (0..<s.elementCount).map { _ in rng.nextGaussianish() * scale }
        }
        return try Net1DFloat(config: config) { table[$0] }
    }
}

/// Small deterministic generator for benchmark inputs and random weights.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Roughly standard normal (sum of uniforms), enough for timing inputs.
    mutating func nextGaussianish() -> Float {
        var s: Float = 0
        for _ in 0..<4 { s += Float(next() >> 40) / Float(1 << 24) }
        return (s - 2) * 1.7320508
    }
}
