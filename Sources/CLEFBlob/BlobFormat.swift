import CLEFArch

/// The CLEF weight blob: one little-endian file a microcontroller uses in place from flash.
/// Layout and rules are in docs/blob-format.md. Embedded-Swift-clean: the reader works on a raw
/// byte buffer, copies nothing and validates everything before use.

public enum BlobPrecision: UInt8, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q8 = 2, q16 = 3

    public var name: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .q8: return "q8"
        case .q16: return "q16"
        }
    }

    public static func named(_ s: String) -> BlobPrecision? {
        for p in allCases where p.name == s { return p }
        return nil
    }
}

public enum BlobDType: UInt8, Sendable {
    /// `i4` (format version 4): two's-complement 4-bit values, two a byte (the even element in
    /// the low nibble), each row of the last dimension starting on a byte.
    case f32 = 0, f16 = 1, i8 = 2, i16 = 3, i32 = 4, i4 = 5

    /// Bytes of one element (`i4`: 1, the byte a lone value takes; use `byteCount`).
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .i16: return 2
        case .i8, .i4: return 1
        }
    }

    /// Bytes of a tensor of `count` elements whose last dimension is `last` (1 for rank 0).
    public func byteCount(elements count: Int, last: Int) -> Int {
        guard self == .i4 else { return count * byteSize }
        return last == 0 ? 0 : count / last * ((last + 1) / 2)
    }
}

public enum BlobConstants {
    public static let magic: [UInt8] = [0x43, 0x4C, 0x45, 0x46, 0x42, 0x4C, 0x4F, 0x42]   // "CLEFBLOB"
    /// 2 (session 6): q8 blobs may carry int8 block outputs (`<block>.output_codes`), which a
    /// version-1 reader would silently misread. 3 (session 8): q16 blobs carry per-channel int16
    /// block outputs (`<block>.output_channels`), the same for a version-2 reader. Older files
    /// still load; a tensor newer than its file's version is refused (`QuantEncoder`). 4 (session
    /// 11): the `i4` dtype (4-bit squeeze-excitation weights), refused in older files, and
    /// names as a shared prefix plus a suffix (entry bytes 40...45, reserved zeros before).
    public static let version: UInt16 = 4
    public static let oldestVersion: UInt16 = 1
    public static let headerSize = 64
    public static let tensorEntrySize = 48
    public static let alignment = 16
    public static let maxRank = 4
    public static let maxTensors = 100_000
}

/// What is wrong with a blob: the field and the reason.
public struct BlobError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { field + ": " + reason }
}

/// One entry of the tensor table.
public struct BlobTensor: Equatable {
    public var name: String
    public var dtype: BlobDType
    public var shape: [Int]
    /// Offset from the start of the file.
    public var offset: Int
    public var byteCount: Int
    /// Quantization scale and zero point (0 / 0 where not quantized).
    public var scale: Float
    public var zeroPoint: Int32
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A validated blob over caller-owned bytes (which must outlive it and stay unchanged).
public struct BlobReader {
    public let bytes: UnsafeRawBufferPointer
    /// The file's format version (`BlobConstants.oldestVersion ... version`).
    public let version: Int
    public let precision: BlobPrecision
    public let config: Net1DConfig
    public let size: ModelSize
    /// Window length the activation arena was planned for.
    public let plannedLength: Int
    public let tensorCount: Int
    /// Where the tensor table, string table and data section start (validated by `init`).
    let tableOffset: Int, stringOffset: Int, stringLength: Int, dataOffset: Int, dataLength: Int

