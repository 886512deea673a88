/// Integer arithmetic of the q8 / q16 engines: requantisation by a Q31 multiplier and a shift,
/// lookup tables for Swish and sigmoid, all exact integer operations so results are identical
/// bit for bit on every platform. Wrapping operators only: no trap, no undefined overflow.
/// Embedded-Swift-clean.

/// The storage type of the convolution inputs (the Swish outputs): Int8 in q8, Int16 in q16.
/// Everything else (pre-activations, the residual stream, conv3 outputs, the squeeze-excitation
/// vectors) is int16 in both engines.
public protocol QuantActivation: FixedWidthInteger & SignedInteger {
    /// Accumulator wide enough for a whole convolution of this type by int8 weights.
    associatedtype Accumulator: FixedWidthInteger & SignedInteger
}

extension Int8: QuantActivation { public typealias Accumulator = Int32 }
extension Int16: QuantActivation { public typealias Accumulator = Int64 }

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
    }

    /// True when the parameters describe a usable table.
    public static func isValid(count: Int, domain: UnsafePointer<Int32>) -> Bool {
        count >= 2 && count <= 65537 && domain[1] >= 0 && domain[1] <= 16 && domain[0] >= -32768 && domain[0] <= 32767
            && (domain[2] == 0 || domain[2] == 1) && requantIsValid(domain[3])
    }

    @inline(__always)
    public func callAsFunction(_ q: Int32) -> Int32 {
        let u = q &- start
        if u < 0 { return Int32(knots[0]) }
        let i = u &>> shift
        if i >= count &- 1 {
            if linearAbove {
                return Int32(truncatingIfNeeded: clamp(Int64(outputZero) &+ requantize(Int64(q &- inputZero), multiplier), -32768, 32767))
            }
            return Int32(knots[Int(count &- 1)])
        }
        let f = u & ((1 &<< shift) &- 1)
        let a = Int32(knots[Int(i)]), b = Int32(knots[Int(i) &+ 1])
        if shift == 0 { return a }
        return a &+ (((b &- a) &* f &+ (1 &<< (shift &- 1))) &>> shift)
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


