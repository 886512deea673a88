import CLEFKernels

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
        if In.self == Int8.self && Acc.self == Int32.self && Weight.self == Int8.self {
            // q8: int8 x int8 into int32 lanes (exact: |sum| < 255 * 127 * 2^16 for any CLEF layer).
            runInt8(UnsafeRawPointer(prepared).assumingMemoryBound(to: Int8.self), rowLength: rowLength,
                    outLength: outLength, outZero: outZero, out: out)
            return
        }
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

    /// The q8 convolution, 16 time steps at a time in two SIMD8<Int32> accumulators; the same
    /// integer sums as the scalar loop, so the results are bit-identical.
    func runInt8<Out: FixedWidthInteger>(_ prepared: UnsafePointer<Int8>, rowLength: Int, outLength: Int,
                                        outZero: Int32, out: UnsafeMutablePointer<Out>) {
        let cinG = shape.inPerGroup, coutG = shape.outPerGroup, s = shape.stride, k = shape.kernel
        let lo = Int64(Out.min), hi = Int64(Out.max)
        let w8 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int8.self)
        @inline(__always) func load(_ p: UnsafePointer<Int8>) -> SIMD8<Int32> {
            SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self))
        }
        for co in 0..<shape.outChannels {
            let g = co / coutG
            let w = w8 + co * cinG * k
            let base = prepared + g * cinG * s * rowLength
            let rq = biasRequant[2 * co + 1]
            let b = biasRequant[2 * co]
            let orow = out + co * outLength
            var t = 0
            while t < outLength {
                let full = t + 16 <= outLength
                var a0 = SIMD8<Int32>(repeating: b), a1 = SIMD8<Int32>(repeating: b)
                if full {
                    for ci in 0..<cinG {
                        let wr = w + ci * k
                        for p in 0..<s {
                            let row = base + (ci * s + p) * rowLength + t
                            var tap = p, j = 0
                            while tap < k {
                                let wv = SIMD8<Int32>(repeating: Int32(wr[tap]))
                                a0 = a0 &+ wv &* load(row + j)
                                a1 = a1 &+ wv &* load(row + j + 8)
                                tap += s
                                j += 1
                            }
                        }
                    }
                    for i in 0..<8 {
                        orow[t + i] = Out(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(Int64(a0[i]), rq), lo, hi))
                        orow[t + 8 + i] = Out(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(Int64(a1[i]), rq), lo, hi))
                    }
                    t += 16
                } else {
                    let acc = accumulate(base, weight + co * cinG * k, t: t, rowLength: rowLength, start: b)
                    orow[t] = Out(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(Int64(acc), rq), lo, hi))
                    t += 1
                }
            }
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