    public init(_ bytes: UnsafeRawBufferPointer) throws(BlobError) {
        self.bytes = bytes
        let n = bytes.count
        guard n >= BlobConstants.headerSize + 4 else { throw BlobError("header", "file is \(n) bytes, shorter than a header") }
        for i in 0..<8 where bytes[i] != BlobConstants.magic[i] {
            throw BlobError("magic", "not a CLEF weight blob (expected 'CLEFBLOB')")
        }
        func u8(_ o: Int) -> Int { Int(bytes[o]) }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        version = u16(8)
        guard version >= Int(BlobConstants.oldestVersion) && version <= Int(BlobConstants.version) else {
            throw BlobError("version", version > Int(BlobConstants.version)
                ? "format version \(version) is newer than this reader (version \(BlobConstants.version)); update clef"
                : "format version \(version) is not supported")
        }
        guard u16(10) == BlobConstants.headerSize else { throw BlobError("header size", "\(u16(10)), expected \(BlobConstants.headerSize)") }
        let fileBytes = u32(56)
        guard fileBytes == n else {
            throw BlobError("file size", "header says \(fileBytes) bytes but the buffer has \(n) (truncated or padded)")
        }
        let stored = UInt32(truncatingIfNeeded: u32(n - 4))
        let crc = crc32(UnsafeRawBufferPointer(rebasing: bytes[0..<(n - 4)]))
        guard stored == crc else { throw BlobError("crc32", "checksum mismatch: the file is corrupt") }
        guard let prec = BlobPrecision(rawValue: bytes[12]) else { throw BlobError("precision", "unknown code \(bytes[12])") }
        precision = prec
        guard let sz = ModelSize(rawValue: bytes[13]) else { throw BlobError("model size", "unknown code \(bytes[13])") }
        size = sz
        let preset = Net1DConfig.preset(sz, inChannels: u16(16))
        let stageCount = u16(24)
        let tensorCount = u32(28)
        let stageOff = u32(32), tableOff = u32(36), strOff = u32(40), strLen = u32(44)
        let dataOff = u32(48), dataLen = u32(52)
        plannedLength = u32(60)
        guard u16(16) >= 1 && u16(16) <= 64 else { throw BlobError("in_channels", "\(u16(16)) is outside 1...64") }
        guard u8(14) == preset.kernelSize, u8(15) == preset.stageStride, u16(18) == preset.baseFilters,
              u8(20) == preset.ratioNumerator, u8(21) == preset.ratioDenominator, u16(22) == preset.groupsWidth,
              stageCount == preset.filterList.count else {
            throw BlobError("architecture", "header fields do not describe a CLEF-\(sz.name) encoder")
        }
        guard stageOff >= BlobConstants.headerSize, stageOff + 4 * stageCount <= n - 4 else {
            throw BlobError("stage table", "offset \(stageOff) lies outside the file")
        }
        for s in 0..<stageCount where u16(stageOff + 4 * s) != preset.filterList[s] || u16(stageOff + 4 * s + 2) != preset.blocksPerStage[s] {
            throw BlobError("stage table", "stage \(s) (\(u16(stageOff + 4 * s)) filters, \(u16(stageOff + 4 * s + 2)) blocks) does not match CLEF-\(sz.name)")
        }
        config = preset
        guard plannedLength >= 1 && plannedLength <= 1 << 24 else { throw BlobError("planned length", "\(plannedLength) is absurd") }
        guard tensorCount <= BlobConstants.maxTensors else { throw BlobError("tensor count", "\(tensorCount) is absurd") }
        guard tableOff % 4 == 0, tableOff >= BlobConstants.headerSize,
              tableOff + tensorCount * BlobConstants.tensorEntrySize <= n - 4 else {
            throw BlobError("tensor table", "offset \(tableOff) with \(tensorCount) entries lies outside the file or is misaligned")
        }
        guard strOff + strLen <= n - 4 else { throw BlobError("string table", "lies outside the file") }
        guard dataOff % BlobConstants.alignment == 0, dataOff + dataLen <= n - 4 else {
            throw BlobError("data section", "offset \(dataOff) is misaligned or the section lies outside the file")
        }
        self.tensorCount = tensorCount
        self.tableOffset = tableOff
        self.stringOffset = strOff
        self.stringLength = strLen
        self.dataOffset = dataOff
        self.dataLength = dataLen
        // Every entry is validated now; lookups later decode entries in place, so the table
        // costs no memory (a firmware image reads it from flash).
        for t in 0..<tensorCount { _ = try entry(t) }
    }

