import CLEFArch
import CLEFKernels
import CLEFBlob

/// The integer-only Net1D encoder running in place from a q8 or q16 blob: int8 weights
/// (per output channel), `Act` activations (Int8 for q8, Int16 for q16) with per-tensor
/// zero points, Swish and sigmoid through tables, squeeze-excitation means and the final mean in
/// integer arithmetic. No floating point and no allocation in `forward`. Embedded-Swift-clean.
///
/// Block parameters (`<block>.qparams`, int32[14]): see `BlockParam`.
public enum BlockParam: Int {
    case zInput = 0, zAct1, zMid1, zAct2, zMid2, zAct3, zConv3, zHidden, zHiddenAct, zGate, zOutput
    /// Packed multipliers: SE mean (Q8 sum -> mean code), gate product, shortcut.
    case meanRequant, gateRequant, idRequant
    public static let count = 14
}

public struct QuantBlock<Act: QuantActivation> {
    public let spec: BlockSpec
    public let conv1: QuantConv
    public let conv2: QuantConv
    public let conv3: QuantConv
    public let fc1: QuantLinear
    public let fc2: QuantLinear
    public let params: UnsafePointer<Int32>
    public let lutAct1: UnsafePointer<Act>?   // nil for the first block (no input Swish)
    public let lutAct2: UnsafePointer<Act>
    public let lutAct3: UnsafePointer<Act>
    public let lutSE: UnsafePointer<Act>
    /// sigmoid as Q15 (0...32767).
    public let lutGate: UnsafePointer<Int16>

    @inline(__always) func p(_ k: BlockParam) -> Int32 { params[k.rawValue] }
}

public struct QuantEncoder<Act: QuantActivation> {
    public let config: Net1DConfig
    public let stem: QuantConv
    /// (zero point of the stem conv output, zero point of the stem output).
    public let stemZeros: (Int32, Int32)
    public let stemLut: UnsafePointer<Act>
    public let blocks: [QuantBlock<Act>]
    /// Real value of one unit of the int16 input (inputs are symmetric, zero point 0).
    public let inputScale: Float
    /// Real value of one unit of the int32 embedding codes.
    public let outputScale: Float

