import CLEFArch
import CLEFKernels

/// The float32 reference encoder: every other engine is measured against it.
/// Weights are packed once at construction; `forward` allocates nothing (it works in a
/// `FloatWorkspace` sized ahead of time). Embedded-Swift-clean.

/// A tensor inside the forward pass: `block` -1 is the stem (its `.mid1` is the conv output before
/// Swish, `.output` the stem output); in a block, `.act1` = swish(input), `.mid1` = conv1,
/// `.act2` = swish(conv1), `.mid2` = conv2, `.act3` = swish(conv2), `.conv3` = conv3, then the
/// squeeze-excitation vectors and the block output.
public struct ActivationPoint: Equatable {
    public var block: Int
    public var kind: ActivationKind
    public init(block: Int, kind: ActivationKind) {
        self.block = block
        self.kind = kind
    }
}

/// Why a set of weights does not fit the architecture.
public enum WeightError: Error, Equatable {
    /// The tensor for `name` has `count` elements where the architecture needs `expected`.
    case wrongElementCount(name: String, count: Int, expected: Int)
}

/// One convolution with weights packed for `convPrepared`.
public struct FloatConvLayer {
    public let shape: ConvShape
    public let packed: [Float]
    public let bias: [Float]

    public init(shape: ConvShape, weight: [Float], bias: [Float]) {
        self.shape = shape
        var packed = [Float](repeating: 0, count: shape.packedCount)
        weight.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { packConvWeights(w.baseAddress!, shape: shape, into: $0.baseAddress!) }
        }
        self.packed = packed
        self.bias = bias
    }
}

public struct FloatBlock {
    public let spec: BlockSpec
    public let conv1: FloatConvLayer
    public let conv2: FloatConvLayer
    public let conv3: FloatConvLayer
    public let seFc1Weight: [Float], seFc1Bias: [Float]
    public let seFc2Weight: [Float], seFc2Bias: [Float]
}

public struct Net1DFloat {
    public let config: Net1DConfig
    public let stem: FloatConvLayer
    public let blocks: [FloatBlock]
    /// Round every stored activation to Float16 (the f16 engine's arithmetic).
    public var roundToHalf = false

