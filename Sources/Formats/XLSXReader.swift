import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads Office Open XML workbooks (.xlsx, .xlsm): the sheets `xl/workbook.xml` lists, each found
/// through `xl/_rels/workbook.xml.rels`, with shared strings, inline strings and formulas, shared
/// formulas expanded into every cell they stand for. Elements are matched by their local names,
/// so a writer's namespace prefixes (`x:row`) do not matter.
enum XLSXReader {
    static func read(_ package: inout ZipPackage) throws -> SpreadsheetFile {
        let file = package.file
        let workbook = WorkbookPart(file: file, part: "xl/workbook.xml")
        try workbook.parse(try required("xl/workbook.xml", in: &package))
        let relationships = RelationshipsPart(file: file, part: "xl/_rels/workbook.xml.rels")
        try relationships.parse(try required("xl/_rels/workbook.xml.rels", in: &package))

        var sharedStrings: [String] = []
        if let target = relationships.targets.values.first(where: { $0.type.hasSuffix("/sharedStrings") })?.target {
            let path = resolve(target, from: "xl")
            let part = SharedStringsPart(file: file, part: path)
            try part.parse(try required(path, in: &package))
            sharedStrings = part.strings
        }

        var budget = ReadBudget(file: file)
        var sheets: [SpreadsheetFile.Sheet] = []
        for (name, relationship) in workbook.sheets {
            guard let target = relationships.targets[relationship]?.target else {
                throw SpreadsheetReadError("\(file): sheet '\(oneLine(name))' has no part in xl/_rels/workbook.xml.rels (relationship \(oneLine(relationship))): expected an intact .xlsx file")
            }
            let path = resolve(target, from: "xl")
            let sheet = WorksheetPart(file: file, part: path, sharedStrings: sharedStrings, budget: budget)
            try sheet.parse(try required(path, in: &package))
            budget = sheet.budget
            sheets.append(SpreadsheetFile.Sheet(name: name, cells: sheet.cells))
        }
        return SpreadsheetFile(format: .xlsx, sheets: sheets)
    }

    private static func required(_ path: String, in package: inout ZipPackage) throws -> Data {
        guard let data = try package.read(path) else {
            throw SpreadsheetReadError("\(package.file): the part \(oneLine(path)) is missing: expected an intact .xlsx file")
        }
        return data
    }

    /// A relationship's target as a part name: "worksheets/sheet1.xml" from folder "xl" is
    /// "xl/worksheets/sheet1.xml"; "/xl/worksheets/sheet1.xml" is absolute; ".." goes up.
    static func resolve(_ target: String, from folder: String) -> String {
        var path = target.hasPrefix("/") ? [] : folder.split(separator: "/").map(String.init)
        for piece in target.split(separator: "/") {
            switch piece {
            case ".": continue
            case "..": if !path.isEmpty { path.removeLast() }
            default: path.append(String(piece))
            }
        }
        return path.joined(separator: "/")
    }
}

/// xl/workbook.xml: the sheets' names and relationship ids, in the order the workbook shows them.
private final class WorkbookPart: XMLPartReader {
    private(set) var sheets: [(name: String, relationship: String)] = []

    override func start(_ name: String, _ attributes: [String: String]) throws {
        guard localName(name) == "sheet" else { return }
        // r:id, whatever prefix the relationships namespace has.
        let relationship = attributes.first { $0.key.hasSuffix(":id") }?.value ?? ""
        sheets.append((attributes["name"] ?? "Sheet\(sheets.count + 1)", relationship))
        try ReadBudget.checkSheets(sheets.count, file: file)
    }
}

/// A .rels part: each relationship's id, type and target.
private final class RelationshipsPart: XMLPartReader {
    private(set) var targets: [String: (type: String, target: String)] = [:]

    override func start(_ name: String, _ attributes: [String: String]) throws {
        guard localName(name) == "Relationship", let id = attributes["Id"], let target = attributes["Target"],
              attributes["TargetMode"] != "External" else { return }
        targets[id] = (attributes["Type"] ?? "", target)
    }
}

/// xl/sharedStrings.xml: each `<si>`'s text, rich-text runs joined, phonetic runs (`<rPh>`) left out.
private final class SharedStringsPart: XMLPartReader {
    private(set) var strings: [String] = []
    private var item: CellText?
    private var inText = false
    private var phonetic = 0

    override func start(_ name: String, _ attributes: [String: String]) throws {
        switch localName(name) {
        case "si":
            item = CellText()
        case "rPh": phonetic += 1
        case "t": inText = item != nil && phonetic == 0
        default: break
        }
    }

