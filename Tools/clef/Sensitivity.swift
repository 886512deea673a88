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
        let o = try Options(args, known: ["checkpoint", "calibration", "eval", "method", "max-windows"], repeatable: ["calibration", "eval"])
        let model = try CheckpointModel(path: try o.required("checkpoint"))
        guard let method = RangeMethod(rawValue: o.string("method") ?? "mse") else { throw UsageError(description: "bad --method") }
        let maxW = try o.int("max-windows", default: 12)
        let calib = try ECGWindows.load(o.all("calibration"), maxPerRecord: maxW).windows.map(\.window)
        let eval = try ECGWindows.load(o.all("eval"), maxPerRecord: maxW).windows.map(\.window)
        guard !calib.isEmpty, !eval.isEmpty else { throw UsageError(description: "needs --calibration and --eval records") }
        let stats = CalibrationStats(encoder: model.encoder, windows: calib)
        var fq = FakeQuant(encoder: model.encoder, stats: stats, method: method)
        let ref = Engine.f32(model.encoder).embedAll(eval)
        func report(_ label: String, _ bits: (ActivationPoint) -> Int?) {
            let f = Fidelity(reference: ref, candidate: fq.embed(eval, bits: bits))
            print(String(format: "%-44@ rel L2 mean %7.3f%%  worst %7.3f%%", label, 100 * f.relL2Mean, 100 * f.relL2Worst))
        }
        print("calibration \(calib.count) windows, evaluation \(eval.count) windows, method \(method.rawValue)")
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
