import CLEFKernels
import CLEFDSP

/// Integer kernels: same-padded grouped Conv1d with int8 weights, dense layers and the prepared
/// (padded, phase-split) input layout shared with the float kernels. Embedded-Swift-clean.

/// Pads each channel with its zero point (its code for 0.0) and phase-splits, like
/// `prepareConvInput`. `channelParams` are the per-channel (zero point, multiplier) pairs of the
/// input's activation step; nil pads with 0.
@discardableResult
#if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
@_specialize(exported: true, where T == Int8)
@_specialize(exported: true, where T == Int16)
#endif
public func prepareQuantInput<T: FixedWidthInteger>(_ x: UnsafePointer<T>, channels: Int, length: Int, shape: ConvShape,
                                                    padValues channelParams: UnsafePointer<Int32>?,
                                                    into out: UnsafeMutablePointer<T>) -> Int {
    preparePhaseSplit(x, channels: channels, length: length, shape: shape,
                      padValue: { c in T(truncatingIfNeeded: channelParams.map { $0[2 * c] } ?? 0) }, into: out)
}

/// One integer convolution: weights [out][in/groups][kernel] (PyTorch order) and per
/// output channel (bias with the input zero point folded in, packed requantisation multiplier).
public struct QuantConv<Weight: FixedWidthInteger & SignedInteger> {
    public let shape: ConvShape
    /// int8 everywhere except the stem, whose 512 weights are int16 (int8 there alone costs
    /// 1% of the embedding on a trained model).
    public let weight: UnsafePointer<Weight>
    /// [out][2]: bias, packed multiplier.
    public let biasRequant: UnsafePointer<Int32>

    public init(shape: ConvShape, weight: UnsafePointer<Weight>, biasRequant: UnsafePointer<Int32>) {
        self.shape = shape
        self.weight = weight
        self.biasRequant = biasRequant
    }

    /// out = clamp(zOut + requant(bias + sum w * prepared)).
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Weight == Int8, In == Int8, Out == Int16, Acc == Int32)
    @_specialize(exported: true, where Weight == Int8, In == Int16, Out == Int16, Acc == Int64)
    @_specialize(exported: true, where Weight == Int16, In == Int16, Out == Int16, Acc == Int64)
    #endif
    public func run<In: FixedWidthInteger, Out: FixedWidthInteger, Acc: FixedWidthInteger & SignedInteger>(
        _ prepared: UnsafePointer<In>, rowLength: Int, outLength: Int, accumulator: Acc.Type,
        outZero: Int32, out: UnsafeMutablePointer<Out>) {
        let cinG = shape.inPerGroup, coutG = shape.outPerGroup, s = shape.stride, k = shape.kernel
        let lo = Int64(Out.min), hi = Int64(Out.max)
        for co in 0..<shape.outChannels {
            let g = co / coutG
            let w = weight + co * cinG * k
            let base = prepared + g * cinG * s * rowLength
            let rq = biasRequant[2 * co + 1]
            let b = Acc(biasRequant[2 * co])
            let orow = out + co * outLength
            for t in 0..<outLength {
                let acc = accumulate(base, w, t: t, rowLength: rowLength, start: b)
                orow[t] = Out(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(Int64(acc), rq), lo, hi))
            }
        }
    }
}

extension QuantConv {
    /// bias + sum over the group's inputs and taps for output step `t` (the scalar loop; `w` points
    /// at the output channel's weights, `base` at its group's prepared rows).
    @inline(__always)
    func accumulate<In: FixedWidthInteger, Acc: FixedWidthInteger>(_ base: UnsafePointer<In>, _ w: UnsafePointer<Weight>, t: Int,
                                                                  rowLength: Int, start: Acc) -> Acc {
        let cinG = shape.inPerGroup, s = shape.stride, k = shape.kernel
        var acc = start
        for ci in 0..<cinG {
            let wr = w + ci * k
            for p in 0..<s {
                let row = base + (ci * s + p) * rowLength + t
                var tap = p, j = 0
                while tap < k {
                    acc = acc &+ Acc(truncatingIfNeeded: wr[tap]) &* Acc(truncatingIfNeeded: row[j])
                    tap += s
                    j += 1
                }
            }
        }
        return acc
    }
}

extension QuantConv {
    /// Output steps a 1x1 layer computes per pass (its input is copied one chunk at a time).
    public static var chunk: Int { 32 }

    /// Elements of `In` that `apply` needs as scratch for an input of `length` samples.
    public func scratchCount(length: Int) -> Int {
        shape.isPointwise && shape.groups == 1 ? Self.chunk * shape.inChannels : shape.preparedCount(length)
    }

