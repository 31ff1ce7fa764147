import Foundation
import Formats
import Testing
import ZIPFoundation

// MARK: - Building test files

/// Bytes made of a head, a unit repeated `count` times and a tail, handed out in ranges, so that a
/// zip of hundreds of megabytes can be written without holding them.
struct RepeatedBytes {
    var head: [UInt8] = []
    var unit: [UInt8]
    var count: Int
    var tail: [UInt8] = []

    var size: Int { head.count + unit.count * count + tail.count }

    func range(_ position: Int, _ length: Int) -> Data {
        var out = [UInt8]()
        out.reserveCapacity(length)
        var at = position
        let end = min(position + length, size), body = head.count + unit.count * count
        while at < end {
            if at < head.count {
                out += head[at..<min(end, head.count)]
                at = min(end, head.count)
            } else if at < body {
                let offset = (at - head.count) % unit.count, take = min(end - at, unit.count - offset)
                out += unit[offset..<(offset + take)]
                at += take
            } else {
                out += tail[(at - body)..<(end - body)]
                at = end
            }
        }
        return Data(out)
    }
}

/// A zip of the given parts, deflated, built with ZIPFoundation.
func zipped(_ parts: [(name: String, bytes: RepeatedBytes)]) throws -> [UInt8] {
    let archive = try Archive(accessMode: .create)
    for (name, bytes) in parts {
        try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.size), compressionMethod: .deflate) {
            bytes.range(Int($0), $1)
        }
    }
    return [UInt8](archive.data!)
}

func zipped(_ parts: [(name: String, text: String)]) throws -> [UInt8] {
    try zipped(parts.map { ($0.name, RepeatedBytes(head: Array($0.text.utf8), unit: [], count: 0)) })
}

/// An xlsx package of hand-written worksheets (their XML inside `<worksheet>`), each stored under
/// `path` and named by a relationship target as given.
func xlsx(_ sheets: [(name: String, target: String, path: String, xml: RepeatedBytes)], sharedStrings: String? = nil,
          prefix: String = "") throws -> [UInt8] {
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    var workbook = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><\(prefix)workbook xmlns\(prefix.isEmpty ? "" : ":" + prefix.dropLast())=\"\(main)\" xmlns:r=\"\(relationships)\"><\(prefix)sheets>"
    var rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    for (index, sheet) in sheets.enumerated() {
        workbook += "<\(prefix)sheet name=\"\(xmlEscaped(sheet.name))\" sheetId=\"\(index + 1)\" r:id=\"rId\(index + 7)\"/>"
        rels += "<Relationship Id=\"rId\(index + 7)\" Type=\"\(relationships)/worksheet\" Target=\"\(sheet.target)\"/>"
    }
    if sharedStrings != nil {
        rels += "<Relationship Id=\"rId99\" Type=\"\(relationships)/sharedStrings\" Target=\"strings/shared.xml\"/>"
    }
    var parts: [(name: String, bytes: RepeatedBytes)] = [
        ("xl/workbook.xml", RepeatedBytes(head: Array((workbook + "</\(prefix)sheets></\(prefix)workbook>").utf8), unit: [], count: 0)),
        ("xl/_rels/workbook.xml.rels", RepeatedBytes(head: Array((rels + "</Relationships>").utf8), unit: [], count: 0)),
    ]
    if let sharedStrings { parts.append(("xl/strings/shared.xml", RepeatedBytes(head: Array(sharedStrings.utf8), unit: [], count: 0))) }
    parts += sheets.map { ($0.path, $0.xml) }
    return try zipped(parts)
}

/// One worksheet's XML: `rows`, then `unit` `count` times, inside `sheetData`.
func worksheet(_ rows: String = "", repeating unit: String = "", times count: Int = 0, prefix: String = "") -> RepeatedBytes {
    let namespace = "xmlns\(prefix.isEmpty ? "" : ":" + prefix.dropLast())=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\""
    return RepeatedBytes(head: Array("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><\(prefix)worksheet \(namespace)><\(prefix)sheetData>\(rows)".utf8),
                         unit: Array(unit.utf8), count: count, tail: Array("</\(prefix)sheetData></\(prefix)worksheet>".utf8))
}

/// Where the compressed data of the zip's entry `name` lies (ZIPFoundation writes the sizes into
/// each local header).
func dataRange(of name: String, in zip: [UInt8]) -> Range<Int> {
    let name = Array(name.utf8)
    var at = 0
    while zip[at..<(at + 4)].elementsEqual([0x50, 0x4B, 0x03, 0x04]) {
        let nameLength = Int(zip[at + 26]) | Int(zip[at + 27]) << 8, extraLength = Int(zip[at + 28]) | Int(zip[at + 29]) << 8
        let size = (0..<4).reduce(0) { $0 | Int(zip[at + 18 + $1]) << (8 * $1) }
        let start = at + 30 + nameLength + extraLength
        if zip[(at + 30)..<(at + 30 + nameLength)].elementsEqual(name) { return start..<(start + size) }
        at = start + size
    }
    fatalError("no entry \(String(decoding: name, as: UTF8.self))")
}

