/// `Float(v)`, through `Int`: on 32-bit cores Swift converts an `Int32` or `Int16` by way of
/// `Int64` (a call to `__floatdisf`, 28 instructions on a Cortex-M4F), an `Int` (32 bits there) by
/// one VCVT. The value is the same either way (round to nearest), so host and device agree.
@inline(__always)
public func floatValue(_ v: Int32) -> Float { Float(Int(v)) }
