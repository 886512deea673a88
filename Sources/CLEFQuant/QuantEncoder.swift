import CLEFArch
import CLEFKernels
import CLEFBlob

/// The integer-only Net1D encoder running in place from a q8 or q16 blob.
///
/// Precision plan (chosen by measurement, see docs/quantization.md): every convolution reads
/// `Act` codes (Int8 in q8, Int16 in q16) with a scale and zero point per input channel, folded
/// into the int8 per-output-channel weights and the biases; convolution outputs are requantised
/// to int16 pre-activations; Swish runs on int16 through an interpolated table, then each channel
/// is requantised to `Act`. The residual stream, conv3 outputs and the squeeze-excitation vectors
/// stay int16. No floating point and no allocation in `forward`. Embedded-Swift-clean.
public enum BlockParam: Int {
    /// Zero points: block input (residual), Swish(input), conv1, Swish(conv1), conv2,
    /// Swish(conv2), conv3, SE fc1, Swish(fc1), SE fc2, block output.
    case zInput = 0, zSwish1, zMid1, zSwish2, zMid2, zSwish3, zConv3, zHidden, zHiddenAct, zGate, zOutput
    /// Packed multipliers: SE mean (Q8 sum -> mean code), gate product, shortcut.
    case meanRequant, gateRequant, idRequant
    public static let count = 14
}

/// A Swish table (int16 -> int16) followed by a per-channel requantisation to `Act`.
public struct ActivationStep {
    public let table: LookupTable
    /// [channels][2]: zero point of the channel's `Act` code, packed multiplier from the table's scale.
    public let channelRequant: UnsafePointer<Int32>?
}

public struct QuantBlock {
    public let spec: BlockSpec
    public let conv1: QuantConv<Int8>
    public let conv2: QuantConv<Int8>
    public let conv3: QuantConv<Int8>
    public let fc1: QuantLinear
    public let fc2: QuantLinear
    public let params: UnsafePointer<Int32>
    /// nil for the very first block, whose conv1 reads the int16 stem output directly.
    public let act1: ActivationStep?
    public let act2: ActivationStep
    public let act3: ActivationStep
    public let swishSE: ActivationStep
    /// sigmoid as Q15 (0...32767).
    public let gate: ActivationStep

    @inline(__always) func p(_ k: BlockParam) -> Int32 { params[k.rawValue] }
}

public struct QuantEncoder<Act: QuantActivation> {
    public let config: Net1DConfig
    public let stem: QuantConv<Int16>
    /// Zero point of the stem conv output (int16).
    public let stemZero: Int32
    public let stemSwish: ActivationStep
    public let blocks: [QuantBlock]
    /// Real value of one unit of the int16 input (inputs are symmetric, zero point 0).
    public let inputScale: Float
    /// Real value of one unit of the int32 embedding codes.
    public let outputScale: Float

