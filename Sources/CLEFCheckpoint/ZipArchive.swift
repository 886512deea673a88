/// The part of the ZIP format that torch's checkpoint writer produces: stored (uncompressed)
/// members, with ZIP64 records for archives or members over 4 GB. Every offset and size is
/// checked against the file before use.
public struct ZipArchive {
    public struct Member {
        public var name: String
        /// Offset of the member's data (after its local header) in the file.
        public var dataOffset: Int
        public var size: Int
    }

    public let file: String
    public let bytes: UnsafeRawBufferPointer
    public private(set) var members: [Member] = []
    private var index: [String: Int] = [:]

    /// A ZIP starts with a local file header ("PK\u{3}\u{4}") or, when empty, the end record.
    public static func looksLikeZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && (bytes[2] == 3 || bytes[2] == 5)
    }

    public init(file: String, bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        self.file = file
        self.bytes = bytes
        func fail(_ field: String, _ reason: String) -> CheckpointError {
            CheckpointError(file: file, field: field, reason: reason)
        }
        let n = bytes.count
        // End of central directory: the last 22+ bytes, possibly followed by a comment.
        guard n >= 22 else { throw fail("zip end record", "file is \(n) bytes, too short for a ZIP archive (truncated?)") }
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65535)
        while i >= lowest {
            if u32(i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("zip end record", "no end-of-central-directory record (truncated or not a ZIP archive)") }
        var entries = Int(u16(eocd + 10))
        var cdSize = Int(u32(eocd + 12))
        var cdOffset = Int(u32(eocd + 16))
        // ZIP64 locator sits right before the end record.
        if eocd >= 20 && u32(eocd - 20) == 0x0706_4B50 {
            let z64 = try Self.checkedInt(u64(eocd - 12), file: file, field: "zip64 locator")
            guard z64 >= 0 && z64 + 56 <= eocd, u32(z64) == 0x0606_4B50 else {
                throw fail("zip64 end record", "locator points to offset \(z64), which holds no zip64 end record")
            }
            entries = try Self.checkedInt(u64(z64 + 32), file: file, field: "zip64 entry count")
            cdSize = try Self.checkedInt(u64(z64 + 40), file: file, field: "zip64 central directory size")
            cdOffset = try Self.checkedInt(u64(z64 + 48), file: file, field: "zip64 central directory offset")
        }
        guard cdOffset >= 0, cdSize >= 0, cdOffset <= eocd, cdSize <= eocd - cdOffset else {
            throw fail("zip central directory", "offset \(cdOffset) + size \(cdSize) lies outside the file (\(n) bytes)")
        }
        // Each entry takes at least 46 bytes: a count the directory cannot hold is corrupt.
        guard entries <= cdSize / 46 + 1 else {
            throw fail("zip central directory", "claims \(entries) members but is only \(cdSize) bytes")
        }
        var p = cdOffset
        let end = cdOffset + cdSize
        members.reserveCapacity(entries)
        for e in 0..<entries {
            guard p + 46 <= end, u32(p) == 0x0201_4B50 else {
                throw fail("zip central directory entry \(e)", "bad signature or runs past the directory")
            }
            let method = u16(p + 10)
            var csize = UInt64(u32(p + 20))
            var usize = UInt64(u32(p + 24))
            let nameLen = Int(u16(p + 28)), extraLen = Int(u16(p + 30)), commentLen = Int(u16(p + 32))
            var localOffset = UInt64(u32(p + 42))
            guard p + 46 + nameLen + extraLen + commentLen <= end else {
                throw fail("zip central directory entry \(e)", "name/extra fields run past the directory")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLen)]), as: UTF8.self)
            // ZIP64 extended information: present fields replace the 0xFFFFFFFF placeholders.
            var x = p + 46 + nameLen
            let xEnd = x + extraLen
            while x + 4 <= xEnd {
                let tag = u16(x), len = Int(u16(x + 2))
                guard x + 4 + len <= xEnd else { throw fail("zip member '\(name)'", "extra field runs past its entry") }
                if tag == 0x0001 {
                    var q = x + 4
                    if usize == 0xFFFF_FFFF { guard q + 8 <= x + 4 + len else { break }; usize = u64(q); q += 8 }
                    if csize == 0xFFFF_FFFF { guard q + 8 <= x + 4 + len else { break }; csize = u64(q); q += 8 }
                    if localOffset == 0xFFFF_FFFF { guard q + 8 <= x + 4 + len else { break }; localOffset = u64(q); q += 8 }
                }
                x += 4 + len
            }
            guard method == 0 else {
                throw fail("zip member '\(name)'", "compression method \(method) is not supported (torch writes stored members only)")
            }
            guard csize == usize else {
                throw fail("zip member '\(name)'", "stored member with compressed size \(csize) != size \(usize)")
            }
            let lo = try Self.checkedInt(localOffset, file: file, field: "zip member '\(name)' offset")
            let size = try Self.checkedInt(usize, file: file, field: "zip member '\(name)' size")
            guard lo + 30 <= n, u32(lo) == 0x0403_4B50 else {
                throw fail("zip member '\(name)'", "local header at offset \(lo) is missing or past the end of the file")
            }
            let dataOffset = lo + 30 + Int(u16(lo + 26)) + Int(u16(lo + 28))
            guard dataOffset <= n, size <= n - dataOffset else {
                throw fail("zip member '\(name)'", "data (offset \(dataOffset), \(size) bytes) runs past the end of the file (\(n) bytes)")
            }
            index[name] = members.count
            members.append(Member(name: name, dataOffset: dataOffset, size: size))
            p += 46 + nameLen + extraLen + commentLen
        }
    }

    public func member(_ name: String) -> Member? { index[name].map { members[$0] } }

    public func data(of m: Member) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[m.dataOffset..<(m.dataOffset + m.size)])
    }

    private static func checkedInt(_ v: UInt64, file: String, field: String) throws(CheckpointError) -> Int {
        guard v <= UInt64(Int.max / 2) else { throw CheckpointError(file: file, field: field, reason: "value \(v) is absurd") }
        return Int(v)
    }

    @inline(__always) private func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
    @inline(__always) private func u32(_ o: Int) -> UInt32 {
        UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
    }
    @inline(__always) private func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
}
