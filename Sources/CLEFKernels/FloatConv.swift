/// Float32 same-padded grouped Conv1d for Net1D, the hot loop of the reference engine.
///
/// The input is first "prepared": zero-padded and split into `stride` phases so that tap k of
/// output t reads phase `k % stride` at `t + k / stride`, always a contiguous run. The kernel then
/// keeps a 4 output-channel x 16 time-step tile in registers and streams over (input channel,
/// tap), with weights packed in exactly that order. Embedded-Swift-clean, no allocation.

/// Static shape of one convolution (the time length is given per call).
public struct ConvShape: Equatable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var groups: Int
    public var kernel: Int
    public var stride: Int

    public init(inChannels: Int, outChannels: Int, groups: Int, kernel: Int, stride: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.groups = groups
        self.kernel = kernel
        self.stride = stride
    }

    public var inPerGroup: Int { inChannels / groups }
    public var outPerGroup: Int { outChannels / groups }
    /// Output-channel tiles of 4 per group (the last one zero-padded in the packed weights).
    public var tilesPerGroup: Int { (outPerGroup + 3) / 4 }
    public var packedCount: Int { groups * tilesPerGroup * inPerGroup * kernel * 4 }

    public func outLength(_ length: Int) -> Int { (length + stride - 1) / stride }
    /// Length of one prepared phase row for an input of `length`.
    public func rowLength(_ length: Int) -> Int { outLength(length) + (kernel - 1) / stride }
    /// Floats the prepared input of `length` needs.
    public func preparedCount(_ length: Int) -> Int { inChannels * stride * rowLength(length) }
    /// True when the raw input rows can be used as the prepared input (1x1, stride 1).
    public var isPointwise: Bool { kernel == 1 && stride == 1 }
}

/// Packs PyTorch weights [out][in/groups][kernel] into the kernel's order:
/// [group][tile][in][phase][tap-in-phase][4 lanes].
public func packConvWeights(_ w: UnsafePointer<Float>, shape: ConvShape, into packed: UnsafeMutablePointer<Float>) {
    let cinG = shape.inPerGroup, coutG = shape.outPerGroup, k = shape.kernel, s = shape.stride
    var dst = 0
    for g in 0..<shape.groups {
        for tile in 0..<shape.tilesPerGroup {
            for ci in 0..<cinG {
                for p in 0..<s {
                    var tap = p
                    while tap < k {
                        for lane in 0..<4 {
                            let col = tile * 4 + lane
                            if col < coutG {
                                let co = g * coutG + col
                                packed[dst] = w[(co * cinG + ci) * k + tap]
                            } else {
                                packed[dst] = 0
                            }
                            dst += 1
                        }
                        tap += s
                    }
                }
            }
        }
    }
}

/// Zero-pads (same padding) and phase-splits `channels` rows of `length` samples.
/// Returns the row length of each prepared phase row.
@discardableResult
public func prepareConvInput(_ x: UnsafePointer<Float>, channels: Int, length: Int, shape: ConvShape,
                             into out: UnsafeMutablePointer<Float>) -> Int {
    preparePhaseSplit(x, channels: channels, length: length, shape: shape, padValue: { _ in 0 }, into: out)
}

/// Same padding and phase split for any element type, shared by the float and integer engines:
/// channel `c` is padded with `padValue(c)` (0.0, or the channel's zero point), and phase row p of
/// a channel holds the padded samples p, p + stride, p + 2 stride, ...
@discardableResult
#if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Int8)
@_specialize(exported: true, where T == Int16)
#endif
public func preparePhaseSplit<T>(_ x: UnsafePointer<T>, channels: Int, length: Int, shape: ConvShape,
                                 padValue: (Int) -> T, into out: UnsafeMutablePointer<T>) -> Int {
    let s = shape.stride
    let rowLen = shape.rowLength(length)
    let o = shape.outLength(length)
    let total = max(0, (o - 1) * s + shape.kernel - length)
    let left = total / 2
    for c in 0..<channels {
        let src = x + c * length
        let pad = padValue(c)
        for p in 0..<s {
            let row = out + (c * s + p) * rowLen
            if s == 1 {
                row.update(repeating: pad, count: min(left, rowLen))
                let n = max(0, min(length, rowLen - left))
                (row + left).update(from: src, count: n)
                if left + n < rowLen { (row + left + n).update(repeating: pad, count: rowLen - left - n) }
            } else {
                for j in 0..<rowLen {
                    let i = j * s + p - left
                    row[j] = (i >= 0 && i < length) ? src[i] : pad
                }
            }
        }
    }
    return rowLen
}

