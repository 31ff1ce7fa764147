import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SystemZlib

/// Reads a learner's spreadsheet: .xlsx (Excel, LibreOffice, Google Sheets, Numbers), .ods
/// (LibreOffice) or .csv, into the same `SpreadsheetFile`.
///
/// The format is decided by the content, not the name: a zip holding `xl/workbook.xml` is an xlsx
/// workbook, one holding `content.xml` with an OpenDocument spreadsheet mimetype is an ods one;
/// anything else is read as CSV only when it is named .csv or .txt and is UTF-8 text. Every file is
/// hostile until read: `SpreadsheetLimits` bounds the file, every part of the zip as it is
/// inflated (the sizes the zip declares are not trusted), the cells, sheets, XML nesting and
/// formula text. Every failure is a `SpreadsheetReadError` of one line naming the file, what was
/// wrong and what was expected.
public enum SpreadsheetReader {
    /// Reads the file at `path`, refusing one larger than `SpreadsheetLimits.fileBytes` before
    /// reading it.
    public static func read(path: String) throws -> SpreadsheetFile {
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: SpreadsheetLimits.fileBytes) }
        catch { throw SpreadsheetReadError(oneLine("\(error)", limit: .max)) }
        return try read(bytes: bytes, fileName: path)
    }

    /// Reads a file's bytes; `fileName` (a path or a name) names the file in messages, and its
    /// extension allows CSV.
    public static func read(bytes: [UInt8], fileName: String) throws -> SpreadsheetFile {
        let name = (fileName as NSString).lastPathComponent
        let file = oneLine(name.isEmpty ? fileName : name)
        guard bytes.count <= SpreadsheetLimits.fileBytes else {
            throw SpreadsheetReadError("\(file) is larger than the \(grouped(SpreadsheetLimits.fileBytes)) bytes a workbook may have")
        }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            var package = try ZipPackage(bytes: bytes, file: file)
            if package.contains("xl/workbook.xml") { return try XLSXReader.read(&package) }
            if package.contains("content.xml") {
                let type = try package.read("mimetype").map { String(decoding: $0, as: UTF8.self) } ?? "none"
                guard type.hasPrefix("application/vnd.oasis.opendocument.spreadsheet") else {
                    throw SpreadsheetReadError("\(file) is an OpenDocument file but not a spreadsheet (its mimetype: \(oneLine(type))): expected .xlsx, .ods or .csv")
                }
                return try ODSReader.read(&package)
            }
            if package.contains("xl/workbook.bin") {
                throw SpreadsheetReadError("\(file) is a binary Excel workbook (.xlsb); save it as .xlsx or .ods")
            }
            throw SpreadsheetReadError("\(file) is a zip without a workbook (neither xl/workbook.xml nor content.xml): expected .xlsx, .ods or .csv")
        }
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            throw SpreadsheetReadError("\(file) is an old binary .xls or an encrypted workbook; save it as .xlsx or .ods (without a password)")
        }
        let fileExtension = (name as NSString).pathExtension.lowercased()
        guard fileExtension == "csv" || fileExtension == "txt" else {
            throw SpreadsheetReadError("\(file) is not a workbook: expected .xlsx, .ods or .csv")
        }
        let text = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        guard String(validating: text, as: UTF8.self) != nil else {
            throw SpreadsheetReadError("\(file) is not UTF-8 text: expected a CSV saved as UTF-8 (\"CSV UTF-8\"), .xlsx or .ods")
        }
        return try CSVReader.read(text, file: file, sheetName: (name as NSString).deletingPathExtension)
    }
}

/// `text` fit for a one-line message: control characters and line breaks shown as "?", and at
/// most `limit` characters (a name from a file can be long).
func oneLine(_ text: String, limit: Int = 120) -> String {
    let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
        scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .lineSeparator
            || scalar.properties.generalCategory == .paragraphSeparator ? "?" : scalar
    }))
    return cleaned.count > limit ? cleaned.prefix(limit - 1) + "…" : cleaned
}

// MARK: - Zip packages

/// The parts of a zip package (xlsx and ods files are both zips), each inflated on demand within
/// `SpreadsheetLimits.partBytes`, and all of them within `totalBytes`.
///
/// Read here rather than with ZIPFoundation, whose reader trusts the zip: on Linux it hands zlib a
/// whole buffer for every chunk however few bytes were read, keeps asking for more when a deflate
/// stream runs past the end of the file, and converts the sizes a zip64 entry declares with
/// trapping conversions. This reader checks every offset and size against the bytes it has, and
/// inflates only the bytes an entry owns.
struct ZipPackage {
    let file: String
    private let bytes: [UInt8]
    /// Entries by normalised name (see `key`); the first of equal names wins.
    private var entries: [String: Entry] = [:]
    /// Bytes inflated so far, over all parts.
    private var inflated = 0

