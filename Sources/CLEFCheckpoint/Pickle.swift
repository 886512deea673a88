/// A restricted unpickler for torch checkpoints. It executes nothing: it knows the opcodes a
/// checkpoint uses and only the GLOBALs a weights-only load allows; any other GLOBAL is refused by
/// name. Containers live in arenas and are referred to by index, so hostile nesting (or cycles)
/// never recurses and never overflows the stack.

/// Element types of torch storages.
public enum TorchDType: String, Sendable, CaseIterable {
    case float32 = "Float", float64 = "Double", float16 = "Half", bfloat16 = "BFloat16"
    case int64 = "Long", int32 = "Int", int16 = "Short", int8 = "Char", uint8 = "Byte", bool = "Bool"

    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}

/// A tensor described by the pickle: a view (offset, shape, strides) into a storage member.
public struct TensorRef: Equatable, Sendable {
    public var storageKey: String
    public var dtype: TorchDType
    public var storageElements: Int
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A value of the unpickled tree. Containers are indices into `PickleTree`'s arenas.
public enum PickleValue: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer wider than 64 bits (kept only as its byte count).
    case bigInt(bytes: Int)
    case float(Double)
    case string(String)
    case bytes(Int)
    case tuple(Int)
    case list(Int)
    case dict(Int)
    case set(Int)
    case tensor(Int)
    /// An allowlisted GLOBAL that has not been called (a storage type, dtype, class...).
    case global(String)
    case storage(key: String, dtype: TorchDType, elements: Int)
    /// A torch.device or dtype name, or other allowlisted object reduced to a label.
    case label(String)
}

/// The unpickled value tree: the root plus the arenas its containers live in.
public struct PickleTree {
    public var root: PickleValue = .none
    public var tuples: [[PickleValue]] = []
    public var lists: [[PickleValue]] = []
    public var dicts: [[(key: PickleValue, value: PickleValue)]] = []
    public var sets: [[PickleValue]] = []
    public var tensors: [TensorRef] = []

    /// Value for string key `key` in dict `d`, the last one set (as Python would keep).
    public func lookup(_ d: PickleValue, _ key: String) -> PickleValue? {
        guard case .dict(let i) = d else { return nil }
        for e in dicts[i].reversed() { if case .string(key) = e.key { return e.value } }
        return nil
    }

    /// The string keys of dict `d`, in insertion order.
    public func stringKeys(_ d: PickleValue) -> [String] {
        guard case .dict(let i) = d else { return [] }
        return dicts[i].compactMap { if case .string(let s) = $0.key { return s } else { return nil } }
    }
}

/// The GLOBALs a weights-only load accepts for these files (torch's `_get_allowed_globals`,
/// restricted to what a checkpoint of this model can contain).
public enum PickleAllowlist {
    public static let storageTypes: [String: TorchDType] = {
        var m: [String: TorchDType] = [:]
        for d in TorchDType.allCases { m["torch.\(d.rawValue)Storage"] = d }
        return m
    }()
    public static let dtypes: Set<String> = [
        "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64", "torch.int32",
        "torch.int16", "torch.int8", "torch.uint8", "torch.bool", "torch.float", "torch.double", "torch.half",
        "torch.long", "torch.int", "torch.short",
    ]
    public static let callables: Set<String> = [
        "collections.OrderedDict", "collections.Counter", "collections.defaultdict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2",
        "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout", "torch.strided",
        "_codecs.encode", "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.list",
        "builtins.dict", "builtins.tuple", "builtins.int", "builtins.float",
    ]
    public static func allows(_ name: String) -> Bool {
        callables.contains(name) || dtypes.contains(name) || storageTypes[name] != nil
    }
}

/// Limits that keep a hostile pickle from exhausting memory.
public struct PickleLimits: Sendable {
    public var maxStackDepth = 1_000_000
    public var maxMarkDepth = 100_000
    public var maxMemoEntries = 10_000_000
    public var maxTensorRank = 16
    public init() {}
}

public struct Unpickler {
    let file: String
    let field: String
    let data: UnsafeRawBufferPointer
    let limits: PickleLimits
    var tree = PickleTree()
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var pos = 0
    var opStart = 0

    public init(file: String, field: String, data: UnsafeRawBufferPointer, limits: PickleLimits = PickleLimits()) {
        self.file = file
        self.field = field
        self.data = data
        self.limits = limits
    }

    /// Runs the pickle to its STOP and returns the tree.
    public static func load(file: String, field: String, data: UnsafeRawBufferPointer,
                            limits: PickleLimits = PickleLimits()) throws(CheckpointError) -> PickleTree {
        var u = Unpickler(file: file, field: field, data: data, limits: limits)
        try u.run()
        return u.tree
    }

    func fail(_ reason: String) -> CheckpointError {
        CheckpointError(file: file, field: "\(field) (byte \(opStart))", reason: reason)
    }

