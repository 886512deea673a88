import Foundation
import CLEFArch
import CLEFCheckpoint
import CLEFRisk

/// CLEF / InfoNCE pretraining: two augmented views per window, the float32 forward/backward
/// (`Net1DGradient`) on every view in parallel, AdamW and the per-epoch cosine schedule,
/// a Lightning checkpoint per epoch, a CSV loss log.
public final class Trainer {
    public struct Options {
        public var size: ModelSize = .small
        public var loss = "clef"
        public var pairs = 32
        public var steps = 100
        public var stepsPerEpoch = 100
        public var seed: UInt64 = 1
        public var threads = 1
        public var out = "runs/clef"
        public var lr = 1e-4
        /// Record name (file name) -> (risk, mask).
        public var metadata: [String: (Double, Double)] = [:]
        public init() {}
    }

    public struct Step { public var step: Int; public var epoch: Int; public var loss: Double; public var seconds: Double; public var lr: Double }

    public let options: Options
    public let data: PretrainingData
    public var params: [String: [Float]]
    public var optimizer: AdamW
    public var scheduler: CosineWarmRestarts
    public var globalStep = 0
    public var epoch = 0
    let config: Net1DConfig
    var buffers: StepBuffers?

    public init(options: Options, data: PretrainingData, resume: String?) throws {
        self.options = options
        self.data = data
        config = Net1DConfig.preset(options.size)
        scheduler = CosineWarmRestarts(baseLR: options.lr)
        optimizer = AdamW(lr: options.lr)
        if let resume {
            let ck = try TorchCheckpoint(path: resume)
            let m = try CheckpointModel(checkpoint: ck)
            params = try m.weights()
            let names = m.config.parameterSpecs.filter { $0.role != .unusedBuffer }.map(\.name)
            optimizer = try AdamW.restore(from: ck, parameterNames: names, lr: options.lr)
            func int(_ k: String) -> Int? { if case .int(let v)? = ck.tree.lookup(ck.tree.root, k) { return Int(v) }; return nil }
            epoch = int("epoch") ?? 0
            globalStep = int("global_step") ?? 0
            for _ in 0..<epoch { scheduler.step() }
        } else {
            // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
            var p: [String: [Float]] = [:]
            var g = SplitMix(seed: options.seed &* 7919)
            for s in config.parameterSpecs where s.role == .weight {
                let weightName = s.name.hasSuffix(".bias") ? String(s.name.dropLast(4)) + "weight" : s.name
                let spec = config.parameterSpecs.first { $0.name == weightName }!
                let fanIn = spec.shape.dropFirst().reduce(1, *)
                let bound = 1 / Double(fanIn).squareRoot()
                p[s.name] = (0..<s.elementCount).map { _ in Float((2 * g.uniform() - 1) * bound) }
            }
            params = p
        }
        optimizer.lr = scheduler.lr
    }

    /// One optimiser step on a fresh batch; returns the loss.
    public func step() -> Double {
        // Each step's batch depends only on (seed, step), so a resumed run sees the same data.
        var rng = SplitMix(seed: options.seed &+ UInt64(globalStep + 1) &* 0x9E37_79B9_7F4A_7C15)
        let b = options.pairs
        var windows: [[Float]] = [], v2: [[Float]] = [], risk: [Double] = [], mask: [Double] = []
        for _ in 0..<b {
            let (r, a, c) = data.pair(&rng)
            windows.append(a); v2.append(c)
            let name = (data.records[r].name as NSString).lastPathComponent
            let meta = options.metadata[name]
            risk.append(meta?.0 ?? .nan); mask.append(meta?.1 ?? 1)
        }
        windows += v2
        if buffers?.traces.count != windows.count {
            buffers = StepBuffers(config: config, length: PretrainingData.window, windows: windows.count, threads: options.threads)
        }
        let (loss, grads) = Self.lossAndGradients(config: config, params: params, windows: windows,
                                                  threads: options.threads, buffers: buffers) { z in
            options.loss == "infonce" ? ContrastiveLoss.infoNCE(z: z) : ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        }
        optimizer.lr = scheduler.lr
        optimizer.step(params: &params, grads: grads)
        globalStep += 1
        if globalStep % options.stepsPerEpoch == 0 {
            epoch += 1
            scheduler.step()
        }
        return loss
    }

    /// The loss of a batch of windows (view one then view two) and the gradient of every trainable
    /// parameter, with the float32 path (`Net1DGradient`) on `threads` threads; per-thread gradient
    /// sums are added in Double.
    public static func lossAndGradients(config: Net1DConfig, params: [String: [Float]], windows: [[Float]], threads: Int,
                                        buffers: StepBuffers? = nil,
                                        loss: ([[Double]]) -> ContrastiveLoss.Result) -> (Double, [String: [Float]]) {
        let n = windows.count, len = windows[0].count
        let net = try! Net1DGradient(config: config, params: params, length: len)
        let buf = buffers ?? StepBuffers(config: config, length: len, windows: n, threads: threads)
        precondition(buf.traces.count == n && buf.length == len, "step buffers sized for another batch")
        let workers = buf.workers, traces = buf.traces
        for w in workers { w.reset() }
        DispatchQueue.concurrentPerform(iterations: workers.count) { w in
            for i in stride(from: w, to: n, by: workers.count) {
                windows[i].withUnsafeBufferPointer { net.forward($0.baseAddress!, worker: workers[w], into: traces[i]) }
            }
        }
        let result = loss(traces.map { $0.embedding.map(Double.init) })
        DispatchQueue.concurrentPerform(iterations: workers.count) { w in
            for i in stride(from: w, to: n, by: workers.count) {
                windows[i].withUnsafeBufferPointer {
                    net.backward(traces[i], input: $0.baseAddress!, dEmb: result.gradient[i].map(Float.init), worker: workers[w])
                }
            }
        }
        var grads: [String: [Float]] = [:]
        let parts = workers.map { $0.gradients() }
        for name in net.names {
            var acc = [Double](repeating: 0, count: parts[0][name]!.count)
            for p in parts { for (k, v) in p[name]!.enumerated() { acc[k] += Double(v) } }
            grads[name] = acc.map(Float.init)
        }
        return (result.loss, grads)
    }

    public func saveCheckpoint(_ path: String, weightsOnly: Bool = false) throws {
        try LightningCheckpointWriter.write(path: path, config: config, params: params, optimizer: optimizer,
                                            scheduler: scheduler, epoch: epoch, globalStep: globalStep, loss: options.loss,
                                            weightsOnly: weightsOnly)
    }
}

/// What a training step reuses from the last: per-thread workers and per-window traces.
public final class StepBuffers: @unchecked Sendable {
    public let length: Int
    let workers: [Net1DGradient.Worker]
    let traces: [Net1DGradient.Trace]
    public init(config: Net1DConfig, length: Int, windows: Int, threads: Int) {
        self.length = length
        workers = (0..<max(1, min(threads, windows))).map { _ in Net1DGradient.Worker(config: config, length: length) }
        traces = (0..<windows).map { _ in Net1DGradient.Trace(config: config, length: length) }
    }
}
