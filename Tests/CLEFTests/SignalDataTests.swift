import XCTest
import Foundation
import CLEFSignal
import CLEFData

/// WFDB reading and the preprocessing CLEF trains with, against scipy (Fixtures/preprocess).
final class SignalDataTests: XCTestCase {
    func testEveryBundledRecordReadsWithChecksums() throws {
        let root = Fix.path("ecg")
        let headers = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".hea") }.sorted()
        XCTAssertGreaterThanOrEqual(headers.count, 20)
        for h in headers {
            let r = try WFDBRecord(path: root + "/" + h)
            XCTAssertGreaterThan(r.sampleCount, 0, h)
            XCTAssertEqual(r.digital.count, r.signals.count, h)
        }
    }

    /// The whole shared corpus, when this checkout sits next to it (skipped in CI).
    func testEverySharedRecordReads() throws {
        let root = Fix.root.deletingLastPathComponent().appendingPathComponent("shared/data/ecg").path
        guard FileManager.default.fileExists(atPath: root) else { throw XCTSkip("no ../shared/data/ecg") }
        let headers = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".hea") }
        XCTAssertGreaterThanOrEqual(headers.count, 73)
        var checked = 0
        for h in headers {
            let r = try WFDBRecord(path: root + "/" + h)
            checked += r.signals.filter { ($0.checksum ?? 0) != 0 }.count
        }
        print("read \(headers.count) shared records, \(checked) signal checksums verified")
    }

    func testFormatsGainsAndLeadSelection() throws {
        let e = try WFDBRecord(path: Fix.path("ecg/cinc2021/E07500"))
        XCTAssertEqual(e.samplingFrequency, 500)
        XCTAssertEqual(e.sampleCount, 5000)
        XCTAssertEqual(e.leadIIndex, 0)
        let ref = try Fix.f32("preprocess/E07500_leadI_mV.f32")
        let got = e.physical(0).map(Float.init)
        XCTAssertEqual(Fix.maxAbsDiff(got, ref), 0)
        let a = try WFDBRecord(path: Fix.path("ecg/cinc2017/A00001"))   // CRLF, 16+24, odd date
        XCTAssertEqual(a.samplingFrequency, 300)
        XCTAssertEqual(a.leadIIndex, 0)
        XCTAssertEqual(Fix.maxAbsDiff(a.physical(0).map(Float.init), try Fix.f32("preprocess/A00001_300Hz_mV.f32")), 0)
        let m = try WFDBRecord(path: Fix.path("ecg/mitdb/100"))          // format 212
        XCTAssertEqual(m.sampleCount, 650_000)
        XCTAssertNil(m.leadIIndex, "MIT-BIH has no lead I")
        XCTAssertEqual(m.digital[0][0], 995)
        XCTAssertEqual(m.digital[1][0], 1011)
        let c = try WFDBRecord(path: Fix.path("ecg/cpsc2021/data_21_7"))  // float gain with baseline
        XCTAssertEqual(c.signals[0].baseline, -166854)
        XCTAssertEqual(c.signals[0].gain, 31132.342697933593)
        let n = try WFDBRecord(path: Fix.path("ecg/nstdb/bw"))            // gain 0 -> 200
        XCTAssertEqual(n.signals[0].gain, 200)
    }

    func testCorruptRecordsAreRefusedWithReasons() throws {
        let dir = Fix.temp("wfdb")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let src = Fix.path("ecg/cinc2021/E07500")
        var mat = try Data(contentsOf: URL(fileURLWithPath: src + ".mat"))
        let hea = try String(contentsOfFile: src + ".hea", encoding: .utf8)
        try hea.write(toFile: dir + "/E07500.hea", atomically: true, encoding: .utf8)
        mat[1000] ^= 0x01
        try mat.write(to: URL(fileURLWithPath: dir + "/E07500.mat"))
        XCTAssertThrowsError(try WFDBRecord(path: dir + "/E07500")) { e in
            XCTAssertTrue("\(e)".contains("checksum"), "\(e)")
        }
        try mat.prefix(60_000).write(to: URL(fileURLWithPath: dir + "/E07500.mat"))
        XCTAssertThrowsError(try WFDBRecord(path: dir + "/E07500")) { e in
            XCTAssertTrue("\(e)".contains("fewer than the 5000"), "\(e)")
        }
        try hea.replacingOccurrences(of: "16x1+24", with: "80").write(toFile: dir + "/E07500.hea", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WFDBRecord(path: dir + "/E07500")) { e in
            XCTAssertTrue("\(e)".contains("format '80' is not supported"), "\(e)")
        }
    }

    func testTrainingFilterIsScipysBitForBit() throws {
        let rb = try f64("preprocess/butter_b.f64"), ra = try f64("preprocess/butter_a.f64")
        XCTAssertEqual(CLEFBandpass.b, rb, "training filter numerator, bit for bit")
        XCTAssertEqual(CLEFBandpass.a, ra, "training filter denominator, bit for bit")
    }

    /// filtfilt against the exact (50-digit) result of scipy's algorithm on the same float64
    /// coefficients and input (Tools/oracle/make_filtfilt_exact.py), and against scipy's own
    /// float64 output. The tf-form band-pass amplifies float64 rounding: scipy on this machine
    /// lands 2.0e-4 of the range from the exact result and 3.3e-4 from the shared fixture (made
    /// by the same scipy version elsewhere), so the scipy fixture is only reproducible to that
    /// level by anyone; our double-double recursion reproduces the exact result.
    func testFiltfiltAndZscoreMatchScipy() throws {
        let x = try WFDBRecord(path: Fix.path("ecg/cinc2021/E07500")).physical(0)
        let f = CLEFBandpass.filter
        var y = [Double](repeating: 0, count: x.count)
        var scratch = [Double](repeating: 0, count: f.scratchCount(length: x.count))
        f.filtfilt(x, length: x.count, output: &y, scratch: &scratch)
        let exact = try f64("preprocess/E07500_leadI_filtfilt_exact.f64")
        let range = exact.max()! - exact.min()!
        var errExact = 0.0
        for i in 0..<exact.count { errExact = max(errExact, abs(exact[i] - y[i])) }
        let scipy = try Fix.f32("preprocess/E07500_leadI_filtfilt.f32")
        let errScipy = Double(Fix.maxAbsDiff(y.map(Float.init), scipy))
        print("filtfilt: max error vs exact \(errExact / range), vs scipy fixture \(errScipy / range) of the range")
        XCTAssertLessThan(errExact, 1e-5 * range)
        XCTAssertLessThan(errScipy, 5e-4 * range, "scipy's own rounding is 3.3e-4 of the range here")
        var z = [Float](repeating: 0, count: x.count)
        zscore(y, count: y.count, output: &z)
        let zr = try Fix.f32("preprocess/E07500_leadI_model_input.f32")
        XCTAssertLessThan(Fix.maxAbsDiff(z, zr), 5e-4 * (zr.max()! - zr.min()!))
    }

    /// The float32 second-order-section band-pass of the device path against scipy's float64
    /// `sosfiltfilt` of the same sections (Tools/oracle/make_sosfiltfilt.py), and how far both are
    /// from the exact tf-form filtfilt CLEF trains with (the section form settles differently
    /// near the window ends: scipy's own float64 sosfiltfilt is 1.3e-3 of the range away). The
    /// float32 rounding of poles near z = 1 costs 1.6e-4 of the range, inside the spread float64
    /// tf-form implementations already show (scipy's is 2.0e-4 from exact, 3.3e-4 across machines).
    func testFloat32SectionsMatchScipySosfiltfilt() throws {
        let x = try WFDBRecord(path: Fix.path("ecg/cinc2021/E07500")).physical(0)
        let exact = try f64("preprocess/E07500_leadI_filtfilt_exact.f64")
        let scipySOS = try f64("preprocess/E07500_leadI_sosfiltfilt.f64")
        let f = CLEFBandpass.sos
        var y = [Float](repeating: 0, count: x.count)
        var scratch = [Float](repeating: 0, count: f.scratchCount(length: x.count))
        f.filtfilt(x.map(Float.init), length: x.count, output: &y, scratch: &scratch)
        let range = exact.max()! - exact.min()!
        var errSOS = 0.0, errExact = 0.0
        for i in 0..<exact.count {
            errSOS = max(errSOS, abs(scipySOS[i] - Double(y[i])))
            errExact = max(errExact, abs(exact[i] - Double(y[i])))
        }
        print("float32 SOS filtfilt: max error vs scipy sosfiltfilt \(errSOS / range), vs exact filtfilt \(errExact / range) of the range")
        XCTAssertLessThan(errSOS, 2.5e-4 * range)
        XCTAssertLessThan(errExact, 2e-3 * range)
    }

    /// The integer sections (`FixedSOSFilter`, for cores without a float unit) against the same
    /// scipy float64 `sosfiltfilt`: with error feedback in the recursion and more fraction bits
    /// after the low-gain first sections they are 1e-5 of the range from it, 16x closer than the
    /// float32 sections; through `WindowPreprocessor` (padded and not) they give the same encoder
    /// input as each other, and their integer z-score is the Double one within float rounding.
    func testFixedPointSectionsMatchScipySosfiltfilt() throws {
        let x = try WFDBRecord(path: Fix.path("ecg/cinc2021/E07500")).physical(0)
        let scipySOS = try f64("preprocess/E07500_leadI_sosfiltfilt.f64")
        let f = CLEFBandpass.fixedSOS, pad = f.padLength
        var q = [Int32](repeating: 0, count: x.count + 2 * pad)
        for i in 0..<x.count { q[pad + i] = FixedSOSFilter.quantize(Float(x[i])) }
        q.withUnsafeMutableBufferPointer { f.filtfiltInPlace($0.baseAddress!, length: x.count) }
        let range = scipySOS.max()! - scipySOS.min()!
        var err = 0.0
        for i in 0..<x.count { err = max(err, abs(scipySOS[i] - Double(FixedSOSFilter.millivolts(q[pad + i])))) }
        print("fixed-point SOS filtfilt: max error vs scipy sosfiltfilt \(err / range) of the range")
        XCTAssertLessThan(err, 2e-5 * range)

        let n = 5000
        let window = (0..<n).map { Float(x[$0]) }
        let plain = WindowPreprocessor(length: n, mode: .fixedPoint)
        var a = [Float](repeating: 0, count: n)
        window.withUnsafeBufferPointer { plain.run($0.baseAddress!, output: &a) }
        let padded = WindowPreprocessor(length: n, mode: .fixedPoint, padded: true)
        var buf = [Float](repeating: .nan, count: n + 2 * padded.padding)
        for i in 0..<n { buf[padded.padding + i] = window[i] }
        buf.withUnsafeMutableBufferPointer { padded.runPadded($0.baseAddress!) }
        XCTAssertEqual(Array(buf[padded.padding..<(padded.padding + n)]), a)
        // Against the float32 device path: the same z-scored input within its rounding.
        let f32 = WindowPreprocessor(length: n, mode: .float32)
        var b = [Float](repeating: 0, count: n)
        window.withUnsafeBufferPointer { f32.run($0.baseAddress!, output: &b) }
        XCTAssertLessThan(Fix.maxAbsDiff(a, b), 2e-3)
        // The integer z-score against the Double one of the same filtered samples.
        let pad2 = f.padLength
        var w = [Int32](repeating: 0, count: n + 2 * pad2)
        for i in 0..<n { w[pad2 + i] = FixedSOSFilter.quantize(window[i]) }
        w.withUnsafeMutableBufferPointer { f.filtfiltInPlace($0.baseAddress!, length: n) }
        let mv = (0..<n).map { Double(w[pad2 + $0]) / Double(1 << FixedSOSFilter.fractionBits) }
        var zd = [Float](repeating: 0, count: n)
        zscore(mv, count: n, output: &zd)
        let zp = w.withUnsafeBufferPointer { FixedSOSFilter.zscoreParameters($0.baseAddress! + pad2, count: n) }
        XCTAssertLessThan(Fix.maxAbsDiff((0..<n).map { FixedSOSFilter.z(w[pad2 + $0], zp) }, zd), 2e-5)
        XCTAssertEqual((0..<n).map { FixedSOSFilter.z(w[pad2 + $0], zp) }, a, "what WindowPreprocessor returns")
        // Samples beyond the +-200 mV cut and non-finite ones are bounded, never a trap.
        XCTAssertEqual(FixedSOSFilter.quantize(1e9), 200 << 18)
        XCTAssertEqual(FixedSOSFilter.quantize(-.infinity), 0)
        XCTAssertEqual(FixedSOSFilter.quantize(.nan), 0)
    }

    func testButterworthDesignReproducesTheTrainingFilter() {
        let (b, a) = Butterworth.bandpass(order: 5, low: 0.67, high: 40, fs: 500)
        for i in 0..<11 {
            XCTAssertEqual(b[i], CLEFBandpass.b[i], accuracy: 1e-12 * max(1, abs(b[i])))
            XCTAssertEqual(a[i], CLEFBandpass.a[i], accuracy: 1e-12 * max(1, abs(a[i])))
        }
        // The closed-form steady state is the exact solution of scipy's lfilter_zi system.
        let zi = CLEFBandpass.filter.zi
        XCTAssertEqual(zi[0], -0.0004545724347439926, accuracy: 1e-18)
        XCTAssertEqual(zi[4], -0.0027274346084639554, accuracy: 1e-18)
    }

    func testResamplePolyMatchesScipy() throws {
        let x = try Fix.f32("preprocess/A00001_300Hz_mV.f32").map(Double.init)
        let y = ResamplePoly.resample(x, up: 5, down: 3)
        let ref = try Fix.f32("preprocess/A00001_resample_poly_5_3.f32")
        XCTAssertEqual(y.count, ref.count)
        let range = ref.max()! - ref.min()!
        let err = Fix.maxAbsDiff(y.map(Float.init), ref)
        print("resample_poly max error \(err) (\(err / range) of the range)")
        XCTAssertLessThan(err, 1e-5 * range)
    }

    func f64(_ rel: String) throws -> [Double] {
        let d = try Data(contentsOf: URL(fileURLWithPath: Fix.path(rel)))
        return d.withUnsafeBytes { raw in (0..<(d.count / 8)).map { Double(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian) } }
    }
}