    mutating func run() throws(CheckpointError) {
        while true {
            opStart = pos
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E:                                                  // STOP
                guard let v = stack.popLast(), marks.isEmpty else { throw fail("STOP with an empty stack or open MARK") }
                tree.root = v
                return
            case 0x28:                                                  // MARK
                guard marks.count < limits.maxMarkDepth else { throw fail("more than \(limits.maxMarkDepth) nested MARKs") }
                marks.append(stack.count)
            case 0x30: _ = try pop()                                    // POP
            case 0x31: _ = try popMark()                                // POP_MARK
            case 0x32: try push(try top())                              // DUP
            case 0x4E: try push(.none)                                  // NONE
            case 0x88: try push(.bool(true))                            // NEWTRUE
            case 0x89: try push(.bool(false))                           // NEWFALSE
            case 0x4B: try push(.int(Int64(try byte())))                // BININT1
            case 0x4D: try push(.int(Int64(try uint(2))))               // BININT2
            case 0x4A: try push(.int(Int64(Int32(truncatingIfNeeded: try uint(4))))) // BININT
            case 0x8A: try push(try long(Int(try byte())))              // LONG1
            case 0x8B: try push(try long(try length(4)))                // LONG4
            case 0x47:                                                  // BINFLOAT (big-endian)
                let b = try take(8)
                var bits: UInt64 = 0
                for x in b { bits = bits << 8 | UInt64(x) }
                try push(.float(Double(bitPattern: bits)))
            case 0x58: try push(.string(try text(try length(4))))      // BINUNICODE
            case 0x8C: try push(.string(try text(Int(try byte()))))    // SHORT_BINUNICODE
            case 0x8D: try push(.string(try text(try length(8))))      // BINUNICODE8
            case 0x54: try push(.string(try text(try length(4))))      // BINSTRING
            case 0x55: try push(.string(try text(Int(try byte()))))    // SHORT_BINSTRING
            case 0x42: try push(.bytes((try take(try length(4))).count))   // BINBYTES
            case 0x43: try push(.bytes((try take(Int(try byte()))).count)) // SHORT_BINBYTES
            case 0x8E, 0x96: try push(.bytes((try take(try length(8))).count)) // BINBYTES8, BYTEARRAY8
            case 0x5D: tree.lists.append([]); try push(.list(tree.lists.count - 1))     // EMPTY_LIST
            case 0x29: tree.tuples.append([]); try push(.tuple(tree.tuples.count - 1))  // EMPTY_TUPLE
            case 0x7D: tree.dicts.append([]); try push(.dict(tree.dicts.count - 1))     // EMPTY_DICT
            case 0x8F: tree.sets.append([]); try push(.set(tree.sets.count - 1))        // EMPTY_SET
            case 0x6C: tree.lists.append(try popMark()); try push(.list(tree.lists.count - 1))       // LIST
            case 0x74: tree.tuples.append(try popMark()); try push(.tuple(tree.tuples.count - 1))    // TUPLE
            case 0x91: tree.sets.append(try popMark()); try push(.set(tree.sets.count - 1))          // FROZENSET
            case 0x85, 0x86, 0x87:                                      // TUPLE1..3
                let n = Int(op - 0x84)
                guard stack.count >= n + (marks.last ?? 0) else { throw fail("TUPLE\(n) needs \(n) stack items") }
                tree.tuples.append(Array(stack.suffix(n)))
                stack.removeLast(n)
                try push(.tuple(tree.tuples.count - 1))
            case 0x64:                                                  // DICT
                let items = try popMark()
                tree.dicts.append([])
                try setItems(tree.dicts.count - 1, items)
                try push(.dict(tree.dicts.count - 1))
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l) = try top() else { throw fail("APPEND to a non-list") }
                tree.lists[l].append(v)
            case 0x65:                                                  // APPENDS
                let items = try popMark()
                guard case .list(let l) = try top() else { throw fail("APPENDS to a non-list") }
                tree.lists[l].append(contentsOf: items)
            case 0x90:                                                  // ADDITEMS
                let items = try popMark()
                guard case .set(let s) = try top() else { throw fail("ADDITEMS to a non-set") }
                tree.sets[s].append(contentsOf: items)
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = try top() else { throw fail("SETITEM on a non-dict") }
                try setItems(d, [k, v])
            case 0x75:                                                  // SETITEMS
                let items = try popMark()
                guard case .dict(let d) = try top() else { throw fail("SETITEMS on a non-dict") }
                try setItems(d, items)
            case 0x68: try get(Int(try byte()))                         // BINGET
            case 0x6A: try get(Int(try uint(4)))                        // LONG_BINGET
            case 0x71: try put(Int(try byte()))                         // BINPUT
            case 0x72: try put(Int(try uint(4)))                        // LONG_BINPUT
            case 0x94: try put(memo.count)                              // MEMOIZE
            case 0x63:                                                  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global(module + "." + name))
            case 0x93:                                                  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module + "." + name))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                try push(try reduce(callable, args))
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                try push(try reduce(cls, args))
            case 0x62:                                                  // BUILD
                let state = try pop()
                let obj = try top()
                // OrderedDict._metadata and similar attribute state are kept only on dicts; a tensor
                // (parameter) may carry hooks state; nothing is executed either way.
                if case .dict = obj { _ = state } else if case .tensor = obj { _ = state } else {
                    throw fail("BUILD on an object that is not a dict or tensor")
                }
            case 0x51:                                                  // BINPERSID
                try push(try persistent(try pop()))
            case 0x69, 0x6F, 0x92:
                throw fail("opcode \(hexName(op)) (object construction) is not allowed in a weights-only checkpoint")
            default:
                throw fail("unknown or unsupported pickle opcode \(hexName(op))")
            }
        }
    }

    // MARK: stack and memo
    mutating func push(_ v: PickleValue) throws(CheckpointError) {
        guard stack.count < limits.maxStackDepth else { throw fail("stack deeper than \(limits.maxStackDepth) items") }
        stack.append(v)
    }
    mutating func pop() throws(CheckpointError) -> PickleValue {
        guard stack.count > (marks.last ?? 0), let v = stack.popLast() else { throw fail("pop from an empty stack") }
        return v
    }
    func top() throws(CheckpointError) -> PickleValue {
        guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail("empty stack") }
        return v
    }
    mutating func popMark() throws(CheckpointError) -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("no MARK to pop to") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }
    mutating func get(_ i: Int) throws(CheckpointError) {
        guard let v = memo[i] else { throw fail("memo entry \(i) read before it was written") }
        try push(v)
    }
    mutating func put(_ i: Int) throws(CheckpointError) {
        guard memo.count < limits.maxMemoEntries || memo[i] != nil else { throw fail("more than \(limits.maxMemoEntries) memo entries") }
        memo[i] = try top()
    }
    mutating func setItems(_ d: Int, _ items: [PickleValue]) throws(CheckpointError) {
        guard items.count % 2 == 0 else { throw fail("odd number of items for a dict") }
        var i = 0
        while i < items.count {
            tree.dicts[d].append((items[i], items[i + 1]))
            i += 2
        }
    }

    // MARK: reading bytes
    mutating func byte() throws(CheckpointError) -> UInt8 {
        guard pos < data.count else { throw fail("pickle ends without STOP (truncated)") }
        defer { pos += 1 }
        return data[pos]
    }
    mutating func take(_ n: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= data.count - pos else {
            throw fail("declared length \(n) exceeds the \(data.count - pos) bytes left in the pickle")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + n)])
    }
    mutating func uint(_ n: Int) throws(CheckpointError) -> UInt64 {
        let b = try take(n)
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(b[i]) }
        return v
    }
    /// A length prefix, bounded by what is left in the pickle before anything is allocated.
    mutating func length(_ n: Int) throws(CheckpointError) -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count - pos) else {
            throw fail("declared length \(v) exceeds the \(data.count - pos) bytes left in the pickle")
        }
        return Int(v)
    }
    mutating func text(_ n: Int) throws(CheckpointError) -> String {
        String(decoding: try take(n), as: UTF8.self)
    }
    mutating func line() throws(CheckpointError) -> String {
        var s: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            guard s.count < 256 else { throw fail("GLOBAL name longer than 256 bytes") }
            s.append(b)
        }
        return String(decoding: s, as: UTF8.self)
    }
    mutating func long(_ n: Int) throws(CheckpointError) -> PickleValue {
        let b = try take(n)
        if n == 0 { return .int(0) }
        guard n <= 8 else { return .bigInt(bytes: n) }
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(b[i]) }
        let shift = UInt64(64 - 8 * n)
        return .int(Int64(bitPattern: v << shift) >> Int64(shift))
    }

    // MARK: the allowlisted objects
    func global(_ name: String) throws(CheckpointError) -> PickleValue {
        guard PickleAllowlist.allows(name) else {
            throw fail("GLOBAL '\(name)' is not allowed: a weights-only load refuses it (the file may try to run code)")
        }
        return .global(name)
    }

    func int(_ v: PickleValue, _ what: String) throws(CheckpointError) -> Int {
        guard case .int(let i) = v, i >= 0, i <= Int64(Int32.max) * 1024 else { throw fail("\(what) is not a sane integer") }
        return Int(i)
    }
    func ints(_ v: PickleValue, _ what: String) throws(CheckpointError) -> [Int] {
        guard case .tuple(let t) = v else { throw fail("\(what) is not a tuple") }
        guard tree.tuples[t].count <= limits.maxTensorRank else { throw fail("\(what) has rank \(tree.tuples[t].count)") }
        var out: [Int] = []
        for x in tree.tuples[t] { out.append(try int(x, what)) }
        return out
    }
    func args(_ v: PickleValue, _ callable: String) throws(CheckpointError) -> [PickleValue] {
        guard case .tuple(let t) = v else { throw fail("\(callable) called with non-tuple arguments") }
        return tree.tuples[t]
    }

    mutating func reduce(_ callable: PickleValue, _ argv: PickleValue) throws(CheckpointError) -> PickleValue {
        guard case .global(let name) = callable else { throw fail("REDUCE/NEWOBJ on something that is not an allowed GLOBAL") }
        let a = try args(argv, name)
        switch name {
        case "collections.OrderedDict", "collections.Counter", "builtins.dict", "collections.defaultdict":
            tree.dicts.append([])
            return .dict(tree.dicts.count - 1)
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
            guard a.count >= 4, case .storage(let key, let dtype, let elements) = a[0] else {
                throw fail("\(name) needs (storage, offset, size, stride, ...)")
            }
            let offset = try int(a[1], "tensor storage offset")
            let shape = try ints(a[2], "tensor size"), strides = try ints(a[3], "tensor stride")
            guard shape.count == strides.count else { throw fail("tensor size and stride have different ranks") }
            tree.tensors.append(TensorRef(storageKey: key, dtype: dtype, storageElements: elements, offset: offset,
                                          shape: shape, strides: strides))
            return .tensor(tree.tensors.count - 1)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let first = a.first, case .tensor = first else { throw fail("\(name) needs a tensor") }
            return first
        case "torch._tensor._rebuild_from_type_v2":
            guard a.count >= 3 else { throw fail("\(name) needs (func, type, args, state)") }
            return try reduce(a[0], a[2])
        case "torch.Size", "builtins.tuple":
            if let first = a.first, case .tuple = first { return first }
            if let first = a.first, case .list(let l) = first {
                tree.tuples.append(tree.lists[l]); return .tuple(tree.tuples.count - 1)
            }
            tree.tuples.append([]); return .tuple(tree.tuples.count - 1)
        case "builtins.set", "builtins.frozenset":
            tree.sets.append([])
            if let first = a.first, case .list(let l) = first { tree.sets[tree.sets.count - 1] = tree.lists[l] }
            return .set(tree.sets.count - 1)
        case "builtins.list":
            tree.lists.append([]); return .list(tree.lists.count - 1)
        case "_codecs.encode", "builtins.bytearray":
            if let first = a.first, case .string(let s) = first { return .bytes(s.utf8.count) }
            return .bytes(0)
        case "torch.device", "torch.serialization._get_layout":
            if let first = a.first, case .string(let s) = first { return .label(s) }
            return .label(name)
        case "builtins.int", "builtins.float":
            return a.first ?? .none
        default:
            throw fail("GLOBAL '\(name)' cannot be called")
        }
    }

    /// BINPERSID: ('storage', StorageType, key, location, numel) as torch's zip format writes it.
    func persistent(_ pid: PickleValue) throws(CheckpointError) -> PickleValue {
        guard case .tuple(let t) = pid, tree.tuples[t].count == 5 else {
            throw fail("persistent id is not a 5-tuple ('storage', type, key, location, numel)")
        }
        let f = tree.tuples[t]
        guard case .string("storage") = f[0] else { throw fail("persistent id is not a storage") }
        guard case .global(let typeName) = f[1] else { throw fail("persistent storage type is not a GLOBAL") }
        var dtype = PickleAllowlist.storageTypes[typeName]
        if dtype == nil, let d = dtypeFromName(typeName) { dtype = d }
        guard let dtype else { throw fail("storage type '\(typeName)' is not supported") }
        guard case .string(let key) = f[2], !key.isEmpty, key.utf8.count <= 64,
              key.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F })
        else { throw fail("storage key is not a short alphanumeric name") }
        let n = try int(f[4], "storage element count")
        return .storage(key: key, dtype: dtype, elements: n)
    }

    func dtypeFromName(_ name: String) -> TorchDType? {
        switch name {
        case "torch.float32", "torch.float": return .float32
        case "torch.float64", "torch.double": return .float64
        case "torch.float16", "torch.half": return .float16
        case "torch.bfloat16": return .bfloat16
        case "torch.int64", "torch.long": return .int64
        case "torch.int32", "torch.int": return .int32
        case "torch.int16", "torch.short": return .int16
        case "torch.int8": return .int8
        case "torch.uint8": return .uint8
        case "torch.bool": return .bool
        default: return nil
        }
    }
}

func hexName(_ op: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "0x" + String(digits[Int(op >> 4)]) + String(digits[Int(op & 15)])
}
