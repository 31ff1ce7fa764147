import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads OpenDocument spreadsheets (.ods): the tables of content.xml, with repeated rows and
/// cells expanded only where they hold something, and formulas translated from OpenFormula into
/// Excel's A1 syntax (`OpenFormula.excelSyntax`). Comments (`office:annotation`), drawings and
/// charts (`draw:*`, whose embedded tables are not sheets) are skipped. Names are matched with
/// the prefixes the OpenDocument specification uses (`table:`, `office:`, `text:`), as every
/// writer of .ods files writes them.
enum ODSReader {
    static func read(_ package: inout ZipPackage) throws -> SpreadsheetFile {
        guard let data = try package.read("content.xml") else {
            throw SpreadsheetReadError("\(package.file): the part content.xml is missing: expected an intact .ods file")
        }
        let content = ContentPart(file: package.file, part: "content.xml")
        try content.parse(data)
        return SpreadsheetFile(format: .ods, sheets: content.sheets)
    }
}

/// content.xml: tables, rows, cells and their paragraphs.
private final class ContentPart: XMLPartReader {
    private(set) var sheets: [SpreadsheetFile.Sheet] = []
    private var budget: ReadBudget
    /// The depth of the element whose content is skipped (a comment, a drawing), while inside it.
    private var skipping: Int?

    /// The table being read: its name, its cells, the depth of its element.
    private var table: (name: String, cells: [CellAddress: SpreadsheetFile.Cell], depth: Int)?
    /// The row being read (0-based) and how many times it repeats; rows past the last a sheet
    /// can have are ignored.
    private var row = 0, rowRepeats = 1, inRow = false
    private var column = 0
    /// The row's cells that hold something: their first column, how many times they repeat, content.
    private var rowCells: [(column: Int, repeats: Int, cell: SpreadsheetFile.Cell)] = []

    /// The cell being read: its attributes and the text of its paragraphs.
    private var cell: (attributes: [String: String], text: CellText, paragraphs: Int)?
    private var paragraphDepth = 0

    override init(file: String, part: String) {
        budget = ReadBudget(file: file)
        super.init(file: file, part: part)
    }

    override func start(_ name: String, _ attributes: [String: String]) throws {
        guard skipping == nil else { return }
        if name == "office:annotation" || name.hasPrefix("draw:") || name.hasPrefix("chart:") {
            skipping = depth
            return
        }
        switch name {
        case "table:table":
            guard table == nil else {
                skipping = depth // a table inside a table is not a sheet
                return
            }
            try ReadBudget.checkSheets(sheets.count + 1, file: file)
            table = (attributes["table:name"] ?? "Sheet\(sheets.count + 1)", [:], depth)
            row = 0
        case "table:table-row" where table != nil:
            inRow = true
            rowRepeats = try repeats(attributes["table:number-rows-repeated"], "table:number-rows-repeated")
            column = 0
            rowCells.removeAll()
        case "table:table-cell", "table:covered-table-cell":
            guard inRow else { return }
            cell = (attributes, CellText(), 0)
        case "text:p", "text:h":
            guard let paragraphs = cell?.paragraphs else { return }
            if paragraphs > 0 { cell?.text.append("\n") }
            cell?.paragraphs += 1
            paragraphDepth += 1
        case "text:s" where paragraphDepth > 0:
            let count = try repeats(attributes["text:c"], "text:c")
            cell?.text.append(String(repeating: " ", count: min(count, SpreadsheetLimits.cellCharacters)))
        case "text:tab" where paragraphDepth > 0: cell?.text.append("\t")
        case "text:line-break" where paragraphDepth > 0: cell?.text.append("\n")
        default: break
        }
    }

    override func end(_ name: String) throws {
        if let skipped = skipping {
            if depth == skipped { skipping = nil }
            return
        }
        switch name {
        case "table:table" where table?.depth == depth:
            sheets.append(SpreadsheetFile.Sheet(name: table!.name, cells: table!.cells))
            table = nil
        case "table:table-row" where inRow:
            try endRow()
            inRow = false
        case "table:table-cell", "table:covered-table-cell":
            guard let cell else { return }
            try endCell(cell.attributes, text: cell.text.text)
            self.cell = nil
        case "text:p", "text:h":
            paragraphDepth = max(0, paragraphDepth - 1)
        default: break
        }
    }

    override func characters(_ text: String) {
        if paragraphDepth > 0 && skipping == nil { cell?.text.append(text) }
    }

