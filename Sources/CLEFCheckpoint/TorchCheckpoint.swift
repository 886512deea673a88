/// A PyTorch checkpoint (`torch.save` zip archive: Lightning `.ckpt` or plain state_dict `.pt`)
/// opened in place: the pickle is parsed into a value tree, tensors are read from the mapped
/// storages on demand, so optimizer state is never touched.
public final class TorchCheckpoint {
    public enum Kind: String { case lightning = "Lightning checkpoint", stateDict = "torch.save state_dict" }

    public let path: String
    public let file: MappedFile
    public let zip: ZipArchive
    /// Member prefix ("archive/" for Lightning, the file stem for torch.save(path)).
    public let prefix: String
    public let tree: PickleTree
    public let kind: Kind
    /// The state_dict entries in file order.
    public let stateDict: [(key: String, tensor: TensorRef)]

    /// The legacy (pre-1.6) torch.save format starts with a pickled magic number.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    public init(path: String, limits: PickleLimits = PickleLimits()) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ field: String, _ reason: String) -> CheckpointError {
            CheckpointError(file: path, field: field, reason: reason)
        }
        guard bytes.count > 0 else { throw fail("file", "empty file (0 bytes)") }
        if bytes.count >= Self.legacyMagic.count && bytes.prefix(Self.legacyMagic.count).elementsEqual(Self.legacyMagic) {
            throw fail("format", "legacy (pre-zip, torch < 1.6) torch.save file: not supported; re-save it with a current torch (torch.save(torch.load(f, weights_only=True), new_path))")
        }
        if bytes.count >= 262 && bytes[257] == 0x75 && bytes[258] == 0x73 && bytes[259] == 0x74 && bytes[260] == 0x61 && bytes[261] == 0x72 {
            throw fail("format", "legacy tar-format torch.save file: not supported; re-save it with a current torch")
        }
        guard ZipArchive.looksLikeZip(bytes) else {
            throw fail("format", "not a PyTorch checkpoint (no ZIP signature; expected a torch.save / Lightning .ckpt file)")
        }
        zip = try ZipArchive(file: path, bytes: bytes)
        let pkls = zip.members.filter { m in
            m.name.hasSuffix("/data.pkl") && !m.name.dropLast(9).contains("/")
        }
        guard pkls.count == 1 else {
            throw fail("zip layout", pkls.isEmpty ? "no '<prefix>/data.pkl' member: not a torch checkpoint archive"
                                                  : "\(pkls.count) data.pkl members")
        }
        prefix = String(pkls[0].name.dropLast(8))
        if let bo = zip.member(prefix + "byteorder") {
            let s = String(decoding: zip.data(of: bo), as: UTF8.self)
            guard s == "little" else { throw fail(prefix + "byteorder", "byte order '\(s)' is not supported (only little)") }
        }
        tree = try Unpickler.load(file: path, field: pkls[0].name, data: zip.data(of: pkls[0]), limits: limits)
        guard case .dict = tree.root else { throw fail("data.pkl", "top-level object is not a dict") }
        var sd = tree.root
        if let inner = tree.lookup(tree.root, "state_dict") {
            guard case .dict = inner else { throw fail("data.pkl: state_dict", "is not a dict") }
            sd = inner
            kind = .lightning
        } else {
            kind = .stateDict
        }
        guard case .dict(let di) = sd else { throw fail("data.pkl", "no state_dict") }
        var entries: [(key: String, tensor: TensorRef)] = []
        for e in tree.dicts[di] {
            guard case .string(let k) = e.key else { throw fail("state_dict", "has a key that is not a string") }
            guard case .tensor(let ti) = e.value else {
                throw fail("state_dict['\(k)']", kind == .lightning ? "is not a tensor" : "is not a tensor (is this a state_dict or a Lightning checkpoint?)")
            }
            entries.append((k, tree.tensors[ti]))
        }
        stateDict = entries
    }

    /// Top-level keys of the checkpoint dict.
    public var topLevelKeys: [String] { tree.stringKeys(tree.root) }

    /// Reads a tensor as float32 in C order, honouring dtype, offset and strides. Every index
    /// is checked against the storage member first.
    public func floats(_ t: TensorRef, name: String) throws(CheckpointError) -> [Float] {
        func fail(_ reason: String) -> CheckpointError {
            CheckpointError(file: path, field: "tensor '\(name)' (storage \(prefix)data/\(t.storageKey))", reason: reason)
        }
        let isFloat: Bool
        switch t.dtype {
        case .float32, .float64, .float16, .bfloat16: isFloat = true
        default: isFloat = false
        }
        guard isFloat else { throw fail("dtype \(t.dtype.rawValue) is not a floating-point type") }
        guard let m = zip.member(prefix + "data/" + t.storageKey) else { throw fail("storage member is missing") }
        let (need, o1) = t.storageElements.multipliedReportingOverflow(by: t.dtype.byteSize)
        guard !o1, m.size >= need else {
            throw fail("storage holds \(m.size) bytes, fewer than its \(t.storageElements) \(t.dtype.rawValue) elements need")
        }
        var count = 1
        var reach = t.offset
        for (d, s) in Swift.zip(t.shape, t.strides) {
            let (c, o2) = count.multipliedReportingOverflow(by: d)
            guard !o2 else { throw fail("shape \(t.shape) overflows") }
            count = c
            if d > 0 {
                let (r, o3) = (d - 1).multipliedReportingOverflow(by: s)
                guard !o3 else { throw fail("stride \(t.strides) overflows") }
                reach += r
            }
        }
        if count == 0 { return [] }
        guard reach < t.storageElements else {
            throw fail("view (offset \(t.offset), shape \(t.shape), stride \(t.strides)) reaches element \(reach), past the storage's \(t.storageElements)")
        }
        let data = zip.data(of: m)
        var out = [Float](repeating: 0, count: count)
        if t.dtype == .float32 && isContiguous(t) {
            out.withUnsafeMutableBytes { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: data[(t.offset * 4)..<((t.offset + count) * 4)]))
            }
            #if _endian(big)
            for i in 0..<count { out[i] = Float(bitPattern: out[i].bitPattern.littleEndian) }
            #endif
            return out
        }
        let rank = t.shape.count
        var idx = [Int](repeating: 0, count: rank)
        var src = t.offset
        for i in 0..<count {
            out[i] = Self.element(data, src, t.dtype)
            // Advance the multi-index (last dimension fastest).
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1
                src += t.strides[d]
                if idx[d] < t.shape[d] { break }
                src -= t.strides[d] * t.shape[d]
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// Lets the kernel drop the mapped pages of a tensor's storage once it has been copied.
    public func releasePages(of t: TensorRef) {
        guard let m = zip.member(prefix + "data/" + t.storageKey) else { return }
        file.release(offset: m.dataOffset, count: m.size)
    }

    private func isContiguous(_ t: TensorRef) -> Bool {
        var expected = 1
        for d in (0..<t.shape.count).reversed() {
            if t.shape[d] != 1 && t.strides[d] != expected { return false }
            expected *= t.shape[d]
        }
        return true
    }

    @inline(__always)
    static func element(_ data: UnsafeRawBufferPointer, _ i: Int, _ dtype: TorchDType) -> Float {
        switch dtype {
        case .float32: return Float(bitPattern: data.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)
        case .float64: return Float(Double(bitPattern: data.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian))
        case .float16: return Float(halfBits: data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)
        case .bfloat16: return Float(bitPattern: UInt32(data.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16)
        default: return .nan
        }
    }
}

extension Float {
    /// IEEE binary16 to float32 without relying on the platform's Float16 support.
    init(halfBits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int(h >> 10) & 0x1F
        let man = UInt32(h & 0x3FF)
        if exp == 0 {
            self = (sign != 0 ? -1 : 1) * Float(man) * 0x1p-24
        } else if exp == 31 {
            self = Float(bitPattern: sign | 0x7F80_0000 | man << 13)
        } else {
            self = Float(bitPattern: sign | UInt32(exp + 112) << 23 | man << 13)
        }
    }
}