    public init(blob: BlobReader) throws(BlobError) {
        let want: BlobPrecision = Act.lookupBits == 8 ? .q8 : .q16
        guard blob.precision == want else {
            throw BlobError("precision", "blob is \(blob.precision.name), this engine runs \(want.name)")
        }
        config = blob.config
        let lutN = lookupTableCount(bits: Act.lookupBits)
        /// Every packed multiplier (entry 1 of each pair) must be in range.
        func requantOK(_ pairs: UnsafePointer<Int32>, _ n: Int, _ name: String) throws(BlobError) {
            for i in 0..<n where !requantIsValid(pairs[2 * i + 1]) {
                throw BlobError("tensor '\(name).bias_requant'", "requantisation multiplier \(i) is out of range")
            }
        }
        func conv(_ p: String, _ shape: ConvShape) throws(BlobError) -> QuantConv {
            let w = try blob.require(p + ".weight", .i8, [shape.outChannels, shape.inPerGroup, shape.kernel])
            let r = try blob.require(p + ".bias_requant", .i32, [shape.outChannels, 2])
            try requantOK(blob.pointer(r, as: Int32.self), shape.outChannels, p)
            return QuantConv(shape: shape, weight: blob.pointer(w, as: Int8.self), biasRequant: blob.pointer(r, as: Int32.self))
        }
        func linear(_ p: String, _ outCount: Int, _ inCount: Int) throws(BlobError) -> QuantLinear {
            let w = try blob.require(p + ".weight", .i8, [outCount, inCount])
            let r = try blob.require(p + ".bias_requant", .i32, [outCount, 2])
            try requantOK(blob.pointer(r, as: Int32.self), outCount, p)
            return QuantLinear(inCount: inCount, outCount: outCount, weight: blob.pointer(w, as: Int8.self),
                               biasRequant: blob.pointer(r, as: Int32.self))
        }
        let actType: BlobDType = Act.lookupBits == 8 ? .i8 : .i16
        func lut(_ name: String) throws(BlobError) -> UnsafePointer<Act> {
            blob.pointer(try blob.require(name, actType, [lutN]), as: Act.self)
        }
        stem = try conv("first_conv", ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                                                kernel: config.kernelSize, stride: 2))
        let sp = blob.pointer(try blob.require("stem.qparams", .i32, [2]), as: Int32.self)
        stemZeros = (sp[0], sp[1])
        stemLut = try lut("stem.lut")
        var list: [QuantBlock<Act>] = []
        for spec in config.blocks {
            let n = spec.name, c = spec.outChannels, m = spec.middleChannels
            let b = QuantBlock(
                spec: spec,
                conv1: try conv(n + ".conv1", ConvShape(inChannels: spec.inChannels, outChannels: m, groups: 1, kernel: 1, stride: 1)),
                conv2: try conv(n + ".conv2", ConvShape(inChannels: m, outChannels: m, groups: spec.groups, kernel: spec.kernelSize, stride: spec.stride)),
                conv3: try conv(n + ".conv3", ConvShape(inChannels: m, outChannels: c, groups: 1, kernel: 1, stride: 1)),
                fc1: try linear(n + ".se_fc1", c / 2, c), fc2: try linear(n + ".se_fc2", c, c / 2),
                params: blob.pointer(try blob.require(n + ".qparams", .i32, [BlockParam.count]), as: Int32.self),
                lutAct1: spec.activateInput ? try lut(n + ".lut_act1") : nil,
                lutAct2: try lut(n + ".lut_act2"), lutAct3: try lut(n + ".lut_act3"),
                lutSE: try lut(n + ".lut_se"),
                lutGate: blob.pointer(try blob.require(n + ".lut_gate", .i16, [lutN]), as: Int16.self))
            for k in [BlockParam.meanRequant, .gateRequant, .idRequant] where !requantIsValid(b.p(k)) {
                throw BlobError("tensor '\(n).qparams'", "multiplier \(k.rawValue) is out of range")
            }
            list.append(b)
        }
        blocks = list
        let ins = try blob.require("input.scale", .f32, [1])
        let outs = try blob.require("output.scale", .f32, [1])
        inputScale = blob.pointer(ins, as: Float.self).pointee
        outputScale = blob.pointer(outs, as: Float.self).pointee
        guard inputScale > 0, outputScale > 0 else { throw BlobError("input/output scale", "must be positive") }
    }

    public var embeddingDim: Int { config.embeddingDim }

    /// Embeds one window of int16 codes [inChannels][length] (value = code * inputScale) into
    /// int32 codes [embeddingDim] (value = code * outputScale).
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    public func forward(_ input: UnsafePointer<Int16>, length: Int, workspace ws: QuantWorkspace<Act>,
                        output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        let bits = Act.lookupBits
        let lo = Int64(Act.min), hi = Int64(Act.max)
        var x = ws.bufA, o = ws.bufB
        var len = length
        // Stem: int16 input, conv, Swish table.
        let sl = stem.shape.outLength(len)
        let rl = prepareQuantInput(input, channels: config.inChannels, length: len, shape: stem.shape, padValue: 0,
                                   into: ws.stemPrep)
        stem.run(ws.stemPrep, rowLength: rl, outLength: sl, accumulator: Int64.self, outZero: stemZeros.0, out: x)
        applyTable(stemLut, x, count: config.baseFilters * sl, bits: bits)
        len = sl
        for b in blocks {
            let spec = b.spec
            let lo2 = b.conv2.shape.outLength(len)
            var in1: UnsafePointer<Act> = UnsafePointer(x)
            if let t = b.lutAct1 {
                ws.prep.update(from: x, count: spec.inChannels * len)
                applyTable(t, ws.prep, count: spec.inChannels * len, bits: bits)
                in1 = UnsafePointer(ws.prep)
            }
            b.conv1.run(in1, rowLength: len, outLength: len, accumulator: Act.Accumulator.self, outZero: b.p(.zMid1), out: ws.mid1)
            applyTable(b.lutAct2, ws.mid1, count: spec.middleChannels * len, bits: bits)
            let r2 = prepareQuantInput(ws.mid1, channels: spec.middleChannels, length: len, shape: b.conv2.shape,
                                       padValue: Act(truncatingIfNeeded: b.p(.zAct2)), into: ws.prep)
            b.conv2.run(ws.prep, rowLength: r2, outLength: lo2, accumulator: Act.Accumulator.self, outZero: b.p(.zMid2), out: ws.mid2)
            applyTable(b.lutAct3, ws.mid2, count: spec.middleChannels * lo2, bits: bits)
            b.conv3.run(ws.mid2, rowLength: lo2, outLength: lo2, accumulator: Act.Accumulator.self, outZero: b.p(.zConv3), out: o)
            // Squeeze-excitation gates (Q15) into ws.gates.
            squeezeExcite(b, o, length: lo2, ws: ws, bits: bits, lo: lo, hi: hi)
            // y = zOut + rq((o - zConv3) * gate) + rq(shortcut - zInput), in place in o.
            let zo = Int64(b.p(.zConv3)), zx = Int64(b.p(.zInput)), zy = Int64(b.p(.zOutput))
            let grq = b.p(.gateRequant), irq = b.p(.idRequant)
            let offset = (spec.outChannels - spec.inChannels) / 2
            for c in 0..<spec.outChannels {
                let gate = Int64(ws.gates[c])
                let row = o + c * lo2
                let ci = c - offset
                let src: UnsafeMutablePointer<Act>? = (ci >= 0 && ci < spec.inChannels) ? x + ci * len : nil
                for t in 0..<lo2 {
                    var v = zy &+ requantize((Int64(row[t]) &- zo) &* gate, grq)
                    if let src {
                        var id: Int64
                        if spec.stride == 1 {
                            id = Int64(src[t])
                        } else {
                            // Max-pool, kernel = stride, zero padding (code zInput), left pad (s-1)/2.
                            id = Int64.min
                            let left = (spec.stride - 1) / 2
                            for j in 0..<spec.stride {
                                let i = t * spec.stride + j - left
                                let q = (i >= 0 && i < len) ? Int64(src[i]) : zx
                                if q > id { id = q }
                            }
                        }
                        v = v &+ requantize(id &- zx, irq)
                    }
                    row[t] = Act(truncatingIfNeeded: clamp(v, lo, hi))
                }
            }
            swap(&x, &o)
            len = lo2
        }
        // Final mean over time, in Q8 of the last block's scale.
        let zy = Int64(blocks.last!.p(.zOutput))
        for c in 0..<config.embeddingDim {
            var s: Int64 = 0
            let row = x + c * len
            for t in 0..<len { s = s &+ (Int64(row[t]) &- zy) }
            output[c] = Int32(truncatingIfNeeded: roundedDivide(s &* 256, Int64(len)))
        }
    }

    @inline(__always)
    func applyTable(_ table: UnsafePointer<Act>, _ p: UnsafeMutablePointer<Act>, count: Int, bits: Int) {
        for i in 0..<count { p[i] = Act(truncatingIfNeeded: lookup(table, Int32(p[i]), bits: bits)) }
    }

    func squeezeExcite(_ b: QuantBlock<Act>, _ o: UnsafeMutablePointer<Act>, length: Int, ws: QuantWorkspace<Act>, bits: Int,
                       lo: Int64, hi: Int64) {
        let c = b.spec.outChannels
        let zo = Int64(b.p(.zConv3))
        let mean = ws.seScratch, h = ws.seScratch + c
        for ch in 0..<c {
            var s: Int64 = 0
            let row = o + ch * length
            for t in 0..<length { s = s &+ (Int64(row[t]) &- zo) }
            let q = roundedDivide(s &* 256, Int64(length))
            mean[ch] = Int32(truncatingIfNeeded: clamp(requantize(q, b.p(.meanRequant)), lo, hi))
        }
        b.fc1.run(mean, outZero: b.p(.zHidden), lo: lo, hi: hi, out: h)
        for j in 0..<(c / 2) { h[j] = lookup(b.lutSE, h[j], bits: bits) }
        b.fc2.run(h, outZero: b.p(.zGate), lo: lo, hi: hi, out: mean)
        for ch in 0..<c { ws.gates[ch] = lookup(b.lutGate, mean[ch], bits: bits) }
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
    let bufA: UnsafeMutablePointer<Act>
    let bufB: UnsafeMutablePointer<Act>
    let mid1: UnsafeMutablePointer<Act>
    let mid2: UnsafeMutablePointer<Act>
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
        bufA = alloc(plan.activation, Act.self); bufB = alloc(plan.activation, Act.self)
        mid1 = alloc(plan.mid1, Act.self); mid2 = alloc(plan.mid2, Act.self); prep = alloc(plan.prepared, Act.self)
        stemPrep = alloc(plan.stemPrepared, Int16.self)
        seScratch = alloc(plan.seVector * 2, Int32.self); gates = alloc(plan.seVector, Int32.self)
        byteCount = plan.bytes(activationBytes: MemoryLayout<Act>.size)
    }

    deinit {
        bufA.deallocate(); bufB.deallocate(); mid1.deallocate(); mid2.deallocate(); prep.deallocate()
        stemPrep.deallocate(); seScratch.deallocate(); gates.deallocate()
    }
}

/// Element counts of every arena buffer, computed ahead of time from the architecture.
public struct ArenaPlan {
    public var activation = 0, mid1 = 0, mid2 = 0, prepared = 0, stemPrepared = 0, seVector = 0

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
            prepared = max(prepared, b.inChannels * len, c2.preparedCount(len))
            mid1 = max(mid1, b.middleChannels * len)
            mid2 = max(mid2, b.middleChannels * lo)
            activation = max(activation, b.inChannels * len, b.outChannels * lo)
            seVector = max(seVector, b.outChannels)
            len = lo
        }
    }

    /// Total bytes with `activationBytes` per activation element (int16 stem input, int32 SE vectors).
    public func bytes(activationBytes: Int) -> Int {
        (2 * activation + mid1 + mid2 + prepared) * activationBytes + stemPrepared * 2 + seVector * 3 * 4
    }
}
