import Foundation
import Formats
import Pictures
import Testing

func failure(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

@Suite("PNG and PGM")
struct ImageTests {
    @Test func pngRoundTripGrayAndRGB() throws {
        let gray: [UInt8] = (0..<(7 * 5)).map { UInt8($0 * 7) }
        let decoded = try ImageReader.decodePNG(PNGEncoder.encode(width: 7, height: 5, colorType: .gray, pixels: gray), source: "g.png")
        #expect(decoded.width == 7 && decoded.height == 5)
        #expect(zip(decoded.pixels, gray).allSatisfy { abs($0 - Float($1) / 255) < 1e-6 })
        let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
        let colour = try ImageReader.decodePNG(PNGEncoder.encode(width: 2, height: 2, colorType: .rgb, pixels: rgb), source: "c.png")
        #expect(abs(colour.pixels[0] - 0.299) < 1e-3 && abs(colour.pixels[1] - 0.587) < 1e-3 && abs(colour.pixels[3] - 1) < 1e-6)
    }

    @Test func pgmBinaryAndText() throws {
        let binary = Array("P5\n# a comment\n3 2\n255\n".utf8) + [0, 128, 255, 10, 20, 30]
        let image = try ImageReader.decodePGM(binary, source: "a.pgm")
        #expect(image.width == 3 && image.height == 2 && image.pixels[2] == 1)
        let text = try ImageReader.decodePGM(Array("P2 2 1 15\n0 15\n".utf8), source: "b.pgm")
        #expect(text.pixels == [0, 1])
    }

    @Test func hostileImagesAreRefusedInOneLine() {
        var png = PNGEncoder.encode(width: 4, height: 4, colorType: .gray, pixels: Array(repeating: 9, count: 16))
        var badCRC = png; badCRC[30] ^= 0xff
        // IHDR claiming 100000 × 100000 pixels, with a correct CRC.
        var huge = png
        huge.replaceSubrange(16..<24, with: [0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0])
        let crc = Zlib.crc32(Array(huge[12..<29]))
        huge.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)])
        png.removeLast(20)
        let cases: [([UInt8], String)] = [
            (badCRC, "bad CRC"), (huge, "100000×100000"), (png, "corrupt PNG"),
            (Array("P5\n3 2\n255\n".utf8) + [1, 2], "truncated"), (Array("P5\n99999 99999\n255\n".utf8), "outside what we read"),
            (Array("P2 2 2 70000\n".utf8), "maxval"),
        ]
        for (bytes, expected) in cases {
            let message = failure {
                _ = bytes.starts(with: [0x89]) ? try ImageReader.decodePNG(bytes, source: "x") : try ImageReader.decodePGM(bytes, source: "x")
            }
            #expect(message?.contains(expected) == true && message?.contains("\n") == false, "\(expected): \(message ?? "no error")")
        }
    }
}

@Suite("safetensors")
struct SafetensorsTests {
    @Test func roundTrip() throws {
        let file = SafetensorsFile(tensors: [
            .init(name: "conv.weight", shape: [2, 1, 1, 2], floats: [1, -2, 3.5, 0]),
            .init(name: "bn.num_batches_tracked", shape: [], integers: [7]),
        ], metadata: ["model": "s6"])
        let bytes = file.serialized()
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(header % 8 == 0)
        let read = try SafetensorsFile.parse(bytes, source: "t")
        #expect(read.metadata["model"] == "s6")
        #expect(read["conv.weight"]?.floats() == [1, -2, 3.5, 0])
        #expect(read["bn.num_batches_tracked"]?.dtype == .I64 && read["bn.num_batches_tracked"]?.floats() == [7])
    }

    func file(header: String, data: [UInt8]) -> [UInt8] {
        var length = UInt64(header.utf8.count).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + Array(header.utf8) + data
    }

    @Test func hostileFilesAreRefusedInOneLine() {
        let eight = [UInt8](repeating: 0, count: 8)
        let cases: [([UInt8], String)] = [
            ([1, 2, 3], "too short"),
            ([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0] + eight, "exceeds the file"),
            (file(header: "{not json", data: []), "not JSON"),
            (file(header: "[1, 2]", data: []), "not a JSON object"),
            (file(header: #"{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#, data: eight), "dtype"),
            (file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight), "needs 12 bytes"),
            (file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: eight), "outside"),
            (file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight), "overlaps"),
            (file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: eight), "belong to no tensor"),
            (file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: eight), "negative"),
            (file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: eight), "large"),
        ]
        for (bytes, expected) in cases {
            let message = failure { _ = try SafetensorsFile.parse(bytes, source: "bad.safetensors") }
            #expect(message?.contains(expected) == true && message?.contains("\n") == false, "\(expected): \(message ?? "no error")")
        }
    }
}

