import CLEFArch

/// Element counts of every arena buffer, computed ahead of time from the architecture.
public struct ArenaPlan {
    /// int16: residual in/out, conv1 and conv2 outputs, stem input; Act: Swish codes and the
    /// prepared (padded) conv2 input; int32: SE vectors.
    public var activation = 0, mid1 = 0, mid2 = 0, act = 0, prepared = 0, stemPrepared = 0, seVector = 0

    public init(config: Net1DConfig, maxLength: Int) {
        let stem = ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                             kernel: config.kernelSize, stride: 2)
        var len = stem.outLength(maxLength)
        stemPrepared = stem.preparedCount(maxLength)
        activation = config.baseFilters * len
        for b in config.blocks {
            let c2 = ConvShape(inChannels: b.middleChannels, outChannels: b.middleChannels, groups: b.groups,
                               kernel: b.kernelSize, stride: b.stride)
            let lo = c2.outLength(len)
            act = max(act, b.inChannels * len, b.middleChannels * len)
            // The prepared conv2 input, or a transposed 1x1 input (the integer kernels' layout).
            prepared = max(prepared, c2.preparedCount(len), b.inChannels * len, b.middleChannels * len)
            mid1 = max(mid1, b.middleChannels * len)
            mid2 = max(mid2, b.middleChannels * lo)
            activation = max(activation, b.inChannels * len, b.outChannels * lo)
            seVector = max(seVector, b.outChannels)
            len = lo
        }
    }

    /// Total bytes of the integer engines' arena with `actBytes` per Swish code (their conv1 and
    /// conv2 outputs go straight to Swish codes, so `mid1` / `mid2` are float-engine buffers only).
    public func bytes(actBytes: Int) -> Int {
        (2 * activation + stemPrepared) * 2 + (act + prepared) * actBytes + seVector * 3 * 4
    }
}
