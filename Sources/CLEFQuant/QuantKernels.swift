import CLEFKernels
import CLEFDSP

/// Integer kernels: same-padded grouped Conv1d with int8 (stem: int16) weights over strided
/// inputs and outputs, and the dense layers of the squeeze-excitation. Embedded-Swift-clean.

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

    /// The largest input magnitude for which every channel's partial sums stay inside int32:
    /// min over c of (2^31 - 1 - |bias_c|) / sum |w_c| (-1 if a bias alone leaves no room). For
    /// `rows`' `int32Inputs` (the stem's int16 weights).
    public func int32InputBound() -> Int64 {
        var bound = Int64.max
        let per = shape.inPerGroup * shape.kernel
        for c in 0..<shape.outChannels {
            var sum: Int64 = 0
            for j in 0..<per { sum += abs(Int64(weight[c * per + j])) }
            let room = Int64(Int32.max) - abs(Int64(biasRequant[2 * c]))
            bound = min(bound, room < 0 ? -1 : sum == 0 ? Int64.max : room / sum)
        }
        return bound
    }
}

/// Where a convolution's outputs go and how they are coded: element (channel c, step t) at
/// `base[c * channelStride + t * timeStride]`, so a layer can write straight into the layout the
/// next one reads (rows, transposed chunks, a slice of a longer tensor). The value is the int16
/// code clamp(zero + requant(sum)), or with an `epilogue` that code through the Swish table (and,
/// where the step has them, the channel's requantisation to `Out`).
public struct ConvOutput<Out: FixedWidthInteger> {
    public let base: UnsafeMutablePointer<Out>
    public let channelStride: Int
    public let timeStride: Int
    public let zero: Int32
    public let epilogue: ActivationStep?

    public init(_ base: UnsafeMutablePointer<Out>, channelStride: Int, timeStride: Int, zero: Int32,
                epilogue: ActivationStep? = nil) {
        self.base = base
        self.channelStride = channelStride
        self.timeStride = timeStride
        self.zero = zero
        self.epilogue = epilogue
    }

    /// q8's hottest output stage, decoded by the convolutions once per call instead of by `store`
    /// once per channel (the table's part of CLEFDSP's stage, its start, the channels'
    /// requantisation pairs): nil where it does not apply (int16 codes, no per-channel
    /// requantisation, a table shift above 13). (Kept out of `ConvOutput` itself: a stored copy
    /// in every instance cost 160 B of the device's stack. The callers branch on it rather than
    /// pass it on: as an optional parameter it cost RV32 0.23 M and q16 0.09 M.)
    typealias Stage8 = (base: clef_swish_stage, start: Int32, pairs: UnsafePointer<Int32>)
    @inline(__always)
    func stage8() -> Stage8? {
        guard CLEF_STAGE_PASSES != 0, Out.bitWidth == 8, let e = epilogue, let cr = e.channelRequant,
              let base = e.table.stageWithZero else { return nil }
        return (base, e.table.start, cr.pairs)
    }

    /// Stores `n` outputs of channel `co` from step `t0`, `code(i)` being the int16 code
    /// clamp(zero + requant(sum)) of step t0 + i.
    @inline(__always)
    func store(_ co: Int, _ t0: Int, _ n: Int, _ code: (Int) -> Int32) {
        let o = base + co * channelStride + t0 * timeStride, ts = timeStride
        let outLo = Int32(Out.min), outHi = Int32(Out.max)
        if let e = epilogue {
            if let cr = e.channelRequant {
                // Table outputs and their zero point are int16 codes: the difference has 16 bits.
                let cz = cr.zero(co, for: Out.self), m = Requant32(cr.multiplier(co, for: Out.self), inputBits: 16), tz = e.table.outputZero
                if m.general {
                    for i in 0..<n { o[i * ts] = Out(truncatingIfNeeded: clamp32(cz &+ m(e.table(code(i)) &- tz), outLo, outHi)) }
                } else {
                    for i in 0..<n { o[i * ts] = Out(truncatingIfNeeded: clamp32(cz &+ m.fast(e.table(code(i)) &- tz), outLo, outHi)) }
                }
            } else {
                for i in 0..<n { o[i * ts] = Out(truncatingIfNeeded: clamp32(e.table(code(i)), outLo, outHi)) }
            }
        } else {
            for i in 0..<n { o[i * ts] = Out(truncatingIfNeeded: clamp32(code(i), outLo, outHi)) }
        }
    }

