import Foundation
import Testing
import ZIPFoundation

/// `backprop check` as a learner and a teacher run it: the workbook `backprop sheet` writes is
/// correct; one formula changed in LibreOffice is named by its cell; a folder of submissions gives
/// one line each and a summary; files that are no workbook give one line and exit status 2.
@Suite("backprop check from the command line", .serialized)
struct CheckCommandTests {
    static let office = ["/usr/bin/soffice", "/usr/local/bin/soffice"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// The path of Tests/Fixtures/set_formula.py (changes a formula with LibreOffice over UNO).
    static var setFormula: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/set_formula.py").path
    }

    static func sheetFolder() throws -> String {
        let folder = Backprop.temporaryFolder()
        let result = try Backprop.run(["sheet", "--out", folder, "--iterations", "30"])
        #expect(result.status == 0, "\(result.errors)")
        return folder
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func theSheetsOwnWorkbookAndCSVsAreCorrect() throws {
        let folder = try Self.sheetFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["check", folder + "/backprop.xlsx"])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
        #expect(result.output.contains("sheet \"η = 0.1\": 30 iterations under the header in row 3; η = 0.1 from B1"))
        #expect(result.output.components(separatedBy: "✓ all 930 cells agree").count == 7, "\(result.output)")
        let json = try Self.json(Backprop.run(["check", folder + "/backprop.xlsx", "--format", "json"]).output)
        #expect(json["verdict"] as? String == "correct" && json["learning_rate"] as? Double == 0.1 && json["rows"] as? Int == 30)
        #expect((json["tables"] as? [Any])?.count == 6 && (json["findings"] as? [Any])?.isEmpty == true)
        // The CSVs have no η cell: it is inferred from the updates, and said so.
        let csv = try Backprop.run(["check", folder + "/backprop-lr-2.csv"])
        #expect(csv.status == 0, "\(csv.output)\(csv.errors)")
        #expect(csv.output.contains("η = 2 (inferred from the first update"))
    }

    @Test func aFormulaChangedInLibreOfficeIsNamedByItsCell() throws {
        guard Self.office != nil else {
            if Self.inCI { Issue.record("LibreOffice is not installed") }
            return
        }
        let folder = try Self.sheetFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Sheet 5 is η = 1; Z is ∂E/∂w3. Row 10 gets a_h1's slope where a_h2's belongs.
        let edit = Process()
        edit.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        edit.arguments = [Self.setFormula, folder + "/backprop.xlsx", "4", "Z10",
                          "=((R10-A10)*R10*(1-R10)*N10+(T10-B10)*T10*(1-T10)*P10)*J10*(1-J10)*C10", folder + "/edited.xlsx"]
        try edit.run()
        edit.waitUntilExit()
        try #require(edit.terminationStatus == 0)

        let result = try Backprop.run(["check", folder + "/edited.xlsx", "--format", "json"])
        #expect(result.status == 1, "\(result.errors)")
        let json = try Self.json(result.output)
        #expect(json["verdict"] as? String == "wrong")
        let findings = try #require(json["findings"] as? [[String: Any]])
        #expect(findings.count == 1, "\(findings)")
        #expect(findings.first?["slip"] as? String == "hidden-slope")
        #expect(findings.first?["cells"] as? [String] == ["Z10"])
        #expect(findings.first?["sheet"] as? String == "η = 1")
        #expect(findings.first?["formula"] as? String == "=((R10-A10)*R10*(1-R10)*N10+(T10-B10)*T10*(1-T10)*P10)*J10*(1-J10)*C10")

        let text = try Backprop.run(["check", folder + "/edited.xlsx", "--annotate", folder + "/marked.xlsx"])
        #expect(text.status == 1)
        #expect(text.output.contains("✗ hidden-slope  Z10 ∂E/∂w3: multiplies by J10·(1−J10) (a_h1) where L10·(1−L10) (a_h2) belongs"), "\(text.output)")
        #expect(FileManager.default.fileExists(atPath: folder + "/marked.xlsx"))
    }

