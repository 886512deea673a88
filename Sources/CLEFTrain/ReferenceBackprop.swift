import Foundation
import CLEFArch

/// A plain, double-precision forward and backward pass of Net1D: the trainer's reference for every
/// layer's gradient (checked against the oracle's float64 gradients). Written for clarity, not
/// speed. Tensors are [channels][length] row-major `[Double]`.
public struct ReferenceNet1D: Sendable {
    public let config: Net1DConfig
    public var params: [String: [Double]]

    public init(config: Net1DConfig, params: [String: [Float]]) {
        self.config = config
        self.params = params.mapValues { $0.map(Double.init) }
    }

    struct Conv: Sendable { let name: String; let cin: Int; let cout: Int; let groups: Int; let k: Int; let stride: Int }

    static func conv(_ x: [Double], _ len: Int, _ c: Conv, _ w: [Double], _ b: [Double]) -> ([Double], Int) {
        let lo = (len + c.stride - 1) / c.stride
        let total = max(0, (lo - 1) * c.stride + c.k - len), left = total / 2
        let cinG = c.cin / c.groups, coutG = c.cout / c.groups
        var y = [Double](repeating: 0, count: c.cout * lo)
        for co in 0..<c.cout {
            let g = co / coutG
            for t in 0..<lo {
                var acc = b[co]
                for cl in 0..<cinG {
                    let ci = g * cinG + cl
                    for kk in 0..<c.k {
                        let i = t * c.stride + kk - left
                        if i >= 0 && i < len { acc += w[(co * cinG + cl) * c.k + kk] * x[ci * len + i] }
                    }
                }
                y[co * lo + t] = acc
            }
        }
        return (y, lo)
    }

