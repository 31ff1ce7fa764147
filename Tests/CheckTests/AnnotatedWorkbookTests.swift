import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Formats
import Sheet
import Testing
import ZIPFoundation

/// The xlsx writer's highlighted cells and comments, as `backprop check --annotate` uses them: the
/// parts Excel needs, well-formed, and a LibreOffice round trip (to xlsx and to ods) that keeps
/// every note on its cell and every highlighted cell's fill.
@Suite("Annotated workbooks: highlighted cells and comments")
struct AnnotatedWorkbookTests {
    static let a1 = CellAddress(row: 0, column: 0), b2 = CellAddress(row: 1, column: 1), d3 = CellAddress(row: 2, column: 3)

    /// The notes, by sheet and cell: one with a newline and characters XML must escape, one on a
    /// cell that holds nothing (D3), one on the second sheet.
    static let comments: [String: [CellAddress: String]] = [
        "table": [b2: "B2 should be 0.1 = 2 × A2", d3: "1 < 2 & \"quoted\" > 'x'\nsecond line"],
        "more": [a1: "a note on the second sheet"],
    ]
    /// Highlighted: a bold text cell, a formula and an empty cell beyond its row's last one.
    static let highlighted: [String: Set<CellAddress>] = ["table": [a1, b2, d3], "more": []]

    /// Two sheets: numbers, text and formulas with a chart beside them, and a one-cell sheet.
    static func workbook() -> XLSXWorkbook {
        let table: [[XLSXWorkbook.Cell?]] = [
            [.text("x", bold: true), .text("2x", bold: true), .text("sum", bold: true)],
            [.number(0.05), .formula("A2*2", cached: 0.1), .formula("A2+B2", cached: 0.15000000000000002)],
            [.number(0.1), .formula("A3*2", cached: 0.2), .formula("A3+B3", cached: 0.30000000000000004)],
        ]
        let chart = XLSXWorkbook.Chart(title: "2x", xTitle: "x", yTitle: "2x", categories: "A2:A3", series: [("2x", "B2:B3")],
                                       from: (column: 5, row: 0), to: (column: 11, row: 14))
        return XLSXWorkbook(sheets: [
            .init(name: "table", cells: table, chart: chart, highlighted: highlighted["table"]!, comments: comments["table"]!),
            .init(name: "more", cells: [[.number(1)]], comments: comments["more"]!),
        ])
    }

    @Test func thePartsExcelNeedsAreThereAndWellFormed() throws {
        let parts = try OpenXMLPackage.unzip(Data(Self.workbook().bytes()))
        for name in ["xl/comments1.xml", "xl/comments2.xml", "xl/drawings/vmlDrawing1.vml", "xl/drawings/vmlDrawing2.vml",
                     "xl/worksheets/_rels/sheet1.xml.rels", "xl/worksheets/_rels/sheet2.xml.rels",
                     "xl/drawings/drawing1.xml", "xl/charts/chart1.xml"] {
            #expect(parts[name] != nil, "\(name) is in the zip")
        }
        for (name, data) in parts.sorted(by: { $0.key < $1.key }) {
            #expect(XMLTree.parse(data) != nil, "\(name) is well-formed XML")
        }
        let package = OpenXMLPackage(parts: parts)

        let types = try package.tree("[Content_Types].xml")
        #expect(types.all("Default").contains { $0["Extension"] == "vml" && $0["ContentType"] == "application/vnd.openxmlformats-officedocument.vmlDrawing" })
        for n in 1...2 {
            #expect(types.all("Override").contains {
                $0["PartName"] == "/xl/comments\(n).xml" && $0["ContentType"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
            })
        }