    /// int8 codes (q8): `LookupTable.stage(requant:term:)` with the table's part decoded already
    /// (the general form decodes the whole epilogue for every channel: 190 instructions a call).
    @inline(__always)
    func store(_ co: Int, _ t0: Int, _ n: Int, requant packed: Int32, _ acc: UnsafeMutablePointer<Int32>, q8 s8: Stage8) {
        let rq = Requant32(packed)
        if !rq.general, let au = rq.adding(zero &- s8.start) {
            let m = Requant32(s8.pairs[2 &* co &+ 1], inputBits: 16), cz = s8.pairs[2 &* co]
            var st = s8.base
            if m.pre == 0, let ac = m.adding(cz) {
                st.mul = m.mul; st.term = ac; st.rshift = m.shift
            } else if !m.general, m.mul != 0, m.pre > 0, m.shift == 1, cz.magnitude < 1 << 28 {
                // A narrow channel (multiplier of 1/4 and more): the pre-shift form, whose final
                // shift is 1, (h + 1 + 2 zero) >> 1 = ((h + 1) >> 1) + zero.
                st.mul = m.mul; st.term = m.add &+ (cz &<< 1); st.rshift = 1; st.pre = m.pre
            } else {
                store(co, t0, n, requant: packed, acc)
                return
            }
            let o = base + co * channelStride + t0 * timeStride
            @inline(__always) func outside(_ u: Int32) -> Out { outsideQ8(u, cz, m) }
            // A direct table with output zero 0 (q8's shared table): the sums' requantisation in
            // the table's loop (an offset outside the table comes back in acc[i], the rest still sums).
            if st.shift == 0, st.half == 0, Out.bitWidth == 8 {
                // (An explicit loop, not `resumed`: through the closure LLVM spilled this hot
                // path's state, +0.39 M instructions a window on the Cortex-M4F.)
                var i = 0
                while i < n {
                    let p = UnsafeMutableRawPointer(o + i * timeStride).assumingMemoryBound(to: Int8.self)
                    let done = clef_swish_sums_s8(acc + i, Int32(n - i), &st, rq.mul, au, rq.shift, p, Int32(timeStride))
                    if done < 0 { break }
                    i += Int(done)
                    if i >= n { return }
                    o[i * timeStride] = outside(acc[i])
                    i += 1
                }
                if i >= n { return }
                // (No end marker for this requantisation: the two passes over the rest.)
                clef_requant_fast(acc + i, Int32(n - i), rq.mul, au, rq.shift)
                swishStage(acc + i, n - i, &st, into: o + i * timeStride, stride: timeStride, outside: outside)
                return
            }
            clef_requant_fast(acc, Int32(n), rq.mul, au, rq.shift)
            swishStage(acc, n, &st, into: o, stride: timeStride, outside: outside)
            return
        }
        store(co, t0, n, requant: packed, acc)
    }

    /// The epilogue table's value at offset `u` outside its knots (rare; the stem's stage), out of
    /// line for the same reason as `outsideQ8`.
    @inline(never)
    func tableValue(_ u: Int32) -> Int32 { epilogue!.table.at(offset: u) }

    /// `store(q8:)`'s offset outside the table's knots (rare), out of line: inline, the hot path
    /// loaded the table's fields for it on every call (Cortex-M4F q8: 0.21 M instructions and 0.48 M
    /// TRM cycles a window).
    @inline(never)
    func outsideQ8(_ u: Int32, _ cz: Int32, _ m: Requant32) -> Out {
        let table = epilogue!.table
        return Out(truncatingIfNeeded: clamp32(cz &+ m.fast(table.at(offset: u) &- table.outputZero), Int32(Out.min), Int32(Out.max)))
    }

