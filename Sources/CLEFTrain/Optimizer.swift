import Foundation
import CLEFArch
import CLEFCheckpoint

/// AdamW with PyTorch's semantics (decoupled weight decay, bias correction, eps outside the
/// square root), in Float like a float32 PyTorch run. Parameters without a gradient are skipped.
public struct AdamW {
    public var lr: Double
    public var beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 5e-4
    public struct State { public var step: Int; public var expAvg: [Float]; public var expAvgSq: [Float] }
    public var state: [String: State] = [:]

    public init(lr: Double = 1e-4) { self.lr = lr }

    public mutating func step(params: inout [String: [Float]], grads: [String: [Float]]) {
        for (name, g) in grads {
            guard var p = params[name] else { continue }
            var s = state[name] ?? State(step: 0, expAvg: [Float](repeating: 0, count: g.count), expAvgSq: [Float](repeating: 0, count: g.count))
            s.step += 1
            let lrF = Float(lr), wd = Float(weightDecay), b1 = Float(beta1), b2 = Float(beta2)
            let bc1 = 1 - pow(beta1, Double(s.step)), bc2 = 1 - pow(beta2, Double(s.step))
            let stepSize = Float(lr / bc1), bc2Sqrt = Float(bc2.squareRoot()), epsF = Float(eps)
            for i in 0..<p.count {
                p[i] *= 1 - lrF * wd
                s.expAvg[i] = s.expAvg[i] * b1 + g[i] * (1 - b1)
                s.expAvgSq[i] = s.expAvgSq[i] * b2 + g[i] * g[i] * (1 - b2)
                let denom = s.expAvgSq[i].squareRoot() / bc2Sqrt + epsF
                p[i] -= stepSize * (s.expAvg[i] / denom)
            }
            params[name] = p
            state[name] = s
        }
    }
}

/// torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, stepped once per epoch.
public struct CosineWarmRestarts {
    public var baseLR: Double, t0: Int, tMult: Int, etaMin: Double
    public var tCur: Int, tI: Int

    public init(baseLR: Double = 1e-4, t0: Int = 10, tMult: Int = 2, etaMin: Double = 1e-6, tCur: Int = 0, tI: Int? = nil) {
        self.baseLR = baseLR; self.t0 = t0; self.tMult = tMult; self.etaMin = etaMin
        self.tCur = tCur; self.tI = tI ?? t0
    }

    public var lr: Double { etaMin + (baseLR - etaMin) * (1 + cos(Double.pi * Double(tCur) / Double(tI))) / 2 }

    public mutating func step() {
        tCur += 1
        if tCur >= tI { tCur -= tI; tI *= tMult }
    }
}

extension AdamW {
    /// AdamW state from a Lightning checkpoint's `optimizer_states[0]`, whose `state` is keyed by
    /// each parameter's index in `model.parameters()` order; names are given without `backbone.`.
    public static func restore(from ck: TorchCheckpoint, parameterNames: [String], lr: Double) throws -> AdamW {
        var opt = AdamW(lr: lr)
        let t = ck.tree
        guard let states = t.lookup(t.root, "optimizer_states"), case .list(let li) = states, let first = t.lists[li].first,
              let state = t.lookup(first, "state"), case .dict(let di) = state else {
            throw CheckpointError(file: ck.path, field: "optimizer_states", reason: "no AdamW state")
        }
        for (key, value) in t.dicts[di] {
            guard case .int(let index) = key, index >= 0, Int(index) < parameterNames.count,
                  let a = t.lookup(value, "exp_avg"), case .tensor(let ai) = a,
                  let b = t.lookup(value, "exp_avg_sq"), case .tensor(let bi) = b,
                  let st = t.lookup(value, "step") else {
                throw CheckpointError(file: ck.path, field: "optimizer_states[0].state", reason: "entry is not an AdamW state")
            }
            var step = 0
            switch st {
            case .tensor(let si): step = Int(try ck.floats(t.tensors[si], name: "step")[0])
            case .int(let v): step = Int(v)
            case .float(let v): step = Int(v)
            default: throw CheckpointError(file: ck.path, field: "optimizer_states[0].state.step", reason: "is not a number")
            }
            let name = parameterNames[Int(index)]
            opt.state[name] = State(step: step, expAvg: try ck.floats(t.tensors[ai], name: name + ".exp_avg"),
                                    expAvgSq: try ck.floats(t.tensors[bi], name: name + ".exp_avg_sq"))
        }
        return opt
    }
}