    /// Entry `i` of the tensor table, decoded and checked.
    public func entry(_ i: Int) throws(BlobError) -> BlobTensor {
        func u8(_ o: Int) -> Int { Int(bytes[o]) }
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        let e = tableOffset + i * BlobConstants.tensorEntrySize
        let (pre, suf) = nameParts(e)
        guard suf.count > 0, pre.upperBound <= stringLength, suf.upperBound <= stringLength else {
            throw BlobError("tensor \(i) name", "lies outside the string table")
        }
        func text(_ r: Range<Int>) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(stringOffset + r.lowerBound)..<(stringOffset + r.upperBound)]), as: UTF8.self)
        }
        let name = text(pre) + text(suf)
        guard let dtype = BlobDType(rawValue: bytes[e + 6]) else { throw BlobError("tensor '\(name)' dtype", "unknown code \(bytes[e + 6])") }
        guard dtype != .i4 || version >= 4 else { throw BlobError("tensor '\(name)' dtype", "i4 needs format version 4, the file says \(version)") }
        let rank = u8(e + 7)
        guard rank <= BlobConstants.maxRank else { throw BlobError("tensor '\(name)' rank", "\(rank) exceeds \(BlobConstants.maxRank)") }
        var shape: [Int] = []
        var count = 1
        for d in 0..<rank {
            let v = u32(e + 8 + 4 * d)
            let (c, o) = count.multipliedReportingOverflow(by: v)
            guard !o, c <= dataLength else { throw BlobError("tensor '\(name)' shape", "dimensions are absurd (more elements than the data section holds)") }
            count = c
            shape.append(v)
        }
        let off = u32(e + 24), len = u32(e + 28)
        let need = dtype.byteCount(elements: count, last: shape.last ?? 1)
        guard len == need else {
            throw BlobError("tensor '\(name)' size", "\(len) bytes, but shape \(shape) of \(dtype) needs \(need)")
        }
        guard off % BlobConstants.alignment == 0 else { throw BlobError("tensor '\(name)' offset", "\(off) is not \(BlobConstants.alignment)-byte aligned") }
        guard off + len <= dataLength else { throw BlobError("tensor '\(name)' data", "runs past the data section") }
        let scale = Float(bitPattern: UInt32(truncatingIfNeeded: u32(e + 32)))
        let zp = Int32(truncatingIfNeeded: u32(e + 36))
        guard scale.isFinite, scale >= 0 else { throw BlobError("tensor '\(name)' scale", "is not a finite non-negative number") }
        return BlobTensor(name: name, dtype: dtype, shape: shape, offset: dataOffset + off, byteCount: len, scale: scale, zeroPoint: zp)
    }

    /// Where entry `e`'s name lies in the string table: a prefix (version 4; older files have
    /// reserved zeros there, an empty prefix) and the rest. Ranges are unchecked (`entry` checks them).
    func nameParts(_ e: Int) -> (prefix: Range<Int>, suffix: Range<Int>) {
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        return (u32(e + 40)..<(u32(e + 40) + u16(e + 44)), u32(e)..<(u32(e) + u16(e + 4)))
    }

    /// Every tensor, in table order (decoded on each call).
    public var tensors: [BlobTensor] {
        var list: [BlobTensor] = []
        for i in 0..<tensorCount { if let t = try? entry(i) { list.append(t) } }
        return list
    }

    public func tensor(_ name: String) -> BlobTensor? {
        // Names compared as bytes in place: String == needs the Unicode normalisation tables,
        // which a firmware image would have to link (and names are ASCII). The name's UTF-8 is
        // taken contiguous once: iterating a String's UTF8View per entry cost a firmware image
        // about 25 M instructions at start-up.
        var name = name
        return name.withUTF8 { want -> BlobTensor? in
            for i in 0..<tensorCount {
                let (pre, suf) = nameParts(tableOffset + i * BlobConstants.tensorEntrySize)
                guard pre.count + suf.count == want.count else { continue }
                // Prefix then suffix against the wanted bytes (no array: this runs on a device).
                func matches(_ r: Range<Int>, at k: Int) -> Bool {
                    var j = 0
                    while j < r.count && bytes[stringOffset + r.lowerBound + j] == want[k + j] { j += 1 }
                    return j == r.count
                }
                if matches(pre, at: 0) && matches(suf, at: pre.count) { return try? entry(i) }
            }
            return nil
        }
    }

    /// The tensor `name`, which must have `dtype` and `shape`.
    public func require(_ name: String, _ dtype: BlobDType, _ shape: [Int]) throws(BlobError) -> BlobTensor {
        try require(tensor(name), named: name, dtype, shape)
    }

    /// `require` of a tensor already looked up (a lookup walks the table comparing names; callers
    /// that first read its dtype or shape to choose what to expect need not walk it again).
    public func require(_ found: BlobTensor?, named name: String, _ dtype: BlobDType, _ shape: [Int]) throws(BlobError) -> BlobTensor {
        guard let t = found else { throw BlobError("tensor '\(name)'", "missing") }
        guard t.dtype == dtype, t.shape == shape else {
            throw BlobError("tensor '\(name)'", "is \(t.dtype) \(t.shape), expected \(dtype) \(shape)")
        }
        return t
    }

    public func pointer<T>(_ t: BlobTensor, as: T.Type) -> UnsafePointer<T> {
        (bytes.baseAddress! + t.offset).assumingMemoryBound(to: T.self)
    }
}