    override func end(_ name: String) throws {
        switch localName(name) {
        case "si":
            strings.append(item?.text ?? "")
            item = nil
            guard strings.count <= SpreadsheetLimits.cells else {
                throw SpreadsheetReadError("\(file): \(part) has more than \(grouped(SpreadsheetLimits.cells)) strings, more than the cells a workbook may have (SpreadsheetLimits.cells)")
            }
        case "rPh": phonetic -= 1
        case "t": inText = false
        default: break
        }
    }

    override func characters(_ text: String) {
        if inText { item?.append(text) }
    }
}

/// One worksheet's `<sheetData>`: rows and cells, their values, formulas and positions.
private final class WorksheetPart: XMLPartReader {
    private let sharedStrings: [String]
    private(set) var budget: ReadBudget
    private(set) var cells: [CellAddress: SpreadsheetFile.Cell] = [:]
    /// The row being read (0-based); -1 before the first.
    private var row = -1
    private var nextColumn = 0
    /// Shared formulas by their `si`: the master's text and cell.
    private var sharedFormulas: [String: (formula: String, cell: CellAddress)] = [:]

    /// The cell being read.
    private struct Cell {
        var address: CellAddress
        var type: String?
        var value = CellText(), hasValue = false
        var formula = CellText(), formulaType: String?, sharedIndex: String?
        var inline = CellText()
    }
    private var cell: Cell?
    private enum Text { case value, formula, inline }
    private var reading: Text?
    private var inInlineString = false
    private var phonetic = 0

    init(file: String, part: String, sharedStrings: [String], budget: ReadBudget) {
        self.sharedStrings = sharedStrings
        self.budget = budget
        super.init(file: file, part: part)
    }

    override func start(_ name: String, _ attributes: [String: String]) throws {
        switch localName(name) {
        case "row":
            if let r = attributes["r"] {
                guard let number = Int(r), (1...CellAddress.maximumRows).contains(number) else {
                    throw SpreadsheetReadError("\(file): \(part) has a row numbered \"\(oneLine(r))\": expected 1 to \(grouped(CellAddress.maximumRows))")
                }
                row = number - 1
            } else {
                row += 1
            }
            nextColumn = 0
        case "c":
            let address: CellAddress
            if let r = attributes["r"] {
                guard let named = CellAddress(r) else {
                    throw SpreadsheetReadError("\(file): \(part) has a cell at \"\(oneLine(r))\": expected a cell name from A1 to XFD\(CellAddress.maximumRows)")
                }
                address = named
            } else {
                address = CellAddress(row: max(row, 0), column: nextColumn)
                guard address.row < CellAddress.maximumRows && address.column < CellAddress.maximumColumns else {
                    throw SpreadsheetReadError("\(file): \(part) has a cell beyond XFD\(CellAddress.maximumRows), the last cell of a sheet")
                }
            }
            nextColumn = address.column + 1
            cell = Cell(address: address, type: attributes["t"])
        case "v" where cell != nil:
            reading = .value
            cell?.hasValue = true
        case "f" where cell != nil:
            reading = .formula
            cell?.formulaType = attributes["t"]
            cell?.sharedIndex = attributes["si"]
        case "is" where cell != nil: inInlineString = true
        case "rPh": phonetic += 1
        case "t" where inInlineString && phonetic == 0: reading = .inline
        default: break
        }
    }

    override func end(_ name: String) throws {
        switch localName(name) {
        case "c":
            if let cell { try store(cell) }
            cell = nil
        case "v", "f", "t": reading = nil
        case "is": inInlineString = false
        case "rPh": phonetic -= 1
        default: break
        }
    }

    override func characters(_ text: String) {
        switch reading {
        case .value: cell?.value.append(text)
        case .formula: cell?.formula.append(text)
        case .inline: cell?.inline.append(text)
        case nil: break
        }
    }

    private func store(_ cell: Cell) throws {
        let formula = try formula(of: cell)
        let value = try value(of: cell, hasFormula: formula != nil)
        guard value != nil || formula != nil else { return }
        try budget.addCells(1)
        if let formula { try budget.addFormula(bytes: formula.utf8.count) }
        cells[cell.address] = SpreadsheetFile.Cell(value: value, formula: formula)
    }

    /// The cell's formula without "=", a shared formula's dependent's moved from its master.
    private func formula(of cell: Cell) throws -> String? {
        var text = trimmed(cell.formula.text)
        if text.hasPrefix("=") { text = trimmed(String(text.dropFirst())) }
        guard cell.formulaType == "shared", let index = cell.sharedIndex else { return text.isEmpty ? nil : text }
        if !text.isEmpty {
            sharedFormulas[index] = (text, cell.address)
            return text
        }
        guard let master = sharedFormulas[index] else {
            throw SpreadsheetReadError("\(file): \(part) cell \(cell.address) uses shared formula \(oneLine(index)), which no cell before it defines: expected an intact .xlsx file")
        }
        return CellText.cut(FormulaMove.move(master.formula, rows: cell.address.row - master.cell.row,
                                             columns: cell.address.column - master.cell.column))
    }

