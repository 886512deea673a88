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

    /// On the calibration windows themselves (what GPTQ minimises for), q16 with GPTQ rounding,
    /// plain or sequential, is closer to the float encoder than round-to-nearest.
    func testGPTQLowersTheCalibrationError() throws {
        let m = BlobEngineTests.model
        let windows = BlobEngineTests.calibration
        let hessians = LayerHessians(encoder: m.encoder, windows: windows)
        XCTAssertEqual(hessians.matrices.count, 5 * m.config.blocks.count, "conv1, conv2, conv3 and the two SE linears of every block")
        let c = m.config.blocks[0].outChannels
        XCTAssertEqual(hessians.matrices[m.config.blocks[0].name + ".se_fc1.weight"]?.first?.count, c * c, "fc1 reads the channel means")
        let ref = windows.map { w -> [Float] in
            var out = [Float](repeating: 0, count: m.config.embeddingDim)
            let ws = FloatWorkspace(config: m.config, maxLength: w.count)
            w.withUnsafeBufferPointer { m.encoder.forward($0.baseAddress!, length: w.count, workspace: ws, output: &out) }
            return out
        }
        var errors: [Double] = []
        let sequential = SequentialMoments(reference: m.encoder, weights: BlobEngineTests.weights, windows: windows)
        for (h, s) in [(nil, nil), (hessians, nil), (nil, sequential)] {
            let bytes = try Exporter.export(weights: BlobEngineTests.weights, config: m.config, size: .small,
                                            options: Exporter.Options(precision: .q16), calibration: BlobEngineTests.stats,
                                            hessians: h, sequential: s)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            defer { buf.deallocate() }
            bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
            let engine = try Engine(blob: try BlobReader(UnsafeRawBufferPointer(buf)))
            errors.append(Fidelity(reference: ref, candidate: engine.embedAll(windows)).relL2Mean)
        }
        print("q16 in-sample rel-L2 mean: round to nearest \(errors[0]), GPTQ \(errors[1]), sequential GPTQ \(errors[2])")
        XCTAssertLessThan(errors[1], errors[0])
        XCTAssertLessThan(errors[2], errors[0])
    }

    /// Sequential moments with nothing committed: both paths run the same float weights, so the
    /// cross moments equal the second moments and the means agree; once a layer is committed
    /// with changed weights, the next layer's quantised-path moments move and the float ones stay.
    func testSequentialMomentsSeeCommittedWeights() throws {
        let m = BlobEngineTests.model
        let windows = Array(BlobEngineTests.calibration.prefix(2))
        let seq = SequentialMoments(reference: m.encoder, weights: BlobEngineTests.weights, windows: windows)
        let name = m.config.blocks[0].name + ".conv2.conv.weight"
        let a = try XCTUnwrap(seq.moments(for: name))
        XCTAssertEqual(a.h.count, m.config.blocks[0].groups)
        for (h, c) in zip(a.h, a.cross) {
            XCTAssertEqual(h.count, c.count)
            for (x, y) in zip(h, c) { XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(x))) }
        }
        XCTAssertEqual(a.meanQuantised, a.meanFloat)
        XCTAssertNil(seq.moments(for: "no.such.weight"))
        // Perturb conv1 of the same block: conv2's input changes on the quantised path only.
        let conv1 = m.config.blocks[0].name + ".conv1.conv.weight"
        seq.commit(conv1, BlobEngineTests.weights[conv1]!.map { $0 * 0.9 })
        let b = try XCTUnwrap(seq.moments(for: name))
        XCTAssertEqual(b.meanFloat, a.meanFloat)
        XCTAssertNotEqual(b.meanQuantised, a.meanQuantised)
        XCTAssertNotEqual(b.h[0], a.h[0])
    }

    /// Least-squares knots: the interpolated table has no mean error over its domain (knots
    /// placed on a convex function's values would all err one way), and a smaller worst error.
    func testFittedKnotsRemoveTheInterpolationBias() {
        let shift = 5, n = 65
        let scale = 0.01      // input code -> real, so the knots span -10 ... 10.48
        func f(_ i: Int64) -> Double {
            let x = scale * Double(i - 1024)
            return 1000 * x / (1 + exp(-x))   // Swish, in output codes of 1/1000
        }
        func errors(_ knots: [Double]) -> (mean: Double, worst: Double) {
            var sum = 0.0, worst = 0.0, count = 0.0
            for j in 0..<(n - 1) {
                for k in 0..<(1 << shift) {
                    let t = Double(k) / Double(1 << shift)
                    let e = knots[j] + (knots[j + 1] - knots[j]) * t - f(Int64(j << shift + k))
                    sum += e; worst = max(worst, abs(e)); count += 1
                }
            }
            return (sum / count, worst)
        }
        let plain = errors((0..<n).map { f(Int64($0 << shift)) })
        let fitted = errors(Quantizer.fitKnots(count: n, shift: shift, target: f))
        XCTAssertGreaterThan(plain.mean, 0.05, "interpolating a convex function overshoots on average")
        XCTAssertLessThan(abs(fitted.mean), 0.1 * plain.mean)
        XCTAssertLessThan(fitted.worst, plain.worst)
        XCTAssertEqual(Quantizer.fitKnots(count: 4, shift: 0) { Double($0) * 2 }, [0, 2, 4, 6], "shift 0: the targets")
    }
}