    /// A `number-…-repeated` or `text:c` count: a whole number from 1, 1 when absent.
    private func repeats(_ text: String?, _ attribute: String) throws -> Int {
        guard let text else { return 1 }
        guard let count = Int(text), count >= 1 else {
            throw SpreadsheetReadError("\(file): \(part) has \(attribute)=\"\(oneLine(text))\": expected a whole number from 1")
        }
        return count
    }

    /// Adds a cell to the row (with its repeats, up to the sheet's last column) if it holds
    /// something, and moves past it.
    private func endCell(_ attributes: [String: String], text: String) throws {
        let count = try repeats(attributes["table:number-columns-repeated"], "table:number-columns-repeated")
        let columns = min(count, CellAddress.maximumColumns - column)
        guard columns > 0 else { return }
        let formula = attributes["table:formula"].map { CellText.cut(OpenFormula.excelSyntax($0)) }
        let value = Self.value(attributes, text: text, hasFormula: formula != nil)
        if value != nil || formula != nil {
            rowCells.append((column, columns, SpreadsheetFile.Cell(value: value, formula: formula)))
        }
        column += columns
    }

    /// Stores the row's cells in each row it repeats over (up to the sheet's last row), after
    /// checking the limits for all of them; an empty row only moves the position.
    private func endRow() throws {
        let rows = min(rowRepeats, CellAddress.maximumRows - row)
        guard rows > 0 else { return }
        if !rowCells.isEmpty {
            let cellsPerRow = rowCells.reduce(0) { $0 + $1.repeats }
            let formulaBytesPerRow = rowCells.reduce(0) { $0 + $1.repeats * ($1.cell.formula?.utf8.count ?? 0) }
            try budget.addCells(cellsPerRow * rows)
            try budget.addFormula(bytes: formulaBytesPerRow * rows)
            for r in row..<(row + rows) {
                for (first, repeats, cell) in rowCells {
                    for c in first..<(first + repeats) { table!.cells[CellAddress(row: r, column: c)] = cell }
                }
            }
        }
        row += rows
    }

    /// The cell's value from its `office:value-type`, else the text of its paragraphs (an error's
    /// text when LibreOffice marks the cell `calcext:value-type="error"`).
    private static func value(_ attributes: [String: String], text: String, hasFormula: Bool) -> SpreadsheetFile.Value? {
        let shown: SpreadsheetFile.Value? = text.isEmpty ? nil
            : attributes["calcext:value-type"] == "error" ? .error(text) : .text(text)
        switch attributes["office:value-type"] {
        case "float", "percentage", "currency":
            if let number = attributes["office:value"].flatMap(Double.init), number.isFinite { return .number(number) }
            return shown
        case "boolean":
            switch attributes["office:boolean-value"] {
            case "true": return .boolean(true)
            case "false": return .boolean(false)
            default: return shown
            }
        case "string":
            if case .error = shown { return shown }
            let string = attributes["office:string-value"].map { CellText.cut($0) } ?? text
            return string.isEmpty && !hasFormula ? nil : .text(string)
        case "date":
            return shown ?? attributes["office:date-value"].map { .text(CellText.cut($0)) }
        case "time":
            return shown ?? attributes["office:time-value"].map { .text(CellText.cut($0)) }
        default:
            return shown
        }
    }
}

