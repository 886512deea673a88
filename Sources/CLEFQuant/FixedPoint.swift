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

/// round(acc * mult / 2^(31 + shift)), rounding half up, for mult in [2^30, 2^31) and a total
/// right shift 31 + shift in 1...62. Exact for any 64-bit accumulator (128-bit product when the
/// 64-bit one could overflow).
@inline(__always)
public func requantize(_ acc: Int64, _ mult: Int32, _ shift: Int32) -> Int64 {
    let r = Int64(31 &+ shift)
    if acc > -(1 << 31) && acc < (1 << 31) {
        let p = acc &* Int64(mult)
        return (p &+ (Int64(1) &<< (r &- 1))) &>> r
    }
    let (high, low) = acc.multipliedFullWidth(by: Int64(mult))
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
