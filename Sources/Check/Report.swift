import Foundation
import Formats
import Pictures

/// A slip found in a table: where it starts, how far it runs, what it is.
public struct Finding: Sendable {
    public var slip: Slip
    public var sheet: String
    /// The column where it starts.
    public var column: Quantity
    public var firstCell: CellAddress
    /// The cells holding the slip, as ranges ("Z33:Z100"), one per column.
    public var ranges: [String]
    /// Every cell holding the slip.
    public var cells: [CellAddress]
    public var cellCount: Int { cells.count }
    /// One line: `Z33 ∂E/∂w3: multiplies by J33·(1−J33) (a_h1) where L33·(1−L33) (a_h2) belongs; wrong in …`.
    public var message: String
    /// In the first cell: the value it should hold given the learner's own cells it reads, and the value it holds.
    public var expected: Double?
    public var found: Double?
    /// The first cell's formula as written and as it should be.
    public var formula: String?
    public var expectedFormula: String?
}

/// Worth knowing, but not an error in a cell: cached values that disagree with their formulas,
/// formulas that could not be evaluated (their cached values were checked instead).
public struct Note: Sendable {
    public var kind: String
    public var cells: [String]
    public var message: String
}

/// The check of one course table.
public struct TableReport: Sendable {
    public var table: CourseTable
    public var checkedCells: Int
    /// Every wrong cell: where slips start and the cells that inherit them.
    public var wrongCells: [CellAddress]
    public var findings: [Finding]
    /// Cells wrong only because cells they read are wrong.
    public var consequences: [CellAddress]
    /// t and i cells left empty below the first row (their values carried down): not checked.
    public var carriedCells: [CellAddress]
    public var notes: [Note]

    public var isCorrect: Bool { wrongCells.isEmpty && findings.isEmpty }
}

/// The check of one file.
public struct CheckReport: Sendable {
    public var file: String
    public var tables: [TableReport]

    public init(file: String, tables: [TableReport]) { self.file = file; self.tables = tables }

    public enum Verdict: String, Sendable { case correct, wrong }
    public var verdict: Verdict { tables.allSatisfy(\.isCorrect) ? .correct : .wrong }
    public var findings: [Finding] { tables.flatMap(\.findings) }
    public var wrongCellCount: Int { tables.reduce(0) { $0 + $1.wrongCells.count } }

