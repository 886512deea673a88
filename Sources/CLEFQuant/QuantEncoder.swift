import CLEFArch
import CLEFKernels
import CLEFBlob
import CLEFDSP

/// The integer-only Net1D encoder running in place from a q8 or q16 blob.
///
/// Precision plan (chosen by measurement, see docs/quantization.md): every convolution reads
/// `Act` codes (Int8 in q8, Int16 in q16) with a scale and zero point per input channel, folded
/// into the int8 per-output-channel weights and the biases; convolution outputs are requantised
/// to int16 pre-activations; Swish runs on int16 through an interpolated table, then each channel
/// is requantised to `Act`. The residual stream, conv3 outputs and the squeeze-excitation vectors
/// stay int16. No floating point and no allocation in `forward`. Embedded-Swift-clean.
public enum BlockParam: Int {
    /// Zero points: block input (residual), Swish(input), conv1, Swish(conv1), conv2,
    /// Swish(conv2), conv3, SE fc1, Swish(fc1), SE fc2, block output.
    case zInput = 0, zSwish1, zMid1, zSwish2, zMid2, zSwish3, zConv3, zHidden, zHiddenAct, zGate, zOutput
    /// Packed multipliers: SE mean (Q8 sum -> mean code), gate product, shortcut.
    case meanRequant, gateRequant, idRequant
    public static let count = 14
}

/// Per channel: the zero point of the channel's `Act` code and the packed multiplier from the
/// table's scale. [channels][2], or for 16-bit codes one pair for every channel ([1][2], format
/// version 4: q16's per-tensor Swish codes, which would repeat it per channel). The accessors take
/// the code type: 8-bit codes are always per channel, so q8's output stages index with a constant
/// (a runtime stride there cost the Cortex-M4F q8 encoder 0.21 M instructions a window).
public struct ChannelRequant {
    let pairs: UnsafePointer<Int32>
    /// 2, or 0 when one pair serves every channel (16-bit codes only).
    let step: Int
    public init(_ pairs: UnsafePointer<Int32>, shared: Bool) {
        self.pairs = pairs
        step = shared ? 0 : 2
    }
    @inline(__always) func index<A: FixedWidthInteger>(_ c: Int, _: A.Type) -> Int { (A.bitWidth == 8 ? 2 : step) &* c }
    @inline(__always) public func zero<A: FixedWidthInteger>(_ c: Int, for a: A.Type) -> Int32 { pairs[index(c, a)] }
    @inline(__always) public func multiplier<A: FixedWidthInteger>(_ c: Int, for a: A.Type) -> Int32 { pairs[index(c, a) &+ 1] }
}

/// A Swish table (int16 -> int16) followed by a per-channel requantisation to `Act`.
public struct ActivationStep {
    public let table: LookupTable
    public let channelRequant: ChannelRequant?

    public init(table: LookupTable, channelRequant: ChannelRequant?) {
        self.table = table
        self.channelRequant = channelRequant
    }
}

public struct QuantBlock {
    public let spec: BlockSpec
    public let conv1: QuantConv<Int8>
    public let conv2: QuantConv<Int8>
    public let conv3: QuantConv<Int8>
    public let fc1: QuantLinear
    public let fc2: QuantLinear
    public let params: UnsafePointer<Int32>
    /// nil for the very first block, whose conv1 reads the int16 stem output directly.
    public let act1: ActivationStep?
    public let act2: ActivationStep
    public let act3: ActivationStep
    public let swishSE: ActivationStep
    /// sigmoid as Q15 (0...32767).
    public let gate: ActivationStep
    /// int8 per-channel outputs (q8's longest block tensors, to halve the firmware's arena;
    /// docs/firmware.md, Memory): [outChannels][3] = (n, m, packed 1/n), channel c's int16 code
    /// being zOutput + n * (m + E(code)) (`Companding`). nil: int16 outputs.
    public let outputCodes: UnsafePointer<Int32>?
    /// The previous block's `outputCodes` when this block reads int8 inputs.
    public let inputCodes: UnsafePointer<Int32>?
    public let compand: Companding
    /// q16's int16 outputs with a scale per channel (its residual stream: one int16 step for every
    /// channel cost it 0.013 points of held-out error, docs/quantization.md): [outChannels][4] =
    /// (zero point, packed gate multiplier, packed shortcut multiplier, packed multiplier to the
    /// per-tensor grid of `zOutput`, which the next block's Swish table reads). nil: the one
    /// scale of `zOutput` and the block's multipliers. Never with int8 inputs or outputs
    /// (`inputCodes`, `outputCodes`); the last block keeps one scale (format version 3).
    public let outputChannels: UnsafePointer<Int32>?
    /// The previous block's `outputChannels`.
    public let inputChannels: UnsafePointer<Int32>?
    /// q8 blocks with int8 inputs: the Swish of every input code as the conv1 input's int8 code,
    /// [inChannels][256] (code v of channel c at c * 256 + 128 + v; blob `<block>.swish1_lut`,
    /// which the exporter precomputes with `QuantEncoder.inputSwish` and the loader checks entry
    /// by entry). A code then costs one load where the offsets pass and the interpolated table
    /// took about 25 instructions on a Cortex-M4F. nil: computed.
    public let inputLUT: UnsafePointer<Int8>?

    @inline(__always) func p(_ k: BlockParam) -> Int32 { params[k.rawValue] }
}

public struct QuantEncoder<Act: QuantActivation> {
    public let config: Net1DConfig
    public let stem: QuantConv<Int16>
    /// `stem.int32InputBound()`: windows within it run the stem in int32.
    public let stemInt32Inputs: Int64
    /// Zero point of the stem conv output (int16).
    public let stemZero: Int32
    public let stemSwish: ActivationStep
    public let blocks: [QuantBlock]
    /// How many leading blocks write int8 per-channel outputs (`QuantBlock.outputCodes`).
    public let int8Outputs: Int
    /// Real value of one unit of the int16 input (inputs are symmetric, zero point 0).
    public let inputScale: Float
    /// Real value of one unit of the int32 embedding codes.
    public let outputScale: Float

    public init(blob: BlobReader) throws(BlobError) {
        self = try Self(decoding: blob)
        try Self.checkInputLUTs(blocks)
    }

