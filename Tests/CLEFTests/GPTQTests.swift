import XCTest
import CLEFArch
import CLEFBlob
import CLEFEngine
import CLEFData
import CLEFFloat
@testable import CLEFExport

/// GPTQ weight rounding: the factor it spreads errors with, and its effect on an exported engine.
final class GPTQTests: XCTestCase {
    /// U^T U is the inverse of the (scaled) second-moment matrix: what the error spreading needs.
    func testInverseFactorInvertsTheScaledMatrix() throws {
        let d = 6
        var g = SystemRandomNumberGenerator()
        let a = (0..<(d * 9)).map { _ in Double.random(in: -1...1, using: &g) }
        var h = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for k in 0..<9 { h[i * d + j] += a[i * 9 + k] * a[j * 9 + k] } } }
        let scales = (0..<d).map { _ in Double.random(in: 0.5...2, using: &g) }
        let u = try XCTUnwrap(LayerHessians.inverseFactor(h, scales: scales, damp: 0))
        for i in 0..<d { for j in 0..<i { XCTAssertEqual(u[i * d + j], 0, "upper triangular") } }
        // (U^T U) (D^-1 H D^-1) = I
        for i in 0..<d {
            for j in 0..<d {
                var s = 0.0
                for k in 0..<d {
                    var inv = 0.0
                    for l in 0..<d { inv += u[l * d + i] * u[l * d + k] }
                    s += inv * h[k * d + j] / (scales[k] * scales[j])
                }
                XCTAssertEqual(s, i == j ? 1 : 0, accuracy: 1e-8)
            }
        }
        XCTAssertNil(LayerHessians.inverseFactor([Double](repeating: 0, count: d * d), scales: scales), "no information, no factor")
    }

    /// On the calibration windows themselves (what GPTQ minimises for), q16 with GPTQ rounding
    /// is closer to the float encoder than round-to-nearest.
    func testGPTQLowersTheCalibrationError() throws {
        let m = BlobEngineTests.model
        let windows = BlobEngineTests.calibration
        let hessians = LayerHessians(encoder: m.encoder, windows: windows)
        XCTAssertEqual(hessians.matrices.count, 3 * m.config.blocks.count, "conv1, conv2, conv3 of every block")
        let ref = windows.map { w -> [Float] in
            var out = [Float](repeating: 0, count: m.config.embeddingDim)
            let ws = FloatWorkspace(config: m.config, maxLength: w.count)
            w.withUnsafeBufferPointer { m.encoder.forward($0.baseAddress!, length: w.count, workspace: ws, output: &out) }
            return out
        }
        var errors: [Double] = []
        for h in [nil, hessians] {
            let bytes = try Exporter.export(weights: BlobEngineTests.weights, config: m.config, size: .small,
                                            options: Exporter.Options(precision: .q16), calibration: BlobEngineTests.stats, hessians: h)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            defer { buf.deallocate() }
            bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
            let engine = try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf)))
            errors.append(Fidelity(reference: ref, candidate: engine.embedAll(windows)).relL2Mean)
        }
        print("q16 in-sample rel-L2 mean: round to nearest \(errors[0]), GPTQ \(errors[1])")
        XCTAssertLessThan(errors[1], errors[0])
    }
}
