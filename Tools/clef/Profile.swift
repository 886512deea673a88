import Foundation
import CLEFArch
import CLEFBlob
import CLEFQuant
import CLEFEngine

/// `clef profile`: latency, energy and memory of a blob on a device profile, from exact
/// instruction counts of the firmware image under QEMU (Firmware-Sim/count.py) and a stated
/// cycles-per-instruction assumption per core (Firmware-Sim/profiles/*.json).
enum Profile {
    static func run(_ args: [String]) throws {
        let o = try Options(args, flags: ["qemu"], known: ["model", "device", "hop", "preprocess"])
        let device = o.string("device") ?? "nrf52840"
        let profilePath = Stream.bundled("Firmware-Sim/profiles/\(device).json")
        guard let pd = FileManager.default.contents(atPath: profilePath),
              let profile = try JSONSerialization.jsonObject(with: pd) as? [String: Any] else {
            let known = (try? FileManager.default.contentsOfDirectory(atPath: Stream.bundled("Firmware-Sim/profiles")))?
                .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted().joined(separator: ", ") ?? "none found"
            throw UsageError(description: "\(profilePath): no such device profile (known: \(known))")
        }
        let model = o.string("model") ?? Stream.bundled(Stream.defaultModel)
        let file = try ModelFile(path: model)
        let precision = file.engine.precision
        guard [.q8, .q16, .f16].contains(precision) else {
            throw UsageError(description: "\(model): a \(precision.name) model; the firmware runs q8, q16 or f16 blobs (clef export --precision ...)")
        }
        let preprocess = o.string("preprocess") ?? "float32"
        guard ["float32", "exact", "fixed"].contains(preprocess) else { throw UsageError(description: "--preprocess must be float32, fixed or exact") }
        let hopText = o.string("hop") ?? "1s"
        guard let hopSeconds = hopText.hasSuffix("ms") ? Double(hopText.dropLast(2)).map({ $0 / 1000 })
                : hopText.hasSuffix("s") ? Double(hopText.dropLast()) : Double(hopText).map({ $0 / 500 }),
              hopSeconds > 0 else { throw UsageError(description: "--hop takes a time (1s, 250ms) or a sample count") }
        let target = profile["counts"] as? String ?? "m4"
        let countsPath = Stream.bundled("Firmware-Sim/counts/\(target)-\(precision.name)-\(preprocess).json")
        if o.flag("qemu") {
            // A fresh measurement of this very model (needs the cross tools and QEMU).
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", Stream.bundled("Firmware-Sim/count.py"), "--target", target, "--precision", precision.name,
                           "--preprocess", preprocess, "--model", model, "--clef", CommandLine.arguments[0]]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw UsageError(description: "Firmware-Sim/count.py failed (are the cross tools installed? see Firmware-Sim/README.md)") }
        }
        guard let cd = FileManager.default.contents(atPath: countsPath),
              let counts = try JSONSerialization.jsonObject(with: cd) as? [String: Any] else {
            throw UsageError(description: "\(countsPath): no recorded counts; run with --qemu (needs the cross tools)")
        }
        if !o.flag("qemu") {
            print("using the counts recorded on \(counts["date"] ?? "?") for \(counts["model"] ?? "?") (\(countsPath)); --qemu measures this model")
        }
        // Cycles per instruction: the image's own Cortex-M4 TRM timing model where the device's
        // core follows those timings and the counts record it (count.py), else the profile's.
        var cpi = profile["cpi"] as? Double ?? 1
        var cpiSource = "assumed in the device profile"
        if profile["cpi_model"] as? String == "m4", let m = counts["m4_model"] as? [String: Any], let c = (m["cpi"] as? NSNumber)?.doubleValue {
            cpi = c
            cpiSource = "the Cortex-M4 TRM timings of this image's window instructions (zero-wait memory; Firmware-Sim/image.py)"
        }
        let mhz = profile["clock_mhz"] as? Double ?? 1
        let current = profile["active_current_ma"] as? Double ?? 0, volts = profile["supply_v"] as? Double ?? 3
        let config = file.engine.config
        let layers = (counts["layers"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "?", ($0["instructions"] as? NSNumber)?.doubleValue ?? 0) }
        let macs = layerMACs(config, length: 5000)
        let tensors = layerTensorBytes(file.engine, length: 5000)
        func ms(_ instructions: Double) -> Double { instructions * cpi / (mhz * 1000) }
        print("\(profile["name"] ?? device): \(profile["core"] ?? "?") \(Int(mhz)) MHz, \(profile["ram_kb"] ?? "?") KB RAM, \(profile["flash_kb"] ?? "?") KB flash; \(precision.name) \(Net1DConfig.size(forBaseFilters: config.baseFilters).map { "\($0.name)" } ?? "") model, \(preprocess) preprocessing")
        func row(_ cells: [String]) -> String {
            let widths = [9, 10, 14, 10, 14, 10, 11]
            return zip(cells, widths).enumerated().map { i, cw in
                let (c, w) = cw
                let pad = String(repeating: " ", count: max(0, w - c.count))
                return i == 0 ? c + pad : pad + c
            }.joined(separator: " ")
        }
        print(row(["layer", "MACs", "instructions", "instr/MAC", "est. cycles", "ms", "live KB"]))
        var encoder = 0.0
        for (i, (name, n)) in layers.enumerated() {
            encoder += n
            let m = i < macs.count ? macs[i] : 0
            let t = i < tensors.count ? tensors[i] : 0
            print(row([name, "\(m)", String(format: "%.0f", n), m > 0 ? String(format: "%.2f", n / Double(m)) : "-",
                       String(format: "%.0f", n * cpi), String(format: "%.2f", ms(n)), String(format: "%.1f", Double(t) / 1024)]))
        }
        let totalMACs = macs.reduce(0, +)
        let window = (counts["window_instructions"] as? NSNumber)?.doubleValue ?? encoder
        let hopMs = hopSeconds * 1000
        print(row(["encoder", "\(totalMACs)", String(format: "%.0f", encoder), String(format: "%.2f", encoder / Double(max(1, totalMACs))),
                   String(format: "%.0f", encoder * cpi), String(format: "%.2f", ms(encoder)), ""]))
        print(String(format: "per hop (ring buffer, band-pass, z-score, quantisation, encoder): %.0f instructions, %.1f ms at CPI %.2f", window, ms(window), cpi)
              + " (\(cpiSource))")
        print(String(format: "hop %.3f s: duty cycle %.1f%%", hopSeconds, 100 * ms(window) / hopMs)
              + (ms(window) > hopMs ? " (does NOT keep up: a window takes longer than a hop)" : "")
              + String(format: "; energy per window %.3f mJ (%.1f mA x %.1f V x %.1f ms)", current * volts * ms(window) / 1000, current, volts, ms(window)))
        let ram = counts["ram_bytes"] as? [String: Any] ?? [:]
        let heap = (ram["heap_peak"] as? NSNumber)?.intValue ?? 0, stack = (ram["stack_peak"] as? NSNumber)?.intValue ?? 0
        let stat = (ram["static"] as? NSNumber)?.intValue ?? 0
        let flash = counts["flash_bytes"] as? [String: Any] ?? [:]
        let code = (flash["code"] as? NSNumber)?.intValue ?? 0
        let blob = (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int).flatMap { $0 } ?? 0
        let blobBytes = model.hasSuffix(".clefw") ? blob : ((flash["blob"] as? NSNumber)?.intValue ?? 0)
        let ramTotal = heap + stack + stat, ramDevice = (profile["ram_kb"] as? Int ?? 0) * 1024
        let flashTotal = code + blobBytes, flashDevice = (profile["flash_kb"] as? Int ?? 0) * 1024
        func verdict(_ need: Int, _ have: Int) -> String {
            need <= have ? String(format: "fits, %.1f KB to spare", Double(have - need) / 1024)
                : String(format: "does NOT fit: %.1f KB over", Double(need - have) / 1024)
        }
        print(String(format: "RAM   %.1f KB measured in QEMU (heap %.1f: engine arena, ring buffer, preprocessing; stack %.1f; .data+.bss %.1f) of %d KB: ",
                     Double(ramTotal) / 1024, Double(heap) / 1024, Double(stack) / 1024, Double(stat) / 1024, ramDevice / 1024) + verdict(ramTotal, ramDevice))
        print(String(format: "flash %.1f KB (code %.1f, blob %.1f) of %d KB: ", Double(flashTotal) / 1024, Double(code) / 1024,
                     Double(blobBytes) / 1024, flashDevice / 1024) + verdict(flashTotal, flashDevice))
        // Cores without a float unit: point at the integer band-pass when its counts exist.
        if profile["fpu"] as? Bool == false, preprocess == "float32",
           let fd = FileManager.default.contents(atPath: Stream.bundled("Firmware-Sim/counts/\(target)-\(precision.name)-fixed.json")),
           let fixed = try JSONSerialization.jsonObject(with: fd) as? [String: Any],
           let w = (fixed["window_instructions"] as? NSNumber)?.doubleValue {
            print(String(format: "note: this core has no float unit; --preprocess fixed (the band-pass in integers) takes %.1f ms per hop instead of %.1f",
                         ms(w), ms(window)))
        }
        print("assumptions: \(profile["assumptions"] ?? "")")
    }

    /// MACs per firmware layer probe: the stem input's padding (0), every block (block 0 includes
    /// the stem, which the integer engines fuse into it), the final mean (0).
    static func layerMACs(_ c: Net1DConfig, length: Int) -> [Int] {
        var l = outLength(length, stride: 2)
        let stem = c.baseFilters * c.inChannels * c.kernelSize * l
        var out = [0]
        for (i, b) in c.blocks.enumerated() {
            let lo = outLength(l, stride: b.stride)
            out.append((i == 0 ? stem : 0) + b.middleChannels * b.inChannels * l
                       + b.middleChannels * (b.middleChannels / b.groups) * b.kernelSize * lo
                       + b.outChannels * b.middleChannels * lo + b.outChannels * b.outChannels / 2 * 2)
            l = lo
        }
        return out + [0]
    }

    /// Bytes live while each probe's layer runs. Integer engines: the part of the block buffer the
    /// block's input and output take (whole, time-major; int8 for q8's first blocks; block 0:
    /// its output and the stem's padded input), conv3's whole input, and the slice buffers of
    /// `QuantArenaPlan`. f16: the float engine's whole tensors (float32 arithmetic).
    static func layerTensorBytes(_ engine: Engine, length: Int) -> [Int] {
        let c = engine.config, precision = engine.precision
        var l = outLength(length, stride: 2)
        if precision == .f16 {
            var out = [length * 4 + c.baseFilters * l * 4]
            for b in c.blocks {
                let lo = outLength(l, stride: b.stride)
                out.append((b.inChannels * l + 2 * b.middleChannels * l + 2 * b.middleChannels * lo + b.outChannels * lo) * 4)
                l = lo
            }
            return out + [c.embeddingDim * l * 4]
        }
        let act = precision == .q8 ? 1 : 2
        let plan = engine.arenaPlan(length: length, device: true)!
        let slices = plan.sliceBytes(actBytes: act)
        var out = [plan.stemRows * 2]
        for i in c.blocks.indices {
            out.append(plan.blockExtent[i] + plan.middleBytes(block: i, actBytes: act) + slices)
        }
        for b in c.blocks { l = outLength(l, stride: b.stride) }
        return out + [c.embeddingDim * l * 2]
    }
}
