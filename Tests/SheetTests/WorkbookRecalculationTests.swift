import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Formats
import Sheet
import Testing

/// LibreOffice, headless, recalculates the workbook from its formulas; every cell must equal the
/// Swift values to 1e-12. The workbook is written with deliberately wrong cached values (−1 in
/// every formula cell) so that a reader that merely shows the cache fails the test.
@Suite("The workbook recalculates in LibreOffice to the Swift values", .serialized)
struct WorkbookRecalculationTests {
    static let office = ["/usr/bin/soffice", "/usr/bin/libreoffice", "/usr/local/bin/soffice"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// Converts to flat ODS with recalculation forced on load, and returns each sheet's grid of
    /// numeric cell values (nil where a cell holds no number).
    static func recalculate(_ workbook: XLSXWorkbook) throws -> [[[Double?]]] {
        let folder = NSTemporaryDirectory() + "backprop-lo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/profile/user", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // OOXMLRecalcMode 0 = "always recalculate" when loading an Excel 2007+ file.
        let settings = """
        <?xml version="1.0" encoding="UTF-8"?>
        <oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
        </oor:items>
        """
        try settings.write(toFile: folder + "/profile/user/registrymodifications.xcu", atomically: true, encoding: .utf8)
        try workbook.write(to: folder + "/book.xlsx")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: office!)
        process.arguments = ["-env:UserInstallation=file://\(folder)/profile", "--headless", "--norestore",
                             "--convert-to", "fods", "--outdir", folder, folder + "/book.xlsx"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/book.fods"))
        let reader = FlatODSReader()
        let parser = XMLParser(data: data)
        parser.delegate = reader
        parser.shouldProcessNamespaces = false
        #expect(parser.parse(), "LibreOffice's output parses")
        return reader.sheets
    }

    /// Compares the grid's table (from row 4) with the rows Swift computed.
    static func compare(_ grid: [[Double?]], with rows: [SheetRow], learningRate: Double) -> (checked: Int, worst: Double) {
        var checked = 0, worst = 0.0
        #expect(grid[0].count > 1 && grid[0][1] == learningRate, "η in B1")
        for (k, row) in rows.enumerated() {
            let cells = grid[3 + k]
            for (column, expected) in row.values.enumerated() {
                guard let actual = cells.count > column ? cells[column] : nil else {
                    Issue.record("η \(learningRate), iteration \(k), column \(SheetRow.columns[column]): no number")
                    continue
                }
                let difference = abs(actual - expected) / max(abs(expected), 1e-300)
                worst = max(worst, expected == 0 ? abs(actual) : difference)
                checked += 1
            }
        }
        return (checked, worst)
    }

    @Test func everyCellMatchesAfterAForcedRecalculation() throws {
        guard Self.office != nil else {
            if Self.inCI { Issue.record("LibreOffice (soffice) is not installed; CI must install libreoffice-calc-nogui") }
            else { print("skipped: LibreOffice is not installed (apt-get install libreoffice-calc-nogui)") }
            return
        }
        let network = SheetNetwork.course
        let rates = [0.1, 0.2, 0.5, 0.8, 1, 2]
        let runs = rates.map { (learningRate: $0, rows: network.descend(learningRate: $0, iterations: 68)) }
        let sheets = try Self.recalculate(SheetExport.workbook(network: network, runs: runs, cacheOverride: -1))
        #expect(sheets.count == rates.count)
        for (grid, run) in zip(sheets, runs) {
            let result = Self.compare(grid, with: run.rows, learningRate: run.learningRate)
            #expect(result.checked == 68 * 31)
            #expect(result.worst <= 1e-12, "η \(run.learningRate): worst relative difference \(result.worst)")
        }
    }

    @Test func changingEtaAndAWeightRecalculatesTheWholeSheet() throws {
        guard Self.office != nil else {
            if Self.inCI { Issue.record("LibreOffice (soffice) is not installed") }
            return
        }
        // A sheet whose η cell says 0.7 and whose first w1 is 0.3, while every cached value is wrong:
        // LibreOffice must produce gradient descent at η = 0.7 from w1 = 0.3.
        var network = SheetNetwork.course
        network.weights[0] = 0.3
        let expected = network.descend(learningRate: 0.7, iterations: 20)
        let stale = SheetNetwork.course.descend(learningRate: 0.5, iterations: 20)
        var workbook = SheetExport.workbook(network: network, runs: [(0.7, stale)], cacheOverride: -1)
        workbook.sheets[0].cells[3][4] = .number(0.3)   // w1 of iteration 0
        let sheets = try Self.recalculate(workbook)
        let result = Self.compare(sheets[0], with: expected, learningRate: 0.7)
        #expect(result.worst <= 1e-12, "worst relative difference \(result.worst)")
    }
}

/// Reads the numeric cells of a flat ODS document, expanding repeated rows and columns.
final class FlatODSReader: NSObject, XMLParserDelegate {
    var sheets: [[[Double?]]] = []
    private var row: [Double?] = []
    private var rowRepeat = 1
    /// Charts embed their own little tables; those are not sheets.
    private var insideChart = 0

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "draw:object" || name == "office:chart" { insideChart += 1 }
        guard insideChart == 0 else { return }
        switch name {
        case "table:table": sheets.append([])
        case "table:table-row":
            row = []
            rowRepeat = min(Int(attributes["table:number-rows-repeated"] ?? "1") ?? 1, 100)
        case "table:table-cell", "table:covered-table-cell":
            let repeatCount = min(Int(attributes["table:number-columns-repeated"] ?? "1") ?? 1, 100)
            let value = attributes["office:value-type"] == "float" ? attributes["office:value"].flatMap(Double.init) : nil
            row += Array(repeating: value, count: repeatCount)
        default: break
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "draw:object" || name == "office:chart" { insideChart -= 1; return }
        if name == "table:table-row", insideChart == 0, !sheets.isEmpty {
            for _ in 0..<rowRepeat { sheets[sheets.count - 1].append(row) }
        }
    }
}