        // The first sheet has both drawings, in the schema's order, each found through its relationship.
        let sheet = try package.tree("xl/worksheets/sheet1.xml")
        #expect(sheet.children.map(\.localName) == ["cols", "sheetData", "drawing", "legacyDrawing"])
        let links = try package.relationships(of: "xl/worksheets/sheet1.xml")
        #expect(sheet.first("drawing")?["id"].flatMap { links[$0] }?.path == "xl/drawings/drawing1.xml")
        #expect(sheet.first("legacyDrawing")?["id"].flatMap { links[$0] }?.path == "xl/drawings/vmlDrawing1.vml")
        #expect(links.values.contains { $0.type == "comments" && $0.path == "xl/comments1.xml" })
        #expect(try package.tree("xl/worksheets/sheet2.xml").children.map(\.localName) == ["cols", "sheetData", "legacyDrawing"])

        // One hidden note shape per comment, on its cell (0-based row and column).
        for (n, name) in ["table", "more"].enumerated() {
            let shapes = try package.tree("xl/drawings/vmlDrawing\(n + 1).vml").all("shape")
            let cells = shapes.compactMap { shape -> CellAddress? in
                guard let data = shape.first("ClientData"), data["ObjectType"] == "Note",
                      let row = data.first("Row").flatMap({ Int($0.text) }),
                      let column = data.first("Column").flatMap({ Int($0.text) }) else { return nil }
                return CellAddress(row: row, column: column)
            }
            #expect(Set(cells) == Set(Self.comments[name]!.keys) && cells.count == shapes.count)
            #expect(shapes.allSatisfy { $0["style"]?.contains("visibility:hidden") == true })
        }
        #expect(try package.tree("xl/comments1.xml").all("author").map(\.text) == ["backprop check"])