    /// `store` of int32 sums (the dot-product paths), which it may overwrite, and acc[n] (restored).
    @inline(__always)
    func store(_ co: Int, _ t0: Int, _ n: Int, requant packed: Int32, _ acc: UnsafeMutablePointer<Int32>) {
        let rq = Requant32(packed), z = zero
        if let e = epilogue, let cr = e.channelRequant, !rq.general {
            // Swish with per-channel codes, the hottest output stage: the table clamps its
            // input to int16 itself (off its fast path), saving the clamp on every element.
            let o = base + co * channelStride + t0 * timeStride, ts = timeStride
            let outLo = Int32(Out.min), outHi = Int32(Out.max)
            let cz = cr.zero(co, for: Out.self), m = Requant32(cr.multiplier(co, for: Out.self), inputBits: 16), tz = e.table.outputZero
            let table = e.table
            if CLEF_STAGE_PASSES != 0, Out.bitWidth == 16, let au = rq.adding(z &- table.start),
               var st = table.stage16(requant: m, zero: cz) {
                // int16 codes (q16): the same, their multipliers near 1 with a pre-shift too. (One
                // block for both code types, with this stage and closure for int8 too, measured
                // 0.26 M more on the Cortex-M4F q8: its specialisation keeps the form below.)
                clef_requant_fast(acc, Int32(n), rq.mul, au, rq.shift)
                swishStage(acc, n, &st, into: o, stride: ts) {
                    Out(truncatingIfNeeded: clamp32(cz &+ m.fast(table.at(offset: $0) &- tz), outLo, outHi))
                }
                return
            }
            if let au = rq.adding(z &- table.start), let ac = m.adding(cz) {
                // The zero points and the table's start folded into the rounding terms.
                if CLEF_STAGE_PASSES != 0, Out.bitWidth == 8, var st = table.stage(requant: m, term: ac) {
                    // CLEFDSP's two passes: offsets in place, then the table loop.
                    clef_requant_fast(acc, Int32(n), rq.mul, au, rq.shift)
                    swishStage(acc, n, &st, into: o, stride: ts) {
                        Out(truncatingIfNeeded: clamp32(m.fast(table.at(offset: $0) &- tz, adding: ac), outLo, outHi))
                    }
                    return
                }
                for i in 0..<n {
                    let v = table.at(offset: rq.fast(acc[i], adding: au))
                    o[i * ts] = Out(truncatingIfNeeded: clamp32(m.fast(v &- tz, adding: ac), outLo, outHi))
                }
                return
            }
            if !m.general {
                for i in 0..<n {
                    let t = e.table.clamping(z &+ rq.fast(acc[i]))
                    o[i * ts] = Out(truncatingIfNeeded: clamp32(cz &+ m.fast(t &- tz), outLo, outHi))
                }
                return
            }
        }
        if let e = epilogue, e.channelRequant == nil, let au = rq.adding(z &- e.table.start) {
            // Swish with per-tensor codes (the stem): the zero point and the table's start folded
            // into the rounding term, the table clamping its own input.
            let o = base + co * channelStride + t0 * timeStride, ts = timeStride
            let outLo = Int32(Out.min), outHi = Int32(Out.max), table = e.table
            if CLEF_STAGE_PASSES != 0, Out.self == Int16.self {
                // CLEFDSP's two passes, as for the per-channel stage above (table values are int16).
                var st = table.stage
                var i = 0
                if st.shift == 0 {
                    // A direct table: the requantisation in the table's loop (as `store(q8:)` does).
                    i = resumed(n) { i in
                        let p = UnsafeMutableRawPointer(o + i * ts).assumingMemoryBound(to: Int16.self)
                        return clef_table_sums_s16(acc + i, Int32(n - i), &st, rq.mul, au, rq.shift, p, Int32(ts))
                    } finish: { o[$0 * ts] = Out(truncatingIfNeeded: tableValue(acc[$0])) }
                    if i >= n { return }
                }
                clef_requant_fast(acc + i, Int32(n - i), rq.mul, au, rq.shift)
                swishStage(acc + i, n - i, &st, tableOnly: true, into: o + i * ts, stride: ts) { Out(truncatingIfNeeded: tableValue($0)) }
                return
            }
            for i in 0..<n { o[i * ts] = Out(truncatingIfNeeded: clamp32(table.at(offset: rq.fast(acc[i], adding: au)), outLo, outHi)) }
            return
        }
        if rq.general {
            // Only multipliers of at least 1/4 (r <= 24) are general for 32-bit sums: any
            // |sum| >= 2^18 then saturates the int16 code, so the sum clamped there gives the same
            // code and has 19 bits, which the fast form takes (for r >= 13).
            let narrow = Requant32(packed, inputBits: 19)
            if !narrow.general {
                store(co, t0, n) { clamp32(z &+ narrow.fast(clamp32(acc[$0], -(1 << 18), 1 << 18)), -32768, 32767) }
            } else {
                store(co, t0, n) { clamp32(z &+ rq(acc[$0]), -32768, 32767) }
            }
        } else {
            if CLEF_STAGE_PASSES != 0, epilogue == nil, Out.self == Int16.self, timeStride == 1, let term = rq.adding(z) {
                // int16 codes in a row (conv3's chunk): CLEFDSP's loop, four at a time.
                clef_requant_s16(acc, Int32(n), rq.mul, term, rq.shift,
                                 UnsafeMutableRawPointer(base + co * channelStride + t0).assumingMemoryBound(to: Int16.self))
                return
            }
            store(co, t0, n) { clamp32(z &+ rq.fast(acc[$0]), -32768, 32767) }
        }
    }

    /// `store` of the stem's int64 sums (16 taps of int16 x int16 and a bias), with a fast path
    /// for per-tensor Swish when every sum is within [-2^39, 2^39) and the multiplier's r >= 32: the product
    /// then fits 64 bits and the rounded result 31, so neither the general path's range checks
    /// nor a clamp before the table (which clamps its own input) is needed. Exact: the same
    /// round(sum * m / 2^r) as `requantize`.
    @inline(__always)
    func storeWide(_ co: Int, _ t0: Int, _ n: Int, requant packed: Int32, _ acc: UnsafePointer<Int64>) {
        let r = 23 &+ Int64(Int8(truncatingIfNeeded: packed))
        if let e = epilogue, e.channelRequant == nil, r >= 32 {
            // -2^39 <= sum < 2^39 <=> its high word is within [-128, 127]: OR the offset high words.
            var high: UInt32 = 0
            for i in 0..<n { high |= UInt32(bitPattern: Int32(truncatingIfNeeded: acc[i] &>> 32) &+ 128) }
            if high < 256 {
                let m = packed &>> 8, half = UInt64(1) &<< UInt64(r &- 1), zs = zero &- e.table.start
                let o = base + co * channelStride + t0 * timeStride, ts = timeStride
                let outLo = Int32(Out.min), outHi = Int32(Out.max), table = e.table, rest = Int32(r &- 32)
                for i in 0..<n {
                    // |sum * m| < 2^39 * 2^23, and >> r >= 32 leaves |q| < 2^30: the high word of
                    // sum * m + half (no 64-bit variable shift), then the rest of the shift. With
                    // sum = hi 2^32 + lo (lo unsigned) and m > 0 that word is hi m + the high word
                    // of lo m + half, which cannot overflow 64 bits.
                    let lo = UInt64(UInt32(truncatingIfNeeded: acc[i])), hi = Int32(truncatingIfNeeded: acc[i] &>> 32)
                    let low = lo &* UInt64(UInt32(bitPattern: m)) &+ half
                    let q = (hi &* m &+ Int32(truncatingIfNeeded: low &>> 32)) &>> rest
                    o[i * ts] = Out(truncatingIfNeeded: clamp32(table.at(offset: q &+ zs), outLo, outHi))
                }
                return
            }
        }
        store(co, t0, n, requant: packed, acc)
    }