@Suite("Charts and workbooks")
struct ChartTests {
    @Test func svgAndPngOfAFigure() throws {
        let chart = LineChart(title: "Loss", xLabel: "epoch", yLabel: "loss",
                              series: [.init(name: "train", points: [.init(1, 0.5), .init(2, 0.2), .init(3, 0.1)])],
                              referenceLines: [.init(y: 0.3, label: "target")], integerX: true)
        let figure = Figure([chart, chart])
        let svg = figure.svg()
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains(">train<") && svg.contains(">target<"))
        let png = figure.png()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let image = try ImageReader.decodePNG(png, source: "figure.png")
        #expect(image.width == Int(figure.width) && image.height == Int(figure.height))
        #expect(image.pixels.contains { $0 < 0.2 })          // ink: axes, text, lines
    }

    /// A chart described in JSON (`backprop chart`) is drawn as described; anything malformed is
    /// one line naming the field.
    @Test func chartFromJSON() throws {
        let text = #"""
            {"title": "s6", "x_label": "seconds", "y_label": "accuracy", "y_range": [98, 100],
             "reference_lines": [{"y": 99.4, "label": "99.4%"}],
             "series": [{"name": "backprop", "points": [[8, 99.0], [16, 99.45]]},
                        {"name": "pytorch", "points": [[25, 98.9]], "color": 3, "dashed": true}]}
            """#
        let chart = try ChartFile.parse(Array(text.utf8), source: "c.json")
        #expect(chart.series.map(\.name) == ["backprop", "pytorch"] && chart.series[1].dashed && !chart.series[0].dashed)
        #expect(chart.series[0].points.map(\.y) == [99.0, 99.45] && chart.series[1].color == Color.palette[3])
        #expect(chart.yRange == 98...100 && chart.referenceLines.map(\.y) == [99.4])
        #expect(Figure([chart]).svg().contains(">pytorch<"))
        let bad: [(String, String)] = [
            ("[1, 2]", "not a chart description"),
            (#"{"title": "t", "x_label": "x", "y_label": "y"}"#, "no series"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "series": []}"#, "expected 1 to 100"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "series": [{"name": "a", "points": [[1, 2, 3]]}]}"#, "point 1 has 3 numbers"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "series": [{"name": "a", "points": [[1, 1e300]]}]}"#, "finite number"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "series": [{"name": "a", "points": [], "color": 10}]}"#, "palette index"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "y_range": [2, 1], "series": [{"name": "a", "points": []}]}"#, "low < high"),
            (#"{"title": "t", "x_label": "x", "y_label": "y", "series": [{"name": 5, "points": []}]}"#, "series[0].name"),
        ]
        for (json, words) in bad {
            let error = #expect(throws: ChartFileError.self) { try ChartFile.parse(Array(json.utf8), source: "c.json") }
            #expect(error?.description.contains(words) == true && error?.description.contains("\n") == false,
                    "\(json): \(error?.description ?? "no error")")
        }
    }

    @Test func niceTicksAreRound() {
        let ticks = niceTicks(0, 1, count: 6)
        #expect(ticks.count == 6 && ticks.enumerated().allSatisfy { abs($0.element - 0.2 * Double($0.offset)) < 1e-12 })
        #expect(niceTicks(98.3, 99.6, count: 6).allSatisfy { ($0 * 10).rounded() == $0 * 10 })
    }

    @Test func workbookHasItsParts() throws {
        let book = XLSXWorkbook(sheets: [.init(name: "a", cells: [[.text("x"), .number(1.5), .formula("B1*2", cached: 3)]])])
        let path = NSTemporaryDirectory() + "book-\(UUID().uuidString).xlsx"
        try book.write(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.starts(with: [0x50, 0x4B]))            // a zip
        #expect(XLSXWorkbook.columnName(0) == "A" && XLSXWorkbook.columnName(25) == "Z" && XLSXWorkbook.columnName(31) == "AF")
    }
}

@Suite("Atomic files")
struct AtomicFileTests {
    /// Files written together (a chart's SVG and PNG) appear all or not at all, and no temporary
    /// file stays behind.
    @Test func filesWrittenTogetherAppearAllOrNone() throws {
        let folder = NSTemporaryDirectory() + "backprop-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try AtomicFile.write([(folder + "/a.svg", Array("old".utf8))])
        // The second file's folder does not exist: neither file is written, a.svg keeps its old bytes.
        let error = #expect(throws: FileWriteError.self) {
            try AtomicFile.write([(folder + "/a.svg", Array("new".utf8)), (folder + "/missing/a.png", [1, 2, 3])])
        }
        #expect(error?.path == folder + "/missing/a.png")
        #expect(try String(contentsOfFile: folder + "/a.svg", encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["a.svg"])
        try AtomicFile.write([(folder + "/a.svg", Array("new".utf8)), (folder + "/a.png", [1, 2, 3])])
        #expect(try String(contentsOfFile: folder + "/a.svg", encoding: .utf8) == "new")
        #expect(FileManager.default.contents(atPath: folder + "/a.png") == Data([1, 2, 3]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["a.png", "a.svg"])
    }
}
