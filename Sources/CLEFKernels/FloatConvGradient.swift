/// Gradient kernels of the float32 convolution, for the trainer.
///
/// The input gradient of a strided same-padded conv is, for the inputs i = stride*u + r of one
/// residue r, a stride-1 conv of the zero-padded output gradient with the taps of one phase,
/// flipped and transposed (in <-> out within each group). So it reuses `convPrepared` (the forward
/// 4x16 register tile) with weights packed by the trainer, see `TransposedPhase`. The weight
/// gradient is a correlation of the prepared (padded, phase-split) input with the output gradient,
/// kept in a 4 output-channel x 2 x 8-tap register tile. Embedded-Swift-clean, no allocation.

/// The residue class r of a transposed conv: inputs i = stride*u + r, u in 0..<count, get
/// sum over out-channels and j in 0..<taps of w'[j] * dyPadded[u + j], where
/// dyPadded[v] = dy[v - padLeft] and w'[j] is tap firstTap + stride*(taps-1-j) of the forward weight.
public struct TransposedPhase: Equatable, Sendable {
    public var residue: Int
    public var firstTap: Int
    public var taps: Int
    public var padLeft: Int
    public var count: Int

    /// The phase `residue` of the transposed `shape` for a forward input of `inLength` samples.
    public init(shape: ConvShape, inLength: Int, residue r: Int) {
        let s = shape.stride, k = shape.kernel
        let lo = shape.outLength(inLength)
        let left = max(0, (lo - 1) * s + k - inLength) / 2
        residue = r
        firstTap = (r + left) % s
        taps = (k - firstTap + s - 1) / s
        // t = u + c - m for tap firstTap + s*m, with c = (r + left - firstTap) / s.
        let c = (r + left - firstTap) / s
        padLeft = taps - 1 - c
        count = r < inLength ? (inLength - r + s - 1) / s : 0
    }

    /// The stride-1 conv this phase runs: in = the forward's out, out = the forward's in.
    public func shape(of forward: ConvShape) -> ConvShape {
        ConvShape(inChannels: forward.outChannels, outChannels: forward.inChannels, groups: forward.groups,
                  kernel: taps, stride: 1)
    }
    public var rowLength: Int { count + taps - 1 }
}

/// Weights of a phase in PyTorch layout [forward in][forward out per group][taps], ready for
/// `packConvWeights` with `phase.shape(of: shape)`.
public func transposePhaseWeights(_ w: UnsafePointer<Float>, shape: ConvShape, phase: TransposedPhase,
                                  into out: UnsafeMutablePointer<Float>) {
    let cinG = shape.inPerGroup, coutG = shape.outPerGroup, k = shape.kernel, s = shape.stride
    for ci in 0..<shape.inChannels {
        let g = ci / cinG, cl = ci % cinG
        for ol in 0..<coutG {
            let co = g * coutG + ol
            for j in 0..<phase.taps {
                out[(ci * coutG + ol) * phase.taps + j] = w[(co * cinG + cl) * k + phase.firstTap + s * (phase.taps - 1 - j)]
            }
        }
    }
}

/// Copies `channels` rows of `length` into rows of `rowLength`, shifted right by `padLeft`
/// (negative: left-cropped), zero elsewhere.
public func padRows(_ x: UnsafePointer<Float>, channels: Int, length: Int, padLeft: Int, rowLength: Int,
                    into out: UnsafeMutablePointer<Float>) {
    for c in 0..<channels {
        let row = out + c * rowLength, src = x + c * length
        for v in 0..<rowLength {
            let i = v - padLeft
            row[v] = (i >= 0 && i < length) ? src[i] : 0
        }
    }
}

