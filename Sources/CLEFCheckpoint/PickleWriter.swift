/// Writes pickle protocol 2 as torch.save does for checkpoints: only the GLOBALs a weights-only
/// load accepts (OrderedDict, _rebuild_tensor_v2, the storage types), tensors as persistent ids.
public indirect enum PickleObject {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([PickleObject])
    case tuple([PickleObject])
    /// A plain dict with string keys, in order.
    case dict([(String, PickleObject)])
    /// A collections.OrderedDict with string keys (what state_dict() returns).
    case orderedDict([(String, PickleObject)])
    /// A dict keyed by integers (optimizer state).
    case intDict([(Int, PickleObject)])
    /// A contiguous tensor in storage `key` (the zip member `data/<key>`).
    case tensor(key: String, dtype: TorchDType, shape: [Int])
}

public struct PickleWriter {
    public private(set) var bytes: [UInt8] = [0x80, 0x02]

    public init() {}

    public static func encode(_ root: PickleObject) -> [UInt8] {
        var w = PickleWriter()
        w.write(root)
        w.bytes.append(0x2E)   // STOP
        return w.bytes
    }

    mutating func write(_ v: PickleObject) {
        switch v {
        case .none: bytes.append(0x4E)
        case .bool(let b): bytes.append(b ? 0x88 : 0x89)
        case .int(let i): writeInt(i)
        case .float(let d):
            bytes.append(0x47)
            let bits = d.bitPattern
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((bits >> UInt64(s)) & 0xFF)) }
        case .string(let s): writeString(s)
        case .list(let items):
            bytes.append(0x5D)
            if !items.isEmpty { bytes.append(0x28); for x in items { write(x) }; bytes.append(0x65) }
        case .tuple(let items):
            switch items.count {
            case 0: bytes.append(0x29)
            case 1...3: for x in items { write(x) }; bytes.append(0x84 + UInt8(items.count))
            default: bytes.append(0x28); for x in items { write(x) }; bytes.append(0x74)
            }
        case .dict(let items):
            bytes.append(0x7D)
            setItems(items.map { (PickleObject.string($0.0), $0.1) })
        case .orderedDict(let items):
            global("collections", "OrderedDict")
            bytes += [0x29, 0x52]   // EMPTY_TUPLE REDUCE
            setItems(items.map { (PickleObject.string($0.0), $0.1) })
        case .intDict(let items):
            bytes.append(0x7D)
            setItems(items.map { (PickleObject.int($0.0), $0.1) })
        case .tensor(let key, let dtype, let shape):
            global("torch._utils", "_rebuild_tensor_v2")
            bytes.append(0x28)      // MARK for the argument tuple
            // Persistent id ('storage', torch.<T>Storage, key, 'cpu', numel).
            bytes.append(0x28)
            writeString("storage")
            global("torch", dtype.rawValue + "Storage")
            writeString(key)
            writeString("cpu")
            writeInt(shape.reduce(1, *))
            bytes += [0x74, 0x51]   // TUPLE BINPERSID
            writeInt(0)
            write(.tuple(shape.map { .int($0) }))
            var strides = [Int](repeating: 1, count: shape.count)
            var acc = 1
            for d in (0..<shape.count).reversed() { strides[d] = acc; acc *= shape[d] }
            write(.tuple(strides.map { .int($0) }))
            bytes.append(0x89)      // requires_grad False
            global("collections", "OrderedDict")
            bytes += [0x29, 0x52]   // backward hooks: OrderedDict()
            bytes += [0x74, 0x52]   // TUPLE REDUCE
        }
    }

    mutating func setItems(_ items: [(PickleObject, PickleObject)]) {
        guard !items.isEmpty else { return }
        bytes.append(0x28)
        for (k, v) in items { write(k); write(v) }
        bytes.append(0x75)
    }

    mutating func global(_ module: String, _ name: String) {
        bytes.append(0x63)
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }

    mutating func writeString(_ s: String) {
        let u = Array(s.utf8)
        bytes.append(0x58)
        for i in 0..<4 { bytes.append(UInt8((u.count >> (8 * i)) & 0xFF)) }
        bytes += u
    }

    mutating func writeInt(_ i: Int) {
        if i >= 0 && i < 256 { bytes += [0x4B, UInt8(i)] }
        else if i >= 0 && i < 65536 { bytes += [0x4D, UInt8(i & 0xFF), UInt8(i >> 8)] }
        else if i >= Int(Int32.min) && i <= Int(Int32.max) {
            bytes.append(0x4A)
            let u = UInt32(bitPattern: Int32(i))
            for s in 0..<4 { bytes.append(UInt8((u >> UInt32(8 * s)) & 0xFF)) }
        } else {
            bytes += [0x8A, 8]
            let u = UInt64(bitPattern: Int64(i))
            for s in 0..<8 { bytes.append(UInt8((u >> UInt64(8 * s)) & 0xFF)) }
        }
    }
}

/// Assembles a torch zip checkpoint: `<prefix>/data.pkl`, the format records and storages.
public enum TorchArchiveWriter {
    public static func archive(prefix: String, pickle: [UInt8], storages: [(key: String, bytes: [UInt8])]) -> [UInt8] {
        var z = ZipWriter()
        z.add(prefix + "/data.pkl", pickle)
        z.add(prefix + "/.format_version", Array("1".utf8))
        z.add(prefix + "/.storage_alignment", Array("64".utf8))
        z.add(prefix + "/byteorder", Array("little".utf8))
        for s in storages { z.add(prefix + "/data/" + s.key, s.bytes) }
        z.add(prefix + "/version", Array("3\n".utf8))
        return z.finish()
    }
}
