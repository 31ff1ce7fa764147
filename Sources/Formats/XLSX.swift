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
        /// Cells shown on a light red fill (`highlightColor`); one that is empty in `cells` is still
        /// written, empty but filled, so that the mark shows.
        public var highlighted: Set<CellAddress>
        /// A note on each of these cells, shown when the pointer rests on it; newlines are kept.
        public var comments: [CellAddress: String]
        public init(name: String, cells: [[Cell?]], chart: Chart? = nil, columnWidth: Double = 14,
                    highlighted: Set<CellAddress> = [], comments: [CellAddress: String] = [:]) {
            self.name = name; self.cells = cells; self.chart = chart; self.columnWidth = columnWidth
            self.highlighted = highlighted; self.comments = comments
        }
    }

    public var sheets: [Worksheet]
    /// The name the comments are signed with.
    public var commentAuthor = "backprop check"
    public init(sheets: [Worksheet]) { self.sheets = sheets }

    /// The fill of highlighted cells, as RRGGBB: the light red of Excel's "Bad" cell style.
    public static let highlightColor = "FFC7CE"

    /// "A", "B", …, "Z", "AA", … for a 0-based column.
    public static func columnName(_ column: Int) -> String { CellAddress.columnName(column) }

    /// "A1"-style reference for 0-based (column, row).
    public static func reference(column: Int, row: Int) -> String { columnName(column) + String(row + 1) }

    /// The workbook's bytes: a zip of its parts, built in memory. Throws if a highlighted or
    /// commented cell lies outside a sheet's limits.
    public func bytes() throws -> [UInt8] {
        let archive = try Archive(accessMode: .create)
        for (name, text) in try parts() {
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
        do { zipped = try bytes() } catch let error as FileWriteError { throw FileWriteError(path: path, reason: error.reason) }
        catch { throw FileWriteError(path: path, reason: "\(error)") }
        try AtomicFile.write(zipped, to: path)
    }

    static let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    static let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    static let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    static let packageRelationships = "http://schemas.openxmlformats.org/package/2006/relationships"

    /// Every part of the package, by its name in the zip.
    func parts() throws -> [(String, String)] {
        let header = Self.header, main = Self.main, relationships = Self.relationships
        let packageRelationships = Self.packageRelationships
        var parts: [(String, String)] = []

        var types = header + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
        types += "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
        types += "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
        types += "<Default Extension=\"vml\" ContentType=\"application/vnd.openxmlformats-officedocument.vmlDrawing\"/>"
        types += "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
        types += "<Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>"
        for (index, sheet) in sheets.enumerated() {
            let n = index + 1
            types += "<Override PartName=\"/xl/worksheets/sheet\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            if sheet.chart != nil {
                types += "<Override PartName=\"/xl/drawings/drawing\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.drawing+xml\"/>"
                types += "<Override PartName=\"/xl/charts/chart\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.drawingml.chart+xml\"/>"
            }
            if !sheet.comments.isEmpty {
                types += "<Override PartName=\"/xl/comments\(n).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml\"/>"
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
        parts.append(("xl/styles.xml", stylesXML()))

        // Each sheet's notes take whole blocks of 1024 VML shape ids, numbered on across the workbook.
        var nextShapeBlock = 1
        for (index, sheet) in sheets.enumerated() {
            let n = index + 1
            for address in sheet.highlighted.union(sheet.comments.keys)
            where !(0..<CellAddress.maximumRows).contains(address.row) || !(0..<CellAddress.maximumColumns).contains(address.column) {
                throw FileWriteError(path: "workbook", reason: "sheet \"\(sheet.name)\" marks row \(address.row + 1), column \(address.column + 1), outside a sheet's \(CellAddress.maximumRows) rows and \(CellAddress.maximumColumns) columns")
            }
            // The worksheet's relationships, in order: rId1, rId2, …
            var links: [(type: String, target: String)] = []
            var xml = header + "<worksheet xmlns=\"\(main)\" xmlns:r=\"\(relationships)\">"
            xml += "<cols><col min=\"1\" max=\"\(max(1, sheet.cells.map(\.count).max() ?? 1))\" width=\"\(sheet.columnWidth)\" customWidth=\"1\"/></cols>"
            xml += sheetDataXML(sheet)
            // The schema's order: sheetData, …, drawing, legacyDrawing.
            if let chart = sheet.chart {
                links.append(("drawing", "../drawings/drawing\(n).xml"))
                xml += "<drawing r:id=\"rId\(links.count)\"/>"
                parts.append(("xl/drawings/drawing\(n).xml", drawingXML(chart)))
                parts.append(("xl/drawings/_rels/drawing\(n).xml.rels", header + "<Relationships xmlns=\"\(packageRelationships)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/chart\" Target=\"../charts/chart\(n).xml\"/></Relationships>"))
                parts.append(("xl/charts/chart\(n).xml", chartXML(chart, sheetName: sheet.name)))
            }
            if !sheet.comments.isEmpty {
                let comments = sheet.comments.sorted { $0.key < $1.key }
                let blocks = comments.count / 1024 + 1
                links.append(("vmlDrawing", "../drawings/vmlDrawing\(n).vml"))
                xml += "<legacyDrawing r:id=\"rId\(links.count)\"/>"
                links.append(("comments", "../comments\(n).xml"))
                parts.append(("xl/comments\(n).xml", commentsXML(comments)))
                parts.append(("xl/drawings/vmlDrawing\(n).vml", vmlDrawingXML(comments, shapeBlocks: nextShapeBlock..<(nextShapeBlock + blocks),
                                                                            columnWidth: sheet.columnWidth)))
                nextShapeBlock += blocks
            }
            parts.append(("xl/worksheets/sheet\(n).xml", xml + "</worksheet>"))
            if !links.isEmpty {
                var rels = header + "<Relationships xmlns=\"\(packageRelationships)\">"
                for (i, link) in links.enumerated() {
                    rels += "<Relationship Id=\"rId\(i + 1)\" Type=\"\(relationships)/\(link.type)\" Target=\"\(link.target)\"/>"
                }
                parts.append(("xl/worksheets/_rels/sheet\(n).xml.rels", rels + "</Relationships>"))
            }
        }
        return parts
    }

    /// Two fonts (regular, bold) and three fills (the two every workbook must start with, then the
    /// highlight); the cell formats are numbered as `styleIndex` counts them, all on "Normal".
    func stylesXML() -> String {
        let fonts = "<fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font><font><b/><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>"
        let fills = "<fills count=\"3\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill><fill><patternFill patternType=\"solid\"><fgColor rgb=\"FF\(Self.highlightColor)\"/><bgColor indexed=\"64\"/></patternFill></fill></fills>"
        let formats = "<cellXfs count=\"4\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/><xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/><xf numFmtId=\"0\" fontId=\"0\" fillId=\"2\" borderId=\"0\" xfId=\"0\" applyFill=\"1\"/><xf numFmtId=\"0\" fontId=\"1\" fillId=\"2\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/></cellXfs>"
        return Self.header + "<styleSheet xmlns=\"\(Self.main)\">" + fonts + fills + "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>" + formats
            + "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles></styleSheet>"
    }

    /// The cell format (index into styles.xml's cellXfs) for bold and highlighted text.
    static func styleIndex(bold: Bool, highlighted: Bool) -> Int { (bold ? 1 : 0) + (highlighted ? 2 : 0) }

    /// `<sheetData>`: the rows holding a cell or a highlight, in order, each cell with its format.
    func sheetDataXML(_ sheet: Worksheet) -> String {
        let marked = Dictionary(grouping: sheet.highlighted, by: \.row).mapValues { Set($0.map(\.column)) }
        var xml = "<sheetData>"
        for r in Set(sheet.cells.indices).union(marked.keys).sorted() {
            let row = r < sheet.cells.count ? sheet.cells[r] : []
            let marks = marked[r] ?? []
            let columns = Set(row.indices.filter { row[$0] != nil }).union(marks).sorted()
            guard !columns.isEmpty else { continue }
            xml += "<row r=\"\(r + 1)\">"
            for c in columns {
                let ref = Self.reference(column: c, row: r), highlighted = marks.contains(c)
                func style(bold: Bool = false) -> String {
                    let index = Self.styleIndex(bold: bold, highlighted: highlighted)
                    return index == 0 ? "" : " s=\"\(index)\""
                }
                switch c < row.count ? row[c] : nil {
                case nil:
                    xml += "<c r=\"\(ref)\"\(style())/>"
                case .number(let value):
                    xml += "<c r=\"\(ref)\"\(style())><v>\(repr(value))</v></c>"
                case .text(let text, let bold):
                    xml += "<c r=\"\(ref)\" t=\"inlineStr\"\(style(bold: bold))><is><t xml:space=\"preserve\">\(xmlEscaped(text))</t></is></c>"
                case .formula(let formula, let cached):
                    xml += "<c r=\"\(ref)\"\(style())><f>\(xmlEscaped(formula))</f><v>\(repr(cached))</v></c>"
                }
            }
            xml += "</row>"
        }
        return xml + "</sheetData>"
    }

    /// The comments part: the text of each note, by cell, in order of the cells.
    func commentsXML(_ comments: [(key: CellAddress, value: String)]) -> String {
        var xml = Self.header + "<comments xmlns=\"\(Self.main)\"><authors><author>\(xmlEscaped(commentAuthor))</author></authors><commentList>"
        for (address, text) in comments {
            xml += "<comment ref=\"\(address)\" authorId=\"0\"><text><r><t xml:space=\"preserve\">\(xmlEscaped(text))</t></r></text></comment>"
        }
        return xml + "</commentList></comments>"
    }

    /// The legacy (VML) drawing Excel needs to show notes: one hidden text box per comment, to the
    /// right of its cell, tall enough for its text. `shapeBlocks` are the sheet's blocks of 1024
    /// shape ids, unique in the workbook.
    func vmlDrawingXML(_ comments: [(key: CellAddress, value: String)], shapeBlocks: Range<Int>, columnWidth: Double) -> String {
        var xml = "<xml xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\" xmlns:x=\"urn:schemas-microsoft-com:office:excel\">"
        xml += "<o:shapelayout v:ext=\"edit\"><o:idmap v:ext=\"edit\" data=\"\(shapeBlocks.map(String.init).joined(separator: ","))\"/></o:shapelayout>"
        xml += "<v:shapetype id=\"_x0000_t202\" coordsize=\"21600,21600\" o:spt=\"202\" path=\"m,l,21600r21600,l21600,xe\"><v:stroke joinstyle=\"miter\"/><v:path gradientshapeok=\"t\" o:connecttype=\"rect\"/></v:shapetype>"
        // The box spans three columns; a column is about `columnWidth` characters of the default
        // font wide (7 px each, plus 5 px of padding), a row 15 pt high.
        let columnPoints = (columnWidth * 7 + 5) * 0.75, charactersPerLine = max(20, Int(columnWidth * 3))
        for (index, (address, text)) in comments.enumerated() {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                .reduce(0) { $0 + max(1, ($1.count + charactersPerLine - 1) / charactersPerLine) }
            let top = max(0, address.row - 1), rows = min(max(lines + 1, 4), 40)
            let style = "position:absolute;margin-left:\(Int(Double(address.column + 1) * columnPoints + 12))pt;margin-top:\(top * 15 + 2)pt;width:\(Int(3 * columnPoints))pt;height:\(rows * 15)pt;z-index:\(index + 1);visibility:hidden"
            xml += "<v:shape id=\"_x0000_s\(shapeBlocks.lowerBound * 1024 + index + 1)\" type=\"#_x0000_t202\" style=\"\(style)\" fillcolor=\"#ffffe1\" o:insetmode=\"auto\">"
            xml += "<v:fill color2=\"#ffffe1\"/><v:shadow on=\"t\" color=\"black\" obscured=\"t\"/><v:path o:connecttype=\"none\"/>"
            xml += "<v:textbox style=\"mso-direction-alt:auto\"><div style=\"text-align:left\"></div></v:textbox>"
            // Anchor: left column, offset (px), top row, offset, right column, offset, bottom row, offset.
            xml += "<x:ClientData ObjectType=\"Note\"><x:MoveWithCells/><x:SizeWithCells/><x:Anchor>\(address.column + 1), 15, \(top), 2, \(address.column + 4), 15, \(top + rows), 2</x:Anchor><x:AutoFill>False</x:AutoFill><x:Row>\(address.row)</x:Row><x:Column>\(address.column)</x:Column></x:ClientData></v:shape>"
        }
        return xml + "</xml>"
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

/// `text` made safe inside XML (and SVG) text and attribute values. Characters XML 1.0 does not
/// allow (control characters other than tab, newline and return) are left out.
public func xmlEscaped(_ text: String) -> String {
    var escaped = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x26: escaped.append(contentsOf: "&amp;".unicodeScalars)
        case 0x3C: escaped.append(contentsOf: "&lt;".unicodeScalars)
        case 0x3E: escaped.append(contentsOf: "&gt;".unicodeScalars)
        case 0x22: escaped.append(contentsOf: "&quot;".unicodeScalars)
        case 0x09, 0x0A, 0x0D: escaped.append(scalar)
        case 0x00...0x1F, 0xFFFE, 0xFFFF: continue
        default: escaped.append(scalar)
        }
    }
    return String(escaped)
}