    /// The blob's tensors decoded and validated, but for `inputLUT`'s entries. (Out of line, the
    /// check after it: inside one initialiser the check kept `block` from being inlined, and the
    /// loader's stack peak grew by 512 B on RV32.)
    @inline(never)
    init(decoding blob: BlobReader) throws(BlobError) {
        let want: BlobPrecision = Act.bitWidth == 8 ? .q8 : .q16
        guard blob.precision == want else {
            throw BlobError("precision", "blob is \(blob.precision.name), this engine runs \(want.name)")
        }
        config = blob.config
        stem = try Self.conv(blob, "first_conv", ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                                                           kernel: config.kernelSize, stride: 2), Int16.self)
        // Symmetric int16 weights never use -32768; the kernels' exact pair sums rely on it.
        for i in 0..<(config.baseFilters * config.inChannels * config.kernelSize) where stem.weight[i] == Int16.min {
            throw BlobError("tensor 'first_conv.weight'", "weight \(i) is -32768, outside the symmetric int16 range")
        }
        stemInt32Inputs = stem.int32InputBound()
        let sq = blob.pointer(try blob.require("stem.qparams", .i32, [2]), as: Int32.self)
        stemZero = sq[0]
        stemSwish = try Self.step(blob, "stem.swish", channels: nil, outputZero: sq[1])
        var compand = Companding(knee: 127, shift: 0)
        if blob.tensor("output.compand") != nil {
            let p = blob.pointer(try blob.require("output.compand", .i32, [2]), as: Int32.self)
            guard Companding.isValid(knee: p[0], shift: p[1]) else {
                throw BlobError("tensor 'output.compand'", "knee \(p[0]) / shift \(p[1]) outside 0...127 / 0...4")
            }
            compand = Companding(knee: p[0], shift: p[1])
        }
        let specs = config.blocks
        var list: [QuantBlock] = []
        list.reserveCapacity(specs.count)   // (grown by doubling it took 6.6 KB, with holes, on a device)
        var int8Count = 0, previousCodes: UnsafePointer<Int32>? = nil, previousChannels: UnsafePointer<Int32>? = nil
        for (bi, spec) in specs.enumerated() {
            list.append(try Self.block(blob, spec, first: bi == 0, last: bi + 1 == specs.count, compand: compand,
                                       previousCodes: previousCodes, previousChannels: previousChannels, int8Count: &int8Count))
            previousCodes = list[bi].outputCodes
            previousChannels = list[bi].outputChannels
        }
        blocks = list
        int8Outputs = int8Count
        inputScale = blob.pointer(try blob.require("input.scale", .f32, [1]), as: Float.self).pointee
        outputScale = blob.pointer(try blob.require("output.scale", .f32, [1]), as: Float.self).pointee
        guard inputScale > 0, outputScale > 0 else { throw BlobError("input/output scale", "must be positive") }
    }

    /// One block's tensors, validated.
    @inline(__always)
    static func block(_ blob: BlobReader, _ spec: BlockSpec, first: Bool, last: Bool, compand: Companding,
                      previousCodes: UnsafePointer<Int32>?, previousChannels: UnsafePointer<Int32>?,
                      int8Count: inout Int) throws(BlobError) -> QuantBlock {
        let n = spec.name, c = spec.outChannels, m = spec.middleChannels
        var codes: UnsafePointer<Int32>?
        if blob.tensor(n + ".output_codes") != nil {
            guard blob.version >= 2 else { throw BlobError("tensor '\(n).output_codes'", "needs format version 2, the file says \(blob.version)") }
            guard first || previousCodes != nil, !last else {
                throw BlobError("tensor '\(n).output_codes'", "int8 outputs must be the leading blocks, and not the last")
            }
            guard blob.tensor("output.compand") != nil else { throw BlobError("tensor 'output.compand'", "missing (int8 outputs need it)") }
            let p = blob.pointer(try blob.require(n + ".output_codes", .i32, [c, 3]), as: Int32.self)
            // |n (m + E(code))| < 2^16: the shortcut's requantisation takes 16-bit offsets.
            for ch in 0..<c where p[3 * ch] < 1 || p[3 * ch] > 256 || p[3 * ch + 1] < -32767 || p[3 * ch + 1] > 32767
                || Int64(p[3 * ch]) * (Int64(p[3 * ch + 1].magnitude) + Int64(compand.maxSteps)) >= 65536 || !requantIsValid(p[3 * ch + 2]) {
                throw BlobError("tensor '\(n).output_codes'", "channel \(ch): needs a step ratio in 1...256, a centre and range within 16 bits and a valid multiplier")
            }
            codes = p
            int8Count += 1
        }
        var channels: UnsafePointer<Int32>?
        if blob.tensor(n + ".output_channels") != nil {
            let name = "tensor '\(n).output_channels'"
            guard blob.version >= 3 else { throw BlobError(name, "needs format version 3, the file says \(blob.version)") }
            guard Act.bitWidth == 16 else { throw BlobError(name, "per-channel int16 outputs are q16's (q8 keeps one scale per output)") }
            guard codes == nil, previousCodes == nil else { throw BlobError(name, "per-channel int16 outputs cannot go with int8 inputs or outputs") }
            let p = blob.pointer(try blob.require(n + ".output_channels", .i32, [c, 4]), as: Int32.self)
            // (The last multiplier maps 16-bit code offsets, so a valid one always has the fast form.)
            for ch in 0..<c where p[4 * ch] < -32768 || p[4 * ch] > 32767 || !requantIsValid(p[4 * ch + 1])
                || !requantIsValid(p[4 * ch + 2]) || !requantIsValid(p[4 * ch + 3]) || Requant32(p[4 * ch + 3], inputBits: 16).general {
                throw BlobError(name, "channel \(ch): needs an int16 zero point and valid multipliers")
            }
            channels = p
        } else if previousChannels != nil {
            throw BlobError("tensor '\(n).output_channels'", "missing: the block reads per-channel inputs and needs their shortcut multipliers")
        }
        let qp = blob.pointer(try blob.require(n + ".qparams", .i32, [BlockParam.count]), as: Int32.self)
        func z(_ k: BlockParam) -> Int32 { qp[k.rawValue] }
        // The final mean reads the last block's output with one scale: there the tensor only
        // brings the shortcut multipliers of per-channel inputs.
        if last, let p = channels {
            for ch in 0..<c where p[4 * ch] != z(.zOutput) || p[4 * ch + 1] != z(.gateRequant) {
                throw BlobError("tensor '\(n).output_channels'", "channel \(ch): the last block's outputs must keep the block's zero point and gate multiplier")
            }
        }
        let b = QuantBlock(
            spec: spec,
            conv1: try conv(blob, n + ".conv1", ConvShape(inChannels: spec.inChannels, outChannels: m, groups: 1, kernel: 1, stride: 1), Int8.self),
            conv2: try conv(blob, n + ".conv2", ConvShape(inChannels: m, outChannels: m, groups: spec.groups, kernel: spec.kernelSize, stride: spec.stride), Int8.self),
            conv3: try conv(blob, n + ".conv3", ConvShape(inChannels: m, outChannels: c, groups: 1, kernel: 1, stride: 1), Int8.self),
            fc1: try linear(blob, n + ".se_fc1", c / 2, c), fc2: try linear(blob, n + ".se_fc2", c, c / 2),
            params: qp,
            act1: spec.activateInput ? try step(blob, n + ".swish1", channels: spec.inChannels, outputZero: z(.zSwish1)) : nil,
            act2: try step(blob, n + ".swish2", channels: m, outputZero: z(.zSwish2)),
            act3: try step(blob, n + ".swish3", channels: m, outputZero: z(.zSwish3)),
            swishSE: try step(blob, n + ".swish_se", channels: nil, outputZero: z(.zHiddenAct)),
            gate: try step(blob, n + ".sigmoid_gate", channels: nil, outputZero: 0),
            outputCodes: codes, inputCodes: previousCodes, compand: compand,
            outputChannels: channels, inputChannels: previousChannels,
            inputLUT: try inputLUT(blob, n, channels: spec.inChannels, int8Inputs: previousCodes != nil && spec.activateInput))
        for k in [BlockParam.meanRequant, .gateRequant, .idRequant] where !requantIsValid(b.p(k)) {
            throw BlobError("tensor '\(n).qparams'", "multiplier \(k.rawValue) is out of range")
        }
        // Zero points are codes of int16 tensors (the kernels rely on it for 32-bit products).
        for k in 0..<BlockParam.meanRequant.rawValue where qp[k] < -32768 || qp[k] > 32767 {
            throw BlobError("tensor '\(n).qparams'", "zero point \(k) is outside the int16 range")
        }
        return b
    }

    /// A block's `inputLUT` from the blob (its entries are checked by `checkInputLUTs`).
    static func inputLUT(_ blob: BlobReader, _ n: String, channels: Int, int8Inputs: Bool) throws(BlobError) -> UnsafePointer<Int8>? {
        let name = n + ".swish1_lut"
        guard let found = blob.tensor(name) else { return nil }
        guard Act.bitWidth == 8, int8Inputs else { throw BlobError("tensor '\(name)'", "input tables are for q8 blocks with int8 inputs") }
        return blob.pointer(try blob.require(found, named: name, .i8, [channels, 256]), as: Int8.self)
    }

    /// Every entry of every `inputLUT` against `inputSwish`: a table only stands in for the
    /// block's own arithmetic, so a wrong entry is refused, never used.
    @inline(never)
    static func checkInputLUTs(_ blocks: [QuantBlock]) throws(BlobError) {
        for b in blocks {
            guard let lut = b.inputLUT else { continue }
            for c in 0..<b.spec.inChannels {
                for v in -128...127 {
                    let want = inputSwish(b, channel: c, code: Int32(v)), got = Int32(lut[c * 256 + 128 + v])
                    guard got == want else {
                        throw BlobError("tensor '\(b.spec.name).swish1_lut'", "channel \(c), code \(v): \(got), where the block's Swish gives \(want)")
                    }
                }
            }
        }
    }

    /// The Swish of a block's int8 input code `v` on channel `c` as its `Act` code: the plain
    /// form of `swishInputs` (int16 code zInput + n (m + E(v)), the table, the channel's
    /// requantisation), which `inputLUT` tables hold for every code.
    public static func inputSwish(_ b: QuantBlock, channel c: Int, code v: Int32) -> Int32 {
        let a1 = b.act1!, rq = a1.channelRequant!, ic = b.inputCodes!
        let lo = Int32(Act.min), hi = Int32(Act.max), zs = b.p(.zSwish1)
        let z = rq.zero(c, for: Act.self), mult = Requant32(rq.multiplier(c, for: Act.self), inputBits: 16)
        let t = a1.table(b.p(.zInput) &+ (ic[3 * c + 1] &+ b.compand.expand(v)) &* ic[3 * c]) &- zs
        if let term = mult.adding(z) { return clamp32(mult.fast(t, adding: term), lo, hi) }
        return clamp32(z &+ (mult.general ? mult(t) : mult.fast(t)), lo, hi)
    }

    /// [n][2] (bias or zero point, packed multiplier) pairs, every multiplier checked.
    static func pairs(_ blob: BlobReader, _ name: String, _ n: Int) throws(BlobError) -> UnsafePointer<Int32> {
        try pairs(blob, blob.tensor(name), named: name, n)
    }

    /// `pairs` of a tensor already looked up.
    static func pairs(_ blob: BlobReader, _ found: BlobTensor?, named name: String, _ n: Int) throws(BlobError) -> UnsafePointer<Int32> {
        let p = blob.pointer(try blob.require(found, named: name, .i32, [n, 2]), as: Int32.self)
        for i in 0..<n where !requantIsValid(p[2 * i + 1]) {
            throw BlobError("tensor '\(name)'", "requantisation multiplier \(i) is out of range")
        }
        return p
    }

    static func conv<W: FixedWidthInteger & SignedInteger>(_ blob: BlobReader, _ p: String, _ shape: ConvShape, _: W.Type) throws(BlobError) -> QuantConv<W> {
        let w = try blob.require(p + ".weight", W.bitWidth == 8 ? .i8 : .i16, [shape.outChannels, shape.inPerGroup, shape.kernel])
        return QuantConv(shape: shape, weight: blob.pointer(w, as: W.self),
                         biasRequant: try pairs(blob, p + ".bias_requant", shape.outChannels))
    }

    static func linear(_ blob: BlobReader, _ p: String, _ outCount: Int, _ inCount: Int) throws(BlobError) -> QuantLinear {
        // int8, or 4-bit rows (format version 4; small q8 and q16 export their last stages so).
        let found = blob.tensor(p + ".weight"), packed4 = found?.dtype == .i4
        let w = try blob.require(found, named: p + ".weight", packed4 ? .i4 : .i8, [outCount, inCount])
        return QuantLinear(inCount: inCount, outCount: outCount, weight: blob.pointer(w, as: Int8.self), packed4: packed4,
                           biasRequant: try pairs(blob, p + ".bias_requant", outCount))
    }

    static func step(_ blob: BlobReader, _ name: String, channels: Int?, outputZero: Int32) throws(BlobError) -> ActivationStep {
        guard let t = blob.tensor(name) else { throw BlobError("tensor '\(name)'", "missing") }
        guard t.dtype == .i16, t.shape.count == 1 else { throw BlobError("tensor '\(name)'", "is not an int16 table") }
        let d = blob.pointer(try blob.require(name + "_domain", .i32, [5]), as: Int32.self)
        guard LookupTable.isValid(count: t.shape[0], domain: d) else {
            throw BlobError("tensor '\(name)_domain'", "describes no valid table")
        }
        var rq: ChannelRequant?
        if let channels {
            // One pair for every channel (version 4), or one per channel.
            let found = blob.tensor(name + "_requant"), shared = found?.shape == [1, 2] && channels != 1
            guard !shared || blob.version >= 4 else {
                throw BlobError("tensor '\(name)_requant'", "one pair for every channel needs format version 4, the file says \(blob.version)")
            }
            guard !shared || Act.bitWidth == 16 else {
                throw BlobError("tensor '\(name)_requant'", "one pair for every channel is for 16-bit codes (q16), not \(Act.bitWidth)-bit")
            }
            let p = try pairs(blob, found, named: name + "_requant", shared ? 1 : channels)
            for c in 0..<(shared ? 1 : channels) where p[2 * c] < Int32(Act.min) || p[2 * c] > Int32(Act.max) {
                throw BlobError("tensor '\(name)_requant'", "zero point \(c) is outside the \(Act.bitWidth)-bit range")
            }
            rq = ChannelRequant(p, shared: shared)
        }
        return ActivationStep(table: LookupTable(knots: blob.pointer(t, as: Int16.self), count: Int32(t.shape[0]), domain: d,
                                                 outputZero: outputZero), channelRequant: rq)
    }

    public var embeddingDim: Int { config.embeddingDim }

    /// Embeds one window of int16 codes [inChannels][length] (value = code * inputScale) into
    /// int32 codes [embeddingDim] (value = code * outputScale).
    ///
    /// Each block runs in two passes (`runBlock`): conv1 and conv2 over time slices
    /// (`QuantWorkspace.rowBudget`) into conv3's whole input, whose sums give the
    /// squeeze-excitation gate; then conv3 a chunk at a time with the gate and the shortcut,
    /// written over the block's input. Only the block tensors (int16, time-major, one buffer) and
    /// conv3's input exist whole. The stem is fused into block 0: its output (the longest tensor)
    /// is computed a chunk at a time for conv1 and max-pooled on the way for block 0's shortcut.
    /// Every slicing and chunking gives the same bits.
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    public func forward(_ input: UnsafePointer<Int16>, length: Int, workspace ws: QuantWorkspace<Act>,
                        output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        for c in 0..<config.inChannels {
            inputRow(c, length: length, workspace: ws).update(from: input + c * length, count: length)
        }
        forwardPrepared(length: length, workspace: ws, output: output)
    }

    /// Where the int16 codes of input channel `c` go for `forwardPrepared`: straight into the
    /// stem's zero-padded rows (no separate input copy).
    public func inputRow(_ c: Int, length: Int, workspace ws: QuantWorkspace<Act>) -> UnsafeMutablePointer<Int16> {
        let (row, left) = stemRowGeometry(length)
        return ws.stemRows + c * row + left
    }

    /// Row length and left padding of the stem's input rows for a window of `length` samples.
    @inline(__always)
    func stemRowGeometry(_ length: Int) -> (Int, Int) {
        let row = (stem.shape.outLength(length) - 1) * stem.shape.stride + stem.shape.kernel
        return (row, max(0, row - length) / 2)
    }

    /// `forward` on codes already written through `inputRow`.
    #if !hasFeature(Embedded)  // Embedded Swift emits no exported specialisations
    @_specialize(exported: true, where Act == Int8)
    @_specialize(exported: true, where Act == Int16)
    #endif
    public func forwardPrepared(length: Int, workspace ws: QuantWorkspace<Act>, output: UnsafeMutablePointer<Int32>) {
        precondition(length >= 1 && length <= ws.maxLength, "window length outside the workspace")
        precondition(ws.int8Outputs == int8Outputs, "workspace planned for another blob's int8 outputs")
        markLayer(0)
        // Zero padding around each input row (the stem's output is produced on demand by `stemColumns`).
        let sl = stem.shape.outLength(length)
        let (stemRow, stemLeft) = stemRowGeometry(length)
        for c in 0..<config.inChannels {
            let row = ws.stemRows + c * stemRow
            for v in 0..<stemLeft { row[v] = 0 }
            for v in (stemLeft + length)..<stemRow { row[v] = 0 }
        }
        let stemInput = StemInput(rows: UnsafePointer(ws.stemRows), rowLength: stemRow)
        _ = ws.io.bindMemory(to: Int16.self, capacity: ws.ioBytes / 2)   // after any float use
        // Every block tensor lives in one buffer, time-major; each block writes its output over
        // (or just before) its input as it consumes it (`QuantArenaPlan.outputShift`). Offsets
        // are in bytes: q8's first block tensors are int8.
        var x = ws.io + QuantArenaPlan.firstOffset(blockCount: blocks.count, stemLength: sl, int8Outputs: int8Outputs) { blocks[$0].spec }
        var len = sl
        for (bi, b) in blocks.enumerated() {
            markLayer(bi + 1)
            let lo2 = b.conv2.shape.outLength(len)
            let ei = QuantArenaPlan.elementBytes(bi - 1, int8Outputs: int8Outputs)
            let eo = QuantArenaPlan.elementBytes(bi, int8Outputs: int8Outputs)
            let y = bi == 0 ? x : x + QuantArenaPlan.outputShift(b.spec, inputLength: len, inBytes: ei, outBytes: eo)
            precondition(y >= ws.io && y + b.spec.outChannels * lo2 * eo <= ws.io + ws.ioBytes,
                         "block tensor outside the workspace")
            let si = bi == 0 ? stemInput : nil
            switch (b.inputCodes != nil, b.outputCodes != nil) {
            case (false, false):
                runBlock(b, input: x.assumingMemoryBound(to: Int16.self), stem: si, length: len, out: y.assumingMemoryBound(to: Int16.self), ws: ws)
            case (false, true):
                runBlock(b, input: x.assumingMemoryBound(to: Int16.self), stem: si, length: len, out: y.assumingMemoryBound(to: Int8.self), ws: ws)
            case (true, true):
                runBlock(b, input: x.assumingMemoryBound(to: Int8.self), stem: si, length: len, out: y.assumingMemoryBound(to: Int8.self), ws: ws)
            case (true, false):
                runBlock(b, input: x.assumingMemoryBound(to: Int8.self), stem: si, length: len, out: y.assumingMemoryBound(to: Int16.self), ws: ws)
            }
            len = lo2
            x = y
        }
        // Final mean over time, in Q8 of the last block's scale.
        markLayer(blocks.count + 1)
        let zy = Int64(blocks[blocks.count - 1].p(.zOutput)), d = config.embeddingDim
        let x16 = x.assumingMemoryBound(to: Int16.self)     // the last block's output is int16 (checked at load)
        for c in 0..<d {
            var s: Int64 = 0
            for t in 0..<len { s = s &+ (Int64(x16[t * d + c]) &- zy) }
            output[c] = Int32(truncatingIfNeeded: roundedDivide(s &* 256, Int64(len)))
        }
        markLayer(blocks.count + 2)
    }

    /// The stem's padded input rows.
    struct StemInput {
        let rows: UnsafePointer<Int16>
        let rowLength: Int
    }

    /// Stem outputs (after its Swish table) for steps i0 ..< i0 + n (n <= chunk), transposed:
    /// into[(i - i0) * baseFilters + c].
    @inline(__always)
    func stemColumns(_ si: StemInput, from i0: Int, count n: Int, into: UnsafeMutablePointer<Int16>) {
        stem.rows(si.rows + i0 * stem.shape.stride, rowLength: si.rowLength, count: n, t0: 0,
                  into: ConvOutput(into, channelStride: 1, timeStride: config.baseFilters, zero: stemZero, epilogue: stemSwish),
                  int32Inputs: stemInt32Inputs)
    }

    /// One block in two passes. Input x [length][inChannels] (time-major; `In` is Int8 where the
    /// previous block writes int8 codes); for block 0 (`stem` given) the input is the stem's
    /// output, computed on demand, and x is unused. Output y [outLength][outChannels], over x or
    /// just before it (`QuantArenaPlan.outputShift`).
    ///
    /// Pass 1 runs conv1 and conv2 over time slices: conv1's outputs go through Swish straight
    /// into zero-point-padded conv2 rows (the columns shared with the previous slice are carried
    /// over, nothing is computed twice), conv2's through Swish into conv3's whole input
    /// [outLength][middle]. The squeeze-excitation needs only that input's sums, since conv3 is
    /// linear. Pass 2 runs conv3 a chunk of steps at a time, applies the gate and the shortcut, and
    /// writes the chunk into y: so no int16 conv3 output exists whole, and every input step is
    /// read before a chunk overwrites it. Block 0's shortcut, the stem output's max-pool, is
    /// recomputed there from the stem's input rows (the stem runs twice, 1.3 M MACs, instead of
    /// a pooled copy taking the block buffer's room).
    func runBlock<In: QuantActivation, Out: QuantActivation>(
        _ b: QuantBlock, input x: UnsafeMutablePointer<In>, stem si: StemInput?, length len: Int,
        out y: UnsafeMutablePointer<Out>, ws: QuantWorkspace<Act>) {
        let spec = b.spec, m = spec.middleChannels, cin = spec.inChannels, cout = spec.outChannels
        let s = spec.stride, k = b.conv2.shape.kernel
        let lo2 = b.conv2.shape.outLength(len)
        let padded = (lo2 - 1) * s + k              // conv2's padded input length
        let left = max(0, padded - len) / 2
        let slice = ws.sliceOutputs(middle: m, stride: s, kernel: k, outLength: lo2)
        let width = (slice - 1) * s + k             // columns of one slice's conv2 rows
        let chunk = QuantConv<Int8>.chunk
        let rows = ws.slices.bindMemory(to: Act.self, capacity: ws.rowBudget), act2 = b.act2.channelRequant!   // (pass 2 lends them out)
        let staging = ws.staging(middle: m * lo2, outChannels: cout, middleChannels: m)
        var done = 0, first = 0                     // padded columns [first, done) are in `rows`
        var t0 = 0
        while t0 < lo2 {
            let n = min(slice, lo2 - t0)
            let pa = t0 * s, pb = (t0 + n - 1) * s + k
            // Carry the columns shared with the previous slice to the front of each row.
            if done > pa {
                for c in 0..<m {
                    let r = rows + c * width
                    for j in 0..<(done - pa) { r[j] = r[pa - first + j] }
                }
            }
            let fresh = max(pa, done)
            // Padding columns: each channel's zero point (the code of Swish(conv1) = 0.0).
            for p in fresh..<pb where p - left < 0 || p - left >= len {
                for c in 0..<m { rows[c * width + p - pa] = Act(truncatingIfNeeded: act2.zero(c, for: Act.self)) }
            }
            // conv1 on the real columns, a chunk at a time, through Swish into the rows.
            var i = max(fresh - left, 0)
            let iEnd = min(pb - left, len)
            var steps = si != nil ? chunk : QuantArenaPlan.chunkSteps(inputs: cin, actBytes: MemoryLayout<Act>.size, budget: ws.chunkBudget)
            // conv1 stages its int8 inputs in the middle room; where that cannot hold a chunk
            // (block 1: its conv3 input fills it), beyond the chunk's codes, for fewer steps.
            var room1 = staging
            if si == nil, b.conv1.canStage(Act.self), !b.conv1.stages(Act.self, count: steps, room: staging) {
                steps = QuantArenaPlan.evenSteps(max(1, min(steps, ws.chunkBytes / (3 * cin))), of: len)
                room1 = ws.room(ws.chunkRaw, capacity: ws.chunkBytes, after: steps * cin)
            }
            while i < iEnd {
                let nc = min(steps, iEnd - i)
                let dst = ConvOutput(rows + (i + left - pa), channelStride: width, timeStride: 1, zero: b.p(.zMid1), epilogue: b.act2)
                if let si {
                    // The first block reads the stem's int16 output.
                    stemColumns(si, from: i, count: nc, into: ws.stemChunk)
                    b.conv1.pointwise(UnsafePointer(ws.stemChunk), count: nc, t0: 0, into: dst)
                } else {
                    // Swish(x) as Act codes, [t][cin] (every block but the first activates its input).
                    let xc = ws.chunkInput
                    if Act.bitWidth == 16, In.bitWidth == 16, let ic = b.inputChannels {
                        Self.swishChannels(UnsafeRawPointer(x + i * cin).assumingMemoryBound(to: Int16.self), channels: cin, count: nc,
                                           scales: ic, inputZero: b.p(.zInput), step: b.act1!, tableZero: b.p(.zSwish1), into: xc)
                    } else {
                        Self.swishInputs(b, UnsafePointer(x + i * cin), channels: cin, count: nc, into: xc)
                    }
                    b.conv1.pointwise(UnsafePointer(xc), count: nc, t0: 0, into: dst, staging: room1)
                }
                i += nc
            }
            first = pa
            done = pb
            // conv2 through Swish into conv3's whole input [t][m].
            // (The chunk buffer is idle until the next slice's conv1: conv2 stages its rows there.)
            b.conv2.rows(UnsafePointer(rows), rowLength: width, count: n, t0: 0,
                         into: ConvOutput(ws.middle + t0 * m, channelStride: 1, timeStride: m, zero: b.p(.zMid2), epilogue: b.act3),
                         staging: UnsafeMutableRawBufferPointer(start: ws.chunkRaw, count: ws.chunkBytes))
            t0 += n
        }
        let se = ws.seVectors(middle: m * lo2, outChannels: cout, middleChannels: m)
        squeezeExcite(b, length: lo2, ws: ws, se: se)
        // One specialisation per kind of output scales, so one scale per tensor decodes nothing
        // per channel (only q16's int16 blocks have the per-channel one, checked at load: each
        // specialisation is 3-6 KB of code on a device).
        let channelScales = Act.bitWidth == 16 && In.bitWidth == 16 && Out.bitWidth == 16 ? b.outputChannels : nil
        // The gates folded into conv3's multipliers, over the gate values they replace.
        let gated = se.gates
        if let oc = channelScales {
            gatedMultipliers(b, ChannelScales(b, oc), gated)
        } else {
            gatedMultipliers(b, TensorScales(b), gated)
        }
        // Pass 2, per chunk of n steps: conv3 with its gate into [cout][n] int16, the shortcut
        // there (int8 outputs: into [cout][n] int8 codes beside it), then the chunk into y.
        // Block 0 also keeps the stem's columns for its shortcut in the chunk buffer.
        let part = QuantArenaPlan.passTwoParts(outChannels: cout, int8Output: Out.bitWidth == 8,
                                               stemColumns: si != nil ? s * config.baseFilters : 0)
        // Pass 2 has conv2's rows, idle now, as well as the chunk buffer.
        var n = QuantArenaPlan.evenSteps(max(1, min(chunk, ws.passTwoBytes / part.step)), of: lo2)
        // conv3 stages its int8 inputs in the middle room; where that cannot hold a chunk (blocks
        // 0 and 1, whose conv3 input fills it), beyond pass 2's parts, for fewer steps a chunk.
        var room3 = staging
        if b.conv3.canStage(Act.self), !b.conv3.stages(Act.self, count: n, room: staging) {
            n = QuantArenaPlan.evenSteps(max(1, min(chunk, ws.passTwoBytes / (part.step + 2 * m))), of: lo2)
            room3 = ws.room(ws.slices, capacity: ws.passTwoBytes, after: n * part.step)
        }
        let h = ws.slices.bindMemory(to: Int16.self, capacity: n * cout)
        let codes8 = (ws.slices + part.codes * n).assumingMemoryBound(to: Int8.self)
        let columns = (ws.slices + part.columns * n).assumingMemoryBound(to: Int16.self)
        let left1 = (s - 1) / 2
        var t = 0
        while t < lo2 {
            let nc = min(n, lo2 - t)
            b.conv3.pointwise(UnsafePointer(ws.middle + t * m), count: nc, t0: 0,
                              into: ConvOutput(h, channelStride: nc, timeStride: 1, zero: 0), multipliers: UnsafePointer(gated),
                              staging: room3)
            var shortcut = UnsafePointer(x), origin = 0
            if let si {
                // Stem columns [c0, c1): every pool window of steps t ..< t + nc inside the input.
                let c0 = max(0, t * s - left1), c1 = min(len, (t + nc) * s - left1)
                if c1 > c0 { stemColumns(si, from: c0, count: c1 - c0, into: columns) }
                shortcut = UnsafeRawPointer(columns).assumingMemoryBound(to: In.self)   // In is Int16 in block 0
                origin = c0
            }
            let y16 = Out.bitWidth == 16 ? UnsafeMutableRawPointer(y + t * cout).assumingMemoryBound(to: Int16.self) : nil
            var direct = 0..<0
            if let oc = channelScales {
                _ = residual(b, h, steps: nc, from: t, shortcut: shortcut, origin: origin, channels: cin, inputLength: len, pool: s,
                         codes: codes8, scales: ChannelScales(b, oc), Out.self)
            } else {
                direct = residual(b, h, steps: nc, from: t, shortcut: shortcut, origin: origin, channels: cin, inputLength: len, pool: s,
                                  codes: codes8, scales: TensorScales(b), Out.self, into: y16, buffer: room3)
            }
            if let y16 {
                // The steps the residual did not write into y itself.
                if direct.isEmpty {
                    transpose16(UnsafePointer(h), channels: cout, steps: nc, to: y16)
                } else {
                    // (Two ranges, no array: nothing allocates on the per-window path.)
                    for j in 0..<direct.lowerBound { for c in 0..<cout { y16[j * cout + c] = h[c * nc + j] } }
                    for j in direct.upperBound..<nc { for c in 0..<cout { y16[j * cout + c] = h[c * nc + j] } }
                }
            } else {
                transpose8(UnsafePointer(codes8), channels: cout, steps: nc, to: UnsafeMutableRawPointer(y + t * cout).assumingMemoryBound(to: Int8.self))
            }
            t += nc
        }
    }

    /// Swish of a block's inputs x [n][channels] (one scale, or int8 codes) as `Act` codes. Out
    /// of line on a device (inline there, `runBlock`'s register pressure cost the Cortex-M4F q8
    /// 0.13 M instructions and 96 B of stack), inline on a host (out of line cost 3% on x86-64).
    #if hasFeature(Embedded)
    @inline(never)
    #else
    @inline(__always)
    #endif
    static func swishInputs<In: QuantActivation>(_ b: QuantBlock, _ x: UnsafePointer<In>, channels cin: Int, count nc: Int,
                                                 into xc: UnsafeMutablePointer<Act>) {
        if In.bitWidth == 8, Act.bitWidth == 8, let lut = b.inputLUT {
            // q8's int8 inputs: the exporter's table of every code (checked at load).
            clef_lut_s8(UnsafeRawPointer(x).assumingMemoryBound(to: Int8.self), Int32(nc), Int32(cin), lut,
                        UnsafeMutableRawPointer(xc).assumingMemoryBound(to: Int8.self))
            return
        }
        let a1 = b.act1!, rq = a1.channelRequant!, table = a1.table
        let lo = Int32(Act.min), hi = Int32(Act.max), zs = b.p(.zSwish1), zx = b.p(.zInput)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: stagePiece + 1) { ub in
            let u = ub.baseAddress!
            for c in 0..<cin {
                // Table values and the zero point are int16 codes: the difference has 16 bits.
                let z = rq.zero(c, for: Act.self), mult = Requant32(rq.multiplier(c, for: Act.self), inputBits: 16), src = x + c
                // An int8 input's int16 code: zInput + n (m + E(code)).
                let nIn: Int32 = In.bitWidth == 8 ? b.inputCodes![3 * c] : 1
                let mIn: Int32 = In.bitWidth == 8 ? b.inputCodes![3 * c + 1] : 0
                @inline(__always) func code(_ j: Int) -> Int32 {
                    In.bitWidth == 8 ? zx &+ (mIn &+ b.compand.expand(Int32(src[j * cin]))) &* nIn : Int32(src[j * cin])
                }
                /// Steps j ..< j + m as table offsets into u.
                @inline(__always) func gather(_ j: Int, _ m: Int) {
                    let xj = UnsafeRawPointer(src + j * cin)
                    if In.bitWidth == 8 {
                        clef_offsets_s8(xj.assumingMemoryBound(to: Int8.self), Int32(cin), Int32(m), zx &- table.start &+ nIn &* mIn, nIn,
                                        b.compand.knee, b.compand.shift, u)
                    } else {
                        clef_offsets_s16(xj.assumingMemoryBound(to: Int16.self), Int32(cin), Int32(m), table.start, u)
                    }
                }
                // (int8 and int16 codes in separate branches, as in `ConvOutput.store`: q8's keeps
                // the folded term, which one shared branch cost it on the Cortex-M4F.)
                /// int16 codes through a direct table with output zero 0 (q8's shared table) to int8
                /// codes: CLEFDSP's loop reads the codes themselves (no offsets pass).
                @inline(__always) func direct(_ st: inout clef_swish_stage, outside: (Int32) -> Act) -> Bool {
                    guard In.bitWidth == 16, Act.bitWidth == 8, st.shift == 0, st.half == 0 else { return false }
                    let xs = UnsafeRawPointer(src).assumingMemoryBound(to: Int16.self), o = xc + c
                    var j = 0
                    while j < nc {
                        let p = UnsafeMutableRawPointer(o + j * cin).assumingMemoryBound(to: Int8.self)
                        j += Int(clef_swish_codes_s8(xs + j * cin, Int32(cin), Int32(nc - j), table.start, &st, p, Int32(cin)))
                        if j >= nc { break }
                        o[j * cin] = outside(Int32(xs[j * cin]) &- table.start)
                        j += 1
                    }
                    return true
                }
                if CLEF_STAGE_PASSES != 0, Act.bitWidth == 8, let term = mult.adding(z), var st = table.stage(requant: mult, term: term) {
                    @inline(__always) func outside(_ u: Int32) -> Act {
                        Act(truncatingIfNeeded: clamp32(mult.fast(table(u &+ table.start) &- zs, adding: term), lo, hi))
                    }
                    if !direct(&st, outside: outside) {
                        stagedChannel(&st, count: nc, stride: cin, offsets: u, into: xc + c, gather: gather, outside: outside)
                    }
                } else if CLEF_STAGE_PASSES != 0, var st = table.stage16(requant: mult, zero: z) {
                    // int16 codes, and q8's narrow channels (the pre-shift form).
                    @inline(__always) func outside(_ u: Int32) -> Act {
                        Act(truncatingIfNeeded: clamp32(z &+ mult.fast(table(u &+ table.start) &- zs), lo, hi))
                    }
                    if !direct(&st, outside: outside) {
                        stagedChannel(&st, count: nc, stride: cin, offsets: u, into: xc + c, gather: gather, outside: outside)
                    }
                } else if let term = mult.adding(z) {
                    for j in 0..<nc { xc[j * cin + c] = Act(truncatingIfNeeded: clamp32(mult.fast(a1.table(code(j)) &- zs, adding: term), lo, hi)) }
                } else if mult.general {
                    for j in 0..<nc { xc[j * cin + c] = Act(truncatingIfNeeded: clamp32(z &+ mult(a1.table(code(j)) &- zs), lo, hi)) }
                } else {
                    for j in 0..<nc { xc[j * cin + c] = Act(truncatingIfNeeded: clamp32(z &+ mult.fast(a1.table(code(j)) &- zs), lo, hi)) }
                }
            }
        }
    }

    /// Steps per gather of the block inputs' Swish (its offsets buffer has one more, the sentinel).
    static var stagePiece: Int { 64 }

    /// One channel of the block inputs' Swish through CLEFDSP's table loop, `stagePiece` steps at
    /// a time: `gather(j, m)` writes the table offsets of steps j ..< j + m into `u`, the loop
    /// writes their codes `stride` apart into `dst`, `outside` finishes an offset beyond the knots.
    @inline(__always)
    static func stagedChannel(_ st: inout clef_swish_stage, count nc: Int, stride: Int, offsets u: UnsafeMutablePointer<Int32>,
                              into dst: UnsafeMutablePointer<Act>, gather: (Int, Int) -> Void, outside: (Int32) -> Act) {
        var j = 0
        while j < nc {
            let m = min(stagePiece, nc - j)
            gather(j, m)
            swishStage(u, m, &st, into: dst + j * stride, stride: stride, outside: outside)
            j += m
        }
    }

    /// Swish of per-channel int16 inputs (`QuantBlock.inputChannels`, q16) [n][channels] as `Act`
    /// codes: each code mapped onto the per-tensor grid the table reads, zInput + rq(code - z)
    /// (a 32-bit code, which the table takes beyond its knots), then the table and the
    /// channel's requantisation. Out of line, so the other engines' `runBlock` is unchanged.
    @inline(never)
    static func swishChannels(_ x: UnsafePointer<Int16>, channels cin: Int, count n: Int, scales ic: UnsafePointer<Int32>,
                              inputZero zx: Int32, step: ActivationStep, tableZero zs: Int32, into out: UnsafeMutablePointer<Act>) {
        let rq = step.channelRequant!, table = step.table, lo = Int32(Act.min), hi = Int32(Act.max)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: stagePiece + 1) { ub in
            let u = ub.baseAddress!
            for c in 0..<cin {
                // The grid's multiplier takes the fast form (checked at load).
                let z = rq.zero(c, for: Act.self), mult = Requant32(rq.multiplier(c, for: Act.self), inputBits: 16)
                let zc = ic[4 * c], grid = Requant32(ic[4 * c + 3], inputBits: 16)
                let src = x + c, dst = out + c
                if CLEF_STAGE_PASSES != 0, Act.bitWidth == 16, var st = table.stage16(requant: mult, zero: z) {
                    // The codes mapped onto the grid as table offsets, then CLEFDSP's table loop.
                    stagedChannel(&st, count: n, stride: cin, offsets: u, into: dst) { j, m in
                        clef_offsets_grid_s16(src + j * cin, Int32(cin), Int32(m), zc, grid.pre, grid.mul, grid.add, grid.shift,
                                              zx &- table.start, u)
                    } outside: {
                        Act(truncatingIfNeeded: clamp32(z &+ mult.fast(table($0 &+ table.start) &- zs), lo, hi))
                    }
                    continue
                }
                /// The channel's loop with `requant` from the table's code (less its zero point) to `Act`.
                @inline(__always) func each(_ requant: (Int32) -> Int32) {
                    for j in 0..<n {
                        let q = zx &+ grid.fast(Int32(src[j * cin]) &- zc)
                        dst[j * cin] = Act(truncatingIfNeeded: clamp32(requant(table(q) &- zs), lo, hi))
                    }
                }
                if let term = mult.adding(z) {
                    each { mult.fast($0, adding: term) }
                } else if mult.general {
                    each { z &+ mult($0) }
                } else {
                    each { z &+ mult.fast($0) }
                }
            }
        }
    }

    /// Whether `residual` takes CLEFDSP's loops for int8 outputs: on 32-bit Arm, where they are
    /// assembly (with the DSP extension; C on other Arm cores); elsewhere the Swift loops, which
    /// x86-64 vectorises (through the C ones a host q8 window measured 2.5% slower) and RV32 runs
    /// as fast. (The channels without a shortcut test the same `arch(arm)` with `#if`: as a
    /// constant branch there the compiler warns of the dead side.)
    static var residualLoops: Bool {
        #if arch(arm)
        return true
        #else
        return false
        #endif
    }

    /// y = zOut + g + rq(shortcut - zInput) for output steps t0 ..< t0 + n, g being the gated
    /// conv3 output that conv3 wrote into h [outChannels][n] (`gatedMultipliers`: int16, in the
    /// output's units, without its zero point): int16 outputs in place in h, int8 ones (`Out` =
    /// Int8) as the companded code of rq8(y - zOut) - m per channel into `codes` [outChannels][n].
    /// The shortcut is x [inputLength][channels] (input step i at x[(i - origin) * channels])
    /// max-pooled (kernel = stride, pads of real 0, left pad (pool - 1) / 2), its channels
    /// zero-padded to the output's; int8 inputs are int16 codes zInput + n (m + E(code)),
    /// monotone in the code, so the codes pool as their values do. The zero points are int16
    /// codes (checked at load), so the shortcut's offset fits 17 bits: one long multiply.
    /// With `y` (int16 outputs, one scale per tensor, on 32-bit Arm) the steps whose window is
    /// inside the input go straight into y [n][outChannels] (`clef_residual_t16`, through
    /// `buffer`) instead of into h; returns those steps (empty: all in h), which the caller does
    /// not transpose.
    func residual<In: QuantActivation, Out: QuantActivation, Scales: OutputScales>(
        _ b: QuantBlock, _ h: UnsafeMutablePointer<Int16>, steps n: Int, from t0: Int, shortcut x: UnsafePointer<In>,
        origin: Int, channels cin: Int, inputLength len: Int, pool s: Int,
        codes: UnsafeMutablePointer<Int8>, scales: Scales, _: Out.Type,
        into y: UnsafeMutablePointer<Int16>? = nil, buffer: UnsafeMutableRawBufferPointer = .init(start: nil, count: 0)) -> Range<Int> {
        let cout = b.spec.outChannels, int8In = In.bitWidth == 8, int8Out = Out.bitWidth == 8
        let offset = (cout - cin) / 2, left = (s - 1) / 2, cmp = b.compand
        // Steps [a, e) of the chunk have their window inside the input and take the fast loops
        // (stride 1 or 2); the others check bounds. Window t is inside iff first <= t, t * s <= last.
        let first = (left + s - 1) / s, last = len + left - s
        let end = last < 0 ? first : max(first, last / s + 1)
        // Steps written into y directly (the loops below then only do the others, into h).
        var direct = 0..<0
        #if arch(arm)
        // int16 codes in and out, one scale per tensor (q8's later blocks): CLEFDSP's time-major
        // loop writes the fast steps into the block output y [n][cout] itself (the caller
        // transposes only the others), a step at a time through `buffer`.
        if let y, !int8In, !int8Out, !Scales.perChannel, s <= 2, buffer.count >= 2 * cout, let base = buffer.baseAddress {
            let zy = scales.zero(0), irq = scales.shortcut(0)
            let a = min(max(first - t0, 0), n), e = max(a, min(end - t0, n))
            if !irq.general, irq.mul != 0, irq.shift <= 16, zy.magnitude < 1 << 15, e > a {
                var st = clef_residual16_stage(zx: scales.inputZero(0), pre: irq.pre, mul: irq.isIdentity ? 0 : irq.mul,
                                               term: irq.add &+ (zy &<< irq.shift), shift: irq.shift, zy: zy)
                let xa = UnsafeRawPointer(x + ((t0 + a) * s - left - origin) * cin).assumingMemoryBound(to: Int16.self)
                clef_residual_t16(h + a, Int32(n), xa, Int32(cin), Int32(s), Int32(e - a), Int32(cout), Int32(offset), &st,
                                  base.assumingMemoryBound(to: Int16.self), y + a * cout)
                direct = a..<e
                if e == n { return direct }     // no step left for the loops below
            }
        }
        #endif
        /// Output channel c's zero point and shortcut multiplier; the fast loops fold zOut into
        /// the shortcut's rounding where it fits (exact, `Requant32.adding`): int16 outputs clamp
        /// the sum of g and that term in one saturation.
        @inline(__always)
        func channelSetup(_ c: Int) -> (zy: Int32, irq: Requant32, folded: Bool, dy: Int32, a: Int, e: Int) {
            let zy = scales.zero(c), irq = scales.shortcut(c)
            // (`adding` twice, not bound once: on the Cortex-M4F the bound optional cost 0.14 M.)
            let folded = irq.adding(zy) != nil, dy = irq.adding(zy) ?? 0
            let a = !irq.general && s <= 2 ? min(max(first - t0, 0), n) : n
            let e = !irq.general && s <= 2 ? max(a, min(end - t0, n)) : n
            return (zy, irq, folded, dy, a, e)
        }
        // Once per call for one scale per tensor (decoded per channel, that cost q8 0.4 M
        // instructions a window on the Cortex-M4F).
        var setup = channelSetup(0)
        for c in 0..<cout {
            if Scales.perChannel { setup = channelSetup(c) }
            let (zy, irq, folded, dy, a, e) = setup
            var row = h + c * n
            let ci = c - offset
            let orq = int8Out ? Requant32(b.outputCodes![3 * c + 2], inputBits: 18) : irq
            let m8 = int8Out ? b.outputCodes![3 * c + 1] : 0
            /// An int8 output code from y - zOut.
            @inline(__always) func code8(_ v: Int32) -> Int8 {
                Int8(truncatingIfNeeded: clamp32(cmp.compress(orq(clamp32(v, -(1 << 17), (1 << 17) - 1)) &- m8), -128, 127))
            }
            /// The same where -m folds into the output's rounding term (`orq.adding(-m)`: no
            /// pre-shift, so no clamp either; the fast loops' form).
            @inline(__always) func code8(_ v: Int32, adding term: Int32) -> Int8 {
                Int8(truncatingIfNeeded: clamp32(cmp.compress(orq.fast(v, adding: term)), -128, 127))
            }
            guard ci >= 0 && ci < cin else {
                // A channel without a shortcut (the input's channels are zero-padded): g alone.
                if int8Out, let term = orq.adding(0 &- m8) {
                    @inline(__always) func one(_ j: Int) { codes[c * n + j] = code8(Int32(row[j]), adding: term) }
                    #if arch(arm)
                    // CLEFDSP's assembly loop, stopping at a code beyond the knee (done here).
                    var st = clef_residual_stage(zero: 0, step: 0, pre: 0, imul: 0, iadd: 0, omul: orq.mul, oterm: term,
                                                 oshift: orq.shift, knee: cmp.knee)
                    var j = 0
                    while j < n {
                        j += Int(clef_residual_none(row + j, Int32(n - j), &st, codes + c * n + j))
                        if j < n { one(j); j += 1 }
                    }
                    #else
                    for j in 0..<n { one(j) }
                    #endif
                } else if int8Out {
                    for j in 0..<n { codes[c * n + j] = code8(Int32(row[j])) }
                } else {
                    for j in 0..<n where !direct.contains(j) { row[j] = Int16(truncatingIfNeeded: clamp32(Int32(row[j]) &+ zy, -32768, 32767)) }
                }
                continue
            }
            // The shortcut's int16 code offset from zInput (per-channel inputs: from their channel's zero point).
            let zx = scales.inputZero(ci)
            let nIn: Int32 = int8In ? b.inputCodes![3 * ci] : 1
            let mIn: Int32 = int8In ? b.inputCodes![3 * ci + 1] : 0
            @inline(__always) func shortcut(_ v: Int32) -> Int32 { int8In ? (mIn &+ cmp.expand(v)) &* nIn : v &- zx }
            // Input step i at sc[(i - origin) * cin]; p walks the first step of each fast window.
            let sc = x + ci, step = s * cin
            var p = sc + ((t0 + a) * s - left - origin) * cin, r = row + a
            let term8 = int8Out ? orq.adding(0 &- m8) : nil
            if int8Out {
                // int8 outputs take the fast loop only where -m folds, which means no pre-shift:
                // 1/n is then exact on any 32-bit sum, so the +-2^17 clamp can go (a sum beyond
                // it saturates the code either way, since n (|m| + E(-128)) < 2^16).
                if let term = term8, Self.residualLoops, irq.pre > 0, irq.shift == 1 {
                    // CLEFDSP's assembly loop (Arm), which stops at a code beyond the knee (of
                    // the input or the output); that step here, then on from the next.
                    var st = clef_residual_stage(zero: int8In ? (mIn &* nIn) &<< irq.pre : zx, step: nIn &<< irq.pre, pre: irq.pre,
                                                 imul: irq.mul, iadd: irq.add, omul: orq.mul, oterm: term, oshift: orq.shift,
                                                 knee: cmp.knee)
                    let o = codes + c * n
                    var j = a
                    while j < e {
                        let xj = UnsafeRawPointer(p + (j - a) * step)
                        j += Int(int8In
                            ? clef_residual_s8(xj.assumingMemoryBound(to: Int8.self), Int32(cin), Int32(s), row + j, Int32(e - j), &st, o + j)
                            : clef_residual_s16(xj.assumingMemoryBound(to: Int16.self), Int32(cin), Int32(s), row + j, Int32(e - j), &st, o + j))
                        guard j < e else { break }
                        let q = p + (j - a) * step
                        let sum = Int32(row[j]) &+ irq.fast(shortcut(s == 1 ? Int32(q[0]) : max(Int32(q[0]), Int32(q[cin]))))
                        o[j] = code8(sum, adding: term)
                        j += 1
                    }
                } else if let term = term8 {
                    var o = codes + c * n + a
                    if s == 1 {
                        for _ in a..<e {
                            let sum = Int32(r.pointee) &+ irq.fast(shortcut(Int32(p.pointee)))
                            o.pointee = code8(sum, adding: term)
                            r += 1; p += step; o += 1
                        }
                    } else {
                        for _ in a..<e {
                            let sum = Int32(r.pointee) &+ irq.fast(shortcut(max(Int32(p[0]), Int32(p[cin]))))
                            o.pointee = code8(sum, adding: term)
                            r += 1; p += step; o += 1
                        }
                    }
                }
            } else if direct.isEmpty {
                #if arch(arm)
                // int8 inputs, int16 outputs (q8's block 2): CLEFDSP's assembly loop in place in
                // the row, which stops at a code beyond the knee (done here); the same
                // constants as the int8 outputs' loop, the output zero point in the rounding term.
                let fastDone = int8In && irq.pre > 0 && irq.shift == 1 && s <= 2 && zy.magnitude < 1 << 15
                if fastDone {
                    var st = clef_residual_stage(zero: (mIn &* nIn) &<< irq.pre, step: nIn &<< irq.pre, pre: irq.pre,
                                                 imul: irq.mul, iadd: irq.add &+ (zy &<< 1), omul: 0, oterm: 0, oshift: 0,
                                                 knee: cmp.knee)
                    var j = a
                    while j < e {
                        let xj = UnsafeRawPointer(p + (j - a) * step).assumingMemoryBound(to: Int8.self)
                        j += Int(clef_residual_s8_s16(xj, Int32(cin), Int32(s), row + j, Int32(e - j), &st))
                        guard j < e else { break }
                        let q = p + (j - a) * step
                        row[j] = sum16(zy, Int32(row[j]), irq.fast(shortcut(s == 1 ? Int32(q[0]) : max(Int32(q[0]), Int32(q[cin])))))
                        j += 1
                    }
                }
                #else
                let fastDone = false
                #endif
                if !fastDone {
                    switch (s == 1, folded) {
                    case (true, true):
                        for _ in a..<e {
                            r.pointee = sum16(0, Int32(r.pointee), irq.fast(shortcut(Int32(p.pointee)), adding: dy))
                            r += 1; p += step
                        }
                    case (false, true):
                        for _ in a..<e {
                            r.pointee = sum16(0, Int32(r.pointee), irq.fast(shortcut(max(Int32(p[0]), Int32(p[cin]))), adding: dy))
                            r += 1; p += step
                        }
                    case (true, false):
                        for _ in a..<e {
                            r.pointee = sum16(zy, Int32(r.pointee), irq.fast(shortcut(Int32(p.pointee))))
                            r += 1; p += step
                        }
                    case (false, false):
                        for _ in a..<e {
                            r.pointee = sum16(zy, Int32(r.pointee), irq.fast(shortcut(max(Int32(p[0]), Int32(p[cin])))))
                            r += 1; p += step
                        }
                    }
                }
            }
            let done = int8Out && term8 == nil ? a : !direct.isEmpty ? direct.upperBound : e   // the steps the fast loop wrote
            var t = 0
            while t < n {
                if t == a && done > a { t = done; continue }
                var id = Int32.min
                for j in 0..<s {
                    let i = (t0 + t) * s - left + j
                    id = max(id, (i >= 0 && i < len) ? shortcut(Int32(sc[(i - origin) * cin])) : 0)
                }
                row = h + c * n + t
                let g = Int32(row.pointee), d = irq(id)
                if int8Out {
                    codes[c * n + t] = code8(g &+ d)
                } else {
                    row.pointee = sum16(zy, g, d)
                }
                t += 1
            }
        }
        return direct
    }

    /// Each output channel's gate folded into conv3's multiplier and the gate multiplier:
    /// rq(acc M3 gate Mg) in one rounding, where the engine until session 10 rounded conv3's
    /// int16 code and then the gated product (one pass over every block output less, and one
    /// rounding less). The gates are Q15 sigmoid values; a least-squares table knot can dip
    /// below 0, read as 0 (a multiplier is positive).
    @inline(never)
    func gatedMultipliers<Scales: OutputScales>(_ b: QuantBlock, _ scales: Scales, _ gates: UnsafeMutablePointer<Int32>) {
        let br = b.conv3.biasRequant
        for ch in 0..<b.spec.outChannels {
            gates[ch] = combinedMultiplier(br[2 * ch + 1], scales.gateMultiplier(ch), clamp32(gates[ch], 0, 32767))
        }
    }

    /// sums[j] = the sum over `steps` of channel j's codes in x [steps][m].
    @inline(__always)
    static func channelSums(_ x: UnsafePointer<Act>, _ m: Int, _ steps: Int, _ sums: UnsafeMutablePointer<Int32>) {
        for j in 0..<m {
            var sum: Int32 = 0, p = x + j
            for _ in 0..<steps { sum = sum &+ Int32(p.pointee); p += m }
            sums[j] = sum
        }
    }

    /// The gates, from conv3's input sums: conv3 is linear, so the sum of its outputs over time is
    /// its weights applied to the summed inputs plus length x bias, requantised once (an int16
    /// code per step would round, and clamp, every term of the squeeze-excitation mean).
    func squeezeExcite(_ b: QuantBlock, length lo2: Int, ws: QuantWorkspace<Act>, se: SEVectors) {
        let m = b.spec.middleChannels, c = b.spec.outChannels
        // Per middle channel, the sum of its codes over time: |sum| <= 2^15 * lo2 < 2^31
        // (`QuantWorkspace.maxWindowLength`).
        let a = se.sums
        #if arch(arm)
        if Act.bitWidth == 8 {
            // CLEFDSP: four int8 channels a word (Cortex-M4F q8: 3.75 -> about 2 instructions a code).
            clef_channel_sums_s8(UnsafeRawPointer(ws.middle).assumingMemoryBound(to: Int8.self), Int32(m), Int32(lo2), a)
        } else {
            Self.channelSums(ws.middle, m, lo2, a)
        }
        #else
        Self.channelSums(ws.middle, m, lo2, a)
        #endif
        let mean = se.scratch, h = se.scratch + c
        let w = b.conv3.weight, br = b.conv3.biasRequant
        @inline(__always) func setMean(_ ch: Int, _ dot: Int64) {
            // |sum| < 2^31 * 2^16 + 2^12 * 2^7 * 2^31: the Q8 form fits 64 bits.
            let acc = Int64(br[2 * ch]) &* Int64(lo2) &+ dot
            let q = roundedDivide(requantize(acc &* 256, br[2 * ch + 1]), Int64(lo2))
            mean[ch] = Int32(truncatingIfNeeded: clamp(requantize(q, b.p(.meanRequant)), -32768, 32767))
        }
        var ch = 0
        while ch < c {
            // Two channels per pass (the second repeats the first if the count is odd).
            let ch1 = min(ch + 1, c - 1)
            let (d0, d1) = dot2S8S32(w + ch * m, w + ch1 * m, UnsafePointer(a), m)
            setMean(ch, d0)
            setMean(ch1, d1)
            ch += 2
        }
        b.fc1.run(mean, outZero: b.p(.zHidden), lo: -32768, hi: 32767, out: h)
        for j in 0..<(c / 2) { h[j] = b.swishSE.table(h[j]) &- b.p(.zHiddenAct) }
        b.fc2.run(h, outZero: b.p(.zGate), lo: -32768, hi: 32767, out: mean)
        for ch in 0..<c { se.gates[ch] = b.gate.table(mean[ch]) }
    }
}