    /// Gradients of a conv: (dx, dw, db) from dy.
    static func convBackward(_ x: [Double], _ len: Int, _ c: Conv, _ w: [Double], _ dy: [Double]) -> ([Double], [Double], [Double]) {
        let lo = (len + c.stride - 1) / c.stride
        let total = max(0, (lo - 1) * c.stride + c.k - len), left = total / 2
        let cinG = c.cin / c.groups, coutG = c.cout / c.groups
        var dx = [Double](repeating: 0, count: c.cin * len), dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: c.cout)
        for co in 0..<c.cout {
            let g = co / coutG
            for t in 0..<lo {
                let d = dy[co * lo + t]
                if d == 0 { continue }
                db[co] += d
                for cl in 0..<cinG {
                    let ci = g * cinG + cl
                    for kk in 0..<c.k {
                        let i = t * c.stride + kk - left
                        if i >= 0 && i < len {
                            dw[(co * cinG + cl) * c.k + kk] += d * x[ci * len + i]
                            dx[ci * len + i] += d * w[(co * cinG + cl) * c.k + kk]
                        }
                    }
                }
            }
        }
        return (dx, dw, db)
    }

    static func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
    static func swish(_ v: Double) -> Double { v * sigmoid(v) }
    static func swishGrad(_ v: Double) -> Double { let s = sigmoid(v); return s * (1 + v * (1 - s)) }

    struct BlockCache: Sendable {
        var x: [Double], len: Int, a1: [Double], m1: [Double], m2: [Double], lo: Int, m3: [Double], o: [Double]
        var mean: [Double], h: [Double], g: [Double], s: [Double]
    }

    /// Everything the backward pass needs from one window's forward pass.
    public struct Trace: Sendable {
        let input: [Double], length: Int, pre: [Double], blocks: [BlockCache], finalLength: Int
        public let embedding: [Double]
    }

    /// Embedding of one window and, given dLoss/dEmbedding, the gradient of every parameter
    /// (accumulated into `grads`).
    public func forwardBackward(_ input: [Double], length: Int, embeddingGradient: (([Double]) -> [Double]),
                                grads: inout [String: [Double]]) -> [Double] {
        let t = forward(input, length: length)
        backward(t, embeddingGradient(t.embedding), grads: &grads)
        return t.embedding
    }

    /// The forward pass, keeping what the backward pass needs.
    public func forward(_ input: [Double], length: Int) -> Trace {
        func p(_ n: String) -> [Double] { params[n]! }
        let stem = Conv(name: "first_conv", cin: config.inChannels, cout: config.baseFilters, groups: 1, k: config.kernelSize, stride: 2)
        let (pre, l0) = Self.conv(input, length, stem, p("first_conv.conv.weight"), p("first_conv.conv.bias"))
        var x = pre.map(Self.swish)
        var len = l0
        var caches: [BlockCache] = []
        for spec in config.blocks {
            let n = spec.name, c = spec.outChannels, m = spec.middleChannels
            let a1 = spec.activateInput ? x.map(Self.swish) : x
            let (m1, _) = Self.conv(a1, len, Conv(name: n + ".conv1", cin: spec.inChannels, cout: m, groups: 1, k: 1, stride: 1),
                                    p(n + ".conv1.conv.weight"), p(n + ".conv1.conv.bias"))
            let (m2, lo) = Self.conv(m1.map(Self.swish), len, Conv(name: n + ".conv2", cin: m, cout: m, groups: spec.groups, k: spec.kernelSize, stride: spec.stride),
                                     p(n + ".conv2.conv.weight"), p(n + ".conv2.conv.bias"))
            let (o, _) = Self.conv(m2.map(Self.swish), lo, Conv(name: n + ".conv3", cin: m, cout: c, groups: 1, k: 1, stride: 1),
                                   p(n + ".conv3.conv.weight"), p(n + ".conv3.conv.bias"))
            let mean = (0..<c).map { ch in (0..<lo).reduce(0.0) { $0 + o[ch * lo + $1] } / Double(lo) }
            let w1 = p(n + ".se_fc1.weight"), b1 = p(n + ".se_fc1.bias"), w2 = p(n + ".se_fc2.weight"), b2 = p(n + ".se_fc2.bias")
            let h = (0..<(c / 2)).map { j in b1[j] + (0..<c).reduce(0.0) { $0 + w1[j * c + $1] * mean[$1] } }
            let ha = h.map(Self.swish)
            let g = (0..<c).map { i in b2[i] + (0..<(c / 2)).reduce(0.0) { $0 + w2[i * (c / 2) + $1] * ha[$1] } }
            let s = g.map(Self.sigmoid)
            var y = [Double](repeating: 0, count: c * lo)
            let off = (c - spec.inChannels) / 2
            for ch in 0..<c {
                for t in 0..<lo {
                    var v = o[ch * lo + t] * s[ch]
                    let ci = ch - off
                    if ci >= 0 && ci < spec.inChannels {
                        if spec.stride == 1 { v += x[ci * len + t] } else {
                            var mx = -Double.infinity
                            for j in 0..<spec.stride {
                                let i = t * spec.stride + j - (spec.stride - 1) / 2
                                mx = max(mx, (i >= 0 && i < len) ? x[ci * len + i] : 0)
                            }
                            v += mx
                        }
                    }
                    y[ch * lo + t] = v
                }
            }
            caches.append(BlockCache(x: x, len: len, a1: a1, m1: m1, m2: m2, lo: lo, m3: [], o: o, mean: mean, h: h, g: g, s: s))
            x = y
            len = lo
        }
        let d = config.embeddingDim
        let emb = (0..<d).map { ch in (0..<len).reduce(0.0) { $0 + x[ch * len + $1] } / Double(len) }
        return Trace(input: input, length: length, pre: pre, blocks: caches, finalLength: len, embedding: emb)
    }

    /// Accumulates into `grads` the parameter gradients for dLoss/dEmbedding `dEmb`.
    public func backward(_ trace: Trace, _ dEmb: [Double], grads: inout [String: [Double]]) {
        func p(_ n: String) -> [Double] { params[n]! }
        func add(_ n: String, _ g: [Double]) {
            if grads[n] == nil { grads[n] = [Double](repeating: 0, count: g.count) }
            for i in 0..<g.count { grads[n]![i] += g[i] }
        }
        let caches = trace.blocks, len = trace.finalLength, d = config.embeddingDim
        let stem = Conv(name: "first_conv", cin: config.inChannels, cout: config.baseFilters, groups: 1, k: config.kernelSize, stride: 2)
        let input = trace.input, length = trace.length, pre = trace.pre
        var dx = [Double](repeating: 0, count: d * len)
        for ch in 0..<d { for t in 0..<len { dx[ch * len + t] = dEmb[ch] / Double(len) } }
        for (bi, spec) in config.blocks.enumerated().reversed() {
            let cc = caches[bi], n = spec.name, c = spec.outChannels, m = spec.middleChannels, lo = cc.lo, l = cc.len
            let dy = dx
            // Shortcut.
            var dIn = [Double](repeating: 0, count: spec.inChannels * l)
            let off = (c - spec.inChannels) / 2
            for ch in 0..<c {
                let ci = ch - off
                guard ci >= 0 && ci < spec.inChannels else { continue }
                for t in 0..<lo {
                    if spec.stride == 1 { dIn[ci * l + t] += dy[ch * lo + t]; continue }
                    var mx = -Double.infinity, at = -1
                    for j in 0..<spec.stride {
                        let i = t * spec.stride + j - (spec.stride - 1) / 2
                        let v = (i >= 0 && i < l) ? cc.x[ci * l + i] : 0
                        if v > mx { mx = v; at = (i >= 0 && i < l) ? i : -1 }
                    }
                    if at >= 0 { dIn[ci * l + at] += dy[ch * lo + t] }
                }
            }
            // SE and scaling.
            var dO = [Double](repeating: 0, count: c * lo)
            var dS = [Double](repeating: 0, count: c)
            for ch in 0..<c { for t in 0..<lo { dO[ch * lo + t] = dy[ch * lo + t] * cc.s[ch]; dS[ch] += dy[ch * lo + t] * cc.o[ch * lo + t] } }
            let dG = (0..<c).map { dS[$0] * cc.s[$0] * (1 - cc.s[$0]) }
            let w1 = p(n + ".se_fc1.weight"), w2 = p(n + ".se_fc2.weight")
            let ha = cc.h.map(Self.swish)
            add(n + ".se_fc2.weight", (0..<(c * (c / 2))).map { dG[$0 / (c / 2)] * ha[$0 % (c / 2)] })
            add(n + ".se_fc2.bias", dG)
            let dHa = (0..<(c / 2)).map { j in (0..<c).reduce(0.0) { $0 + w2[$1 * (c / 2) + j] * dG[$1] } }
            let dH = (0..<(c / 2)).map { dHa[$0] * Self.swishGrad(cc.h[$0]) }
            add(n + ".se_fc1.weight", (0..<((c / 2) * c)).map { dH[$0 / c] * cc.mean[$0 % c] })
            add(n + ".se_fc1.bias", dH)
            let dMean = (0..<c).map { i in (0..<(c / 2)).reduce(0.0) { $0 + w1[$1 * c + i] * dH[$1] } }
            for ch in 0..<c { for t in 0..<lo { dO[ch * lo + t] += dMean[ch] / Double(lo) } }
            // conv3, conv2, conv1 with their Swish.
            let a3 = cc.m2.map(Self.swish)
            let (dA3, dw3, db3) = Self.convBackward(a3, lo, Conv(name: "", cin: m, cout: c, groups: 1, k: 1, stride: 1), p(n + ".conv3.conv.weight"), dO)
            add(n + ".conv3.conv.weight", dw3); add(n + ".conv3.conv.bias", db3)
            let dM2 = (0..<dA3.count).map { dA3[$0] * Self.swishGrad(cc.m2[$0]) }
            let a2 = cc.m1.map(Self.swish)
            let (dA2, dw2, db2) = Self.convBackward(a2, l, Conv(name: "", cin: m, cout: m, groups: spec.groups, k: spec.kernelSize, stride: spec.stride),
                                                    p(n + ".conv2.conv.weight"), dM2)
            add(n + ".conv2.conv.weight", dw2); add(n + ".conv2.conv.bias", db2)
            let dM1 = (0..<dA2.count).map { dA2[$0] * Self.swishGrad(cc.m1[$0]) }
            let (dA1, dw1, db1) = Self.convBackward(cc.a1, l, Conv(name: "", cin: spec.inChannels, cout: m, groups: 1, k: 1, stride: 1),
                                                    p(n + ".conv1.conv.weight"), dM1)
            add(n + ".conv1.conv.weight", dw1); add(n + ".conv1.conv.bias", db1)
            for i in 0..<dIn.count { dIn[i] += spec.activateInput ? dA1[i] * Self.swishGrad(cc.x[i]) : dA1[i] }
            dx = dIn
        }
        // Stem: swish(conv(input)).
        let dPre = (0..<dx.count).map { dx[$0] * Self.swishGrad(pre[$0]) }
        let (_, dws, dbs) = Self.convBackward(input, length, stem, p("first_conv.conv.weight"), dPre)
        add("first_conv.conv.weight", dws); add("first_conv.conv.bias", dbs)
    }
}