/// out[co][t] = bias[co] + sum over the group's inputs and taps of w * prepared.
/// `prepared` holds `inChannels * stride` rows of `rowLength` floats.
public func convPrepared(_ prepared: UnsafePointer<Float>, rowLength: Int, shape: ConvShape, outLength: Int,
                         packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                         out: UnsafeMutablePointer<Float>) {
    let cinG = shape.inPerGroup, coutG = shape.outPerGroup, s = shape.stride, k = shape.kernel
    let tapsPerIn = k * 4
    let tileStride = cinG * tapsPerIn
    for g in 0..<shape.groups {
        let inBase = prepared + g * cinG * s * rowLength
        for tile in 0..<shape.tilesPerGroup {
            let wTile = packedWeights + (g * shape.tilesPerGroup + tile) * tileStride
            let co0 = g * coutG + tile * 4
            let lanes = min(4, coutG - tile * 4)
            var b = (Float(0), Float(0), Float(0), Float(0))
            b.0 = bias[co0]
            if lanes > 1 { b.1 = bias[co0 + 1] }
            if lanes > 2 { b.2 = bias[co0 + 2] }
            if lanes > 3 { b.3 = bias[co0 + 3] }
            var t = 0
            while t + 16 <= outLength {
                var a00 = F8(repeating: b.0), a01 = F8(repeating: b.0)
                var a10 = F8(repeating: b.1), a11 = F8(repeating: b.1)
                var a20 = F8(repeating: b.2), a21 = F8(repeating: b.2)
                var a30 = F8(repeating: b.3), a31 = F8(repeating: b.3)
                var w = wTile
                for ci in 0..<cinG {
                    for p in 0..<s {
                        var x = inBase + (ci * s + p) * rowLength + t
                        var tap = p
                        while tap < k {
                            let x0 = load8(x), x1 = load8(x + 8)
                            let w0 = F8(repeating: w[0]), w1 = F8(repeating: w[1])
                            let w2 = F8(repeating: w[2]), w3 = F8(repeating: w[3])
                            a00.addProduct(w0, x0); a01.addProduct(w0, x1)
                            a10.addProduct(w1, x0); a11.addProduct(w1, x1)
                            a20.addProduct(w2, x0); a21.addProduct(w2, x1)
                            a30.addProduct(w3, x0); a31.addProduct(w3, x1)
                            w += 4
                            x += 1
                            tap += s
                        }
                    }
                }
                let o0 = out + co0 * outLength + t
                store8(a00, o0); store8(a01, o0 + 8)
                if lanes > 1 { store8(a10, o0 + outLength); store8(a11, o0 + outLength + 8) }
                if lanes > 2 { store8(a20, o0 + 2 * outLength); store8(a21, o0 + 2 * outLength + 8) }
                if lanes > 3 { store8(a30, o0 + 3 * outLength); store8(a31, o0 + 3 * outLength + 8) }
                t += 16
            }
            // Tail: fewer than 16 steps left, one step at a time.
            while t < outLength {
                var acc = SIMD4<Float>(b.0, b.1, b.2, b.3)
                var w = wTile
                for ci in 0..<cinG {
                    for p in 0..<s {
                        var x = inBase + (ci * s + p) * rowLength + t
                        var tap = p
                        while tap < k {
                            acc.addProduct(UnsafeRawPointer(w).loadUnaligned(as: SIMD4<Float>.self),
                                           SIMD4<Float>(repeating: x.pointee))
                            w += 4
                            x += 1
                            tap += s
                        }
                    }
                }
                for lane in 0..<lanes { out[(co0 + lane) * outLength + t] = acc[lane] }
                t += 1
            }
        }
    }
}
