import CLEFArch
import CLEFFloat

/// Turns a checkpoint's state_dict into a Net1D float32 encoder, strictly: the architecture is
/// inferred from the shapes, and a missing or unexpected key or a wrong shape is an error that
/// names it (upstream loads with strict=False and silently keeps random weights; we never do).
public struct CheckpointModel {
    public let checkpoint: TorchCheckpoint
    public let size: ModelSize
    public let config: Net1DConfig
    /// The key prefix that was stripped ("backbone." or "").
    public let keyPrefix: String
    public let encoder: Net1DFloat

    public init(path: String) throws(CheckpointError) {
        try self.init(checkpoint: TorchCheckpoint(path: path))
    }

    public init(checkpoint ck: TorchCheckpoint) throws(CheckpointError) {
        checkpoint = ck
        func fail(_ field: String, _ reason: String) -> CheckpointError {
            CheckpointError(file: ck.path, field: field, reason: reason)
        }
        let keys = ck.stateDict.map(\.key)
        guard !keys.isEmpty else { throw fail("state_dict", "is empty") }
        let prefix = keys.contains { $0.hasPrefix("backbone.") } ? "backbone." : ""
        var tensors: [String: TensorRef] = [:]
        for (k, t) in ck.stateDict {
            guard k.hasPrefix(prefix) else {
                throw fail("state_dict", "unexpected key '\(k)' (other keys carry the prefix '\(prefix)'; this is not a plain CLEF encoder)")
            }
            tensors[String(k.dropFirst(prefix.count))] = t
        }
        keyPrefix = prefix
        // Infer size and input channels from the stem.
        guard let stem = tensors["first_conv.conv.weight"] else {
            let hint = keys.first { $0.hasSuffix("first_conv.conv.weight") }
            throw fail("state_dict", "missing key '\(prefix)first_conv.conv.weight'" +
                       (hint.map { " (found '\($0)': unrecognised key prefix)" } ?? ": not a CLEF Net1D checkpoint"))
        }
        guard stem.shape.count == 3, stem.shape[2] == 16, stem.shape[1] >= 1, stem.shape[1] <= 64,
              let size = Net1DConfig.size(forBaseFilters: stem.shape[0]) else {
            throw fail("state_dict['\(prefix)first_conv.conv.weight']",
                       "shape \(stem.shape) matches no CLEF size (expected [32|64|128, in_channels, 16])")
        }
        self.size = size
        config = Net1DConfig.preset(size, inChannels: stem.shape[1])
        // Strict key and shape check against the architecture.
        let specs = config.parameterSpecs
        var expected = Set<String>()
        for s in specs {
            expected.insert(s.name)
            guard let t = tensors[s.name] else {
                throw fail("state_dict", "missing key '\(prefix)\(s.name)' (a \(size.name) model needs it)")
            }
            guard t.shape == s.shape else {
                throw fail("state_dict['\(prefix)\(s.name)']", "shape \(t.shape), expected \(s.shape) for a \(size.name) model")
            }
        }
        for k in keys where !expected.contains(String(k.dropFirst(prefix.count))) {
            throw fail("state_dict", "unexpected key '\(k)' (not part of a \(size.name) CLEF encoder)")
        }
        // Read, pack and drop one tensor at a time, releasing its mapped pages afterwards, so the
        // weights are never resident twice.
        var readError: CheckpointError?
        let built: Net1DFloat?
        do {
            built = try Net1DFloat(config: config) { name in
                guard readError == nil, let t = tensors[name] else { return nil }
                do {
                    let v = try ck.floats(t, name: prefix + name)
                    ck.releasePages(of: t)
                    return v
                } catch let e as CheckpointError {
                    readError = e
                    return nil
                } catch {
                    readError = CheckpointError(file: ck.path, field: name, reason: "\(error)")
                    return nil
                }
            }
        } catch {
            if let readError { throw readError }
            throw fail("state_dict", "\(error)")
        }
        if let readError { throw readError }
        encoder = built!
    }

    /// Float weights of every state_dict entry the encoder uses, by name without prefix.
    public func weights() throws(CheckpointError) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for (k, t) in checkpoint.stateDict {
            let name = String(k.dropFirst(keyPrefix.count))
            if config.parameterSpecs.contains(where: { $0.name == name && $0.role == .weight }) {
                out[name] = try checkpoint.floats(t, name: k)
            }
        }
        return out
    }
}