    private func value(of cell: Cell, hasFormula: Bool) throws -> SpreadsheetFile.Value? {
        let text = cell.value.text
        let trimmed = Formats.trimmed(text)
        switch cell.type {
        case "s":
            guard cell.hasValue, !trimmed.isEmpty else { return nil }
            guard let index = Int(trimmed), sharedStrings.indices.contains(index) else {
                throw SpreadsheetReadError("\(file): \(part) cell \(cell.address) refers to shared string \"\(oneLine(trimmed))\": expected the number of one of the \(grouped(sharedStrings.count)) strings in the shared string table")
            }
            return sharedStrings[index].isEmpty && !hasFormula ? nil : .text(sharedStrings[index])
        case "inlineStr":
            return cell.inline.isEmpty && !hasFormula ? nil : .text(cell.inline.text)
        case "str":
            return cell.hasValue && (hasFormula || !text.isEmpty) ? .text(text) : nil
        case "b":
            switch trimmed {
            case "": return nil
            case "1", "true": return .boolean(true)
            case "0", "false": return .boolean(false)
            default: return .text(text)
            }
        case "e":
            return trimmed.isEmpty ? nil : .error(trimmed)
        default:
            guard !trimmed.isEmpty else { return nil }
            if let number = Double(trimmed), number.isFinite { return .number(number) }
            return .text(text)
        }
    }
}

