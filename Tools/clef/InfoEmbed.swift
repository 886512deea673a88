import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint

enum Info {
    static func run(_ args: [String]) throws {
        let o = try Options(args, known: [])
        guard o.positional.count == 1 else { throw UsageError(description: "usage: clef info MODEL") }
        let m = try CheckpointModel(path: o.positional[0])
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
        let m = try CheckpointModel(path: modelPath)
        guard c == m.config.inChannels else {
            throw UsageError(description: "--shape has C=\(c) but the model takes \(m.config.inChannels) input channel(s)")
        }
        let x = try RawFloat32.read(inputPath, expectedCount: n * c * l)
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw UsageError(description: "\(inputPath): value \(bad) is \(x[bad]); inputs must be finite")
        }
        let d = m.config.embeddingDim
        var y = [Float](repeating: 0, count: n * d)
        let ws = FloatWorkspace(config: m.config, maxLength: l)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                m.encoder.embedBatch(xp.baseAddress!, count: n, length: l, workspace: ws, output: yp.baseAddress!)
            }
        }
        try RawFloat32.write(y, to: outputPath)
    }
}
