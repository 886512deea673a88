/// Integer arithmetic of the q8 / q16 engines: requantisation by a packed multiplier (a 23-bit
/// mantissa and a shift),
/// lookup tables for Swish and sigmoid, all exact integer operations so results are identical
/// bit for bit on every platform. Wrapping operators only: no trap, no undefined overflow.
/// Embedded-Swift-clean.

/// The storage type of the convolution inputs (the Swish outputs): Int8 in q8, Int16 in q16.
/// Everything else (pre-activations, the residual stream, conv3 outputs, the squeeze-excitation
/// vectors) is int16 in both engines.
/// (Which kernel and accumulator a convolution uses follows from its types: `QuantConv.usesDot2`.)
public protocol QuantActivation: FixedWidthInteger & SignedInteger {}

extension Int8: QuantActivation {}
extension Int16: QuantActivation {}

/// An activation function on int16 codes: a table of knots every 2^shift codes from `start`
/// over the region where the function bends, a constant below it, and below/above it either a
/// constant (the first/last knot) or the identity rescaled by a packed multiplier (Swish for
/// large inputs). Blob layout: `<name>` int16 [knots], `<name>_domain` int32 [5] =
/// (start, shift, upper mode 0 constant / 1 linear, packed multiplier, input zero point).
public struct LookupTable {
    public let knots: UnsafePointer<Int16>
    public let count: Int32
    public let start: Int32
    public let shift: Int32
    public let linearAbove: Bool
    public let multiplier: Int32
    public let inputZero: Int32
    public let outputZero: Int32

    public init(knots: UnsafePointer<Int16>, count: Int32, domain: UnsafePointer<Int32>, outputZero: Int32) {
        self.knots = knots
        self.count = count
        start = domain[0]
        shift = domain[1]
        linearAbove = domain[2] == 1
        multiplier = domain[3]
        inputZero = domain[4]
        self.outputZero = outputZero
        mask = (1 &<< shift) &- 1
        half = shift > 0 ? 1 &<< (shift &- 1) : 0
        // u < (count - 1) << shift <=> u >> shift < count - 1, cut at code 32767 (int16 inputs
        // never exceed it; `clamping` relies on the cut).
        limit = UInt32(truncatingIfNeeded: min(Int64(count &- 1) << Int64(shift), 32768 &- Int64(start)))
    }

    let mask: Int32, half: Int32, limit: UInt32

    /// True when the parameters describe a usable table.
    public static func isValid(count: Int, domain: UnsafePointer<Int32>) -> Bool {
        count >= 2 && count <= 65537 && domain[1] >= 0 && domain[1] <= 16 && domain[0] >= -32768 && domain[0] <= 32767
            && (domain[2] == 0 || domain[2] == 1) && requantIsValid(domain[3])
    }

    @inline(__always)
    public func callAsFunction(_ q: Int32) -> Int32 {
        // Inside the knots (the common case): one unsigned compare, two loads, the interpolation.
        let u = q &- start
        if UInt32(bitPattern: u) < limit { return interpolate(u) }
        return outside(q, u)
    }

    /// `self(clamp(q, int16))` for any 32-bit q: below `limit` (the knots' span cut at code
    /// 32767) q is already an int16 code, so only the rare other inputs are clamped.
    @inline(__always)
    public func clamping(_ q: Int32) -> Int32 {
        at(offset: q &- start)
    }

    /// `clamping(start + u)`, for callers that fold `start` into their own arithmetic.
    @inline(__always)
    public func at(offset u: Int32) -> Int32 {
        if UInt32(bitPattern: u) < limit { return interpolate(u) }
        return clampedOutside(u &+ start)
    }

    /// Kept out of line so that the clamp's constants stay off the callers' fast paths.
    @inline(never)
    func clampedOutside(_ q: Int32) -> Int32 { self(clamp32(q, -32768, 32767)) }