    /// Builds the encoder, asking `tensors` for each weight by its state_dict name (no prefix).
    /// Every tensor's element count is checked against the architecture.
    public init(config: Net1DConfig, tensors: (String) -> [Float]?) throws(WeightError) {
        self.config = config
        func get(_ name: String, _ expected: Int) throws(WeightError) -> [Float] {
            let t = tensors(name) ?? []
            guard t.count == expected else {
                throw WeightError.wrongElementCount(name: name, count: t.count, expected: expected)
            }
            return t
        }
        func conv(_ prefix: String, _ shape: ConvShape) throws(WeightError) -> FloatConvLayer {
            let w = try get(prefix + ".conv.weight", shape.outChannels * shape.inPerGroup * shape.kernel)
            let b = try get(prefix + ".conv.bias", shape.outChannels)
            return FloatConvLayer(shape: shape, weight: w, bias: b)
        }
        stem = try conv("first_conv", ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters,
                                                groups: 1, kernel: config.kernelSize, stride: 2))
        var blocks: [FloatBlock] = []
        for spec in config.blocks {
            let p = spec.name
            let c = spec.outChannels
            blocks.append(FloatBlock(
                spec: spec,
                conv1: try conv(p + ".conv1", ConvShape(inChannels: spec.inChannels, outChannels: spec.middleChannels,
                                                        groups: 1, kernel: 1, stride: 1)),
                conv2: try conv(p + ".conv2", ConvShape(inChannels: spec.middleChannels, outChannels: spec.middleChannels,
                                                        groups: spec.groups, kernel: spec.kernelSize, stride: spec.stride)),
                conv3: try conv(p + ".conv3", ConvShape(inChannels: spec.middleChannels, outChannels: c,
                                                        groups: 1, kernel: 1, stride: 1)),
                seFc1Weight: try get(p + ".se_fc1.weight", c / 2 * c), seFc1Bias: try get(p + ".se_fc1.bias", c / 2),
                seFc2Weight: try get(p + ".se_fc2.weight", c * (c / 2)), seFc2Bias: try get(p + ".se_fc2.bias", c)))
        }
        self.blocks = blocks
    }

    public var embeddingDim: Int { config.embeddingDim }

    /// Embeds one window `input` [inChannels][length] into `output` [embeddingDim].
    public func forward(_ input: UnsafePointer<Float>, length: Int, workspace: FloatWorkspace,
                        output: UnsafeMutablePointer<Float>) {
        forwardDetailed(input, length: length, workspace: workspace, output: output) { _, _, _, _ in }
    }

    /// As `forward`, calling `observe(layerIndex, activations, channels, length)` with the stem
    /// output (index 0) and every block output (1...), as PyTorch's `forward_with_layers` names them.
    public func forward(_ input: UnsafePointer<Float>, length: Int, workspace ws: FloatWorkspace,
                        output: UnsafeMutablePointer<Float>,
                        observe: (Int, UnsafePointer<Float>, Int, Int) -> Void) {
        forwardDetailed(input, length: length, workspace: ws, output: output) { point, p, c, l in
            if point.kind == .output { observe(point.block + 1, p, c, l) }
        }
    }

    /// The forward pass reporting every intermediate tensor a quantizer needs (see
    /// `ActivationPoint`); `observe` may change the tensor in place (fake quantisation). With
    /// `roundToHalf`, every stored tensor is rounded to Float16 first, which is what an engine
    /// storing Float16 activations computes.
    public func forwardDetailed(_ input: UnsafePointer<Float>, length: Int, workspace ws: FloatWorkspace,
                                output: UnsafeMutablePointer<Float>,
                                observe: (ActivationPoint, UnsafeMutablePointer<Float>, Int, Int) -> Void) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        let half = roundToHalf
        @inline(__always) func stage(_ point: ActivationPoint, _ p: UnsafeMutablePointer<Float>, _ c: Int, _ l: Int) {
            if half { roundToFloat16(p, count: c * l) }
            observe(point, p, c, l)
        }
        var x = ws.bufA, o = ws.bufB
        markLayer(0)
        // Stem: conv k16 stride 2, Swish.
        var len = length
        let sl = stem.shape.outLength(len)
        let rl = prepareConvInput(input, channels: config.inChannels, length: len, shape: stem.shape, into: ws.prep)
        run(stem, ws.prep, rowLength: rl, outLength: sl, out: x)
        stage(ActivationPoint(block: -1, kind: .mid1), x, config.baseFilters, sl)
        swishInPlace(x, count: config.baseFilters * sl)
        len = sl
        stage(ActivationPoint(block: -1, kind: .output), x, config.baseFilters, len)

        for (bi, b) in blocks.enumerated() {
            markLayer(bi + 1)
            let spec = b.spec
            let lo = b.conv2.shape.outLength(len)
            // conv1 (1x1) on swish(x) (the first block skips that swish).
            var in1: UnsafePointer<Float> = UnsafePointer(x)
            if spec.activateInput {
                ws.prep.update(from: x, count: spec.inChannels * len)
                swishInPlace(ws.prep, count: spec.inChannels * len)
                stage(ActivationPoint(block: bi, kind: .act1), ws.prep, spec.inChannels, len)
                in1 = UnsafePointer(ws.prep)
            }
            run(b.conv1, in1, rowLength: len, outLength: len, out: ws.mid1)
            stage(ActivationPoint(block: bi, kind: .mid1), ws.mid1, spec.middleChannels, len)
            swishInPlace(ws.mid1, count: spec.middleChannels * len)
            stage(ActivationPoint(block: bi, kind: .act2), ws.mid1, spec.middleChannels, len)
            // conv2 (grouped, k taps, strided).
            let r2 = prepareConvInput(ws.mid1, channels: spec.middleChannels, length: len, shape: b.conv2.shape,
                                      into: ws.prep)
            run(b.conv2, ws.prep, rowLength: r2, outLength: lo, out: ws.mid2)
            stage(ActivationPoint(block: bi, kind: .mid2), ws.mid2, spec.middleChannels, lo)
            swishInPlace(ws.mid2, count: spec.middleChannels * lo)
            stage(ActivationPoint(block: bi, kind: .act3), ws.mid2, spec.middleChannels, lo)
            // conv3 (1x1), SE, shortcut.
            run(b.conv3, ws.mid2, rowLength: lo, outLength: lo, out: o)
            stage(ActivationPoint(block: bi, kind: .conv3), o, spec.outChannels, lo)
            b.seFc1Weight.withUnsafeBufferPointer { w1 in b.seFc1Bias.withUnsafeBufferPointer { b1 in
                b.seFc2Weight.withUnsafeBufferPointer { w2 in b.seFc2Bias.withUnsafeBufferPointer { b2 in
                    squeezeExcite(o, channels: spec.outChannels, length: lo, fc1Weight: w1.baseAddress!,
                                  fc1Bias: b1.baseAddress!, fc2Weight: w2.baseAddress!, fc2Bias: b2.baseAddress!,
                                  scratch: ws.small) { step, p, n in
                        stage(ActivationPoint(block: bi, kind: step), p, n, 1)
                    }
                } }
            } }
            addShortcut(x, inChannels: spec.inChannels, inLength: len, stride: spec.stride,
                        out: o, outChannels: spec.outChannels, outLength: lo)
            swap(&x, &o)
            len = lo
            stage(ActivationPoint(block: bi, kind: .output), x, spec.outChannels, len)
        }
        markLayer(blocks.count + 1)
        let d = config.embeddingDim
        let inv = 1 / Float(len)
        for c in 0..<d { output[c] = sum(x + c * len, count: len) * inv }
        markLayer(blocks.count + 2)
    }

    @inline(__always)
    private func run(_ layer: FloatConvLayer, _ prepared: UnsafePointer<Float>, rowLength: Int, outLength: Int,
                     out: UnsafeMutablePointer<Float>) {
        layer.packed.withUnsafeBufferPointer { w in
            layer.bias.withUnsafeBufferPointer { b in
                convPrepared(prepared, rowLength: rowLength, shape: layer.shape, outLength: outLength,
                             packedWeights: w.baseAddress!, bias: b.baseAddress!, out: out)
            }
        }
    }
}

