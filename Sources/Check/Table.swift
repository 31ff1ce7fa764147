import Foundation
import Formats
import Sheet

/// One of the course table's 31 columns, in the course's order (the order of `SheetRow.columns`
/// and `SheetRow.values`).
public enum Quantity: Int, CaseIterable, Sendable, Comparable {
    case t1, t2, i1, i2, w1, w2, w3, w4, h1, ah1, h2, ah2, w5, w6, w7, w8, o1, ao1, o2, ao2, e1, e2, eTotal
    case g1, g2, g3, g4, g5, g6, g7, g8

    /// The course's header for the column: "a_h1", "∂E/∂w3".
    public var name: String { SheetRow.columns[rawValue] }

    /// w1…w8 in order, and the gradient ∂E/∂w of each.
    public static let weights: [Quantity] = [.w1, .w2, .w3, .w4, .w5, .w6, .w7, .w8]
    public static let gradients: [Quantity] = [.g1, .g2, .g3, .g4, .g5, .g6, .g7, .g8]
    /// What a learner types in the first row: the network's starting point.
    public static let startingValues: [Quantity] = [.t1, .t2, .i1, .i2] + weights

    /// The gradient of a weight (w3 → ∂E/∂w3); nil for anything else.
    public var gradient: Quantity? { Quantity.weights.firstIndex(of: self).map { Quantity.gradients[$0] } }
    public var isWeight: Bool { Quantity.weights.contains(self) }
    public var isStartingValue: Bool { Quantity.startingValues.contains(self) }

    public static func < (a: Quantity, b: Quantity) -> Bool { a.rawValue < b.rawValue }

    /// Recognises a header as learners write it: `E_tot`, `E_total`, `Etotal`, `a_o1`, `a_01` (digit
    /// zero), `out_h1`, `∂E/∂W1`, `dE/dw1`, `δE_tot/δw1`, `∂E∂W1`, `E∂w1`, `dw1`, `Etotaldw1`, ….
    public init?(header: String) {
        // Lower case, ∂ and δ read as d, separators dropped: "∂E_total/∂W5" → "detotaldw5".
        var key = ""
        for scalar in header.lowercased().unicodeScalars {
            switch scalar {
            case "∂", "δ", "𝜕": key.append("d")
            case " ", "_", "-", "/", "(", ")", "·", ":", "=", ".", "\t", "\u{A0}": continue
            default: key.unicodeScalars.append(scalar)
            }
        }
        guard let last = key.last, let digit = last.wholeNumberValue, (1...8).contains(digit) else { return nil }
        let stem = String(key.dropLast())
        func pick(_ pair: [Quantity]) -> Quantity? { digit <= pair.count ? pair[digit - 1] : nil }
        switch stem {
        case "t", "target": guard let q = pick([.t1, .t2]) else { return nil }; self = q
        case "i", "input", "x": guard let q = pick([.i1, .i2]) else { return nil }; self = q
        case "w": self = Quantity.weights[digit - 1]
        case "h", "neth", "zh", "inh": guard let q = pick([.h1, .h2]) else { return nil }; self = q
        case "ah", "outh", "acth", "σh", "sigmah", "sigmoidh", "oh": guard let q = pick([.ah1, .ah2]) else { return nil }; self = q
        case "o", "neto", "zo", "ino": guard let q = pick([.o1, .o2]) else { return nil }; self = q
        case "ao", "a0", "outo", "acto", "σo", "sigmao", "sigmoido", "oo": guard let q = pick([.ao1, .ao2]) else { return nil }; self = q
        case "e", "eo", "err", "error": guard let q = pick([.e1, .e2]) else { return nil }; self = q
        default:
            // A gradient: optional "d", "e" with an optional "tot"/"total"/"t", then "dw".
            guard stem.hasSuffix("dw") else { return nil }
            let numerator = stem.dropLast(2)
            let allowed: Set<Substring> = ["", "e", "de", "et", "det", "etot", "detot", "etotal", "detotal"]
            guard allowed.contains(numerator) else { return nil }
            self = Quantity.gradients[digit - 1]
        }
    }

    /// `E_tot` has no digit; this recognises its spellings.
    static func isTotalError(_ header: String) -> Bool {
        let key = header.lowercased().filter { !" _-/·:=.".contains($0) }
        return ["etot", "etotal", "et", "totalerror"].contains(key)
    }

    /// The quantity a header names, if any.
    static func named(_ header: String) -> Quantity? {
        isTotalError(header) ? .eTotal : Quantity(header: header)
    }
}

/// The course table as found in one sheet of a learner's workbook: where its header row and data
/// rows are, which column holds which quantity, and the learning rate and biases beside it.
public struct CourseTable: Sendable {
    public var sheet: Int
    public var sheetName: String
    /// 0-based row of the header row.
    public var headerRow: Int
    /// The column of each of the 31 quantities.
    public var columns: [Quantity: Int]
    /// The rows holding iterations, top to bottom (blank rows in between are skipped).
    public var rows: [Int]
    public var learningRate: LearningRate
    /// The fixed biases of the hidden and the output layer, 0 when the sheet has none.
    public var hiddenBias: Bias
    public var outputBias: Bias

