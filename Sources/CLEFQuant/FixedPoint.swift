/// Integer arithmetic of the q8 / q16 engines: requantisation by a Q31 multiplier and a shift,
/// lookup tables for Swish and sigmoid, all exact integer operations so results are identical
/// bit for bit on every platform. Wrapping operators only: no trap, no undefined overflow.
/// Embedded-Swift-clean.

/// An activation storage type and its accumulator.
public protocol QuantActivation: FixedWidthInteger & SignedInteger {
    /// Accumulator wide enough for a whole convolution of this activation type by int8 weights.
    associatedtype Accumulator: FixedWidthInteger & SignedInteger
    /// 8 (direct 256-entry tables) or 16 (513-entry interpolated tables).
    static var lookupBits: Int { get }
}

extension Int8: QuantActivation {
    public typealias Accumulator = Int32
    public static var lookupBits: Int { 8 }
}

extension Int16: QuantActivation {
    public typealias Accumulator = Int64
    public static var lookupBits: Int { 16 }
}

/// Entries of an activation lookup table for inputs of `bits` bits.
public func lookupTableCount(bits: Int) -> Int { bits == 8 ? 256 : 513 }

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

@inline(__always)
public func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { v < lo ? lo : (v > hi ? hi : v) }

/// Table lookup: direct for 8-bit inputs, linear interpolation between 513 knots (every 128
/// codes) for 16-bit inputs.
@inline(__always)
public func lookup<T: FixedWidthInteger>(_ table: UnsafePointer<T>, _ q: Int32, bits: Int) -> Int32 {
    if bits == 8 { return Int32(table[Int(q &+ 128)]) }
    let u = Int(q) &+ 32768
    let i = u &>> 7
    let f = Int32(u & 127)
    let a = Int32(table[i]), b = Int32(table[i &+ 1])
    return a &+ (((b &- a) &* f &+ 64) &>> 7)
}
