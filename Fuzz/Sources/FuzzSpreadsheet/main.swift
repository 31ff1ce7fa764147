import Foundation
import Formats
import FuzzSupport
import ZIPFoundation

// A spreadsheet as `backprop check` takes it: .xlsx, .ods or .csv, read into cells and formulas.
// The file name only decides whether text may be read as CSV (the format is found from the
// content), so the first byte picks it. Every zip entry carries a CRC, so a mutated part would be
// refused before its XML is parsed: the seeds store their parts uncompressed, and the harness also
// tries each input with the CRCs of its stored parts made right, to reach the XML behind them.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    let name = ["f.xlsx", "f.ods", "f.csv"][Int(input.first ?? 0) % 3]
    for candidate in [input, withCorrectCRCs(input)] {
        expectOneLineError {
            let file = try SpreadsheetReader.read(bytes: candidate, fileName: name)
            for sheet in file.sheets { _ = sheet.size }
        }
    }
    return 0
}

/// The zip with the CRC-32 of every stored (uncompressed) entry recomputed, in its local header
/// and its central directory record; anything that does not look like a zip stays as it is.
func withCorrectCRCs(_ zip: [UInt8]) -> [UInt8] {
    func number(_ offset: Int, _ width: Int) -> Int? {
        guard offset >= 0, offset + width <= zip.count else { return nil }
        return (0..<width).reduce(0) { $0 | Int(zip[offset + $1]) << (8 * $1) }
    }
    var out = zip
    var record = 0
    while record + 46 <= zip.count {
        defer { record += 1 }
        guard number(record, 4) == 0x0201_4B50, number(record + 10, 2) == 0, let size = number(record + 20, 4),
              let header = number(record + 42, 4), number(header, 4) == 0x0403_4B50,
              let nameLength = number(header + 26, 2), let extraLength = number(header + 28, 2) else { continue }
        let start = header + 30 + nameLength + extraLength
        guard start + size <= zip.count else { continue }
        let crc = Zlib.crc32(Array(zip[start..<(start + size)]))
        for i in 0..<4 {
            out[record + 16 + i] = UInt8((crc >> (8 * UInt32(i))) & 0xff)
            out[header + 14 + i] = UInt8((crc >> (8 * UInt32(i))) & 0xff)
        }
    }
    return out
}

/// A zip of the given parts, stored uncompressed.
func stored(_ parts: [(String, Data)]) throws -> [UInt8] {
    let archive = try Archive(accessMode: .create)
    for (name, data) in parts {
        try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .none) { position, size in
            data.subdata(in: Int(position)..<(Int(position) + size))
        }
    }
    return [UInt8](archive.data!)
}

@_cdecl("FuzzSpreadsheet_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        // The course's table in small: inputs, η, and rows of formulas reading the row above.
        var cells: [[XLSXWorkbook.Cell?]] = [[.text("η", bold: true), .number(0.5)], [.text("t"), .text("i"), .text("w"), .text("y")]]
        for row in 3...5 {
            cells.append([.number(0.05), .number(0.1), row == 3 ? .number(0.15) : .formula("C\(row - 1)-$B$1*D\(row - 1)", cached: 0.1),
                          .formula("1/(1+EXP(-C\(row)*B\(row)))", cached: 0.5)])
        }
        let book = XLSXWorkbook(sheets: [.init(name: "η = 0.5", cells: cells), .init(name: "Notes", cells: [[.text("a \"quoted\" note")]])])
        let tables = """
            <table:table table:name="T"><table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="float" \
            office:value="0.5"/><table:table-cell table:number-columns-repeated="2" table:formula="of:=SUM([.A1:.A2];[$T.$A$1])" \
            office:value-type="float" office:value="1"/></table:table-row><table:table-row><table:table-cell office:value-type="string">\
            <text:p>a<text:s text:c="2"/>b</text:p><office:annotation><text:p>note</text:p></office:annotation></table:table-cell></table:table-row>\
            <table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>
            """
        let content = """
            <?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" \
            xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">\
            <office:body><office:spreadsheet>\(tables)</office:spreadsheet></office:body></office:document-content>
            """
        // The workbook's own parts again, stored, so that mutations reach its XML.
        let packed = try Archive(data: Data(try book.bytes()), accessMode: .read)
        let unpacked = try packed.map { entry -> (String, Data) in
            var data = Data()
            _ = try packed.extract(entry) { data.append($0) }
            return (entry.path, data)
        }
        return [
            try book.bytes(),
            try stored(unpacked),
            try stored([("mimetype", Data("application/vnd.oasis.opendocument.spreadsheet".utf8)), ("content.xml", Data(content.utf8))]),
            Array("t;i;w\n0,05;0,1;\"x\"\"y\"\n1.5E-3;;z\n".utf8),
        ]
    }, testOneInput)
}