    /// The value at offset `u` < limit from the first knot (mask and half are 0 when shift is
    /// 0, leaving the knot itself).
    @inline(__always)
    func interpolate(_ u: Int32) -> Int32 {
        let i = Int(u &>> shift), f = u & mask
        let a = Int32(knots[i]), b = Int32(knots[i &+ 1])
        return a &+ (((b &- a) &* f &+ half) &>> shift)
    }

    /// Below the first knot, or at and above the last.
    @inline(never)
    func outside(_ q: Int32, _ u: Int32) -> Int32 {
        if u < 0 { return Int32(knots[0]) }
        if linearAbove {
            return Int32(truncatingIfNeeded: clamp(Int64(outputZero) &+ requantize(Int64(q &- inputZero), multiplier), -32768, 32767))
        }
        return Int32(knots[Int(count &- 1)])
    }
}

/// A requantisation multiplier packed in one int32: bits 31...8 hold `mult` in [2^22, 2^23)
/// (or 0), the low byte a signed shift; real multiplier = mult * 2^-(23 + shift).
@inline(__always)
public func packRequant(mult: Int32, shift: Int32) -> Int32 { (mult &<< 8) | Int32(UInt8(truncatingIfNeeded: shift)) }

/// True when a packed multiplier is in range (the engines check every one at load).
public func requantIsValid(_ packed: Int32) -> Bool {
    let m = packed &>> 8, s = Int32(Int8(truncatingIfNeeded: packed))
    return (m == 0 || (m >= 1 << 22 && m < 1 << 23)) && 23 + s >= 1 && 23 + s <= 62
}

/// The packed multiplier of a * b * k (packed multipliers a and b, an integer 0 <= k < 2^15),
/// its 23-bit mantissa rounded half up from the exact product (< 2^61). 0 where k, a or b is 0
/// or the product is below 2^-39 (any int32 sum then rounds to 0); above the largest packed
/// multiplier it saturates to that one (any nonzero int32 sum then saturates an int16 code
/// either way). Integer arithmetic only: the same bits on every platform.
public func combinedMultiplier(_ a: Int32, _ b: Int32, _ k: Int32) -> Int32 {
    let ma = UInt64(UInt32(bitPattern: a &>> 8)), mb = UInt64(UInt32(bitPattern: b &>> 8))
    guard k > 0, k < 1 << 15, a &>> 8 > 0, b &>> 8 > 0 else { return 0 }
    let p = ma &* mb &* UInt64(k)
    // p 2^-(46 + sa + sb) = m 2^-(23 + s) with m = round(p / 2^e), 2^22 <= m < 2^23.
    var e = Int32(64 &- p.leadingZeroBitCount) &- 23
    var m = e > 0 ? (p &+ (UInt64(1) &<< UInt64(e &- 1))) &>> UInt64(e) : p &<< UInt64(0 &- e)
    if m == UInt64(1) &<< 23 { m = UInt64(1) &<< 22; e &+= 1 }
    let s = 23 &+ Int32(Int8(truncatingIfNeeded: a)) &+ Int32(Int8(truncatingIfNeeded: b)) &- e
    if s > 39 { return 0 }
    if s < -22 { return Int32((1 << 23) - 1) &<< 8 | Int32(UInt8(bitPattern: -22)) }
    return Int32(truncatingIfNeeded: m) &<< 8 | Int32(UInt8(truncatingIfNeeded: s))
}

/// round(acc * M), rounding half up, for a packed multiplier M. Exact for any 64-bit
/// accumulator: the 64-bit product is used when it cannot overflow, the 128-bit one otherwise.
@inline(__always)
public func requantize(_ acc: Int64, _ packed: Int32) -> Int64 {
    let narrow = Int32(truncatingIfNeeded: acc)
    if Int64(narrow) == acc { return requantize32(narrow, packed) }
    let mult = Int64(packed &>> 8)
    let r = 23 &+ Int64(Int8(truncatingIfNeeded: packed))
    if acc > -(1 << 39) && acc < (1 << 39) {
        let p = acc &* mult
        return (p &+ (Int64(1) &<< (r &- 1))) &>> r
    }
    let (high, low) = acc.multipliedFullWidth(by: mult)
    let (l2, carry) = low.addingReportingOverflow(UInt64(1) &<< UInt64(r &- 1))
    let h2 = high &+ (carry ? 1 : 0)
    return Int64(bitPattern: (UInt64(bitPattern: h2) &<< UInt64(64 &- r)) | (l2 &>> UInt64(r)))
}

