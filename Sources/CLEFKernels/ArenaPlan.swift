import CLEFArch

/// Element counts of the float engine's arena buffers, computed ahead of time from the
/// architecture (the integer engines slice their blocks: `QuantArenaPlan`).
public struct ArenaPlan {
    /// The two residual buffers the blocks ping-pong between: A holds the stem output and the
    /// outputs of blocks 1, 3, ...; B the outputs of blocks 0, 2, ... (so B, which never holds the
    /// long stem output, is half A's size in Net1D).
    public var activationA = 0, activationB = 0
    /// conv1 and conv2 outputs, Swish outputs (`act`), the prepared (padded / phase-split) conv2
    /// input, the stem's prepared input, SE vectors.
    public var mid1 = 0, mid2 = 0, act = 0, prepared = 0, stemPrepared = 0, seVector = 0

    public init(config: Net1DConfig, maxLength: Int) {
        let stem = ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                             kernel: config.kernelSize, stride: 2)
        var len = stem.outLength(maxLength)
        stemPrepared = stem.preparedCount(maxLength)
        activationA = config.baseFilters * len
        for (i, b) in config.blocks.enumerated() {
            let c2 = ConvShape(inChannels: b.middleChannels, outChannels: b.middleChannels, groups: b.groups,
                               kernel: b.kernelSize, stride: b.stride)
            let lo = c2.outLength(len)
            // Swish(block input) only where the block applies it (not the first), and the conv outputs.
            act = max(act, b.activateInput ? b.inChannels * len : 0, b.middleChannels * len)
            prepared = max(prepared, c2.preparedCount(len))
            mid1 = max(mid1, b.middleChannels * len)
            mid2 = max(mid2, b.middleChannels * lo)
            if i % 2 == 0 { activationB = max(activationB, b.outChannels * lo) } else { activationA = max(activationA, b.outChannels * lo) }
            seVector = max(seVector, b.outChannels)
            len = lo
        }
    }
}
