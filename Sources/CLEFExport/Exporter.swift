import Foundation
import CLEFArch
import CLEFKernels
import CLEFFloat
import CLEFBlob
import CLEFQuant

/// Turns float weights (from a checkpoint) into a weight blob of any precision. Integer blobs
/// are calibrated on real windows: per-tensor activation ranges by a `RangeMethod`, symmetric
/// per-output-channel int8 weights, zero points folded into the biases, and Swish/sigmoid tables.
public enum Exporter {
    public struct Options {
        public var precision: BlobPrecision
        public var method: RangeMethod = .mse
        public var plannedLength = 5000
        /// Range widening for unseen data: int16 tensors, and the per-channel int8 Swish codes.
        /// Chosen on held-out records and the heart-rate windows (docs/quantization.md): the
        /// heart-rate windows clip 16-bit tensors at x2, not at x2.5; q16 takes x3 (margin) and x2
        /// for the block outputs alone (`headroom16For`, set in `init`), q8 x4 (its held-out
        /// error measured lower there). 8-bit codes trade rounding against clipping.
        public var headroom16: Double
        /// `headroom16` for one kind of tensor in a range of blocks (block -1 is the stem; research:
        /// which tensors clip unseen windows). The last entry that matches a point wins.
        public var headroom16For: [(kind: ActivationKind, blocks: ClosedRange<Int>, headroom: Double)] = []
        /// Every block and the stem, for `headroom16For`.
        public static let allBlocks = -1...Int.max
        /// The int16 headroom of one point.
        public func headroom16(_ p: ActivationPoint) -> Double {
            headroom16For.last { $0.kind == p.kind && $0.blocks.contains(p.block) }?.headroom ?? headroom16
        }
        public var headroom8 = 2.5
        /// Knots of every interpolated Swish / sigmoid table (q8: 257, q16: 513 by default).
        public var tableKnots: Int
        /// One shared direct Swish table for the convolutions' Swish stages (the stem and every
        /// block's conv1 and conv2) and the block inputs' that are int16 block outputs: those
        /// pre-activations, block outputs and the table's values take one grid, step
        /// R / `sharedTable` and zero point 0 (so +-8 R), so one table of 2 `sharedTable` + 2
        /// entries, a value per code over [-R, R], serves them all, stored once; a device looks
        /// the value up instead of interpolating (docs/firmware.md). nil: interpolated tables of
        /// `tableKnots` knots, one per stage. q8's default 4096 (8 KB: held-out 4.59% / 9.17%
        /// against the interpolated tables' 4.66% / 8.87%, docs/quantization.md); q16 keeps its
        /// interpolated tables.
        public var sharedTable: Int?
        /// q8: tables of the Swish of every int8 input code for the blocks with int8 inputs
        /// (`QuantBlock.inputLUT`, [inChannels][256] each, 24 KB for the small model's blocks 1
        /// and 2): exactly the engine's own arithmetic, precomputed, so a device looks a code up
        /// (1.9 M instructions a window less on the Cortex-M4F, docs/firmware.md).
        public var inputLUTs = true
        public init(precision: BlobPrecision) {
            self.precision = precision
            tableKnots = precision == .q16 ? 513 : 257
            sharedTable = precision == .q8 ? 4096 : nil
            headroom16 = precision == .q16 ? 3 : 4
            // q16: the block outputs (the residual stream) carry most of the int16 step error and
            // do not clip the heart-rate windows at x2 (docs/quantization.md): 0.343% -> 0.305%.
            if precision == .q16 { headroom16For = [(.output, Self.allBlocks, 2)] }
        }
        /// Per-channel scales for the Swish codes (folded into the weights) or one per tensor.
        public var perChannel8 = true
        /// Leading blocks whose outputs are int8 per channel instead of int16 (q8 small: 2, the
        /// two longest block tensors, which set the firmware's arena; at most all but the last
        /// block), companded (`Companding`): within `compandKnee` steps of the channel's
        /// centre the step spans the calibrated range widened by `outputHeadroom8`, beyond it
        /// codes are 2^`compandShift` steps apart. Measured on held-out windows and the heart-rate
        /// windows (docs/quantization.md): uniform codes clip the heart-rate windows at x1.25
        /// (probe worst 2.7 bpm) and cost 6.3% held-out error at x3; knee 112, shift 4, x1.1
        /// gives 4.56% with probe worst 1.06 bpm.
        /// nil: the default, 2 for q8 small (the firmware's model), else 0 (medium's ludb window:
        /// 0.80% with them against 0.16% without, and medium fits no microcontroller anyway).
        public var int8Outputs: Int?
        /// `int8Outputs` resolved for a model size.
        public func int8Outputs(for size: ModelSize) -> Int { int8Outputs ?? (precision == .q8 && size == .small ? 2 : 0) }
        public var outputHeadroom8 = 1.1
        public var compandKnee: Int32 = 112
        public var compandShift: Int32 = 4
        public var perChannel16 = false
        public var biasCorrection = true
        /// q16: int16 block outputs with a scale per channel (`QuantBlock.outputChannels`, format
        /// version 3; the default, held-out mean 0.305% -> 0.292%, docs/quantization.md). q8 never
        /// (its error is its int8 codes'; the engine refuses them there).
        public var channelOutputs16 = true
        /// Per-channel output ranges (`outputChannelParams`) are widened by this. Measured (q16,
        /// held-out mean / heart-rate windows' rel-L2 worst): x3 0.292% / 2.47% (some clip), x3.5
        /// 0.292% / 1.21% (as one scale per tensor at x2), x4 0.298% / 1.21%.
        public var channelHeadroom = 3.5
        /// Stages whose squeeze-excitation linears get 4-bit weights (`BlobDType.i4`, format
        /// version 4; GPTQ-rounded on the SE inputs' second moments). nil: the default, for the
        /// small model (docs/quantization.md, held-out mean rel-L2): q8 the last two stages (164 KB
        /// of its 439 KB of weights; the last stage 4.663% -> 4.660% in session 11, the one before
        /// it 4.587% -> 4.591% in session 15, which keeps the size target with `inputLUTs`), q16
        /// the last three (197 KB; 0.286% -> 0.298%, which the size target needs); none for
        /// medium, whose trained accuracy is unmeasured.
        public var seInt4Stages: Set<Int>?
        /// `seInt4Stages` resolved for a model.
        public func seInt4Stages(for size: ModelSize, stageCount: Int) -> Set<Int> {
            if let seInt4Stages { return seInt4Stages }
            guard size == .small else { return [] }
            switch precision {
            case .q8: return Set(max(0, stageCount - 2)..<stageCount)
            case .q16: return Set(max(0, stageCount - 3)..<stageCount)
            default: return []
            }
        }
    }

