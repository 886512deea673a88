import CLEFArch
import CLEFSignal
import CLEFEngine

/// The encoder fed one sample at a time, as on a wearable: a ring buffer of the last window, and
/// every `hop` samples the embedding of the latest full window after the training
/// preprocessing, with a signal-quality verdict. No allocation after set-up; non-finite samples
/// never reach the encoder. Embedded-Swift-clean.
public struct SignalQuality: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Samples that never arrived (dropped), replaced by the last good value.
    public static let missing = SignalQuality(rawValue: 1)
    /// NaN or infinite samples, replaced by the last good value.
    public static let nonFinite = SignalQuality(rawValue: 2)
    /// Samples at the ADC rails.
    public static let clipped = SignalQuality(rawValue: 4)
    /// A flat run (electrode off) of at least `flatRunSamples`.
    public static let leadOff = SignalQuality(rawValue: 8)
    // (Four flags: the stream's ring keeps them in 4 bits per sample.)

    public var isClean: Bool { rawValue == 0 }
}

public struct StreamConfig: Sendable {
    public var windowLength = 5000
    public var hop = 500
    /// ADC counts per millivolt, and the ADC rails (counts at or beyond them are clipped).
    public var countsPerMillivolt: Float = 1000
    public var adcMin: Int32 = -32768
    public var adcMax: Int32 = 32767
    /// A run of identical samples this long (0.5 s) means the electrode is off.
    public var flatRunSamples = 250
    /// A window with more than this fraction of missing, non-finite or flat samples is unusable.
    public var unusableFraction: Float = 0.1
    /// The band-pass: scipy-exact (default, what CLEF trains with) or the float32 device path.
    public var preprocessing: Preprocessing = .exact
    /// What the ring buffer holds: millivolts as float32 (any source), or ADC counts as int16
    /// (half the memory, for a 16-bit ADC: the rails must lie within int16). Both give the same
    /// embeddings for counts: a window's millivolts are Float(counts) / countsPerMillivolt either
    /// way. Millivolt samples pushed into a counts ring are rounded to the nearest count.
    public var ring: RingFormat = .float32
    public init() {}

    /// True when the ADC rails fit a `.counts16` ring.
    public var railsFitInt16: Bool { adcMin >= -32768 && adcMax <= 32767 }
}

public enum RingFormat: UInt8, Sendable {
    case float32 = 0, counts16 = 1
}

public struct Emission {
    /// Samples pushed so far (the window ends here).
    public var sampleCount: Int
    public var quality: SignalQuality
    /// False: the window was not embedded (too much of it is missing, non-finite or flat).
    public var usable: Bool
    /// Samples of the window that were flagged.
    public var flaggedSamples: Int
    /// The blob's heads on this window's embedding (nil without the head or when unusable).
    public var heartRate: Float? = nil
    public var afProbability: Float? = nil
}

public final class StreamEngine {
    public let engine: Engine
    public let config: StreamConfig
    /// The last window: millivolts (`.float32`) or ADC counts (`.counts16`), one of them allocated.
    let ringMillivolts: UnsafeMutablePointer<Float>?
    let ringCounts: UnsafeMutablePointer<Int16>?
    /// Each sample's quality flags (4 bits), two samples per byte.
    let flags: UnsafeMutablePointer<UInt8>
    /// Own encoder input buffer, when the engine's arena cannot lend one (float engines).
    let ownedInput: UnsafeMutablePointer<Float>?
    let inputCount: Int
    public let embedding: UnsafeMutablePointer<Float>
    let preprocessor: WindowPreprocessor
    let workspace: EngineWorkspace
    var head = 0
    public private(set) var count = 0
    var lastGood: Float = 0
    var lastGoodCount: Int16 = 0
    var runLength = 0
    var previous: Float = .nan

    /// Heads evaluated on every usable emission (none by default).
    public let heads: LinearHeads?

