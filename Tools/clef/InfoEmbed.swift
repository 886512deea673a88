import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFBlob
import CLEFEngine
import CLEFQuant

enum Info {
    static func run(_ args: [String]) throws {
        let o = try Options(args, known: [])
        guard o.positional.count == 1 else { throw UsageError(description: "usage: clef info MODEL") }
        let path = o.positional[0]
        if ModelFile.isBlob(path) { return try blobInfo(path) }
        let m = try CheckpointModel(path: path)
        let ck = m.checkpoint
        print("file:        \(ck.path)")
        print("format:      \(ck.kind.rawValue) (torch zip, prefix '\(ck.prefix)', \(ck.zip.members.count) members, \(ck.file.count) bytes)")
        if ck.kind == .lightning { print("top level:   \(ck.topLevelKeys.joined(separator: ", "))") }
        print("size:        \(m.size.name) (in_channels \(m.config.inChannels), key prefix '\(m.keyPrefix)')")
        print("parameters:  \(m.config.parameterCount)")
        print("embedding:   \(m.config.embeddingDim)")
        print("tensors:     \(ck.stateDict.count) in state_dict")
        print("blocks:      \(m.config.blocks.count)")
        print("MACs/window: \(m.config.multiplyAccumulates(inputLength: 5000)) for (1,\(m.config.inChannels),5000)")
    }

    static func blobInfo(_ path: String) throws {
        let f = try ModelFile(path: path)
        let b = f.blob!
        let byType = Dictionary(grouping: b.tensors, by: { $0.dtype }).mapValues { $0.reduce(0) { $0 + $1.byteCount } }
        print("file:        \(path)")
        print("format:      CLEF weight blob v\(b.version), \(b.bytes.count) bytes, CRC-32 ok")
        print("precision:   \(b.precision.name)")
        print("size:        \(b.size.name) (in_channels \(b.config.inChannels), \(b.config.blocks.count) blocks)")
        print("parameters:  \(b.config.parameterCount) in the checkpoint (BatchNorm entries are not stored)")
        print("embedding:   \(b.config.embeddingDim)")
        print("tensors:     \(b.tensors.count) (" + byType.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key): \($0.value) B" }.joined(separator: ", ") + ")")
        let l = b.plannedLength
        print("peak RAM:    \(f.engine.arenaBytes(length: l)) bytes activation arena for windows of \(l) samples (weights read in place)")
        if b.precision == .q8 || b.precision == .q16 {
            print("             \(f.engine.arenaBytes(length: l, device: true)) bytes with a device's slice and chunk budgets (Firmware-Sim)")
        }
        if case .q8(let q) = f.engine, q.int8Outputs > 0 {
            let c = q.blocks[0].compand
            print("outputs:     blocks 0...\(q.int8Outputs - 1) int8 per channel, companded (knee \(c.knee), 2^\(c.shift) steps beyond); the rest int16")
            let tables = q.blocks.indices.filter { q.blocks[$0].inputLUT != nil }
            if !tables.isEmpty {
                let bytes = tables.reduce(0) { $0 + 256 * q.blocks[$1].spec.inChannels }
                print("input LUTs:  blocks \(tables.map(String.init).joined(separator: ", ")): the Swish of every int8 input code, \(bytes) B (checked at load)")
            }
        }
        if case .q16(let q) = f.engine, let last = q.blocks.lastIndex(where: { $0.outputChannels != nil }) {
            // The last block's tensor only carries its inputs' shortcut multipliers (one output scale).
            let n = last == q.blocks.count - 1 ? last - 1 : last
            print("outputs:     blocks 0...\(n) int16 with a scale per channel; the rest one scale per output")
        }
    }
}

enum Embed {
    static func run(_ args: [String]) throws {
        let o = try Options(args, known: ["model", "input", "shape", "output"])
        let modelPath = try o.required("model"), inputPath = try o.required("input")
        let outputPath = try o.required("output"), shapeText = try o.required("shape")
        let dims = shapeText.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 3, let n = dims[0], let c = dims[1], let l = dims[2], n >= 1, c >= 1, l >= 1 else {
            throw UsageError(description: "--shape must be N,C,L with positive integers, got '\(shapeText)'")
        }
        guard n.multipliedReportingOverflow(by: c * l).overflow == false, n * c * l <= 1 << 31 else {
            throw UsageError(description: "--shape \(shapeText) is too large")
        }
        let m = try ModelFile(path: modelPath)
        let config = m.engine.config
        guard c == config.inChannels else {
            throw UsageError(description: "--shape has C=\(c) but the model takes \(config.inChannels) input channel(s)")
        }
        if (m.engine.precision == .q8 || m.engine.precision == .q16) && l > QuantWorkspace<Int8>.maxWindowLength {
            throw UsageError(description: "--shape has L=\(l), above the integer engines' limit of \(QuantWorkspace<Int8>.maxWindowLength) samples")
        }
        let x = try RawFloat32.read(inputPath, expectedCount: n * c * l)
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw UsageError(description: "\(inputPath): value \(bad) is \(x[bad]); inputs must be finite")
        }
        let d = config.embeddingDim
        var y = [Float](repeating: 0, count: n * d)
        let ws = EngineWorkspace(engine: m.engine, maxLength: l)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for i in 0..<n {
                    m.engine.embed(xp.baseAddress! + i * c * l, length: l, workspace: ws, output: yp.baseAddress! + i * d)
                }
            }
        }
        try RawFloat32.write(y, to: outputPath)
    }
}
