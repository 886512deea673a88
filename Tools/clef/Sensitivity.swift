import Foundation
import CLEFArch
import CLEFFloat
import CLEFKernels
import CLEFCheckpoint
import CLEFEngine
import CLEFExport
import CLEFData

/// `clef quant-sensitivity`: which tensors cost accuracy when quantised (float simulation), to
/// decide what a q8 blob keeps at 16 bits. A research tool; it changes nothing.
enum Sensitivity {
    static func run(_ args: [String]) throws {
        let o = try Options(args, flags: ["outputs-only", "outputs16"], known: ["checkpoint", "calibration", "eval", "method", "max-windows", "outputs-only", "outputs16"], repeatable: ["calibration", "eval"])
        let model = try CheckpointModel(path: try o.required("checkpoint"))
        guard let method = RangeMethod(rawValue: o.string("method") ?? "mse") else { throw UsageError(description: "bad --method") }
        let maxW = try o.int("max-windows", default: 12)
        let calib = try ECGWindows.load(o.all("calibration"), maxPerRecord: maxW).windows.map(\.window)
        let eval = try ECGWindows.load(o.all("eval"), maxPerRecord: maxW).windows.map(\.window)
        guard !calib.isEmpty, !eval.isEmpty else { throw UsageError(description: "needs --calibration and --eval records") }
        let stats = CalibrationStats(encoder: model.encoder, windows: calib)
        let ref = Engine.f32(model.encoder).embedAll(eval)
        var fq = FakeQuant(encoder: model.encoder, stats: stats, method: method)
        func report(_ label: String, _ bits: (ActivationPoint) -> Int?) {
            let f = Fidelity(reference: ref, candidate: fq.embed(eval, bits: bits))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", label, 100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        /// Only the largest block outputs at 8 bits per channel (blocks 0 and 1 in small: 80 KB each
        /// at int16, the firmware's peak pair), everything else float.
        func blockOutputs(_ headrooms: [Float]) {
            for h in headrooms {
                fq.headroom8 = h
                fq.perChannel = [.output]
                report("only block 0 output per-channel 8, h8=\(h)", { $0.kind == .output && $0.block == 0 ? 8 : nil })
                report("only block 1 output per-channel 8, h8=\(h)", { $0.kind == .output && $0.block == 1 ? 8 : nil })
                report("blocks 0+1 outputs per-channel 8, h8=\(h)", { $0.kind == .output && $0.block <= 1 ? 8 : nil })
                fq.perChannel = []
            }
        }
        print("calibration \(calib.count) windows, evaluation \(eval.count) windows, method \(method.rawValue)")
        if o.flag("outputs16") {
            for h: Float in [1.5, 2, 3] {
                fq.headroom16 = h
                report("only block outputs 16 per tensor, h16=\(h)", { $0.kind == .output ? 16 : nil })
                fq.perChannel = [.output]
                report("only block outputs 16 per channel, h16=\(h)", { $0.kind == .output ? 16 : nil })
                fq.perChannel = []
            }
            fq.headroom16For = { $0.kind == .output ? 2 : 3 }
            report("act1 16 per tensor h3", { $0.kind == .act1 ? 16 : nil })
            report("act1 16 h3 + output 16 per tensor h2", { $0.kind == .act1 || $0.kind == .output ? 16 : nil })
            fq.perChannel = [.output]
            report("act1 16 h3 + output 16 per channel h2", { $0.kind == .act1 || $0.kind == .output ? 16 : nil })
            fq.perChannel = []
            report("all 16 (out h2, rest h3) per tensor", { _ in 16 })
            fq.perChannel = [.output]
            report("all 16 (out h2 per channel, rest h3)", { _ in 16 })
            fq.perChannel = []
            // The other int16 tensors (x3), one at a time, per tensor and per channel.
            for k in [ActivationKind.mid1, .act2, .mid2, .act3, .conv3, .seMean, .seHidden, .seHiddenAct, .seGate] {
                report("only \(k) 16 per tensor h3", { $0.kind == k ? 16 : nil })
                fq.perChannel = [k]
                report("only \(k) 16 per channel h3", { $0.kind == k ? 16 : nil })
                fq.perChannel = []
            }
            return
        }
        if o.flag("outputs-only") {
            blockOutputs([1, 1.25, 1.5, 2, 2.5])
            return
        }
        // Weights only: int8 per output channel, and the same after folding per-input-channel
        // activation scales of the Swish outputs (as the q8/q16 engines do).
        let weights = try model.weights()
        /// Mean of the input of the layer whose weight is `name`, per input channel.
        func inputMean(_ name: String) -> [Double]? {
            guard let block = model.config.blocks.firstIndex(where: { name.hasPrefix($0.name + ".") }) else { return nil }
            let spec = model.config.blocks[block]
            let point: ActivationPoint
            if name.hasSuffix("conv1.conv.weight") {
                point = spec.activateInput ? ActivationPoint(block: block, kind: .act1) : ActivationPoint(block: block - 1, kind: .output)
            } else if name.hasSuffix("conv2.conv.weight") { point = ActivationPoint(block: block, kind: .act2) }
            else if name.hasSuffix("conv3.conv.weight") { point = ActivationPoint(block: block, kind: .act3) }
            else if name.hasSuffix("se_fc1.weight") { point = ActivationPoint(block: block, kind: .seMean) }
            else if name.hasSuffix("se_fc2.weight") { point = ActivationPoint(block: block, kind: .seHiddenAct) }
            else { return nil }
            return stats.point(point)?.channelMean
        }
        var biasCorrect = false
        var keepStem16 = false
        func quantized(fold: Bool, only: String? = nil, except: [String] = []) throws -> Net1DFloat {
            var q = weights
            for (name, w) in weights where name.hasSuffix("weight") && (only == nil || name.contains(only!))
                && !except.contains(where: { name.contains($0) }) {
                let spec = model.config.parameterSpecs.first { $0.name == name }!
                let outs = spec.shape[0], per = w.count / outs
                let taps = spec.shape.count == 3 ? spec.shape[2] : 1
                let kind: ActivationKind? = name.hasSuffix("conv1.conv.weight") ? .act1 : name.hasSuffix("conv2.conv.weight") ? .act2
                    : name.hasSuffix("conv3.conv.weight") ? .act3 : nil
                let block = model.config.blocks.firstIndex { name.hasPrefix($0.name + ".") }
                var full: [Float] = []
                if fold, let kind, let block, let st = stats.point(ActivationPoint(block: block, kind: kind)) {
                    full = zip(st.channelMin, st.channelMax).map { max($1, 0) - min($0, 0) }
                }
                var out = w
                for o in 0..<outs {
                    let g = full.isEmpty ? 0 : o / (outs / (full.count / (per / taps)))
                    func sc(_ i: Int) -> Float { full.isEmpty ? 1 : max(full[g * (per / taps) + i / taps], 1e-6) }
                    var m: Float = 0
                    for i in 0..<per { m = max(m, abs(w[o * per + i] * sc(i))) }
                    let levels: Float = (keepStem16 && name.hasPrefix("first_conv")) ? 32767 : 127
                    let st = m > 0 ? m / levels : 1
                    for i in 0..<per { out[o * per + i] = ((w[o * per + i] * sc(i)) / st).rounded() * st / sc(i) }
                }
                q[name] = out
                if biasCorrect, let mean = inputMean(name) {
                    let biasName = String(name.dropLast("weight".count)) + "bias"
                    var b = q[biasName]!
                    let cinG = per / taps
                    for o in 0..<outs {
                        let g = o / (outs / (mean.count / cinG))
                        var d = 0.0
                        for i in 0..<per { d += Double(out[o * per + i] - w[o * per + i]) * mean[g * cinG + i / taps] }
                        b[o] -= Float(d)
                    }
                    q[biasName] = b
                }
            }
            return try Net1DFloat(config: model.config) { q[$0] }
        }
        for part in ["first_conv", "conv1.", "conv2.", "conv3.", "se_fc1", "se_fc2"] {
            let f = Fidelity(reference: ref, candidate: Engine.f32(try quantized(fold: false, only: part)).embedAll(eval))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", "int8 weights of \(part) only", 100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        for b in 0..<model.config.blocks.count {
            let f = Fidelity(reference: ref, candidate: Engine.f32(try quantized(fold: false, only: model.config.blocks[b].name + ".")).embedAll(eval))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", "int8 weights of block \(b) only", 100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        keepStem16 = true
        for bc in [false, true] {
            biasCorrect = bc
            for fold in [false, true] {
                let f = Fidelity(reference: ref, candidate: Engine.f32(try quantized(fold: fold)).embedAll(eval))
                print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", "stem w16, int8 weights\(fold ? " folded" : "")\(bc ? " + bias corr" : "")", 100 * f.relL2Mean, 100 * f.relL2Worst))
            }
        }
        // What keeping some weights at 16 bits would buy (stem at 16 and bias correction, as q16 exports).
        let blockNames = model.config.blocks.map { $0.name + "." }
        for except in [["conv3."], ["conv2."], ["conv3.", "conv2."], [blockNames[5], blockNames[7]],
                       [blockNames[5], blockNames[7], blockNames[9]]] {
            biasCorrect = true
            let f = Fidelity(reference: ref, candidate: Engine.f32(try quantized(fold: false, except: except)).embedAll(eval))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", "stem w16, int8 + bias corr except \(except.joined(separator: " "))",
                         100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        keepStem16 = false; biasCorrect = false
        for fold in [false, true] {
            let f = Fidelity(reference: ref, candidate: Engine.f32(try quantized(fold: fold)).embedAll(eval))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", "int8 weights only\(fold ? ", folded act scales" : "")", 100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        report("all 16 bit (headroom 1.5)", { _ in 16 })
        let sixteen: Set<ActivationKind> = [.mid1, .mid2, .output]
        for h: Float in [1, 1.25] {
            fq.headroom8 = h
            report("8 bit act/SE, 16 bit mid+residual, h8=\(h)", { sixteen.contains($0.kind) ? 16 : 8 })
            report("... and conv3 at 16", { (sixteen.contains($0.kind) || $0.kind == .conv3) ? 16 : 8 })
            report("... and SE at 16", { [.act1, .act2, .act3].contains($0.kind) ? 8 : 16 })
            for k in [ActivationKind.act1, .act2, .act3, .conv3, .seGate] {
                report("  only \(k) at 8 (rest float), h8=\(h)", { $0.kind == k ? 8 : nil })
            }
        }
        fq.headroom8 = 1
        for h: Float in [1, 1.25, 1.5] {
            fq.headroom8 = h
            fq.perChannel = [.act1, .act2, .act3, .conv3]
            report("per-channel act+conv3 8 bit, 16 mid+res, h8=\(h)", { sixteen.contains($0.kind) ? 16 : 8 })
            report("... and SE at 16", { [.act1, .act2, .act3, .conv3].contains($0.kind) ? 8 : 16 })
            report("... and conv3 at 16", { [.act1, .act2, .act3].contains($0.kind) ? 8 : 16 })
            for k in [ActivationKind.act1, .act2, .act3, .conv3] {
                report("  only \(k) per-channel 8 (rest float)", { $0.kind == k ? 8 : nil })
            }
        }
        fq.perChannel = []
        // Int8 block outputs (the residual stream), the route to a smaller firmware arena: per
        // tensor and per channel, everything else float.
        for h: Float in [1, 1.25] {
            fq.headroom8 = h
            report("only output at 8 (rest float), h8=\(h)", { $0.kind == .output ? 8 : nil })
            fq.perChannel = [.output]
            report("only output per-channel 8 (rest float), h8=\(h)", { $0.kind == .output ? 8 : nil })
            fq.perChannel = []
        }
        blockOutputs([1, 1.25, 1.5])
        fq.headroom8 = 1
        report("all tensors 16 bit", { _ in 16 })
        report("all tensors 8 bit", { _ in 8 })
        let kinds: [ActivationKind] = [.act1, .mid1, .act2, .mid2, .act3, .conv3, .seMean, .seHidden, .seHiddenAct, .seGate, .output]
        for k in kinds {
            report("only \(k) at 8 bit", { $0.kind == k ? 8 : nil })
        }
        report("8 bit, block outputs (residual) at 16", { $0.kind == .output ? 16 : 8 })
        report("8 bit, residual + SE vectors at 16", { p in
            [.output, .seMean, .seHidden, .seHiddenAct, .seGate].contains(p.kind) ? 16 : 8 })
        // Per-block view of the worst kinds.
        for b in -1..<model.config.blocks.count {
            report("only block \(b) at 8 bit", { $0.block == b ? 8 : nil })
        }
    }
}