    public init(sheet: Int, sheetName: String, headerRow: Int, columns: [Quantity: Int], rows: [Int],
                learningRate: LearningRate, hiddenBias: Bias, outputBias: Bias) {
        self.sheet = sheet; self.sheetName = sheetName; self.headerRow = headerRow; self.columns = columns; self.rows = rows
        self.learningRate = learningRate; self.hiddenBias = hiddenBias; self.outputBias = outputBias
    }

    /// The cell of a quantity in the table's k-th iteration.
    public func cell(_ quantity: Quantity, iteration k: Int) -> CellAddress {
        CellAddress(row: rows[k], column: columns[quantity]!)
    }

    public struct LearningRate: Sendable {
        public var value: Double
        /// The cell it was read from (nil when it was inferred from the updates).
        public var cell: CellAddress?
        /// How it was found, for the report: "the cell the weight updates use", "labelled η", "inferred".
        public var source: String

        public init(value: Double, cell: CellAddress?, source: String) { self.value = value; self.cell = cell; self.source = source }
    }

    public struct Bias: Sendable {
        public var value: Double
        public var cell: CellAddress?

        public init(value: Double, cell: CellAddress?) { self.value = value; self.cell = cell }
    }
}

/// Why a file holds no table that can be checked: one line, with the headers found and missing.
public struct NoCourseTable: Error, CustomStringConvertible {
    public let description: String
}

/// Finds course tables by their header rows, anywhere in any sheet.
enum TableFinder {
    /// A row is a header row when it names at least this many of the 31 quantities.
    static let minimumRecognised = 16

    /// Every table in the file; throws `NoCourseTable` when there is none, naming what was closest.
    static func tables(in file: SpreadsheetFile, values: WorkbookEvaluator) throws -> [CourseTable] {
        var tables: [CourseTable] = []
        var best: (sheet: String, row: Int, found: [Quantity: Int])?
        for (index, sheet) in file.sheets.enumerated() {
            // Text cells by row, so each row is looked at once.
            var headersByRow: [Int: [(column: Int, quantity: Quantity)]] = [:]
            for (address, cell) in sheet.cells {
                guard case .text(let text)? = cell.value, text.count <= 40, let quantity = Quantity.named(text) else { continue }
                headersByRow[address.row, default: []].append((address.column, quantity))
            }
            var nextFree = 0
            let lastRow = sheet.size.rows - 1
            for row in headersByRow.keys.sorted() where row >= nextFree {
                var found: [Quantity: Int] = [:]
                for (column, quantity) in headersByRow[row]!.sorted(by: { $0.column < $1.column }) where found[quantity] == nil {
                    found[quantity] = column
                }
                guard found.count >= minimumRecognised else { continue }
                if found.count < Quantity.allCases.count {
                    if best == nil || found.count > best!.found.count { best = (sheet.name, row, found) }
                    continue
                }
                let rows = dataRows(below: row, columns: found, sheet: index, lastRow: lastRow, values: values)
                guard !rows.isEmpty else {
                    if best == nil { best = (sheet.name, row, found) }
                    continue
                }
                var table = CourseTable(sheet: index, sheetName: sheet.name, headerRow: row, columns: found, rows: rows,
                                        learningRate: .init(value: 0, cell: nil, source: ""),
                                        hiddenBias: .init(value: 0, cell: nil), outputBias: .init(value: 0, cell: nil))
                Surroundings.read(into: &table, file: file, values: values)
                tables.append(table)
                nextFree = rows.last! + 1
            }
        }
        if tables.isEmpty {
            guard let best else {
                throw NoCourseTable(description: "no course table: no row names at least \(minimumRecognised) of the columns t1, t2, i1, i2, w1…w8, h1, a_h1, …, E_tot, ∂E/∂w1…∂E/∂w8")
            }
            let missing = Quantity.allCases.filter { best.found[$0] == nil }.map(\.name)
            if missing.isEmpty {
                throw NoCourseTable(description: "the course table in sheet \"\(best.sheet)\" (header row \(best.row + 1)) has no rows of numbers under its header")
            }
            throw NoCourseTable(description: "no complete course table: sheet \"\(best.sheet)\" row \(best.row + 1) has \(best.found.count) of the 31 headers; missing " + missing.joined(separator: ", "))
        }
        return tables
    }

    /// The rows under a header that hold iterations: a row counts when most of the table's cells
    /// hold numbers. Blank rows are skipped; the table ends at the first row that is neither (a
    /// summary table, a note, another header) or after ten blank rows.
    static func dataRows(below header: Int, columns: [Quantity: Int], sheet: Int, lastRow: Int, values: WorkbookEvaluator) -> [Int] {
        var rows: [Int] = [], blanks = 0, row = header + 1
        while row <= lastRow {
            var numbers = 0, filled = 0
            for column in columns.values {
                switch values.value(sheet: sheet, CellAddress(row: row, column: column)) {
                case .empty: break
                case .number: numbers += 1; filled += 1
                default: filled += 1
                }
            }
            if filled == 0 {
                blanks += 1
                if blanks > 10 { break }
            } else if numbers * 4 >= columns.count * 3 {
                rows.append(row)
                blanks = 0
            } else {
                break
            }
            row += 1
        }
        return rows
    }
}