/// Builds a blob (host side, but Foundation-free).
public struct BlobWriter {
    public let precision: BlobPrecision
    public let size: ModelSize
    public let config: Net1DConfig
    public let plannedLength: Int
    private var entries: [(BlobTensor, [UInt8])] = []

    public init(precision: BlobPrecision, size: ModelSize, inChannels: Int, plannedLength: Int = 5000) {
        self.precision = precision
        self.size = size
        config = Net1DConfig.preset(size, inChannels: inChannels)
        self.plannedLength = plannedLength
    }

    public mutating func add(_ name: String, _ dtype: BlobDType, _ shape: [Int], bytes: [UInt8], scale: Float = 0, zeroPoint: Int32 = 0) {
        precondition(bytes.count == dtype.byteCount(elements: shape.reduce(1, *), last: shape.last ?? 1),
                     "tensor \(name): byte count does not match shape")
        entries.append((BlobTensor(name: name, dtype: dtype, shape: shape, offset: 0, byteCount: bytes.count,
                                   scale: scale, zeroPoint: zeroPoint), bytes))
    }

    /// A writer holding every tensor of `blob` except those `dropping` names (to add or
    /// replace some, e.g. the downstream heads).
    public init(copying blob: BlobReader, dropping: (String) -> Bool = { _ in false }) {
        self.init(precision: blob.precision, size: blob.size, inChannels: blob.config.inChannels,
                  plannedLength: blob.plannedLength)
        for t in blob.tensors where !dropping(t.name) {
            let start = blob.bytes.baseAddress! + t.offset
            add(t.name, t.dtype, t.shape, bytes: Array(UnsafeRawBufferPointer(start: start, count: t.byteCount)),
                scale: t.scale, zeroPoint: t.zeroPoint)
        }
    }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        add(name, .f32, shape, bytes: littleEndianBytes(floats.map { $0.bitPattern }))
    }
    public mutating func add(_ name: String, halves: [Float], shape: [Int]) {
        add(name, .f16, shape, bytes: littleEndianBytes(halves.map { Float16($0).bitPattern }))
    }
    public mutating func add(_ name: String, int8 v: [Int8], shape: [Int], scale: Float = 0, zeroPoint: Int32 = 0) {
        add(name, .i8, shape, bytes: v.map { UInt8(bitPattern: $0) }, scale: scale, zeroPoint: zeroPoint)
    }
    /// Values in -8...7, packed two a byte per row of the last dimension (`BlobDType.i4`).
    public mutating func add(_ name: String, int4 v: [Int8], shape: [Int]) {
        let last = shape.last ?? 1
        precondition(v.allSatisfy { $0 >= -8 && $0 <= 7 } && last > 0 && v.count % last == 0, "tensor \(name): not 4-bit rows")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(v.count / last * ((last + 1) / 2))
        for r in stride(from: 0, to: v.count, by: last) {
            for j in stride(from: 0, to: last, by: 2) {
                let lo = UInt8(bitPattern: v[r + j]) & 0x0F
                let hi = j + 1 < last ? UInt8(bitPattern: v[r + j + 1]) & 0x0F : 0
                bytes.append(lo | hi << 4)
            }
        }
        add(name, .i4, shape, bytes: bytes)
    }
    public mutating func add(_ name: String, int16 v: [Int16], shape: [Int], scale: Float = 0, zeroPoint: Int32 = 0) {
        add(name, .i16, shape, bytes: littleEndianBytes(v.map { UInt16(bitPattern: $0) }), scale: scale, zeroPoint: zeroPoint)
    }
    public mutating func add(_ name: String, int32 v: [Int32], shape: [Int], scale: Float = 0, zeroPoint: Int32 = 0) {
        add(name, .i32, shape, bytes: littleEndianBytes(v.map { UInt32(bitPattern: $0) }), scale: scale, zeroPoint: zeroPoint)
    }

    /// The finished file.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: BlobConstants.headerSize)
        func put16(_ o: Int, _ v: Int) { out[o] = UInt8(v & 0xFF); out[o + 1] = UInt8((v >> 8) & 0xFF) }
        func put32(_ o: Int, _ v: Int) { put16(o, v & 0xFFFF); put16(o + 2, (v >> 16) & 0xFFFF) }
        func pad(to a: Int) { while out.count % a != 0 { out.append(0) } }
        for i in 0..<8 { out[i] = BlobConstants.magic[i] }
        put16(8, Int(BlobConstants.version)); put16(10, BlobConstants.headerSize)
        out[12] = precision.rawValue; out[13] = size.rawValue
        out[14] = UInt8(config.kernelSize); out[15] = UInt8(config.stageStride)
        put16(16, config.inChannels); put16(18, config.baseFilters)
        out[20] = UInt8(config.ratioNumerator); out[21] = UInt8(config.ratioDenominator)
        put16(22, config.groupsWidth); put16(24, config.filterList.count)
        put32(28, entries.count); put32(60, plannedLength)
        // Stage table.
        put32(32, out.count)
        for (f, b) in zip(config.filterList, config.blocksPerStage) {
            out += [UInt8(f & 0xFF), UInt8(f >> 8), UInt8(b & 0xFF), UInt8(b >> 8)]
        }
        pad(to: 4)
        // String table (names), then tensor table, then data. A name is stored as a prefix (up to
        // and including its 4th '.', `stage_list.S.block_list.B.`, which a block's tensors share)
        // and the rest; each distinct string once.
        var strings: [UInt8] = []
        var stored: [String: Int] = [:]
        func intern(_ s: Substring) -> (Int, Int) {
            let key = String(s)
            if let o = stored[key] { return (o, s.utf8.count) }
            stored[key] = strings.count
            strings += Array(s.utf8)
            return (strings.count - s.utf8.count, s.utf8.count)
        }
        var nameParts: [(prefix: (Int, Int), suffix: (Int, Int))] = []
        for (t, _) in entries {
            let dots = t.name.indices.filter { t.name[$0] == "." }
            let cut = dots.count >= 4 && t.name.index(after: dots[3]) < t.name.endIndex ? t.name.index(after: dots[3]) : t.name.startIndex
            nameParts.append((cut == t.name.startIndex ? (0, 0) : intern(t.name[..<cut]), intern(t.name[cut...])))
        }
        let tableOff = out.count
        put32(36, tableOff)
        out += [UInt8](repeating: 0, count: entries.count * BlobConstants.tensorEntrySize)
        put32(40, out.count); put32(44, strings.count)
        out += strings
        pad(to: BlobConstants.alignment)
        let dataOff = out.count
        put32(48, dataOff)
        // Tensors with the same bytes share one copy (a shared Swish table; the reader checks each
        // entry's range on its own, so entries may point at the same data).
        var written: [[UInt8]: Int] = [:]
        for (i, (t, data)) in entries.enumerated() {
            let e = tableOff + i * BlobConstants.tensorEntrySize
            put32(e, nameParts[i].suffix.0); put16(e + 4, nameParts[i].suffix.1)
            put32(e + 40, nameParts[i].prefix.0); put16(e + 44, nameParts[i].prefix.1)
            out[e + 6] = t.dtype.rawValue; out[e + 7] = UInt8(t.shape.count)
            for (d, v) in t.shape.enumerated() { put32(e + 8 + 4 * d, v) }
            put32(e + 28, data.count)
            put32(e + 32, Int(t.scale.bitPattern)); put32(e + 36, Int(UInt32(bitPattern: t.zeroPoint)))
            if data.count >= BlobConstants.alignment, let at = written[data] {
                put32(e + 24, at)
                continue
            }
            written[data] = out.count - dataOff
            put32(e + 24, out.count - dataOff)
            out += data
            pad(to: BlobConstants.alignment)
        }
        put32(52, out.count - dataOff)
        put32(56, out.count + 4)
        let crc = out.withUnsafeBytes { crc32($0) }
        out += [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)]
        return out
    }
}

func littleEndianBytes<T: FixedWidthInteger>(_ v: [T]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(v.count * T.bitWidth / 8)
    for x in v {
        var y = x.littleEndian
        for _ in 0..<(T.bitWidth / 8) { out.append(UInt8(truncatingIfNeeded: y)); y >>= 8 }
    }
    return out
}

/// CRC-32 (IEEE 802.3, reflected, as zlib), bitwise so it needs no table in RAM.
public func crc32(_ data: UnsafeRawBufferPointer) -> UInt32 {
    // Four bits at a time through a 16-entry table on the stack (64 bytes, no static data):
    // a quarter of the bitwise loop's work, which a device pays at every boot.
    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { t in
        for i in 0..<16 {
            var c = UInt32(i)
            for _ in 0..<4 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            c = (c >> 4) ^ t[Int(c & 15)]
            c = (c >> 4) ^ t[Int(c & 15)]
        }
        return c ^ 0xFFFF_FFFF
    }
}
