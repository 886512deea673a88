import XCTest
import CLEFArch
import CLEFKernels
import CLEFQuant

/// Every integer kernel against a plain integer reference (Int128 where products can overflow).
final class IntegerKernelTests: XCTestCase {
    struct LCG {
        var s: UInt64
        mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 11 }
        mutating func int(_ r: ClosedRange<Int64>) -> Int64 { r.lowerBound + Int64(next() % UInt64(r.upperBound - r.lowerBound + 1)) }
    }

    /// round(acc * mult / 2^r), halves up, in Int128.
    func reference(_ acc: Int64, _ packed: Int32) -> Int64 {
        let mult = Int128(packed >> 8), r = 23 + Int(Int8(truncatingIfNeeded: packed))
        return Int64((Int128(acc) * mult + (Int128(1) << (r - 1))) >> r)
    }

    func testRequantizeIsExactOverTheWholeRange() {
        var g = LCG(s: 3)
        for _ in 0..<200_000 {
            let mult = Int32(g.int(1 << 22...(1 << 23) - 1))
            let shift = Int32(g.int(-22...39))
            let packed = packRequant(mult: mult, shift: shift)
            XCTAssertTrue(requantIsValid(packed))
            let acc: Int64
            switch g.next() % 3 {
            case 0: acc = g.int(-(1 << 20)...(1 << 20))
            case 1: acc = g.int(-(1 << 45)...(1 << 45))
            default: acc = g.int(-(1 << 61)...(1 << 61))
            }
            // Results that do not fit 64 bits are never produced by valid blobs; compare the rest.
            guard abs(Double(acc) * Double(mult) / pow(2, Double(23 + shift))) < 9e18 else { continue }
            XCTAssertEqual(requantize(acc, packed), reference(acc, packed), "acc \(acc) mult \(mult) shift \(shift)")
        }
        XCTAssertFalse(requantIsValid(packRequant(mult: 1 << 23, shift: 0)))
        XCTAssertFalse(requantIsValid(packRequant(mult: 1 << 22, shift: 40)))
    }

    /// The per-channel 32-bit requantiser equals the exact rounding for every shift and every
    /// input the caller promises (`inputBits`), including the extremes.
    func testRequant32IsExact() {
        var g = LCG(s: 11)
        for bits: Int32 in [31, 16] {
            for r in Int32(1)...62 {
                for _ in 0..<400 {
                    let mult = Int32(g.int(1 << 22...(1 << 23) - 1))
                    let packed = packRequant(mult: mult, shift: r - 23)
                    let q = Requant32(packed, inputBits: bits)
                    let limit = (Int64(1) << Int64(bits)) - 1
                    var acc: Int64
                    switch g.next() % 4 {
                    case 0: acc = limit
                    case 1: acc = -limit
                    case 2: acc = g.int(-1000...1000)
                    default: acc = g.int(-limit...limit)
                    }
                    let want = max(-(1 << 30), min((1 << 30) - 1, reference(acc, packed)))
                    XCTAssertEqual(Int64(q(Int32(acc))), want, "r \(r) mult \(mult) acc \(acc) bits \(bits) general \(q.general)")
                    // A zero point folded into the rounding term gives the same codes.
                    let k = Int32(g.int(-65535...65535))
                    if let term = q.adding(k) {
                        XCTAssertEqual(q.fast(Int32(acc), adding: term), q.fast(Int32(acc)) + k, "r \(r) mult \(mult) acc \(acc) k \(k)")
                    }
                }
            }
        }
        // The fast form covers the shifts real blobs use (r 22...39 with 16-bit inputs, 25...62 with 31).
        XCTAssertFalse(Requant32(packRequant(mult: 1 << 22, shift: -1), inputBits: 16).general)
        XCTAssertFalse(Requant32(packRequant(mult: 1 << 22, shift: 2)).general)
        XCTAssertTrue(Requant32(packRequant(mult: 1 << 22, shift: 1)).general)   // r = 24 on 31-bit sums
        // Exactly 1 (2^22 / 2^22) is the identity on every int16-range input; its neighbours are not.
        let one = Requant32(packRequant(mult: 1 << 22, shift: -1), inputBits: 16)
        XCTAssertTrue(one.isIdentity)
        for acc in [Int32(-65535), -1, 0, 1, 12345, 65535] { XCTAssertEqual(one.fast(acc), acc) }
        XCTAssertFalse(Requant32(packRequant(mult: (1 << 22) + 1, shift: -1), inputBits: 16).isIdentity)
        XCTAssertFalse(Requant32(packRequant(mult: 1 << 22, shift: 0), inputBits: 16).isIdentity)   // 1/2
    }

    /// The gate folded into conv3's multiplier (`combinedMultiplier`): a valid packed multiplier
    /// whose value is the exact product a * b * k rounded to 23 bits (checked in Int128), 0 below
    /// 2^-39 and the largest multiplier above the packed range; a requantised sum then differs
    /// from the exact product's rounding by at most one code.
    func testCombinedMultiplierRoundsTheExactProduct() {
        var g = LCG(s: 23)
        for _ in 0..<50_000 {
            let a = packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: Int32(g.int(-22...39)))
            let b = packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: Int32(g.int(-22...39)))
            let k = Int32(g.next() % 3 == 0 ? g.int(0...3) : g.int(0...32767))
            let c = combinedMultiplier(a, b, k)
            XCTAssertTrue(requantIsValid(c), "a \(a) b \(b) k \(k)")
            let p = Int128(a >> 8) * Int128(b >> 8) * Int128(k)
            let sa = Int(Int8(truncatingIfNeeded: a)), sb = Int(Int8(truncatingIfNeeded: b))
            // The product's value is p 2^-(46 + sa + sb); the result's m 2^-(23 + s).
            let m = Int128(c >> 8), s = Int(Int8(truncatingIfNeeded: c))
            if p == 0 { XCTAssertEqual(c, 0); continue }
            let e = 23 + sa + sb - s   // the result is m 2^e in units of 2^-(46 + sa + sb)
            if c == 0 {
                // Underflow: below 2^-39, i.e. p < 2^(46 + sa + sb - 39).
                XCTAssertLessThan(p, Int128(1) << (7 + sa + sb), "a \(a) b \(b) k \(k)")
            } else if m == (1 << 23) - 1 && s == -22 && p >= Int128(1) << (23 + 1 + sa + sb + 22) {
                continue   // saturated: the product is above the largest multiplier
            } else if e >= 0 {
                XCTAssertLessThanOrEqual(abs((m << e) - p), e > 0 ? Int128(1) << (e - 1) : 0, "a \(a) b \(b) k \(k)")
            } else {
                XCTAssertEqual(m, p << -e, "a \(a) b \(b) k \(k)")
            }
        }
        XCTAssertEqual(combinedMultiplier(packRequant(mult: 1 << 22, shift: 0), packRequant(mult: 1 << 22, shift: 0), 0), 0)
        XCTAssertEqual(combinedMultiplier(0, packRequant(mult: 1 << 22, shift: 0), 100), 0)
        // (2^22 2^-23)^2 x 2^14 = 2^12: the whole product representable exactly.
        let big = combinedMultiplier(packRequant(mult: 1 << 22, shift: 0), packRequant(mult: 1 << 22, shift: 0), 1 << 14)
        XCTAssertEqual(reference(3, big), 3 << 12)
    }

    /// The 4-bit dot product against the plain Int64 sum, over odd counts, counts beyond its
    /// 2048-term 32-bit partial sums and the extreme values; and a 4-bit `QuantLinear` gives the
    /// bits of the int8 one holding the same values.
    func testInt4DotProductAndLinearMatchReference() {
        var r = LCG(s: 41)
        for n in [1, 2, 7, 64, 255, 2048, 2049, 4099] {
            for extreme in [false, true] {
                let w0 = (0..<n).map { _ in Int8(extreme ? -8 : r.int(-8...7)) }
                let w1 = (0..<n).map { _ in Int8(extreme ? 7 : r.int(-8...7)) }
                let x = (0..<n).map { _ in Int32(extreme ? -65536 : r.int(-65536...65536)) }
                func pack(_ v: [Int8]) -> [Int8] {
                    stride(from: 0, to: v.count, by: 2).map { j in
                        Int8(bitPattern: UInt8(bitPattern: v[j]) & 15 | (j + 1 < v.count ? UInt8(bitPattern: v[j + 1]) & 15 : 0) << 4)
                    }
                }
                let (a, b) = dot2S4S32(pack(w0), pack(w1), x, n)
                XCTAssertEqual(a, zip(w0, x).reduce(Int64(0)) { $0 + Int64($1.0) * Int64($1.1) }, "n \(n)")
                XCTAssertEqual(b, zip(w1, x).reduce(Int64(0)) { $0 + Int64($1.0) * Int64($1.1) }, "n \(n)")
            }
        }
        let inCount = 33, outCount = 5
        let w = (0..<(inCount * outCount)).map { _ in Int8(r.int(-8...7)) }
        var packed: [Int8] = []
        for o in 0..<outCount {
            for j in stride(from: 0, to: inCount, by: 2) {
                let hi = j + 1 < inCount ? UInt8(bitPattern: w[o * inCount + j + 1]) & 15 : 0
                packed.append(Int8(bitPattern: UInt8(bitPattern: w[o * inCount + j]) & 15 | hi << 4))
            }
        }
        let br = (0..<outCount).flatMap { _ in [Int32(r.int(-100_000...100_000)), packRequant(mult: Int32(r.int(4_194_304...8_388_607)), shift: 4)] }
        let x = (0..<inCount).map { _ in Int32(r.int(-65536...65536)) }
        var y8 = [Int32](repeating: 0, count: outCount), y4 = y8
        w.withUnsafeBufferPointer { wp in packed.withUnsafeBufferPointer { pp in br.withUnsafeBufferPointer { bp in
            QuantLinear(inCount: inCount, outCount: outCount, weight: wp.baseAddress!, biasRequant: bp.baseAddress!)
                .run(x, outZero: 3, lo: -32768, hi: 32767, out: &y8)
            QuantLinear(inCount: inCount, outCount: outCount, weight: pp.baseAddress!, packed4: true, biasRequant: bp.baseAddress!)
                .run(x, outZero: 3, lo: -32768, hi: 32767, out: &y4)
        } } }
        XCTAssertEqual(y4, y8)
        XCTAssertTrue(y8.contains { $0 != 3 && $0 > -32768 && $0 < 32767 }, "some outputs inside the range")
    }

    func testConvMatchesPlainIntegerReference() {
        var g = LCG(s: 17)
        let shapes = [ConvShape(inChannels: 16, outChannels: 16, groups: 4, kernel: 16, stride: 2),
                      ConvShape(inChannels: 8, outChannels: 12, groups: 1, kernel: 1, stride: 1),
                      ConvShape(inChannels: 6, outChannels: 9, groups: 3, kernel: 5, stride: 3)]
        for s in shapes {
            for length in [1, 7, 16, 33, 101] {
                let x = (0..<(s.inChannels * length)).map { _ in Int8(g.int(-128...127)) }
                let w = (0..<(s.outChannels * s.inPerGroup * s.kernel)).map { _ in Int8(g.int(-127...127)) }
                let zIn = (0..<s.inChannels).map { _ in Int32(g.int(-128...127)) }
                var params = [Int32]()
                for c in 0..<s.inChannels { params += [zIn[c], packRequant(mult: 1 << 22, shift: 0)] }
                var br = [Int32]()
                // Shifts 5...12 (the fast form), and -14...4: multipliers of 1/4 and more, which a
                // 32-bit sum saturates (the narrowed form, and below r = 13 the general one).
                for _ in 0..<s.outChannels {
                    let shift = g.int(0...1) == 0 ? g.int(5...12) : g.int(-14...4)
                    br += [Int32(g.int(-100_000...100_000)), packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: Int32(shift))]
                }
                let outZero: Int32 = -7
                let o = s.outLength(length)
                // The dispatching entry point (CLEFDSP dot products) on int8 inputs, and on int16
                // inputs (int16 x int8 into int32) over their whole range.
                let conv = w.withUnsafeBufferPointer { wp in br.withUnsafeBufferPointer { bp in
                    QuantConv(shape: s, weight: wp.baseAddress!, biasRequant: bp.baseAddress!) } }
                var y8 = [Int16](repeating: 0, count: s.outChannels * o)
                var scratch8 = [Int8](repeating: 0, count: conv.scratchCount(length: length))
                conv.apply(x, length: length, padValues: params, scratch: &scratch8, outZero: outZero, out: &y8)
                let x16 = (0..<(s.inChannels * length)).map { _ in Int16(g.int(-32768...32767)) }
                var y16 = [Int16](repeating: 0, count: s.outChannels * o)
                var scratch16 = [Int16](repeating: 0, count: conv.scratchCount(length: length))
                conv.apply(x16, length: length, padValues: params, scratch: &scratch16, outZero: outZero, out: &y16)
                withExtendedLifetime((w, br)) {
                    check(y8, x.map(Int64.init), "apply int8")
                    check(y16, x16.map(Int64.init), "apply int16")
                }
                // Plain reference: same padding, zero points as pad values.
                func check(_ y: [Int16], _ x: [Int64], _ what: String) {
                    let total = max(0, (o - 1) * s.stride + s.kernel - length), left = total / 2
                    for co in 0..<s.outChannels {
                        let gi = co / s.outPerGroup
                        for t in 0..<o {
                            var acc = Int64(br[2 * co])
                            for cl in 0..<s.inPerGroup {
                                let ci = gi * s.inPerGroup + cl
                                for k in 0..<s.kernel {
                                    let i = t * s.stride + k - left
                                    let v = (i >= 0 && i < length) ? x[ci * length + i] : Int64(zIn[ci])
                                    acc += Int64(w[(co * s.inPerGroup + cl) * s.kernel + k]) * v
                                }
                            }
                            let want = max(-32768, min(32767, Int64(outZero) + reference(acc, br[2 * co + 1])))
                            XCTAssertEqual(Int64(y[co * o + t]), want, "\(what) \(s) L=\(length) co=\(co) t=\(t)")
                        }
                    }
                }
            }
        }
    }

    /// The convolutions' Swish output stage (requantisation, interpolated table, the channel's
    /// requantisation; CLEFDSP's two passes where they apply, the Swift loop elsewhere) against a
    /// plain reference: table shifts 0 to 14 (14 takes the Swift loop), codes below, inside and
    /// above the knots (the linear part), int8 and int16 outputs, 1x1 and grouped layers.
    func testSwishOutputStageMatchesPlainReference() {
        var g = LCG(s: 29)
        let shapes = [ConvShape(inChannels: 16, outChannels: 16, groups: 2, kernel: 16, stride: 2),
                      ConvShape(inChannels: 24, outChannels: 10, groups: 1, kernel: 1, stride: 1)]
        for s in shapes {
            for shift: Int32 in [0, 4, 9, 13, 14] {
                for wide in [false, true] {
                    // Knots over about 4096 codes from a start below zero (the codes spread over
                    // several thousand, so some fall on either side).
                    let length = 75, count = max(65, (4096 >> Int(shift)) + 1)
                    let start = Int32(g.int(-3000...(-1000)))
                    let knots = (0..<count).map { _ in Int16(g.int(-2000...6000)) }
                    let tz = Int32(g.int(-100...100)), inZ = Int32(g.int(-50...50))
                    let domain: [Int32] = [start, shift, 1, packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: 0), inZ]
                    let x = (0..<(s.inChannels * length)).map { _ in Int8(g.int(-128...127)) }
                    let w = (0..<(s.outChannels * s.inPerGroup * s.kernel)).map { _ in Int8(g.int(-127...127)) }
                    var br = [Int32](), cr = [Int32]()
                    for _ in 0..<s.outChannels {
                        br += [Int32(g.int(-20_000...20_000)), packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: Int32(g.int(3...6)))]
                        // int8 codes: about 1/32 of the table's scale; int16: about 1/2 or 1/4.
                        cr += [Int32(g.int(-20...20)), packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: wide ? Int32(g.int(1...2)) : 5)]
                    }
                    let outZero = Int32(g.int(-300...300)), o = s.outLength(length)
                    var y = [Int16](repeating: 0, count: s.outChannels * o), y8 = [Int8](repeating: 0, count: s.outChannels * o)
                    knots.withUnsafeBufferPointer { kp in domain.withUnsafeBufferPointer { dp in
                        w.withUnsafeBufferPointer { wp in br.withUnsafeBufferPointer { bp in cr.withUnsafeBufferPointer { cp in
                            let step = ActivationStep(table: LookupTable(knots: kp.baseAddress!, count: Int32(count), domain: dp.baseAddress!,
                                                                         outputZero: tz), channelRequant: ChannelRequant(cp.baseAddress!, shared: false))
                            let conv = QuantConv(shape: s, weight: wp.baseAddress!, biasRequant: bp.baseAddress!)
                            var scratch = [Int8](repeating: 0, count: conv.scratchCount(length: length))
                            if wide {
                                conv.apply(x, length: length, padValues: nil, scratch: &scratch, outZero: outZero, epilogue: step, out: &y)
                            } else {
                                conv.apply(x, length: length, padValues: nil, scratch: &scratch, outZero: outZero, epilogue: step, out: &y8)
                            }
                        } } } } }
                    let total = max(0, (o - 1) * s.stride + s.kernel - length), left = total / 2
                    var outside = 0
                    for co in 0..<s.outChannels {
                        let gi = co / s.outPerGroup
                        for t in 0..<o {
                            var acc = Int64(br[2 * co])
                            for cl in 0..<s.inPerGroup {
                                for k in 0..<s.kernel {
                                    let i = t * s.stride + k - left
                                    if i >= 0 && i < length {
                                        acc += Int64(w[(co * s.inPerGroup + cl) * s.kernel + k]) * Int64(x[(gi * s.inPerGroup + cl) * length + i])
                                    }
                                }
                            }
                            let q = max(-32768, min(32767, Int64(outZero) + reference(acc, br[2 * co + 1])))
                            let u = q - Int64(start), span = Int64(count - 1) << Int64(shift)
                            var v: Int64
                            if u < 0 {
                                v = Int64(knots[0]); outside += 1
                            } else if u < span {
                                let i = Int(u >> Int64(shift)), f = u & ((1 << Int64(shift)) - 1)
                                let a = Int64(knots[i]), b = Int64(knots[i + 1])
                                v = a + (((b - a) * f + (shift > 0 ? 1 << Int64(shift - 1) : 0)) >> Int64(shift))
                            } else {
                                v = max(-32768, min(32767, Int64(tz) + reference(q - Int64(inZ), domain[3]))); outside += 1
                            }
                            let c = Int64(cr[2 * co]) + reference(v - Int64(tz), cr[2 * co + 1])
                            let got = wide ? Int64(y[co * o + t]) : Int64(y8[co * o + t])
                            let want = wide ? max(-32768, min(32767, c)) : max(-128, min(127, c))
                            XCTAssertEqual(got, want, "\(s) shift \(shift) wide \(wide) co=\(co) t=\(t)")
                        }
                    }
                    XCTAssertGreaterThan(outside, 0, "some codes leave the knots (\(s), shift \(shift))")
                    XCTAssertLessThan(outside, s.outChannels * o / 2, "most codes are inside the knots (\(s), shift \(shift))")
                }
            }
        }
    }

    /// The stem's paths: int16 weights on int16 inputs into int32 where the input's largest
    /// magnitude keeps every channel's sums inside int32 (`int32InputBound`, here inputs within
    /// +-1000), else into int64 (CLEFDSP's SMLALD kernel: full-range inputs).
    func testInt16StemConvMatchesPlainIntegerReference() {
        var g = LCG(s: 29)
        // 16 taps (AVX2 on the host, the SMLAD stem kernel or SMLALD on Arm) and 7 (the portable tiles and an odd tail).
        for s in [ConvShape(inChannels: 2, outChannels: 5, groups: 1, kernel: 16, stride: 2),
                  ConvShape(inChannels: 2, outChannels: 5, groups: 1, kernel: 7, stride: 2)] {
            for (length, amplitude) in [(1, 32767), (9, 32767), (100, 32767), (9, 1000), (100, 1000)] as [(Int, Int64)] {
                let x = (0..<(s.inChannels * length)).map { _ in Int16(g.int(-amplitude...amplitude)) }
                let w = (0..<(s.outChannels * s.inPerGroup * s.kernel)).map { i in
                    Int16(i / (s.inPerGroup * s.kernel) % 2 == 0 ? g.int(-32767...32767) : g.int(-2000...2000)) }
                var br = [Int32]()
                // Shifts 14...20 (r >= 32: the stem's fast path when a per-tensor Swish follows) and
                // 0...13 (the general 64-bit path).
                for _ in 0..<s.outChannels {
                    let shift = g.int(0...1) == 0 ? g.int(14...20) : g.int(0...13)
                    br += [Int32(g.int(-100_000...100_000)), packRequant(mult: Int32(g.int(1 << 22...(1 << 23) - 1)), shift: Int32(shift))]
                }
                // An interpolated table after the requantisation (as the stem's Swish).
                let start: Int32 = -1000, tshift: Int32 = 3, count = 300
                let knots = (0..<count).map { Int16(clamping: 3 * (Int(start) + $0 << Int(tshift)) / 4) }
                let domain: [Int32] = [start, tshift, 1, packRequant(mult: 1 << 22, shift: 0), 5]
                let o = s.outLength(length)
                var y = [Int16](repeating: 0, count: s.outChannels * o), ye = y
                var scratch = [Int16](repeating: 0, count: s.preparedCount(length))
                w.withUnsafeBufferPointer { wp in br.withUnsafeBufferPointer { bp in knots.withUnsafeBufferPointer { kp in domain.withUnsafeBufferPointer { dp in
                    let conv = QuantConv(shape: s, weight: wp.baseAddress!, biasRequant: bp.baseAddress!)
                    conv.apply(x, length: length, padValues: nil, scratch: &scratch, outZero: 3, out: &y)
                    let table = LookupTable(knots: kp.baseAddress!, count: Int32(count), domain: dp.baseAddress!, outputZero: -2)
                    conv.apply(x, length: length, padValues: nil, scratch: &scratch, outZero: 3,
                               epilogue: ActivationStep(table: table, channelRequant: nil), out: &ye)
                    let left = max(0, (o - 1) * s.stride + s.kernel - length) / 2
                    for co in 0..<s.outChannels {
                        for t in 0..<o {
                            var acc = Int64(br[2 * co])
                            for ci in 0..<s.inChannels {
                                for k in 0..<s.kernel {
                                    let i = t * s.stride + k - left
                                    if i >= 0 && i < length { acc += Int64(w[(co * s.inChannels + ci) * s.kernel + k]) * Int64(x[ci * length + i]) }
                                }
                            }
                            let code = max(-32768, min(32767, 3 + reference(acc, br[2 * co + 1])))
                            XCTAssertEqual(Int64(y[co * o + t]), code, "L=\(length) co=\(co) t=\(t)")
                            XCTAssertEqual(Int32(ye[co * o + t]), table(Int32(code)), "with table: L=\(length) co=\(co) t=\(t)")
                        }
                    }
                } } } }
            }
        }
    }

    func testLookupTableInterpolatesAndExtends() {
        // Knots of f(q) = 3q over [-1000, 1000) every 8 codes; identity x 0.5 above.
        let start: Int32 = -1000, shift: Int32 = 3
        let count = 251
        let knots = (0..<count).map { Int16(clamping: 3 * (Int(start) + $0 << Int(shift)) / 4) }
        let domain: [Int32] = [start, shift, 1, packRequant(mult: 1 << 22, shift: 0), 5]   // multiplier 0.5, input zero 5
        knots.withUnsafeBufferPointer { kp in
            domain.withUnsafeBufferPointer { dp in
                XCTAssertTrue(LookupTable.isValid(count: count, domain: dp.baseAddress!))
                let t = LookupTable(knots: kp.baseAddress!, count: Int32(count), domain: dp.baseAddress!, outputZero: 11)
                XCTAssertEqual(t(-5000), Int32(knots[0]))                  // below: first knot
                for q in stride(from: Int32(-1000), to: 992, by: 1) {
                    let u = q - start, i = Int(u >> shift), f = u & 7
                    let a = Int32(knots[i]), b = Int32(knots[i + 1])
                    XCTAssertEqual(t(q), a + (((b - a) * f + 4) >> 3), "q=\(q)")
                }
                XCTAssertEqual(t(2005), 11 + 1000)                         // above: (q - 5) * 0.5 + 11
            }
        }
    }

    /// sum16 is clamp(z + g + d) to int16, computed exactly in 64 bits, over the extremes of its
    /// domain (int16 z and g; d in [-2^30, 2^30)) and random values.
    func testSum16IsTheSaturatedSum() {
        var g = SystemRandomNumberGenerator()
        let edges: [Int32] = [-(1 << 30), -(1 << 30) + 1, -65536, -32769, -32768, -1, 0, 1, 32767, 32768, 65535, (1 << 30) - 1]
        let codes: [Int32] = [-32768, -32767, -1, 0, 1, 32766, 32767]
        var cases: [(Int32, Int32, Int32)] = []
        for z in codes { for a in codes { for b in edges { cases.append((z, a, b)) } } }
        for _ in 0..<20000 {
            cases.append((Int32.random(in: -32768...32767, using: &g), Int32.random(in: -32768...32767, using: &g),
                          Int32.random(in: -(1 << 30)..<(1 << 30), using: &g)))
        }
        for (z, a, b) in cases {
            let exact = Int16(clamp(Int64(z) + Int64(a) + Int64(b), -32768, 32767))
            XCTAssertEqual(sum16(z, a, b), exact, "z \(z) a \(a) b \(b)")
        }
    }

    /// `clamping(q)` is `t(clamp(q, int16))` for every 32-bit q, also for a table whose knots
    /// run past code 32767 (the exporter's last segment may), with and without the linear tail.
    func testClampingLookupEqualsLookupOfClampedCode() {
        for (start, shift, count, linear) in [(Int32(-1000), Int32(3), 251, Int32(1)), (Int32(-20000), Int32(7), 513, Int32(1)),
                                              (Int32(-20000), Int32(7), 513, Int32(0)), (Int32(-32768), Int32(0), 3, Int32(0))] {
            let knots = (0..<count).map { Int16(truncatingIfNeeded: ($0 * 7919) % 60000 - 30000) }
            let domain: [Int32] = [start, shift, linear, packRequant(mult: 1 << 22, shift: 0), 5]
            knots.withUnsafeBufferPointer { kp in
                domain.withUnsafeBufferPointer { dp in
                    XCTAssertTrue(LookupTable.isValid(count: count, domain: dp.baseAddress!))
                    let t = LookupTable(knots: kp.baseAddress!, count: Int32(count), domain: dp.baseAddress!, outputZero: 11)
                    var qs: [Int32] = [Int32.min, Int32.max, -32769, 32768, 1 << 30, -(1 << 30)]
                    qs += Array(stride(from: Int32(-33000), through: 33000, by: 1))
                    for q in qs {
                        XCTAssertEqual(t.clamping(q), t(clamp32(q, -32768, 32767)), "start \(start) shift \(shift) q \(q)")
                    }
                }
            }
        }
    }

    /// The int8 block outputs' companding: every code comes back from its own expansion,
    /// expansion is strictly increasing (so codes max-pool as their values do), and `compress`
    /// gives the nearest code to any step count inside the codes' reach.
    func testCompandingRoundTripsAndIsMonotone() {
        for (knee, shift) in [(Int32(96), Int32(3)), (96, 2), (127, 0), (0, 4), (112, 3)] {
            let cmp = Companding(knee: knee, shift: shift)
            var previous = Int32.min
            for c in Int32(-128)...127 {
                let e = cmp.expand(c)
                XCTAssertGreaterThan(e, previous, "knee \(knee) shift \(shift) code \(c)")
                previous = e
                XCTAssertEqual(cmp.compress(e), c, "knee \(knee) shift \(shift) code \(c)")
            }
            XCTAssertEqual(cmp.maxSteps, -cmp.expand(-128))
            for u in -cmp.maxSteps...cmp.expand(127) {
                let c = clamp32(cmp.compress(u), -128, 127)
                // No other code is nearer (ties may go either way).
                let best = (Int32(-128)...127).map { abs(cmp.expand($0) - u) }.min()!
                XCTAssertEqual(abs(cmp.expand(c) - u), best, "knee \(knee) shift \(shift) steps \(u)")
            }
        }
    }

    /// The integer engines write each block's output over its input as pass 2 goes: for every
    /// preset (medium's and large's outputs grow faster than their inputs), window length and
    /// int8-output count, no output chunk reaches input steps a later chunk still reads, every
    /// tensor stays inside the block buffer, 4-byte aligned, and block 0's output never reaches
    /// stem rows still to be read.
    func testInPlaceBlockPlacementIsSafe() {
        for size in ModelSize.allCases {
            let config = Net1DConfig.preset(size)
            let blocks = config.blocks
            for int8Outputs in [0, 1, 2] {
                for length in [5000, 3331, 997, 40] {
                    let plan = QuantArenaPlan(config: config, maxLength: length, rowBudget: 4096, int8Outputs: int8Outputs)
                    let sl = outLength(length, stride: 2)
                    let first = QuantArenaPlan.firstOffset(blockCount: blocks.count, stemLength: sl, int8Outputs: int8Outputs) { blocks[$0] }
                    var at = first, len = sl
                    for (i, b) in blocks.enumerated() {
                        let lo = outLength(len, stride: b.stride)
                        let ei = QuantArenaPlan.elementBytes(i - 1, int8Outputs: int8Outputs)
                        let eo = QuantArenaPlan.elementBytes(i, int8Outputs: int8Outputs)
                        let s = b.stride, left = (s - 1) / 2
                        let y = i == 0 ? at : at + QuantArenaPlan.outputShift(b, inputLength: len, inBytes: ei, outBytes: eo)
                        let where_ = "\(size.name) int8 \(int8Outputs) length \(length) block \(i)"
                        XCTAssertGreaterThanOrEqual(y, 0, where_)
                        XCTAssertEqual(y % 4, 0, where_)
                        XCTAssertLessThanOrEqual(y + b.outChannels * lo * eo, plan.blockBytes, where_)
                        if i > 0 {
                            XCTAssertLessThanOrEqual(at + b.inChannels * len * ei, plan.blockBytes, where_)
                            // Output steps [0, e) written; later steps read input steps from e * s - left on.
                            for e in 1..<max(lo, 1) {
                                XCTAssertLessThanOrEqual(y + e * b.outChannels * eo, at + (e * s - left) * b.inChannels * ei, "\(where_) step \(e)")
                            }
                        }
                        at = y
                        len = lo
                    }
                    // Block 0's output steps [0, e) written; its later chunks read stem columns from
                    // e * s - left on, whose first input element (2 bytes each) is 2 (e * s - left).
                    let b0 = blocks[0], lo0 = outLength(sl, stride: b0.stride), left0 = (b0.stride - 1) / 2
                    let e0 = QuantArenaPlan.elementBytes(0, int8Outputs: int8Outputs)
                    XCTAssertLessThanOrEqual(plan.stemRowsOffset + 2 * plan.stemRows, plan.blockBytes)
                    XCTAssertEqual(plan.stemRowsOffset % 4, 0)
                    for e in 1..<max(lo0, 1) {
                        XCTAssertLessThanOrEqual(first + e * b0.outChannels * e0, plan.stemRowsOffset + 2 * 2 * max(0, e * b0.stride - left0),
                                                 "\(size.name) length \(length) step \(e)")
                    }
                }
            }
        }
    }
}