    /// The report for a person: each table, each finding with its formulas and values, the verdict.
    public func text(color: Bool = false) -> String {
        let red = color ? "\u{1B}[31m" : "", green = color ? "\u{1B}[32m" : "", bold = color ? "\u{1B}[1m" : "",
            dim = color ? "\u{1B}[2m" : "", reset = color ? "\u{1B}[0m" : ""
        var lines: [String] = []
        for report in tables {
            let t = report.table
            let eta = t.learningRate
            lines.append("\(bold)\(file), sheet \"\(t.sheetName)\"\(reset): \(t.rows.count) iteration\(t.rows.count == 1 ? "" : "s") under the header in row \(t.headerRow + 1); "
                         + "η = \(number(eta.value))" + (eta.cell.map { " from \($0) (\(eta.source))" } ?? " (\(eta.source))")
                         + (t.hiddenBias.value != 0 || t.outputBias.value != 0
                            ? "; biases \(number(t.hiddenBias.value)) (hidden), \(number(t.outputBias.value)) (output)" : ""))
            for finding in report.findings {
                lines.append("  \(red)✗ \(finding.slip.rawValue)\(reset)  \(finding.message)")
                if let written = finding.formula { lines.append("      written:   \(written)") }
                if let expected = finding.expectedFormula, finding.slip != .blankInput { lines.append("      should be: \(expected)") }
                if let expected = finding.expected {
                    lines.append("      \(dim)expected \(expected), found \(finding.found.map { "\($0)" } ?? "no number")\(reset)")
                }
            }
            if let first = report.consequences.first {
                lines.append("  + \(grouped(report.consequences.count)) more cell\(report.consequences.count == 1 ? "" : "s") wrong only because cells they read are wrong (first \(first))")
            }
            for note in report.notes { lines.append("  \(dim)note: \(note.message)\(reset)") }
            if report.isCorrect {
                lines.append("  \(green)✓ all \(grouped(report.checkedCells)) cells agree with the exact values (to 1e-9 relative)\(reset)")
            } else {
                let slipCells = report.findings.reduce(0) { $0 + $1.cellCount }
                lines.append("  \(red)✗ \(report.findings.count) finding\(report.findings.count == 1 ? "" : "s") in \(grouped(slipCells)) cell\(slipCells == 1 ? "" : "s"); \(grouped(report.wrongCells.count)) of \(grouped(report.checkedCells)) cells wrong\(reset)")
            }
        }
        lines.append(verdict == .correct ? "\(green)\(bold)correct\(reset)" : "\(red)\(bold)wrong\(reset)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line for a folder's listing: file, verdict, first slip, cells wrong.
    public var line: String {
        if verdict == .correct { return "\(file): correct (\(grouped(tables.reduce(0) { $0 + $1.checkedCells })) cells)" }
        let first = findings.first.map { "\($0.slip.rawValue) at \($0.firstCell)" + (tables.count > 1 ? " (sheet \"\($0.sheet)\")" : "") } ?? "wrong values"
        return "\(file): wrong — \(first); \(grouped(wrongCellCount)) cell\(wrongCellCount == 1 ? "" : "s") wrong"
    }

    /// The JSON `--format json` prints: `{"file", "verdict", "learning_rate", "rows", "findings": [{"slip",
    /// "cells", "column", "message", "expected", "found", …}], "tables": [...]}`. With several tables,
    /// `learning_rate` and `rows` are those of the first wrong table (else the first), `findings` hold
    /// every table's (each names its sheet) and `tables` has each one's own.
    public func json() -> String {
        // With several tables, the one the first slip is in (else the first) gives η and rows.
        let main = tables.first { !$0.isCorrect } ?? tables.first
        let document = Document(
            file: file, verdict: verdict.rawValue, learning_rate: main.map(\.table.learningRate.value).flatMap { $0.isFinite ? $0 : nil },
            rows: main?.table.rows.count ?? 0,
            findings: findings.map(Document.Item.init),
            tables: tables.map { report in
                Document.Table(sheet: report.table.sheetName, header_row: report.table.headerRow + 1,
                               learning_rate: report.table.learningRate.value.isFinite ? report.table.learningRate.value : nil,
                               learning_rate_cell: report.table.learningRate.cell?.description,
                               learning_rate_source: report.table.learningRate.source,
                               hidden_bias: report.table.hiddenBias.value, output_bias: report.table.outputBias.value,
                               rows: report.table.rows.count, verdict: report.isCorrect ? "correct" : "wrong",
                               checked_cells: report.checkedCells, wrong_cells: report.wrongCells.count,
                               consequences: report.consequences.count,
                               first_consequence: report.consequences.first?.description,
                               notes: report.notes.map { .init(kind: $0.kind, cells: $0.cells, message: $0.message) })
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    struct Document: Encodable {
        var file: String
        var verdict: String
        var learning_rate: Double?
        var rows: Int
        var findings: [Item]
        var tables: [Table]

        struct Item: Encodable {
            var slip: String, sheet: String, cells: [String], first_cell: String, column: String, message: String
            var expected: Double?, found: Double?, formula: String?, expected_formula: String?
            init(_ f: Finding) {
                slip = f.slip.rawValue; sheet = f.sheet; cells = f.ranges; first_cell = f.firstCell.description
                column = f.column.name; message = f.message
                expected = f.expected.flatMap { $0.isFinite ? $0 : nil }; found = f.found.flatMap { $0.isFinite ? $0 : nil }
                formula = f.formula; expected_formula = f.expectedFormula
            }
        }
        struct Table: Encodable {
            var sheet: String, header_row: Int, learning_rate: Double?, learning_rate_cell: String?, learning_rate_source: String
            var hidden_bias: Double, output_bias: Double, rows: Int, verdict: String
            var checked_cells: Int, wrong_cells: Int, consequences: Int, first_consequence: String?, notes: [NoteItem]
        }
        struct NoteItem: Encodable { var kind: String, cells: [String], message: String }
    }
}

extension TableReport {
    /// The table as a picture of its cells, in the course's column order with the learner's column
    /// letters: right, where a slip is, wrong only because of one, not written.
    public func cellMap(file: String) -> CellMap {
        let slips = Set(findings.flatMap(\.cells)), following = Set(consequences), carriedSet = Set(carriedCells)
        let cells = table.rows.indices.map { k in
            Quantity.allCases.map { q -> Int in
                let address = table.cell(q, iteration: k)
                if slips.contains(address) { return 1 }
                if following.contains(address) { return 2 }
                if carriedSet.contains(address) { return 3 }
                return 0
            }
        }
        let named = findings.prefix(3).map { "\($0.slip.rawValue) at \($0.firstCell)" }.joined(separator: ", ")
            + (findings.count > 3 ? ", …" : "")
        var kinds = [CellMap.Kind(label: "right (to 1e-9 relative)", color: Color(hex: "#cde8c8")),
                     CellMap.Kind(label: "where a slip is" + (named.isEmpty ? "" : ": " + named), color: Color(hex: "#d62728")),
                     CellMap.Kind(label: "wrong only because cells it reads are wrong", color: Color(hex: "#f7b6b2"))]
        if !carriedCells.isEmpty { kinds.append(CellMap.Kind(label: "empty (t and i carried down)", color: Color(hex: "#eeeeee"))) }
        return CellMap(title: "\(file), sheet \"\(table.sheetName)\": \(isCorrect ? "correct" : "wrong")",
                       columnLabels: Quantity.allCases.map { CellAddress.columnName(table.columns[$0]!) + " " + $0.name },
                       rowLabels: table.rows.map { "row \($0 + 1)" }, rowLabelEvery: table.rows.count <= 40 ? 5 : 10,
                       cells: cells, kinds: kinds)
    }
}