    public init(blob: BlobReader) throws(BlobError) {
        let want: BlobPrecision = Act.bitWidth == 8 ? .q8 : .q16
        guard blob.precision == want else {
            throw BlobError("precision", "blob is \(blob.precision.name), this engine runs \(want.name)")
        }
        config = blob.config
        func pairs(_ name: String, _ n: Int) throws(BlobError) -> UnsafePointer<Int32> {
            let p = blob.pointer(try blob.require(name, .i32, [n, 2]), as: Int32.self)
            for i in 0..<n where !requantIsValid(p[2 * i + 1]) {
                throw BlobError("tensor '\(name)'", "requantisation multiplier \(i) is out of range")
            }
            return p
        }
        func conv<W: FixedWidthInteger & SignedInteger>(_ p: String, _ shape: ConvShape, _: W.Type) throws(BlobError) -> QuantConv<W> {
            let w = try blob.require(p + ".weight", W.bitWidth == 8 ? .i8 : .i16, [shape.outChannels, shape.inPerGroup, shape.kernel])
            return QuantConv(shape: shape, weight: blob.pointer(w, as: W.self),
                             biasRequant: try pairs(p + ".bias_requant", shape.outChannels))
        }
        func linear(_ p: String, _ outCount: Int, _ inCount: Int) throws(BlobError) -> QuantLinear {
            let w = try blob.require(p + ".weight", .i8, [outCount, inCount])
            return QuantLinear(inCount: inCount, outCount: outCount, weight: blob.pointer(w, as: Int8.self),
                               biasRequant: try pairs(p + ".bias_requant", outCount))
        }
        func step(_ name: String, channels: Int?, outputZero: Int32) throws(BlobError) -> ActivationStep {
            guard let t = blob.tensor(name) else { throw BlobError("tensor '\(name)'", "missing") }
            guard t.dtype == .i16, t.shape.count == 1 else { throw BlobError("tensor '\(name)'", "is not an int16 table") }
            let d = blob.pointer(try blob.require(name + "_domain", .i32, [5]), as: Int32.self)
            guard LookupTable.isValid(count: t.shape[0], domain: d) else {
                throw BlobError("tensor '\(name)_domain'", "describes no valid table")
            }
            var rq: UnsafePointer<Int32>?
            if let channels {
                let p = try pairs(name + "_requant", channels)
                for c in 0..<channels where p[2 * c] < Int32(Act.min) || p[2 * c] > Int32(Act.max) {
                    throw BlobError("tensor '\(name)_requant'", "zero point \(c) is outside the \(Act.bitWidth)-bit range")
                }
                rq = p
            }
            return ActivationStep(table: LookupTable(knots: blob.pointer(t, as: Int16.self), count: Int32(t.shape[0]), domain: d,
                                                     outputZero: outputZero), channelRequant: rq)
        }
        stem = try conv("first_conv", ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                                                kernel: config.kernelSize, stride: 2), Int16.self)
        let sq = blob.pointer(try blob.require("stem.qparams", .i32, [2]), as: Int32.self)
        stemZero = sq[0]
        stemSwish = try step("stem.swish", channels: nil, outputZero: sq[1])
        var list: [QuantBlock] = []
        for spec in config.blocks {
            let n = spec.name, c = spec.outChannels, m = spec.middleChannels
            let qp = blob.pointer(try blob.require(n + ".qparams", .i32, [BlockParam.count]), as: Int32.self)
            func z(_ k: BlockParam) -> Int32 { qp[k.rawValue] }
            let b = QuantBlock(
                spec: spec,
                conv1: try conv(n + ".conv1", ConvShape(inChannels: spec.inChannels, outChannels: m, groups: 1, kernel: 1, stride: 1), Int8.self),
                conv2: try conv(n + ".conv2", ConvShape(inChannels: m, outChannels: m, groups: spec.groups, kernel: spec.kernelSize, stride: spec.stride), Int8.self),
                conv3: try conv(n + ".conv3", ConvShape(inChannels: m, outChannels: c, groups: 1, kernel: 1, stride: 1), Int8.self),
                fc1: try linear(n + ".se_fc1", c / 2, c), fc2: try linear(n + ".se_fc2", c, c / 2),
                params: qp,
                act1: spec.activateInput ? try step(n + ".swish1", channels: spec.inChannels, outputZero: z(.zSwish1)) : nil,
                act2: try step(n + ".swish2", channels: m, outputZero: z(.zSwish2)),
                act3: try step(n + ".swish3", channels: m, outputZero: z(.zSwish3)),
                swishSE: try step(n + ".swish_se", channels: nil, outputZero: z(.zHiddenAct)),
                gate: try step(n + ".sigmoid_gate", channels: nil, outputZero: 0))
            for k in [BlockParam.meanRequant, .gateRequant, .idRequant] where !requantIsValid(b.p(k)) {
                throw BlobError("tensor '\(n).qparams'", "multiplier \(k.rawValue) is out of range")
            }
            // Zero points are codes of int16 tensors (the kernels rely on it for 32-bit products).
            for k in 0..<BlockParam.meanRequant.rawValue where qp[k] < -32768 || qp[k] > 32767 {
                throw BlobError("tensor '\(n).qparams'", "zero point \(k) is outside the int16 range")
            }
            list.append(b)
        }
        blocks = list
        inputScale = blob.pointer(try blob.require("input.scale", .f32, [1]), as: Float.self).pointee
        outputScale = blob.pointer(try blob.require("output.scale", .f32, [1]), as: Float.self).pointee
        guard inputScale > 0, outputScale > 0 else { throw BlobError("input/output scale", "must be positive") }
    }

    public var embeddingDim: Int { config.embeddingDim }

    /// Embeds one window of int16 codes [inChannels][length] (value = code * inputScale) into
    /// int32 codes [embeddingDim] (value = code * outputScale).
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    public func forward(_ input: UnsafePointer<Int16>, length: Int, workspace ws: QuantWorkspace<Act>,
                        output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        var x = ws.bufA, o = ws.bufB
        var len = length
        markLayer(0)
        // Stem: int16 input, conv to int16, Swish table to the residual stream.
        let sl = stem.shape.outLength(len)
        stem.apply(input, length: len, padValues: nil, scratch: ws.stemPrep, accumulator: Int64.self, outZero: stemZero, out: x)
        for i in 0..<(config.baseFilters * sl) {
            x[i] = Int16(truncatingIfNeeded: stemSwish.table(Int32(x[i])))
        }
        len = sl
        for (bi, b) in blocks.enumerated() {
            markLayer(bi + 1)
            let spec = b.spec
            let lo2 = b.conv2.shape.outLength(len)
            // conv1 (1x1): on Swish(x) as Act codes, or on x itself in the first block; its output
            // goes straight through Swish to Act codes (the epilogue), as does conv2's.
            if let a1 = b.act1 {
                activate(a1, x, channels: spec.inChannels, length: len, inZero: b.p(.zInput), outZero: b.p(.zSwish1), into: ws.act)
                b.conv1.apply(UnsafePointer(ws.act), length: len, padValues: nil, scratch: ws.prep,
                              accumulator: Act.Accumulator.self, outZero: b.p(.zMid1), epilogue: b.act2, out: ws.act)
            } else {
                // The first block reads the int16 stem output (chunks copied into the stem's scratch).
                b.conv1.apply(UnsafePointer(x), length: len, padValues: nil, scratch: ws.stemPrep, accumulator: Int64.self,
                              outZero: b.p(.zMid1), epilogue: b.act2, out: ws.act)
            }
            // conv2 (grouped, strided) on Swish(conv1), padded with each channel's zero point.
            b.conv2.apply(UnsafePointer(ws.act), length: len, padValues: b.act2.channelRequant, scratch: ws.prep,
                          accumulator: Act.Accumulator.self, outZero: b.p(.zMid2), epilogue: b.act3, out: ws.act)
            // conv3 (1x1) on Swish(conv2).
            b.conv3.apply(UnsafePointer(ws.act), length: lo2, padValues: nil, scratch: ws.prep,
                          accumulator: Act.Accumulator.self, outZero: b.p(.zConv3), out: o)
            squeezeExcite(b, o, length: lo2, ws: ws)
            // y = zOut + rq((o - zConv3) * gate) + rq(shortcut - zInput), in place in o. The zero
            // points are int16 codes (checked at load) and the gate a Q15 table value, so the
            // product and the difference fit in 32 bits: one long multiply each.
            let zo = Int32(b.p(.zConv3)), zx = Int32(b.p(.zInput)), zy = Int64(b.p(.zOutput))
            let grq = b.p(.gateRequant), irq = b.p(.idRequant)
            let offset = (spec.outChannels - spec.inChannels) / 2
            let left = (spec.stride - 1) / 2
            for c in 0..<spec.outChannels {
                let gate = Int32(truncatingIfNeeded: clamp(Int64(ws.gates[c]), -32768, 32767))
                let row = o + c * lo2
                let ci = c - offset
                let src: UnsafeMutablePointer<Int16>? = (ci >= 0 && ci < spec.inChannels) ? x + ci * len : nil
                for t in 0..<lo2 {
                    var v = zy &+ requantize32((Int32(row[t]) &- zo) &* gate, grq)
                    if let src {
                        var id: Int32
                        if spec.stride == 1 {
                            id = Int32(src[t])
                        } else {
                            // Max-pool, kernel = stride, zero padding (code zInput), left pad (s-1)/2.
                            id = Int32.min
                            for j in 0..<spec.stride {
                                let i = t * spec.stride + j - left
                                let q = (i >= 0 && i < len) ? Int32(src[i]) : zx
                                if q > id { id = q }
                            }
                        }
                        v = v &+ requantize32(id &- zx, irq)
                    }
                    row[t] = Int16(truncatingIfNeeded: clamp(v, -32768, 32767))
                }
            }
            swap(&x, &o)
            len = lo2
        }
        // Final mean over time, in Q8 of the last block's scale.
        markLayer(blocks.count + 1)
        let zy = Int64(blocks[blocks.count - 1].p(.zOutput))
        for c in 0..<config.embeddingDim {
            var s: Int64 = 0
            let row = x + c * len
            for t in 0..<len { s = s &+ (Int64(row[t]) &- zy) }
            output[c] = Int32(truncatingIfNeeded: roundedDivide(s &* 256, Int64(len)))
        }
        markLayer(blocks.count + 2)
    }

    /// Swish table on int16 codes, then each channel requantised to its own `Act` scale.
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    func activate(_ a: ActivationStep, _ src: UnsafePointer<Int16>, channels: Int, length: Int, inZero: Int32,
                  outZero: Int32, into dst: UnsafeMutablePointer<Act>) {
        let rq = a.channelRequant!
        let lo = Int64(Act.min), hi = Int64(Act.max)
        for c in 0..<channels {
            let z = Int64(rq[2 * c]), m = rq[2 * c + 1]
            let s = src + c * length, d = dst + c * length
            for t in 0..<length {
                // Table values are int16 codes and so is the zero point: the difference fits 32 bits.
                let sw = a.table(Int32(s[t])) &- outZero
                d[t] = Act(truncatingIfNeeded: clamp(z &+ requantize32(sw, m), lo, hi))
            }
        }
    }

    func squeezeExcite(_ b: QuantBlock, _ o: UnsafeMutablePointer<Int16>, length: Int, ws: QuantWorkspace<Act>) {
        let c = b.spec.outChannels
        let zo = Int64(b.p(.zConv3))
        let mean = ws.seScratch, h = ws.seScratch + c
        for ch in 0..<c {
            var s: Int64 = 0
            let row = o + ch * length
            for t in 0..<length { s = s &+ (Int64(row[t]) &- zo) }
            let q = roundedDivide(s &* 256, Int64(length))
            mean[ch] = Int32(truncatingIfNeeded: clamp(requantize(q, b.p(.meanRequant)), -32768, 32767))
        }
        b.fc1.run(mean, outZero: b.p(.zHidden), lo: -32768, hi: 32767, out: h)
        for j in 0..<(c / 2) { h[j] = b.swishSE.table(h[j]) &- b.p(.zHiddenAct) }
        b.fc2.run(h, outZero: b.p(.zGate), lo: -32768, hi: 32767, out: mean)
        for ch in 0..<c { ws.gates[ch] = b.gate.table(mean[ch]) }
    }
}