    /// The convolution of raw channel-first input `x` [inChannels][length], choosing the kernel:
    /// int8 weights on int8 inputs, or on int16 inputs with fewer than 512 terms per sum, go to the
    /// CLEFDSP dot products (SMLAD on Arm DSP cores) with int32 sums; int16 weights on int16
    /// inputs (the stem) to the int64 one; anything else to the generic loop. 1x1 layers copy their
    /// input one `chunk` of time steps at a time, transposed ([t][in], so each sum runs over
    /// contiguous bytes), so their output may overwrite their input; the others read
    /// zero-point-padded rows (`padValues`: per-channel (zero point, multiplier) pairs, nil = 0).
    /// Every path computes the same exact integer sums. The output is the int16 code
    /// clamp(outZero + requant(sum)) or, with an `epilogue`, that code sent through the Swish
    /// table and the channel's requantisation to `Out` (the activation codes the next layer reads),
    /// so the int16 tensor is never stored.
    public func apply<In: FixedWidthInteger, Out: FixedWidthInteger, Acc: FixedWidthInteger & SignedInteger>(
        _ x: UnsafePointer<In>, length: Int, padValues: UnsafePointer<Int32>?, scratch: UnsafeMutablePointer<In>,
        accumulator: Acc.Type, outZero: Int32, epilogue: ActivationStep? = nil, out: UnsafeMutablePointer<Out>) {
        let terms = shape.inPerGroup * shape.kernel
        let int8Weights = Weight.self == Int8.self
        let dsp32 = int8Weights && (In.self == Int8.self || (In.self == Int16.self && terms < 512))
        let dsp64 = Weight.self == Int16.self && In.self == Int16.self
        let lo = shape.outLength(length), s = shape.stride, k = shape.kernel
        let cinG = shape.inPerGroup, coutG = shape.outPerGroup
        let pointwise = shape.isPointwise && shape.groups == 1
        let outLo = Int64(Out.min), outHi = Int64(Out.max)
        let chunk = Self.chunk
        @inline(__always) func store(_ co: Int, _ t0: Int, _ n: Int, _ acc: (Int) -> Int64) {
            let rq = biasRequant[2 * co + 1], o = out + co * lo + t0
            if let e = epilogue, let cr = e.channelRequant {
                let z = Int64(cr[2 * co]), m = cr[2 * co + 1], tz = Int64(e.table.outputZero)
                for i in 0..<n {
                    let v = clamp(Int64(outZero) &+ requantize(acc(i), rq), -32768, 32767)
                    let sw = Int64(e.table(Int32(truncatingIfNeeded: v))) &- tz
                    o[i] = Out(truncatingIfNeeded: clamp(z &+ requantize(sw, m), outLo, outHi))
                }
            } else {
                for i in 0..<n { o[i] = Out(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(acc(i), rq), outLo, outHi)) }
            }
        }
        if pointwise {
            // Chunk by chunk: the chunk's input (transposed for the dot products, [in][n] rows for
            // the generic loop), then every output channel of it.
            let cin = shape.inChannels, cout = shape.outChannels
            withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2 * chunk) { wide in
                let a0 = UnsafeMutableRawPointer(wide.baseAddress!).assumingMemoryBound(to: Int32.self), a1 = a0 + chunk
                let a64 = wide.baseAddress!
                var t0 = 0
                while t0 < lo {
                    let n = min(chunk, lo - t0)
                    for c in 0..<cin {
                        let src = x + c * length + t0
                        if dsp32 || dsp64 { for i in 0..<n { scratch[i * cin + c] = src[i] } }
                        else { for i in 0..<n { scratch[c * n + i] = src[i] } }
                    }
                    var co = 0
                    while co < cout {
                        if dsp32 {
                            let co1 = min(co + 1, cout - 1)
                            for i in 0..<n { a0[i] = biasRequant[2 * co]; a1[i] = biasRequant[2 * co1] }
                            let w8 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int8.self)
                            dot2(UnsafePointer(scratch), xs: cin, w8 + co * cin, w8 + co1 * cin, n: cin, a0, a1, count: n)
                            store(co, t0, n) { Int64(a0[$0]) }
                            if co1 != co { store(co1, t0, n) { Int64(a1[$0]) } }
                            co += 2
                        } else if dsp64 {
                            for i in 0..<n { a64[i] = Int64(biasRequant[2 * co]) }
                            clef_dot_s16_s64(UnsafeRawPointer(scratch).assumingMemoryBound(to: Int16.self), Int32(cin),
                                             UnsafeRawPointer(weight).assumingMemoryBound(to: Int16.self) + co * cin, Int32(cin),
                                             a64, Int32(n))
                            store(co, t0, n) { a64[$0] }
                            co += 1
                        } else {
                            for i in 0..<n {
                                a64[i] = Int64(accumulate(UnsafePointer(scratch), weight + co * cin, t: i, rowLength: n,
                                                          start: Acc(biasRequant[2 * co])))
                            }
                            store(co, t0, n) { a64[$0] }
                            co += 1
                        }
                    }
                    t0 += n
                }
            }
            return
        }
        // Padded rows of (lo - 1) * s + k samples for the dot products; the generic loop reads
        // the phase-split layout.
        var rows = UnsafePointer(scratch), rowLength = (lo - 1) * s + k
        if !(dsp32 || dsp64) {
            rowLength = prepareQuantInput(x, channels: shape.inChannels, length: length, shape: shape,
                                          padValues: padValues, into: scratch)
        } else {
            let left = max(0, (lo - 1) * s + k - length) / 2
            for c in 0..<shape.inChannels {
                let pad = In(truncatingIfNeeded: padValues.map { $0[2 * c] } ?? 0)
                let row = scratch + c * rowLength, src = x + c * length
                for v in 0..<rowLength {
                    let i = v - left
                    row[v] = (i >= 0 && i < length) ? src[i] : pad
                }
            }
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2 * chunk) { wide in
            let a0 = UnsafeMutableRawPointer(wide.baseAddress!).assumingMemoryBound(to: Int32.self), a1 = a0 + chunk
            let a64 = wide.baseAddress!
            for g in 0..<shape.groups {
                var col = 0
                while col < coutG {
                    // dsp32: two output channels per pass (the second repeats the first if the group is odd).
                    let co0 = g * coutG + col, co1 = g * coutG + min(col + 1, coutG - 1)
                    var t0 = 0
                    while t0 < lo {
                        let n = min(chunk, lo - t0)
                        if dsp32 {
                            for i in 0..<n { a0[i] = biasRequant[2 * co0]; a1[i] = biasRequant[2 * co1] }
                            let w8 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int8.self)
                            for cl in 0..<cinG {
                                dot2(rows + (g * cinG + cl) * rowLength + t0 * s, xs: s, w8 + (co0 * cinG + cl) * k,
                                     w8 + (co1 * cinG + cl) * k, n: k, a0, a1, count: n)
                            }
                            store(co0, t0, n) { Int64(a0[$0]) }
                            if co1 != co0 { store(co1, t0, n) { Int64(a1[$0]) } }
                        } else if dsp64 {
                            for i in 0..<n { a64[i] = Int64(biasRequant[2 * co0]) }
                            let w16 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int16.self)
                            let x16 = UnsafeRawPointer(rows).assumingMemoryBound(to: Int16.self)
                            for cl in 0..<cinG {
                                clef_dot_s16_s64(x16 + (g * cinG + cl) * rowLength + t0 * s, Int32(s),
                                                 w16 + (co0 * cinG + cl) * k, Int32(k), a64, Int32(n))
                            }
                            store(co0, t0, n) { a64[$0] }
                        } else {
                            let base = rows + g * cinG * s * rowLength, w = weight + co0 * cinG * k
                            for i in 0..<n {
                                a64[i] = Int64(accumulate(base, w, t: t0 + i, rowLength: rowLength, start: Acc(biasRequant[2 * co0])))
                            }
                            store(co0, t0, n) { a64[$0] }
                        }
                        t0 += n
                    }
                    col += dsp32 ? 2 : 1
                }
            }
        }
    }

    /// The int8- or int16-input dot product of CLEFDSP.
    @inline(__always)
    func dot2<In: FixedWidthInteger>(_ x: UnsafePointer<In>, xs: Int, _ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>, n: Int,
                                     _ a0: UnsafeMutablePointer<Int32>, _ a1: UnsafeMutablePointer<Int32>, count: Int) {
        if In.self == Int8.self {
            clef_dot2_s8(UnsafeRawPointer(x).assumingMemoryBound(to: Int8.self), Int32(xs), w0, w1, Int32(n), a0, a1, Int32(count))
        } else {
            clef_dot2_s16s8(UnsafeRawPointer(x).assumingMemoryBound(to: Int16.self), Int32(xs), w0, w1, Int32(n), a0, a1, Int32(count))
        }
    }
}

/// An integer dense layer (the squeeze-excitation linears): y = requant(bias + W x) + zOut.
public struct QuantLinear {
    public let inCount: Int
    public let outCount: Int
    public let weight: UnsafePointer<Int8>
    /// [out][2]: bias, packed multiplier.
    public let biasRequant: UnsafePointer<Int32>

    public init(inCount: Int, outCount: Int, weight: UnsafePointer<Int8>, biasRequant: UnsafePointer<Int32>) {
        self.inCount = inCount
        self.outCount = outCount
        self.weight = weight
        self.biasRequant = biasRequant
    }

    /// `x` are int32 codes; outputs are clamped to [lo, hi].
    public func run(_ x: UnsafePointer<Int32>, outZero: Int32, lo: Int64, hi: Int64, out: UnsafeMutablePointer<Int32>) {
        for o in 0..<outCount {
            var acc = Int64(biasRequant[2 * o])
            let w = weight + o * inCount
            for i in 0..<inCount { acc = acc &+ Int64(w[i]) &* Int64(x[i]) }
            out[o] = Int32(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(acc, biasRequant[2 * o + 1]), lo, hi))
        }
    }
}
