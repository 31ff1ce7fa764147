import Foundation
import Formats
import NN
import Pictures

/// Finished runs summed up by model: the results table (Markdown) and one accuracy-by-epoch chart,
/// what `backprop report` prints and `scripts/results` writes into docs/results.md. Each run's
/// model, seed and data set come from its saved state; its metrics from metrics.jsonl.
public struct ResultsReport {
    public struct Run {
        public let folder: RunFolder
        public let metrics: [EpochMetrics]
        public let settings: TrainingState.Settings
        /// The command that started it (command.txt), for readers to reproduce it.
        public let command: String
    }

    public let runs: [Run]

    /// Reads every run folder; a one-line error for the first that is not a finished run's.
    public init(folders: [String]) throws {
        runs = try folders.map { path in
            let folder = RunFolder(path)
            let metrics = try folder.metrics()
            guard !metrics.isEmpty else {
                throw RunFolderError("\(folder.metricsPath): missing or empty; expected a folder written by backprop train")
            }
            let command = (try? BoundedFile.read(folder.file("command.txt"), limit: 1 << 16))
                .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            return Run(folder: folder, metrics: metrics, settings: try TrainingState.read(folder: path).settings, command: command)
        }
    }

    /// True when the runs are on Fashion-MNIST (the table then has no "published" column, the
    /// chart no 99.4% line).
    public var isFashion: Bool { runs.contains { $0.settings.dataset == "fashion" } }

    /// The models in the order their first run appears.
    public var models: [String] {
        var order: [String] = []
        for run in runs where !order.contains(run.settings.model) { order.append(run.settings.model) }
        return order
    }

    /// One row per model over its runs: parameters, mult-adds, epochs, seeds, best test accuracy,
    /// the minimum and mean over the last k epochs (`lastEpochs`, or the model's own target),
    /// the median seconds per epoch, the published figure, and the command.
    public func markdownTable(lastEpochs: Int? = nil) -> String {
        let fashion = isFashion
        var lines = ["| model | parameters | mult-adds / image | epochs | seeds | best test accuracy | last k | min of last k | mean of last k | s / epoch (median) |"
                     + (fashion ? "" : " published |") + " command |",
                     "|---|---|---|---|---|---|---|---|---|---|" + (fashion ? "" : "---|") + "---|"]
        for model in models {
            let group = runs.filter { $0.settings.model == model }
            // A shipped model's own definition carries its target and published figure; a model
            // file of another network under a shipped name does not borrow them.
            let kept = group.lazy.compactMap { try? $0.folder.model(named: model) }.first
            let shipped = Models.named(model).flatMap { s in kept.map { $0.modelFileText == s.modelFileText } ?? true ? s : nil }
            let definition = shipped ?? kept
            let summary = definition.map { ModelSummary(model: $0.makeModel()) }
            let k = lastEpochs ?? definition?.lastEpochs ?? 5
            let tails = group.flatMap { $0.metrics.suffix(k).map(\.test_acc) }
            let seconds = group.flatMap { $0.metrics.map(\.seconds) }.sorted()
            let best = group.flatMap(\.metrics).map(\.test_acc).max()
            func percent(_ value: Double?) -> String { value.map { formatted($0, 2) + "%" } ?? "" }
            let mean: Double? = tails.isEmpty ? nil : tails.reduce(0, +) / Double(tails.count)
            var cells: [String] = [model]
            cells.append(summary.map { grouped($0.totalParameters) } ?? "?")
            cells.append(summary.map { formatted(Double($0.multiplyAddsPerImage) / 1e6, 2) + " M" } ?? "?")
            cells.append(Set(group.map(\.metrics.count)).sorted().map(String.init).joined(separator: ", "))
            cells.append(group.map { String($0.settings.seed) }.joined(separator: ", "))
            cells += [percent(best), String(k), percent(tails.min()), percent(mean)]
            cells.append(seconds.isEmpty ? "" : formatted(seconds[seconds.count / 2], 1))
            if !fashion { cells.append(definition?.published ?? "") }
            cells.append(Self.reproducing(group.first?.command ?? ""))
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A run's command without its seed, output folder and --force: what a reader types to
    /// reproduce the row.
    static func reproducing(_ command: String) -> String {
        var kept: [Substring] = []
        var skipNext = false
        for word in command.split(separator: " ") {
            if skipNext { skipNext = false; continue }
            if word == "--out" || word == "--seed" { skipNext = true; continue }
            if word == "--force" || word.hasPrefix("--out=") || word.hasPrefix("--seed=") { continue }
            kept.append(word)
        }
        return kept.isEmpty ? "" : "`" + kept.joined(separator: " ") + "`"
    }

    /// Test accuracy by epoch for every run: a colour per model, the first run of each solid.
    /// MNIST: 98–100% with the course's 99.4% line; Fashion-MNIST: the range its runs span.
    public func accuracyChart() -> Figure {
        let order = models
        let series = runs.enumerated().map { index, run in
            LineChart.Series(name: URL(fileURLWithPath: run.folder.path).lastPathComponent,
                             points: run.metrics.map { LineChart.Point(Double($0.epoch), $0.test_acc) },
                             color: Color.palette[order.firstIndex(of: run.settings.model)! % Color.palette.count],
                             dashed: index != runs.firstIndex { $0.settings.model == run.settings.model })
        }
        let accuracies = runs.flatMap { $0.metrics.map(\.test_acc) }
        let fashion = isFashion
        let range: ClosedRange<Double> = fashion
            ? ((accuracies.min() ?? 80).rounded(.down))...((accuracies.max() ?? 100).rounded(.up))
            : max(min(99.0, (accuracies.min() ?? 99).rounded(.down)), 98)...100
        return Figure([LineChart(title: fashion ? "Fashion-MNIST test accuracy by epoch" : "Test accuracy by epoch",
                                 xLabel: "epoch", yLabel: "test accuracy (%)", series: series,
                                 referenceLines: fashion ? [] : [.init(y: 99.4, label: "99.4%")],
                                 yRange: range, integerX: true)], panelWidth: 760, height: 460)
    }
}
