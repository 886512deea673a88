import Foundation
import XCTest

/// Paths and raw-tensor helpers shared by the tests. Tests read only `Fixtures/` in this repo.
enum Fix {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Fixtures")
    static func path(_ rel: String) -> String { fixtures.appendingPathComponent(rel).path }

    static let smallCkpt = path("clef-small-seed1/clef_small_seed1.ckpt")
    static let smallStateDict = path("clef-small-seed1/clef_small_seed1_state_dict.pt")

    static func f32(_ rel: String) throws -> [Float] {
        let p = rel.hasPrefix("/") ? rel : path(rel)
        let d = try Data(contentsOf: URL(fileURLWithPath: p))
        return d.withUnsafeBytes { raw in
            (0..<(d.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
        }
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
        return m
    }

    static func temp(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clef-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    static func write(_ bytes: [UInt8], _ name: String) -> String {
        let p = temp(name)
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    /// The built `clef` executable next to the test bundle.
    static var clefBinary: String {
        let products = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }
            .map { URL(fileURLWithPath: $0.bundlePath).deletingLastPathComponent() }
            ?? root.appendingPathComponent(".build/debug")
        return products.appendingPathComponent("clef").path
    }

    /// Runs `clef` with arguments; returns exit status, stderr and wall time.
    static func runClef(_ args: [String]) throws -> (status: Int32, stderr: String, stdout: String, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: clefBinary)
        p.arguments = args
        let err = Pipe(), out = Pipe()
        p.standardError = err
        p.standardOutput = out
        let t0 = Date()
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self), String(decoding: o, as: UTF8.self),
                Date().timeIntervalSince(t0))
    }
}
