import ArgumentParser
import Foundation
import Formats
import Sheet

struct SheetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sheet",
        abstract: "Part 1: backpropagation by hand on the course's 2-2-2 network, computed, explained and written as a spreadsheet.",
        discussion: "Explains iteration 0 step by step, runs gradient descent for each learning rate, and writes backprop.xlsx (live formulas), one CSV per learning rate and loss.svg/loss.png into --out.")

    @Option(help: "The inputs i1,i2.") var inputs = "0.05,0.1"
    @Option(help: "The targets t1,t2.") var targets = "0.5,0.5"
    @Option(help: "The starting weights w1,...,w8.") var weights = "0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55"
    @Option(help: "Fixed biases b_hidden,b_output added to both units of a layer (not trained).") var biases = "0,0"
    @Option(help: "Learning rates, comma-separated, at most 20.") var lr = "0.1,0.2,0.5,0.8,1,2"
    @Option(help: "Iterations of gradient descent (rows of each worksheet); all worksheets together hold at most \(grouped(SheetCommand.maximumRows)) rows.")
    var iterations = 68

    /// The most rows of all worksheets together: about 1 GB of memory and 30 s here.
    static let maximumRows = 100_000
    @Option(help: "Folder for backprop.xlsx, the CSVs and loss.svg/png.") var out = "out/sheet"
    @Option(help: "text (explanation, table, chart) or json (every row of every run).") var format: OutputFormat = .text

    /// Parses "a,b,c" into exactly `count` finite numbers (any count if nil), or fails naming the option.
    static func numbers(_ text: String, option: String, count: Int?, meaning: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts == [""] { throw ValidationError("--\(option): expected \(meaning), got nothing") }
        let values = try parts.map { part -> Double in
            guard let value = Double(part) else { throw ValidationError("--\(option): \"\(part)\" is not a number; expected \(meaning)") }
            guard value.isFinite else { throw ValidationError("--\(option): \(part) is not a finite number; expected \(meaning)") }
            return value
        }
        if let count, values.count != count {
            throw ValidationError("--\(option): got \(values.count) number\(values.count == 1 ? "" : "s"), expected \(meaning)")
        }
        return values
    }

    struct Parsed {
        var network: SheetNetwork
        var learningRates: [Double]
    }

    func parse() throws -> Parsed {
        let i = try Self.numbers(inputs, option: "inputs", count: 2, meaning: "2 comma-separated numbers i1,i2")
        let t = try Self.numbers(targets, option: "targets", count: 2, meaning: "2 comma-separated numbers t1,t2")
        let w = try Self.numbers(weights, option: "weights", count: 8, meaning: "8 comma-separated numbers w1,...,w8")
        let b = try Self.numbers(biases, option: "biases", count: 2, meaning: "2 comma-separated numbers b_hidden,b_output")
        let rates = try Self.numbers(lr, option: "lr", count: nil, meaning: "one or more comma-separated learning rates")
        if let bad = rates.first(where: { $0 <= 0 }) { throw ValidationError("--lr: \(bad) is not positive; expected learning rates > 0") }
        guard rates.count <= 20 else { throw ValidationError("--lr: \(rates.count) learning rates; expected at most 20 (one worksheet each)") }
        return Parsed(network: SheetNetwork(inputs: (i[0], i[1]), targets: (t[0], t[1]), weights: w, biases: (b[0], b[1])),
                      learningRates: rates)
    }

    func validate() throws {
        _ = try parse()
        guard iterations > 0 else { throw ValidationError("--iterations: expected a positive whole number, got \(iterations)") }
        let rates = try parse().learningRates.count
        guard iterations <= Self.maximumRows / rates else {
            throw ValidationError("--iterations: \(grouped(iterations)) rows for each of \(rates) learning rates; expected at most \(grouped(Self.maximumRows)) rows in all")
        }
    }

    func run() throws {
        let parsed = try parse()
        let runs = parsed.learningRates.map { (learningRate: $0, rows: parsed.network.descend(learningRate: $0, iterations: iterations)) }
        // Check the output folder before printing anything, so a bad --out fails cleanly.
        do { try AtomicFile.prepareDirectory(out) } catch { throw ValidationError("--out: \(error)") }

        if format == .json {
            print(SheetExport.json(runs: runs), terminator: "")
        } else {
            let color = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            printText(parsed: parsed, runs: runs, color: color)
        }

        try SheetExport.workbook(network: parsed.network, runs: runs).write(to: out + "/backprop.xlsx")
        for run in runs {
            try AtomicFile.write(SheetExport.csv(rows: run.rows), to: out + "/backprop-lr-\(number(run.learningRate)).csv")
        }
        let figure = SheetExport.lossFigure(runs: runs)
        try AtomicFile.write(figure.svg(), to: out + "/loss.svg")
        try AtomicFile.write(figure.png(), to: out + "/loss.png")
        if format == .text {
            print("\nWrote \(out)/backprop.xlsx (one sheet per η, live formulas), \(runs.count) CSV files, \(out)/loss.svg and loss.png")
        }
    }

    func printText(parsed: Parsed, runs: [(learningRate: Double, rows: [SheetRow])], color: Bool) {
        let bold = color ? "\u{1B}[1m" : "", reset = color ? "\u{1B}[0m" : ""
        let n = parsed.network
        print("\(bold)Backpropagation by hand: iteration 0\(reset)")
        print("i1 = \(number(n.inputs.0)), i2 = \(number(n.inputs.1)), t1 = \(number(n.targets.0)), t2 = \(number(n.targets.1)), "
              + "w1…w8 = " + n.weights.map(number).joined(separator: ", ")
              + (n.biases == (0, 0) ? "" : ", b_h = \(number(n.biases.0)), b_o = \(number(n.biases.1))"))
        print(Explanation(row: n.evaluate()).render(color: color), terminator: "")

        print("\n\(bold)Gradient descent: E_tot by iteration\(reset) (all eight weights updated together each iteration)")
        let shown = Array(Set([0, 1, 2, 3, 10, 30, iterations - 1].filter { $0 < iterations })).sorted()
        let header = ["η"] + shown.map { "it \($0)" }
        var table = [header] + runs.map { run in [number(run.learningRate)] + shown.map { String(format: "%.6g", run.rows[$0].eTotal) } }
        let widths = header.indices.map { c in table.map { $0[c].count }.max() ?? 0 }
        table.insert(widths.map { String(repeating: "─", count: $0) }, at: 1)
        for row in table {
            print("  " + row.enumerated().map { String(repeating: " ", count: widths[$0.offset] - $0.element.count) + $0.element }
                .joined(separator: "  "))
        }
        print("")
        print(TerminalChart.render(curves: runs.map { ("η = \(number($0.learningRate))", $0.rows.map(\.eTotal)) },
                                   yLabel: "E_tot", xLabel: "iteration"), terminator: "")
    }
}