/// The zero point and the gate and shortcut multipliers of a block's output channels.
protocol OutputScales {
    /// False when every channel has the same scale (decoded once per call).
    static var perChannel: Bool { get }
    /// The zero point of input channel c (the shortcut's).
    func inputZero(_ c: Int) -> Int32
    func zero(_ c: Int) -> Int32
    /// The packed multiplier from conv3's code times its Q15 gate to the output's code.
    func gateMultiplier(_ c: Int) -> Int32
    func shortcut(_ c: Int) -> Requant32
}

/// One scale for the whole output (`QuantBlock.params`), decoded once.
struct TensorScales: OutputScales {
    let zIn: Int32, z: Int32, g: Int32, i: Requant32
    init(_ b: QuantBlock) {
        zIn = b.p(.zInput)
        z = b.p(.zOutput)
        g = b.p(.gateRequant)
        // shortcut - zInput < 2^16 (int16 codes; int8 inputs: checked at load).
        i = Requant32(b.p(.idRequant), inputBits: 16)
    }
    static var perChannel: Bool { false }
    @inline(__always) func inputZero(_ c: Int) -> Int32 { zIn }
    @inline(__always) func zero(_ c: Int) -> Int32 { z }
    @inline(__always) func gateMultiplier(_ c: Int) -> Int32 { g }
    @inline(__always) func shortcut(_ c: Int) -> Requant32 { i }
}

