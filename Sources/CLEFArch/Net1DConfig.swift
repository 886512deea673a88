/// The Net1D architecture that CLEF pretrains, described as plain data so that every engine
/// (float, Float16, fixed point), the checkpoint reader and the weight-blob format agree on it.
/// Embedded-Swift-clean: no Foundation, no existentials.

/// The three published encoder sizes.
public enum ModelSize: UInt8, Sendable, CaseIterable {
    case small = 0, medium = 1, large = 2

    public var name: StaticString {
        switch self {
        case .small: return "small"
        case .medium: return "medium"
        case .large: return "large"
        }
    }
}

/// Hyper-parameters of one Net1D encoder (upstream `Net1D.__init__`).
public struct Net1DConfig: Equatable, Sendable {
    public var inChannels: Int
    public var baseFilters: Int
    /// Bottleneck ratio as a fraction numerator/denominator (0.5, 1.0, 1.5) so that the
    /// middle width `Int(out * ratio)` is computed exactly as Python does.
    public var ratioNumerator: Int
    public var ratioDenominator: Int
    public var filterList: [Int]
    public var blocksPerStage: [Int]
    public var groupsWidth: Int
    public var kernelSize: Int
    public var stageStride: Int

    public init(inChannels: Int, baseFilters: Int, ratioNumerator: Int, ratioDenominator: Int,
                filterList: [Int], blocksPerStage: [Int], groupsWidth: Int,
                kernelSize: Int = 16, stageStride: Int = 2) {
        self.inChannels = inChannels
        self.baseFilters = baseFilters
        self.ratioNumerator = ratioNumerator
        self.ratioDenominator = ratioDenominator
        self.filterList = filterList
        self.blocksPerStage = blocksPerStage
        self.groupsWidth = groupsWidth
        self.kernelSize = kernelSize
        self.stageStride = stageStride
    }

    public static func preset(_ size: ModelSize, inChannels: Int = 1) -> Net1DConfig {
        switch size {
        case .small:
            return Net1DConfig(inChannels: inChannels, baseFilters: 32, ratioNumerator: 1, ratioDenominator: 2,
                               filterList: [32, 64, 64, 128, 128, 256], blocksPerStage: [1, 1, 2, 2, 2, 2],
                               groupsWidth: 8)
        case .medium:
            return Net1DConfig(inChannels: inChannels, baseFilters: 64, ratioNumerator: 1, ratioDenominator: 1,
                               filterList: [64, 160, 160, 400, 400, 1024, 1024], blocksPerStage: [2, 2, 2, 3, 3, 4, 4],
                               groupsWidth: 16)
        case .large:
            return Net1DConfig(inChannels: inChannels, baseFilters: 128, ratioNumerator: 3, ratioDenominator: 2,
                               filterList: [128, 256, 256, 512, 512, 1024, 1024, 2048, 2048],
                               blocksPerStage: [2, 3, 3, 4, 4, 5, 5, 6, 6], groupsWidth: 32)
        }
    }

    /// The preset whose stem width is `baseFilters`, if any.
    public static func size(forBaseFilters baseFilters: Int) -> ModelSize? {
        for s in ModelSize.allCases where preset(s).baseFilters == baseFilters { return s }
        return nil
    }

    public var embeddingDim: Int { filterList[filterList.count - 1] }

    /// Every residual block in execution order.
    public var blocks: [BlockSpec] {
        var out: [BlockSpec] = []
        var inCh = baseFilters
        for (i, outCh) in filterList.enumerated() {
            for j in 0..<blocksPerStage[i] {
                let first = j == 0
                out.append(BlockSpec(stage: i, index: j, inChannels: first ? inCh : outCh, outChannels: outCh,
                                     middleChannels: outCh * ratioNumerator / ratioDenominator,
                                     groups: outCh / groupsWidth, kernelSize: kernelSize,
                                     stride: first ? stageStride : 1, downsample: first,
                                     activateInput: !(i == 0 && j == 0)))
            }
            inCh = outCh
        }
        return out
    }

    /// Time length after the stem and every stage: each stride-2 step gives ceil(L / 2).
    public func outputLength(inputLength: Int) -> Int {
        var l = outLength(inputLength, stride: 2)
        for b in blocks { l = outLength(l, stride: b.stride) }
        return l
    }

