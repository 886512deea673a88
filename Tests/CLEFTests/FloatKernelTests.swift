import XCTest
import CLEFKernels

/// The float kernels against plain restatements of PyTorch's definitions.
final class FloatKernelTests: XCTestCase {
    struct LCG {
        var s: UInt64
        mutating func next() -> Float {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23)
        }
    }

    /// F.pad(x, same) then conv1d(groups, stride), in Double.
    func naiveConv(_ x: [Float], _ w: [Float], _ b: [Float], _ s: ConvShape, length: Int) -> [Float] {
        let o = s.outLength(length)
        let total = max(0, (o - 1) * s.stride + s.kernel - length)
        let left = total / 2
        var y = [Float](repeating: 0, count: s.outChannels * o)
        for co in 0..<s.outChannels {
            let g = co / s.outPerGroup
            for t in 0..<o {
                var acc = Double(b[co])
                for cl in 0..<s.inPerGroup {
                    let ci = g * s.inPerGroup + cl
                    for k in 0..<s.kernel {
                        let i = t * s.stride + k - left
                        if i >= 0 && i < length {
                            acc += Double(w[(co * s.inPerGroup + cl) * s.kernel + k]) * Double(x[ci * length + i])
                        }
                    }
                }
                y[co * o + t] = Float(acc)
            }
        }
        return y
    }

    func testConvMatchesNaiveForEveryShapeAndTail() {
        var rng = LCG(s: 11)
        let shapes = [
            ConvShape(inChannels: 1, outChannels: 32, groups: 1, kernel: 16, stride: 2),
            ConvShape(inChannels: 16, outChannels: 16, groups: 4, kernel: 16, stride: 2),
            ConvShape(inChannels: 32, outChannels: 32, groups: 8, kernel: 16, stride: 1),
            ConvShape(inChannels: 12, outChannels: 6, groups: 1, kernel: 1, stride: 1),   // 6 = one full + one partial tile
            ConvShape(inChannels: 6, outChannels: 18, groups: 3, kernel: 5, stride: 3),   // 6 outputs per group
        ]
        for s in shapes {
            for length in [1, 2, 7, 15, 16, 17, 33, 100] {
                let x = (0..<(s.inChannels * length)).map { _ in rng.next() }
                let w = (0..<(s.outChannels * s.inPerGroup * s.kernel)).map { _ in rng.next() }
                let b = (0..<s.outChannels).map { _ in rng.next() }
                var packed = [Float](repeating: .nan, count: s.packedCount)
                packConvWeights(w, shape: s, into: &packed)
                var prep = [Float](repeating: .nan, count: s.preparedCount(length))
                let rl = prepareConvInput(x, channels: s.inChannels, length: length, shape: s, into: &prep)
                XCTAssertFalse(prep.contains { $0.isNaN }, "prepared input fully written")
                let o = s.outLength(length)
                var y = [Float](repeating: .nan, count: s.outChannels * o)
                convPrepared(prep, rowLength: rl, shape: s, outLength: o, packedWeights: packed, bias: b, out: &y)
                let ref = naiveConv(x, w, b, s, length: length)
                var worst: Float = 0
                for i in 0..<y.count { worst = max(worst, abs(y[i] - ref[i])) }
                XCTAssertLessThan(worst, 1e-5, "\(s) L=\(length)")
            }
        }
    }

    func testVectorExpSigmoidSwish() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let e = Double(expScalar(x)), r = Foundation.exp(Double(x))
            worst = max(worst, abs(e - r) / r)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7, "exp relative error \(worst)")
        for v: Float in [-1000, -100, -20, -1, 0, 1, 20, 100, 1000] {
            let sref = 1 / (1 + Foundation.exp(-Double(v)))
            XCTAssertEqual(Double(sigmoidScalar(v)), sref, accuracy: 1e-7)
            XCTAssertEqual(Double(swishScalar(v)), Double(v) * sref, accuracy: 1e-6 * max(1, abs(Double(v))))
            XCTAssertTrue(swishScalar(v).isFinite)
        }
    }

    func testShortcutPoolPadsWithZero() {
        // Odd length: the last window is [x[L-1], pad 0], so a negative sample yields 0.
        let x: [Float] = [-3, -1, -2, -4, -5]
        var out = [Float](repeating: 0, count: 2 * 3)
        addShortcut(x, inChannels: 1, inLength: 5, stride: 2, out: &out, outChannels: 2, outLength: 3)
        // One input channel into two: (2 - 1) / 2 = 0 zero channels before it.
        XCTAssertEqual(out, [-1, -2, 0, 0, 0, 0])
    }
}
import Foundation
