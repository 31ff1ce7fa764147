import ArgumentParser
import Formats
import Training

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarise finished runs: a Markdown results table by model (over seeds) and one accuracy-by-epoch chart.")

    @Argument(help: "Run folders written by backprop train.") var runs: [String]
    @Option(help: "The last k epochs whose minimum and mean the table shows, 1 to 1000 (default: each model's target, 4 for s7, else 5).")
    var last: Int?
    @Option(help: "Write the accuracy-by-epoch chart of all runs (SVG and PNG) into this folder.") var chart: String?
    @Option(help: "The chart's file name, without extension.") var chartName = "accuracy"

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("expected at least one run folder") }
        if let last, !(1...1000).contains(last) { throw ValidationError("--last: expected 1 to 1000 epochs, got \(last)") }
    }

    func run() throws {
        let report = try ResultsReport(folders: runs)
        print(report.markdownTable(lastEpochs: last), terminator: "")
        if let chart {
            try AtomicFile.prepareDirectory(chart)
            let figure = report.accuracyChart()
            try AtomicFile.write(figure.svg(), to: chart + "/\(chartName).svg")
            try AtomicFile.write(figure.png(), to: chart + "/\(chartName).png")
        }
    }
}
