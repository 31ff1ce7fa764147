import Foundation
import Testing

/// LibreOffice, headless: converts files as a learner's spreadsheet program would save them.
///
/// What LibreOffice 7.4 does on conversion (measured):
/// - It writes at most 15 significant digits of a number in every format (csv, ods, xlsx):
///   0.2984786196365502 comes out as 0.29847861963655, 1.0000000000000002 as 1.
/// - It does not recalculate an xlsx workbook's formulas, even with `fullCalcOnLoad`: the cached
///   values go through unchanged. It does recalculate .ods and .fods files on loading them.
enum Office {
    /// soffice's path, or nil when LibreOffice is not installed.
    static let path: String? = ["/usr/bin/soffice", "/usr/local/bin/soffice", "/usr/lib/libreoffice/program/soffice",
                                "/opt/homebrew/bin/soffice", "/Applications/LibreOffice.app/Contents/MacOS/soffice"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// True when env CI is set: then a missing LibreOffice fails the test instead of skipping it.
    static var required: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// Whether a test that needs LibreOffice can go on: when it is missing, prints that the test is
    /// skipped, or (when `required`) records the failure, and returns false.
    static func available() -> Bool {
        if path != nil { return true }
        if required { Issue.record("LibreOffice (soffice) is not installed; CI must install libreoffice-calc-nogui") }
        else { print("skipped: LibreOffice is not installed (apt-get install libreoffice-calc-nogui)") }
        return false
    }

    /// Seconds one conversion may take before soffice is killed.
    static let timeout = 120

    /// Why a conversion failed, in one line.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The `--convert-to` argument for each format: an explicit filter, so that the result does not
    /// depend on what LibreOffice guesses from the extension.
    static func filter(for format: String) -> String? {
        switch format {
        case "xlsx": "xlsx:Calc MS Excel 2007 XML"
        case "ods": "ods:calc8"
        case "fods": "fods:OpenDocument Spreadsheet Flat"
        // Tokens: separator ',' (44), text delimiter '"' (34), UTF-8 (76), from line 1, no column
        // formats, default language, quote only text that needs it, detect special numbers, then
        // token 9 "save cell contents as shown" false (true rounds each number to its cell's
        // format, e.g. 0.0004 for 0.000351776321981775 shown with 4 decimals) and token 10
        // "export formulas" false. Only the first sheet is written.
        case "csv": "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false"
        default: nil
        }
    }

    /// Converts `file` to `format` ("xlsx", "ods", "csv", "fods") into `folder`, returns the new
    /// file's path; throws a one-line error if soffice fails or writes nothing. Uses a private
    /// profile per call (-env:UserInstallation=file://<tmp>) so parallel or repeated calls don't
    /// clash, and a timeout (`timeout` seconds, then kill). Converting a file to its own format
    /// needs a folder other than the file's own, or soffice would overwrite its input.
    static func convert(_ file: String, to format: String, in folder: String) throws -> String {
        try convert([file], to: format, in: folder)[0]
    }

    /// Converts `files` as `convert(_:to:in:)` does, all with one start of soffice (starting takes
    /// most of the time): the new files' paths, in order. The timeout grows by 5 s a file.
    static func convert(_ files: [String], to format: String, in folder: String) throws -> [String] {
        guard let soffice = path else { throw Failure(description: "LibreOffice (soffice) is not installed") }
        guard let filter = filter(for: format) else {
            throw Failure(description: "cannot convert to \"\(format)\": expected xlsx, ods, csv or fods")
        }
        guard !files.isEmpty else { return [] }
        let manager = FileManager.default
        let outputFolder = URL(fileURLWithPath: folder).standardizedFileURL
        let inputs = files.map { URL(fileURLWithPath: $0).standardizedFileURL }
        let outputs = inputs.map { outputFolder.appendingPathComponent($0.deletingPathExtension().lastPathComponent + "." + format) }
        for (file, (input, output)) in zip(files, zip(inputs, outputs)) {
            guard manager.fileExists(atPath: input.path) else { throw Failure(description: "no file \(file) to convert") }
            guard output.path != input.path else {
                throw Failure(description: "converting \(file) to \(format) needs another folder than its own")
            }
        }
        guard Set(outputs.map(\.path)).count == outputs.count else {
            throw Failure(description: "two of the files to convert have the same name: \(files.joined(separator: ", "))")
        }
        try manager.createDirectory(at: outputFolder, withIntermediateDirectories: true)
        // A stale file of that name would pass for soffice's output.
        for output in outputs where manager.fileExists(atPath: output.path) { try manager.removeItem(at: output) }

        let scratch = manager.temporaryDirectory.appendingPathComponent("backprop-office-\(UUID().uuidString)")
        try manager.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: scratch) }
        let logPath = scratch.appendingPathComponent("soffice.log").path
        guard manager.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw Failure(description: "cannot create \(logPath)")
        }
        defer { try? log.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: soffice)
        process.arguments = ["-env:UserInstallation=\(scratch.appendingPathComponent("profile").absoluteString)",
                             "--headless", "--norestore", "--convert-to", filter, "--outdir", outputFolder.path]
            + inputs.map(\.path)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { throw Failure(description: "cannot run \(soffice): \(error)") }
        let seconds = timeout + 5 * (files.count - 1)
        if finished.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
            // On Linux, Foundation starts the child in a process group of its own, so this reaches
            // the soffice script, oosplash and soffice.bin; elsewhere, at least the child itself.
            if kill(-process.processIdentifier, SIGKILL) != 0 { kill(process.processIdentifier, SIGKILL) }
            finished.wait()
            throw Failure(description: "soffice took more than \(seconds) s to convert \(files[0]) and the rest to \(format), and was killed")
        }

        for (file, output) in zip(files, outputs) {
            let size = (try? output.resourceValues(forKeys: [.fileSizeKey]))?.fileSize ?? 0
            guard process.terminationStatus == 0, size > 0 else {
                let said = (try? String(contentsOfFile: logPath, encoding: .utf8))?
                    .split(whereSeparator: \.isNewline).last.map { ": " + $0 } ?? ""
                throw Failure(description: "soffice (exit status \(process.terminationStatus)) wrote no \(output.path) from \(file)\(said)")
            }
        }
        return outputs.map(\.path)
    }
}

