import Foundation

/// SCORE2 (ages 40-69) and SCORE2-OP (70-89): 10-year risk of a first cardiovascular event,
/// recalibrated to the four ESC risk regions, with the published-rounded constants that every
/// public test vector matches (../shared/reference/score2.md). CLEF weights its contrastive
/// negatives by differences in this risk. Host-only.
public enum Score2 {
    public enum Region: String, CaseIterable { case low, moderate, high, veryHigh = "very_high" }
    public enum Sex: String { case male, female }
    public enum Model: String { case score2 = "SCORE2", score2OP = "SCORE2-OP" }

    public struct Input {
        public var region: Region
        public var sex: Sex
        public var age: Double
        public var smoker: Bool
        public var sbp: Double
        public var totalCholesterol: Double
        public var hdl: Double
        public var diabetes: Bool
        public init(region: Region, sex: Sex, age: Double, smoker: Bool, sbp: Double, totalCholesterol: Double,
                    hdl: Double, diabetes: Bool) {
            self.region = region; self.sex = sex; self.age = age; self.smoker = smoker; self.sbp = sbp
            self.totalCholesterol = totalCholesterol; self.hdl = hdl; self.diabetes = diabetes
        }
    }

    public struct Rejection: Error, CustomStringConvertible {
        public var description: String
    }

    /// The model for an age (SCORE2 below 70), after checking every input.
    public static func risk(_ x: Input) throws(Rejection) -> (model: Model, percent: Double) {
        for (name, v) in [("age", x.age), ("sbp_mmHg", x.sbp), ("total_chol_mmol", x.totalCholesterol), ("hdl_mmol", x.hdl)] where !v.isFinite {
            throw Rejection(description: "\(name) is not a finite number")
        }
        guard x.age >= 40 && x.age < 90 else {
            throw Rejection(description: "age \(x.age) is outside SCORE2 (40-69) and SCORE2-OP (70-89)")
        }
        guard x.sbp >= 60 && x.sbp <= 300 else { throw Rejection(description: "sbp_mmHg \(x.sbp) is not a plausible systolic pressure (60-300)") }
        guard x.totalCholesterol > 0 && x.totalCholesterol <= 20 else {
            throw Rejection(description: "total_chol_mmol \(x.totalCholesterol) is not plausible in mmol/L (0-20; mg/dL divided by 38.67)")
        }
        guard x.hdl > 0 && x.hdl <= 5 else { throw Rejection(description: "hdl_mmol \(x.hdl) is not plausible in mmol/L (0-5)") }
        guard x.hdl < x.totalCholesterol else { throw Rejection(description: "hdl_mmol \(x.hdl) is not below total_chol_mmol \(x.totalCholesterol)") }
        let male = x.sex == .male
        let smk = x.smoker ? 1.0 : 0.0, dm = x.diabetes ? 1.0 : 0.0
        if x.age < 70 {
            guard !x.diabetes else {
                throw Rejection(description: "SCORE2 is not for people with diabetes (SCORE2-Diabetes applies; not implemented)")
            }
            let cage = (x.age - 60) / 5, csbp = (x.sbp - 120) / 20, ctc = x.totalCholesterol - 6, chdl = (x.hdl - 1.3) / 0.5
            let b: [Double] = male
                ? [0.3742, 0.6012, 0.2777, 0.6457, 0.1458, -0.2698, -0.0755, -0.0255, -0.0983, -0.0281, 0.0426]
                : [0.4648, 0.7744, 0.3131, 0.8096, 0.1002, -0.2606, -0.1088, -0.0277, -0.1272, -0.0226, 0.0613]
            let lp = b[0] * cage + b[1] * smk + b[2] * csbp + b[3] * dm + b[4] * ctc + b[5] * chdl
                + b[6] * cage * smk + b[7] * cage * csbp + b[8] * cage * dm + b[9] * cage * ctc + b[10] * cage * chdl
            let s0 = male ? 0.9605 : 0.9776
            let scales: [Region: (Double, Double, Double, Double)] = [
                .low: (-0.5699, 0.7476, -0.7380, 0.7019), .moderate: (-0.1565, 0.8009, -0.3143, 0.7701),
                .high: (0.3207, 0.9360, 0.5710, 0.9369), .veryHigh: (0.5836, 0.8294, 0.9412, 0.8329)]
            let s = scales[x.region]!
            return (.score2, calibrate(1 - pow(s0, exp(lp)), male ? s.0 : s.2, male ? s.1 : s.3))
        }
        let cage = x.age - 73, csbp = x.sbp - 150, ctc = x.totalCholesterol - 6, chdl = x.hdl - 1.4
        let b: [Double] = male
            ? [0.0634, 0.4245, -0.0174, 0.3524, -0.0247, 0.0094, -0.0005, 0.0850, 0.0073, -0.3564, 0.0091]
            : [0.0789, 0.6010, -0.0107, 0.4921, -0.0255, 0.0102, -0.0004, 0.0605, -0.0009, -0.3040, 0.0154]
        let lp = b[0] * cage + b[1] * dm + b[2] * cage * dm + b[3] * smk + b[4] * cage * smk + b[5] * csbp
            + b[6] * cage * csbp + b[7] * ctc + b[8] * cage * ctc + b[9] * chdl + b[10] * cage * chdl
        let meanLP = male ? 0.0929 : 0.229, s0 = male ? 0.7576 : 0.8082
        let scales: [Region: (Double, Double, Double, Double)] = [
            .low: (-0.34, 1.19, -0.52, 1.01), .moderate: (0.01, 1.25, -0.10, 1.10),
            .high: (0.08, 1.15, 0.38, 1.09), .veryHigh: (0.05, 0.70, 0.38, 0.69)]
        let s = scales[x.region]!
        return (.score2OP, calibrate(1 - pow(s0, exp(lp - meanLP)), male ? s.0 : s.2, male ? s.1 : s.3))
    }

