import Foundation
import CLEFRisk

/// `clef risk --metadata IN.csv --out OUT.csv`: SCORE2 / SCORE2-OP per record, so a dataset can be
/// prepared for CLEF pretraining without Python.
enum Risk {
    static func run(_ args: [String]) throws {
        let o = try Options(args, known: ["metadata", "out"])
        let inPath = try o.required("metadata"), outPath = try o.required("out")
        guard let text = try? String(contentsOfFile: inPath, encoding: .utf8) else {
            throw UsageError(description: "\(inPath): cannot read")
        }
        let (rows, problems) = try RiskTable.compute(csv: text, file: inPath)
        var out = "record,model,risk_percent,mask,reason\n"
        for r in rows {
            let reason = r.reason.contains(",") ? "\"" + r.reason.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : r.reason
            out += "\(r.record),\(r.model),\(r.riskPercent.map { String(format: "%.4f", $0) } ?? ""),\(r.mask),\(reason)\n"
        }
        guard FileManager.default.createFile(atPath: outPath, contents: Data(out.utf8)) else { throw UsageError(description: "\(outPath): cannot write") }
        for p in problems { FileHandle.standardError.write(Data("clef: \(p)\n".utf8)) }
        let ok = rows.filter { $0.mask == 0 }.count
        print("wrote \(outPath): \(rows.count) records, \(ok) with a risk, \(rows.count - ok - problems.count) with missing inputs (mask 1), \(problems.count) invalid")
    }
}