    /// Quantisation of one activation tensor: real = scale * (code - zeroPoint).
    public struct QParams {
        public var scale: Double
        public var zeroPoint: Int32
    }

    /// `hessians` (optional): second moments of the conv inputs, for GPTQ weight rounding.
    /// `sequential` (instead of `hessians`): GPTQ with error feedback from the layers before.
    public static func export(weights: [String: [Float]], config: Net1DConfig, size: ModelSize, options: Options,
                              calibration: CalibrationStats?, hessians: LayerHessians? = nil,
                              sequential: SequentialMoments? = nil) throws -> [UInt8] {
        var w = BlobWriter(precision: options.precision, size: size, inChannels: config.inChannels,
                           plannedLength: options.plannedLength)
        switch options.precision {
        case .f32, .f16:
            for s in config.parameterSpecs where s.role == .weight {
                guard let v = weights[s.name] else { throw ExportError("missing weight \(s.name)") }
                if options.precision == .f32 { w.add(s.name, floats: v, shape: s.shape) } else { w.add(s.name, halves: v, shape: s.shape) }
            }
        case .q8, .q16:
            guard let stats = calibration else { throw ExportError("\(options.precision.name) needs calibration windows") }
            try Quantizer(weights: weights, config: config, stats: stats, method: options.method,
                          actBits: options.precision == .q8 ? 8 : 16, options: options, hessians: hessians,
                          sequential: sequential, int8Outputs: options.int8Outputs(for: size),
                          seInt4Stages: options.seInt4Stages(for: size, stageCount: config.filterList.count)).write(into: &w)
            if options.precision == .q8 && options.inputLUTs { try addInputLUTs(&w) }
        }
        return w.finish()
    }

    /// The blob written so far, loaded by the q8 engine, which computes every `inputLUT`
    /// (`QuantEncoder.inputSwish`): the tables come from the arithmetic they stand in for.
    static func addInputLUTs(_ w: inout BlobWriter) throws {
        let bytes = w.finish()
        let tables: [(name: String, values: [Int8], shape: [Int])]
        do {
            tables = try bytes.withUnsafeBytes { raw in try inputLUTs(raw) }
        } catch {
            throw ExportError("the q8 blob does not load to build its input tables: \(error)")
        }
        for t in tables { w.add(t.name, int8: t.values, shape: t.shape) }
    }

