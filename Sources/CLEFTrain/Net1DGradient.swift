import CLEFArch
import CLEFKernels
import CLEFFloat

/// The trainer's float32 forward and backward pass of Net1D: the engine's forward (its packed
/// weights and 4x16 FMA tile), keeping the tensors the backward pass needs, and the gradient
/// kernels of `FloatConvGradient.swift`. Built once per optimiser step (weights packed for the
/// forward and for each residue of every transposed conv); each thread uses its own `Worker`.
/// `ReferenceNet1D` (float64, plain loops) is what this is checked against, besides the oracle.
public final class Net1DGradient: @unchecked Sendable {
    public let config: Net1DConfig
    public let length: Int
    let net: Net1DFloat
    /// Parameter names in `config.parameterSpecs` order (the trainable ones), and their indices.
    public let names: [String]
    let index: [String: Int]

    /// One conv's backward data: its shape and the packed weights of each transposed residue.
    struct ConvGrad {
        let shape: ConvShape
        let inLength: Int
        /// Packed weights of every residue's transposed conv, back to back (`phaseOffsets` into it).
        let phases: [Float]
        let phaseOffsets: [Int]
        let weight: Int, bias: Int
    }
    let stem: ConvGrad
    let blocks: [(conv1: ConvGrad, conv2: ConvGrad, conv3: ConvGrad, fc1w: Int, fc1b: Int, fc2w: Int, fc2b: Int)]
    let params: [[Float]]
    let zeroBias: [Float]

    public init(config: Net1DConfig, params p: [String: [Float]], length: Int) throws(WeightError) {
        self.config = config
        self.length = length
        net = try Net1DFloat(config: config) { p[$0] }
        names = config.parameterSpecs.filter { $0.role == .weight }.map(\.name)
        var idx: [String: Int] = [:]
        for (i, n) in names.enumerated() { idx[n] = i }
        index = idx
        params = names.map { p[$0]! }
        var widest = 0
        func conv(_ prefix: String, _ shape: ConvShape, _ inLength: Int) -> ConvGrad {
            widest = max(widest, shape.inChannels, shape.outChannels)
            let w = p[prefix + ".conv.weight"]!
            var phases: [Float] = [], offsets: [Int] = []
            for r in 0..<shape.stride {
                let ph = TransposedPhase(shape: shape, inLength: inLength, residue: r)
                let ts = ph.shape(of: shape)
                var t = [Float](repeating: 0, count: shape.inChannels * shape.outPerGroup * ph.taps)
                var packed = [Float](repeating: 0, count: ts.packedCount)
                w.withUnsafeBufferPointer { wp in
                    t.withUnsafeMutableBufferPointer { transposePhaseWeights(wp.baseAddress!, shape: shape, phase: ph, into: $0.baseAddress!) }
                }
                t.withUnsafeBufferPointer { tp in
                    packed.withUnsafeMutableBufferPointer { packConvWeights(tp.baseAddress!, shape: ts, into: $0.baseAddress!) }
                }
                offsets.append(phases.count)
                phases += packed
            }
            return ConvGrad(shape: shape, inLength: inLength, phases: phases, phaseOffsets: offsets,
                            weight: idx[prefix + ".conv.weight"]!, bias: idx[prefix + ".conv.bias"]!)
        }
        stem = conv("first_conv", net.stem.shape, length)
        var len = net.stem.shape.outLength(length)
        var bs: [(conv1: ConvGrad, conv2: ConvGrad, conv3: ConvGrad, fc1w: Int, fc1b: Int, fc2w: Int, fc2b: Int)] = []
        for b in net.blocks {
            let n = b.spec.name
            let lo = b.conv2.shape.outLength(len)
            bs.append((conv(n + ".conv1", b.conv1.shape, len), conv(n + ".conv2", b.conv2.shape, len),
                       conv(n + ".conv3", b.conv3.shape, lo), idx[n + ".se_fc1.weight"]!, idx[n + ".se_fc1.bias"]!,
                       idx[n + ".se_fc2.weight"]!, idx[n + ".se_fc2.bias"]!))
            len = lo
        }
        blocks = bs
        zeroBias = [Float](repeating: 0, count: widest)
    }

