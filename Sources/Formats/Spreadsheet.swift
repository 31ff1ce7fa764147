import Foundation

/// A spreadsheet as the readers see it: sheets of cells, each with the value the writing program
/// stored and, where the cell is computed, its formula. The same shape for .xlsx, .ods and .csv,
/// so that the checker of Part 1 sheets (`backprop check`) does not care which program wrote it.
///
/// Formulas are kept as text in Excel's A1 syntax without the leading "=" (`E4*C4+F4*D4`,
/// `$B$1`, `'η = 1'!B1`, `EXP(-I4)`): the ODS reader translates OpenFormula (`of:=[.E4]*[.C4]`,
/// `;` between arguments) into it, and the xlsx reader expands shared formulas into each cell.
public struct SpreadsheetFile: Sendable {
    public enum Format: String, Sendable { case xlsx, ods, csv }
    public var format: Format
    public var sheets: [Sheet]

    public init(format: Format, sheets: [Sheet]) { self.format = format; self.sheets = sheets }

    public struct Sheet: Sendable {
        public var name: String
        /// Only the cells that hold something; an absent cell is empty.
        public var cells: [CellAddress: Cell]

        public init(name: String, cells: [CellAddress: Cell]) { self.name = name; self.cells = cells }

        /// The number of rows and columns spanned by the cells (0 for an empty sheet).
        public var size: (rows: Int, columns: Int) {
            (cells.keys.map(\.row).max().map { $0 + 1 } ?? 0, cells.keys.map(\.column).max().map { $0 + 1 } ?? 0)
        }
    }

    public struct Cell: Sendable, Equatable {
        /// What the file stores for the cell: a constant, or a formula's cached result. Nil when a
        /// formula cell was saved without its result.
        public var value: Value?
        /// The formula without its "=", in A1 syntax; nil for a constant.
        public var formula: String?

        public init(value: Value?, formula: String? = nil) { self.value = value; self.formula = formula }
    }

    public enum Value: Sendable, Equatable {
        case number(Double)
        case text(String)
        case boolean(Bool)
        /// A spreadsheet error such as "#DIV/0!".
        case error(String)
    }
}

/// A cell's position, 0-based: row 0, column 0 is A1.
public struct CellAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var row: Int
    public var column: Int

    public init(row: Int, column: Int) { self.row = row; self.column = column }

    /// "A1"-style name: column letters, then the 1-based row.
    public var description: String { CellAddress.columnName(column) + String(row + 1) }

    /// The name with both parts fixed, as a formula writes a cell it must not move: "$B$1".
    public var absoluteDescription: String { "$" + CellAddress.columnName(column) + "$" + String(row + 1) }

    /// Reads "B7", "$AA$12" or "aa12"; nil for anything else or beyond the limits of a sheet.
    public init?(_ text: String) {
        var letters = 0, digits = 0, column = 0, row = 0, seenDigit = false
        for scalar in text.unicodeScalars where scalar != "$" {
            switch scalar.value {
            case 65...90, 97...122 where !seenDigit:
                letters += 1
                column = column * 26 + Int(scalar.value & 0x1F)
            case 48...57:
                seenDigit = true
                digits += 1
                row = row * 10 + Int(scalar.value - 48)
            default: return nil
            }
            if letters > 3 || digits > 7 { return nil }
        }
        guard letters > 0, digits > 0, row >= 1, column <= CellAddress.maximumColumns,
              row <= CellAddress.maximumRows else { return nil }
        self.init(row: row - 1, column: column - 1)
    }

    /// Excel's limits: 1,048,576 rows and 16,384 columns (XFD).
    public static let maximumRows = 1_048_576
    public static let maximumColumns = 16_384

    /// "A", "B", …, "Z", "AA", … for a 0-based column.
    public static func columnName(_ column: Int) -> String {
        var n = column + 1, name = ""
        while n > 0 {
            let remainder = (n - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + remainder))) + name
            n = (n - 1) / 26
        }
        return name
    }

    public static func < (a: CellAddress, b: CellAddress) -> Bool { (a.row, a.column) < (b.row, b.column) }
}

/// Why a spreadsheet could not be read: one line naming the file, what was wrong and what was expected.
public struct SpreadsheetReadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What the readers accept, so that no file can make them use unbounded memory or time. The
/// checker's help text prints these.
public enum SpreadsheetLimits {
    /// The file itself.
    public static let fileBytes = 64 << 20
    /// Any one part of a zip package (a worksheet's XML, the shared strings), uncompressed.
    public static let partBytes = 256 << 20
    /// All parts read from one package together, uncompressed.
    public static let totalBytes = 512 << 20
    /// Cells holding something, over all sheets.
    public static let cells = 2_000_000
    /// Sheets in one workbook.
    public static let sheets = 256
    /// Nesting of XML elements.
    public static let xmlDepth = 64
    /// Characters in one cell's text or formula; longer ones are cut there and the cell is marked.
    public static let cellCharacters = 32_767
    /// Formula text over all cells together, in UTF-8 bytes, counted after an xlsx file's shared
    /// formulas are expanded into each cell (one short master can stand for millions of cells).
    public static let formulaBytes = 128 << 20
}
