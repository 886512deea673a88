import Foundation
import CLEFArch
import CLEFCheckpoint

/// Writes a PyTorch Lightning `.ckpt` (torch zip, pickle protocol 2, only the GLOBALs a
/// weights-only load allows): `backbone.`-prefixed state_dict with the BatchNorm entries,
/// AdamW `optimizer_states`, the scheduler in `lr_schedulers`, `epoch`, `global_step`. With
/// `weightsOnly` the optimiser and scheduler lists are empty: a third of the size, for embedding
/// and export (not for resuming).
public enum LightningCheckpointWriter {
    /// BatchNorm entries as a fresh module has them (never applied; kept so strict loads work).
    public static func defaultTensor(_ spec: ParameterSpec) -> [Float] {
        if spec.name.hasSuffix(".weight") || spec.name.hasSuffix(".running_var") { return [Float](repeating: 1, count: spec.elementCount) }
        return [Float](repeating: 0, count: spec.elementCount)
    }

    public static func write(path: String, config: Net1DConfig, params: [String: [Float]], optimizer: AdamW,
                             scheduler: CosineWarmRestarts, epoch: Int, globalStep: Int, loss: String,
                             weightsOnly: Bool = false) throws {
        var storages: [(key: String, bytes: [UInt8])] = []
        func floatStorage(_ v: [Float]) -> String {
            let key = "\(storages.count)"
            var b = [UInt8](); b.reserveCapacity(v.count * 4)
            for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { b += $0 } }
            storages.append((key, b))
            return key
        }
        var sd: [(String, PickleObject)] = []
        var names: [String] = []
        for s in config.parameterSpecs {
            if s.name.hasSuffix("num_batches_tracked") {
                let key = "\(storages.count)"
                storages.append((key, [UInt8](repeating: 0, count: 8)))
                sd.append(("backbone." + s.name, .tensor(key: key, dtype: .int64, shape: [])))
                continue
            }
            let v = params[s.name] ?? defaultTensor(s)
            precondition(v.count == s.elementCount, "tensor \(s.name) has \(v.count) elements, expected \(s.elementCount)")
            sd.append(("backbone." + s.name, .tensor(key: floatStorage(v), dtype: .float32, shape: s.shape)))
            if s.role != .unusedBuffer { names.append(s.name) }
        }
        var state: [(Int, PickleObject)] = []
        for (i, n) in names.enumerated() where !weightsOnly {
            guard let st = optimizer.state[n] else { continue }
            state.append((i, .dict([("step", .tensor(key: floatStorage([Float(st.step)]), dtype: .float32, shape: [])),
                                    ("exp_avg", .tensor(key: floatStorage(st.expAvg), dtype: .float32, shape: config.parameterSpecs.first { $0.name == n }!.shape)),
                                    ("exp_avg_sq", .tensor(key: floatStorage(st.expAvgSq), dtype: .float32, shape: config.parameterSpecs.first { $0.name == n }!.shape))])))
        }
        let group = PickleObject.dict([
            ("lr", .float(scheduler.lr)), ("betas", .tuple([.float(optimizer.beta1), .float(optimizer.beta2)])),
            ("eps", .float(optimizer.eps)), ("weight_decay", .float(optimizer.weightDecay)), ("amsgrad", .bool(false)),
            ("maximize", .bool(false)), ("foreach", .none), ("capturable", .bool(false)), ("differentiable", .bool(false)),
            ("fused", .none), ("decoupled_weight_decay", .bool(true)), ("initial_lr", .float(scheduler.baseLR)),
            ("params", .list(names.indices.map { .int($0) }))])
        let sched = PickleObject.dict([
            ("T_0", .int(scheduler.t0)), ("T_i", .int(scheduler.tI)), ("T_mult", .int(scheduler.tMult)), ("eta_min", .float(scheduler.etaMin)),
            ("T_cur", .int(scheduler.tCur)), ("base_lrs", .list([.float(scheduler.baseLR)])), ("last_epoch", .int(epoch)),
            ("_step_count", .int(epoch + 1)), ("_is_initial", .bool(false)), ("_get_lr_called_within_step", .bool(false)),
            ("_last_lr", .list([.float(scheduler.lr)]))])
        let size = Net1DConfig.size(forBaseFilters: config.baseFilters).map { "\($0.name)" } ?? "small"
        let root = PickleObject.dict([
            ("epoch", .int(epoch)), ("global_step", .int(globalStep)), ("pytorch-lightning_version", .string("2.6.6")),
            ("state_dict", .orderedDict(sd)), ("loops", .dict([])), ("callbacks", .dict([])),
            ("optimizer_states", .list(weightsOnly ? [] : [.dict([("state", .intDict(state)), ("param_groups", .list([group]))])])),
            ("lr_schedulers", .list(weightsOnly ? [] : [sched])), ("hparams_name", .string("kwargs")),
            ("hyper_parameters", .dict([("size", .string(size)), ("in_channels", .int(config.inChannels)), ("loss", .string(loss)),
                                        ("temperature", .float(0.07)), ("lr", .float(scheduler.baseLR)),
                                        ("weight_decay", .float(optimizer.weightDecay)), ("beta1", .float(optimizer.beta1)),
                                        ("beta2", .float(optimizer.beta2)), ("t_0", .int(scheduler.t0)), ("t_mult", .int(scheduler.tMult)),
                                        ("eta_min", .float(scheduler.etaMin))])),
        ])
        let bytes = TorchArchiveWriter.archive(prefix: "archive", pickle: PickleWriter.encode(root), storages: storages)
        let tmp = path + ".partial"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
            throw CheckpointError(file: path, field: "file", reason: "cannot write")
        }
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
    }
}
