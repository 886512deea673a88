// The firmware application: the host's stream engine and q8 / q16 / f16 engines, built with
// Embedded Swift from the same sources, fed sample by sample from a test signal in flash.
// Prints every emitted embedding as the bit patterns of its floats (so the host can compare bit
// for bit), then memory statistics, and returns the exit status.
import CLEFArch
import CLEFBlob
import CLEFEngine
import CLEFKernels
import CLEFSignal
import CLEFStream
import FirmwareSupport

func hex(_ v: UInt32) {
    let digits: StaticString = "0123456789abcdef"
    var shift: UInt32 = 28
    while true {
        let d = Int((v >> shift) & 15)
        putchar(Int32(digits.utf8Start[d]))
        if shift == 0 { break }
        shift -= 4
    }
}

@_cdecl("clef_firmware_main")
public func firmwareMain() -> Int32 {
    var blobSize = 0
    let blobStart = fw_blob(&blobSize)!
    let blob: BlobReader
    do {
        blob = try BlobReader(UnsafeRawBufferPointer(start: blobStart, count: blobSize))
    } catch {
        print("fw: blob: \(error.field): \(error.reason)")
        return 2
    }
    let engine: Engine
    do { engine = try Engine(blob: blob) } catch {
        print("fw: engine: \(error.field): \(error.reason)")
        return 2
    }
    var signalSize = 0
    let sig = UnsafeRawBufferPointer(start: fw_signal(&signalSize)!, count: signalSize)
    // Header (written by `clef stream --save-signal`): "CLEFSIG1", hop, count, counts per mV,
    // ADC rails, flags (low byte: the preprocessing, 0 exact, 1 float32, 2 fixed point); then
    // int16 counts. All little-endian.
    let header = 32
    guard signalSize >= header, sig.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == 0x3147_4953_4645_4C43 else {
        print("fw: signal: no CLEFSIG1 header")
        return 2
    }
    let hop = Int(sig.loadUnaligned(fromByteOffset: 8, as: Int32.self))
    let count = Int(sig.loadUnaligned(fromByteOffset: 12, as: Int32.self))
    guard hop >= 1, count >= 0, header + 2 * count <= signalSize else {
        print("fw: signal: bad hop or sample count")
        return 2
    }
    var config = StreamConfig()
    config.hop = hop
    config.countsPerMillivolt = Float(bitPattern: sig.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    config.adcMin = sig.loadUnaligned(fromByteOffset: 20, as: Int32.self)
    config.adcMax = sig.loadUnaligned(fromByteOffset: 24, as: Int32.self)
    guard let mode = Preprocessing(rawValue: UInt8(truncatingIfNeeded: sig.loadUnaligned(fromByteOffset: 28, as: UInt32.self))) else {
        print("fw: signal: unknown preprocessing")
        return 2
    }
    config.preprocessing = mode
    // A 16-bit ADC: the ring keeps counts (half the memory of millivolts, the same embeddings).
    if config.railsFitInt16 { config.ring = .counts16 }
    let stream = StreamEngine(engine: engine, config: config)
    print("fw: \(blob.precision.name) engine, hop \(hop), \(count) samples, \(config.preprocessing == .exact ? "exact" : config.preprocessing == .float32 ? "float32" : "fixed") preprocessing, heap \(fw_heap_peak()) B after set-up")
    layerProbe = fw_layer_probe
    let dim = engine.config.embeddingDim
    for i in 0..<count {
        let v = Int32(sig.loadUnaligned(fromByteOffset: header + 2 * i, as: Int16.self))
        let crossing = stream.count + 1 >= config.windowLength && (stream.count + 1 - config.windowLength) % hop == 0
        if crossing { clef_window_begin() }
        let e = stream.push(counts: v)
        if crossing { clef_window_end() }
        guard let e else { continue }
        print("E \(e.sampleCount) \(e.quality.rawValue) \(e.usable ? 1 : 0) \(e.flaggedSamples)")
        if e.usable {
            for c in 0..<dim {
                if c % 16 == 0 { putchar(0x56); putchar(0x20) }   // "V "
                hex(stream.embedding[c].bitPattern)
                putchar(c % 16 == 15 || c == dim - 1 ? 10 : 32)
            }
        }
    }
    print("M heap \(fw_heap_peak()) stack \(fw_stack_peak()) static \(fw_static_ram())")
    print("fw: done")
    return 0
}
