import CLEFArch
import CLEFBlob
import CLEFFloat
import CLEFQuant
import CLEFKernels

/// One encoder built from a weight blob, whatever its precision; enum dispatch, no existentials.
/// Embedded-Swift-clean: `embed` allocates nothing (all buffers live in the `EngineWorkspace`).
public enum Engine {
    case f32(Net1DFloat)
    case f16(Net1DFloat)
    case q8(QuantEncoder<Int8>)
    case q16(QuantEncoder<Int16>)

    @inline(never)
    public init(blob: BlobReader) throws(BlobError) {
        switch blob.precision {
        case .f32, .f16: self = try Self.float(blob)
        case .q8: self = .q8(try QuantEncoder<Int8>(blob: blob))
        case .q16: self = .q16(try QuantEncoder<Int16>(blob: blob))
        }
    }

    /// The float engines, weights decoded into arrays. Out of line, so that the integer
    /// engines' set-up does not carry this path's stack frame (the firmware's deepest).
    @inline(never)
    static func float(_ blob: BlobReader) throws(BlobError) -> Engine {
        let half = blob.precision == .f16
        var missing: BlobError?
        do {
            var net = try Net1DFloat(config: blob.config) { name in
                guard let t = blob.tensor(name) else { missing = BlobError("tensor '\(name)'", "missing"); return nil }
                guard t.dtype == (half ? .f16 : .f32) else {
                    missing = BlobError("tensor '\(name)'", "has dtype \(t.dtype), expected \(half ? "f16" : "f32")")
                    return nil
                }
                if half {
                    let p = blob.pointer(t, as: UInt16.self)
                    return (0..<t.elementCount).map { Float(Float16(bitPattern: UInt16(littleEndian: p[$0]))) }
                }
                let p = blob.pointer(t, as: UInt32.self)
                return (0..<t.elementCount).map { Float(bitPattern: UInt32(littleEndian: p[$0])) }
            }
            net.roundToHalf = half
            return half ? .f16(net) : .f32(net)
        } catch {
            if let missing { throw missing }
            throw BlobError("weights", "\(error)")
        }
    }

    public var config: Net1DConfig {
        switch self {
        case .f32(let n), .f16(let n): return n.config
        case .q8(let q): return q.config
        case .q16(let q): return q.config
        }
    }