/// A scale per channel (`QuantBlock.outputChannels`), decoded per channel; the inputs' zero
/// points per channel too where they have them (a block with per-channel inputs has per-channel
/// outputs: checked at load).
struct ChannelScales: OutputScales {
    let p: UnsafePointer<Int32>, input: UnsafePointer<Int32>?, zIn: Int32
    init(_ b: QuantBlock, _ p: UnsafePointer<Int32>) { self.p = p; input = b.inputChannels; zIn = b.p(.zInput) }
    static var perChannel: Bool { true }
    @inline(__always) func inputZero(_ c: Int) -> Int32 { input.map { $0[4 * c] } ?? zIn }
    @inline(__always) func zero(_ c: Int) -> Int32 { p[4 * c] }
    @inline(__always) func gateMultiplier(_ c: Int) -> Int32 { p[4 * c + 1] }
    @inline(__always) func shortcut(_ c: Int) -> Requant32 { Requant32(p[4 * c + 2], inputBits: 16) }
}

/// A block's squeeze-excitation vectors (`QuantWorkspace.seVectors`).
struct SEVectors {
    let scratch: UnsafeMutablePointer<Int32>
    let sums: UnsafeMutablePointer<Int32>
    let gates: UnsafeMutablePointer<Int32>
}

/// x [channels][steps] into y [steps][channels], two channels per 32-bit store where y is 4-byte
/// aligned (as the block buffer's tensors are) and the channel count even.
@inline(__always)
func transpose16(_ x: UnsafePointer<Int16>, channels c: Int, steps n: Int, to y: UnsafeMutablePointer<Int16>) {
    if Int(bitPattern: y) & 3 == 0 && c & 1 == 0 {
        let raw = UnsafeMutableRawPointer(y)
        for ch in stride(from: 0, to: c, by: 2) {
            let r0 = x + ch * n, r1 = r0 + n
            for t in 0..<n {
                let word = UInt32(UInt16(bitPattern: r0[t])) | UInt32(UInt16(bitPattern: r1[t])) &<< 16
                raw.storeBytes(of: word.littleEndian, toByteOffset: 2 * (t * c + ch), as: UInt32.self)
            }
        }
    } else {
        for ch in 0..<c {
            for t in 0..<n { y[t * c + ch] = x[ch * n + t] }
        }
    }
}

