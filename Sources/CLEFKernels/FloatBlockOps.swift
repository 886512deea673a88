/// The non-convolution parts of a Net1D block in float32: squeeze-excitation and the
/// max-pool / channel-zero-padded shortcut. Embedded-Swift-clean, no allocation.

/// y[o] = b[o] + sum_i W[o][i] x[i] (PyTorch Linear layout [out][in]).
public func linear(_ x: UnsafePointer<Float>, inCount: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                   outCount: Int, out: UnsafeMutablePointer<Float>) {
    for o in 0..<outCount {
        out[o] = bias[o] + dot(weight + o * inCount, x, count: inCount)
    }
}

@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc = F8(repeating: 0)
    var i = 0
    while i + 8 <= count {
        acc.addProduct(load8(a + i), load8(b + i))
        i += 8
    }
    var s = acc.sum()
    while i < count { s += a[i] * b[i]; i += 1 }
    return s
}

/// The tensors of a squeeze-excitation and of a block, named for quantization and tests.
public enum ActivationKind: UInt8, Sendable {
    case act1, mid1, act2, mid2, act3, conv3
    /// Channel means (SE input), fc1 output, swish(fc1), fc2 output (before the sigmoid).
    case seMean, seHidden, seHiddenAct, seGate
    case output
}

/// Squeeze-excitation in place on x [channels][length]: scale each channel by
/// sigmoid(fc2(swish(fc1(mean_t x)))). `scratch` needs `channels + channels / 2` floats.
/// `observe` sees each intermediate vector (and may round it in place).
public func squeezeExcite(_ x: UnsafeMutablePointer<Float>, channels: Int, length: Int,
                          fc1Weight: UnsafePointer<Float>, fc1Bias: UnsafePointer<Float>,
                          fc2Weight: UnsafePointer<Float>, fc2Bias: UnsafePointer<Float>,
                          scratch: UnsafeMutablePointer<Float>,
                          observe: (ActivationKind, UnsafeMutablePointer<Float>, Int) -> Void) {
    let hidden = channels / 2
    let mean = scratch, h = scratch + channels
    let inv = 1 / Float(length)
    for c in 0..<channels { mean[c] = sum(x + c * length, count: length) * inv }
    observe(.seMean, mean, channels)
    linear(mean, inCount: channels, weight: fc1Weight, bias: fc1Bias, outCount: hidden, out: h)
    observe(.seHidden, h, hidden)
    for j in 0..<hidden { h[j] = swishScalar(h[j]) }
    observe(.seHiddenAct, h, hidden)
    linear(h, inCount: hidden, weight: fc2Weight, bias: fc2Bias, outCount: channels, out: mean)
    observe(.seGate, mean, channels)
    for c in 0..<channels {
        let g = F8(repeating: sigmoidScalar(mean[c]))
        let row = x + c * length
        var t = 0
        while t + 8 <= length { store8(load8(row + t) * g, row + t); t += 8 }
        while t < length { row[t] *= g[0]; t += 1 }
    }
}

/// Rounds `count` floats to the nearest Float16 value (round to nearest even), in place.
public func roundToFloat16(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(F8(SIMD8<Float16>(load8(p + i))), p + i)
        i += 8
    }
    while i < count { p[i] = Float(Float16(p[i])); i += 1 }
}

/// out += shortcut(x): x [inChannels][inLength] max-pooled with kernel = stride (zero padding,
/// left (stride-1)/2) when `stride > 1`, then placed at channel offset (out - in) / 2.
public func addShortcut(_ x: UnsafePointer<Float>, inChannels: Int, inLength: Int, stride: Int,
                        out: UnsafeMutablePointer<Float>, outChannels: Int, outLength: Int) {
    let offset = (outChannels - inChannels) / 2
    let left = (stride - 1) / 2
    for ci in 0..<inChannels {
        let src = x + ci * inLength
        let dst = out + (ci + offset) * outLength
        if stride == 1 {
            var t = 0
            while t + 8 <= outLength { store8(load8(dst + t) + load8(src + t), dst + t); t += 8 }
            while t < outLength { dst[t] += src[t]; t += 1 }
        } else if stride == 2 && left == 0 {
            let full = inLength / 2
            for t in 0..<full { dst[t] += max(src[2 * t], src[2 * t + 1]) }
            if full < outLength { dst[full] += max(src[2 * full], 0) }
        } else {
            for t in 0..<outLength {
                var m = -Float.infinity
                for j in 0..<stride {
                    let i = t * stride + j - left
                    m = max(m, (i >= 0 && i < inLength) ? src[i] : 0)
                }
                dst[t] += m
            }
        }
    }
}