    public var precision: BlobPrecision {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .q8: return .q8
        case .q16: return .q16
        }
    }

    /// Peak activation memory of `forward` for windows of `length` samples, in bytes: with this
    /// build's slice and chunk budgets, or (`device`) with those of a microcontroller build.
    public func arenaBytes(length: Int, device: Bool = false) -> Int {
        func quant(_ actBytes: Int) -> Int {
            arenaPlan(length: length, device: device)!.bytes(actBytes: actBytes)
        }
        switch self {
        case .f32: return FloatWorkspace(config: config, maxLength: length).floatCount * 4
        case .f16: return FloatWorkspace(config: config, maxLength: length).floatCount * 2
        case .q8: return quant(1)
        case .q16: return quant(2)
        }
    }

    /// The integer engines' arena plan (nil for the float engines), with this build's slice and
    /// chunk budgets or (`device`) a microcontroller build's.
    public func arenaPlan(length: Int, device: Bool = false) -> QuantArenaPlan? {
        let int8Outputs: Int
        switch self {
        case .f32, .f16: return nil
        case .q8(let q): int8Outputs = q.int8Outputs
        case .q16(let q): int8Outputs = q.int8Outputs
        }
        return QuantArenaPlan(config: config, maxLength: length,
                              rowBudget: device ? QuantWorkspace<Int8>.deviceRowBudget : QuantWorkspace<Int8>.defaultRowBudget,
                              chunkBudget: device ? QuantWorkspace<Int8>.deviceChunkBudget : QuantWorkspace<Int8>.defaultChunkBudget,
                              int8Outputs: int8Outputs)
    }

    /// Embeds one preprocessed window [inChannels][length] of floats into [embeddingDim] floats.
    /// Integer engines quantise the input to int16 codes first and dequantise the int32 output
    /// codes last: both conversions are at the boundary, the inference itself is integer-only.
    public func embed(_ input: UnsafePointer<Float>, length: Int, workspace: EngineWorkspace,
                      output: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32(let n):
            n.forward(input, length: length, workspace: workspace.float!, output: output)
        case .f16(let n):
            let ws = workspace.float!
            let count = config.inChannels * length
            workspace.halfInput.update(from: input, count: count)
            roundInputToHalf(workspace.halfInput, count)
            n.forward(workspace.halfInput, length: length, workspace: ws, output: output)
        case .q8(let q):
            let ws = workspace.q8!
            for c in 0..<config.inChannels {
                Self.quantize(input + c * length, count: length, scale: q.inputScale, into: q.inputRow(c, length: length, workspace: ws))
            }
            q.forwardPrepared(length: length, workspace: ws, output: ws.outputCodes)
            for c in 0..<q.embeddingDim { output[c] = Float(ws.outputCodes[c]) * q.outputScale }
        case .q16(let q):
            let ws = workspace.q16!
            for c in 0..<config.inChannels {
                Self.quantize(input + c * length, count: length, scale: q.inputScale, into: q.inputRow(c, length: length, workspace: ws))
            }
            q.forwardPrepared(length: length, workspace: ws, output: ws.outputCodes)
            for c in 0..<q.embeddingDim { output[c] = Float(ws.outputCodes[c]) * q.outputScale }
        }
    }

    /// Float input -> int16 codes, written straight into the encoder's padded input rows: the
    /// nearest code, ties to even, clamped to int16, NaN as 0. Clamped first, then rounded on the
    /// float grid: for |c| <= 2^15, c + 1.5 * 2^23 lies where floats are the integers, so the add
    /// rounds c to an integer (ties to even: the constant is even) and the subtraction is exact,
    /// the same value as `rounded(.toNearestOrEven)`, which a Cortex-M4F calls `rintf` for (32
    /// instructions a sample, 0.16 M a window).
    public static func quantize(_ x: UnsafePointer<Float>, count: Int, scale: Float, into codes: UnsafeMutablePointer<Int16>) {
        let inv = 1 / scale, magic: Float = 12_582_912
        for i in 0..<count {
            let v = x[i] * inv
            let c = v.isNaN ? 0 : max(-32768, min(32767, v))
            codes[i] = Int16((c + magic) - magic)
        }
    }

    func roundInputToHalf(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = Float(Float16(p[i])) }
    }
}

/// Buffers for one `Engine` and windows up to `maxLength` samples.
public final class EngineWorkspace {
    public let maxLength: Int
    let float: FloatWorkspace?
    let q8: QuantWorkspace<Int8>?
    let q16: QuantWorkspace<Int16>?
    let halfInput: UnsafeMutablePointer<Float>

    public init(engine: Engine, maxLength: Int) {
        self.maxLength = maxLength
        let c = engine.config
        switch engine {
        case .f32, .f16:
            float = FloatWorkspace(config: c, maxLength: maxLength); q8 = nil; q16 = nil
        case .q8(let q):
            float = nil; q8 = QuantWorkspace(config: c, maxLength: maxLength, int8Outputs: q.int8Outputs); q16 = nil
        case .q16(let q):
            float = nil; q8 = nil; q16 = QuantWorkspace(config: c, maxLength: maxLength, int8Outputs: q.int8Outputs)
        }
        // Only the f16 engine rounds its input in a copy (the integer engines quantise theirs
        // straight into their arena).
        let halfCount = engine.precision == .f16 ? c.inChannels * maxLength : 1
        halfInput = .allocate(capacity: halfCount)
        halfInput.initialize(repeating: 0, count: halfCount)
    }

    deinit {
        halfInput.deallocate()
    }

    /// Floats a caller may fill and pass to `embed` as its input (embed reads them before it
    /// overwrites them): part of the integer engines' arena, idle between windows, so a stream
    /// needs no input buffer of its own. nil for the float engines or if `count` does not fit.
    public func inputScratch(count: Int) -> UnsafeMutablePointer<Float>? {
        q8?.floatScratch(count: count) ?? q16?.floatScratch(count: count)
    }
}
