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
    @Option(help: "The last k epochs whose minimum and mean the table shows (default: each model's target, 4 for s7, else 5).")
    var last: Int?
    @Option(help: "Write the accuracy-by-epoch chart of all runs (SVG and PNG) into this folder.") var chart: String?
    @Option(help: "The chart's file name, without extension.") var chartName = "accuracy"

    /// The seeds' own published MNIST results (../shared/reference/mnist.md), beside our runs of their models.
    static let published = ["seed-erav2": "99.42% (epoch 17 of 18)", "seed-erav1": "99.25% (best of 20)"]
    /// How many final epochs each model's target counts (the models issue): s7 must hold 99.4% in
    /// each of its last 4 epochs, the others in their last 5.
    static let targetLastEpochs = ["s7": 4]

    struct Run {
        let folder: String
        let metrics: [EpochMetrics]
        let model: String
        let command: String
    }

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("expected at least one run folder") }
        if let last, last <= 0 { throw ValidationError("--last: expected a positive whole number, got \(last)") }
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
        let fashion = loaded.contains { $0.command.contains("--dataset fashion") }
        print("| model | parameters | mult-adds / image | epochs | seeds | best test accuracy | last k | min of last k | mean of last k | s / epoch (median) |"
              + (fashion ? "" : " published |") + " command |")
        print("|---|---|---|---|---|---|---|---|---|---|" + (fashion ? "" : "---|") + "---|")
        var order: [String] = []
        for run in loaded where !order.contains(run.model) { order.append(run.model) }
        for model in order {
            let group = loaded.filter { $0.model == model }
            let summary = Models.named(model).map { ModelSummary(model: $0.makeModel()) }
            let best = group.flatMap(\.metrics).max { $0.test_acc < $1.test_acc }
            let k = last ?? Self.targetLastEpochs[model] ?? 5
            let tails = group.flatMap { $0.metrics.suffix(k).map(\.test_acc) }
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
            let cells: [String] = [model, parameters, multiplyAdds, epochs, seeds.joined(separator: ", "), bestText, String(k),
                                   minimum, mean, median] + (fashion ? [] : [Self.published[model] ?? ""]) + [command]
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
            // MNIST: 98–100% with the course's 99.4% line; Fashion-MNIST: the range its runs span.
            let accuracies = loaded.flatMap { $0.metrics.map(\.test_acc) }
            let range: ClosedRange<Double> = fashion
                ? ((accuracies.min() ?? 80).rounded(.down))...((accuracies.max() ?? 100).rounded(.up))
                : max(min(99.0, (accuracies.min() ?? 99).rounded(.down)), 98)...100
            let title = fashion ? "Fashion-MNIST test accuracy by epoch" : "Test accuracy by epoch"
            let figure = Figure([LineChart(title: title, xLabel: "epoch", yLabel: "test accuracy (%)", series: series,
                                           referenceLines: fashion ? [] : [.init(y: 99.4, label: "99.4%")],
                                           yRange: range, integerX: true)], panelWidth: 760, height: 460)
            try AtomicFile.write(figure.svg(), to: chart + "/\(chartName).svg")
            try AtomicFile.write(figure.png(), to: chart + "/\(chartName).png")
        }
    }
}