/// `requantize` for an accumulator that fits in 32 bits, with the same result: the product of
/// two sign-extended 32-bit values is one long multiply (SMULL) on a 32-bit core, where the
/// general 64-bit path costs several multiplies and a range check.
@inline(__always)
public func requantize32(_ acc: Int32, _ packed: Int32) -> Int64 {
    let r = 23 &+ Int64(Int8(truncatingIfNeeded: packed))
    let p = Int64(acc) &* Int64(packed &>> 8)   // |p| < 2^54: no overflow
    return (p &+ (Int64(1) &<< (r &- 1))) &>> r
}

@inline(__always)
public func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { v < lo ? lo : (v > hi ? hi : v) }

@inline(__always)
public func clamp32(_ v: Int32, _ lo: Int32, _ hi: Int32) -> Int32 { v < lo ? lo : (v > hi ? hi : v) }

/// clamp(z + g + d) to int16 for int16 z and g (the gated conv3 code) and d in [-2^30, 2^30)
/// (a `Requant32` result): the sum stays within 2^30 + 2^16, so it needs no wider type and one
/// saturation (SSAT on Arm).
@inline(__always)
public func sum16(_ z: Int32, _ g: Int32, _ d: Int32) -> Int16 {
    Int16(truncatingIfNeeded: clamp32(z &+ g &+ d, -32768, 32767))
}

/// A packed multiplier decoded once (per channel, outside the loops) for 32-bit inputs, giving
/// `requantize32` bit for bit with four 32-bit operations:
/// (hi32((acc << pre) * mul) + 2^(s - 1)) >> s, where mul = m << k < 2^31 and
/// s = r - 32 + k + pre >= 1 (r = 23 + shift). It is exact because
/// floor((floor(y / 2^a) + c) / 2^s) = floor((y + c * 2^a) / 2^(a + s)) for integers c, and
/// a + s = r with c = 2^(s - 1) is the rounding term of round(acc * m / 2^r). The pre-shift
/// (which makes s >= 1 when r < 25) is only taken when the inputs are small enough
/// (`inputBits`); otherwise (`general`) the 64-bit form runs. Results are within [-2^30, 2^30)
/// (the fast form's |hi + add| < 2^31 is halved at least once; the general one is clamped), so
/// the sum of two of them fits 32 bits, and clamping that to 16 bits gives the exact code.
public struct Requant32 {
    public let mul: Int32
    public let pre: Int32
    public let add: Int32
    public let shift: Int32
    public let packed: Int32
    public let general: Bool

    /// `inputBits`: |acc| < 2^inputBits for every input this multiplier will see (31 for
    /// arbitrary int32 sums, 16 for differences of int16 codes).
    /// Inline: 18,000 decodes a window on a device, where the call and the struct's stores and
    /// reloads were a third of each (Cortex-M4F q8: -0.07 M instructions, -0.5 M TRM cycles,
    /// +112 B of stack).
    @inline(__always)
    public init(_ packed: Int32, inputBits: Int32 = 31) {
        self.packed = packed
        let m = packed &>> 8, r = 23 &+ Int32(Int8(truncatingIfNeeded: packed))
        let pre = max(0, 25 &- r), k = min(8, 63 &- r &- pre)
        if m == 0 {
            mul = 0; self.pre = 0; add = 0; shift = 1; general = false
        } else if pre &+ inputBits <= 31 && k >= 0 && r <= 62 {
            mul = m &<< k; self.pre = pre; shift = r &- 32 &+ k &+ pre; add = 1 &<< (shift &- 1); general = false
        } else {
            mul = 0; self.pre = 0; add = 0; shift = 1; general = true
        }
    }