/// What the filter options and LibreOffice's number output give: the facts `Office` documents.
@Suite("LibreOffice's conversions, as Office runs them")
struct OfficeTests {
    /// A flat ODS file of one row: values, one with a four-decimal number format, and a formula
    /// whose stored result (-1) is wrong.
    static let document = """
    <?xml version="1.0" encoding="UTF-8"?>
    <office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
    <office:automatic-styles><number:number-style style:name="N1"><number:number number:decimal-places="4" number:min-integer-digits="1"/></number:number-style><style:style style:name="ce1" style:family="table-cell" style:data-style-name="N1"/></office:automatic-styles>
    <office:body><office:spreadsheet><table:table table:name="S"><table:table-row>
    <table:table-cell office:value-type="float" office:value="0.000351776321981775"/>
    <table:table-cell table:style-name="ce1" office:value-type="float" office:value="0.000351776321981775"/>
    <table:table-cell office:value-type="float" office:value="0.2984786196365502"/>
    <table:table-cell table:formula="of:=[.A1]*2" office:value-type="float" office:value="-1"/>
    </table:table-row></table:table></office:spreadsheet></office:body></office:document>
    """

    @Test func csvHasFifteenSignificantDigitsNotTheCellFormat() throws {
        guard Office.available() else { return }
        let folder = NSTemporaryDirectory() + "backprop-office-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.document.write(toFile: folder + "/numbers.fods", atomically: true, encoding: .utf8)
        let csv = try String(contentsOfFile: Office.convert(folder + "/numbers.fods", to: "csv", in: folder + "/out"), encoding: .utf8)
        // Every digit of a 15-digit value, whatever the cell's format; a 17-digit one cut to 15;
        // the formula recomputed on loading the .fods (0.000703552643963550 without its last 0).
        #expect(csv.trimmingCharacters(in: .whitespacesAndNewlines)
                == "0.000351776321981775,0.000351776321981775,0.29847861963655,0.00070355264396355")
        #expect(throws: Office.Failure.self) { try Office.convert(folder + "/numbers.fods", to: "fods", in: folder) }
    }
}
