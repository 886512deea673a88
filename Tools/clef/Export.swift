import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFBlob
import CLEFEngine
import CLEFQuant
import CLEFKernels
import CLEFExport
import CLEFData

/// `clef export`: checkpoint -> weight blob, with a size and fidelity report.
enum Export {
    static func run(_ args: [String]) throws {
        let o = try Options(args, flags: ["any-lead"], known: ["checkpoint", "precision", "calibration", "eval", "output", "method", "max-windows",
                                         "headroom8", "headroom16", "output-headroom", "int8-outputs", "compand", "headroom16-kind", "table-knots", "shared-table", "input-luts", "per-channel", "bias-correction", "gptq",
                                         "channel-outputs", "channel-headroom", "se-int4"],
                            repeatable: ["calibration", "eval"])
        let ckpt = try o.required("checkpoint"), out = try o.required("output")
        guard let precision = BlobPrecision.named(try o.required("precision")) else {
            throw UsageError(description: "--precision must be f32, f16, q8 or q16")
        }
        let methodName = o.string("method") ?? "mse"
        guard let method = RangeMethod(rawValue: methodName) else {
            throw UsageError(description: "--method must be one of \(RangeMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let maxWindows = try o.int("max-windows", default: 12)
        let model = try CheckpointModel(path: ckpt)
        let weights = try model.weights()
        var stats: CalibrationStats?
        let calibPaths = o.all("calibration")
        let (calib, skipped) = try ECGWindows.load(calibPaths, maxPerRecord: maxWindows, anyLead: o.flag("any-lead"))
        for s in skipped { FileHandle.standardError.write(Data("clef: note: \(s) has no lead I; skipped\n".utf8)) }
        if precision == .q8 || precision == .q16 {
            guard !calib.isEmpty else {
                throw UsageError(description: "--precision \(precision.name) needs --calibration PATH (WFDB records or folders with lead-I ECG)")
            }
            stats = CalibrationStats(encoder: model.encoder, windows: calib.map(\.window))
        }
        var options = Exporter.Options(precision: precision)
        options.method = method
        func double(_ n: String) throws -> Double? {
            guard let v = o.string(n) else { return nil }
            guard let d = Double(v), d >= 1, d <= 16 else { throw UsageError(description: "--\(n) must be a number in 1...16") }
            return d
        }
        func bool(_ n: String) throws -> Bool? {
            guard let v = o.string(n) else { return nil }
            guard v == "on" || v == "off" else { throw UsageError(description: "--\(n) must be on or off") }
            return v == "on"
        }
        if let h = try double("headroom8") { options.headroom8 = h }
        if let h = try double("headroom16") { options.headroom16 = h }
        if let h = try double("output-headroom") { options.outputHeadroom8 = h }
        if let t = o.string("int8-outputs") {
            guard options.precision == .q8, let v = Int(t), v >= 0 else {
                throw UsageError(description: "--int8-outputs needs a q8 export and a count >= 0")
            }
            options.int8Outputs = v
        }
        if let t = o.string("headroom16-kind") {
            // KIND=X,... : act1 mid1 act2 mid2 act3 conv3 seMean seHidden seHiddenAct seGate output
            let names: [String: ActivationKind] = ["act1": .act1, "mid1": .mid1, "act2": .act2, "mid2": .mid2, "act3": .act3,
                                                   "conv3": .conv3, "seMean": .seMean, "seHidden": .seHidden,
                                                   "seHiddenAct": .seHiddenAct, "seGate": .seGate, "output": .output]
            // KIND@A-B=X: blocks A...B only (-1 the stem); later entries win over earlier ones.
            for part in t.split(separator: ",") {
                let kv = part.split(separator: "=")
                let kb = kv.first.map { $0.split(separator: "@") } ?? []
                // A-B, A possibly negative: split at the last '-' that is not the first character.
                var range: [Int] = []
                if kb.count == 2, let dash = kb[1].dropFirst().lastIndex(of: "-"),
                   let a = Int(kb[1][..<dash]), let b = Int(kb[1][kb[1].index(after: dash)...]) { range = [a, b] }
                guard kv.count == 2, kb.count == 1 || range.count == 2, let k = names[String(kb[0])], let v = Double(kv[1]), v >= 1, v <= 16 else {
                    throw UsageError(description: "--headroom16-kind takes KIND[@A-B]=X,... with X in 1...16 and KIND one of \(names.keys.sorted().joined(separator: " "))")
                }
                options.headroom16For.append((k, range.count == 2 ? range[0]...max(range[0], range[1]) : Exporter.Options.allBlocks, v))
            }
        }
        if let t = o.string("compand") {
            let parts = t.split(separator: ",").compactMap { Int32($0) }
            guard parts.count == 2, Companding.isValid(knee: parts[0], shift: parts[1]) else {
                throw UsageError(description: "--compand must be KNEE,SHIFT with KNEE in 0...127 and SHIFT in 0...4")
            }
            options.compandKnee = parts[0]; options.compandShift = parts[1]
        }
        if let t = o.string("shared-table") {
            if t == "off" {
                options.sharedTable = nil
            } else {
                guard let v = Int(t), (16...4096).contains(v) else {
                    throw UsageError(description: "--shared-table must be off or 16...4096 (codes either side of 0)")
                }
                options.sharedTable = v
            }
        }
        if let b = try bool("input-luts") {
            guard precision == .q8 else { throw UsageError(description: "--input-luts is a q8 option") }
            options.inputLUTs = b
        }
        if let t = o.string("table-knots") {
            guard let v = Int(t), (3...65537).contains(v) else { throw UsageError(description: "--table-knots must be 3...65537") }
            options.tableKnots = v
        }
        if let b = try bool("per-channel") { options.perChannel8 = b; options.perChannel16 = b }
        if let b = try bool("bias-correction") { options.biasCorrection = b }
        if let b = try bool("channel-outputs") {
            guard precision == .q16 else { throw UsageError(description: "--channel-outputs is a q16 option") }
            options.channelOutputs16 = b
        }
        if let h = try double("channel-headroom") { options.channelHeadroom = h }
        if let t = o.string("se-int4") {
            // Stages whose squeeze-excitation linears get 4-bit weights: none, all, or indices.
            let stages = model.config.filterList.count
            let list = t == "none" ? [] : t == "all" ? Array(0..<stages) : t.split(separator: ",").compactMap { Int($0) }
            guard precision == .q8 || precision == .q16, t == "none" || t == "all" || list.count == t.split(separator: ",").count,
                  list.allSatisfy({ (0..<stages).contains($0) }) else {
                throw UsageError(description: "--se-int4 takes none, all or stage indices 0...\(stages - 1) (comma-separated), for q8 and q16")
            }
            options.seInt4Stages = Set(list)
        }
        // GPTQ rounding from the calibration windows' second moments; `sequential` adds error
        // feedback from the layers already quantised (the default for small q16, where it
        // measured better; for q8 it raised the worst window: docs/quantization.md). It re-runs
        // the encoder twice per convolution (small: 30 convs, about 40 s; medium: 78 convs of a
        // 70x larger model, so not by default).
        let gptq = o.string("gptq") ?? (precision == .q16 && model.size == .small ? "sequential" : "on")
        guard ["on", "off", "sequential"].contains(gptq) else { throw UsageError(description: "--gptq must be on, off or sequential") }
        let hessians = gptq == "on" && stats != nil ? LayerHessians(encoder: model.encoder, windows: calib.map(\.window)) : nil
        if gptq == "sequential" && stats != nil {
            // Two encoder passes per convolution and SE linear over every calibration window: say what that costs.
            let layers = 5 * model.config.blocks.count
            FileHandle.standardError.write(Data("clef: note: sequential GPTQ runs the encoder \(2 * layers) times over \(calib.count) windows (small: about 40 s for 165; --gptq on: one pass)\n".utf8))
        }
        let sequential = gptq == "sequential" && stats != nil
            ? SequentialMoments(reference: model.encoder, weights: weights, windows: calib.map(\.window)) : nil
        let bytes = try Exporter.export(weights: weights, config: model.config, size: model.size, options: options, calibration: stats,
                                        hessians: hessians, sequential: sequential)
        guard FileManager.default.createFile(atPath: out, contents: Data(bytes)) else {
            throw UsageError(description: "\(out): cannot write")
        }
        let f32Bytes = precision == .f32 ? bytes.count
            : try Exporter.export(weights: weights, config: model.config, size: model.size, options: Exporter.Options(precision: .f32), calibration: nil).count
        let file = try ModelFile(path: out)
        print("wrote \(out): \(precision.name) \(model.size.name), \(bytes.count) bytes (\(String(format: "%.3f", Double(bytes.count) / Double(f32Bytes)))x of the f32 blob, \(f32Bytes) bytes)")
        print("peak activation RAM: \(file.engine.arenaBytes(length: 5000)) bytes for a 5000-sample window")
        if stats != nil { print("calibration: \(calib.count) windows from \(calibPaths.joined(separator: " ")), range method \(method.rawValue)") }
        // Fidelity against the float32 checkpoint on held-out windows (--eval), else in-sample.
        let evalPaths = o.all("eval")
        var evalWindows = try ECGWindows.load(evalPaths, maxPerRecord: maxWindows).windows.map(\.window)
        var note = "held-out windows from \(evalPaths.joined(separator: " "))"
        if evalWindows.isEmpty {
            evalWindows = calib.map(\.window)
            note = "calibration windows (in-sample: pass --eval for held-out data)"
        }
        if !evalWindows.isEmpty {
            let ref = Engine.f32(model.encoder).embedAll(evalWindows)
            let got = file.engine.embedAll(evalWindows)
            print("fidelity vs f32 on \(note):")
            print("  \(Fidelity(reference: ref, candidate: got))")
            if let sequential, let sim = try? Net1DFloat(config: model.config, tensors: { sequential.current[$0] }) {
                print("  weights alone (float simulation): \(Fidelity(reference: ref, candidate: Engine.f32(sim).embedAll(evalWindows)))")
            }
        }
    }
}