    private struct Entry {
        var name: String
        var flags: UInt16
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        /// What the zip claims; only used to refuse a part early, never to size a buffer.
        var declaredSize: UInt64
        var headerOffset: Int
    }

    /// Reads the central directory.
    init(bytes: [UInt8], file: String) throws {
        self.bytes = bytes
        self.file = file
        let damaged = SpreadsheetReadError("\(file) is a damaged zip (its central directory is missing or cut): expected an .xlsx or .ods file saved completely")
        func field(_ offset: Int, _ width: Int) throws -> UInt64 {
            guard let value = Self.number(bytes, offset, width) else { throw damaged }
            return value
        }
        // The end-of-central-directory record: 22 bytes and a comment of up to 65,535, at the end.
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var end = bytes.count - 22
        while end >= lowest && Self.number(bytes, end, 4) != 0x0605_4B50 { end -= 1 }
        guard end >= lowest else { throw damaged }
        var directorySize = try field(end + 12, 4), directoryOffset = try field(end + 16, 4)
        if directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // zip64: a locator just before the record points at the zip64 end record.
            guard try field(end - 20, 4) == 0x0706_4B50 else { throw damaged }
            let record = try field(end - 12, 8)
            guard record < UInt64(bytes.count), try field(Int(record), 4) == 0x0606_4B50 else { throw damaged }
            directorySize = try field(Int(record) + 40, 8)
            directoryOffset = try field(Int(record) + 48, 8)
        }
        guard directoryOffset <= UInt64(bytes.count), directorySize <= UInt64(bytes.count) - directoryOffset else { throw damaged }
        var position = Int(directoryOffset)
        let directoryEnd = position + Int(directorySize)
        while position < directoryEnd {
            guard position + 46 <= directoryEnd, try field(position, 4) == 0x0201_4B50 else { throw damaged }
            let nameLength = Int(try field(position + 28, 2))
            let extraLength = Int(try field(position + 30, 2))
            let commentLength = Int(try field(position + 32, 2))
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw damaged }
            var declared = try field(position + 24, 4), compressed = try field(position + 20, 4)
            var offset = try field(position + 42, 4)
            // The zip64 extra field (id 1) holds, in this order, the 8-byte values of those of the
            // three fields that say 0xFFFFFFFF.
            var extra = position + 46 + nameLength
            while extra + 4 <= position + 46 + nameLength + extraLength {
                let id = try field(extra, 2), size = Int(try field(extra + 2, 2))
                if id == 1 {
                    var values = [declared, compressed, offset], at = extra + 4
                    for index in values.indices where values[index] == 0xFFFF_FFFF && at + 8 <= extra + 4 + size {
                        values[index] = try field(at, 8)
                        at += 8
                    }
                    (declared, compressed, offset) = (values[0], values[1], values[2])
                }
                extra += 4 + size
            }
            guard compressed <= UInt64(bytes.count), offset <= UInt64(bytes.count) else { throw damaged }
            let name = String(decoding: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            let key = Self.key(name)
            if entries[key] == nil {
                entries[key] = Entry(name: name, flags: UInt16(try field(position + 8, 2)), method: UInt16(try field(position + 10, 2)),
                                     crc: UInt32(try field(position + 16, 4)), compressedSize: Int(compressed),
                                     declaredSize: declared, headerOffset: Int(offset))
            }
            position = next
        }
    }

    /// The little-endian number of `width` bytes at `offset`; nil when the bytes end first.
    private static func number(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64? {
        guard offset >= 0, offset <= bytes.count - width else { return nil }
        var value: UInt64 = 0
        for index in stride(from: offset + width - 1, through: offset, by: -1) { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    /// Part names compare without case (as the package conventions say) and without a leading "/".
    private static func key(_ name: String) -> String {
        var name = name.replacingOccurrences(of: "\\", with: "/")
        while name.hasPrefix("/") { name.removeFirst() }
        return name.lowercased()
    }

    func contains(_ name: String) -> Bool { entries[Self.key(name)] != nil }

    /// The inflated bytes of part `name`, nil when the zip has no such part.
    mutating func read(_ name: String) throws -> Data? {
        guard let entry = entries[Self.key(name)] else { return nil }
        let part = oneLine(entry.name)
        guard entry.flags & 1 == 0 else {
            throw SpreadsheetReadError("\(file): the part \(part) is encrypted: expected a workbook saved without a password")
        }
        let header = entry.headerOffset
        guard Self.number(bytes, header, 4) == 0x0403_4B50, let nameLength = Self.number(bytes, header + 26, 2),
              let extraLength = Self.number(bytes, header + 28, 2) else {
            throw SpreadsheetReadError("\(file): the part \(part) has no local header where the zip says: expected an .xlsx or .ods file saved completely")
        }
        let start = header + 30 + Int(nameLength) + Int(extraLength)
        guard start <= bytes.count, entry.compressedSize <= bytes.count - start else {
            throw SpreadsheetReadError("\(file): the part \(part) is cut short: expected an .xlsx or .ods file saved completely")
        }
        let partLimit = SpreadsheetLimits.partBytes, room = min(partLimit, SpreadsheetLimits.totalBytes - inflated)
        let tooLarge = room < partLimit
            ? SpreadsheetReadError("\(file): the parts of the zip expand to more than \(grouped(SpreadsheetLimits.totalBytes)) bytes together, the most a workbook may hold (SpreadsheetLimits.totalBytes)")
            : SpreadsheetReadError("\(file): the part \(part) expands to more than \(grouped(partLimit)) bytes, the most one part may hold (SpreadsheetLimits.partBytes)")
        guard entry.declaredSize <= UInt64(room) else { throw tooLarge }
        let data: Data
        switch entry.method {
        case 0:
            guard entry.compressedSize <= room else { throw tooLarge }
            data = Data(bytes[start..<(start + entry.compressedSize)])
        case 8:
            data = try inflate(start: start, count: entry.compressedSize, limit: room, part: part, tooLarge: tooLarge)
        default:
            throw SpreadsheetReadError("\(file): the part \(part) is compressed with method \(entry.method): expected deflate or none, as Excel and LibreOffice write")
        }
        let crc = data.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count))) }
        guard crc == entry.crc else {
            throw SpreadsheetReadError("\(file): the part \(part) is damaged (its CRC-32 does not match): expected an intact .xlsx or .ods file")
        }
        inflated += data.count
        return data
    }

    /// Inflates the raw deflate stream in bytes[start..<start+count], which must end within them,
    /// into at most `limit` bytes.
    private func inflate(start: Int, count: Int, limit: Int, part: String, tooLarge: SpreadsheetReadError) throws -> Data {
        let corrupt = { (why: String) in
            SpreadsheetReadError("\(self.file): the part \(part) is corrupt (\(why)): expected an intact .xlsx or .ods file")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + start)
            stream.avail_in = uInt(count)
            while true {
                let before = stream.avail_in
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    return SystemZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard produced <= limit - output.count else { throw tooLarge }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END: return
                case Z_OK, Z_BUF_ERROR:
                    if stream.avail_in == 0 && produced < chunk.count { throw corrupt("the compressed data ends too early") }
                    if produced == 0 && stream.avail_in == before { throw corrupt("no progress") }
                default:
                    throw corrupt(stream.msg.map { oneLine(String(cString: $0)) } ?? "zlib error \(status)")
                }
            }
        }
        return output
    }
}