    /// What one window's backward pass needs from its forward pass, allocated once and refilled
    /// every step (so a training step does not fault in fresh pages for every tensor).
    public final class Trace: @unchecked Sendable {
        var pre: [Float]
        /// Block inputs; `xs[b + 1]` is block b's output.
        var xs: [[Float]]
        var m1: [[Float]], m2: [[Float]], o: [[Float]]
        var mean: [[Float]], hidden: [[Float]], gate: [[Float]]
        public var embedding: [Float]

        public init(config: Net1DConfig, length: Int) {
            func zeros(_ n: Int) -> [Float] { [Float](repeating: 0, count: n) }
            var len = outLength(length, stride: 2)
            pre = zeros(config.baseFilters * len)
            xs = [zeros(config.baseFilters * len)]
            m1 = []; m2 = []; o = []; mean = []; hidden = []; gate = []
            for b in config.blocks {
                let lo = outLength(len, stride: b.stride)
                m1.append(zeros(b.middleChannels * len)); m2.append(zeros(b.middleChannels * lo))
                o.append(zeros(b.outChannels * lo)); xs.append(zeros(b.outChannels * lo))
                mean.append(zeros(b.outChannels)); hidden.append(zeros(b.outChannels / 2)); gate.append(zeros(b.outChannels))
                len = lo
            }
            embedding = zeros(config.embeddingDim)
        }
    }

    /// A thread's scratch memory and gradient sums; depends on the architecture and window length
    /// only, so it is kept across steps (`reset` zeroes the sums).
    public final class Worker: @unchecked Sendable {
        let ws: FloatWorkspace
        /// Gradient sums of every trainable parameter, back to back (`offsets` into it).
        let grads: UnsafeMutablePointer<Float>
        let offsets: [Int], counts: [Int], total: Int
        public let names: [String]
        let bufs: [UnsafeMutablePointer<Float>]

        public init(config: Net1DConfig, length: Int) {
            ws = FloatWorkspace(config: config, maxLength: length)
            let specs = config.parameterSpecs.filter { $0.role == .weight }
            names = specs.map(\.name)
            counts = specs.map(\.elementCount)
            var o: [Int] = [], total = 0
            for c in counts { o.append(total); total += c }
            offsets = o
            self.total = total
            grads = .allocate(capacity: total)
            grads.initialize(repeating: 0, count: total)
            // Largest tensor (channels x padded length x stride) any step of the backward pass holds.
            var len = outLength(length, stride: 2)
            var big = max(config.baseFilters * len, config.inChannels * 2 * (length + 64))
            for b in config.blocks {
                big = max(big, max(b.middleChannels, b.outChannels, b.inChannels) * (len + 64) * b.stride)
                len = outLength(len, stride: b.stride)
            }
            bufs = (0..<8).map { _ in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: big)
                p.initialize(repeating: 0, count: big)
                return p
            }
        }
        deinit { for b in bufs { b.deallocate() }; grads.deallocate() }

        public func reset() { grads.update(repeating: 0, count: total) }