        let marks = try package.marks()
        #expect(marks.comments == Self.comments)
        #expect(marks.cells(filled: XLSXWorkbook.highlightColor) == Self.highlighted)
        // The bold header stays bold on its fill; the empty D3 is written, filled.
        let styles = try package.tree("xl/styles.xml")
        let formats = styles.first("cellXfs")?.children ?? [], fonts = styles.first("fonts")?.children ?? []
        let formatOfA1 = sheet.all("c").first { $0["r"] == "A1" }?["s"].flatMap(Int.init).flatMap { formats.indices.contains($0) ? formats[$0] : nil }
        let fontOfA1 = formatOfA1?["fontId"].flatMap(Int.init).flatMap { fonts.indices.contains($0) ? fonts[$0] : nil }
        #expect(fontOfA1?.first("b") != nil, "A1 stays bold")
        #expect(sheet.all("c").contains { $0["r"] == "D3" && $0.children.isEmpty })
    }

    @Test func noteShapeIdsAreUniqueInTheWorkbook() throws {
        // 1100 notes need two blocks of 1024 shape ids; the next sheet's notes start a third.
        let many = Dictionary(uniqueKeysWithValues: (0..<1100).map { (CellAddress(row: $0, column: 0), "note \($0)") })
        let workbook = XLSXWorkbook(sheets: [.init(name: "many", cells: [], comments: many),
                                             .init(name: "one", cells: [], comments: [Self.a1: "one"])])
        let package = OpenXMLPackage(parts: try OpenXMLPackage.unzip(Data(workbook.bytes())))
        var ids: [String] = []
        for (n, blocks) in [(1, "1,2"), (2, "3")] {
            let drawing = try package.tree("xl/drawings/vmlDrawing\(n).vml")
            #expect(drawing.first("idmap")?["data"] == blocks)
            ids += drawing.all("shape").compactMap { $0["id"] }
        }
        #expect(ids.count == 1101 && Set(ids).count == 1101)
        #expect(ids.last == "_x0000_s3073")
        #expect(try package.marks().comments == ["many": many, "one": [Self.a1: "one"]])
    }

    @Test func marksOutsideASheetAndCharactersXMLForbidsAreRefused() {
        for address in [CellAddress(row: -1, column: 0), CellAddress(row: 0, column: CellAddress.maximumColumns),
                        CellAddress(row: CellAddress.maximumRows, column: 0)] {
            #expect(throws: FileWriteError.self) {
                try XLSXWorkbook(sheets: [.init(name: "s", cells: [], highlighted: [address])]).bytes()
            }
            #expect(throws: FileWriteError.self) {
                try XLSXWorkbook(sheets: [.init(name: "s", cells: [], comments: [address: "x"])]).bytes()
            }
        }
        // Control characters other than tab, newline and return cannot be written in XML 1.0: left out.
        #expect(xmlEscaped("a\tb\nc\r\u{0}\u{1}\u{B}\u{1F}<&>\"") == "a\tb\nc\r&lt;&amp;&gt;&quot;")
    }

    @Test func libreOfficeKeepsThemInXLSX() throws {
        guard Office.available() else { return }
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.workbook().write(to: folder + "/book.xlsx")
        let converted = try Office.convert(folder + "/book.xlsx", to: "xlsx", in: folder + "/saved")
        let marks = try OpenXMLPackage(parts: OpenXMLPackage.unzip(Data(contentsOf: URL(fileURLWithPath: converted)))).marks()
        #expect(marks.comments == Self.comments)
        #expect(marks.cells(filled: XLSXWorkbook.highlightColor) == Self.highlighted)
    }

    @Test func libreOfficeKeepsThemInODS() throws {
        guard Office.available() else { return }
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.workbook().write(to: folder + "/book.xlsx")
        let converted = try Office.convert(folder + "/book.xlsx", to: "ods", in: folder)
        let parts = try OpenXMLPackage.unzip(Data(contentsOf: URL(fileURLWithPath: converted)))
        guard let content = parts["content.xml"].flatMap(XMLTree.parse) else {
            Issue.record("the .ods has no well-formed content.xml")
            return
        }
        let marks = Self.odsMarks(content)
        #expect(marks.comments == Self.comments)
        #expect(marks.cells(filled: XLSXWorkbook.highlightColor) == Self.highlighted)
    }

    /// `backprop sheet`'s workbook (a chart on every sheet) with notes on its first sheet: LibreOffice
    /// still opens it, and keeps the notes and both charts.
    @Test func theSheetWorkbookWithNotesStillConverts() throws {
        guard Office.available() else { return }
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let network = SheetNetwork.course
        var workbook = SheetExport.workbook(network: network, runs: [0.5, 1].map {
            (learningRate: $0, rows: network.descend(learningRate: $0, iterations: 20))
        })
        let w1 = CellAddress(row: 4, column: 4), total = CellAddress(row: 9, column: 22)
        let notes = [w1: "w1 here is the starting value, not the updated one", total: "E_tot: ½ Σ (t − a)²"]
        workbook.sheets[0].highlighted = [w1, total]
        workbook.sheets[0].comments = notes
        try workbook.write(to: folder + "/backprop.xlsx")
        let parts = try OpenXMLPackage.unzip(Data(contentsOf: URL(fileURLWithPath: Office.convert(folder + "/backprop.xlsx", to: "xlsx", in: folder + "/saved"))))
        let marks = try OpenXMLPackage(parts: parts).marks()
        #expect(marks.comments == [workbook.sheets[0].name: notes, workbook.sheets[1].name: [:]])
        #expect(marks.cells(filled: XLSXWorkbook.highlightColor)[workbook.sheets[0].name] == [w1, total])
        #expect(parts.keys.filter { $0.hasPrefix("xl/charts/chart") }.count == 2, "both charts survive")
    }

    static func scratchFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "backprop-annotated-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The notes and cell backgrounds of an ODS document's content.xml: each `office:annotation`
    /// inside its `table:table-cell`, each cell's automatic style's `fo:background-color`.
    static func odsMarks(_ content: XMLTree) -> CellMarks {
        var backgrounds: [String: String] = [:]
        for style in content.first("automatic-styles")?.children ?? [] where style["family"] == "table-cell" {
            if let name = style["name"], let color = style.first("table-cell-properties")?["background-color"] {
                backgrounds[name] = color
            }
        }
        var marks = CellMarks()
        for table in content.all("table") {
            let name = table["name"] ?? ""
            marks.comments[name] = [:]
            marks.fills[name] = [:]
            var row = 0
            for tableRow in table.all("table-row") {
                let rows = Int(tableRow["number-rows-repeated"] ?? "1") ?? 1
                var column = 0
                for cell in tableRow.children where cell.localName == "table-cell" || cell.localName == "covered-table-cell" {
                    let columns = Int(cell["number-columns-repeated"] ?? "1") ?? 1
                    let address = CellAddress(row: row, column: column)
                    if let note = cell.first("annotation") {
                        marks.comments[name]![address] = note.children.filter { $0.localName == "p" }.map(\.odfText).joined(separator: "\n")
                    }
                    // Repeated runs of filled cells are long only past the table's end.
                    if let color = cell["style-name"].flatMap({ backgrounds[$0] }), columns * rows < 1000 {
                        for r in row..<(row + rows) {
                            for c in column..<(column + columns) { marks.fills[name]![CellAddress(row: r, column: c)] = color }
                        }
                    }
                    column += columns
                }
                row += rows
            }
        }
        return marks
    }
}