    /// All state_dict entries (without any `backbone.` prefix) with their shapes, in the order
    /// PyTorch's `state_dict()` lists them. BatchNorm entries exist but are never applied.
    public var parameterSpecs: [ParameterSpec] {
        var specs: [ParameterSpec] = []
        func conv(_ p: String, _ o: Int, _ i: Int, _ k: Int) {
            specs.append(ParameterSpec(name: p + ".conv.weight", shape: [o, i, k], role: .weight))
            specs.append(ParameterSpec(name: p + ".conv.bias", shape: [o], role: .weight))
        }
        func bn(_ p: String, _ c: Int) {
            specs.append(ParameterSpec(name: p + ".weight", shape: [c], role: .unusedParameter))
            specs.append(ParameterSpec(name: p + ".bias", shape: [c], role: .unusedParameter))
            specs.append(ParameterSpec(name: p + ".running_mean", shape: [c], role: .unusedBuffer))
            specs.append(ParameterSpec(name: p + ".running_var", shape: [c], role: .unusedBuffer))
            specs.append(ParameterSpec(name: p + ".num_batches_tracked", shape: [], role: .unusedBuffer))
        }
        func linear(_ p: String, _ o: Int, _ i: Int) {
            specs.append(ParameterSpec(name: p + ".weight", shape: [o, i], role: .weight))
            specs.append(ParameterSpec(name: p + ".bias", shape: [o], role: .weight))
        }
        conv("first_conv", baseFilters, inChannels, kernelSize)
        bn("first_bn", baseFilters)
        for b in blocks {
            let p = b.name
            bn(p + ".bn1", b.inChannels)
            conv(p + ".conv1", b.middleChannels, b.inChannels, 1)
            bn(p + ".bn2", b.middleChannels)
            conv(p + ".conv2", b.middleChannels, b.middleChannels / b.groups, b.kernelSize)
            bn(p + ".bn3", b.middleChannels)
            conv(p + ".conv3", b.outChannels, b.middleChannels, 1)
            linear(p + ".se_fc1", b.outChannels / 2, b.outChannels)
            linear(p + ".se_fc2", b.outChannels, b.outChannels / 2)
        }
        return specs
    }

    /// Trainable parameter count as `sum(p.numel() for p in model.parameters())` (BatchNorm
    /// weights included, buffers not).
    public var parameterCount: Int {
        var n = 0
        for s in parameterSpecs where s.role != .unusedBuffer { n += s.elementCount }
        return n
    }

    /// Multiply-accumulates of one forward pass of a single window (convolutions and SE
    /// linears), the figure that speed is quoted against.
    public func multiplyAccumulates(inputLength: Int) -> Int {
        var l = outLength(inputLength, stride: 2)
        var macs = baseFilters * inChannels * kernelSize * l
        for b in blocks {
            let lo = outLength(l, stride: b.stride)
            macs += b.middleChannels * b.inChannels * l
            macs += b.middleChannels * (b.middleChannels / b.groups) * b.kernelSize * lo
            macs += b.outChannels * b.middleChannels * lo
            macs += b.outChannels * b.outChannels / 2 * 2
            l = lo
        }
        return macs
    }
}

/// ceil(length / stride), the output length of a same-padded conv or pool.
@inline(__always)
public func outLength(_ length: Int, stride: Int) -> Int { (length + stride - 1) / stride }

/// (left, right) zero padding of a same conv: `ceil(L/s)` outputs, left gets the smaller half.
@inline(__always)
public func samePadding(length: Int, kernel: Int, stride: Int) -> (left: Int, right: Int) {
    let o = outLength(length, stride: stride)
    let total = max(0, (o - 1) * stride + kernel - length)
    return (total / 2, total - total / 2)
}

/// One bottleneck block: [swish] 1x1 -> swish -> grouped k-tap (strided) -> swish -> 1x1 -> SE,
/// plus a max-pool / channel-zero-padded shortcut.
public struct BlockSpec: Equatable, Sendable {
    public var stage: Int
    public var index: Int
    public var inChannels: Int
    public var outChannels: Int
    public var middleChannels: Int
    public var groups: Int
    public var kernelSize: Int
    public var stride: Int
    public var downsample: Bool
    /// False only for the very first block, which skips the input Swish.
    public var activateInput: Bool

    public var name: String { "stage_list.\(stage).block_list.\(index)" }
}

public struct ParameterSpec: Equatable, Sendable {
    public enum Role: Sendable { case weight, unusedParameter, unusedBuffer }
    public var name: String
    public var shape: [Int]
    public var role: Role
    public var elementCount: Int { shape.reduce(1, *) }
}
