import Foundation
import Formats

/// `backprop check --annotate`: a copy of the learner's workbook in which every wrong cell is
/// highlighted and carries a comment — the finding where a slip is, "follows from …" where a cell
/// only inherits one. Formulas are copied as written (with their values cached), so the copy
/// still computes when opened in LibreOffice or Excel.
public enum Annotation {
    /// The largest sheet copied: rows × columns of its used rectangle.
    public static let maximumCells = 4_000_000

    public static func workbook(for report: CheckReport, file: SpreadsheetFile) throws -> XLSXWorkbook {
        var sheets: [XLSXWorkbook.Worksheet] = []
        var usedNames: Set<String> = []
        for (index, sheet) in file.sheets.enumerated() {
            let size = sheet.size
            guard size.rows * size.columns <= maximumCells else {
                throw SpreadsheetReadError("sheet \"\(sheet.name)\" spans \(grouped(size.rows)) rows × \(grouped(size.columns)) columns; expected at most \(grouped(maximumCells)) cells to annotate")
            }
            var cells = [[XLSXWorkbook.Cell?]](repeating: [], count: size.rows)
            for (address, cell) in sheet.cells {
                if cells[address.row].count <= address.column {
                    cells[address.row] += [XLSXWorkbook.Cell?](repeating: nil, count: address.column + 1 - cells[address.row].count)
                }
                cells[address.row][address.column] = copy(cell)
            }
            var worksheet = XLSXWorkbook.Worksheet(name: uniqueName(sheet.name, index: index, used: &usedNames), cells: cells)
            for table in report.tables where table.table.sheet == index {
                for finding in table.findings {
                    var comment = "\(finding.slip.rawValue): \(finding.message)"
                    if let written = finding.formula { comment += "\nwritten: \(written)" }
                    if let expected = finding.expectedFormula, finding.slip != .blankInput { comment += "\nshould be: \(expected)" }
                    for cell in finding.cells {
                        worksheet.highlighted.insert(cell)
                        worksheet.comments[cell] = comment
                    }
                }
                let firstSlip = table.findings.first.map { "\($0.firstCell) (\($0.slip.rawValue))" } ?? "a wrong cell"
                for cell in table.consequences {
                    worksheet.highlighted.insert(cell)
                    worksheet.comments[cell] = "wrong only because cells it reads are wrong: it follows from \(firstSlip)"
                }
            }
            sheets.append(worksheet)
        }
        return XLSXWorkbook(sheets: sheets)
    }

    static func copy(_ cell: SpreadsheetFile.Cell) -> XLSXWorkbook.Cell? {
        var cached = 0.0
        var text: String?
        switch cell.value {
        case .number(let x)?: cached = x
        case .text(let t)?: text = t
        case .boolean(let b)?: cached = b ? 1 : 0
        case .error(let e)?: text = e
        case nil: break
        }
        if let formula = cell.formula { return .formula(formula, cached: cached) }
        if let text { return .text(text) }
        return cell.value == nil ? nil : .number(cached)
    }

    /// Sheet names as Excel allows them: at most 31 characters, none of []:*?/\, unique.
    static func uniqueName(_ name: String, index: Int, used: inout Set<String>) -> String {
        var clean = String(name.filter { !"[]:*?/\\".contains($0) }.prefix(31))
        if clean.isEmpty || used.contains(clean.lowercased()) { clean = String(clean.prefix(24)) + " (\(index + 1))" }
        used.insert(clean.lowercased())
        return clean
    }
}
