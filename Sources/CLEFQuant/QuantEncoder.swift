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
        // Symmetric int16 weights never use -32768; the kernels' exact pair sums rely on it.
        for i in 0..<(config.baseFilters * config.inChannels * config.kernelSize) where stem.weight[i] == Int16.min {
            throw BlobError("tensor 'first_conv.weight'", "weight \(i) is -32768, outside the symmetric int16 range")
        }
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
    ///
    /// Blocks run over time slices (`QuantWorkspace.rowBudget`): per slice, conv1's outputs go
    /// through Swish straight into zero-point-padded conv2 rows (the columns shared with the
    /// previous slice are carried over, nothing is computed twice), conv2's through Swish into a
    /// transposed chunk for conv3, conv3's into the block's output tensor, summed on the way for
    /// the squeeze-excitation; then the gate and the shortcut are applied in place. Only block
    /// inputs and outputs exist whole. The stem is fused into block 0: its output (the longest
    /// tensor) is computed a chunk at a time for conv1 and max-pooled on the way for block 0's
    /// shortcut. Every slicing gives the same bits.
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    public func forward(_ input: UnsafePointer<Int16>, length: Int, workspace ws: QuantWorkspace<Act>,
                        output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        for c in 0..<config.inChannels {
            inputRow(c, length: length, workspace: ws).update(from: input + c * length, count: length)
        }
        forwardPrepared(length: length, workspace: ws, output: output)
    }

    /// Where the int16 codes of input channel `c` go for `forwardPrepared`: straight into the
    /// stem's zero-padded rows (no separate input copy).
    public func inputRow(_ c: Int, length: Int, workspace ws: QuantWorkspace<Act>) -> UnsafeMutablePointer<Int16> {
        let (row, left) = stemRowGeometry(length)
        return ws.stemRows + c * row + left
    }

    /// Row length and left padding of the stem's input rows for a window of `length` samples.
    @inline(__always)
    func stemRowGeometry(_ length: Int) -> (Int, Int) {
        let row = (stem.shape.outLength(length) - 1) * stem.shape.stride + stem.shape.kernel
        return (row, max(0, row - length) / 2)
    }

    /// `forward` on codes already written through `inputRow`.
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    public func forwardPrepared(length: Int, workspace ws: QuantWorkspace<Act>, output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        markLayer(0)
        // Zero padding around each input row (the stem's output is produced on demand by `stemColumns`).
        let sl = stem.shape.outLength(length)
        let (stemRow, stemLeft) = stemRowGeometry(length)
        for c in 0..<config.inChannels {
            let row = ws.stemRows + c * stemRow
            for v in 0..<stemLeft { row[v] = 0 }
            for v in (stemLeft + length)..<stemRow { row[v] = 0 }
        }
        let stemInput = StemInput(rows: UnsafePointer(ws.stemRows), rowLength: stemRow)
        _ = UnsafeMutableRawPointer(ws.bufB).bindMemory(to: Int16.self, capacity: ws.bufferBCount)   // after any float use
        var x: UnsafeMutablePointer<Int16>? = nil, o = ws.bufB, other = ws.bufA
        var len = sl
        for (bi, b) in blocks.enumerated() {
            markLayer(bi + 1)
            runBlock(b, input: x.map { UnsafePointer($0) }, stem: stemInput, length: len, out: o, ws: ws)
            len = b.conv2.shape.outLength(len)
            x = o
            swap(&o, &other)
        }
        // Final mean over time, in Q8 of the last block's scale.
        markLayer(blocks.count + 1)
        let last = x!
        let zy = Int64(blocks[blocks.count - 1].p(.zOutput))
        for c in 0..<config.embeddingDim {
            var s: Int64 = 0
            let row = last + c * len
            for t in 0..<len { s = s &+ (Int64(row[t]) &- zy) }
            output[c] = Int32(truncatingIfNeeded: roundedDivide(s &* 256, Int64(len)))
        }
        markLayer(blocks.count + 2)
    }

    /// The stem's padded input rows.
    struct StemInput {
        let rows: UnsafePointer<Int16>
        let rowLength: Int
    }

    /// Stem outputs (after its Swish table) for steps i0 ..< i0 + n (n <= chunk), transposed:
    /// into[(i - i0) * baseFilters + c].
    @inline(__always)
    func stemColumns(_ si: StemInput, from i0: Int, count n: Int, into: UnsafeMutablePointer<Int16>) {
        stem.rows(si.rows + i0 * stem.shape.stride, rowLength: si.rowLength, count: n, t0: 0,
                  into: ConvOutput(into, channelStride: 1, timeStride: config.baseFilters, zero: stemZero, epilogue: stemSwish))
    }

    /// One block, input `x` [inChannels][length] (nil: the stem's output, computed on demand),
    /// output `o` [outChannels][outLength].
    func runBlock(_ b: QuantBlock, input x: UnsafePointer<Int16>?, stem si: StemInput, length len: Int,
                  out o: UnsafeMutablePointer<Int16>, ws: QuantWorkspace<Act>) {
        let spec = b.spec, m = spec.middleChannels, cin = spec.inChannels, cout = spec.outChannels
        let s = spec.stride, k = b.conv2.shape.kernel
        let lo2 = b.conv2.shape.outLength(len)
        let padded = (lo2 - 1) * s + k              // conv2's padded input length
        let left = max(0, padded - len) / 2
        let slice = ws.sliceOutputs(middle: m, stride: s, kernel: k, outLength: lo2)
        let width = (slice - 1) * s + k             // columns of one slice's conv2 rows
        let chunk = QuantConv<Int8>.chunk
        let rows = ws.rows, act2 = b.act2.channelRequant!
        let sums = ws.seSums
        for c in 0..<cout { sums[c] = 0 }
        if x == nil { startPool(b, length: len, outLength: lo2, ws: ws) }
        var done = 0, first = 0                     // padded columns [first, done) are in `rows`
        var t0 = 0
        while t0 < lo2 {
            let n = min(slice, lo2 - t0)
            let pa = t0 * s, pb = (t0 + n - 1) * s + k
            // Carry the columns shared with the previous slice to the front of each row.
            if done > pa {
                for c in 0..<m {
                    let r = rows + c * width
                    for j in 0..<(done - pa) { r[j] = r[pa - first + j] }
                }
            }
            let fresh = max(pa, done)
            // Padding columns: each channel's zero point (the code of Swish(conv1) = 0.0).
            for p in fresh..<pb where p - left < 0 || p - left >= len {
                for c in 0..<m { rows[c * width + p - pa] = Act(truncatingIfNeeded: act2[2 * c]) }
            }
            // conv1 on the real columns, a chunk at a time, through Swish into the rows.
            var i = max(fresh - left, 0)
            let iEnd = min(pb - left, len)
            let steps = x == nil ? chunk : QuantArenaPlan.chunkSteps(inputs: cin, actBytes: MemoryLayout<Act>.size)
            while i < iEnd {
                let nc = min(steps, iEnd - i)
                let dst = ConvOutput(rows + (i + left - pa), channelStride: width, timeStride: 1, zero: b.p(.zMid1), epilogue: b.act2)
                if let x {
                    // Swish(x) as Act codes, transposed [t][cin] (every block but the first activates its input).
                    let xc = ws.chunkInput
                    let a1 = b.act1!, rq = a1.channelRequant!
                    let lo = Int32(Act.min), hi = Int32(Act.max), zs = b.p(.zSwish1)
                    for c in 0..<cin {
                        // Table values and the zero point are int16 codes: the difference has 16 bits.
                        let z = rq[2 * c], mult = Requant32(rq[2 * c + 1], inputBits: 16), src = x + c * len + i
                        if mult.general {
                            for j in 0..<nc { xc[j * cin + c] = Act(truncatingIfNeeded: clamp32(z &+ mult(a1.table(Int32(src[j])) &- zs), lo, hi)) }
                        } else {
                            for j in 0..<nc { xc[j * cin + c] = Act(truncatingIfNeeded: clamp32(z &+ mult.fast(a1.table(Int32(src[j])) &- zs), lo, hi)) }
                        }
                    }
                    b.conv1.pointwise(UnsafePointer(xc), count: nc, t0: 0, into: dst)
                } else {
                    // The first block reads the stem's int16 output, and pools it for its shortcut.
                    stemColumns(si, from: i, count: nc, into: ws.stemChunk)
                    b.conv1.pointwise(UnsafePointer(ws.stemChunk), count: nc, t0: 0, into: dst)
                    pool(b, from: i, count: nc, outLength: lo2, ws: ws)
                }
                i += nc
            }
            first = pa
            done = pb
            // conv2 through Swish into a transposed chunk [t][m], then conv3 into the output.
            let s2 = ws.conv3Input
            b.conv2.rows(UnsafePointer(rows), rowLength: width, count: n, t0: 0,
                         into: ConvOutput(s2, channelStride: 1, timeStride: m, zero: b.p(.zMid2), epilogue: b.act3))
            var j = 0
            while j < n {
                let nc = min(chunk, n - j)
                b.conv3.pointwise(UnsafePointer(s2 + j * m), count: nc, t0: t0 + j,
                                  into: ConvOutput(o, channelStride: lo2, timeStride: 1, zero: b.p(.zConv3), sums: sums))
                j += nc
            }
            t0 += n
        }
        squeezeExcite(b, length: lo2, ws: ws)
        // The gate and the shortcut, in place: block 0's shortcut was pooled into A on the way.
        if let x {
            residual(b, o, outLength: lo2, shortcut: x, inputLength: len, pool: s, ws: ws)
        } else {
            residual(b, o, outLength: lo2, shortcut: UnsafePointer(ws.bufA), inputLength: lo2, pool: 1, ws: ws)
        }
    }

    /// Block 0's shortcut: the stem output's max-pool, kept in buffer A (free until block 1 writes
    /// it) as the stem columns are produced for conv1, so the stem runs once. Windows that reach
    /// into the padding start at its code (zInput), the others at the lowest code.
    func startPool(_ b: QuantBlock, length len: Int, outLength lo2: Int, ws: QuantWorkspace<Act>) {
        let s = b.spec.stride, left = (s - 1) / 2, zx = Int16(truncatingIfNeeded: b.p(.zInput))
        for t in 0..<lo2 {
            let padded = t * s - left < 0 || t * s - left + s > len
            let v = padded ? zx : Int16.min
            for c in 0..<b.spec.inChannels { ws.bufA[c * lo2 + t] = v }
        }
    }

    /// Folds stem columns i0 ..< i0 + n (transposed in `ws.stemChunk`) into block 0's pool.
    @inline(__always)
    func pool(_ b: QuantBlock, from i0: Int, count n: Int, outLength lo2: Int, ws: QuantWorkspace<Act>) {
        let s = b.spec.stride, left = (s - 1) / 2, width = config.baseFilters
        for j in 0..<n {
            let t = (i0 + j + left) / s
            if t >= lo2 { break }                    // the last columns may lie beyond every window
            let col = ws.stemChunk + j * width, dst = ws.bufA + t
            for c in 0..<width where col[c] > dst[c * lo2] { dst[c * lo2] = col[c] }
        }
    }

    /// y = zOut + rq((o - zConv3) * gate) + rq(shortcut - zInput), in place in o [outChannels][lo2].
    /// The shortcut is `src` [inChannels][inputLength] max-pooled by `pool` (kernel = stride, pads
    /// of code zInput, left pad (pool - 1) / 2), its channels zero-padded to the output's. The
    /// zero points are int16 codes (checked at load) and the gate a Q15 table value, so the
    /// product and the difference fit in 32 bits: one long multiply each.
    func residual(_ b: QuantBlock, _ o: UnsafeMutablePointer<Int16>, outLength lo2: Int, shortcut src: UnsafePointer<Int16>,
                  inputLength len: Int, pool s: Int, ws: QuantWorkspace<Act>) {
        let spec = b.spec
        let zo = Int32(b.p(.zConv3)), zx = Int32(b.p(.zInput)), zy = Int32(b.p(.zOutput))
        // (o - zConv3) * gate < 2^16 * 2^15 and shortcut - zInput < 2^16 (int16 codes, Q15 gate).
        let grq = Requant32(b.p(.gateRequant)), irq = Requant32(b.p(.idRequant), inputBits: 16)
        let offset = (spec.outChannels - spec.inChannels) / 2, left = (s - 1) / 2
        let fast = !grq.general && !irq.general
        for c in 0..<spec.outChannels {
            let gate = Int32(truncatingIfNeeded: clamp(Int64(ws.gates[c]), -32768, 32767))
            let row = o + c * lo2
            let ci = c - offset
            guard ci >= 0 && ci < spec.inChannels else {
                for t in 0..<lo2 { row[t] = sum16(zy, grq((Int32(row[t]) &- zo) &* gate), 0) }
                continue
            }
            let sc = src + ci * len
            if s == 1 {
                if fast {
                    for t in 0..<lo2 { row[t] = sum16(zy, grq.fast((Int32(row[t]) &- zo) &* gate), irq.fast(Int32(sc[t]) &- zx)) }
                } else {
                    for t in 0..<lo2 { row[t] = sum16(zy, grq((Int32(row[t]) &- zo) &* gate), irq(Int32(sc[t]) &- zx)) }
                }
                continue
            }
            // Windows inside the input need no bounds checks; the others see pads of code zInput.
            let first = (left + s - 1) / s, last = len + left - s   // window t is inside iff first <= t, t * s <= last
            let end = last < 0 ? first : max(first, min(lo2, last / s + 1))
            for t in 0..<lo2 where t < first || t >= end {
                var id = Int32.min
                for j in 0..<s {
                    let i = t * s - left + j
                    id = max(id, (i >= 0 && i < len) ? Int32(sc[i]) : zx)
                }
                row[t] = sum16(zy, grq((Int32(row[t]) &- zo) &* gate), irq(id &- zx))
            }
            if fast && s == 2 {
                for t in first..<end {
                    let i0 = 2 * t - left
                    row[t] = sum16(zy, grq.fast((Int32(row[t]) &- zo) &* gate), irq.fast(max(Int32(sc[i0]), Int32(sc[i0 + 1])) &- zx))
                }
                continue
            }
            for t in first..<end {
                let i0 = t * s - left
                var id = Int32(sc[i0])
                for j in 1..<s { id = max(id, Int32(sc[i0 + j])) }
                row[t] = sum16(zy, grq((Int32(row[t]) &- zo) &* gate), irq(id &- zx))
            }
        }
    }

    /// The gates from the conv3 sums collected in `ws.seSums`.
    func squeezeExcite(_ b: QuantBlock, length: Int, ws: QuantWorkspace<Act>) {
        let c = b.spec.outChannels
        let mean = ws.seScratch, h = ws.seScratch + c
        for ch in 0..<c {
            let q = roundedDivide(ws.seSums[ch] &* 256, Int64(length))
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

/// The integer engine's arena for windows up to `maxLength` samples. Only block inputs and
/// outputs are whole tensors (int16, two buffers the blocks ping-pong between); everything else is
/// a slice: conv2's padded input rows for `rowBudget` elements, conv3's transposed input, one
/// chunk of conv1 input or stem output, the stem's padded input, the squeeze-excitation vectors.
public final class QuantWorkspace<Act: QuantActivation> {
    public let maxLength: Int
    /// Elements of conv2 input rows (middle channels x columns) one slice may use: a smaller
    /// budget means less memory and more, shorter kernel calls; the results are the same.
    public let rowBudget: Int
    let bufA: UnsafeMutablePointer<Int16>
    let bufB: UnsafeMutablePointer<Int16>
    let bufferBCount: Int
    let rows: UnsafeMutablePointer<Act>
    let conv3Input: UnsafeMutablePointer<Act>
    let chunkRaw: UnsafeMutableRawPointer
    let stemRows: UnsafeMutablePointer<Int16>
    let seScratch: UnsafeMutablePointer<Int32>
    let seSums: UnsafeMutablePointer<Int64>
    let gates: UnsafeMutablePointer<Int32>
    /// Bytes of the arena (the peak activation memory of this engine).
    public let byteCount: Int

    /// Row budgets: 4 K elements on a device, where it saves 8 KB of RAM for 1.7% more
    /// instructions than 8 K (Cortex-M4F q8, docs/firmware.md); 8 K on a host.
    public static var deviceRowBudget: Int { 4096 }
    public static var hostRowBudget: Int { 8192 }

    /// The budget of this build: `deviceRowBudget` under Embedded Swift, else `hostRowBudget`.
    public static var defaultRowBudget: Int {
        #if hasFeature(Embedded)
        deviceRowBudget
        #else
        hostRowBudget
        #endif
    }

    /// A budget large enough for every block to run in one slice (the most memory, the fewest calls).
    public static func wholeRowBudget(config: Net1DConfig, maxLength: Int) -> Int {
        QuantArenaPlan(config: config, maxLength: maxLength, rowBudget: 0).wholeRows
    }

    public init(config: Net1DConfig, maxLength: Int, rowBudget: Int = QuantWorkspace.defaultRowBudget) {
        self.maxLength = maxLength
        let plan = QuantArenaPlan(config: config, maxLength: maxLength, rowBudget: rowBudget)
        self.rowBudget = plan.rowBudget
        func alloc<T: FixedWidthInteger>(_ n: Int, _: T.Type) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        bufA = alloc(plan.bufferA, Int16.self)
        // B is 16-byte aligned: before each window it lends itself out as float scratch.
        bufferBCount = max(plan.bufferB, 1)
        let bBytes = bufferBCount * 2
        let braw = UnsafeMutableRawPointer.allocate(byteCount: bBytes, alignment: 16)
        bufB = braw.initializeMemory(as: Int16.self, repeating: 0, count: bBytes / 2)
        rows = alloc(plan.rowBudget, Act.self); conv3Input = alloc(plan.conv3Input, Act.self)
        let chunkBytes = plan.chunkBytes(actBytes: MemoryLayout<Act>.size)
        chunkRaw = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 16)
        chunkRaw.initializeMemory(as: UInt8.self, repeating: 0, count: chunkBytes)
        stemRows = alloc(plan.stemRows, Int16.self)
        seScratch = alloc(plan.seVector * 2, Int32.self); seSums = alloc(plan.seVector, Int64.self)
        gates = alloc(plan.seVector, Int32.self)
        byteCount = plan.bytes(actBytes: MemoryLayout<Act>.size)
    }

    /// Floats that may be used until the next `forwardPrepared` (which overwrites them): buffer
    /// B, idle between windows, so a stream can preprocess its window inside the arena. nil when
    /// `count` floats do not fit.
    public func floatScratch(count: Int) -> UnsafeMutablePointer<Float>? {
        count * 4 <= bufferBCount * 2 ? UnsafeMutableRawPointer(bufB).bindMemory(to: Float.self, capacity: count) : nil
    }

    /// conv1's transposed input chunk (Swish codes) and the stem's output chunk share one buffer.
    var chunkInput: UnsafeMutablePointer<Act> { chunkRaw.assumingMemoryBound(to: Act.self) }
    var stemChunk: UnsafeMutablePointer<Int16> { chunkRaw.assumingMemoryBound(to: Int16.self) }

    /// Output steps per slice of a block: as many as `rowBudget` rows hold (at least one).
    @inline(__always)
    func sliceOutputs(middle m: Int, stride s: Int, kernel k: Int, outLength: Int) -> Int {
        QuantArenaPlan.sliceOutputs(rowBudget: rowBudget, middle: m, stride: s, kernel: k, outLength: outLength)
    }

    deinit {
        bufA.deallocate(); bufB.deallocate(); rows.deallocate(); conv3Input.deallocate(); chunkRaw.deallocate()
        stemRows.deallocate(); seScratch.deallocate(); seSums.deallocate(); gates.deallocate()
    }
}

/// Element counts of the integer engines' arena (`QuantWorkspace`), computed ahead of time.
public struct QuantArenaPlan {
    /// Block outputs: A holds blocks 1, 3, ... (and block 0's pooled shortcut before that), B
    /// blocks 0, 2, ... (the stem output is never stored).
    public var bufferA = 0, bufferB = 0
    /// conv2 input rows (after clamping the budget to what the longest slice needs), conv3's
    /// transposed input, the stem's padded input, the largest block width (SE vectors).
    public var rowBudget = 0, conv3Input = 0, stemRows = 0, seVector = 0
    /// The largest block input width (conv1's chunk is chunk x that), the stem width.
    public var maxInput = 0, stemWidth = 0
    /// The row budget at which every block runs in one slice.
    public var wholeRows = 0

    public init(config: Net1DConfig, maxLength: Int, rowBudget budget: Int) {
        let stem = ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                             kernel: config.kernelSize, stride: 2)
        var len = stem.outLength(maxLength)
        stemRows = config.inChannels * ((len - 1) * stem.stride + stem.kernel)
        stemWidth = config.baseFilters
        var minRows = 0
        let blocks = config.blocks
        for (i, b) in blocks.enumerated() {
            let lo = outLength(len, stride: b.stride)
            wholeRows = max(wholeRows, b.middleChannels * ((lo - 1) * b.stride + b.kernelSize))
            minRows = max(minRows, b.middleChannels * b.kernelSize)
            if i % 2 == 0 { bufferB = max(bufferB, b.outChannels * lo) } else { bufferA = max(bufferA, b.outChannels * lo) }
            if i == 0 { bufferA = max(bufferA, b.inChannels * lo) }   // block 0's pooled shortcut
            seVector = max(seVector, b.outChannels)
            maxInput = max(maxInput, b.inChannels)
            len = lo
        }
        // At least one output step per slice, at most every block whole.
        rowBudget = min(max(budget, minRows), wholeRows)
        len = stem.outLength(maxLength)
        for b in blocks {
            let lo = outLength(len, stride: b.stride)
            let n = Self.sliceOutputs(rowBudget: rowBudget, middle: b.middleChannels, stride: b.stride, kernel: b.kernelSize, outLength: lo)
            conv3Input = max(conv3Input, n * b.middleChannels)
            len = lo
        }
    }

    public static func sliceOutputs(rowBudget: Int, middle m: Int, stride s: Int, kernel k: Int, outLength: Int) -> Int {
        max(1, min(outLength, (rowBudget / m - k) / s + 1))
    }

    /// conv1's input chunk: at most `QuantConv.chunk` steps and `chunkBudget` bytes (fewer steps
    /// for wide blocks), at least one step.
    public static var chunkBudget: Int { 4096 }
    public static func chunkSteps(inputs: Int, actBytes: Int) -> Int {
        max(1, min(QuantConv<Int8>.chunk, chunkBudget / (inputs * actBytes)))
    }

    /// Bytes of conv1's input chunk (Act codes) or the stem's output chunk (int16), whichever is
    /// larger: a block's chunk is at most the budget, or one step where a step alone exceeds it.
    public func chunkBytes(actBytes: Int) -> Int {
        max(Self.chunkBudget, maxInput * actBytes, QuantConv<Int8>.chunk * stemWidth * 2)
    }

    /// Total bytes with `actBytes` per Swish code.
    public func bytes(actBytes: Int) -> Int {
        (bufferA + bufferB + stemRows) * 2 + (rowBudget + conv3Input) * actBytes + chunkBytes(actBytes: actBytes)
            + seVector * (2 * 4 + 8 + 4)
    }
}