        /// Sums of every trainable parameter's gradient, by name.
        public func gradients() -> [String: [Float]] {
            var out: [String: [Float]] = [:]
            for (i, n) in names.enumerated() {
                out[n] = Array(UnsafeBufferPointer(start: grads + offsets[i], count: counts[i]))
            }
            return out
        }
    }

    public func makeWorker() -> Worker { Worker(config: config, length: length) }

    /// The forward pass of one window, keeping what `backward` needs in `tr`.
    public func forward(_ input: UnsafePointer<Float>, worker: Worker, into tr: Trace) {
        func keep(_ dst: inout [Float], _ p: UnsafeMutablePointer<Float>, _ n: Int) {
            precondition(dst.count == n, "trace sized for another length")
            dst.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: p, count: n) }
        }
        tr.embedding.withUnsafeMutableBufferPointer { out in
            net.forwardDetailed(input, length: length, workspace: worker.ws, output: out.baseAddress!) { pt, p, c, l in
                let b = pt.block, n = c * l
                switch (b, pt.kind) {
                case (-1, .mid1): keep(&tr.pre, p, n)
                case (-1, .output): keep(&tr.xs[0], p, n)
                case (_, .mid1): keep(&tr.m1[b], p, n)
                case (_, .mid2): keep(&tr.m2[b], p, n)
                case (_, .conv3): keep(&tr.o[b], p, n)
                case (_, .seMean): keep(&tr.mean[b], p, n)
                case (_, .seHidden): keep(&tr.hidden[b], p, n)
                case (_, .seGate): keep(&tr.gate[b], p, n)
                case (_, .output): keep(&tr.xs[b + 1], p, n)
                default: break
                }
            }
        }
    }

    /// The forward pass of one window into a new trace.
    public func forward(_ input: UnsafePointer<Float>, worker: Worker) -> Trace {
        let tr = Trace(config: config, length: length)
        forward(input, worker: worker, into: tr)
        return tr
    }

    /// Adds to `worker`'s sums the gradient of every parameter for dLoss/dEmbedding `dEmb`.
    public func backward(_ tr: Trace, input: UnsafePointer<Float>, dEmb: [Float], worker w: Worker) {
        // Buffers: 0 dy of the block output, 1 dIn, 2 dO, 3 activation / prepared, 4 dM2, 5 dM1 / dA,
        // 6 transposed-conv scratch, 7 dA1.
        let buf = w.bufs
        var dy = buf[0], dIn = buf[1]
        let dO = buf[2], act = buf[3], dM2 = buf[4], dM1 = buf[5], scratch = buf[6], dA1 = buf[7]
        let d = config.embeddingDim
        var len = tr.xs.last!.count / d
        for c in 0..<d {
            let v = dEmb[c] / Float(len)
            for t in 0..<len { dy[c * len + t] = v }
        }
        func grad(_ i: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) { body(w.grads + w.offsets[i]) }
        func inputGrad(_ cg: ConvGrad, _ dyp: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
            cg.phases.withUnsafeBufferPointer { ph in
                zeroBias.withUnsafeBufferPointer { zb in
                    convInputGradient(dyp, shape: cg.shape, inLength: cg.inLength,
                                      packed: { r in ph.baseAddress! + cg.phaseOffsets[r] },
                                      zeroBias: zb.baseAddress!, scratch: scratch, dx: dx)
                }
            }
        }
        func weightGrad(_ cg: ConvGrad, _ prepared: UnsafePointer<Float>, _ rowLength: Int, _ dyp: UnsafePointer<Float>) {
            grad(cg.weight) { dW in
                grad(cg.bias) { dB in
                    convWeightGradient(prepared: prepared, rowLength: rowLength, shape: cg.shape,
                                       outLength: cg.shape.outLength(cg.inLength), dy: dyp, dW: dW, dB: dB)
                }
            }
        }
        /// A conv applied to swish(pre): its weight gradients from dy, and dx = the input gradient
        /// times swish'(pre). Pointwise layers read swish(pre) as it is, the others its prepared copy.
        func swishConv(_ cg: ConvGrad, pre: [Float], channels c: Int, length l: Int,
                       dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
            pre.withUnsafeBufferPointer { pb in
                let p = pb.baseAddress!
                let pointwise = cg.shape.isPointwise
                let tmp = pointwise ? act : dx
                tmp.update(from: p, count: c * l)
                swishInPlace(tmp, count: c * l)
                let rl = pointwise ? l : prepareConvInput(tmp, channels: c, length: l, shape: cg.shape, into: act)
                weightGrad(cg, act, rl, dy)
                inputGrad(cg, dy, dx)
                swishBackward(dx, pre: p, count: c * l)
            }
        }
        for bi in stride(from: blocks.count - 1, through: 0, by: -1) {
            let spec = config.blocks[bi], bg = blocks[bi]
            let c = spec.outChannels, m = spec.middleChannels, cin = spec.inChannels
            let l = bg.conv1.inLength, lo = bg.conv3.inLength
            precondition(lo == len)
            tr.xs[bi].withUnsafeBufferPointer { xb in
                let x = xb.baseAddress!
                // Shortcut: identity or max-pool (zero padding), at channel offset (c - cin) / 2.
                dIn.update(repeating: 0, count: cin * l)
                let off = (c - cin) / 2, s = spec.stride
                for ci in 0..<cin {
                    let src = dy + (ci + off) * lo, dst = dIn + ci * l, xr = x + ci * l
                    if s == 1 { scaleAdd(src, 1, 0, adding: dst, into: dst, count: lo); continue }
                    for t in 0..<lo {
                        var mx = -Float.infinity, at = -1
                        for j in 0..<s {
                            let i = t * s + j - (s - 1) / 2
                            let inside = i >= 0 && i < l
                            let v = inside ? xr[i] : 0
                            if v > mx { mx = v; at = inside ? i : -1 }
                        }
                        if at >= 0 { dst[at] += src[t] }
                    }
                }
            }
            // Squeeze-excitation: y = o * sigmoid(g) per channel.
            let hidden = c / 2
            var gate = [Float](repeating: 0, count: c), dG = [Float](repeating: 0, count: c)
            tr.o[bi].withUnsafeBufferPointer { ob in
                let o = ob.baseAddress!
                for ch in 0..<c {
                    let sg = sigmoidScalar(tr.gate[bi][ch])
                    gate[ch] = sg
                    let row = dy + ch * lo
                    var acc: Float = 0
                    var t = 0
                    var v = F8(repeating: 0)
                    while t + 8 <= lo { v.addProduct(load8(row + t), load8(o + ch * lo + t)); t += 8 }
                    acc = v.sum()
                    while t < lo { acc += row[t] * o[ch * lo + t]; t += 1 }
                    dG[ch] = acc * sg * (1 - sg)
                }
            }
            let h = tr.hidden[bi], ha = h.map(swishScalar), mean = tr.mean[bi]
            grad(bg.fc2w) { g in for i in 0..<c { for j in 0..<hidden { g[i * hidden + j] += dG[i] * ha[j] } } }
            grad(bg.fc2b) { g in for i in 0..<c { g[i] += dG[i] } }
            let w2 = params[bg.fc2w], w1 = params[bg.fc1w]
            var dH = [Float](repeating: 0, count: hidden)
            for j in 0..<hidden {
                var acc: Float = 0
                for i in 0..<c { acc += w2[i * hidden + j] * dG[i] }
                let sg = sigmoidScalar(h[j])
                dH[j] = acc * sg * (1 + h[j] * (1 - sg))
            }
            grad(bg.fc1w) { g in for j in 0..<hidden { for i in 0..<c { g[j * c + i] += dH[j] * mean[i] } } }
            grad(bg.fc1b) { g in for j in 0..<hidden { g[j] += dH[j] } }
            for i in 0..<c {
                var acc: Float = 0
                for j in 0..<hidden { acc += w1[j * c + i] * dH[j] }
                scaleAdd(dy + i * lo, gate[i], acc / Float(lo), into: dO + i * lo, count: lo)
            }
            // conv3 (1x1) on swish(m2), then conv2 (grouped, strided) on swish(m1).
            swishConv(bg.conv3, pre: tr.m2[bi], channels: m, length: lo, dy: dO, dx: dM2)
            swishConv(bg.conv2, pre: tr.m1[bi], channels: m, length: l, dy: dM2, dx: dM1)
            // conv1 (1x1) on swish(x) (the first block takes x as is).
            tr.xs[bi].withUnsafeBufferPointer { xb in
                let x = xb.baseAddress!
                act.update(from: x, count: cin * l)
                if spec.activateInput { swishInPlace(act, count: cin * l) }
                weightGrad(bg.conv1, act, l, dM1)
                inputGrad(bg.conv1, dM1, dA1)
                if spec.activateInput { swishBackward(dA1, pre: x, count: cin * l) }
                scaleAdd(dA1, 1, 0, adding: dIn, into: dIn, count: cin * l)
            }
            swap(&dy, &dIn)
            len = l
        }
        // Stem: swish(conv(input)).
        let sc = stem.shape.outChannels
        tr.pre.withUnsafeBufferPointer { pb in swishBackward(dy, pre: pb.baseAddress!, count: sc * len) }
        let rl = prepareConvInput(input, channels: config.inChannels, length: length, shape: stem.shape, into: act)
        weightGrad(stem, act, rl, dy)
    }
}

/// out[i] = x[i] * a + b (+ y[i]), eight lanes at a time.
@inline(__always)
func scaleAdd(_ x: UnsafePointer<Float>, _ a: Float, _ b: Float, adding y: UnsafePointer<Float>? = nil,
              into out: UnsafeMutablePointer<Float>, count: Int) {
    let va = F8(repeating: a), vb = F8(repeating: b)
    var i = 0
    if let y {
        while i + 8 <= count { store8(load8(x + i) * va + vb + load8(y + i), out + i); i += 8 }
        while i < count { out[i] = x[i] * a + b + y[i]; i += 1 }
    } else {
        while i + 8 <= count { store8(load8(x + i) * va + vb, out + i); i += 8 }
        while i < count { out[i] = x[i] * a + b; i += 1 }
    }
}