    /// `store` of int64 sums (the stem and the generic paths).
    @inline(__always)
    func store(_ co: Int, _ t0: Int, _ n: Int, requant packed: Int32, _ acc: UnsafePointer<Int64>) {
        let z = Int64(zero)
        store(co, t0, n) { Int32(truncatingIfNeeded: clamp(z &+ requantize(acc[$0], packed), -32768, 32767)) }
    }
}

/// Elements 0 ..< n through a CLEFDSP loop that stops at an element it cannot do: `run(i)` does
/// elements i, i + 1, ... and returns how many (or -1: none, it declines these constants),
/// `finish(i)` does the one it stopped at. Returns n, or where the loop declined (the caller's
/// other path takes the rest).
@inline(__always)
func resumed(_ n: Int, _ run: (Int) -> Int32, finish: (Int) -> Void) -> Int {
    var i = 0
    while i < n {
        let done = run(i)
        if done < 0 { return i }
        i += Int(done)
        if i >= n { return n }
        finish(i)
        i += 1
    }
    return i
}

/// CLEFDSP's table loop over the offsets u[0 ..< n] into o[i * ts] (`Out` Int8 or Int16; the
/// table's value itself with `tableOnly`), each offset outside the knots, which stops the loop,
/// finished by `outside` (rare: the clamps, constants and linear part of `LookupTable`). u[n]
/// must be writable (`clef_swish_s8`).
@inline(__always)
func swishStage<Out: FixedWidthInteger>(_ u: UnsafeMutablePointer<Int32>, _ n: Int, _ st: inout clef_swish_stage, tableOnly: Bool = false,
                                        into o: UnsafeMutablePointer<Out>, stride ts: Int, outside: (Int32) -> Out) {
    var i = 0
    while true {
        let p = UnsafeMutableRawPointer(o + i * ts), left = Int32(n - i)
        i += Int(Out.bitWidth == 8 ? clef_swish_s8(u + i, left, &st, p.assumingMemoryBound(to: Int8.self), Int32(ts))
                 : tableOnly ? clef_table_s16(u + i, left, &st, p.assumingMemoryBound(to: Int16.self), Int32(ts))
                 : clef_swish_s16(u + i, left, &st, p.assumingMemoryBound(to: Int16.self), Int32(ts)))
        if i >= n { return }
        o[i * ts] = outside(u[i])
        i += 1
    }
}

extension LookupTable {
    /// The table's fast path with `requant` (fast form, `term` from `Requant32.adding`) after it,
    /// for CLEFDSP's table loop: the output zero point goes into the interpolation's rounding
    /// term, (d f + 2^(s-1) - z 2^s) >> s = ((d f + 2^(s-1)) >> s) - z, which stays exact in 32
    /// bits for shifts up to 13 (|d f| < 2^29, |z 2^s| <= 2^28). nil beyond.
    @inline(__always)
    func stage(requant m: Requant32, term: Int32) -> clef_swish_stage? {
        guard shift <= 13, !m.general, m.pre == 0 else { return nil }
        return stage(mul: m.mul, term: term, rshift: m.shift, pre: 0)
    }

    /// The table's part of those stages (the requantisation's fields 0), nil beyond shift 13.
    @inline(__always)
    var stageWithZero: clef_swish_stage? { shift <= 13 ? stage(mul: 0, term: 0, rshift: 0, pre: 0) : nil }

    /// The stage with the output zero point folded into the interpolation's rounding term.
    @inline(__always)
    func stage(mul: Int32, term: Int32, rshift: Int32, pre: Int32) -> clef_swish_stage {
        clef_swish_stage(knots: knots, limit: limit, shift: shift, mask: mask, half: half &- (outputZero &<< shift),
                         mul: mul, term: term, rshift: rshift, pre: pre)
    }

    /// `stage(requant:term:)` for int16 codes, whose multipliers (q16's int16 to int16, near 1)
    /// may take a pre-shift: that comes with a final shift of 1 (`Requant32`), and the zero
    /// point folds the same way, (h + 1 + 2 zero) >> 1 = ((h + 1) >> 1) + zero (|h| < 2^30).
    @inline(__always)
    func stage16(requant m: Requant32, zero: Int32) -> clef_swish_stage? {
        if let term = m.adding(zero) { return stage(requant: m, term: term) }
        guard shift <= 13, !m.general, m.mul != 0, m.pre > 0, m.shift == 1, zero.magnitude < 1 << 28 else { return nil }
        return stage(mul: m.mul, term: m.add &+ (zero &<< 1), rshift: 1, pre: m.pre)
    }

    /// The table's fast path alone (`clef_table_s16`).
    @inline(__always)
    var stage: clef_swish_stage {
        clef_swish_stage(knots: knots, limit: limit, shift: shift, mask: mask, half: half, mul: 0, term: 0, rshift: 0, pre: 0)
    }
}

extension QuantConv {
    /// Output steps per kernel pass (the accumulators live on the stack; 1x1 inputs are copied
    /// in chunks of this many steps).
    public static var chunk: Int { Int(CLEF_DOT2_NEAR) }

    /// Int64s of the kernels' stack buffer: two chunks of int32 sums (or one of int64) and the
    /// CLEFDSP dot2 kernels' scratch after them (`scratch(_:)`). (The output stages' sentinel at
    /// acc[n] may fall on the next chunk or the scratch: it is restored before either is read.)
    static var wideCount: Int { chunk + Int(CLEF_DOT2_SCRATCH) / 2 }