/// dx [inChannels][inLength] = the input gradient of a conv for dy [outChannels][outLength]:
/// one `convPrepared` per residue with the packed phase weights `packed(r)`. `scratch` needs
/// `outChannels * (max rowLength)` + `inChannels * (max count)` floats (only the first part when
/// stride is 1).
public func convInputGradient(_ dy: UnsafePointer<Float>, shape: ConvShape, inLength: Int,
                              packed: (Int) -> UnsafePointer<Float>, zeroBias: UnsafePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>) {
    let s = shape.stride, lo = shape.outLength(inLength)
    for r in 0..<s {
        let ph = TransposedPhase(shape: shape, inLength: inLength, residue: r)
        guard ph.count > 0 else { continue }
        let tshape = ph.shape(of: shape)
        var src = dy
        if !(ph.padLeft == 0 && ph.rowLength == lo) {
            padRows(dy, channels: shape.outChannels, length: lo, padLeft: ph.padLeft, rowLength: ph.rowLength, into: scratch)
            src = UnsafePointer(scratch)
        }
        if s == 1 {
            convPrepared(src, rowLength: ph.rowLength, shape: tshape, outLength: ph.count, packedWeights: packed(r),
                         bias: zeroBias, out: dx)
        } else {
            let tmp = scratch + shape.outChannels * ph.rowLength
            convPrepared(src, rowLength: ph.rowLength, shape: tshape, outLength: ph.count, packedWeights: packed(r),
                         bias: zeroBias, out: tmp)
            for ci in 0..<shape.inChannels {
                let d = dx + ci * inLength + r, t = tmp + ci * ph.count
                for u in 0..<ph.count { d[u * s] = t[u] }
            }
        }
    }
}

/// dW[co][ci][tap] += sum_t dy[co][t] * padded x[ci][t*stride + tap] and dB[co] += sum_t dy[co][t],
/// with x prepared (padded, phase-split) as for the forward pass. PyTorch weight layout.
public func convWeightGradient(prepared: UnsafePointer<Float>, rowLength: Int, shape: ConvShape, outLength: Int,
                               dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>) {
    let cinG = shape.inPerGroup, coutG = shape.outPerGroup, s = shape.stride, k = shape.kernel
    for co in 0..<shape.outChannels { dB[co] += sum(dy + co * outLength, count: outLength) }
    if shape.isPointwise && shape.groups == 1 {
        rowProducts(dy, rows: shape.outChannels, prepared, rows: shape.inChannels, length: outLength, into: dW)
        return
    }
    let perPhase = k / s
    guard k % (8 * s) == 0 else {
        // Any other kernel: plain loops.
        for co in 0..<shape.outChannels {
            let g = co / coutG, d = dy + co * outLength
            for cl in 0..<cinG {
                for tap in 0..<k {
                    let x = prepared + ((g * cinG + cl) * s + tap % s) * rowLength + tap / s
                    var acc: Float = 0
                    for t in 0..<outLength { acc += d[t] * x[t] }
                    dW[(co * cinG + cl) * k + tap] += acc
                }
            }
        }
        return
    }
    // Slot j covers 8 consecutive taps of one phase: phase j / (perPhase/8), first m (j % ...) * 8.
    let slotsPerPhase = perPhase / 8, slots = k / 8
    for g in 0..<shape.groups {
        var col = 0
        while col < coutG {
            let lanes = min(4, coutG - col)
            let co0 = g * coutG + col
            let d0 = dy + co0 * outLength
            let d1 = lanes > 1 ? d0 + outLength : d0, d2 = lanes > 2 ? d0 + 2 * outLength : d0
            let d3 = lanes > 3 ? d0 + 3 * outLength : d0
            for cl in 0..<cinG {
                let xin = prepared + (g * cinG + cl) * s * rowLength
                var j = 0
                while j < slots {
                    let pa = j / slotsPerPhase, ma = (j % slotsPerPhase) * 8
                    let jb = min(j + 1, slots - 1)
                    let pb = jb / slotsPerPhase, mb = (jb % slotsPerPhase) * 8
                    let xa = xin + pa * rowLength + ma, xb = xin + pb * rowLength + mb
                    var a0 = F8(repeating: 0), a1 = F8(repeating: 0), a2 = F8(repeating: 0), a3 = F8(repeating: 0)
                    var b0 = F8(repeating: 0), b1 = F8(repeating: 0), b2 = F8(repeating: 0), b3 = F8(repeating: 0)
                    for t in 0..<outLength {
                        let va = load8(xa + t), vb = load8(xb + t)
                        let e0 = F8(repeating: d0[t]), e1 = F8(repeating: d1[t])
                        let e2 = F8(repeating: d2[t]), e3 = F8(repeating: d3[t])
                        a0.addProduct(e0, va); b0.addProduct(e0, vb)
                        a1.addProduct(e1, va); b1.addProduct(e1, vb)
                        a2.addProduct(e2, va); b2.addProduct(e2, vb)
                        a3.addProduct(e3, va); b3.addProduct(e3, vb)
                    }
                    let accA = (a0, a1, a2, a3), accB = (b0, b1, b2, b3)
                    for lane in 0..<lanes {
                        let w = dW + ((co0 + lane) * cinG + cl) * k
                        let va: F8, vb: F8
                        switch lane {
                        case 0: va = accA.0; vb = accB.0
                        case 1: va = accA.1; vb = accB.1
                        case 2: va = accA.2; vb = accB.2
                        default: va = accA.3; vb = accB.3
                        }
                        for e in 0..<8 { w[pa + s * (ma + e)] += va[e] }
                        if jb != j { for e in 0..<8 { w[pb + s * (mb + e)] += vb[e] } }
                    }
                    j += 2
                }
            }
            col += 4
        }
    }
}