    public init(engine: Engine, config: StreamConfig, heads: LinearHeads? = nil) {
        self.heads = heads
        precondition(config.hop >= 1 && config.windowLength >= 64, "hop >= 1 and window >= 64 samples")
        precondition(config.ring == .float32 || config.railsFitInt16, "a counts16 ring needs ADC rails within int16")
        self.engine = engine
        self.config = config
        let n = config.windowLength
        if config.ring == .counts16 {
            let r = UnsafeMutablePointer<Int16>.allocate(capacity: n)
            r.initialize(repeating: 0, count: n)
            ringCounts = r; ringMillivolts = nil
        } else {
            let r = UnsafeMutablePointer<Float>.allocate(capacity: n)
            r.initialize(repeating: 0, count: n)
            ringMillivolts = r; ringCounts = nil
        }
        flags = .allocate(capacity: (n + 1) / 2); flags.initialize(repeating: 0, count: (n + 1) / 2)
        embedding = .allocate(capacity: engine.config.embeddingDim)
        embedding.initialize(repeating: 0, count: engine.config.embeddingDim)
        preprocessor = WindowPreprocessor(length: n, mode: config.preprocessing, padded: true)
        workspace = EngineWorkspace(engine: engine, maxLength: n)
        inputCount = n * engine.config.inChannels + 2 * preprocessor.padding
        if workspace.inputScratch(count: inputCount) != nil {
            ownedInput = nil
        } else {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: inputCount)
            p.initialize(repeating: 0, count: inputCount)
            ownedInput = p
        }
    }

    /// The encoder input (the window, preprocessed in place), `preprocessor.padding` floats of
    /// room on each side. Lent by the integer engines' arena, which the encoder then overwrites:
    /// asked for again (rebinding the memory to Float) for every window, never kept.
    func inputBuffer() -> UnsafeMutablePointer<Float> {
        (ownedInput ?? workspace.inputScratch(count: inputCount)!) + preprocessor.padding
    }

    deinit {
        ringMillivolts?.deallocate(); ringCounts?.deallocate(); flags.deallocate(); ownedInput?.deallocate()
        embedding.deallocate()
    }

    /// One ADC sample in counts.
    public func push(counts: Int32) -> Emission? {
        var f: UInt8 = 0
        if counts <= config.adcMin || counts >= config.adcMax { f |= SignalQuality.clipped.rawValue }
        if ringCounts != nil {
            // A counts ring's rails lie within int16: counts beyond it are clipped samples anyway.
            let c = Int16(clamping: counts)
            return store(floatValue(Int32(c)) / config.countsPerMillivolt, count: c, flags: f)
        }
        return store(floatValue(counts) / config.countsPerMillivolt, count: 0, flags: f)
    }

    /// One sample in millivolts; NaN or infinity is flagged and replaced by the last good value.
    public func push(millivolts v: Float) -> Emission? {
        if !v.isFinite { return store(lastGood, count: lastGoodCount, flags: SignalQuality.nonFinite.rawValue) }
        if ringCounts != nil {
            let c = Int16(clamping: Int32(max(-40000, min(40000, (v * config.countsPerMillivolt).rounded()))))
            return store(floatValue(Int32(c)) / config.countsPerMillivolt, count: c, flags: 0)
        }
        return store(v, count: 0, flags: 0)
    }

    /// A sample that never arrived (a dropped packet): flagged, held at the last good value.
    public func pushMissing() -> Emission? { store(lastGood, count: lastGoodCount, flags: SignalQuality.missing.rawValue) }

    /// `v` in millivolts, `c` the same sample in counts (used by a counts ring).
    func store(_ v: Float, count c: Int16, flags f: UInt8) -> Emission? {
        var f = f
        if f & (SignalQuality.missing.rawValue | SignalQuality.nonFinite.rawValue) == 0 { lastGood = v; lastGoodCount = c }
        runLength = (v == previous) ? runLength + 1 : 1
        previous = v
        if runLength >= config.flatRunSamples { f |= SignalQuality.leadOff.rawValue }
        if let r = ringCounts { r[head] = c } else { ringMillivolts![head] = v }
        let shift = UInt8(head & 1) * 4
        flags[head >> 1] = (flags[head >> 1] & ~(0x0F << shift)) | (f << shift)
        head = head + 1 == config.windowLength ? 0 : head + 1
        count += 1
        guard count >= config.windowLength, (count - config.windowLength) % config.hop == 0 else { return nil }
        return emit()
    }

    /// Embeds the latest window into `embedding` (unless unusable).
    func emit() -> Emission {
        let n = config.windowLength
        let input = inputBuffer()
        var quality: UInt8 = 0
        var bad = 0
        // The ring unrolled into the encoder input (preprocessed there in place), oldest first:
        // from the head to the ring's end, then from its start.
        let older = n - head
        if let r = ringCounts {
            let perMillivolt = config.countsPerMillivolt
            for i in 0..<older { input[i] = floatValue(Int32(r[head + i])) / perMillivolt }
            for i in older..<n { input[i] = floatValue(Int32(r[i - older])) / perMillivolt }
        } else {
            let r = ringMillivolts!
            input.update(from: r + head, count: older)
            (input + older).update(from: r, count: head)
        }
        // The window is the whole ring, so every sample's flags count once, in any order: two a
        // byte (an odd window's last high nibble is never written, so 0).
        let unusable = SignalQuality.missing.rawValue | SignalQuality.nonFinite.rawValue | SignalQuality.leadOff.rawValue
        for b in 0..<((n + 1) / 2) {
            let low = flags[b] & 0x0F, high = flags[b] >> 4
            quality |= low | high
            bad += (low & unusable != 0 ? 1 : 0) + (high & unusable != 0 ? 1 : 0)
        }
        let usable = Float(bad) <= config.unusableFraction * Float(n)
        if usable { embedWindow(input, into: embedding) }
        var e = Emission(sampleCount: count, quality: SignalQuality(rawValue: quality), usable: usable, flaggedSamples: bad)
        if usable, let heads {
            e.heartRate = heads.bpm(embedding)
            e.afProbability = heads.afProbability(embedding)
        }
        return e
    }

    /// The batch path the stream is checked against: preprocess one window of millivolts and embed it.
    public func embedWindow(_ mv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let n = config.windowLength
        let input = inputBuffer()
        if mv != UnsafePointer(input) { input.update(from: mv, count: n) }
        preprocessor.runPadded(input - preprocessor.padding)
        // Only lead I is streamed: other input channels (if the model has any) are zero (set after
        // the band-pass, whose right padding runs into channel 1's place).
        (input + n).update(repeating: 0, count: n * (engine.config.inChannels - 1))
        engine.embed(input, length: n, workspace: workspace, output: out)
    }
}