/// `transpose16` for int8 codes, four channels per 32-bit store where it can.
@inline(__always)
func transpose8(_ x: UnsafePointer<Int8>, channels c: Int, steps n: Int, to y: UnsafeMutablePointer<Int8>) {
    if Int(bitPattern: y) & 3 == 0 && c & 3 == 0 {
        let raw = UnsafeMutableRawPointer(y)
        for ch in stride(from: 0, to: c, by: 4) {
            let r0 = x + ch * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n
            for t in 0..<n {
                let word = UInt32(UInt8(bitPattern: r0[t])) | UInt32(UInt8(bitPattern: r1[t])) &<< 8
                    | UInt32(UInt8(bitPattern: r2[t])) &<< 16 | UInt32(UInt8(bitPattern: r3[t])) &<< 24
                raw.storeBytes(of: word.littleEndian, toByteOffset: t * c + ch, as: UInt32.self)
            }
        }
    } else {
        for ch in 0..<c {
            for t in 0..<n { y[t * c + ch] = x[ch * n + t] }
        }
    }
}

/// round(a / b) for b > 0, halves rounded up, with floor division (exact for negative a).
@inline(__always)
public func roundedDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let n = 2 &* a &+ b, d = 2 &* b
    return n >= 0 ? n / d : -((-n &+ d &- 1) / d)
}

