import XCTest
import Foundation

/// The engine modules compile with Embedded Swift for Cortex-M from the same sources
/// (Firmware-Sim/embedded-check.sh): the guard that they stay Foundation-free, existential-free
/// and typed-throws-only.
final class EmbeddedBuildTests: XCTestCase {
    func testEngineModulesBuildWithEmbeddedSwift() throws {
        let script = Fix.root.appendingPathComponent("Firmware-Sim/embedded-check.sh").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, "armv7em-none-none-eabi"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("embedded build ok"), text)
    }
}