    @inline(__always)
    public func callAsFunction(_ acc: Int32) -> Int32 {
        if general { return Int32(truncatingIfNeeded: clamp(requantize32(acc, packed), -(1 << 30), (1 << 30) - 1)) }
        return fast(acc)
    }

    /// A multiplier of exactly 1 (fast(acc) = acc: mul 2^pre = 2^(32 + shift) and add = 2^(shift - 1)),
    /// e.g. a shortcut between two tensors on one grid.
    public var isIdentity: Bool {
        !general && mul > 0 && shift >= 1 && shift < 31 && Int64(mul) << Int64(pre) == Int64(1) << Int64(32 &+ shift)
    }

    /// The four-operation form; only valid when `general` is false (callers check once per
    /// channel and run a loop without the test).
    @inline(__always)
    public func fast(_ acc: Int32) -> Int32 {
        ((acc &<< pre).multipliedFullWidth(by: mul).high &+ add) &>> shift
    }

    /// The rounding term with an integer `k` added to every result: (h + add + k 2^s) >> s =
    /// ((h + add) >> s) + k exactly, so a zero point costs no instruction per element. nil when
    /// the fast form has a pre-shift or the term would leave [-2^30, 2^30) (|h| < 2^30, so the
    /// sum fits 32 bits).
    @inline(__always)
    public func adding(_ k: Int32) -> Int32? {
        // |k| < 2^(30 - s): |k 2^s| <= 2^30 - 2^s, and add = 2^(s - 1) keeps the sum inside.
        guard !general, pre == 0, mul != 0, shift < 30, k.magnitude < UInt32(1) &<< (30 &- shift) else { return nil }
        return add &+ (k &<< shift)
    }

    /// `fast(acc) + k` given `adding(k)`'s term.
    @inline(__always)
    public func fast(_ acc: Int32, adding term: Int32) -> Int32 {
        (acc.multipliedFullWidth(by: mul).high &+ term) &>> shift
    }
}

/// The companding of int8 block outputs (`QuantBlock.outputCodes`): code c stands for E(c)
/// steps from its channel's centre, E(c) = c within the knee and every code beyond it
/// 2^shift steps, so the codes keep a fine step over the calibrated range and still reach
/// outliers (uniform int8 codes had to choose: x1.25 range clipped the heart-rate windows,
/// x3 cost 2 points of held-out error; docs/quantization.md). Monotone, so max-pooling the
/// codes equals pooling their values. Blob: `output.compand` int32 [2] = (knee, shift).
public struct Companding {
    public let knee: Int32
    public let shift: Int32

    public init(knee: Int32, shift: Int32) {
        self.knee = knee
        self.shift = shift
    }

    public static func isValid(knee: Int32, shift: Int32) -> Bool { knee >= 0 && knee <= 127 && shift >= 0 && shift <= 4 }

    /// E(c), in steps.
    @inline(__always)
    public func expand(_ c: Int32) -> Int32 {
        let a = c < 0 ? 0 &- c : c
        guard a > knee else { return c }
        let extra = ((a &- knee) &<< shift) &- (a &- knee)
        return c < 0 ? c &- extra : c &+ extra
    }

    /// The code nearest to `u` steps (halves away from the knee rounded up), before clamping
    /// to int8; |u| < 2^30.
    @inline(__always)
    public func compress(_ u: Int32) -> Int32 {
        let a = u < 0 ? 0 &- u : u
        guard a > knee else { return u }
        let c = knee &+ ((a &- knee &+ ((1 &<< shift) &>> 1)) &>> shift)
        return u < 0 ? 0 &- c : c
    }

    /// The largest |E(c)| of an int8 code.
    public var maxSteps: Int32 { 0 &- expand(-128) }
}
