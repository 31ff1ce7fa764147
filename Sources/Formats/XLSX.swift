import Foundation
import ZIPFoundation

/// A small writer of Office Open XML workbooks (.xlsx): worksheets of numbers, text and live
/// formulas (with their computed values cached, so a reader shows numbers at once), and optionally
/// a line chart per sheet. Excel and LibreOffice open it; changing a cell recalculates the rest.
public struct XLSXWorkbook {
    public enum Cell: Sendable {
        case number(Double)
        case text(String, bold: Bool = false)
        /// A formula without the leading "=", and the value it evaluates to.
        case formula(String, cached: Double)
    }

    /// A line chart drawn from ranges of a sheet, e.g. values "W4:W71" against categories "AF4:AF71".
    public struct Chart: Sendable {
        public var title: String
        public var xTitle: String
        public var yTitle: String
        public var categories: String
        public var series: [(name: String, values: String)]
        /// Top-left and bottom-right cells the chart covers: (column, row), 0-based.
        public var from: (column: Int, row: Int)
        public var to: (column: Int, row: Int)
        public init(title: String, xTitle: String, yTitle: String, categories: String,
                    series: [(name: String, values: String)], from: (column: Int, row: Int), to: (column: Int, row: Int)) {
            self.title = title; self.xTitle = xTitle; self.yTitle = yTitle; self.categories = categories
            self.series = series; self.from = from; self.to = to
        }
    }

    public struct Worksheet: Sendable {
        public var name: String
        /// cells[row][column], 0-based; nil for an empty cell.
        public var cells: [[Cell?]]
        public var chart: Chart?
        public var columnWidth: Double
        public init(name: String, cells: [[Cell?]], chart: Chart? = nil, columnWidth: Double = 14) {
            self.name = name; self.cells = cells; self.chart = chart; self.columnWidth = columnWidth
        }
    }

    public var sheets: [Worksheet]
    public init(sheets: [Worksheet]) { self.sheets = sheets }

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

    /// "A1"-style reference for 0-based (column, row).
    public static func reference(column: Int, row: Int) -> String { columnName(column) + String(row + 1) }