/// Moves a formula written for one cell to another, as Excel does when a formula is copied and as
/// a shared formula's dependents need: relative references shift by the offset, the `$` parts stay.
/// Text in "string literals", function names (`LOG10(`), sheet names (`Sheet1!`, `'My sheet'!`),
/// structured references (`Table1[Column]`) and names are left alone; a reference moved off the
/// sheet becomes `#REF!`. Works on UTF-8 bytes: every character that matters is ASCII.
enum FormulaMove {
    static func move(_ formula: String, rows: Int, columns: Int) -> String {
        let text = Array(formula.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 16)
        var index = 0
        while index < text.count {
            let byte = text[index]
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let end = quotedEnd(text, from: index)
                out += text[index..<end]
                index = end
            case UInt8(ascii: "["):
                var end = index, depth = 0
                repeat {
                    if text[end] == UInt8(ascii: "[") { depth += 1 } else if text[end] == UInt8(ascii: "]") { depth -= 1 }
                    end += 1
                } while end < text.count && depth > 0
                out += text[index..<end]
                index = end
            case _ where isDigit(byte) || byte == UInt8(ascii: "$") && index + 1 < text.count && isDigit(text[index + 1]):
                // A row range ("3:5", "$3:$5"), else a number ("1.5E-3").
                if let (first, afterFirst) = rowPart(text, from: index), afterFirst < text.count, text[afterFirst] == UInt8(ascii: ":"),
                   let (second, end) = rowPart(text, from: afterFirst + 1) {
                    out += moved(row: first, by: rows) + [UInt8(ascii: ":")] + moved(row: second, by: rows)
                    index = end
                } else {
                    let end = byte == UInt8(ascii: "$") ? index + 1 : numberEnd(text, from: index)
                    out += text[index..<end]
                    index = end
                }
            case _ where startsName(byte):
                var end = index + 1
                while end < text.count && continuesName(text, at: end) { end += 1 }
                let token = text[index..<end]
                let next: UInt8? = end < text.count ? text[end] : nil
                if next == UInt8(ascii: "(") || next == UInt8(ascii: "!") {
                    out += token // a function or a sheet
                } else if let reference = cellPart(token) {
                    out += moved(reference, rows: rows, columns: columns)
                } else if let column = columnPart(token), next == UInt8(ascii: ":") {
                    var secondEnd = end + 1
                    while secondEnd < text.count && continuesName(text, at: secondEnd) { secondEnd += 1 }
                    if let second = columnPart(text[(end + 1)..<secondEnd]) {
                        out += moved(column: column, by: columns) + [UInt8(ascii: ":")] + moved(column: second, by: columns)
                        end = secondEnd
                    } else {
                        out += token
                    }
                } else {
                    out += token
                }
                index = end
            default:
                out.append(byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// One past the closing quote of the literal opening at `start` ("" or '' inside is a quote).
    static func quotedEnd(_ text: [UInt8], from start: Int) -> Int {
        let quote = text[start]
        var index = start + 1
        while index < text.count {
            if text[index] == quote {
                if index + 1 < text.count && text[index + 1] == quote { index += 2; continue }
                return index + 1
            }
            index += 1
        }
        return text.count
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    private static func startsName(_ byte: UInt8) -> Bool {
        isLetter(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "$") || byte >= 0x80
    }
    private static func continuesName(_ text: [UInt8], at index: Int) -> Bool {
        guard index < text.count else { return false }
        let byte = text[index]
        return startsName(byte) || isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "?")
    }

    /// The end of the number literal at `start`: digits, a decimal point, an exponent.
    private static func numberEnd(_ text: [UInt8], from start: Int) -> Int {
        var index = start
        while index < text.count && (isDigit(text[index]) || text[index] == UInt8(ascii: ".")) { index += 1 }
        if index < text.count, text[index] | 0x20 == UInt8(ascii: "e") {
            var exponent = index + 1
            if exponent < text.count && (text[exponent] == UInt8(ascii: "+") || text[exponent] == UInt8(ascii: "-")) { exponent += 1 }
            if exponent < text.count && isDigit(text[exponent]) {
                index = exponent
                while index < text.count && isDigit(text[index]) { index += 1 }
            }
        }
        return index
    }

    struct Part { var absolute: Bool; var index: Int }

    /// "$3" or "3" at `start`, as a 0-based row, and where it ends.
    private static func rowPart(_ text: [UInt8], from start: Int) -> (Part, Int)? {
        var index = start
        let absolute = index < text.count && text[index] == UInt8(ascii: "$")
        if absolute { index += 1 }
        var row = 0, digits = 0
        while index < text.count && isDigit(text[index]) && digits < 8 {
            row = row * 10 + Int(text[index] - 0x30)
            digits += 1
            index += 1
        }
        guard digits > 0, (1...CellAddress.maximumRows).contains(row), !continuesName(text, at: index) else { return nil }
        return (Part(absolute: absolute, index: row - 1), index)
    }

    /// "$AB" or "AB" as a 0-based column.
    private static func columnPart(_ token: ArraySlice<UInt8>) -> Part? {
        let absolute = token.first == UInt8(ascii: "$")
        let letters = token.dropFirst(absolute ? 1 : 0)
        guard (1...3).contains(letters.count), letters.allSatisfy(isLetter) else { return nil }
        let column = letters.reduce(0) { $0 * 26 + Int($1 | 0x20) - 0x60 }
        guard column <= CellAddress.maximumColumns else { return nil }
        return Part(absolute: absolute, index: column - 1)
    }

    /// "$B$7", "B$7", "b7" as column and row parts.
    private static func cellPart(_ token: ArraySlice<UInt8>) -> (column: Part, row: Part)? {
        guard let firstDigit = token.firstIndex(where: isDigit) else { return nil }
        var letters = token[..<firstDigit]
        var rowAbsolute = false
        if letters.last == UInt8(ascii: "$") {
            rowAbsolute = true
            letters = letters.dropLast()
        }
        let digits = token[firstDigit...]
        guard let column = columnPart(letters), (1...7).contains(digits.count), digits.allSatisfy(isDigit),
              let row = Int(String(decoding: digits, as: UTF8.self)), (1...CellAddress.maximumRows).contains(row) else { return nil }
        return (column, Part(absolute: rowAbsolute, index: row - 1))
    }

    private static func moved(_ reference: (column: Part, row: Part), rows: Int, columns: Int) -> [UInt8] {
        let column = reference.column.absolute ? reference.column.index : reference.column.index + columns
        let row = reference.row.absolute ? reference.row.index : reference.row.index + rows
        guard (0..<CellAddress.maximumColumns).contains(column), (0..<CellAddress.maximumRows).contains(row) else {
            return Array("#REF!".utf8)
        }
        return Array(((reference.column.absolute ? "$" : "") + CellAddress.columnName(column)
            + (reference.row.absolute ? "$" : "") + String(row + 1)).utf8)
    }

    private static func moved(row part: Part, by rows: Int) -> [UInt8] {
        let row = part.absolute ? part.index : part.index + rows
        guard (0..<CellAddress.maximumRows).contains(row) else { return Array("#REF!".utf8) }
        return Array(((part.absolute ? "$" : "") + String(row + 1)).utf8)
    }

    private static func moved(column part: Part, by columns: Int) -> [UInt8] {
        let column = part.absolute ? part.index : part.index + columns
        guard (0..<CellAddress.maximumColumns).contains(column) else { return Array("#REF!".utf8) }
        return Array(((part.absolute ? "$" : "") + CellAddress.columnName(column)).utf8)
    }
}
