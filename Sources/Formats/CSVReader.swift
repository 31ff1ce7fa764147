import Foundation

/// Reads CSV text (RFC 4180: quoted fields, "" for a quote inside them, line breaks inside them,
/// CRLF or LF) into one sheet. The delimiter, `,` `;` or tab, is found from the first lines. A
/// field that reads as a decimal number ("0.05", "-1.5E-05", " 3 ", and "0,05" when the delimiter
/// is `;`, as Excel writes in locales with a decimal comma) is a number; any other is text,
/// trimmed; empty fields are not stored.
enum CSVReader {
    /// `text` is UTF-8 without a byte order mark.
    static func read(_ text: [UInt8], file: String, sheetName: String) throws -> SpreadsheetFile {
        let delimiter = self.delimiter(text)
        var budget = ReadBudget(file: file)
        var cells: [CellAddress: SpreadsheetFile.Cell] = [:]
        var row = 0, column = 0, line = 1
        var field: [UInt8] = []
        var index = 0

        func endField() throws {
            defer { field.removeAll(keepingCapacity: true); column += 1 }
            guard let value = Self.value(field, decimalComma: delimiter == UInt8(ascii: ";")) else { return }
            guard row < CellAddress.maximumRows, column < CellAddress.maximumColumns else {
                throw SpreadsheetReadError("\(file) has a value on line \(grouped(line)) beyond row \(grouped(CellAddress.maximumRows)) or column \(grouped(CellAddress.maximumColumns)), the last a sheet has")
            }
            try budget.addCells(1)
            cells[CellAddress(row: row, column: column)] = SpreadsheetFile.Cell(value: value)
        }

        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: "\"") && field.isEmpty {
                // A quoted field: up to the lone closing quote; what follows it up to the delimiter is kept too.
                let startLine = line
                index += 1
                while true {
                    guard index < text.count else {
                        throw SpreadsheetReadError("\(file): the quoted field starting on line \(grouped(startLine)) has no closing quote: expected CSV with balanced quotes")
                    }
                    if text[index] == UInt8(ascii: "\"") {
                        if index + 1 < text.count && text[index + 1] == UInt8(ascii: "\"") {
                            field.append(UInt8(ascii: "\""))
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    if text[index] == UInt8(ascii: "\n") { line += 1 }
                    field.append(text[index])
                    index += 1
                }
                continue
            }
            index += 1
            switch byte {
            case delimiter:
                try endField()
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                if byte == UInt8(ascii: "\r") && index < text.count && text[index] == UInt8(ascii: "\n") { index += 1 }
                try endField()
                row += 1
                column = 0
                line += 1
            default:
                field.append(byte)
            }
        }
        try endField()
        return SpreadsheetFile(format: .csv, sheets: [SpreadsheetFile.Sheet(name: sheetName, cells: cells)])
    }

    /// The delimiter among tab, `;` and `,` that every one of the first lines holds the same
    /// number of times (outside quotes), preferred in that order (a `;` file may hold decimal
    /// commas); else the most frequent; `,` when none occurs.
    static func delimiter(_ text: [UInt8]) -> UInt8 {
        let candidates: [UInt8] = [UInt8(ascii: "\t"), UInt8(ascii: ";"), UInt8(ascii: ",")]
        var lines: [[Int]] = []
        var counts = [0, 0, 0], quoted = false
        for byte in text.prefix(1 << 16) {
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            guard !quoted else { continue }
            if byte == UInt8(ascii: "\n") {
                lines.append(counts)
                counts = [0, 0, 0]
                if lines.count == 10 { break }
            } else if let which = candidates.firstIndex(of: byte) {
                counts[which] += 1
            }
        }
        if counts != [0, 0, 0] { lines.append(counts) }
        for which in candidates.indices {
            if let first = lines.first?[which], first > 0, lines.allSatisfy({ $0[which] == first }) { return candidates[which] }
        }
        let totals = candidates.indices.map { which in lines.reduce(0) { $0 + $1[which] } }
        guard let most = totals.max(), most > 0 else { return UInt8(ascii: ",") }
        return candidates[totals.firstIndex(of: most)!]
    }

    /// A number when the trimmed field is a decimal number, else the trimmed text (cut at
    /// `SpreadsheetLimits.cellCharacters`); nil when it is empty.
    static func value(_ field: [UInt8], decimalComma: Bool) -> SpreadsheetFile.Value? {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = field.firstIndex(where: { !isSpace($0) }), let last = field.lastIndex(where: { !isSpace($0) }) else { return nil }
        var bytes = Array(field[first...last])
        if decimalComma, !bytes.contains(UInt8(ascii: ".")), bytes.filter({ $0 == UInt8(ascii: ",") }).count == 1 {
            bytes = bytes.map { $0 == UInt8(ascii: ",") ? UInt8(ascii: ".") : $0 }
        }
        if isDecimal(bytes), let number = Double(String(decoding: bytes, as: UTF8.self)), number.isFinite {
            return .number(number)
        }
        return .text(CellText.cut(String(decoding: field[first...last], as: UTF8.self)))
    }

    /// [+-] digits [. digits] [(e|E) [+-] digits], with at least one digit before the exponent.
    private static func isDecimal(_ bytes: [UInt8]) -> Bool {
        var index = 0, mantissaDigits = 0
        func digits() -> Int {
            let start = index
            while index < bytes.count && bytes[index] >= 0x30 && bytes[index] <= 0x39 { index += 1 }
            return index - start
        }
        func sign() { if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 } }
        sign()
        mantissaDigits += digits()
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return false }
        if index < bytes.count && bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            sign()
            guard digits() > 0 else { return false }
        }
        return index == bytes.count
    }
}