/// Translates OpenFormula, as .ods files store formulas, into Excel's A1 syntax:
/// `of:=[.E4]*[.C4]` → `E4*C4`, `[.$B$1]` → `$B$1`, `[$Sheet1.B1]` → `Sheet1!B1`,
/// `[$'η = 1'.B1]` → `'η = 1'!B1`, `[.A1:.B2]` → `A1:B2`, `;` between arguments → `,`, and in
/// inline arrays `{1;2|3;4}` → `{1,2;3,4}`. String literals and everything else are kept.
enum OpenFormula {
    static func excelSyntax(_ formula: String) -> String {
        var text = Substring(trimmed(formula))
        // A namespace prefix ("of:", "oooc:", "msoxl:" for Excel syntax already), then "=".
        if let colon = text.firstIndex(of: ":"), text[..<colon].allSatisfy({ $0.isASCII && $0.isLetter }),
           text[text.index(after: colon)...].hasPrefix("=") {
            let namespace = text[..<colon]
            text = text[text.index(after: colon)...]
            if namespace == "msoxl" { return String(text.dropFirst()) }
        }
        if text.hasPrefix("=") { text = text.dropFirst() }

        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0, arrayDepth = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let end = FormulaMove.quotedEnd(bytes, from: index)
                out += bytes[index..<end]
                index = end
                continue
            case UInt8(ascii: "["):
                var end = index + 1
                while end < bytes.count && bytes[end] != UInt8(ascii: "]") {
                    end = bytes[end] == UInt8(ascii: "'") ? FormulaMove.quotedEnd(bytes, from: end) : end + 1
                }
                let inside = String(decoding: bytes[(index + 1)..<min(end, bytes.count)], as: UTF8.self)
                if end < bytes.count, let reference = reference(inside) {
                    out += Array(reference.utf8)
                } else {
                    out += bytes[index..<min(end + 1, bytes.count)]
                }
                index = end + 1
                continue
            case UInt8(ascii: "{"): arrayDepth += 1; out.append(byte)
            case UInt8(ascii: "}"): arrayDepth = max(0, arrayDepth - 1); out.append(byte)
            case UInt8(ascii: ";"): out.append(UInt8(ascii: ","))
            case UInt8(ascii: "|") where arrayDepth > 0: out.append(UInt8(ascii: ";"))
            default: out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The inside of `[…]`: "$Sheet1.A1:.B2" → "Sheet1!A1:B2"; nil when it is not a reference
    /// this translation knows (an external file's), which is then kept as written.
    static func reference(_ inside: String) -> String? {
        var ends: [(sheet: String?, cell: String)] = []
        var rest = Substring(inside)
        while true {
            var sheet: String?
            if rest.hasPrefix("$") { rest = rest.dropFirst() }
            if rest.hasPrefix("'") {
                // A quoted sheet name, '' inside for a quote.
                var name = "", index = rest.index(after: rest.startIndex), closed = false
                while index < rest.endIndex {
                    if rest[index] == "'" {
                        let next = rest.index(after: index)
                        if next < rest.endIndex && rest[next] == "'" { name.append("'"); index = rest.index(after: next); continue }
                        index = next
                        closed = true
                        break
                    }
                    name.append(rest[index])
                    index = rest.index(after: index)
                }
                guard closed, rest[index...].hasPrefix(".") else { return nil }
                sheet = name
                rest = rest[index...]
            } else if let dot = rest.firstIndex(of: "."), dot != rest.startIndex {
                sheet = String(rest[..<dot])
                rest = rest[dot...]
            }
            guard rest.hasPrefix(".") else { return nil }
            rest = rest.dropFirst()
            let cell = rest.prefix { $0 != ":" }
            guard !cell.isEmpty, cell.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "$" || $0 == "#" || $0 == "!") }) else { return nil }
            ends.append((sheet, String(cell)))
            rest = rest.dropFirst(cell.count)
            if rest.isEmpty { break }
            rest = rest.dropFirst() // ":"
            guard ends.count < 2 else { return nil }
        }
        let first = ends[0]
        guard ends.count == 2 else { return (first.sheet.map { quoted($0) + "!" } ?? "") + first.cell }
        let second = ends[1]
        switch (first.sheet, second.sheet) {
        case let (one?, two?) where one != two:
            // Across sheets: Sheet1:Sheet3!A1:B2.
            let both = needsQuotes(one) || needsQuotes(two)
                ? "'" + escaped(one) + ":" + escaped(two) + "'" : one + ":" + two
            return both + "!" + first.cell + ":" + second.cell
        case let (one?, _):
            return quoted(one) + "!" + first.cell + ":" + second.cell
        case let (nil, two?):
            return first.cell + ":" + quoted(two) + "!" + second.cell
        case (nil, nil):
            return first.cell + ":" + second.cell
        }
    }

    /// A sheet name as a reference writes it: quoted ('…', with '' for ') unless it is a plain name.
    static func quoted(_ sheet: String) -> String {
        needsQuotes(sheet) ? "'" + escaped(sheet) + "'" : sheet
    }

    private static func escaped(_ sheet: String) -> String { sheet.replacingOccurrences(of: "'", with: "''") }

    /// Excel writes a sheet name bare only when it is ASCII letters, digits, "_" and "." not
    /// starting with a digit, and cannot be read as an A1 or R1C1 reference (quoting more is harmless).
    private static func needsQuotes(_ sheet: String) -> Bool {
        guard let first = sheet.first, first.isASCII, first.isLetter || first == "_",
              sheet.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }) else { return true }
        // A1-style, or R1C1-style (R, C, R2, C3, R2C3, RC …).
        return CellAddress(sheet) != nil || sheet.uppercased().allSatisfy { $0 == "R" || $0 == "C" || $0.isNumber }
    }
}