/// round(a / b) for b > 0, halves rounded up, with floor division (exact for negative a).
@inline(__always)
public func roundedDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let n = 2 &* a &+ b, d = 2 &* b
    return n >= 0 ? n / d : -((-n &+ d &- 1) / d)
}

/// The integer engine's arena, sized from the architecture for windows up to `maxLength`.
public final class QuantWorkspace<Act: QuantActivation> {
    public let maxLength: Int
    let bufA: UnsafeMutablePointer<Int16>
    let bufB: UnsafeMutablePointer<Int16>
    let act: UnsafeMutablePointer<Act>
    let prep: UnsafeMutablePointer<Act>
    let stemPrep: UnsafeMutablePointer<Int16>
    let seScratch: UnsafeMutablePointer<Int32>
    let gates: UnsafeMutablePointer<Int32>
    /// Bytes of the arena (the peak activation memory of this engine).
    public let byteCount: Int

    public init(config: Net1DConfig, maxLength: Int) {
        self.maxLength = maxLength
        let plan = ArenaPlan(config: config, maxLength: maxLength)
        func alloc<T: FixedWidthInteger>(_ n: Int, _: T.Type) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        bufA = alloc(plan.activationA, Int16.self); bufB = alloc(plan.activationB, Int16.self)
        act = alloc(plan.act, Act.self); prep = alloc(max(plan.prepared, plan.chunkScratch), Act.self)
        // The stem's prepared input, then the first block's int16 1x1 input chunks.
        stemPrep = alloc(max(plan.stemPrepared, plan.chunkScratch), Int16.self)
        seScratch = alloc(plan.seVector * 2, Int32.self); gates = alloc(plan.seVector, Int32.self)
        byteCount = plan.bytes(actBytes: MemoryLayout<Act>.size)
    }

    deinit {
        bufA.deallocate(); bufB.deallocate(); act.deallocate()
        prep.deallocate(); stemPrep.deallocate(); seScratch.deallocate(); gates.deallocate()
    }
}