// MARK: - XML parts

/// The SAX events of one XML part, with the nesting limit and the first error kept: each kind of
/// part (workbook, worksheet, shared strings, content.xml) subclasses it and overrides `start`,
/// `end` and `characters`. Element and attribute names arrive as written, with their prefixes.
class XMLPartReader: NSObject, XMLParserDelegate {
    let file: String
    let part: String
    /// Nesting of the current element: 1 inside the root, while `start` and `end` run too.
    private(set) var depth = 0
    private var sawRoot = false
    private var failure: Error?

    init(file: String, part: String) {
        self.file = file
        self.part = oneLine(part)
    }

    func start(_ name: String, _ attributes: [String: String]) throws {}
    func end(_ name: String) throws {}
    func characters(_ text: String) {}

    /// Parses a whole part, throwing the first error `start` or `end` threw, or one naming the
    /// part when it is not well-formed XML.
    ///
    /// XMLParser's own verdict is not used. On Linux it parses in libxml2's recovery mode and
    /// never tells libxml2 that the input is complete: it returns true after some errors and for
    /// a document cut short, and false for every document over 10 MB (libxml2's "huge input"
    /// complaint, once the root element has closed). So the first error reported while the root
    /// element is open stops the parse, and the root element must have closed.
    func parse(_ data: Data) throws {
        try checkProlog(data)
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = self
        _ = parser.parse()
        if let failure { throw failure }
        guard sawRoot, depth == 0 else { throw notWellFormed("it ends before its elements close", line: parser.lineNumber) }
    }

    private func notWellFormed(_ why: String, line: Int) -> SpreadsheetReadError {
        SpreadsheetReadError("\(file): \(part) is not well-formed XML (\(why), line \(line)): expected an intact .xlsx or .ods file")
    }