func xlsx(rows: String) throws -> [UInt8] {
    try xlsx([("Sheet1", "worksheets/sheet1.xml", "xl/worksheets/sheet1.xml", worksheet(rows))])
}

/// An .ods package: the mimetype, then content.xml with these tables inside `office:spreadsheet`.
func ods(_ tables: String, mimetype: String = "application/vnd.oasis.opendocument.spreadsheet") throws -> [UInt8] {
    try zipped([("mimetype", mimetype), ("content.xml", odsContent(tables))])
}

func odsContent(_ tables: String) -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" \
    xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" \
    xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" \
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" \
    xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" office:version="1.3">\
    <office:body><office:spreadsheet>\(tables)</office:spreadsheet></office:body></office:document-content>
    """
}

/// The error reading `bytes` as `name` gives; it must be a one-line `SpreadsheetReadError` naming the file.
func readError(_ bytes: [UInt8], _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        _ = try SpreadsheetReader.read(bytes: bytes, fileName: name)
        Issue.record("\(name) was read without an error", sourceLocation: sourceLocation)
        return ""
    } catch let error as SpreadsheetReadError {
        let message = error.description
        #expect(!message.contains("\n") && !message.contains("\r"), "not one line: \(message)", sourceLocation: sourceLocation)
        #expect(message.hasPrefix(name.replacingOccurrences(of: "\n", with: "?")), "does not start with the file's name: \(message)",
                sourceLocation: sourceLocation)
        return message
    } catch {
        Issue.record("not a SpreadsheetReadError: \(error)", sourceLocation: sourceLocation)
        return ""
    }
}

extension SpreadsheetFile {
    subscript(sheet: String, cell: String) -> Cell? {
        sheets.first { $0.name == sheet }?.cells[CellAddress(cell)!]
    }
}

// MARK: - xlsx

@Suite("Spreadsheet reader: xlsx")
struct SpreadsheetReaderXLSXTests {
    @Test func readsBackWhatXLSXWorkbookWrites() throws {
        let book = XLSXWorkbook(sheets: [
            .init(name: "η = 1", cells: [
                [.text("η", bold: true), .number(0.5)],
                [.text("x & <y>"), .number(-1.5e-5), .formula("B1*B2", cached: -7.5e-6)],
                [nil, nil, nil, .formula("SUM(B1:B2)+'Bob''s'!A1-LOG10(B1)", cached: 42.25)],
            ]),
            .init(name: "Bob's", cells: [[.number(42)], [.formula("'η = 1'!$B$1*2", cached: 1)]]),
        ])
        let file = try SpreadsheetReader.read(bytes: book.bytes(), fileName: "/some/where/book.xlsx")
        #expect(file.format == .xlsx)
        #expect(file.sheets.map(\.name) == ["η = 1", "Bob's"])
        #expect(file["η = 1", "A1"] == .init(value: .text("η")))
        #expect(file["η = 1", "B1"] == .init(value: .number(0.5)))
        #expect(file["η = 1", "A2"] == .init(value: .text("x & <y>")))
        #expect(file["η = 1", "B2"] == .init(value: .number(-1.5e-5)))
        #expect(file["η = 1", "C2"] == .init(value: .number(-7.5e-6), formula: "B1*B2"))
        #expect(file["η = 1", "D3"] == .init(value: .number(42.25), formula: "SUM(B1:B2)+'Bob''s'!A1-LOG10(B1)"))
        #expect(file.sheets[0].cells.count == 6 && file.sheets[0].size == (3, 4))
        #expect(file["Bob's", "A2"] == .init(value: .number(1), formula: "'η = 1'!$B$1*2"))
    }

    @Test func sharedFormulasAreMovedIntoEachCell() throws {
        let rows = """
            <row r="4"><c r="C4"><v>2</v></c><c r="E4"><v>3</v></c>\
            <c r="I4"><f t="shared" ref="I4:K6" si="0">E4*C4+$B$1*E$4-'My sheet'!A1+LOG10($C4)&amp;"A1"+SUM(A:B)+SUM(2:3)</f><v>6</v></c>\
            <c r="J4"><f t="shared" si="0"/><v>1</v></c></row>\
            <row r="5"><c r="I5"><f t="shared" si="0"/><v>2</v></c></row>\
            <row r="6"><c r="K6"><f t="shared" si="0"/></c></row>\
            <row r="7"><c r="B7"><f t="shared" ref="B7:B8" si="1">A6+1</f><v>1</v></c></row>\
            <row r="8"><c r="A8"><f t="shared" ref="A8:A9" si="2">A7</f></c></row>\
            <row r="9"><c r="A9"><f t="shared" si="2"/></c></row>\
            <row r="10"><c r="A10"><f t="array" ref="A10:B11">  =MMULT(C4:D5,E4:F5)  </f><v>5</v></c><c r="B10"><v>6</v></c></row>
            """
        let file = try SpreadsheetReader.read(bytes: try xlsx(rows: rows), fileName: "shared.xlsx")
        #expect(file["Sheet1", "I4"]?.formula == "E4*C4+$B$1*E$4-'My sheet'!A1+LOG10($C4)&\"A1\"+SUM(A:B)+SUM(2:3)")
        #expect(file["Sheet1", "J4"]?.formula == "F4*D4+$B$1*F$4-'My sheet'!B1+LOG10($C4)&\"A1\"+SUM(B:C)+SUM(2:3)")
        #expect(file["Sheet1", "I5"]?.formula == "E5*C5+$B$1*E$4-'My sheet'!A2+LOG10($C5)&\"A1\"+SUM(A:B)+SUM(3:4)")
        #expect(file["Sheet1", "K6"] == .init(value: nil, formula: "G6*E6+$B$1*G$4-'My sheet'!C3+LOG10($C6)&\"A1\"+SUM(C:D)+SUM(4:5)"))
        #expect(file["Sheet1", "J4"]?.value == .number(1))
        #expect(file["Sheet1", "A9"]?.formula == "A8")
        #expect(file["Sheet1", "A10"] == .init(value: .number(5), formula: "MMULT(C4:D5,E4:F5)"))
        #expect(file["Sheet1", "B10"] == .init(value: .number(6)))
        let up = try SpreadsheetReader.read(bytes: try xlsx(rows: """
            <row r="2"><c r="B2"><f t="shared" ref="B2:C2" si="0">A1+$A1</f></c><c r="A2"><f t="shared" ref="A2:A3" si="1">B1</f></c></row>\
            <row r="3"><c r="A3"><f t="shared" si="1"/></c></row><row r="9"><c r="A9"><f t="shared" si="0"/></c></row>
            """), fileName: "up.xlsx")
        // Moved off the sheet: #REF!, as Excel shows it.
        #expect(up["Sheet1", "A9"]?.formula == "#REF!+$A8")
    }

    @Test func stringsBooleansErrorsAndPositions() throws {
        let strings = """
            <?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3">\
            <si><t>plain</t></si><si><r><rPr><b/></rPr><t xml:space="preserve">rich </t></r><r><t>text</t></r>\
            <rPh sb="0" eb="1"><t>ふりがな</t></rPh></si><si><t/></si></sst>
            """
        let prefix = "x:"
        let rows = """
            <x:row r="2"><x:c r="A2" t="s"><x:v>0</x:v></x:c><x:c t="s"><x:v>1</x:v></x:c><x:c t="s"><x:v>2</x:v></x:c>\
            <x:c t="inlineStr"><x:is><x:r><x:t>in</x:t></x:r><x:r><x:t>line</x:t></x:r></x:is></x:c></x:row>\
            <x:row><x:c t="b"><x:v>1</x:v></x:c><x:c t="e"><x:v>#DIV/0!</x:v></x:c><x:c t="str"><x:f>A2&amp;"!"</x:f><x:v>plain!</x:v></x:c>\
            <x:c s="3"/><x:c t="n"><x:v> 1.5E-3 </x:v></x:c></x:row>
            """
        let bytes = try xlsx([("Data", "/xl/sheets/data.xml", "xl/sheets/data.xml", worksheet(rows, prefix: prefix)),
                              ("Empty", "../xl/./sheets/../sheets/empty.xml", "xl/sheets/empty.xml", worksheet("", prefix: prefix))],
                             sharedStrings: strings, prefix: prefix)
        let file = try SpreadsheetReader.read(bytes: bytes, fileName: "strings.xlsx")
        #expect(file.sheets.map(\.name) == ["Data", "Empty"] && file.sheets[1].cells.isEmpty)
        #expect(file["Data", "A2"]?.value == .text("plain"))
        #expect(file["Data", "B2"]?.value == .text("rich text"))
        #expect(file["Data", "C2"] == nil)
        #expect(file["Data", "D2"]?.value == .text("inline"))
        #expect(file["Data", "A3"]?.value == .boolean(true))
        #expect(file["Data", "B3"]?.value == .error("#DIV/0!"))
        #expect(file["Data", "C3"] == .init(value: .text("plain!"), formula: "A2&\"!\""))
        #expect(file["Data", "D3"] == nil)
        #expect(file["Data", "E3"]?.value == .number(0.0015))
        #expect(file.sheets[0].cells.count == 7)
    }
}

// MARK: - ods

@Suite("Spreadsheet reader: ods")
struct SpreadsheetReaderODSTests {
    @Test func tablesRepeatsTextAndFormulas() throws {
        let tables = """
            <table:table table:name="η = 1"><table:table-column table:number-columns-repeated="1024"/>\
            <table:table-row><table:table-cell office:value-type="string" calcext:value-type="string"><text:p>η</text:p></table:table-cell>\
            <table:table-cell office:value-type="float" office:value="0.5"><text:p>0.50</text:p>\
            <office:annotation><dc:creator>me</dc:creator><text:p>a comment</text:p></office:annotation></table:table-cell></table:table-row>\
            <table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-repeated="2"/>\
            <table:table-cell table:number-columns-repeated="3" office:value-type="float" office:value="7"><text:p>7</text:p></table:table-cell>\
            <table:table-cell table:formula="of:=[.E4]*[.C4]+[$Data.B1]" office:value-type="float" office:value="49"><text:p>49</text:p></table:table-cell>\
            </table:table-row>\
            <table:table-row><table:table-cell table:formula="of:=SUM([.A1:.B2]; 2)" office:value-type="float" office:value="2.5"/>\
            <table:table-cell table:formula="of:=IF([.A1]&gt;0;&quot;a;b&quot;;[$'η = 1'.$B$1])" office:value-type="string" office:string-value="a;b"><text:p>a;b</text:p></table:table-cell>\
            <table:table-cell table:formula="oooc:=[$Data.A1:.B2]+[$'Bob''s'.A1:$'Bob''s'.B2]+{1;2|3;4}" office:value-type="float" office:value="1"/>\
            <table:table-cell table:formula="of:=1/0" office:value-type="string" office:string-value="" calcext:value-type="error"><text:p>#DIV/0!</text:p></table:table-cell>\
            <table:table-cell table:formula="of:=[$Data.A1]" office:value-type="float" office:value="1"/></table:table-row>\
            <table:table-row><table:table-cell office:value-type="string"><text:p>two<text:s text:c="3"/><text:span>spaces</text:span></text:p><text:p>and a line</text:p></table:table-cell>\
            <table:covered-table-cell/><table:table-cell office:value-type="boolean" office:boolean-value="true"><text:p>TRUE</text:p></table:table-cell>\
            <table:table-cell office:value-type="percentage" office:value="0.05"><text:p>5%</text:p></table:table-cell>\
            <table:table-cell office:value-type="date" office:date-value="2024-05-01"><text:p>01/05/24</text:p></table:table-cell>\
            <table:table-cell><draw:frame><draw:object><table:table table:name="chart data"><table:table-row><table:table-cell office:value-type="float" office:value="9"/></table:table-row></table:table></draw:object></draw:frame></table:table-cell></table:table-row>\
            <table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>\
            <table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row>\
            </table:table>\
            <table:table table:name="Data"><table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row></table:table>
            """
        let file = try SpreadsheetReader.read(bytes: try ods(tables), fileName: "course.ods")
        #expect(file.format == .ods)
        #expect(file.sheets.map(\.name) == ["η = 1", "Data"])
        #expect(file["η = 1", "A1"] == .init(value: .text("η")))
        #expect(file["η = 1", "B1"] == .init(value: .number(0.5)))
        for cell in ["C2", "D2", "E2", "C3", "D3", "E3"] { #expect(file["η = 1", cell] == .init(value: .number(7)), "\(cell)") }
        #expect(file["η = 1", "F2"] == .init(value: .number(49), formula: "E4*C4+Data!B1"))
        #expect(file["η = 1", "F3"] == .init(value: .number(49), formula: "E4*C4+Data!B1"))
        #expect(file["η = 1", "A4"] == .init(value: .number(2.5), formula: "SUM(A1:B2, 2)"))
        #expect(file["η = 1", "B4"] == .init(value: .text("a;b"), formula: "IF(A1>0,\"a;b\",'η = 1'!$B$1)"))
        #expect(file["η = 1", "C4"]?.formula == "Data!A1:B2+'Bob''s'!A1:B2+{1,2;3,4}")
        #expect(file["η = 1", "D4"] == .init(value: .error("#DIV/0!"), formula: "1/0"))
        #expect(file["η = 1", "E4"]?.formula == "Data!A1")
        #expect(file["η = 1", "A5"] == .init(value: .text("two   spaces\nand a line")))
        #expect(file["η = 1", "B5"] == nil)
        #expect(file["η = 1", "C5"] == .init(value: .boolean(true)))
        #expect(file["η = 1", "D5"] == .init(value: .number(0.05)))
        #expect(file["η = 1", "E5"] == .init(value: .text("01/05/24")))
        #expect(file["η = 1", "F5"] == nil)
        // After 1,048,000 empty rows (never walked), row 1,048,006 still exists; the sheet ends at 1,048,576.
        #expect(file["η = 1", "A1048006"] == .init(value: .number(1)))
        #expect(file.sheets[0].cells.count == 2 + 6 + 2 + 5 + 4 + 1)
    }

    @Test func rowsAndCellsPastTheSheetsEndAreDropped() throws {
        let tables = """
            <table:table table:name="T"><table:table-row table:number-rows-repeated="1048575"/>\
            <table:table-row table:number-rows-repeated="5"><table:table-cell table:number-columns-repeated="16383"/>\
            <table:table-cell table:number-columns-repeated="9" office:value-type="float" office:value="3"/></table:table-row>\
            <table:table-row><table:table-cell office:value-type="float" office:value="4"/></table:table-row></table:table>
            """
        let file = try SpreadsheetReader.read(bytes: try ods(tables), fileName: "edge.ods")
        #expect(file.sheets[0].cells.count == 1)
        #expect(file["T", "XFD1048576"] == .init(value: .number(3)))
    }
}

// MARK: - csv

@Suite("Spreadsheet reader: csv")
struct SpreadsheetReaderCSVTests {
    @Test func commaQuotesAndLineBreaks() throws {
        let text = "\u{FEFF}t,i,\"w, one\"\r\n0.05, -1.5E-05 ,\" 3 \"\r\n\"say \"\"hi\"\"\nthere\",,x \r\n"
        let file = try SpreadsheetReader.read(bytes: Array(text.utf8), fileName: "dir/run 1.csv")
        #expect(file.format == .csv && file.sheets.map(\.name) == ["run 1"])
        #expect(file["run 1", "A1"]?.value == .text("t"))
        #expect(file["run 1", "C1"]?.value == .text("w, one"))
        #expect(file["run 1", "A2"]?.value == .number(0.05))
        #expect(file["run 1", "B2"]?.value == .number(-1.5e-5))
        #expect(file["run 1", "C2"]?.value == .number(3))
        #expect(file["run 1", "A3"]?.value == .text("say \"hi\"\nthere"))
        #expect(file["run 1", "B3"] == nil)
        #expect(file["run 1", "C3"]?.value == .text("x"))
        #expect(file.sheets[0].cells.count == 8)
    }

    @Test func semicolonsWithDecimalCommasAndTabs() throws {
        let semicolons = try SpreadsheetReader.read(bytes: Array("a;b;c\n0,05;1,5E-3;1.234,5\n".utf8), fileName: "de.csv")
        #expect(semicolons["de", "A2"]?.value == .number(0.05))
        #expect(semicolons["de", "B2"]?.value == .number(0.0015))
        #expect(semicolons["de", "C2"]?.value == .text("1.234,5"))
        let tabs = try SpreadsheetReader.read(bytes: Array("x\ty\n1,5\t2\n".utf8), fileName: "t.txt")
        #expect(tabs["t", "A2"]?.value == .text("1,5") && tabs["t", "B2"]?.value == .number(2))
        let commas = try SpreadsheetReader.read(bytes: Array("1,2\n\"3;4\",5\n+6,.5\ninf,nan\n".utf8), fileName: "c.csv")
        #expect(commas["c", "A2"]?.value == .text("3;4") && commas["c", "A3"]?.value == .number(6) && commas["c", "B3"]?.value == .number(0.5))
        #expect(commas["c", "A4"]?.value == .text("inf") && commas["c", "B4"]?.value == .text("nan"))
    }

    @Test func hostileCSV() {
        #expect(readError(Array("a,\"b\n1,2\n".utf8), "open.csv").contains("no closing quote"))
        #expect(readError([0x61, 0x2C, 0xFF, 0xFE, 0x0A], "latin.csv").contains("expected a CSV saved as UTF-8"))
        #expect(readError(Array("a,b\n".utf8), "table.dat").contains("not a workbook: expected .xlsx, .ods or .csv"))
        let long = String(repeating: "x", count: 100_000)
        let file = try? SpreadsheetReader.read(bytes: Array("\(long),1\n".utf8), fileName: "long.csv")
        #expect(file?["long", "A1"]?.value == .text(String(repeating: "x", count: SpreadsheetLimits.cellCharacters)))
    }
}

// MARK: - Hostile files

@Suite("Spreadsheet reader: hostile files")
struct SpreadsheetReaderHostileTests {
    @Test func notWorkbooks() throws {
        var random = Mutator(state: 7)
        let noise = (0..<4096).map { _ in UInt8(random.below(256)) }
        #expect(readError(noise, "noise.xlsx").contains("not a workbook: expected .xlsx, .ods or .csv"))
        #expect(readError([], "empty.ods").contains("not a workbook: expected .xlsx, .ods or .csv"))
        #expect(readError([0x50, 0x4B, 0x03, 0x04] + noise, "cut.xlsx").contains("damaged zip"))
        let document = try zipped([("word/document.xml", "<w/>"), ("[Content_Types].xml", "<Types/>")])
        #expect(readError(document, "letter.xlsx").contains("zip without a workbook"))
        let text = try zipped([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", odsContent(""))])
        #expect(readError(text, "letter.ods").contains("not a spreadsheet"))
        let ole: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + [UInt8](repeating: 0, count: 504)
        for name in ["old.xls", "secret.xlsx"] {
            #expect(readError(ole, name) == "\(name) is an old binary .xls or an encrypted workbook; save it as .xlsx or .ods (without a password)")
        }
        let tooLarge = [UInt8](repeating: 0x20, count: SpreadsheetLimits.fileBytes + 1)
        #expect(readError(tooLarge, "huge.csv").contains("larger than the 67,108,864 bytes"))
        let path = NSTemporaryDirectory() + "spreadsheet-\(UUID().uuidString).xlsx"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(tooLarge)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SpreadsheetReadError.self) { try SpreadsheetReader.read(path: path) }
        #expect(throws: SpreadsheetReadError.self) { try SpreadsheetReader.read(path: path + ".missing") }
    }

    /// 300 MB of zeros deflate to about 300 kB. The declared size is refused at once; with the sizes
    /// in the zip rewritten to lie, the bytes are counted as they are inflated.
    @Test func zipBombs() throws {
        let zeros = RepeatedBytes(unit: [UInt8](repeating: 0, count: 1 << 16), count: 4800)
        var bomb = try xlsx([("Sheet1", "worksheets/sheet1.xml", "xl/worksheets/sheet1.xml", zeros)])
        #expect(bomb.count < 1 << 20)
        let message = readError(bomb, "bomb.xlsx")
        #expect(message.contains("xl/worksheets/sheet1.xml expands to more than 268,435,456 bytes"), "\(message)")
        // Rewrite the uncompressed size (local header and central directory) to claim 1,000 bytes.
        let name = Array("xl/worksheets/sheet1.xml".utf8)
        for (signature, sizeOffset, nameOffset) in [([0x50, 0x4B, 0x03, 0x04], 22, 30), ([0x50, 0x4B, 0x01, 0x02], 24, 46)] as [([UInt8], Int, Int)] {
            for at in 0..<(bomb.count - nameOffset - name.count) where bomb[at..<(at + 4)].elementsEqual(signature)
                && bomb[(at + nameOffset)..<(at + nameOffset + name.count)].elementsEqual(name) {
                bomb.replaceSubrange((at + sizeOffset)..<(at + sizeOffset + 4), with: [0xE8, 0x03, 0, 0])
            }
        }
        #expect(readError(bomb, "liar.xlsx").contains("expands to more than 268,435,456 bytes, the most one part may hold"))
    }

    /// Three sheets of 200 MB each (mostly whitespace, which parses fast) pass the part limit but
    /// not the total.
    @Test func partsTogetherOverTheTotal() throws {
        let sheet = worksheet(repeating: String(repeating: " ", count: (1 << 16) - 4) + "<x/>", times: 3200)
        let bytes = try xlsx((1...3).map { ("S\($0)", "worksheets/s\($0).xml", "xl/worksheets/s\($0).xml", sheet) })
        #expect(readError(bytes, "wide.xlsx").contains("expand to more than 536,870,912 bytes together"))
    }

    @Test func brokenZips() throws {
        let good = try xlsx(rows: "<row><c><v>1</v></c></row>")
        #expect(try SpreadsheetReader.read(bytes: good, fileName: "good.xlsx")["Sheet1", "A1"]?.value == .number(1))
        // A flipped byte in the worksheet's compressed data: a CRC or deflate error, never a crash.
        var flipped = good
        flipped[dataRange(of: "xl/worksheets/sheet1.xml", in: good).lowerBound + 3] ^= 0x55
        let message = readError(flipped, "flipped.xlsx")
        #expect(message.contains("xl/worksheets/sheet1.xml") && message.contains("expected an intact .xlsx or .ods file"), "\(message)")
        // A stored deflate block that claims more bytes than the file has (ZIPFoundation would spin here).
        let stream: [UInt8] = [0x00, 0xE8, 0x03, 0x17, 0xFC] + Array("hello".utf8)
        var cut = try zipped([("xl/workbook.xml", "<workbook>" + String(repeating: " ", count: 99) + "</workbook>")])
        let data = dataRange(of: "xl/workbook.xml", in: cut)
        cut.replaceSubrange(data, with: stream + [UInt8](repeating: 0, count: max(0, data.count - stream.count)))
        #expect(readError(cut, "spin.xlsx").contains("xl/workbook.xml"))
        // Encrypted entry flag; a method other than deflate.
        var encrypted = good, method = good
        for at in good.indices.dropLast(4) where good[at..<(at + 4)].elementsEqual([0x50, 0x4B, 0x01, 0x02]) {
            encrypted[at + 8] |= 1
            method[at + 10] = 12
        }
        #expect(readError(encrypted, "locked.xlsx").contains("encrypted: expected a workbook saved without a password"))
        #expect(readError(method, "bzip.xlsx").contains("compressed with method 12: expected deflate"))
        #expect(readError(Array(good.prefix(good.count - 30)), "short.xlsx").contains("damaged zip"))
    }

    @Test func hostileXML() throws {
        let deep = String(repeating: "<a>", count: 10_000) + String(repeating: "</a>", count: 10_000)
        let message = readError(try xlsx(rows: "<row><c>\(deep)</c></row>"), "deep.xlsx")
        #expect(message.contains("nests XML elements more than 64 deep"), "\(message)")
        #expect(readError(try ods("<table:table>\(deep)</table:table>"), "deep.ods").contains("content.xml nests XML elements more than 64 deep"))
        let malformed = readError(try xlsx(rows: "<row><c><v>1</v></row>"), "malformed.xlsx")
        #expect(malformed.contains("xl/worksheets/sheet1.xml is not well-formed XML") && malformed.contains("expected an intact .xlsx or .ods file"), "\(malformed)")
        let laughs = """
            <?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\
            <worksheet><sheetData><row><c t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>
            """
        let laughing = try xlsx([("S", "worksheets/s.xml", "xl/worksheets/s.xml", RepeatedBytes(head: Array(laughs.utf8), unit: [], count: 0))])
        #expect(readError(laughing, "laughs.xlsx").contains("declares a document type"))
        let utf16 = try xlsx([("S", "worksheets/s.xml", "xl/worksheets/s.xml", RepeatedBytes(head: [0xFF, 0xFE, 0x3C, 0], unit: [], count: 0))])
        #expect(readError(utf16, "utf16.xlsx").contains("is not UTF-8 XML"))
        for tiny in ["", "<a", "<a>", "<?xml version=\"1.0\"?><a><b>"] {
            let part = RepeatedBytes(head: Array(tiny.utf8), unit: [], count: 0)
            #expect(readError(try xlsx([("S", "s.xml", "xl/s.xml", part)]), "tiny.xlsx").contains("xl/s.xml is not well-formed XML"), "\(tiny)")
        }
        #expect(readError(try xlsx(rows: "<row r=\"0\"/>"), "row.xlsx").contains("expected 1 to 1,048,576"))
        #expect(readError(try xlsx(rows: "<row><c r=\"XFE1\"><v>1</v></c></row>"), "cell.xlsx").contains("expected a cell name from A1 to XFD1048576"))
        #expect(readError(try xlsx(rows: "<row><c t=\"s\"><v>3</v></c></row>"), "strings.xlsx").contains("shared string \"3\": expected"))
        #expect(readError(try xlsx(rows: "<row><c><f t=\"shared\" si=\"4\"/></c></row>"), "orphan.xlsx").contains("uses shared formula 4"))
        let missing = try zipped([("xl/workbook.xml", "<workbook><sheets><sheet name=\"a\" r:id=\"rId1\" xmlns:r=\"r\"/></sheets></workbook>")])
        #expect(readError(missing, "norels.xlsx").contains("xl/_rels/workbook.xml.rels is missing"))
        let sheets = String(repeating: "<table:table/>", count: SpreadsheetLimits.sheets + 1)
        #expect(readError(try ods(sheets), "many.ods").contains("more than 256 sheets"))
        let newline = readError(try ods("<table:table><table:table-row table:number-rows-repeated=\"x&#10;y\"/></table:table>"), "line\nbreak.ods")
        #expect(newline.contains("expected a whole number from 1"))
    }

    /// 10⁶ rows of one cell (about 30 MB of XML) read; 10⁶ rows of three cells are more cells
    /// than the limit, refused as they are counted.
    @Test func aMillionRows() throws {
        let single = worksheet(repeating: "<row><c><v>1</v></c></row>", times: 1_000_000)
        let file = try SpreadsheetReader.read(bytes: try xlsx([("Big", "worksheets/sheet1.xml", "xl/worksheets/sheet1.xml", single)]), fileName: "rows.xlsx")
        #expect(file.sheets[0].cells.count == 1_000_000 && file["Big", "A1000000"]?.value == .number(1))
        let rows = worksheet(repeating: "<row><c><v>1</v></c><c><v>2</v></c><c t=\"inlineStr\"><is><t>x</t></is></c></row>", times: 1_000_000)
        let message = readError(try xlsx([("Big", "worksheets/sheet1.xml", "xl/worksheets/sheet1.xml", rows)]), "rows.xlsx")
        #expect(message == "rows.xlsx has more than 2,000,000 cells holding something, the most a workbook may have (SpreadsheetLimits.cells)")
        let repeated = """
            <table:table table:name="T"><table:table-row table:number-rows-repeated="1000000">\
            <table:table-cell table:number-columns-repeated="3" office:value-type="float" office:value="1"/></table:table-row></table:table>
            """
        #expect(readError(try ods(repeated), "rows.ods").contains("more than 2,000,000 cells"))
        let csv = Array(String(repeating: "1,2,3\n", count: 1_000_000).utf8)
        #expect(readError(csv, "rows.csv").contains("more than 2,000,000 cells"))
    }

    @Test func overLongFormulasAreCut() throws {
        let long = "1" + String(repeating: "+A1", count: 33_333)
        let file = try SpreadsheetReader.read(bytes: try xlsx(rows: """
            <row><c><f>\(long)</f><v>1</v></c><c><f t="shared" ref="B1:C1" si="0">\(long)</f></c><c><f t="shared" si="0"/></c>\
            <c t="inlineStr"><is><t>\(String(repeating: "é", count: 100_000))</t></is></c></row>
            """), fileName: "long.xlsx")
        let limit = SpreadsheetLimits.cellCharacters
        #expect(file["Sheet1", "A1"]?.formula == String(long.prefix(limit)))
        #expect(file["Sheet1", "B1"]?.formula == String(long.prefix(limit)))
        #expect(file["Sheet1", "C1"]?.formula == String(long.replacingOccurrences(of: "A1", with: "B1").prefix(limit)))
        #expect(file["Sheet1", "D1"]?.value == .text(String(repeating: "é", count: limit)))
        let ods = try SpreadsheetReader.read(bytes: try ods("""
            <table:table><table:table-row><table:table-cell table:formula="of:=\(long.replacingOccurrences(of: "A1", with: "[.A1]"))"/></table:table-row></table:table>
            """), fileName: "long.ods")
        #expect(ods["Sheet1", "A1"]?.formula == String(long.prefix(limit)))
    }

    /// Bounded random corruption of valid files of each kind: every result is a file or a one-line error.
    @Test func mutatedFilesNeverCrash() throws {
        let seeds = [
            try XLSXWorkbook(sheets: [.init(name: "a", cells: [[.text("x"), .number(1.5), .formula("B1*2", cached: 3)]])]).bytes(),
            try ods("<table:table table:name=\"T\"><table:table-row><table:table-cell table:formula=\"of:=[.B1]\" office:value-type=\"float\" office:value=\"1\"/></table:table-row></table:table>"),
            Array("a;b\n1,5;\"x\"\n".utf8),
        ]
        let names = ["m.xlsx", "m.ods", "m.csv"]
        var mutator = Mutator(state: 11)
        for index in 0..<3000 {
            let bytes = mutator.mutate(seeds[index % 3])
            do { _ = try SpreadsheetReader.read(bytes: bytes, fileName: names[index % 3]) } catch {
                let message = "\(error)"
                if message.isEmpty || message.contains("\n") { Issue.record("not one line: \(message)") }
            }
        }
    }
}

// MARK: - LibreOffice

@Suite("Spreadsheet reader: what LibreOffice writes")
struct SpreadsheetReaderLibreOfficeTests {
    static let office = ["/usr/bin/soffice", "/usr/bin/libreoffice", "/usr/local/bin/soffice"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A workbook written by XLSXWorkbook, converted by LibreOffice to .ods and to .xlsx: the
    /// readers find the same formulas (OpenFormula translated) and values in all three.
    @Test func conversionsReadTheSame() throws {
        guard let office = Self.office else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("LibreOffice (soffice) is not installed; CI must install libreoffice-calc-nogui") }
            else { print("skipped: LibreOffice is not installed (apt-get install libreoffice-calc-nogui)") }
            return
        }
        let rate = 0.5, x = 2.0
        let book = XLSXWorkbook(sheets: [
            .init(name: "η = 1", cells: [
                [.text("η"), .number(rate)],
                [.text("x"), .number(x), .formula("B1*B2", cached: rate * x)],
                [.formula("SUM(B1:B2)", cached: rate + x), .formula("IF(B2>1,B1,0)", cached: rate),
                 .formula("EXP(-B1)*$B$1", cached: exp(-rate) * rate), .formula("Data!A1+Data!$A$1", cached: 84)],
            ]),
            .init(name: "Data", cells: [[.number(42)], [.formula("'η = 1'!B1*2", cached: rate * 2)],
                                        [.formula("LEN(\"a;b\")+MAX(1,2)", cached: 5)]]),
        ])
        let folder = NSTemporaryDirectory() + "backprop-spreadsheet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try book.write(to: folder + "/book.xlsx")
        for format in ["ods", "xlsx"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: office)
            process.arguments = ["-env:UserInstallation=file://\(folder)/profile", "--headless", "--norestore",
                                 "--convert-to", format, "--outdir", folder + "/" + format, folder + "/book.xlsx"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "soffice --convert-to \(format)")
        }
        let original = try SpreadsheetReader.read(path: folder + "/book.xlsx")
        for path in [folder + "/ods/book.ods", folder + "/xlsx/book.xlsx"] {
            let converted = try SpreadsheetReader.read(path: path)
            #expect(converted.sheets.map(\.name) == ["η = 1", "Data"], "\(path)")
            for (sheet, copy) in zip(original.sheets, converted.sheets) {
                #expect(copy.cells.count == sheet.cells.count, "\(path) \(sheet.name)")
                for (address, cell) in sheet.cells {
                    let other = copy.cells[address]
                    #expect(other?.formula == cell.formula, "\(path) \(sheet.name)!\(address)")
                    switch (cell.value, other?.value) {
                    case let (.number(a)?, .number(b)?): #expect(abs(a - b) <= 1e-12 * max(1, abs(a)), "\(path) \(sheet.name)!\(address)")
                    default: #expect(other?.value == cell.value, "\(path) \(sheet.name)!\(address)")
                    }
                }
            }
        }
    }
}
