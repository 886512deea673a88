import Foundation
import CLEFArch
import CLEFEngine
import CLEFExport
import CLEFData
import CLEFBlob

/// `clef heads`: fits the heart-rate head (ridge on embeddings of beat-annotated windows) and the
/// AF head (logistic), reports their leave-one-record-out errors, and writes them: into a copy of
/// the blob (`--output M.clefw`, evaluated by `clef stream` at every hop) or, for the heart-rate
/// head alone, as text for `clef stream --head`.
enum Heads {
    static let defaultRecords = ["Fixtures/ecg/mitdb/100", "Fixtures/ecg/cpsc2021/data_101_6", "Fixtures/ecg/cpsc2021/data_21_7"]

    static func run(_ args: [String]) throws {
        let o = try Options(args, known: ["model", "records", "af-records", "output"], repeatable: ["records", "af-records"])
        let model = try ModelFile(path: o.string("model") ?? Stream.bundled(Stream.defaultModel))
        let records = o.all("records").isEmpty ? defaultRecords.map(Stream.bundled) : o.all("records")
        let data = try HeartRateWindows.load(records)
        guard Set(data.map(\.record)).count >= 2 else { throw UsageError(description: "need beat-annotated windows from at least two records") }
        let emb = model.engine.embedAll(data.map(\.window))
        print("heart-rate head: \(data.count) windows from \(records.count) records, \(model.engine.precision.name) embeddings")
        var allErr = 0.0, allBase = 0.0
        for r in records {
            let train = data.indices.filter { data[$0].record != r }, test = data.indices.filter { data[$0].record == r }
            guard !test.isEmpty, !train.isEmpty else { continue }
            let head = RidgeHead(features: train.map { emb[$0] }, targets: train.map { data[$0].bpm })
            let mean = train.map { data[$0].bpm }.reduce(0, +) / Double(train.count)
            let err = test.map { abs(head.predict(emb[$0]) - data[$0].bpm) }.reduce(0, +)
            let base = test.map { abs(mean - data[$0].bpm) }.reduce(0, +)
            allErr += err; allBase += base
            let hr = test.map { data[$0].bpm }
            print(String(format: "  held out %@: %d windows, HR %.0f-%.0f bpm, MAE %.2f bpm (predicting the training mean: %.2f)",
                         (r as NSString).lastPathComponent, test.count, hr.min()!, hr.max()!, err / Double(test.count), base / Double(test.count)))
        }
        print(String(format: "leave-one-record-out MAE %.2f bpm (training-mean baseline %.2f bpm)", allErr / Double(data.count), allBase / Double(data.count)))
        let af = try atrialFibrillation(model, records: o.all("af-records").isEmpty
            ? ECGWindows.recordPaths(Stream.bundled("Fixtures/ecg/cinc2017")) + ["Fixtures/ecg/cpsc2021/data_101_6", "Fixtures/ecg/cpsc2021/data_21_7", "Fixtures/ecg/mitdb/100"].map(Stream.bundled)
            : o.all("af-records").flatMap(ECGWindows.recordPaths))
        if let out = o.string("output"), out.hasSuffix(".clefw") {
            // Both heads, fitted on all windows, inside a copy of the blob.
            guard let blob = model.blob else {
                throw UsageError(description: "--output \(out): heads go into a blob; give --model a .clefw (clef export)")
            }
            let hr = RidgeHead(features: emb, targets: data.map(\.bpm))
            var w = BlobWriter(copying: blob) { $0.hasPrefix("head.") }
            w.add("head.hr.weight", floats: hr.weights.map(Float.init), shape: [hr.weights.count])
            w.add("head.hr.bias", floats: [Float(hr.intercept)], shape: [1])
            if let af {
                let f = af.folded
                w.add("head.af.weight", floats: f.weights.map(Float.init), shape: [f.weights.count])
                w.add("head.af.bias", floats: [Float(f.bias)], shape: [1])
            }
            guard FileManager.default.createFile(atPath: out, contents: Data(w.finish())) else { throw UsageError(description: "\(out): cannot write") }
            print("wrote \(out): \(model.path) with the heart-rate\(af == nil ? "" : " and AF") heads (fitted on all windows)")
        } else if let out = o.string("output") {
            let head = RidgeHead(features: emb, targets: data.map(\.bpm))
            var text = "clef-head hr-ridge \(head.weights.count)\n\(head.intercept)\n"
            text += head.weights.map { "\($0)" }.joined(separator: "\n") + "\n"
            try text.write(toFile: out, atomically: true, encoding: .utf8)
            print("wrote \(out) (fitted on all \(data.count) windows)")
        }
    }

    /// AF vs not: logistic head, leave-one-record-out. AF here comes mostly from one database
    /// (cinc2017 handheld recordings), so a probe can learn the source instead of the rhythm.
    /// Returns the head fitted on all windows (nil when they hold a single class).
    @discardableResult
    static func atrialFibrillation(_ model: ModelFile, records: [String]) throws -> LogisticHead? {
        let data = try AFWindows.load(records)
        let emb = model.engine.embedAll(data.map(\.window))
        let names = Array(Set(data.map(\.record))).sorted()
        print("AF head: \(data.count) windows (\(data.filter(\.af).count) AF) from \(names.count) records")
        var correct = 0, tp = 0, pos = 0, tn = 0, neg = 0, scored = 0
        for r in names {
            let train = data.indices.filter { data[$0].record != r }, test = data.indices.filter { data[$0].record == r }
            guard Set(train.map { data[$0].af }).count == 2 else { continue }
            let head = LogisticHead(features: train.map { emb[$0] }, labels: train.map { data[$0].af })
            var ok = 0
            for i in test {
                let p = head.probability(emb[i]) > 0.5
                if p == data[i].af { ok += 1 }
                if data[i].af { pos += 1; if p { tp += 1 } } else { neg += 1; if !p { tn += 1 } }
            }
            correct += ok; scored += test.count
            print(String(format: "  held out %@: %d windows (%d AF), %d correct", (r as NSString).lastPathComponent, test.count,
                         test.filter { data[$0].af }.count, ok))
        }
        let sens = Double(tp) / Double(max(1, pos)), spec = Double(tn) / Double(max(1, neg))
        print(String(format: "leave-one-record-out accuracy %.3f, sensitivity %.3f, specificity %.3f, balanced %.3f (%d windows)",
                     Double(correct) / Double(max(1, scored)), sens, spec, (sens + spec) / 2, scored))
        guard Set(data.map(\.af)).count == 2 else { return nil }
        return LogisticHead(features: emb, labels: data.map(\.af))
    }

    /// Reads a head written by `clef heads --output`.
    static func load(_ path: String, dim: Int) throws -> RidgeHead {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw UsageError(description: "\(path): cannot read head") }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count == dim + 2, lines[0] == "clef-head hr-ridge \(dim)", let b = Double(lines[1]) else {
            throw UsageError(description: "\(path): not a heart-rate head for a \(dim)-dimensional embedding")
        }
        var w: [Double] = []
        for (i, l) in lines.dropFirst(2).enumerated() {
            guard let v = Double(l), v.isFinite else { throw UsageError(description: "\(path): weight \(i) is not a number") }
            w.append(v)
        }
        var h = RidgeHead(features: [[0], [1]], targets: [0, 0], alpha: 1)
        h.weights = w
        h.intercept = b
        return h
    }
}
