import XCTest
import CLEFTrain
import CLEFCheckpoint

/// CLEF and InfoNCE losses against the oracle (Fixtures/clef-loss) and their gradients against
/// central finite differences.
final class LossTests: XCTestCase {
    func load() throws -> (z: [[Double]], risk: [Double], mask: [Double]) {
        let z = try Fix.f32("clef-loss/z64.f32").map(Double.init)
        return ((0..<8).map { Array(z[($0 * 256)..<(($0 + 1) * 256)]) },
                try Fix.f32("clef-loss/risk.f32").map(Double.init), try Fix.f32("clef-loss/mask.f32").map(Double.init))
    }

    /// The fixture's z64 is float64 rounded to float32, so the losses agree to that rounding.
    func testLossValuesMatchTheOracle() throws {
        let (z, risk, mask) = try load()
        XCTAssertTrue(risk[1].isNaN)
        let c = ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        let i = ContrastiveLoss.infoNCE(z: z)
        let refClef = Double(try Fix.f32("clef-loss/loss_clef64.f32")[0]), refInfo = Double(try Fix.f32("clef-loss/loss_infonce64.f32")[0])
        print("clef loss \(c.loss) (oracle \(refClef)), nce \(c.nce), align \(c.align); infonce \(i.loss) (oracle \(refInfo))")
        XCTAssertEqual(c.loss, refClef, accuracy: 1e-6)
        XCTAssertEqual(c.nce, 0.5879840843709189, accuracy: 1e-6)
        XCTAssertEqual(c.align, 0.11287491567300242, accuracy: 1e-6)
        XCTAssertEqual(i.loss, refInfo, accuracy: 1e-6)
        let tiled = try Fix.f32("clef-loss/meta_sim_tiled.f32")
        let meta = ContrastiveLoss.metadataSimilarity(risk: risk, mask: mask)
        for r in 0..<8 { for col in 0..<8 { XCTAssertEqual(meta[r % 4][col % 4], Double(tiled[r * 8 + col]), accuracy: 1e-7) } }
    }

    func testGradientsMatchFiniteDifferences() throws {
        let (z, risk, mask) = try load()
        for clef in [true, false] {
            let f: ([[Double]]) -> ContrastiveLoss.Result = { clef ? ContrastiveLoss.clef(z: $0, risk: risk, mask: mask) : ContrastiveLoss.infoNCE(z: $0) }
            let g = f(z).gradient
            var worst = 0.0, scale = 0.0
            for (i, k) in [(0, 0), (1, 17), (3, 255), (4, 100), (7, 3), (5, 200)] {
                var zp = z, zm = z
                let h = 1e-6
                zp[i][k] += h; zm[i][k] -= h
                let fd = (f(zp).loss - f(zm).loss) / (2 * h)
                worst = max(worst, abs(fd - g[i][k]))
                scale = max(scale, abs(fd))
            }
            XCTAssertLessThan(worst, 1e-6 * max(1, scale) + 1e-8, clef ? "clef" : "infonce")
        }
    }
}

final class BackpropTests: XCTestCase {
    /// Every parameter's gradient of the CLEF loss for the fixture batch, against the oracle's
    /// float64 gradients, within 1e-4 of each tensor's largest magnitude.
    func testEveryParameterGradientMatchesTheOracle() throws {
        let m = try CheckpointModel(path: Fix.smallCkpt)
        let net = ReferenceNet1D(config: m.config, params: try m.weights())
        let views = try Fix.f32("clef-loss/views.f32").map(Double.init)
        let windows = (0..<8).map { Array(views[($0 * 5000)..<(($0 + 1) * 5000)]) }
        let risk = try Fix.f32("clef-loss/risk.f32").map(Double.init), mask = try Fix.f32("clef-loss/mask.f32").map(Double.init)
        var scratch: [String: [Double]] = [:]
        let z = windows.map { net.forwardBackward($0, length: 5000, embeddingGradient: { _ in [Double](repeating: 0, count: 256) }, grads: &scratch) }
        let loss = ContrastiveLoss.clef(z: z, risk: risk, mask: mask)
        XCTAssertEqual(loss.loss, 0.35042950002196066, accuracy: 1e-9)
        var grads: [String: [Double]] = [:]
        for (i, w) in windows.enumerated() {
            _ = net.forwardBackward(w, length: 5000, embeddingGradient: { _ in loss.gradient[i] }, grads: &grads)
        }
        var worst = 0.0, worstName = ""
        var checked = 0
        for s in m.config.parameterSpecs where s.role == .weight {
            let ref = try Fix.f32("clef-loss/grads/\(s.name).f32").map(Double.init)
            let got = grads[s.name]!
            XCTAssertEqual(got.count, ref.count, s.name)
            let scale = ref.map { abs($0) }.max()!
            let err = zip(got, ref).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
            if err > worst { worst = err; worstName = s.name }
            XCTAssertLessThan(err, 1e-4, s.name)
            checked += 1
        }
        XCTAssertEqual(checked, 102)
        print("gradients of \(checked) parameters: worst error \(worst) of the tensor's max (\(worstName))")
        XCTAssertNil(grads["first_bn.weight"], "BatchNorm parameters get no gradient")
    }
}