    /// The scratch of the CLEFDSP dot2 kernels, after the two chunks of int32 sums in `wide`.
    @inline(__always)
    static func scratch(_ wide: UnsafeMutablePointer<Int64>) -> UnsafeMutablePointer<Int32> {
        UnsafeMutableRawPointer(wide).assumingMemoryBound(to: Int32.self) + 2 * chunk
    }

    /// True when the sums of `In` inputs fit the CLEFDSP int32 dot products: int8 weights on int8
    /// inputs, or on int16 inputs with fewer than 512 terms per sum (|sum| < 2^31 either way).
    @inline(__always)
    func usesDot2<In: FixedWidthInteger>(_: In.Type) -> Bool {
        Weight.self == Int8.self && (In.self == Int8.self || (In.self == Int16.self && shape.inPerGroup * shape.kernel < 512))
    }

    /// A 1x1 convolution (one group) of `n` <= `chunk` steps of a transposed input
    /// x[t * inChannels + c] (each sum runs over contiguous memory), for output steps t0 ..< t0 + n.
    /// `multipliers`, where given, replace the layer's packed multipliers (conv3's, with the
    /// squeeze-excitation gates folded in). `staging`, where given and large enough (4-byte
    /// aligned), takes int8 inputs as staged int16 pairs on cores where that pays
    /// (`clef_dot2_x16_fast`): sign-extended once instead of once per pair of output channels.
    public func pointwise<In: FixedWidthInteger, Out: FixedWidthInteger>(_ x: UnsafePointer<In>, count n: Int, t0: Int,
                                                                        into d: ConvOutput<Out>, multipliers: UnsafePointer<Int32>? = nil,
                                                                        staging: UnsafeMutableRawBufferPointer? = nil) {
        @inline(__always) func multiplier(_ co: Int) -> Int32 { multipliers?[co] ?? biasRequant[2 * co + 1] }
        let cin = shape.inChannels, cout = shape.outChannels
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.wideCount) { wide in
            let a64 = wide.baseAddress!
            if usesDot2(In.self) {
                let a0 = UnsafeMutableRawPointer(a64).assumingMemoryBound(to: Int32.self), a1 = a0 + Self.chunk
                let w8 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int8.self), s8 = d.stage8()
                var staged: UnsafePointer<Int32>? = nil
                if canStage(In.self), let p = Self.words(in: staging, bytes: Self.stagedBytes(steps: n, inputs: cin)) {
                    clef_stage_x16(UnsafeRawPointer(x).assumingMemoryBound(to: Int8.self), Int32(cin), Int32(cin), Int32(n), p)
                    staged = UnsafePointer(p)
                }
                var co = 0
                while co < cout {
                    // Two output channels per pass (the second repeats the first if the count is odd).
                    let co1 = min(co + 1, cout - 1)
                    let b = (biasRequant[2 * co], biasRequant[2 * co1])
                    if let staged {
                        clef_dot2_x16_bias(staged, Int32(cin), w8 + co * cin, w8 + co1 * cin, b.0, b.1, a0, a1, Int32(n), Self.scratch(a64))
                    } else {
                        dot2(x, xs: cin, w8 + co * cin, w8 + co1 * cin, n: cin, biases: b, a0, a1, count: n, scratch: Self.scratch(a64))
                    }
                    if let s8 {
                        d.store(co, t0, n, requant: multiplier(co), a0, q8: s8)
                        if co1 != co { d.store(co1, t0, n, requant: multiplier(co1), a1, q8: s8) }
                    } else {
                        d.store(co, t0, n, requant: multiplier(co), a0)
                        if co1 != co { d.store(co1, t0, n, requant: multiplier(co1), a1) }
                    }
                    co += 2
                }
            } else {
                for co in 0..<cout {
                    let w = weight + co * cin
                    for i in 0..<n {
                        let xi = x + i * cin
                        var acc = Int64(biasRequant[2 * co])
                        for c in 0..<cin { acc = acc &+ Int64(truncatingIfNeeded: w[c]) &* Int64(truncatingIfNeeded: xi[c]) }
                        a64[i] = acc
                    }
                    d.store(co, t0, n, requant: multiplier(co), a64)
                }
            }
        }
    }

    /// The grouped, strided convolution for output steps t0 ..< t0 + n, reading padded rows:
    /// output t0 + i of input channel c sums rows[c * rowLength + i * stride + j] over the taps j
    /// (the caller points `rows` at the first output's window). Int8 weights go to the CLEFDSP
    /// int32 dot products where the sums fit (`usesDot2`); int16 weights on int16 inputs (the
    /// stem) too when no input this call reads is larger in magnitude than `int32Inputs`
    /// (`int32InputBound()`; real windows never are), else to the int64 one; anything else to a
    /// plain int64 loop; all exact.
    /// `staging`, where given and large enough (4-byte aligned), takes each group's int8 rows as
    /// staged int16 pairs (`clef_stage_rows16`) for k = 16 at stride 1 or 2 on cores where that
    /// pays (`clef_dot2_x16_fast`).
    public func rows<In: FixedWidthInteger, Out: FixedWidthInteger>(_ rows: UnsafePointer<In>, rowLength: Int, count: Int, t0: Int,
                                                                   into d: ConvOutput<Out>, int32Inputs: Int64 = -1,
                                                                   staging: UnsafeMutableRawBufferPointer? = nil) {
        let s = shape.stride, k = shape.kernel, cinG = shape.inPerGroup, coutG = shape.outPerGroup
        let dsp32 = usesDot2(In.self), dsp64 = Weight.self == Int16.self && In.self == Int16.self
        // Staged rows: words per row (CLEF_STAGE_ROWS16_WORDS), and where (nil: the int8 rows themselves).
        let words = count + (s == 1 ? 14 : 7)
        let staged = In.self == Int8.self && dsp32 && k == 16 && (s == 1 || s == 2) && cinG & 3 == 0
            ? Self.words(in: staging, bytes: 4 * words * cinG) : nil
        // The stem: int32 sums when the largest input magnitude this call reads allows.
        var stem32 = false
        if dsp64 {
            var xMax: Int64 = 0
            let span = (count - 1) * s + k
            for c in 0..<shape.inChannels {
                let r = rows + c * rowLength
                for j in 0..<span { xMax = max(xMax, abs(Int64(r[j]))) }
            }
            stem32 = xMax <= int32Inputs
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.wideCount) { wide in
            let a64 = wide.baseAddress!
            let a0 = UnsafeMutableRawPointer(a64).assumingMemoryBound(to: Int32.self), a1 = a0 + Self.chunk
            let s8 = d.stage8()
            for g in 0..<shape.groups {
                let gr = rows + g * cinG * rowLength
                if let staged {
                    clef_stage_rows16(UnsafeRawPointer(gr).assumingMemoryBound(to: Int8.self), Int32(rowLength), Int32(cinG), Int32(s),
                                      Int32(count), staged)
                }
                var col = 0
                while col < coutG {
                    let co0 = g * coutG + col, co1 = g * coutG + min(col + 1, coutG - 1)
                    var i0 = 0
                    while i0 < count {
                        let n = min(Self.chunk, count - i0)
                        let r = gr + i0 * s
                        if dsp32 || stem32 {
                            // Two channels into int32 sums: int8 weights (the group's rows in one call, so the DSP
                            // path keeps its sums in registers across them) or the stem's int16 ones.
                            // (The `_bias` kernels start the sums at the biases: no fill first.)
                            let b0 = biasRequant[2 * co0], b1 = biasRequant[2 * co1]
                            if stem32 {
                                let w16 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int16.self)
                                let x16 = UnsafeRawPointer(r).assumingMemoryBound(to: Int16.self)
                                for cl in 0..<cinG {
                                    let xr = x16 + cl * rowLength, wr0 = w16 + (co0 * cinG + cl) * k, wr1 = w16 + (co1 * cinG + cl) * k
                                    if cl == 0 {
                                        clef_dot2_s16s16_bias(xr, Int32(s), wr0, wr1, Int32(k), b0, b1, a0, a1, Int32(n), Self.scratch(a64))
                                    } else {
                                        clef_dot2_s16s16(xr, Int32(s), wr0, wr1, Int32(k), a0, a1, Int32(n), Self.scratch(a64))
                                    }
                                }
                            } else {
                                let w8 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int8.self)
                                if let staged {
                                    clef_dot2_rows16_bias(staged + i0, Int32(words), Int32(cinG), Int32(s), w8 + co0 * cinG * k,
                                                          w8 + co1 * cinG * k, b0, b1, a0, a1, Int32(n), Self.scratch(a64))
                                } else if In.self == Int8.self {
                                    clef_dot2_rows_s8_bias(UnsafeRawPointer(r).assumingMemoryBound(to: Int8.self), Int32(rowLength), Int32(cinG),
                                                           Int32(s), w8 + co0 * cinG * k, w8 + co1 * cinG * k, Int32(k), b0, b1, a0, a1,
                                                           Int32(n), Self.scratch(a64))
                                } else {
                                    clef_dot2_rows_s16s8_bias(UnsafeRawPointer(r).assumingMemoryBound(to: Int16.self), Int32(rowLength),
                                                              Int32(cinG), Int32(s), w8 + co0 * cinG * k, w8 + co1 * cinG * k, Int32(k), b0, b1,
                                                              a0, a1, Int32(n), Self.scratch(a64))
                                }
                            }
                            let m0 = biasRequant[2 * co0 + 1], m1 = biasRequant[2 * co1 + 1]
                            if let s8 {
                                d.store(co0, t0 + i0, n, requant: m0, a0, q8: s8)
                                if co1 != co0 { d.store(co1, t0 + i0, n, requant: m1, a1, q8: s8) }
                            } else {
                                d.store(co0, t0 + i0, n, requant: m0, a0)
                                if co1 != co0 { d.store(co1, t0 + i0, n, requant: m1, a1) }
                            }
                        } else if dsp64 {
                            let b = Int64(biasRequant[2 * co0])
                            for i in 0..<n { a64[i] = b }
                            let w16 = UnsafeRawPointer(weight).assumingMemoryBound(to: Int16.self)
                            let x16 = UnsafeRawPointer(r).assumingMemoryBound(to: Int16.self)
                            for cl in 0..<cinG {
                                clef_dot_s16_s64(x16 + cl * rowLength, Int32(s), w16 + (co0 * cinG + cl) * k, Int32(k), a64, Int32(n))
                            }
                            d.storeWide(co0, t0 + i0, n, requant: biasRequant[2 * co0 + 1], a64)
                        } else {
                            let w = weight + co0 * cinG * k
                            for i in 0..<n {
                                var acc = Int64(biasRequant[2 * co0])
                                for cl in 0..<cinG {
                                    let xr = r + cl * rowLength + i * s, wr = w + cl * k
                                    for j in 0..<k { acc = acc &+ Int64(truncatingIfNeeded: wr[j]) &* Int64(truncatingIfNeeded: xr[j]) }
                                }
                                a64[i] = acc
                            }
                            d.store(co0, t0 + i0, n, requant: biasRequant[2 * co0 + 1], a64)
                        }
                        i0 += n
                    }
                    col += dsp32 || stem32 ? 2 : 1
                }
            }
        }
    }

    /// Elements of `In` that `apply` needs as scratch for an input of `length` samples.
    public func scratchCount(length: Int) -> Int {
        shape.isPointwise && shape.groups == 1 ? Self.chunk * shape.inChannels
            : shape.inChannels * ((shape.outLength(length) - 1) * shape.stride + shape.kernel)
    }

    /// The whole convolution of channel-first input x [inChannels][length] into `out`
    /// [outChannels][outLength] (the layer-at-a-time form of `pointwise` / `rows`, which the
    /// encoder calls on slices). 1x1 layers copy their input one `chunk` of steps at a time,
    /// transposed, so `out` may overwrite `x`; the others pad each channel with its zero point
    /// (`padValues`: per-channel (zero point, multiplier) pairs, nil = 0).
    public func apply<In: FixedWidthInteger, Out: FixedWidthInteger>(
        _ x: UnsafePointer<In>, length: Int, padValues: UnsafePointer<Int32>?, scratch: UnsafeMutablePointer<In>,
        outZero: Int32, epilogue: ActivationStep? = nil, out: UnsafeMutablePointer<Out>) {
        let lo = shape.outLength(length)
        let d = ConvOutput(out, channelStride: lo, timeStride: 1, zero: outZero, epilogue: epilogue)
        if shape.isPointwise && shape.groups == 1 {
            let cin = shape.inChannels
            var t0 = 0
            while t0 < lo {
                let n = min(Self.chunk, lo - t0)
                for c in 0..<cin {
                    let src = x + c * length + t0
                    for i in 0..<n { scratch[i * cin + c] = src[i] }
                }
                pointwise(UnsafePointer(scratch), count: n, t0: t0, into: d)
                t0 += n
            }
            return
        }
        let rowLength = (lo - 1) * shape.stride + shape.kernel
        let left = max(0, rowLength - length) / 2
        for c in 0..<shape.inChannels {
            let pad = In(truncatingIfNeeded: padValues.map { $0[2 * c] } ?? 0)
            let row = scratch + c * rowLength, src = x + c * length
            for v in 0..<rowLength {
                let i = v - left
                row[v] = (i >= 0 && i < length) ? src[i] : pad
            }
        }
        rows(UnsafePointer(scratch), rowLength: rowLength, count: lo, t0: 0, into: d,
             int32Inputs: Weight.bitWidth > 8 ? int32InputBound() : -1)
    }

    /// Whether `pointwise` can stage `In` inputs at all: int8 inputs, taps a multiple of 16, a core
    /// with the DSP pair loop.
    @inline(__always)
    func canStage<In: FixedWidthInteger>(_: In.Type) -> Bool {
        In.self == Int8.self && clef_dot2_x16_fast() != 0 && shape.inChannels & 15 == 0
    }

    /// Whether `pointwise` stages `n` steps of `In` inputs in `room` for `clef_dot2_x16_bias`.
    @inline(__always)
    func stages<In: FixedWidthInteger>(_: In.Type, count n: Int, room: UnsafeMutableRawBufferPointer?) -> Bool {
        canStage(In.self) && Self.words(in: room, bytes: Self.stagedBytes(steps: n, inputs: shape.inChannels)) != nil
    }

    /// `room` as int32 words for a staged copy of `bytes`, where the core has the staged pair loops
    /// and the room is 4-byte aligned and large enough; else nil.
    @inline(__always)
    static func words(in room: UnsafeMutableRawBufferPointer?, bytes: Int) -> UnsafeMutablePointer<Int32>? {
        guard clef_dot2_x16_fast() != 0, let room, let base = room.baseAddress, Int(bitPattern: base) & 3 == 0,
              room.count >= bytes else { return nil }
        return base.assumingMemoryBound(to: Int32.self)
    }

    /// Bytes of `steps` staged steps of `inputs` int8 inputs (`CLEF_STAGE_X16_WORDS`).
    @inline(__always)
    static func stagedBytes(steps: Int, inputs: Int) -> Int { 4 * ((steps + 1) / 2) * inputs }

    /// The int8- or int16-input dot product of CLEFDSP, the sums started at the two biases.
    @inline(__always)
    func dot2<In: FixedWidthInteger>(_ x: UnsafePointer<In>, xs: Int, _ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>, n: Int,
                                     biases b: (Int32, Int32), _ a0: UnsafeMutablePointer<Int32>, _ a1: UnsafeMutablePointer<Int32>,
                                     count: Int, scratch: UnsafeMutablePointer<Int32>) {
        if In.self == Int8.self {
            clef_dot2_s8_bias(UnsafeRawPointer(x).assumingMemoryBound(to: Int8.self), Int32(xs), w0, w1, Int32(n), b.0, b.1, a0, a1,
                              Int32(count), scratch)
        } else {
            clef_dot2_s16s8_bias(UnsafeRawPointer(x).assumingMemoryBound(to: Int16.self), Int32(xs), w0, w1, Int32(n), b.0, b.1, a0, a1,
                                 Int32(count), scratch)
        }
    }
}

