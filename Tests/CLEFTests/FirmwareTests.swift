import XCTest
import Foundation
import CLEFArch
import CLEFCheckpoint
import CLEFBlob
import CLEFQuant
import CLEFEngine
import CLEFExport
import CLEFData
import CLEFStream
import CLEFSignal

/// The firmware image (Firmware-Sim: Embedded Swift engine + stream, bare-metal start-up) under
/// QEMU against the host stream engine on the same blob and signal, bit for bit. Runs for each
/// target whose cross tools are installed (skips otherwise): Cortex-M4F (mps2-an386), Cortex-M7
/// (mps2-an500), RV32IMAC (virt). `CLEF_FIRMWARE_TARGETS` / `CLEF_FIRMWARE_PRECISIONS` narrow it.
final class FirmwareTests: XCTestCase {
    struct Target { let name: String; let tools: [String]; let qemu: [String] }
    static let targets = [
        Target(name: "m4", tools: ["arm-none-eabi-gcc", "qemu-system-arm"], qemu: ["qemu-system-arm", "-M", "mps2-an386"]),
        Target(name: "m7", tools: ["arm-none-eabi-gcc", "qemu-system-arm"], qemu: ["qemu-system-arm", "-M", "mps2-an500"]),
        Target(name: "rv32", tools: ["riscv64-unknown-elf-gcc", "qemu-system-riscv32"],
               qemu: ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]),
    ]

    static func onPath(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
    }

    static func run(_ args: [String], timeout: Double) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["timeout", "\(Int(timeout))"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Builds an image with `Firmware-Sim/build.sh TARGET ARGS OUT` and runs it under QEMU
    /// (semihosting): its exit status and output, or nil (a recorded failure) if it did not build.
    static func buildAndRun(_ t: Target, _ args: [String], out: String) throws -> (status: Int32, output: String)? {
        let build = try run(["bash", Fix.root.appendingPathComponent("Firmware-Sim/build.sh").path, t.name] + args + [out], timeout: 900)
        XCTAssertEqual(build.status, 0, "build \(t.name): \(build.output.suffix(3000))")
        guard build.status == 0 else { return nil }
        return try run(t.qemu + ["-nographic", "-monitor", "none", "-serial", "none",
                                 "-semihosting-config", "enable=on,target=native", "-kernel", out + "/fw.elf"], timeout: 300)
    }

    /// The CLEFDSP kernels on each target against plain int64 loops (Firmware-Sim/App/kernel_check.c):
    /// the DSP assembly runs only on the device, and the engines with the bundled model leave some of
    /// its paths unused (more than 4 rows a group, taps not a multiple of 4, stride 3); the output
    /// stages (CLEFDSP stage.c) over every table shift they take.
    func testKernelsMatchPlainLoopsOnEachTarget() throws {
        let targets = Self.targets.filter { $0.tools.allSatisfy(Self.onPath) }
        guard !targets.isEmpty else { throw XCTSkip("no cross tools / QEMU installed (see Firmware-Sim/README.md)") }
        for t in targets {
            guard let qemu = try Self.buildAndRun(t, ["--kernel-check"], out: Fix.temp("kernel-check-\(t.name)")) else { continue }
            let lines = qemu.output.split(separator: "\n").filter { $0.hasPrefix("kernel ") }
            XCTAssertEqual(qemu.status, 0, "\(t.name): \(qemu.output.suffix(2000))")
            XCTAssertEqual(lines.count, 28, "\(t.name): every entry point reports: \(qemu.output.suffix(2000))")
            for line in lines { XCTAssertTrue(line.hasSuffix(" 0 values differ"), "\(t.name): \(line)") }
            print("kernel check \(t.name): " + lines.joined(separator: "; "))
        }
    }

    /// Embeddings the image printed: one [UInt32] of float bit patterns per usable emission, with
    /// the emission's sample count.
    static func parse(_ text: String) -> [(samples: Int, bits: [UInt32])] {
        var out: [(Int, [UInt32])] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("E ") {
                let f = line.split(separator: " ")
                out.append((Int(f[1]) ?? -1, []))
            } else if line.hasPrefix("V "), !out.isEmpty {
                out[out.count - 1].1 += line.dropFirst(2).split(separator: " ").compactMap { UInt32($0, radix: 16) }
            }
        }
        return out
    }

    /// `clef profile` turns the recorded counts into milliseconds with the image's own Cortex-M4
    /// timing model (count.py's `m4_model`) on the M4/M33 devices, and with the device profile's
    /// assumed cycles per instruction elsewhere (no cross tools needed: recorded counts).
    func testProfileUsesTheRecordedCycleModel() throws {
        let blob = Fix.temp("profile-q8.clefw")
        let e = try Fix.runClef(["export", "--checkpoint", Fix.smallCkpt, "--precision", "q8", "--method", "minmax",
                                 "--calibration", Fix.path("ecg/cinc2021/E07500"), "--output", blob])
        XCTAssertEqual(e.status, 0, e.stderr)
        func recorded(_ name: String) throws -> [String: Any] {
            let data = try Data(contentsOf: Fix.root.appendingPathComponent("Firmware-Sim/counts/\(name).json"))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let m4 = try recorded("m4-q8-float32"), m7 = try recorded("m7-q8-float32")
        let window = try XCTUnwrap((m4["window_instructions"] as? NSNumber)?.doubleValue)
        let model = try XCTUnwrap(m4["m4_model"] as? [String: Any])
        let cpi = try XCTUnwrap((model["cpi"] as? NSNumber)?.doubleValue)
        let cycles = try XCTUnwrap((model["window_cycles"] as? NSNumber)?.doubleValue)
        XCTAssertEqual(cycles / window, cpi, accuracy: 1e-4)
        XCTAssertGreaterThan(cpi, 1); XCTAssertLessThan(cpi, 3)
        let n = try Fix.runClef(["profile", "--model", blob, "--device", "nrf52840"])
        XCTAssertEqual(n.status, 0, n.stderr)
        XCTAssertTrue(n.stdout.contains(String(format: "%.1f ms at CPI %.2f (the Cortex-M4 TRM", window * cpi / 64_000, cpi)), n.stdout)
        let w7 = try XCTUnwrap((m7["window_instructions"] as? NSNumber)?.doubleValue)
        let h = try Fix.runClef(["profile", "--model", blob, "--device", "stm32h743"])
        XCTAssertEqual(h.status, 0, h.stderr)
        XCTAssertTrue(h.stdout.contains(String(format: "%.1f ms at CPI 0.80 (assumed in the device profile)", w7 * 0.8 / 480_000)), h.stdout)
    }

    func testFirmwareMatchesTheHostBitForBit() throws {
        let env = ProcessInfo.processInfo.environment
        let wanted = env["CLEF_FIRMWARE_TARGETS"].map { $0.split(separator: " ").map(String.init) } ?? ["m4", "m7", "rv32"]
        let targets = Self.targets.filter { wanted.contains($0.name) && $0.tools.allSatisfy(Self.onPath) }
        guard !targets.isEmpty else { throw XCTSkip("no cross tools / QEMU installed (see Firmware-Sim/README.md)") }
        let precisions = (env["CLEF_FIRMWARE_PRECISIONS"] ?? "q8 q16 f16").split(separator: " ").compactMap { BlobPrecision.named(String($0)) }

        // Blobs of the bundled model, and a real handheld record streamed through the simulated ADC.
        let m = try CheckpointModel(path: Fix.path("clef-small-realecg/clef_small_realecg_swift.ckpt"))
        let calib = try ECGWindows.load([Fix.path("ecg/cinc2021/E07500"), Fix.path("ecg/cinc2021/HR06000")], maxPerRecord: 1).windows.map(\.window)
        let stats = CalibrationStats(encoder: m.encoder, windows: calib)
        let sim = try WearableSimulator(record: Fix.path("ecg/cinc2017/A00003"), seconds: 11)
        // The same record with a 30 mV electrode pop at 8 s, in both windows: band-passed and
        // z-scored it reaches about 25 standard deviations (input codes about 11 300, scipy), beyond
        // the stem's int32 bound (6 592 codes for the bundled model), so the int64 stem runs too.
        var pop = WearableSimulator.Faults()
        pop.spikes = [(8.0, 30.0)]
        let spiky = try WearableSimulator(record: Fix.path("ecg/cinc2017/A00003"), seconds: 11, faults: pop)
        let hop = 500
        // Every precision with the exact (training) band-pass on every target; q8 with the device
        // band-pass (float32 sections) on the Cortex-M4F, whose RAM is checked against 96 KB,
        // and with the integer sections on RV32 (no float unit).
        var cases = precisions.map { ($0, Preprocessing.exact, targets, sim) }
        if precisions.contains(.q8), let m4 = targets.first(where: { $0.name == "m4" }) {
            cases.append((.q8, .float32, [m4], sim))
            cases.append((.q8, .float32, [m4], spiky))
        }
        if precisions.contains(.q8), let rv = targets.first(where: { $0.name == "rv32" }) { cases.append((.q8, .fixedPoint, [rv], sim)) }

        for (p, preprocessing, caseTargets, sim) in cases {
            let tag = "\(preprocessing)" + (sim.faults.spikes.isEmpty ? "" : " with a spike")
            let signal = Fix.write(try sim.firmwareSignal(hop: hop, flags: UInt32(preprocessing.rawValue)),
                                   "fw-signal-\(preprocessing)\(sim.faults.spikes.isEmpty ? "" : "-spike").bin")
            var config = StreamConfig()
            config.hop = hop
            config.countsPerMillivolt = Float(sim.countsPerMillivolt)
            (config.adcMin, config.adcMax) = sim.rails
            config.preprocessing = preprocessing
            let bytes = try Exporter.export(weights: try m.weights(), config: m.config, size: .small,
                                            options: Exporter.Options(precision: p), calibration: stats)
            let blobPath = Fix.write(bytes, "fw-\(p.name).clefw")
            // Host reference: the same stream engine on the same counts.
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            defer { buf.deallocate() }
            bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
            let stream = StreamEngine(engine: try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf))), config: config)
            if !sim.faults.spikes.isEmpty {
                // Not vacuous: the stem's int32 bound is below 20 standard deviations of input.
                let bound = try QuantEncoder<Int8>(blob: try BlobReader(UnsafeRawBufferPointer(buf))).stemInt32Inputs
                XCTAssertLessThan(bound, Int64(20 * 32767 / 71), "stem int32 bound")
            }
            var host: [(Int, [UInt32])] = []
            for i in 0..<sim.count {
                guard case .counts(let c) = sim.sample(i) else { continue }
                if let e = stream.push(counts: c), e.usable {
                    host.append((e.sampleCount, (0..<m.config.embeddingDim).map { stream.embedding[$0].bitPattern }))
                }
            }
            XCTAssertEqual(host.count, 2)
            for t in caseTargets {
                guard let qemu = try Self.buildAndRun(t, [blobPath, signal], out: Fix.temp("fw-\(t.name)")) else { continue }
                XCTAssertEqual(qemu.status, 0, "\(t.name) \(p.name) \(tag): \(qemu.output.suffix(2000))")
                let fw = Self.parse(qemu.output)
                XCTAssertEqual(fw.count, host.count, "\(t.name) \(p.name): emissions")
                var differing = 0
                for (a, b) in zip(host, fw) {
                    XCTAssertEqual(a.0, b.samples)
                    XCTAssertEqual(b.bits.count, a.1.count)
                    differing += zip(a.1, b.bits).filter { $0 != $1 }.count
                }
                XCTAssertEqual(differing, 0, "\(t.name) \(p.name) \(tag): \(differing) embedding values differ from the host")
                let memory = qemu.output.split(separator: "\n").first { $0.hasPrefix("M ") }.map(String.init) ?? ""
                print("firmware \(t.name) \(p.name) \(tag): \(fw.count) windows, \(differing) values differ from the host; " + memory)
                // "M heap H stack S static T": q8 on the device band-pass must stay within the
                // issue's 96 KB (KiB), which leaves an nRF52840 160 KB for a radio stack
                // (docs/firmware.md, Memory).
                let words = memory.split(separator: " ")
                let ram = stride(from: 2, to: words.count, by: 2).compactMap { Int(words[$0]) }.reduce(0, +)
                XCTAssertGreaterThan(ram, 0, "\(t.name) \(p.name): no memory line")
                if preprocessing == .float32 { XCTAssertLessThanOrEqual(ram, 96 * 1024, "\(t.name) q8 RAM: " + memory) }
            }
        }
    }
}