/// Scratch memory for one forward pass of windows up to `maxLength` samples, sized from the
/// architecture ahead of time.
public final class FloatWorkspace {
    public let maxLength: Int
    let bufA: UnsafeMutablePointer<Float>
    let bufB: UnsafeMutablePointer<Float>
    let mid1: UnsafeMutablePointer<Float>
    let mid2: UnsafeMutablePointer<Float>
    let prep: UnsafeMutablePointer<Float>
    let small: UnsafeMutablePointer<Float>
    /// Total floats held, for memory reports.
    public let floatCount: Int

    public init(config: Net1DConfig, maxLength: Int) {
        self.maxLength = maxLength
        let plan = ArenaPlan(config: config, maxLength: maxLength)
        // The float path keeps swish(x) in `prep` too, so it holds the largest of the three.
        let mid1 = plan.mid1, mid2 = plan.mid2, small = plan.seVector * 3 / 2
        let prep = max(plan.stemPrepared, plan.act, plan.prepared)
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        bufA = alloc(plan.activationA); bufB = alloc(plan.activationB); self.mid1 = alloc(mid1); self.mid2 = alloc(mid2)
        self.prep = alloc(prep); self.small = alloc(small)
        floatCount = plan.activationA + plan.activationB + mid1 + mid2 + prep + small
    }

    deinit {
        bufA.deallocate(); bufB.deallocate(); mid1.deallocate(); mid2.deallocate()
        prep.deallocate(); small.deallocate()
    }
}

extension Net1DFloat {
    /// Embeds `count` windows stored back to back as [count][inChannels][length] into
    /// [count][embeddingDim], reusing one workspace.
    public func embedBatch(_ input: UnsafePointer<Float>, count: Int, length: Int,
                           workspace: FloatWorkspace, output: UnsafeMutablePointer<Float>) {
        let stride = config.inChannels * length
        for i in 0..<count {
            forward(input + i * stride, length: length, workspace: workspace, output: output + i * embeddingDim)
        }
    }
}
