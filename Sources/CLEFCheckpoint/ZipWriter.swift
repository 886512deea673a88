/// Writes a ZIP archive of stored members the way torch.save does: each member's data starts on
/// a 64-byte boundary (padding in the local header's extra field), CRC-32 filled in.
public struct ZipWriter {
    public private(set) var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0
    public let alignment: Int

    public init(alignment: Int = 64) { self.alignment = alignment }

    public mutating func add(_ name: String, _ data: [UInt8]) {
        let nameBytes = Array(name.utf8)
        let offset = bytes.count
        let crc = CRC32.checksum(data)
        // Extra field 'FB' padding so that the data is aligned.
        let headerEnd = offset + 30 + nameBytes.count + 4
        let pad = (alignment - headerEnd % alignment) % alignment
        func u16(_ v: Int, _ into: inout [UInt8]) { into += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ into: inout [UInt8]) { for i in 0..<4 { into.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        precondition(data.count < 0xFFFF_FFFF && offset < 0xFFFF_FFFF, "ZipWriter writes archives under 4 GB")
        u32(0x0403_4B50, &bytes); u16(20, &bytes); u16(0, &bytes); u16(0, &bytes); u16(0, &bytes); u16(0, &bytes)
        u32(crc, &bytes); u32(UInt32(data.count), &bytes); u32(UInt32(data.count), &bytes)
        u16(nameBytes.count, &bytes); u16(4 + pad, &bytes)
        bytes += nameBytes
        u16(0x4246, &bytes); u16(pad, &bytes)
        bytes += [UInt8](repeating: 0, count: pad)
        bytes += data
        u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
        u16(0, &central); u16(0, &central); u32(crc, &central); u32(UInt32(data.count), &central)
        u32(UInt32(data.count), &central); u16(nameBytes.count, &central); u16(0, &central); u16(0, &central)
        u16(0, &central); u16(0, &central); u32(0, &central); u32(UInt32(offset), &central)
        central += nameBytes
        count += 1
    }

    /// The finished archive: members, central directory and end record.
    public func finish() -> [UInt8] {
        var out = bytes
        let cdOffset = out.count
        out += central
        func u16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int) { for i in 0..<4 { out.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        u32(0x0605_4B50); u16(0); u16(0); u16(count); u16(count); u32(central.count); u32(cdOffset); u16(0)
        return out
    }
}

public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