/// The integer engine's arena for windows up to `maxLength` samples. Whole tensors: the block
/// inputs and outputs (int16, or int8 for `int8Outputs` leading blocks; time-major, in one
/// buffer: each block writes its output over its input as it consumes it) and conv3's input (`Act` codes, so conv3 can wait for the
/// squeeze-excitation gate). Everything else is a slice: conv2's padded input rows for
/// `rowBudget` elements, one chunk of conv1 input, stem output or conv3 output, the stem's padded
/// input, the squeeze-excitation vectors.
public final class QuantWorkspace<Act: QuantActivation> {
    public let maxLength: Int
    /// Elements of conv2 input rows (middle channels x columns) one slice may use: a smaller
    /// budget means less memory and more, shorter kernel calls; the results are the same.
    public let rowBudget: Int
    /// The leading blocks with int8 outputs this arena is planned for (`QuantEncoder.int8Outputs`).
    public let int8Outputs: Int
    let io: UnsafeMutableRawPointer
    let ioBytes: Int
    let middle: UnsafeMutablePointer<Act>
    let chunkRaw: UnsafeMutableRawPointer
    /// conv2's rows and the chunk buffer, one allocation: pass 2 takes both (`passTwoBytes`).
    let slices: UnsafeMutableRawPointer
    let passTwoBytes: Int
    let chunkBytes: Int
    /// The stem's padded input rows, at the end of the block buffer (`stemRowsOffset` bytes in).
    let stemRows: UnsafeMutablePointer<Int16>
    let stemRowsOffset: Int
    /// conv3's input, then the block's squeeze-excitation vectors (`seVectors`); after the last
    /// block, the output codes (`outputCodes`).
    let middleRaw: UnsafeMutableRawPointer
    let middleBytes: Int
    /// Bytes of the arena (the peak activation memory of this engine).
    public let byteCount: Int