    /// The README's report is what the checker prints for docs/examples/my-sheet.xlsx, line for line.
    @Test func theReadmeShowsARealReport() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let command = "$ cd docs/examples && backprop check my-sheet.xlsx --annotate my-sheet-marked.xlsx --picture map.png\n"
        let start = try #require(readme.range(of: command))
        let shown = String(readme[start.upperBound...].prefix { $0 != "`" })
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("docs/examples/my-sheet.xlsx").path, toPath: folder + "/my-sheet.xlsx")
        let result = try Backprop.run(["check", "my-sheet.xlsx", "--annotate", "my-sheet-marked.xlsx", "--picture", "map.png"], in: folder)
        #expect(result.status == 1)
        #expect(result.output == shown, "README:\n\(shown)\nprinted:\n\(result.output)")
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/map.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    @Test func aFolderOfSubmissions() throws {
        let folder = try Self.sheetFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let submissions = folder + "/submissions"
        try FileManager.default.createDirectory(atPath: submissions, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: folder + "/backprop.xlsx", toPath: submissions + "/ada.xlsx")
        // A CSV whose ∂E/∂w5 has the wrong sign in every row.
        let csv = try String(contentsOfFile: folder + "/backprop-lr-1.csv", encoding: .utf8)
        let flipped = csv.split(separator: "\n").enumerated().map { index, line -> String in
            guard index > 0 else { return String(line) }
            var fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[28] = "\(-Double(fields[28])!)"      // column 28: ∂E/∂w5 (after "iteration")
            return fields.joined(separator: ",")
        }.joined(separator: "\n")
        try flipped.write(toFile: submissions + "/bob.csv", atomically: true, encoding: .utf8)
        try "not a workbook".write(toFile: submissions + "/carol.xlsx", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: submissions + "/readme.txt", atomically: true, encoding: .utf8)

        let result = try Backprop.run(["check", submissions, "--summary", folder + "/summary.csv"])
        #expect(result.status == 1, "\(result.errors)")
        #expect(result.output.contains("ada.xlsx: correct"))
        #expect(result.output.contains("bob.csv: wrong — sign at AC2"), "\(result.output)")
        #expect(result.output.contains("carol.xlsx: unreadable — "), "\(result.output)")
        #expect(result.output.contains("3 files: 1 correct, 1 wrong, 1 unreadable"))
        let summary = try String(contentsOfFile: folder + "/summary.csv", encoding: .utf8)
        #expect(summary.hasPrefix("file,verdict,first slip,first cell,cells wrong\nada.xlsx,correct,,,0\nbob.csv,wrong,sign,AC2,"), "\(summary)")
        #expect(summary.contains("carol.xlsx,unreadable"))
    }

    @Test func filesThatAreNoCourseTableGiveOneLineAndStatus2() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = folder + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let zipWithoutWorkbook = try Archive(accessMode: .create)
        try zipWithoutWorkbook.addEntry(with: "hello.txt", type: .file, uncompressedSize: Int64(5)) { _, _ in Data("hello".utf8) }
        let cases: [(path: String, words: [String])] = [
            (try write("text.xlsx", Array("just text".utf8)), ["text.xlsx", "not a workbook"]),
            (try write("old.xls", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + [UInt8](repeating: 0, count: 512)), [".xlsx or .ods"]),
            (try write("empty.zip.xlsx", [UInt8](zipWithoutWorkbook.data!)), ["empty.zip.xlsx"]),
            (try write("table.csv", Array("a,b,c\n1,2,3\n".utf8)), ["no course table"]),
            (try write("half.csv", Array("t1,t2,i1,i2,w1,w2,w3,w4,h1,a_h1,h2,a_h2,w5,w6,w7,w8,o1,a_o1\n".utf8)), ["missing", "E_tot", "∂E/∂w8"]),
            (folder + "/missing.xlsx", ["missing.xlsx", "no such file"]),
        ]
        for (path, words) in cases {
            let result = try Backprop.run(["check", path])
            #expect(result.status == 2, "\(path): \(result.status) \(result.errors)")
            #expect(result.errors.split(separator: "\n").count == 1, "\(result.errors)")
            for word in words { #expect(result.errors.contains(word), "\(path): \(result.errors)") }
            #expect(result.output.isEmpty)
        }
        let badOption = try Backprop.run(["check", folder + "/text.xlsx", "--annotate", folder + "/out.txt"])
        #expect(badOption.status != 0 && badOption.errors.contains("--annotate"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.txt"))
    }
}