/// An integer dense layer (the squeeze-excitation linears): y = requant(bias + W x) + zOut.
/// Weights are int8, or 4-bit (`BlobDType.i4`, rows packed two values a byte): the SE linears
/// run once a window, so unpacking costs little, and they are half the small model's weights.
public struct QuantLinear {
    public let inCount: Int
    public let outCount: Int
    /// Rows of `inCount` int8 values, or of `(inCount + 1) / 2` bytes when `packed4`.
    public let weight: UnsafePointer<Int8>
    public let packed4: Bool
    /// [out][2]: bias, packed multiplier.
    public let biasRequant: UnsafePointer<Int32>

    public init(inCount: Int, outCount: Int, weight: UnsafePointer<Int8>, packed4: Bool = false, biasRequant: UnsafePointer<Int32>) {
        self.inCount = inCount
        self.outCount = outCount
        self.weight = weight
        self.packed4 = packed4
        self.biasRequant = biasRequant
    }

    /// `x` are int32 codes (|x| <= 2^16 for 4-bit weights, `dot2S4S32`); outputs are clamped to [lo, hi].
    public func run(_ x: UnsafePointer<Int32>, outZero: Int32, lo: Int64, hi: Int64, out: UnsafeMutablePointer<Int32>) {
        let rowBytes = packed4 ? (inCount + 1) / 2 : inCount
        var o = 0
        while o < outCount {
            // Two rows per pass (the second repeats the first if the count is odd).
            let o1 = min(o + 1, outCount - 1)
            let w0 = weight + o * rowBytes, w1 = weight + o1 * rowBytes
            let (s0, s1) = packed4 ? dot2S4S32(w0, w1, x, inCount) : dot2S8S32(w0, w1, x, inCount)
            @inline(__always) func put(_ i: Int, _ sum: Int64) {
                out[i] = Int32(truncatingIfNeeded: clamp(Int64(outZero) &+ requantize(Int64(biasRequant[2 * i]) &+ sum, biasRequant[2 * i + 1]), lo, hi))
            }
            put(o, s0)
            put(o1, s1)
            o += 2
        }
    }
}