    /// Row budgets: 4 K elements on a device, where it saves 8 KB of RAM for 1.7% more
    /// instructions than 8 K (Cortex-M4F q8, docs/firmware.md); 8 K on a host.
    public static var deviceRowBudget: Int { 4096 }
    public static var hostRowBudget: Int { 8192 }

    /// The budget of this build: `deviceRowBudget` under Embedded Swift, else `hostRowBudget`.
    public static var defaultRowBudget: Int { perBuild(device: deviceRowBudget, host: hostRowBudget) }

    /// `device` under Embedded Swift, else `host`.
    static func perBuild(device: Int, host: Int) -> Int {
        #if hasFeature(Embedded)
        device
        #else
        host
        #endif
    }

    /// A budget large enough for every block to run in one slice (the most memory, the fewest calls).
    public static func wholeRowBudget(config: Net1DConfig, maxLength: Int) -> Int {
        QuantArenaPlan(config: config, maxLength: maxLength, rowBudget: 0).wholeRows
    }

    /// The longest window: block 0's output steps (a quarter of the samples) stay below 2^16, so
    /// the squeeze-excitation's 32-bit sums of int16 codes cannot overflow.
    public static var maxWindowLength: Int { 262_140 }

    /// Chunk buffers (conv1's input chunk, conv3's output chunk): 4 KB on a device (conv3 then
    /// writes 8 steps of 256 channels per pass), 16 KB on a host, where the per-channel set-up of
    /// the shorter chunks costs 2% of a q8 window. Every size gives the same bits.
    public static var deviceChunkBudget: Int { 4096 }
    public static var hostChunkBudget: Int { 16384 }
    public static var defaultChunkBudget: Int { perBuild(device: deviceChunkBudget, host: hostChunkBudget) }
    let chunkBudget: Int

    public init(config: Net1DConfig, maxLength: Int, rowBudget: Int = QuantWorkspace.defaultRowBudget,
                chunkBudget: Int = QuantWorkspace.defaultChunkBudget, int8Outputs: Int = 0) {
        precondition(maxLength >= 1 && maxLength <= Self.maxWindowLength, "window length outside 1...262140")
        self.maxLength = maxLength
        self.int8Outputs = int8Outputs
        let plan = QuantArenaPlan(config: config, maxLength: maxLength, rowBudget: rowBudget, chunkBudget: chunkBudget,
                                  int8Outputs: int8Outputs)
        self.rowBudget = plan.rowBudget
        self.chunkBudget = chunkBudget
        // The block buffer is 16-byte aligned: before each window it lends itself out as float scratch.
        ioBytes = max(plan.blockBytes, 4)
        io = UnsafeMutableRawPointer.allocate(byteCount: ioBytes, alignment: 16)
        io.initializeMemory(as: Int16.self, repeating: 0, count: ioBytes / 2)
        middleBytes = plan.middleBytes(actBytes: MemoryLayout<Act>.size)
        middleRaw = UnsafeMutableRawPointer.allocate(byteCount: middleBytes, alignment: 16)
        middle = middleRaw.initializeMemory(as: Act.self, repeating: 0, count: middleBytes / MemoryLayout<Act>.size)
        chunkBytes = plan.chunkBytes(actBytes: MemoryLayout<Act>.size)
        let rowBytes = (plan.rowBudget * MemoryLayout<Act>.size + 15) & ~15
        passTwoBytes = rowBytes + chunkBytes
        slices = UnsafeMutableRawPointer.allocate(byteCount: passTwoBytes, alignment: 16)
        slices.initializeMemory(as: UInt8.self, repeating: 0, count: passTwoBytes)
        chunkRaw = slices + rowBytes
        stemRowsOffset = plan.stemRowsOffset
        stemRows = (io + plan.stemRowsOffset).assumingMemoryBound(to: Int16.self)
        byteCount = plan.bytes(actBytes: MemoryLayout<Act>.size)
    }

    /// Floats that may be used until the next `forwardPrepared` (which overwrites them): the
    /// block buffer, idle between windows, so a stream can preprocess its window inside the arena.
    /// nil when `count` floats do not fit.
    public func floatScratch(count: Int) -> UnsafeMutablePointer<Float>? {
        count * 4 <= stemRowsOffset ? io.bindMemory(to: Float.self, capacity: count) : nil
    }

    /// conv1's input chunk (Swish codes), the stem's output chunk and pass 2's chunk
    /// (`QuantArenaPlan.passTwoParts`) share one buffer.
    var chunkInput: UnsafeMutablePointer<Act> { chunkRaw.assumingMemoryBound(to: Act.self) }
    var stemChunk: UnsafeMutablePointer<Int16> { chunkRaw.assumingMemoryBound(to: Int16.self) }

    /// A block's squeeze-excitation vectors, just beyond its conv3 input (`middle` codes) in the
    /// same allocation: [2 outChannels] scratch, [middle channels] sums, [outChannels] gates.
    @inline(__always)
    func seVectors(middle count: Int, outChannels c: Int, middleChannels m: Int) -> SEVectors {
        let at = (count * MemoryLayout<Act>.size + 3) & ~3
        let scratch = (middleRaw + at).bindMemory(to: Int32.self, capacity: 3 * c + m)
        return SEVectors(scratch: scratch, sums: scratch + 2 * c, gates: scratch + 2 * c + m)
    }

    /// The rest of that allocation beyond a block's vectors, idle while the block runs: the 1x1
    /// convolutions stage their int8 inputs there where it holds them (`QuantConv.pointwise`).
    /// The blocks after the first two have half their conv3 input or less, so 9-14 KB (small, 4 K
    /// budgets), as much as conv1's input chunk and conv3's pass-2 chunk take staged.
    @inline(__always)
    func staging(middle count: Int, outChannels c: Int, middleChannels m: Int) -> UnsafeMutableRawBufferPointer {
        room(middleRaw, capacity: middleBytes,
             after: ((count * MemoryLayout<Act>.size + 3) & ~3) + QuantArenaPlan.seBytes(outChannels: c, middleChannels: m))
    }

