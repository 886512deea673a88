/// Vectorised exp / sigmoid / Swish for the float engine. Calling libm `expf` per element costs
/// more than the whole convolution stack, so exp is a Cephes-style polynomial on SIMD8 lanes
/// (max relative error about 2 ulp over the clamped range). Embedded-Swift-clean.

public typealias F8 = SIMD8<Float>

@inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
public func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// e^x per lane. Inputs are clamped to [-87.3, 88.7] so 2^n stays a normal float.
@inline(__always)
public func exp8(_ xIn: F8) -> F8 {
    // Clamp with compare + select: the generic `clamped` is not specialised and costs more
    // than the polynomial.
    var x = xIn
    x.replace(with: F8(repeating: -87.3), where: x .< F8(repeating: -87.3))
    x.replace(with: F8(repeating: 88.7), where: x .> F8(repeating: 88.7))
    // n = round(x / ln 2) with the 1.5 * 2^23 trick: the sum's low mantissa bits hold n.
    let magic = F8(repeating: 12582912.0)
    var t = x * F8(repeating: 1.44269504088896341)
    t = t + magic
    let nBits = unsafeBitCast(t, to: SIMD8<UInt32>.self)
    let n = t - magic
    // r = x - n ln2, in two parts for accuracy (Cephes C1, C2).
    x.addProduct(n, F8(repeating: -0.693359375))
    x.addProduct(n, F8(repeating: 2.12194440e-4))
    var p = F8(repeating: 1.9875691500e-4)
    p = p * x + F8(repeating: 1.3981999507e-3)
    p = p * x + F8(repeating: 8.3334519073e-3)
    p = p * x + F8(repeating: 4.1665795894e-2)
    p = p * x + F8(repeating: 1.6666665459e-1)
    p = p * x + F8(repeating: 5.0000001201e-1)
    let x2 = x * x
    var y = p * x2 + x
    y = y + F8(repeating: 1)
    // 2^n: exponent field n + 127. nBits = 0x4B400000 + n (two's complement in the low bits).
    let e = (nBits &- SIMD8<UInt32>(repeating: 0x4B40_0000) &+ SIMD8<UInt32>(repeating: 127)) &<< 23
    return y * unsafeBitCast(e, to: F8.self)
}

@inline(__always)
public func sigmoid8(_ x: F8) -> F8 {
    F8(repeating: 1) / (F8(repeating: 1) + exp8(-x))
}

@inline(__always)
public func swish8(_ x: F8) -> F8 {
    x / (F8(repeating: 1) + exp8(-x))
}

/// Scalar versions with the same polynomial, so vector body and scalar tail agree.
@inline(__always)
public func expScalar(_ x: Float) -> Float { exp8(F8(repeating: x))[0] }

@inline(__always)
public func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + expScalar(-x)) }

@inline(__always)
public func swishScalar(_ x: Float) -> Float { x / (1 + expScalar(-x)) }

/// In-place Swish over `count` contiguous floats.
public func swishInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(swish8(load8(p + i)), p + i)
        i += 8
    }
    if i < count {
        var tail = F8(repeating: 0)
        for j in 0..<(count - i) { tail[j] = p[i + j] }
        let r = swish8(tail)
        for j in 0..<(count - i) { p[i + j] = r[j] }
    }
}

/// Sum of `count` contiguous floats with eight partial sums (closer to PyTorch's vectorised
/// reduction than one running sum).
public func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var acc0 = F8(repeating: 0), acc1 = F8(repeating: 0)
    var i = 0
    while i + 16 <= count {
        acc0 += load8(p + i)
        acc1 += load8(p + i + 8)
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < count { s += p[i]; i += 1 }
    return s
}
