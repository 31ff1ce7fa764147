import Foundation
import Formats
import Sheet
import Check

/// A Part 1 sheet laid out the way learners lay theirs out — header row anywhere, the table from
/// any column, η labelled beside it, their header spellings, extra columns, blank rows, biases —
/// with live formulas, optionally carrying one slip. The corpus of the checker's tests.
struct LearnerSheet {
    var network = SheetNetwork.course
    var learningRate = 1.0
    var iterations = 20
    /// 0-based row of the header; η's label sits two rows above, in the table's first column.
    var headerRow = 31
    /// 0-based column of t1.
    var firstColumn = 1
    var etaLabel = "η ="
    /// Where η's value sits (its label just left of it); nil: two rows above the header, in the
    /// table's second column.
    var etaCell: CellAddress?
    /// Header spellings replacing the course's (`SheetRow.columns`).
    var headers: [Quantity: String] = [:]
    /// An extra column (helper numbers a learner keeps) right after this quantity's column.
    var extraColumnAfter: Quantity?
    var blankRowAfterHeader = false
    /// Labelled bias cells above the table (used when the network has biases).
    var labelledBiases = true
    /// The slip: given a cell's quantity, iteration and correct formula (without "="), the formula
    /// the learner wrote instead, or nil to keep it.
    var slip: (Quantity, Int, String) -> String? = { _, _, _ in nil }
    /// Cells left empty.
    var blanks: [(Quantity, Int)] = []

    /// Where everything sits.
    var table: CourseTable {
        var columns: [Quantity: Int] = [:]
        var column = firstColumn
        for q in Quantity.allCases {
            columns[q] = column
            column += q == extraColumnAfter ? 2 : 1
        }
        let first = headerRow + (blankRowAfterHeader ? 2 : 1)
        let biases = network.biases != (0, 0)
        return CourseTable(
            sheet: 0, sheetName: "mine", headerRow: headerRow, columns: columns, rows: Array(first..<(first + iterations)),
            learningRate: .init(value: learningRate, cell: etaCell ?? CellAddress(row: headerRow - 2, column: firstColumn + 1), source: ""),
            hiddenBias: .init(value: network.biases.0, cell: biases && labelledBiases ? CellAddress(row: headerRow - 3, column: firstColumn + 1) : nil),
            outputBias: .init(value: network.biases.1, cell: biases && labelledBiases ? CellAddress(row: headerRow - 3, column: firstColumn + 3) : nil))
    }

    /// The cells, formulas as text, without cached values.
    var cells: [CellAddress: SpreadsheetFile.Cell] {
        let table = self.table
        var cells: [CellAddress: SpreadsheetFile.Cell] = [:]
        func put(_ address: CellAddress, _ value: SpreadsheetFile.Value?, formula: String? = nil) {
            cells[address] = SpreadsheetFile.Cell(value: value, formula: formula)
        }
        let eta = table.learningRate.cell!
        put(CellAddress(row: eta.row, column: eta.column - 1), .text(etaLabel))
        put(eta, .number(learningRate))
        if let hidden = table.hiddenBias.cell, let output = table.outputBias.cell {
            put(CellAddress(row: hidden.row, column: hidden.column - 1), .text("b_hidden"))
            put(hidden, .number(network.biases.0))
            put(CellAddress(row: output.row, column: output.column - 1), .text("b_output"))
            put(output, .number(network.biases.1))
        }
        for q in Quantity.allCases {
            put(CellAddress(row: headerRow, column: table.columns[q]!), .text(headers[q] ?? q.name))
        }
        if let extra = extraColumnAfter {
            put(CellAddress(row: headerRow, column: table.columns[extra]! + 1), .text("my notes"))
        }
        let start = network.evaluate().values
        for k in 0..<iterations {
            for q in Quantity.allCases where !blanks.contains(where: { $0 == (q, k) }) {
                let address = table.cell(q, iteration: k)
                if k == 0, q.isStartingValue {
                    put(address, .number(start[q.rawValue]))
                } else {
                    let correct = String(table.expectedFormula(q, iteration: k)!.dropFirst())
                    put(address, nil, formula: slip(q, k, correct) ?? correct)
                }
            }
            if let extra = extraColumnAfter {
                put(CellAddress(row: table.rows[k], column: table.columns[extra]! + 1), .number(Double(k) * 0.5))
            }
        }
        return cells
    }

    /// The sheet with every formula's value cached, as a spreadsheet program saves it.
    var file: SpreadsheetFile {
        var sheet = SpreadsheetFile.Sheet(name: "mine", cells: cells)
        let evaluator = WorkbookEvaluator(SpreadsheetFile(format: .xlsx, sheets: [sheet]))
        for (address, cell) in sheet.cells where cell.formula != nil {
            switch evaluator.value(sheet: 0, address) {
            case .number(let x): sheet.cells[address]!.value = .number(x)
            case .text(let t): sheet.cells[address]!.value = .text(t)
            case .boolean(let b): sheet.cells[address]!.value = .boolean(b)
            case .error(let e): sheet.cells[address]!.value = .error(e)
            case .empty: sheet.cells[address]!.value = .number(0)
            }
        }
        return SpreadsheetFile(format: .xlsx, sheets: [sheet])
    }

    /// The .xlsx a learner would save.
    func write(to path: String) throws {
        let file = self.file
        let report = CheckReport(file: "", tables: [])
        try Annotation.workbook(for: report, file: file).write(to: path)
    }
}