    /// The bytes of a `capacity`-byte buffer from `used` on, 4-byte aligned (where staged copies go).
    @inline(__always)
    func room(_ base: UnsafeMutableRawPointer, capacity: Int, after used: Int) -> UnsafeMutableRawBufferPointer {
        let at = (used + 3) & ~3
        return UnsafeMutableRawBufferPointer(start: base + at, count: max(0, capacity - at))
    }

    /// Where `forwardPrepared` may write its output codes: the conv3 input's room, idle after the last block.
    public var outputCodes: UnsafeMutablePointer<Int32> { middleRaw.assumingMemoryBound(to: Int32.self) }

    /// Output steps per slice of a block: as many as `rowBudget` rows hold (at least one).
    @inline(__always)
    func sliceOutputs(middle m: Int, stride s: Int, kernel k: Int, outLength: Int) -> Int {
        QuantArenaPlan.sliceOutputs(rowBudget: rowBudget, middle: m, stride: s, kernel: k, outLength: outLength)
    }

    deinit {
        io.deallocate(); middleRaw.deallocate(); slices.deallocate()
    }
}

/// Sizes of the integer engines' arena (`QuantWorkspace`), computed ahead of time.
public struct QuantArenaPlan {
    /// Bytes of the block buffer: every block's output at the offsets `firstOffset` and
    /// `outputShift` give (int8 for the `int8Outputs` leading blocks, else int16), and the stem's
    /// padded input rows while block 0 runs (the stem output is never stored).
    public var blockBytes = 0
    /// conv3's whole input: the largest middle channels x output length (elements).
    public var middle = 0
    /// The embedding width (the output codes take conv3's input's room at the end).
    public var embeddingDim = 0
    /// Byte offset of the stem's padded input rows (`stemRows` int16 elements) in the block buffer.
    public var stemRowsOffset = 0
    /// conv2 input rows (after clamping the budget to what the longest slice needs), the stem's
    /// padded input; elements.
    public var rowBudget = 0, stemRows = 0
    /// The largest block input width (conv1's chunk), the stem width.
    public var maxInput = 0, stemWidth = 0
    /// The row budget at which every block runs in one slice.
    public var wholeRows = 0
    /// Bytes of the chunk buffer before the minimum one step of each use needs.
    public var chunkBudget = 0
    /// Bytes of pass 2's chunk per output step, the largest over the blocks (`passTwoParts`).
    public var passTwoStep = 0
    /// Bytes of the block buffer in use while each block runs (its input and output extent; block
    /// 0: its output and the stem's rows) and elements of conv3's input for that block.
    public var blockExtent: [Int] = [], blockMiddle: [Int] = []
    /// Bytes of each block's squeeze-excitation vectors (beyond its conv3 input).
    public var blockSE: [Int] = []

    public init(config: Net1DConfig, maxLength: Int, rowBudget budget: Int,
                chunkBudget: Int = QuantWorkspace<Int8>.defaultChunkBudget, int8Outputs: Int = 0) {
        self.chunkBudget = chunkBudget
        let stem = ConvShape(inChannels: config.inChannels, outChannels: config.baseFilters, groups: 1,
                             kernel: config.kernelSize, stride: 2)
        var len = stem.outLength(maxLength)
        stemRows = config.inChannels * ((len - 1) * stem.stride + stem.kernel)
        stemWidth = config.baseFilters
        embeddingDim = config.embeddingDim
        var minRows = 0
        let blocks = config.blocks
        let sl = len, first = Self.firstOffset(blockCount: blocks.count, stemLength: len, int8Outputs: int8Outputs) { blocks[$0] }
        var at = first
        for (i, b) in blocks.enumerated() {
            let lo = outLength(len, stride: b.stride)
            wholeRows = max(wholeRows, b.middleChannels * ((lo - 1) * b.stride + b.kernelSize))
            minRows = max(minRows, b.middleChannels * b.kernelSize)
            // Block 0 has no input in the buffer (the stem is recomputed); the others' outputs
            // start `shift` bytes from their inputs.
            let ei = Self.elementBytes(i - 1, int8Outputs: int8Outputs), eo = Self.elementBytes(i, int8Outputs: int8Outputs)
            let shift = i == 0 ? 0 : Self.outputShift(b, inputLength: len, inBytes: ei, outBytes: eo)
            let end = max(i == 0 ? 0 : b.inChannels * len * ei, shift + b.outChannels * lo * eo)
            blockBytes = max(blockBytes, at + end)
            blockExtent.append(end - min(0, shift))
            blockMiddle.append(b.middleChannels * lo)
            at += shift
            middle = max(middle, b.middleChannels * lo)
            blockSE.append(Self.seBytes(b))
            maxInput = max(maxInput, b.inChannels)
            passTwoStep = max(passTwoStep, Self.passTwoParts(outChannels: b.outChannels, int8Output: i < int8Outputs,
                                                            stemColumns: i == 0 ? b.stride * stemWidth : 0).step)
            len = lo
        }
        // At least one output step per slice, at most every block whole.
        rowBudget = min(max(budget, minRows), wholeRows)
        // The stem's padded input rows go beyond block 0's output as pass 2 writes it: once
        // output steps [0, e) are written, later chunks read stem columns from s e - left on,
        // whose first input element is stride * (s e - left).
        let b0 = blocks[0], s0 = b0.stride, left0 = (s0 - 1) / 2, lo0 = outLength(sl, stride: s0)
        let e0 = Self.elementBytes(0, int8Outputs: int8Outputs)
        var rowsAt = first
        for e in 1..<max(lo0, 1) {
            rowsAt = max(rowsAt, first + e * b0.outChannels * e0 - 2 * stem.stride * max(0, e * s0 - left0))
        }
        stemRowsOffset = (rowsAt + 3) & ~3
        blockBytes = max(blockBytes, stemRowsOffset + 2 * stemRows)
        blockExtent[0] = max(blockExtent[0], stemRowsOffset + 2 * stemRows - first)
    }

    /// Bytes per element of block `i`'s output (int8 for the leading `int8Outputs` blocks).
    public static func elementBytes(_ i: Int, int8Outputs: Int) -> Int { i < int8Outputs ? 1 : 2 }

    /// Where block `spec`'s output starts relative to its input in the block buffer, in bytes (a
    /// multiple of 4): 0 where the output may overwrite the input as it goes (output steps
    /// [0, e) take no more room than the input steps they consume, [0, e * stride)), else early
    /// enough that no chunk overwrites input steps a later chunk still reads.
    public static func outputShift(_ spec: BlockSpec, inputLength len: Int, inBytes ei: Int, outBytes eo: Int) -> Int {
        let lo = outLength(len, stride: spec.stride)
        guard lo > 1 else { return 0 }
        let s = spec.stride
        let gain = s * spec.inChannels * ei - spec.outChannels * eo, lead = (s - 1) / 2 * spec.inChannels * ei
        return min(0, min(gain, (lo - 1) * gain) - lead) & ~3
    }

    /// Where block 0's output starts in the block buffer, in bytes: far enough in that no
    /// block's output starts before the buffer.
    public static func firstOffset(blockCount n: Int, stemLength: Int, int8Outputs: Int = 0, spec: (Int) -> BlockSpec) -> Int {
        var len = stemLength, at = 0, lowest = 0
        for i in 0..<n {
            let b = spec(i)
            if i > 0 {
                at += outputShift(b, inputLength: len, inBytes: elementBytes(i - 1, int8Outputs: int8Outputs),
                                  outBytes: elementBytes(i, int8Outputs: int8Outputs))
            }
            lowest = min(lowest, at)
            len = outLength(len, stride: b.stride)
        }
        return -lowest
    }

    /// Pass 2's chunk per output step, in bytes: conv3's int16 outputs from 0, the int8 codes
    /// (int8 outputs) from `codes`, block 0's stem columns (`stemColumns` int16 elements) from
    /// `columns`; each offset times the chunk's steps.
    public static func passTwoParts(outChannels c: Int, int8Output: Bool, stemColumns sc: Int) -> (codes: Int, columns: Int, step: Int) {
        let codes = 2 * c, columns = codes + (int8Output ? (c + 1) & ~1 : 0)
        return (codes, columns, columns + 2 * sc)
    }

    /// Output steps per slice: as many as `rowBudget` rows hold, at least one; even where the
    /// slice does not take the whole layer (the dot products work in pairs of outputs: an odd
    /// count leaves each call a lone last output).
    public static func sliceOutputs(rowBudget: Int, middle m: Int, stride s: Int, kernel k: Int, outLength: Int) -> Int {
        evenSteps(max(1, min(outLength, (rowBudget / m - k) / s + 1)), of: outLength)
    }

    /// `n` steps of `total` a call, one fewer where that makes an odd part count even.
    public static func evenSteps(_ n: Int, of total: Int) -> Int { n < total && n > 2 && n & 1 == 1 ? n - 1 : n }

    /// conv1's input chunk: at most `QuantConv.chunk` steps and `budget` bytes (fewer steps for
    /// wide blocks), at least one step.
    public static func chunkSteps(inputs: Int, actBytes: Int, budget: Int) -> Int {
        max(1, min(QuantConv<Int8>.chunk, budget / (inputs * actBytes)))
    }

    /// Bytes of the chunk buffer: conv1's input chunk (Act codes), the stem's output chunk or
    /// pass 2's chunk, whichever is larger; at least one step of each.
    public func chunkBytes(actBytes: Int) -> Int {
        max(chunkBudget, maxInput * actBytes, QuantConv<Int8>.chunk * stemWidth * 2, passTwoStep)
    }

    /// Bytes of a block's squeeze-excitation vectors: [2 c] scratch, [m] sums, [c] gates (int32).
    public static func seBytes(_ b: BlockSpec) -> Int { seBytes(outChannels: b.outChannels, middleChannels: b.middleChannels) }
    public static func seBytes(outChannels c: Int, middleChannels m: Int) -> Int { (3 * c + m) * 4 }

    /// Bytes of conv3's input with the squeeze-excitation vectors beyond it, the largest over the
    /// blocks (the vectors of the blocks with the longest tensors are short), and at least the
    /// output codes.
    public func middleBytes(actBytes: Int) -> Int {
        var n = embeddingDim * 4
        for i in blockMiddle.indices { n = max(n, middleBytes(block: i, actBytes: actBytes)) }
        return n
    }

    /// Block `i`'s part of that allocation: its conv3 input, 4-byte aligned, and its vectors.
    public func middleBytes(block i: Int, actBytes: Int) -> Int {
        ((blockMiddle[i] * actBytes + 3) & ~3) + blockSE[i]
    }

    /// Bytes of the slice buffers (conv2's rows, 16-byte aligned, and the chunk buffer).
    public func sliceBytes(actBytes: Int) -> Int {
        ((rowBudget * actBytes + 15) & ~15) + chunkBytes(actBytes: actBytes)
    }

    /// Total bytes with `actBytes` per Swish code.
    public func bytes(actBytes: Int) -> Int {
        blockBytes + middleBytes(actBytes: actBytes) + sliceBytes(actBytes: actBytes)
    }
}