/// What a spreadsheet says about its cells beyond their values: notes, and background colours.
struct CellMarks: Equatable {
    /// Sheet name → cell → the note's text.
    var comments: [String: [CellAddress: String]] = [:]
    /// Sheet name → cell → its fill colour as written ("FFFFC7CE", "#ffc7ce").
    var fills: [String: [CellAddress: String]] = [:]

    /// Sheet name → the cells filled with `color` (RRGGBB, any case, any alpha or "#" before it).
    func cells(filled color: String) -> [String: Set<CellAddress>] {
        fills.mapValues { Set($0.filter { $0.value.uppercased().hasSuffix(color.uppercased()) }.keys) }
    }
}

/// An Office Open XML package's parts, by name, read as trees, with its relationships followed.
struct OpenXMLPackage {
    var parts: [String: Data]

    /// Every file in a zip, by its path.
    static func unzip(_ data: Data) throws -> [String: Data] {
        let archive = try Archive(data: data, accessMode: .read)
        var parts: [String: Data] = [:]
        for entry in archive where entry.type == .file {
            var bytes = Data()
            _ = try archive.extract(entry, skipCRC32: false) { bytes.append($0) }
            parts[entry.path] = bytes
        }
        return parts
    }

    func tree(_ name: String) throws -> XMLTree {
        guard let data = parts[name] else { throw Office.Failure(description: "the package has no part \(name)") }
        guard let tree = XMLTree.parse(data) else { throw Office.Failure(description: "\(name) is not well-formed XML") }
        return tree
    }

    /// The relationships of `part` ("" for the package's own): id → the last word of the type
    /// ("comments", "vmlDrawing", …) and the target's part name.
    func relationships(of part: String) throws -> [String: (type: String, path: String)] {
        let components = part.split(separator: "/", omittingEmptySubsequences: false)
        let folder = components.dropLast().joined(separator: "/")
        let name = (folder.isEmpty ? "" : folder + "/") + "_rels/" + (components.last ?? "") + ".rels"
        guard parts[name] != nil else { return [:] }
        var links: [String: (type: String, path: String)] = [:]
        for link in try tree(name).all("Relationship") {
            guard let id = link["Id"], let type = link["Type"], let target = link["Target"] else { continue }
            links[id] = (String(type.split(separator: "/").last ?? ""), Self.resolve(target, in: folder))
        }
        return links
    }

    /// A relationship's target as a part name: "../comments1.xml" from "xl/worksheets" is "xl/comments1.xml".
    static func resolve(_ target: String, in folder: String) -> String {
        var path = target.hasPrefix("/") ? [] : folder.split(separator: "/").map(String.init)
        for component in target.split(separator: "/") {
            switch component {
            case "..": _ = path.popLast()
            case ".": continue
            default: path.append(String(component))
            }
        }
        return path.joined(separator: "/")
    }

