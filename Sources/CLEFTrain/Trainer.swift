import Foundation
import CLEFArch
import CLEFCheckpoint
import CLEFRisk

/// CLEF / InfoNCE pretraining: two augmented views per window, the reference float64
/// forward/backward on every view (in parallel), AdamW and the per-epoch cosine schedule,
/// a Lightning checkpoint per epoch, a CSV loss log. Correct first; not yet fast.
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
        var v1: [[Double]] = [], v2: [[Double]] = [], risk: [Double] = [], mask: [Double] = []
        for _ in 0..<b {
            let (r, a, c) = data.pair(&rng)
            v1.append(a.map(Double.init)); v2.append(c.map(Double.init))
            let name = (data.records[r].name as NSString).lastPathComponent
            let meta = options.metadata[name]
            risk.append(meta?.0 ?? .nan); mask.append(meta?.1 ?? 1)
        }
        let windows = v1 + v2
        let net = ReferenceNet1D(config: config, params: params)
        let traces = Slots<ReferenceNet1D.Trace>(windows.count)
        let workers = max(1, min(options.threads, windows.count))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: windows.count, by: workers) { traces.set(i, net.forward(windows[i], length: PretrainingData.window)) }
        }
        let z = traces.items.map { $0!.embedding }
        let result = options.loss == "infonce" ? ContrastiveLoss.infoNCE(z: z) : ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        let partialSlots = Slots<[String: [Double]]>(windows.count)
        let dz = result.gradient
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: windows.count, by: workers) {
                var g: [String: [Double]] = [:]
                net.backward(traces.items[i]!, dz[i], grads: &g)
                partialSlots.set(i, g)
            }
        }
        let partial = partialSlots.items.map { $0! }
        var grads: [String: [Float]] = [:]
        for (name, _) in partial[0] {
            var acc = [Double](repeating: 0, count: partial[0][name]!.count)
            for p in partial { for (k, v) in p[name]!.enumerated() { acc[k] += v } }
            grads[name] = acc.map(Float.init)
        }
        optimizer.lr = scheduler.lr
        optimizer.step(params: &params, grads: grads)
        globalStep += 1
        if globalStep % options.stepsPerEpoch == 0 {
            epoch += 1
            scheduler.step()
        }
        return result.loss
    }

    public func saveCheckpoint(_ path: String) throws {
        try LightningCheckpointWriter.write(path: path, config: config, params: params, optimizer: optimizer,
                                            scheduler: scheduler, epoch: epoch, globalStep: globalStep, loss: options.loss)
    }
}

/// Results written by concurrent workers, one slot each.
final class Slots<T>: @unchecked Sendable {
    private(set) var items: [T?]
    private let lock = NSLock()
    init(_ n: Int) { items = [T?](repeating: nil, count: n) }
    func set(_ i: Int, _ v: T) { lock.lock(); items[i] = v; lock.unlock() }
}
