import Foundation

/// Minimal `--name value` option parsing (no third-party argument parser).
struct Options {
    private var values: [String: String] = [:]
    private var lists: [String: [String]] = [:]
    private(set) var positional: [String] = []

    init(_ args: [String], flags: Set<String> = [], known: Set<String>, repeatable: Set<String> = []) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2))
                if flags.contains(name) {
                    values[name] = "true"
                    i += 1
                    continue
                }
                guard known.contains(name) else { throw UsageError(description: "unknown option '\(a)'") }
                guard i + 1 < args.count else { throw UsageError(description: "option '\(a)' needs a value") }
                if repeatable.contains(name) {
                    // A repeatable option takes every following non-option word.
                    var j = i + 1
                    while j < args.count && !args[j].hasPrefix("--") { lists[name, default: []].append(args[j]); j += 1 }
                    i = j
                    continue
                }
                values[name] = args[i + 1]
                i += 2
            } else {
                positional.append(a)
                i += 1
            }
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func all(_ name: String) -> [String] { lists[name] ?? [] }

    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw UsageError(description: "missing required option --\(name)") }
        return v
    }

    func int(_ name: String, default d: Int) throws -> Int {
        guard let v = values[name] else { return d }
        guard let i = Int(v), i > 0 else { throw UsageError(description: "--\(name) must be a positive integer, got '\(v)'") }
        return i
    }

    func flag(_ name: String) -> Bool { values[name] == "true" }
}

/// Raw little-endian float32 files, the format of every tensor the CLI reads or writes.
enum RawFloat32 {
    static func read(_ path: String, expectedCount: Int) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError(description: "\(path): cannot read input file")
        }
        guard data.count == expectedCount * 4 else {
            throw UsageError(description: "\(path): holds \(data.count) bytes, but the shape needs \(expectedCount) float32 values (\(expectedCount * 4) bytes)")
        }
        var out = [Float](repeating: 0, count: expectedCount)
        data.withUnsafeBytes { raw in
            for i in 0..<expectedCount {
                out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)
            }
        }
        return out
    }

    static func write(_ values: [Float], to path: String) throws {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw UsageError(description: "\(path): cannot write output file")
        }
    }
}
