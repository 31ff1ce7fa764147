import Foundation
import Formats
import Sheet
import Testing
import Check

/// The corpus as real spreadsheet programs save it: every sheet of `SlipCorpusTests` written as
/// .xlsx by the project, then saved by LibreOffice as .xlsx, .ods and .csv (values only, 15
/// significant digits), and each diagnosed as the original.
@Suite("backprop check reads what LibreOffice writes", .serialized)
struct ConvertedSheetTests {
    /// The corpus written once, converted once per format (LibreOffice converts a batch per start).
    static let converted: Result<(folder: String, names: [String]), Error> = Result {
        let folder = NSTemporaryDirectory() + "backprop-corpus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/project", withIntermediateDirectories: true)
        var names: [String] = []
        for (index, item) in SlipCorpusTests.cases.enumerated() {
            names.append("slip\(index)")
            try item.sheet.write(to: folder + "/project/slip\(index).xlsx")
        }
        for (index, item) in SlipCorpusTests.correctSheets.enumerated() {
            names.append("right\(index)")
            try item.sheet.write(to: folder + "/project/right\(index).xlsx")
        }
        let files = names.map { folder + "/project/\($0).xlsx" }
        for format in ["xlsx", "ods", "csv"] {
            for file in files { _ = try Office.convert(file, to: format, in: folder + "/" + format) }
        }
        return (folder, names)
    }

    static func expected(_ name: String, format: String) -> [String] {
        if name.hasPrefix("slip"), let index = Int(name.dropFirst(4)) {
            let item = SlipCorpusTests.cases[index]
            return (format == "csv" ? item.fromValues ?? item.expected : item.expected).map { "\($0.slip.rawValue) \($0.firstCell)" }
        }
        return []
    }

    @Test(arguments: ["project", "xlsx", "ods", "csv"])
    func everySheetIsDiagnosedAsWritten(_ format: String) throws {
        guard Office.available() else { return }
        let (folder, names) = try Self.converted.get()
        for name in names {
            let path = "\(folder)/\(format)/\(name).\(format == "project" ? "xlsx" : format)"
            let report = try Checker.check(path: path)
            #expect(SlipCorpusTests.diagnosis(report) == Self.expected(name, format: format), "\(format) \(name):\n\(report.text())")
            #expect((report.verdict == .correct) == name.hasPrefix("right"), "\(format) \(name):\n\(report.text())")
        }
    }

    /// The annotated copy of a sheet with a slip, saved again by LibreOffice as .ods: every wrong
    /// cell keeps its highlight and its comment.
    @Test func annotatedCopySurvivesLibreOffice() throws {
        guard Office.available() else { return }
        let (folder, _) = try Self.converted.get()
        let file = try SpreadsheetReader.read(path: folder + "/project/slip0.xlsx")
        let report = try Checker.check(file, name: "slip0.xlsx")
        try Annotation.workbook(for: report, file: file).write(to: folder + "/marked.xlsx")
        let ods = try Office.convert(folder + "/marked.xlsx", to: "ods", in: folder + "/marked")
        let content = try #require(OpenXMLPackage.unzip(Data(contentsOf: URL(fileURLWithPath: ods)))["content.xml"].flatMap(XMLTree.parse))
        let marks = AnnotatedWorkbookTests.odsMarks(content)
        let wrong = Set(report.tables[0].wrongCells)
        #expect(wrong.count > 100)
        #expect(marks.cells(filled: XLSXWorkbook.highlightColor)["mine"] == wrong)
        let comments = try #require(marks.comments["mine"])
        #expect(Set(comments.keys) == wrong)
        let first = comments[CellAddress("AA33")!] ?? "no comment on AA33"
        #expect(first.hasPrefix("hidden-slope: AA33 ∂E/∂w3: multiplies by K33·(1−K33) (a_h1) where M33·(1−M33) (a_h2) belongs"), "\(first)")
        #expect(first.contains("should be: =((S33-B33)*S33*(1-S33)*O33+(U33-C33)*U33*(1-U33)*Q33)*M33*(1-M33)*D33"), "\(first)")
        #expect(comments[CellAddress("H34")!]?.contains("follows from AA33 (hidden-slope)") == true)
        // And the copy still computes: its formulas are the learner's.
        let again = try Checker.check(path: folder + "/marked.xlsx")
        #expect(SlipCorpusTests.diagnosis(again) == SlipCorpusTests.diagnosis(report))
    }
}
