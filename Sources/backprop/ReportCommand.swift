import ArgumentParser
import Foundation
import Formats
import NN
import Training

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarise finished runs: a Markdown results table by model (over seeds) and one accuracy-by-epoch chart.")

    @Argument(help: "Run folders written by backprop train (each with metrics.jsonl and command.txt).") var runs: [String]
    @Option(help: "The last k epochs whose minimum and mean the table shows.") var last = 5
    @Option(help: "Write accuracy.svg and accuracy.png (all runs, with the 99.4% line) here.") var chart: String?

    /// The seeds' own published results (../shared/reference/mnist.md), beside our runs of their models.
    static let published = ["seed-erav2": "99.42% (epoch 17 of 18)", "seed-erav1": "99.25% (best of 20)"]

    struct Run {
        let folder: String
        let metrics: [EpochMetrics]
        let model: String
        let command: String
    }

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("expected at least one run folder") }
        guard last > 0 else { throw ValidationError("--last: expected a positive whole number, got \(last)") }
    }

    func run() throws {
        let loaded = try runs.map { folder -> Run in
            let path = folder + "/metrics.jsonl"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("\(path): missing; expected a folder written by backprop train --out")
            }
            let metrics = try text.split(separator: "\n").map { line -> EpochMetrics in
                do { return try JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8)) }
                catch { throw ValidationError("\(path): a line is not an epoch's metrics") }
            }
            let command = (try? String(contentsOfFile: folder + "/command.txt", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let saved = try? Checkpoint.modelName(in: folder + "/model.safetensors")
            let model = (saved ?? nil) ?? "?"
            return Run(folder: folder, metrics: metrics, model: model, command: command)
        }
        print("| model | parameters | mult-adds / image | epochs | seeds | best test accuracy | min of last \(last) | mean of last \(last) | s / epoch (median) | published | command |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        var order: [String] = []
        for run in loaded where !order.contains(run.model) { order.append(run.model) }
        for model in order {
            let group = loaded.filter { $0.model == model }
            let summary = Models.named(model).map { ModelSummary(model: $0.makeModel()) }
            let best = group.flatMap(\.metrics).max { $0.test_acc < $1.test_acc }
            let tails = group.flatMap { $0.metrics.suffix(last).map(\.test_acc) }
            let seconds = group.flatMap { $0.metrics.map(\.seconds) }.sorted()
            let epochs = Set(group.map(\.metrics.count)).sorted().map(String.init).joined(separator: ", ")
            let seeds = group.map { $0.command.components(separatedBy: "--seed ").dropFirst().first?.split(separator: " ").first.map(String.init) ?? "1" }
            let parameters = summary.map { grouped($0.totalParameters) } ?? "?"
            let multiplyAdds = summary.map { formatted(Double($0.multiplyAddsPerImage) / 1e6, 2) + " M" } ?? "?"
            let bestText = best.map { formatted($0.test_acc, 2) + "%" } ?? ""
            let minimum = tails.min().map { formatted($0, 2) + "%" } ?? ""
            let mean: String = tails.isEmpty ? "" : formatted(tails.reduce(0, +) / Double(tails.count), 2) + "%"
            let median: String = seconds.isEmpty ? "" : formatted(seconds[seconds.count / 2], 1)
            // The command without its seed and output folder: what a reader types to reproduce a row.
            let words = (group.first?.command ?? "").split(separator: " ").map(String.init)
            var kept: [String] = []
            var skip = false
            for word in words {
                if skip { skip = false; continue }
                if word == "--out" || word == "--seed" { skip = true; continue }
                kept.append(word)
            }
            let command = kept.isEmpty ? "" : "`" + kept.joined(separator: " ") + "`"
            let cells: [String] = [model, parameters, multiplyAdds, epochs, seeds.joined(separator: ", "), bestText, minimum,
                                   mean, median, Self.published[model] ?? "", command]
            print("| " + cells.joined(separator: " | ") + " |")
        }
        if let chart {
            try AtomicFile.prepareDirectory(chart)
            let series = loaded.enumerated().map { index, run in
                LineChart.Series(name: URL(fileURLWithPath: run.folder).lastPathComponent,
                                 points: run.metrics.map { LineChart.Point(Double($0.epoch), $0.test_acc) },
                                 color: Color.palette[order.firstIndex(of: run.model)! % Color.palette.count],
                                 dashed: index != loaded.firstIndex { $0.model == run.model })
            }
            let low = min(99.0, (loaded.flatMap { $0.metrics.map(\.test_acc) }.min() ?? 99).rounded(.down))
            let figure = Figure([LineChart(title: "Test accuracy by epoch", xLabel: "epoch", yLabel: "test accuracy (%)",
                                           series: series, referenceLines: [.init(y: 99.4, label: "99.4%")],
                                           yRange: max(low, 98)...100, integerX: true)], panelWidth: 760, height: 460)
            try AtomicFile.write(figure.svg(), to: chart + "/accuracy.svg")
            try AtomicFile.write(figure.png(), to: chart + "/accuracy.png")
        }
    }
}