    /// Region recalibration (complementary log-log), as a percent.
    static func calibrate(_ p0: Double, _ scale1: Double, _ scale2: Double) -> Double {
        100 * (1 - exp(-exp(scale1 + scale2 * log(-log(1 - p0)))))
    }
}

/// `record,region,sex,age,smoker,sbp_mmHg,total_chol_mmol,hdl_mmol,diabetes` rows (empty = missing)
/// -> `record,model,risk_percent,mask,reason`. A subject with missing inputs gets no risk and
/// mask 1 (the paper's missing-metadata mechanism); an invalid row is reported by line.
public enum RiskTable {
    public static let inputColumns = ["record", "region", "sex", "age", "smoker", "sbp_mmHg", "total_chol_mmol", "hdl_mmol", "diabetes"]

    public struct Row {
        public var record: String
        public var model: String
        public var riskPercent: Double?
        public var mask: Int
        public var reason: String
    }

    public static func compute(csv: String, file: String) throws -> (rows: [Row], problems: [String]) {
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { String($0) }
        guard let header = lines.first?.trimmingCharacters(in: .whitespaces) else { throw Score2.Rejection(description: "\(file): empty file") }
        let cols = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var index: [String: Int] = [:]
        for c in inputColumns {
            guard let i = cols.firstIndex(of: c) else { throw Score2.Rejection(description: "\(file): line 1: missing column '\(c)'") }
            index[c] = i
        }
        guard cols.first == "record" else { throw Score2.Rejection(description: "\(file): line 1: the first column must be 'record'") }
        var rows: [Row] = [], problems: [String] = []
        for (n, line) in lines.enumerated().dropFirst() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            func field(_ c: String) -> String { index[c]! < f.count ? f[index[c]!] : "" }
            let record = field("record")
            let missing = inputColumns.dropFirst().filter { field($0).isEmpty }
            if !missing.isEmpty {
                rows.append(Row(record: record, model: "", riskPercent: nil, mask: 1, reason: "missing " + missing.joined(separator: " ")))
                continue
            }
            func bad(_ why: String) {
                problems.append("\(file): line \(n + 1): \(why)")
                rows.append(Row(record: record, model: "", riskPercent: nil, mask: 1, reason: "invalid: " + why))
            }
            guard let region = Score2.Region(rawValue: field("region").lowercased().replacingOccurrences(of: " ", with: "_")) else {
                bad("region '\(field("region"))' is not low, moderate, high or very_high"); continue
            }
            guard let sex = Score2.Sex(rawValue: field("sex").lowercased()) else { bad("sex '\(field("sex"))' is not male or female"); continue }
            func flag(_ c: String) -> Bool? { ["0": false, "1": true][field(c)] }
            guard let smoker = flag("smoker") else { bad("smoker '\(field("smoker"))' is not 0 or 1"); continue }
            guard let diabetes = flag("diabetes") else { bad("diabetes '\(field("diabetes"))' is not 0 or 1"); continue }
            var nums: [Double] = []
            for c in ["age", "sbp_mmHg", "total_chol_mmol", "hdl_mmol"] {
                guard let v = Double(field(c)) else { bad("\(c) '\(field(c))' is not a number"); break }
                nums.append(v)
            }
            guard nums.count == 4 else { continue }
            do {
                let r = try Score2.risk(Score2.Input(region: region, sex: sex, age: nums[0], smoker: smoker, sbp: nums[1],
                                                     totalCholesterol: nums[2], hdl: nums[3], diabetes: diabetes))
                rows.append(Row(record: record, model: r.model.rawValue, riskPercent: r.percent, mask: 0, reason: ""))
            } catch {
                bad(error.description)
            }
        }
        return (rows, problems)
    }
}