    /// Every sheet's notes (the comments part its relationships name) and its cells' solid fills
    /// (cell s= → cellXfs → fillId → fgColor).
    func marks() throws -> CellMarks {
        guard let main = try relationships(of: "").values.first(where: { $0.type == "officeDocument" })?.path else {
            throw Office.Failure(description: "the package names no workbook")
        }
        let workbook = try tree(main), links = try relationships(of: main)
        guard let stylesPath = links.values.first(where: { $0.type == "styles" })?.path else {
            throw Office.Failure(description: "the workbook has no styles")
        }
        let styles = try tree(stylesPath)
        let fills = (styles.first("fills")?.children ?? []).map { fill -> String? in
            guard let pattern = fill.first("patternFill"), pattern["patternType"] == "solid" else { return nil }
            return pattern.first("fgColor")?["rgb"]
        }
        let formats = (styles.first("cellXfs")?.children ?? []).map { $0["fillId"].flatMap(Int.init) ?? 0 }

        var marks = CellMarks()
        for sheet in workbook.first("sheets")?.children ?? [] {
            guard let name = sheet["name"], let path = sheet["id"].flatMap({ links[$0]?.path }) else { continue }
            marks.fills[name] = [:]
            for cell in try tree(path).all("c") {
                guard let address = cell["r"].flatMap(CellAddress.init) else { continue }
                let format = cell["s"].flatMap(Int.init) ?? 0
                if formats.indices.contains(format), fills.indices.contains(formats[format]), let color = fills[formats[format]] {
                    marks.fills[name]![address] = color
                }
            }
            marks.comments[name] = [:]
            if let comments = try relationships(of: path).values.first(where: { $0.type == "comments" }) {
                for comment in try tree(comments.path).all("comment") {
                    guard let address = comment["ref"].flatMap(CellAddress.init) else { continue }
                    marks.comments[name]![address] = comment.first("text")?.all("t").map(\.text).joined() ?? ""
                }
            }
        }
        return marks
    }
}

/// An XML element as a tree, just enough to look parts up. Names keep their namespace prefixes;
/// lookups go by the local name.
final class XMLTree {
    enum Content { case text(String), element(XMLTree) }

    let name: String
    let attributes: [String: String]
    private(set) var content: [Content] = []

    init(name: String, attributes: [String: String]) { self.name = name; self.attributes = attributes }

    /// The name without its prefix: "legacyDrawing" for "legacyDrawing", "annotation" for "office:annotation".
    var localName: String { name.split(separator: ":").last.map(String.init) ?? name }
    var children: [XMLTree] { content.compactMap { if case .element(let node) = $0 { node } else { nil } } }
    /// All the text inside, in order.
    var text: String {
        content.map { item in
            switch item {
            case .text(let text): text
            case .element(let node): node.text
            }
        }.joined()
    }

    /// The text of an OpenDocument paragraph: `text:s` stands for spaces, `text:tab` for a tab,
    /// `text:line-break` for a newline.
    var odfText: String {
        content.map { item -> String in
            switch item {
            case .text(let text): return text
            case .element(let node) where node.localName == "s": return String(repeating: " ", count: node["c"].flatMap(Int.init) ?? 1)
            case .element(let node) where node.localName == "tab": return "\t"
            case .element(let node) where node.localName == "line-break": return "\n"
            case .element(let node): return node.odfText
            }
        }.joined()
    }

    /// The attribute of this local name, whatever its prefix.
    subscript(attribute: String) -> String? {
        attributes[attribute] ?? attributes.first { $0.key.hasSuffix(":" + attribute) }?.value
    }

    /// The elements of this local name inside this one, at any depth, in document order.
    func all(_ localName: String) -> [XMLTree] {
        children.flatMap { ($0.localName == localName ? [$0] : []) + $0.all(localName) }
    }

    func first(_ localName: String) -> XMLTree? { all(localName).first }

    func append(_ item: Content) { content.append(item) }

    /// The document's root element, or nil if `data` is not well-formed XML.
    static func parse(_ data: Data) -> XMLTree? {
        let builder = Builder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        return parser.parse() ? builder.stack.first?.children.first : nil
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack = [XMLTree(name: "", attributes: [:])]

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let node = XMLTree(name: name, attributes: attributes)
            stack.last?.append(.element(node))
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.append(.text(string)) }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            stack.last?.append(.text(String(decoding: block, as: UTF8.self)))
        }
    }
}