/// w0 . x and w1 . x for rows of 4-bit weights (two a byte, the even element in the low nibble)
/// and |x| <= 2^16: each product is below 2^19 in magnitude, so 2048 of them sum exactly in 32
/// bits before joining the 64-bit total. On 32-bit Arm the CLEFDSP loop (eight values a word,
/// SBFX and MLA: Cortex-M4F q8 -0.17 M a window); elsewhere this Swift loop (on RV32 0.02 M
/// cheaper than the C one).
@inline(__always)
public func dot2S4S32(_ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>, _ x: UnsafePointer<Int32>, _ n: Int) -> (Int64, Int64) {
    #if !arch(arm)
    var a: Int64 = 0, b: Int64 = 0
    var j = 0
    while j < n {
        let end = min(n, j + 2048)
        var s0: Int32 = 0, s1: Int32 = 0
        while j + 1 < end {
            let p = Int32(w0[j >> 1]), q = Int32(w1[j >> 1])
            let x0 = x[j], x1 = x[j + 1]
            s0 = s0 &+ ((p &<< 28) &>> 28) &* x0 &+ (p &>> 4) &* x1
            s1 = s1 &+ ((q &<< 28) &>> 28) &* x0 &+ (q &>> 4) &* x1
            j += 2
        }
        if j < end {    // an odd count's last value, alone in its byte
            s0 = s0 &+ ((Int32(w0[j >> 1]) &<< 28) &>> 28) &* x[j]
            s1 = s1 &+ ((Int32(w1[j >> 1]) &<< 28) &>> 28) &* x[j]
            j += 1
        }
        a = a &+ Int64(s0)
        b = b &+ Int64(s1)
    }
    return (a, b)
    #else
    return pairSums { clef_dot2_s4_s32(w0, w1, x, Int32(n), $0) }
    #endif
}

/// The two sums a CLEFDSP two-row dot product writes to an int64[2].
@inline(__always)
func pairSums(_ body: (UnsafeMutablePointer<Int64>) -> Void) -> (Int64, Int64) {
    var sums: (Int64, Int64) = (0, 0)
    withUnsafeMutableBytes(of: &sums) { body($0.baseAddress!.assumingMemoryBound(to: Int64.self)) }
    return sums
}

/// w0 . x and w1 . x, int8 x int32 into int64, each x loaded once. On 32-bit cores the CLEFDSP
/// loop (Arm: one SMLAL per term, where LLVM builds Swift's Int8 -> Int64 products from three
/// multiplies); on 64-bit hosts the plain Swift loop.
@inline(__always)
public func dot2S8S32(_ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>, _ x: UnsafePointer<Int32>, _ n: Int) -> (Int64, Int64) {
    #if arch(x86_64) || arch(arm64)
    var a: Int64 = 0, b: Int64 = 0
    for j in 0..<n { let v = Int64(x[j]); a = a &+ Int64(w0[j]) &* v; b = b &+ Int64(w1[j]) &* v }
    return (a, b)
    #else
    return pairSums { clef_dot2_s8_s32(w0, w1, x, Int32(n), $0) }
    #endif
}

