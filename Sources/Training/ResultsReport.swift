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

        public init(folder: RunFolder, metrics: [EpochMetrics], settings: TrainingState.Settings, command: String) {
            self.folder = folder; self.metrics = metrics; self.settings = settings; self.command = command
        }
    }

    public let runs: [Run]

    public init(runs: [Run]) { self.runs = runs }

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

    /// True when the runs are on Fashion-MNIST (the table then has no "published" or "epochs to
    /// 99.4%" column, the chart no 99.4% line).
    public var isFashion: Bool { runs.contains { $0.settings.dataset == "fashion" } }

    /// The models in the order their first run appears; a model's runs on the validation split
    /// are a model of their own, "name (validation)", so that they are never mixed with test runs.
    public var models: [String] {
        var order: [String] = []
        for run in runs where !order.contains(Self.label(run)) { order.append(Self.label(run)) }
        return order
    }

    static func label(_ run: Run) -> String {
        run.settings.model + (run.settings.evaluatesValidation ? " (validation)" : "")
    }

    /// The accuracy the course's targets speak of.
    public static let target = 99.4

    /// What one group of runs of a model (its tuned or its held-out seeds) reached.
    public struct SeedGroup {
        /// The network the runs trained (nil when neither a shipped model nor a readable model file).
        public let definition: ModelDefinition?
        public let heldOut: Bool
        public let runs: [Run]
        /// The k of "each of the last k epochs".
        public let lastEpochs: Int

        /// Each run's best accuracy, in the order of `runs`.
        public var bests: [Double] { runs.map { $0.metrics.map(\.test_acc).max() ?? 0 } }
        /// Each run's lowest accuracy over its last k epochs.
        public var lastMinimums: [Double] { runs.map { $0.metrics.suffix(lastEpochs).map(\.test_acc).min() ?? 0 } }
        /// Each run's first epoch at or above the target; nil for a run that never reached it.
        public var epochsToTarget: [Int?] { runs.map { $0.metrics.first { $0.test_acc >= ResultsReport.target }?.epoch } }
    }

    /// The runs of `model` (a label of `models`) split into the seeds its recipe was tuned on and
    /// the held-out ones (`ModelDefinition.tunedSeeds`); empty groups are left out.
    public func seedGroups(of model: String, lastEpochs: Int? = nil) -> [SeedGroup] {
        let group = runs.filter { Self.label($0) == model }
        let definition = self.definition(of: group)
        let k = lastEpochs ?? definition?.lastEpochs ?? 5
        let tuned = Set(definition?.tunedSeeds ?? [1, 2, 3])
        return [false, true].compactMap { heldOut in
            let members = group.filter { tuned.contains($0.settings.seed) != heldOut }
            return members.isEmpty ? nil : SeedGroup(definition: definition, heldOut: heldOut, runs: members, lastEpochs: k)
        }
    }

    /// The definition the runs trained: a shipped model's own carries its target, tuned seeds and
    /// published figure; a model file of another network under a shipped name does not borrow them.
    func definition(of group: [Run]) -> ModelDefinition? {
        guard let name = group.first?.settings.model else { return nil }
        let kept = group.lazy.compactMap { try? $0.folder.model(named: name) }.first
        let shipped = Models.named(name).flatMap { s in kept.map { $0.modelFileText == s.modelFileText } ?? true ? s : nil }
        return shipped ?? kept
    }

    /// One row per model and seed group (tuned seeds, then held-out ones): parameters,
    /// mult-adds, epochs, seeds, then over the group's runs the best accuracy and the minimum of the
    /// last k epochs (`lastEpochs`, or the model's own target), each as mean ± standard deviation
    /// and the lowest, the epochs to first reach 99.4% (mean ± standard deviation and the slowest),
    /// the median seconds per epoch, the published figure, and the command.
    public func markdownTable(lastEpochs: Int? = nil) -> String {
        let fashion = isFashion
        var lines = ["| model | parameters | mult-adds / image | epochs | seeds | best accuracy: mean ± sd (lowest) | last k | min of last k: mean ± sd (lowest) |"
                     + (fashion ? "" : " epochs to 99.4%: mean ± sd (slowest) |") + " s / epoch (median) |"
                     + (fashion ? "" : " published |") + " command |",
                     "|---|---|---|---|---|---|---|---|---|" + (fashion ? "" : "---|---|") + "---|"]
        for model in models {
            let groups = seedGroups(of: model, lastEpochs: lastEpochs)
            let definition = groups.first?.definition
            let summary = definition.map { ModelSummary(model: $0.makeModel()) }
            for group in groups {
                let seconds = group.runs.flatMap { $0.metrics.map(\.seconds) }.sorted()
                var cells: [String] = [model]
                cells.append(summary.map { grouped($0.totalParameters) } ?? "?")
                cells.append(summary.map { formatted(Double($0.multiplyAddsPerImage) / 1e6, 2) + " M" } ?? "?")
                cells.append(Set(group.runs.map(\.metrics.count)).sorted().map(String.init).joined(separator: ", "))
                cells.append(Self.seedList(group.runs.map(\.settings.seed)) + (group.heldOut ? " (held out)" : " (tuned)"))
                cells.append(Self.spread(group.bests))
                cells.append(String(group.lastEpochs))
                cells.append(Self.spread(group.lastMinimums))
                if !fashion { cells.append(Self.epochsSpread(group.epochsToTarget)) }
                cells.append(seconds.isEmpty ? "" : formatted(seconds[seconds.count / 2], 1))
                if !fashion { cells.append(definition?.published ?? "") }
                cells.append(Self.reproducing(group.runs.first?.command ?? ""))
                lines.append("| " + cells.joined(separator: " | ") + " |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "99.52 ± 0.04% (99.47%)": the mean, the sample standard deviation and the lowest of
    /// accuracies; a single one as itself.
    static func spread(_ values: [Double]) -> String {
        guard let lowest = values.min() else { return "" }
        guard values.count > 1 else { return formatted(lowest, 2) + "%" }
        let (mean, deviation) = meanAndDeviation(values)
        return "\(formatted(mean, 2)) ± \(formatted(deviation, 2))% (\(formatted(lowest, 2))%)"
    }

    /// "9.3 ± 0.6 (10)": the mean, standard deviation and slowest of the epochs that first reached
    /// the target, and how many runs never did.
    static func epochsSpread(_ epochs: [Int?]) -> String {
        let reached = epochs.compactMap { $0 }.map(Double.init)
        let never = epochs.count - reached.count
        let neverText = never == 0 ? "" : "\(never) of \(epochs.count) never"
        guard let slowest = reached.max() else { return neverText }
        var text = String(Int(slowest))
        if reached.count > 1 {
            let (mean, deviation) = meanAndDeviation(reached)
            text = "\(formatted(mean, 1)) ± \(formatted(deviation, 1)) (\(Int(slowest)))"
        }
        return never == 0 ? text : text + "; " + neverText
    }

    static func meanAndDeviation(_ values: [Double]) -> (mean: Double, deviation: Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let squares = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +)
        return (mean, values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0)
    }

    /// "1–3", "4–8", "1, 3": seeds in order, runs of consecutive ones as ranges.
    static func seedList(_ seeds: [UInt64]) -> String {
        var ranges: [ClosedRange<UInt64>] = []
        for seed in Set(seeds).sorted() {
            if let last = ranges.last, seed == last.upperBound + 1 { ranges[ranges.count - 1] = last.lowerBound...seed }
            else { ranges.append(seed...seed) }
        }
        return ranges.map { range in
            switch range.upperBound - range.lowerBound {
            case 0: return "\(range.lowerBound)"
            case 1: return "\(range.lowerBound), \(range.upperBound)"
            default: return "\(range.lowerBound)–\(range.upperBound)"
            }
        }.joined(separator: ", ")
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

    /// Test accuracy by epoch, a panel per model (three to a row) and a line per run, coloured by
    /// seed: solid for the seeds its recipe was tuned on, dashed for held-out ones. MNIST: 98–100%
    /// with the course's 99.4% line; Fashion-MNIST: the range its runs span.
    public func accuracyChart() -> Figure {
        let accuracies = runs.flatMap { $0.metrics.map(\.test_acc) }
        let fashion = isFashion
        let range: ClosedRange<Double> = fashion
            ? ((accuracies.min() ?? 80).rounded(.down))...((accuracies.max() ?? 100).rounded(.up))
            : max(min(99.0, (accuracies.min() ?? 99).rounded(.down)), 98)...100
        let panels = models.map { model in
            let groups = seedGroups(of: model)
            let series = groups.flatMap { group in
                group.runs.map { run in
                    LineChart.Series(name: "seed \(run.settings.seed)" + (group.heldOut ? " (held out)" : ""),
                                     points: run.metrics.map { LineChart.Point(Double($0.epoch), $0.test_acc) },
                                     color: Self.seedColors[Int((run.settings.seed % 9 + 8) % 9)],
                                     dashed: group.heldOut)
                }
            }
            let evaluated = model.hasSuffix("(validation)") ? "validation" : "test"
            return LineChart(title: model + (fashion ? " on Fashion-MNIST" : ""), xLabel: "epoch", yLabel: "\(evaluated) accuracy (%)",
                             series: series, referenceLines: fashion ? [] : [.init(y: Self.target, label: "99.4%")],
                             yRange: range, integerX: true)
        }
        return Figure(panels, panelWidth: 520, height: 400, columns: 3)
    }

    /// The palette without its red, which the 99.4% line uses: seed 1 the first colour.
    static let seedColors = Color.palette.enumerated().filter { $0.offset != 3 }.map(\.element)
}