    /// Refuses a document type declaration before the root element (XMLParser would expand the
    /// entities it declares without bound; workbooks never have one), and XML that is not UTF-8
    /// (or ASCII-compatible), whose declaration this scan could not see.
    private func checkProlog(_ data: Data) throws {
        let notUTF8 = SpreadsheetReadError("\(file): \(part) is not UTF-8 XML: expected the XML that Excel and LibreOffice write")
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            func skip(past end: [UInt8], from start: Int) -> Int {
                var index = start
                while index + end.count <= bytes.count {
                    if end.indices.allSatisfy({ bytes[index + $0] == end[$0] }) { return index + end.count }
                    index += 1
                }
                return bytes.count
            }
            func startsWith(_ prefix: String, at index: Int) -> Bool {
                let prefix = Array(prefix.utf8)
                return index + prefix.count <= bytes.count && prefix.indices.allSatisfy { bytes[index + $0] == prefix[$0] }
            }
            var index = startsWith("\u{FEFF}", at: 0) ? 3 : 0
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                case UInt8(ascii: "<"):
                    if startsWith("<?", at: index) { index = skip(past: Array("?>".utf8), from: index + 2) }
                    else if startsWith("<!--", at: index) { index = skip(past: Array("-->".utf8), from: index + 4) }
                    else if startsWith("<!", at: index) {
                        throw SpreadsheetReadError("\(file): \(part) declares a document type (<!DOCTYPE>), which workbooks never have: expected the XML that Excel and LibreOffice write")
                    } else if index + 1 < bytes.count, bytes[index + 1] == 0 { throw notUTF8 }
                    else { return }
                default: throw notUTF8
                }
            }
        }
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        guard failure == nil else { return }
        depth += 1
        sawRoot = true
        do {
            guard depth <= SpreadsheetLimits.xmlDepth else {
                throw SpreadsheetReadError("\(file): \(part) nests XML elements more than \(SpreadsheetLimits.xmlDepth) deep, the most a workbook may (SpreadsheetLimits.xmlDepth)")
            }
            try start(elementName, attributeDict)
        } catch {
            failure = error
            parser.abortParsing()
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard failure == nil else { return }
        do { try end(elementName) } catch {
            failure = error
            parser.abortParsing()
        }
        depth -= 1
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        guard failure == nil, !sawRoot || depth > 0 else { return }
        let code = (parseError as NSError).code
        failure = notWellFormed(XMLParser.ErrorCode(rawValue: code).map { "\($0)" } ?? "libxml2 error \(code)", line: parser.lineNumber)
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if failure == nil { characters(string) }
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        if failure == nil { characters(String(decoding: CDATABlock, as: UTF8.self)) }
    }
}

/// The local part of an XML name: "table" for "x:table" and for "table".
func localName(_ name: String) -> Substring {
    name.utf8.lastIndex(of: UInt8(ascii: ":")).map { name[name.utf8.index(after: $0)...] } ?? name[...]
}

/// `text` without the spaces, tabs and line breaks around it. (Foundation's trimming, called for
/// every cell, took a fifth of the time of reading a sheet.)
func trimmed(_ text: String) -> String {
    let bytes = text.utf8
    let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
    guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
    if first == bytes.startIndex && bytes.index(after: last) == bytes.endIndex { return text }
    return String(decoding: bytes[first...last], as: UTF8.self)
}

/// A cell's text or formula as it arrives in pieces, kept to `SpreadsheetLimits.cellCharacters`.
struct CellText {
    private(set) var text = ""
    private var characters = 0

    var isEmpty: Bool { text.isEmpty }

    mutating func append(_ piece: String) {
        let room = SpreadsheetLimits.cellCharacters - characters
        guard room > 0 else { return }
        let count = piece.count
        if count <= room {
            text += piece
            characters += count
        } else {
            text += piece.prefix(room)
            characters += room
        }
    }

    static func cut(_ text: String) -> String {
        var cell = CellText()
        cell.append(text)
        return cell.text
    }
}

/// The cells and formula text read so far over all sheets, each checked against its limit as it grows.
struct ReadBudget {
    let file: String
    private var cells = 0
    private var formulaBytes = 0

    init(file: String) { self.file = file }

    mutating func addCells(_ count: Int) throws {
        cells += count
        guard cells <= SpreadsheetLimits.cells else {
            throw SpreadsheetReadError("\(file) has more than \(grouped(SpreadsheetLimits.cells)) cells holding something, the most a workbook may have (SpreadsheetLimits.cells)")
        }
    }

    mutating func addFormula(bytes: Int) throws {
        formulaBytes += bytes
        guard formulaBytes <= SpreadsheetLimits.formulaBytes else {
            throw SpreadsheetReadError("\(file) has more than \(grouped(SpreadsheetLimits.formulaBytes)) bytes of formula text, the most a workbook may have (SpreadsheetLimits.formulaBytes)")
        }
    }

    static func checkSheets(_ count: Int, file: String) throws {
        guard count <= SpreadsheetLimits.sheets else {
            throw SpreadsheetReadError("\(file) has more than \(SpreadsheetLimits.sheets) sheets, the most a workbook may have (SpreadsheetLimits.sheets)")
        }
    }
}