    /// The tables of one blob's bytes. (Its own function, out of line: written inside
    /// `addInputLUTs`' closure, Swift 6.3.1's performance inliner crashed on it.)
    @inline(never)
    static func inputLUTs(_ raw: UnsafeRawBufferPointer) throws -> [(name: String, values: [Int8], shape: [Int])] {
        let encoder = try QuantEncoder<Int8>(blob: try BlobReader(raw))
        var tables: [(name: String, values: [Int8], shape: [Int])] = []
        for b in encoder.blocks where b.inputCodes != nil && b.act1 != nil {
            var lut: [Int8] = []
            lut.reserveCapacity(b.spec.inChannels * 256)
            for c in 0..<b.spec.inChannels {
                for v in Int32(-128)...127 { lut.append(Int8(QuantEncoder<Int8>.inputSwish(b, channel: c, code: v))) }
            }
            tables.append((b.spec.name + ".swish1_lut", lut, [b.spec.inChannels, 256]))
        }
        return tables
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The integer quantisation of a whole encoder (see `QuantEncoder` for the precision plan).
struct Quantizer {
    let weights: [String: [Float]]
    let config: Net1DConfig
    let stats: CalibrationStats
    let method: RangeMethod
    /// Bits of the convolution inputs (8 for q8, 16 for q16); everything else is 16-bit.
    let actBits: Int
    let options: Exporter.Options
    let hessians: LayerHessians?
    let sequential: SequentialMoments?
    /// Leading blocks with int8 companded outputs (`Exporter.Options.int8Outputs(for:)`).
    let int8Outputs: Int
    /// Stages whose SE linears have 4-bit weights (`Exporter.Options.seInt4Stages`).
    let seInt4Stages: Set<Int>
    var actMin: Int64 { actBits == 8 ? -128 : -32768 }
    var actMax: Int64 { actBits == 8 ? 127 : 32767 }
    /// z-scored windows have |x| <= sqrt(L - 1) < 71 for L = 5000: int16 input codes at this
    /// scale never clip.
    static let inputScale = 71.0 / 32767.0

    /// Per-tensor int16 params of a point: calibrated range widened by the 16-bit headroom.
    func params(_ p: ActivationPoint) throws -> Exporter.QParams {
        if let half = options.sharedTable, let q = sharedTableParams(p, half: half) { return q }
        guard let s = stats.point(p) else { throw ExportError("no calibration statistics for \(p)") }
        let (lo0, hi0) = method.range(s, levels: 65536)
        let h = options.headroom16(p)
        let lo = lo0 * h, hi = hi0 * h
        let scale = max((hi - lo) / 65535, 1e-12)
        let zp = Int32(clamp(Int64((-32768 - lo / scale).rounded()), -32768, 32767))
        return Exporter.QParams(scale: scale, zeroPoint: zp)
    }

    /// Symmetric int16 params (zero point 0), for the SE channel means.
    func symmetric(_ p: ActivationPoint) throws -> Exporter.QParams {
        guard let s = stats.point(p) else { throw ExportError("no calibration statistics for \(p)") }
        let (lo, hi) = method.range(s, levels: 65536)
        return Exporter.QParams(scale: max(max(-lo, hi) * options.headroom16(p) / 32767, 1e-12), zeroPoint: 0)
    }

    /// Per-channel `Act` params of a Swish output from each channel's calibrated min/max.
    func channelParams(_ p: ActivationPoint) throws -> [Exporter.QParams] {
        guard let s = stats.point(p), !s.channelMin.isEmpty else { throw ExportError("no per-channel statistics for \(p)") }
        let hr = actBits == 8 ? options.headroom8 : options.headroom16
        let perChannel = actBits == 8 ? options.perChannel8 : options.perChannel16
        let mins = perChannel ? s.channelMin : s.channelMin.map { _ in s.channelMin.min()! }
        let maxs = perChannel ? s.channelMax : s.channelMax.map { _ in s.channelMax.max()! }
        return zip(mins, maxs).map { mn, mx in
            let lo = Double(min(mn, 0)) * hr, hi = Double(max(mx, 0)) * hr
            let scale = max((hi - lo) / Double(actMax - actMin), 1e-9)
            let zp = Int32(clamp(Int64((Double(actMin) - lo / scale).rounded()), actMin, actMax))
            return Exporter.QParams(scale: scale, zeroPoint: zp)
        }
    }

    /// int8 per-channel codes of a block output whose int16 params are `y`: per channel (n, m,
    /// packed 1/n), the step n times the int16 one (so a code maps back to int16 exactly:
    /// zOutput + n (m + E(code)), `Companding`), m the channel's centre in steps, n the
    /// smallest whose fine steps (within the knee) span the channel's calibrated range widened
    /// by `outputHeadroom8` about its centre.
    func outputCodes(_ p: ActivationPoint, _ y: Exporter.QParams) throws -> [Int32] {
        guard let s = stats.point(p), !s.channelMin.isEmpty else { throw ExportError("no per-channel statistics for \(p)") }
        let cmp = Companding(knee: options.compandKnee, shift: options.compandShift)
        var out: [Int32] = []
        for (mn, mx) in zip(s.channelMin, s.channelMax) {
            let half = Double(mx - mn) / 2 * options.outputHeadroom8, mid = Double(mx + mn) / 2
            var n = clamp(Int64((half / (Double(max(cmp.knee, 1)) * y.scale)).rounded(.up)), 1, 256)
            var m = Int64((mid / (y.scale * Double(n))).rounded())
            // The engine takes n (|m| + max E) < 2^16 (16-bit shortcut offsets): a smaller step ratio (less reach) if needed.
            while n > 1 && n * (abs(m) + Int64(cmp.maxSteps)) >= 65536 {
                n -= 1
                m = Int64((mid / (y.scale * Double(n))).rounded())
            }
            guard n * (abs(m) + Int64(cmp.maxSteps)) < 65536 else { throw ExportError("\(p): int8 output range does not fit 16 bits") }
            out += [Int32(n), Int32(m), try Self.multiplier(1 / Double(n))]
        }
        return out
    }

    /// Per-channel int16 params of a block output (`outputChannels`): each channel's calibrated
    /// range, each side at least half the other (a channel that calibration saw on one side of
    /// zero must still reach the other: clipped there, the first cut lost to one scale per tensor
    /// on medium, 0.53% against 0.027%; both sides equal cost the pretrained small 0.300% against
    /// 0.292%), widened by `channelHeadroom`; its step no finer than 1/256 of the per-tensor one
    /// `y` (a channel that calibration never moves would otherwise get multipliers out of range).
    func outputChannelParams(_ p: ActivationPoint, _ y: Exporter.QParams) throws -> [Exporter.QParams] {
        guard let s = stats.point(p), !s.channelMin.isEmpty else { throw ExportError("no per-channel statistics for \(p)") }
        let h = options.channelHeadroom
        return zip(s.channelMin, s.channelMax).map { mn, mx in
            let lo0 = min(Double(mn), 0), hi0 = max(Double(mx), 0)
            let lo = min(lo0, -0.5 * hi0) * h, hi = max(hi0, -0.5 * lo0) * h
            let scale = max((hi - lo) / 65535, y.scale / 256)
            return Exporter.QParams(scale: scale, zeroPoint: Int32(clamp(Int64((-32768 - lo / scale).rounded()), -32768, 32767)))
        }
    }

    /// The packed multiplier (see `packRequant`): real = mult * 2^-(23 + shift).
    static func multiplier(_ m: Double) throws -> Int32 {
        guard m > 0, m.isFinite else { return packRequant(mult: 0, shift: 0) }
        let (f, e0) = frexp(m)          // m = f * 2^e, f in [0.5, 1)
        var e = e0
        var q = Int64((f * 8388608.0).rounded())
        if q == 1 << 23 { q = 1 << 22; e += 1 }
        if e < -39 { return packRequant(mult: 0, shift: 0) }     // below one code for any accumulator
        guard e <= 22 else { throw ExportError("requantisation multiplier \(m) is too large: calibration ranges are degenerate") }
        return packRequant(mult: Int32(q), shift: Int32(-e))
    }

    /// The real input range [-R, R] of every table.
    static let tableRange = 12.0

    /// The int16 params of the points on either side of the shared Swish table, one grid (nil
    /// for the others): step R / `half`, zero point 0 (so +-8 R). Its inputs: the convolutions'
    /// pre-activations, and the int16 block outputs that feed the next block's Swish (all but
    /// the last, whose mean is the embedding; calibration's widest here, x4, is +-99). Its
    /// values: the Swish values before the per-channel codes, and the stem's output. (Values on
    /// half the step from Swish's minimum up measured the same, 4.586% / 8.832%, but their zero
    /// point costs the device an add an element.)
    func sharedTableParams(_ p: ActivationPoint, half: Int) -> Exporter.QParams? {
        let grid = Exporter.QParams(scale: Self.tableRange / Double(half), zeroPoint: 0)
        switch p.kind {
        case .mid1, .mid2, .act2, .act3: return grid
        case .output: return p.block == -1 || outputOnGrid(p.block) ? grid : nil
        case .act1: return outputOnGrid(p.block - 1) ? grid : nil
        default: return nil
        }
    }

    /// Whether block `b`'s output codes are the shared table's input grid (int16 outputs, not the last block's).
    func outputOnGrid(_ b: Int) -> Bool {
        options.sharedTable != nil && b >= min(int8Outputs, config.blocks.count - 1) && b < config.blocks.count - 1
    }

    /// An int16 -> int16 table of `f` between two int16 quantisations: knots over the input
    /// codes whose real value lies in [-R, R] (R = 12: beyond it Swish is 0 or the identity and
    /// sigmoid 0 or 1 to below half a code), `options.tableKnots` of them.
    func table(_ input: Exporter.QParams, _ output: Exporter.QParams, linearAbove: Bool, direct: Bool = false,
               _ f: (Double) -> Double) throws -> (knots: [Int16], domain: [Int32]) {
        let r = Self.tableRange
        let lo = max(-32768, Int64((Double(input.zeroPoint) - r / input.scale).rounded(.down)))
        let hi = min(32767, Int64((Double(input.zeroPoint) + r / input.scale).rounded(.up)))
        // A direct table: one knot per code (shift 0), the pre-activation's step chosen for it.
        let segments = direct && options.sharedTable != nil ? hi - lo + 1 : Int64(options.tableKnots - 1)
        var shift: Int64 = 0
        while (hi - lo + 1) > segments << shift { shift += 1 }
        // Knot values in output codes, fitted by least squares to f at every input code the table
        // interpolates (not f at the knots): interpolating f's knots would be off by the same sign
        // wherever f is convex, a mean shift that sums coherently through the next convolution.
        let values = Self.fitKnots(count: Int(segments) + 1, shift: Int(shift)) { i in
            f(input.scale * Double(lo + i - Int64(input.zeroPoint))) / output.scale + Double(output.zeroPoint)
        }
        let knots: [Int16] = values.map { Int16(clamp(Int64($0.rounded()), -32768, 32767)) }
        let m = linearAbove ? try Self.multiplier(input.scale / output.scale) : packRequant(mult: 0, shift: 0)
        return (knots, [Int32(lo), Int32(shift), linearAbove ? 1 : 0, m, input.zeroPoint])
    }

    /// Knot values of a table interpolated linearly between knots `2^shift` input codes apart
    /// (as `LookupTable` does), least-squares fitted to `target(code offset)` over every code from
    /// the first knot to the last. A tridiagonal system (hat functions), solved by the Thomas
    /// algorithm; with shift 0 the knots are the targets.
    static func fitKnots(count n: Int, shift: Int, target: (Int64) -> Double) -> [Double] {
        let segLen = Int64(1) << shift
        guard shift > 0, n >= 2 else { return (0..<n).map { target(Int64($0) << shift) } }
        var diag = [Double](repeating: 0, count: n), off = diag, rhs = diag
        for j in 0..<(n - 1) {
            for k in 0..<segLen {
                let t = Double(k) / Double(segLen), y = target(Int64(j) << shift + k)
                diag[j] += (1 - t) * (1 - t); diag[j + 1] += t * t; off[j] += t * (1 - t)
                rhs[j] += (1 - t) * y; rhs[j + 1] += t * y
            }
        }
        diag[n - 1] += 1; rhs[n - 1] += target(Int64(n - 1) << shift)   // the last knot itself
        var c = [Double](repeating: 0, count: n), d = rhs
        c[0] = off[0] / diag[0]; d[0] = rhs[0] / diag[0]
        for j in 1..<n {
            let den = diag[j] - off[j - 1] * c[j - 1]
            c[j] = off[j] / den
            d[j] = (rhs[j] - off[j - 1] * d[j - 1]) / den
        }
        var x = d
        for j in stride(from: n - 2, through: 0, by: -1) { x[j] = d[j] - c[j] * x[j + 1] }
        return x
    }

    /// A Swish step: table (input -> per-tensor int16 `mid`), then per-channel requantisation to
    /// `channels` (written as `<name>_requant` [C][zero point, multiplier]).
    func addStep(_ w: inout BlobWriter, _ name: String, input: Exporter.QParams, table out: Exporter.QParams,
                 channels: [Exporter.QParams]?, linearAbove: Bool = true, direct: Bool = false, _ f: (Double) -> Double) throws {
        let (knots, domain) = try table(input, out, linearAbove: linearAbove, direct: direct, f)
        w.add(name, int16: knots, shape: [knots.count])
        w.add(name + "_domain", int32: domain, shape: [5])
        if let channels {
            var rq = [Int32]()
            for c in channels { rq += [c.zeroPoint, try Self.multiplier(out.scale / c.scale)] }
            // One pair when every channel has the same (q16's per-tensor codes; format version 4;
            // 16-bit codes only, `ChannelRequant`).
            let shared = actBits == 16 && (0..<channels.count).allSatisfy { rq[2 * $0] == rq[0] && rq[2 * $0 + 1] == rq[1] }
            w.add(name + "_requant", int32: shared ? Array(rq.prefix(2)) : rq, shape: [shared ? 1 : channels.count, 2])
        }
    }

    /// Int8 (or int16, or 4-bit) weights per output channel with the per-input-channel input scales folded
    /// in, int32 biases with the input zero points folded in, and requantisation to `output`.
    /// With `inputMean` (the calibration mean of each input channel), the bias is corrected for
    /// the mean shift that weight rounding causes (bias correction).
    func addLayer(_ w: inout BlobWriter, _ prefix: String, weightName: String, biasName: String, outCount: Int,
                  inputs: [Exporter.QParams], output: Exporter.QParams, inputMean: [Double]? = nil,
                  weightBits: Int = 8) throws {
        guard let wf = weights[weightName], let bf = weights[biasName], bf.count == outCount else {
            throw ExportError("missing weights for \(prefix)")
        }
        let shape = layerShape(weightName, outCount: outCount, per: wf.count / outCount)
        let per = wf.count / outCount, taps = shape.count == 3 ? shape[2] : 1, inPerGroup = per / taps
        let groups = inputs.count / inPerGroup
        var q = [Int16](repeating: 0, count: wf.count)
        let wmax = Double((1 << (weightBits - 1)) - 1)
        var biasRequant = [Int32](repeating: 0, count: 2 * outCount)
        let moments = weightBits <= 8 ? sequential?.moments(for: weightName) : nil
        // With error feedback, each output channel's target is the least-squares fit of the float
        // output from the quantised inputs, (H + lambda I)^-1 (C w + lambda w), lambda 1% of H's
        // mean diagonal (pulls towards w where the inputs carry little energy).
        var target = wf.map(Double.init)
        if let moments {
            for g in 0..<groups {
                let h = moments.h[g], c = moments.cross[g]
                var a = h
                let lambda = 0.01 * (0..<per).reduce(0.0) { $0 + h[$1 * per + $1] } / Double(per)
                guard lambda > 0, lambda.isFinite else { continue }
                for i in 0..<per { a[i * per + i] += lambda }
                guard let l = LayerHessians.cholesky(a, per) else { continue }
                for o in (g * outCount / groups)..<((g + 1) * outCount / groups) {
                    var rhs = [Double](repeating: 0, count: per)
                    for i in 0..<per {
                        var sum = lambda * Double(wf[o * per + i])
                        for j in 0..<per { sum += c[i * per + j] * Double(wf[o * per + j]) }
                        rhs[i] = sum
                    }
                    let x = LayerHessians.choleskySolve(l, rhs, per)
                    for i in 0..<per { target[o * per + i] = x[i] }
                }
            }
        }
        // GPTQ: per group, the factor that spreads each rounding error over the weights after it.
        // Columns go in order of decreasing input energy ("act order"): the large ones are rounded
        // while many others can still absorb their error.
        let factors: [(order: [Int], u: [Double])?] = (0..<groups).map { g in
            guard weightBits <= 8, let hg = moments?.h[g] ?? hessians?.matrices[weightName].flatMap({ g < $0.count ? $0[g] : nil })
            else { return nil }
            let scales = (0..<per).map { inputs[g * inPerGroup + $0 / taps].scale }
            let order = (0..<per).sorted { hg[$0 * per + $0] / (scales[$0] * scales[$0]) > hg[$1 * per + $1] / (scales[$1] * scales[$1]) }
            var hp = [Double](repeating: 0, count: per * per)
            for a in 0..<per { for b in 0..<per { hp[a * per + b] = hg[order[a] * per + order[b]] } }
            guard let u = LayerHessians.inverseFactor(hp, scales: order.map { scales[$0] }) else { return nil }
            return (order, u)
        }
        var dequantised = [Float](repeating: 0, count: wf.count), realBias = [Float](repeating: 0, count: outCount)
        for o in 0..<outCount {
            let g = o / (outCount / groups)
            // w' = w * s_in[ci]
            var scaled = [Double](repeating: 0, count: per)
            for i in 0..<per { scaled[i] = target[o * per + i] * inputs[g * inPerGroup + i / taps].scale }
            let maxAbs = scaled.map { abs($0) }.max() ?? 0
            let sw = maxAbs > 0 ? maxAbs / wmax : 1
            var fold: Int64 = 0
            var shift = 0.0
            var work = scaled
            if let f = factors[g] {
                for (k, i) in f.order.enumerated() {
                    let v = clamp(Int64((work[i] / sw).rounded()), -Int64(wmax), Int64(wmax))
                    let err = (work[i] - Double(v) * sw) / f.u[k * per + k]
                    for l in (k + 1)..<per { work[f.order[l]] -= err * f.u[k * per + l] }
                }
            }
            for i in 0..<per {
                let v = Int16(clamp(Int64((work[i] / sw).rounded()), -Int64(wmax), Int64(wmax)))
                q[o * per + i] = v
                let sIn = inputs[g * inPerGroup + i / taps].scale
                fold += Int64(v) * Int64(inputs[g * inPerGroup + i / taps].zeroPoint)
                dequantised[o * per + i] = Float(Double(v) * sw / sIn)
                if let moments, inputMean != nil {
                    // Mean output shift from the float path: w . mean_f - q . mean_q.
                    let ch = g * inPerGroup + i / taps
                    shift += Double(v) * sw / sIn * moments.meanQuantised[ch] - Double(wf[o * per + i]) * moments.meanFloat[ch]
                } else if let inputMean {
                    // Real weight error times the channel's mean input.
                    let err = (Double(v) * sw - scaled[i]) / sIn
                    shift += err * inputMean[g * inPerGroup + i / taps]
                }
            }
            let b = ((Double(bf[o]) - shift) / sw).rounded() - Double(fold)
            biasRequant[2 * o] = Int32(clamp(Int64(max(-9.0e18, min(9.0e18, b))), Int64(Int32.min), Int64(Int32.max)))
            biasRequant[2 * o + 1] = try Self.multiplier(sw / output.scale)
            realBias[o] = Float((Double(biasRequant[2 * o]) + Double(fold)) * sw)
        }
        sequential?.commit(weightName, dequantised)
        sequential?.commit(biasName, realBias)
        if weightBits == 4 { w.add(prefix + ".weight", int4: q.map { Int8($0) }, shape: shape) }
        else if weightBits == 8 { w.add(prefix + ".weight", int8: q.map { Int8($0) }, shape: shape) }
        else { w.add(prefix + ".weight", int16: q, shape: shape) }
        w.add(prefix + ".bias_requant", int32: biasRequant, shape: [outCount, 2])
    }

    func layerShape(_ weightName: String, outCount: Int, per: Int) -> [Int] {
        for s in config.parameterSpecs where s.name == weightName { return s.shape }
        return [outCount, per]
    }

    func write(into w: inout BlobWriter) throws {
        let input = Exporter.QParams(scale: Self.inputScale, zeroPoint: 0)
        w.add("input.scale", floats: [Float(input.scale)], shape: [1])
        let gateQ = Exporter.QParams(scale: 1.0 / 32767, zeroPoint: 0)
        // Stem.
        let stemPre = try params(ActivationPoint(block: -1, kind: .mid1))
        var x = try params(ActivationPoint(block: -1, kind: .output))
        try addLayer(&w, "first_conv", weightName: "first_conv.conv.weight", biasName: "first_conv.conv.bias",
                     outCount: config.baseFilters, inputs: Array(repeating: input, count: config.inChannels), output: stemPre,
                     weightBits: 16)
        w.add("stem.qparams", int32: [stemPre.zeroPoint, x.zeroPoint], shape: [2])
        try addStep(&w, "stem.swish", input: stemPre, table: x, channels: nil, direct: true, swish)
        var xChannels: [Exporter.QParams]? = nil    // the previous block's per-channel outputs
        for (bi, spec) in config.blocks.enumerated() {
            let n = spec.name
            func p(_ k: ActivationKind) throws -> Exporter.QParams { try params(ActivationPoint(block: bi, kind: k)) }
            func pc(_ k: ActivationKind) throws -> [Exporter.QParams] { try channelParams(ActivationPoint(block: bi, kind: k)) }
            func mean(_ b: Int, _ k: ActivationKind) -> [Double]? {
                options.biasCorrection ? stats.point(ActivationPoint(block: b, kind: k))?.channelMean : nil
            }
            let sw1 = spec.activateInput ? try p(.act1) : x
            let a1 = spec.activateInput ? try pc(.act1) : Array(repeating: x, count: spec.inChannels)
            let m1 = try p(.mid1), sw2 = try p(.act2), a2 = try pc(.act2)
            let m2 = try p(.mid2), sw3 = try p(.act3), a3 = try pc(.act3)
            let o = try p(.conv3)
            let meanQ = try symmetric(ActivationPoint(block: bi, kind: .seMean))
            let h = try p(.seHidden), ha = try p(.seHiddenAct), g = try p(.seGate), y = try p(.output)
            if spec.activateInput { try addStep(&w, n + ".swish1", input: x, table: sw1, channels: a1, direct: outputOnGrid(bi - 1), swish) }
            try addLayer(&w, n + ".conv1", weightName: n + ".conv1.conv.weight", biasName: n + ".conv1.conv.bias",
                         outCount: spec.middleChannels, inputs: a1, output: m1,
                         inputMean: spec.activateInput ? mean(bi, .act1) : mean(bi - 1, .output))
            try addStep(&w, n + ".swish2", input: m1, table: sw2, channels: a2, direct: true, swish)
            try addLayer(&w, n + ".conv2", weightName: n + ".conv2.conv.weight", biasName: n + ".conv2.conv.bias",
                         outCount: spec.middleChannels, inputs: a2, output: m2, inputMean: mean(bi, .act2))
            try addStep(&w, n + ".swish3", input: m2, table: sw3, channels: a3, direct: true, swish)
            try addLayer(&w, n + ".conv3", weightName: n + ".conv3.conv.weight", biasName: n + ".conv3.conv.bias",
                         outCount: spec.outChannels, inputs: a3, output: o, inputMean: mean(bi, .act3))
            let seBits = seInt4Stages.contains(spec.stage) ? 4 : 8
            try addLayer(&w, n + ".se_fc1", weightName: n + ".se_fc1.weight", biasName: n + ".se_fc1.bias",
                         outCount: spec.outChannels / 2, inputs: Array(repeating: meanQ, count: spec.outChannels), output: h,
                         inputMean: mean(bi, .seMean), weightBits: seBits)
            try addStep(&w, n + ".swish_se", input: h, table: ha, channels: nil, swish)
            // fc2 reads Swish(fc1) codes with their zero point already subtracted.
            let haCentered = Exporter.QParams(scale: ha.scale, zeroPoint: 0)
            try addLayer(&w, n + ".se_fc2", weightName: n + ".se_fc2.weight", biasName: n + ".se_fc2.bias",
                         outCount: spec.outChannels, inputs: Array(repeating: haCentered, count: spec.outChannels / 2), output: g,
                         inputMean: mean(bi, .seHiddenAct), weightBits: seBits)
            try addStep(&w, n + ".sigmoid_gate", input: g, table: gateQ, channels: nil, linearAbove: false) { 1 / (1 + exp(-$0)) }
            var qp = [Int32](repeating: 0, count: BlockParam.count)
            qp[BlockParam.zInput.rawValue] = x.zeroPoint
            qp[BlockParam.zSwish1.rawValue] = sw1.zeroPoint
            qp[BlockParam.zMid1.rawValue] = m1.zeroPoint
            qp[BlockParam.zSwish2.rawValue] = sw2.zeroPoint
            qp[BlockParam.zMid2.rawValue] = m2.zeroPoint
            qp[BlockParam.zSwish3.rawValue] = sw3.zeroPoint
            qp[BlockParam.zConv3.rawValue] = o.zeroPoint
            qp[BlockParam.zHidden.rawValue] = h.zeroPoint
            qp[BlockParam.zHiddenAct.rawValue] = ha.zeroPoint
            qp[BlockParam.zGate.rawValue] = g.zeroPoint
            qp[BlockParam.zOutput.rawValue] = y.zeroPoint
            qp[BlockParam.meanRequant.rawValue] = try Self.multiplier(o.scale / (256 * meanQ.scale))
            qp[BlockParam.gateRequant.rawValue] = try Self.multiplier(o.scale / (32767 * y.scale))
            qp[BlockParam.idRequant.rawValue] = try Self.multiplier(x.scale / y.scale)
            w.add(n + ".qparams", int32: qp, shape: [BlockParam.count])
            var channels: [Exporter.QParams]? = nil
            if bi < min(int8Outputs, config.blocks.count - 1) {
                w.add(n + ".output_codes", int32: try outputCodes(ActivationPoint(block: bi, kind: .output), y), shape: [spec.outChannels, 3])
            } else if options.precision == .q16 && options.channelOutputs16 && (bi < config.blocks.count - 1 || xChannels != nil) {
                // Per channel: zero point, gate and shortcut multipliers into the channel's
                // scale, and the channel's scale on y's grid (the next block's Swish table). The
                // last block keeps y's one scale (the final mean reads it) and takes only the
                // shortcut multipliers of its per-channel inputs.
                let yc = bi < config.blocks.count - 1 ? try outputChannelParams(ActivationPoint(block: bi, kind: .output), y)
                    : Array(repeating: y, count: spec.outChannels)
                var oc: [Int32] = []
                let offset = (spec.outChannels - spec.inChannels) / 2
                for c in 0..<spec.outChannels {
                    let ci = c - offset
                    let sIn = ci >= 0 && ci < spec.inChannels ? (xChannels.map { $0[ci].scale } ?? x.scale) : x.scale
                    oc += [yc[c].zeroPoint, try Self.multiplier(o.scale / (32767 * yc[c].scale)),
                           try Self.multiplier(sIn / yc[c].scale), try Self.multiplier(yc[c].scale / y.scale)]
                }
                w.add(n + ".output_channels", int32: oc, shape: [spec.outChannels, 4])
                channels = yc
            }
            x = y
            xChannels = channels
        }
        if min(int8Outputs, config.blocks.count - 1) > 0 {
            w.add("output.compand", int32: [options.compandKnee, options.compandShift], shape: [2])
        }
        w.add("output.scale", floats: [Float(x.scale / 256)], shape: [1])
    }
}

@inline(__always) func swish(_ v: Double) -> Double { v / (1 + exp(-v)) }