    /// The workbook's bytes: a zip of its parts, built in memory.
    public func bytes() throws -> [UInt8] {
        let archive = try Archive(accessMode: .create)
        for (name, text) in parts() {
            let data = Data(text.utf8)
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
        guard let data = archive.data else { throw FileWriteError(path: "workbook", reason: "the zip was not built") }
        return [UInt8](data)
    }

    /// Writes the workbook atomically (`AtomicFile`).
    public func write(to path: String) throws {
        let zipped: [UInt8]
        do { zipped = try bytes() } catch let error as FileWriteError { throw error }
        catch { throw FileWriteError(path: path, reason: "\(error)") }
        try AtomicFile.write(zipped, to: path)
    }

    /// Every part of the package, by its name in the zip.
    func parts() -> [(String, String)] {
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let packageRelationships = "http://schemas.openxmlformats.org/package/2006/relationships"
        var parts: [(String, String)] = []

        var types = header + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
        types += "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
        types += "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
        types += "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
        types += "<Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>"
        for (index, sheet) in sheets.enumerated() {
            let n = index + 1
            types += "<Override PartName=\"/xl/worksheets/sheet\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            if sheet.chart != nil {
                types += "<Override PartName=\"/xl/drawings/drawing\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.drawing+xml\"/>"
                types += "<Override PartName=\"/xl/charts/chart\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.drawingml.chart+xml\"/>"
            }
        }
        parts.append(("[Content_Types].xml", types + "</Types>"))
        parts.append(("_rels/.rels", header + "<Relationships xmlns=\"\(packageRelationships)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"))

        var workbook = header + "<workbook xmlns=\"\(main)\" xmlns:r=\"\(relationships)\"><sheets>"
        var workbookRelationships = header + "<Relationships xmlns=\"\(packageRelationships)\">"
        for (index, sheet) in sheets.enumerated() {
            workbook += "<sheet name=\"\(xmlEscaped(sheet.name))\" sheetId=\"\(index + 1)\" r:id=\"rId\(index + 1)\"/>"
            workbookRelationships += "<Relationship Id=\"rId\(index + 1)\" Type=\"\(relationships)/worksheet\" Target=\"worksheets/sheet\(index + 1).xml\"/>"
        }
        workbookRelationships += "<Relationship Id=\"rId\(sheets.count + 1)\" Type=\"\(relationships)/styles\" Target=\"styles.xml\"/></Relationships>"
        // fullCalcOnLoad asks the reader to recompute every formula when it opens the file.
        parts.append(("xl/workbook.xml", workbook + "</sheets><calcPr calcId=\"191029\" fullCalcOnLoad=\"1\"/></workbook>"))
        parts.append(("xl/_rels/workbook.xml.rels", workbookRelationships))
        parts.append(("xl/styles.xml", header + "<styleSheet xmlns=\"\(main)\"><fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font><font><b/><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts><fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills><borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs><cellXfs count=\"2\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/><xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/></cellXfs></styleSheet>"))

        for (index, sheet) in sheets.enumerated() {
            let n = index + 1
            var xml = header + "<worksheet xmlns=\"\(main)\" xmlns:r=\"\(relationships)\">"
            xml += "<cols><col min=\"1\" max=\"\(max(1, sheet.cells.map(\.count).max() ?? 1))\" width=\"\(sheet.columnWidth)\" customWidth=\"1\"/></cols><sheetData>"
            for (r, row) in sheet.cells.enumerated() {
                xml += "<row r=\"\(r + 1)\">"
                for (c, cell) in row.enumerated() {
                    guard let cell else { continue }
                    let ref = Self.reference(column: c, row: r)
                    switch cell {
                    case .number(let value):
                        xml += "<c r=\"\(ref)\"><v>\(repr(value))</v></c>"
                    case .text(let text, let bold):
                        xml += "<c r=\"\(ref)\" t=\"inlineStr\"\(bold ? " s=\"1\"" : "")><is><t>\(xmlEscaped(text))</t></is></c>"
                    case .formula(let formula, let cached):
                        xml += "<c r=\"\(ref)\"><f>\(xmlEscaped(formula))</f><v>\(repr(cached))</v></c>"
                    }
                }
                xml += "</row>"
            }
            xml += "</sheetData>"
            if sheet.chart != nil { xml += "<drawing r:id=\"rId1\"/>" }
            parts.append(("xl/worksheets/sheet\(n).xml", xml + "</worksheet>"))
            if let chart = sheet.chart {
                parts.append(("xl/worksheets/_rels/sheet\(n).xml.rels", header + "<Relationships xmlns=\"\(packageRelationships)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/drawing\" Target=\"../drawings/drawing\(n).xml\"/></Relationships>"))
                parts.append(("xl/drawings/drawing\(n).xml", drawingXML(chart)))
                parts.append(("xl/drawings/_rels/drawing\(n).xml.rels", header + "<Relationships xmlns=\"\(packageRelationships)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/chart\" Target=\"../charts/chart\(n).xml\"/></Relationships>"))
                parts.append(("xl/charts/chart\(n).xml", chartXML(chart, sheetName: sheet.name)))
            }
        }
        return parts
    }

    func drawingXML(_ chart: Chart) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<xdr:wsDr xmlns:xdr=\"http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing\" xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" xmlns:c=\"http://schemas.openxmlformats.org/drawingml/2006/chart\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><xdr:twoCellAnchor><xdr:from><xdr:col>\(chart.from.column)</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>\(chart.from.row)</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>\(chart.to.column)</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>\(chart.to.row)</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to><xdr:graphicFrame macro=\"\"><xdr:nvGraphicFramePr><xdr:cNvPr id=\"2\" name=\"Chart 1\"/><xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr><xdr:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"0\" cy=\"0\"/></xdr:xfrm><a:graphic><a:graphicData uri=\"http://schemas.openxmlformats.org/drawingml/2006/chart\"><c:chart r:id=\"rId1\"/></a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/></xdr:twoCellAnchor></xdr:wsDr>"
    }

    func chartXML(_ chart: Chart, sheetName: String) -> String {
        let quoted = "'" + sheetName.replacingOccurrences(of: "'", with: "''") + "'"
        func absolute(_ range: String) -> String {
            // "W4:W71" → 'Sheet'!$W$4:$W$71
            let ends = range.split(separator: ":").map { part -> String in
                let letters = part.prefix { $0.isLetter }, digits = part.drop { $0.isLetter }
                return "$\(letters)$\(digits)"
            }
            return xmlEscaped("\(quoted)!" + ends.joined(separator: ":"))
        }
        func title(_ text: String) -> String {
            "<c:title><c:tx><c:rich><a:bodyPr/><a:p><a:r><a:t>\(xmlEscaped(text))</a:t></a:r></a:p></c:rich></c:tx><c:overlay val=\"0\"/></c:title>"
        }
        var series = ""
        for (index, item) in chart.series.enumerated() {
            series += "<c:ser><c:idx val=\"\(index)\"/><c:order val=\"\(index)\"/><c:tx><c:v>\(xmlEscaped(item.name))</c:v></c:tx><c:marker><c:symbol val=\"none\"/></c:marker><c:cat><c:numRef><c:f>\(absolute(chart.categories))</c:f></c:numRef></c:cat><c:val><c:numRef><c:f>\(absolute(item.values))</c:f></c:numRef></c:val><c:smooth val=\"0\"/></c:ser>"
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<c:chartSpace xmlns:c=\"http://schemas.openxmlformats.org/drawingml/2006/chart\" xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><c:chart>\(title(chart.title))<c:autoTitleDeleted val=\"0\"/><c:plotArea><c:layout/><c:lineChart><c:grouping val=\"standard\"/><c:varyColors val=\"0\"/>\(series)<c:marker val=\"1\"/><c:axId val=\"100\"/><c:axId val=\"200\"/></c:lineChart><c:catAx><c:axId val=\"100\"/><c:scaling><c:orientation val=\"minMax\"/></c:scaling><c:delete val=\"0\"/><c:axPos val=\"b\"/>\(title(chart.xTitle))<c:numFmt formatCode=\"General\" sourceLinked=\"1\"/><c:tickLblPos val=\"nextTo\"/><c:crossAx val=\"200\"/><c:crosses val=\"autoZero\"/><c:auto val=\"1\"/><c:lblAlgn val=\"ctr\"/><c:lblOffset val=\"100\"/><c:tickLblSkip val=\"10\"/></c:catAx><c:valAx><c:axId val=\"200\"/><c:scaling><c:orientation val=\"minMax\"/></c:scaling><c:delete val=\"0\"/><c:axPos val=\"l\"/><c:majorGridlines/>\(title(chart.yTitle))<c:numFmt formatCode=\"General\" sourceLinked=\"1\"/><c:tickLblPos val=\"nextTo\"/><c:crossAx val=\"100\"/><c:crosses val=\"autoZero\"/><c:crossBetween val=\"between\"/></c:valAx></c:plotArea><c:legend><c:legendPos val=\"r\"/><c:overlay val=\"0\"/></c:legend><c:plotVisOnly val=\"1\"/></c:chart></c:chartSpace>"
    }
}

/// Shortest text that reads back as the same Double (Swift's description round-trips).
func repr(_ value: Double) -> String { value.isFinite ? "\(value)" : "0" }

/// `text` made safe inside XML (and SVG) text and attribute values.
public func xmlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