/// out[i][j] += sum_t a[i][t] * b[j][t] (the weight gradient of a 1x1 conv), a 4 x 2 tile of
/// 8-lane accumulators over t.
public func rowProducts(_ a: UnsafePointer<Float>, rows m: Int, _ b: UnsafePointer<Float>, rows n: Int, length: Int,
                        into out: UnsafeMutablePointer<Float>) {
    var i = 0
    while i < m {
        let li = min(4, m - i)
        let a0 = a + i * length
        let a1 = li > 1 ? a0 + length : a0, a2 = li > 2 ? a0 + 2 * length : a0, a3 = li > 3 ? a0 + 3 * length : a0
        var j = 0
        while j < n {
            let lj = min(2, n - j)
            let b0 = b + j * length, b1 = lj > 1 ? b0 + length : b0
            var c00 = F8(repeating: 0), c01 = F8(repeating: 0), c10 = F8(repeating: 0), c11 = F8(repeating: 0)
            var c20 = F8(repeating: 0), c21 = F8(repeating: 0), c30 = F8(repeating: 0), c31 = F8(repeating: 0)
            var t = 0
            while t + 8 <= length {
                let x0 = load8(b0 + t), x1 = load8(b1 + t)
                let y0 = load8(a0 + t), y1 = load8(a1 + t), y2 = load8(a2 + t), y3 = load8(a3 + t)
                c00.addProduct(y0, x0); c01.addProduct(y0, x1)
                c10.addProduct(y1, x0); c11.addProduct(y1, x1)
                c20.addProduct(y2, x0); c21.addProduct(y2, x1)
                c30.addProduct(y3, x0); c31.addProduct(y3, x1)
                t += 8
            }
            var s = F8(c00.sum(), c01.sum(), c10.sum(), c11.sum(), c20.sum(), c21.sum(), c30.sum(), c31.sum())
            let rowsA = (a0, a1, a2, a3)
            while t < length {
                let x0 = b0[t], x1 = b1[t]
                s[0] += rowsA.0[t] * x0; s[1] += rowsA.0[t] * x1
                s[2] += rowsA.1[t] * x0; s[3] += rowsA.1[t] * x1
                s[4] += rowsA.2[t] * x0; s[5] += rowsA.2[t] * x1
                s[6] += rowsA.3[t] * x0; s[7] += rowsA.3[t] * x1
                t += 1
            }
            for di in 0..<li { for dj in 0..<lj { out[(i + di) * n + j + dj] += s[di * 2 + dj] } }
            j += 2
        }
        i += 4
    }
}

/// d[i] *= swish'(pre[i]) = sigmoid(pre) * (1 + pre * (1 - sigmoid(pre))).
public func swishBackward(_ d: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let x = load8(pre + i), sg = sigmoid8(x)
        store8(load8(d + i) * sg * (1 + x * (1 - sg)), d + i)
        i += 8
    }
    while i < count {
        let x = pre[i], sg = sigmoidScalar(x)
        d[i] *= sg * (1 + x * (1 - sg))
        i += 1
    }
}
