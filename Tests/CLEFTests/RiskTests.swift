import XCTest
import Foundation
import CLEFRisk

/// SCORE2 / SCORE2-OP against the 53 reference vectors, at each vector's stated precision.
final class RiskTests: XCTestCase {
    func testAll53VectorsPass() throws {
        let text = try String(contentsOfFile: Fix.path("score2/score2_vectors.csv"), encoding: .utf8)
        var n = 0
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let f = line.split(separator: ",", maxSplits: 10, omittingEmptySubsequences: false).map(String.init)
            let input = Score2.Input(region: Score2.Region(rawValue: f[1])!, sex: Score2.Sex(rawValue: f[2])!, age: Double(f[3])!,
                                     smoker: f[4] == "1", sbp: Double(f[5])!, totalCholesterol: Double(f[6])!, hdl: Double(f[7])!,
                                     diabetes: f[8] == "1")
            let r = try Score2.risk(input)
            XCTAssertEqual(r.model.rawValue, f[0], String(line))
            let decimals = f[9].split(separator: ".").last.map(\.count) ?? 0
            let scale = pow(10, Double(decimals))
            XCTAssertEqual((r.percent * scale).rounded() / scale, Double(f[9])!, accuracy: 1e-9, "\(line): got \(r.percent)")
            n += 1
        }
        XCTAssertEqual(n, 53)
    }

    func testMetadataTableReportsMissingAndInvalidRowsByLine() throws {
        let csv = """
        record,region,sex,age,smoker,sbp_mmHg,total_chol_mmol,hdl_mmol,diabetes
        a,low,male,50,1,140,6.3,1.4,0
        b,low,female,,1,140,6.3,1.4,0
        c,mars,male,50,1,140,6.3,1.4,0
        d,high,male,35,0,120,5,1.2,0
        e,high,female,60,0,120,4,4.5,0
        f,moderate,male,55,0,130,5,1.2,1
        g,very_high,male,75,0,140,6,1.3,1
        """
        let (rows, problems) = try RiskTable.compute(csv: csv, file: "meta.csv")
        XCTAssertEqual(rows.map(\.mask), [0, 1, 1, 1, 1, 1, 0])
        XCTAssertEqual(rows[0].model, "SCORE2")
        XCTAssertEqual((rows[0].riskPercent! * 10).rounded() / 10, 6.3)
        XCTAssertEqual(rows[1].reason, "missing age")
        XCTAssertEqual(problems.count, 4)
        XCTAssertTrue(problems[0].hasPrefix("meta.csv: line 4: region 'mars'"), problems[0])
        XCTAssertTrue(problems[1].contains("line 5: age 35.0 is outside"), problems[1])
        XCTAssertTrue(problems[2].contains("line 6: hdl_mmol 4.5 is not below"), problems[2])
        XCTAssertTrue(problems[3].contains("line 7: SCORE2 is not for people with diabetes"), problems[3])
        XCTAssertEqual(rows[6].model, "SCORE2-OP")
        XCTAssertThrowsError(try RiskTable.compute(csv: "record,region\nx,low\n", file: "m.csv"))
    }
}
