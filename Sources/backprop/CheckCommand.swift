import ArgumentParser
import Check
import Foundation
import Formats

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Part 1: checks a learner's own backprop spreadsheet cell by cell and names each slip.",
        discussion: """
        Reads .xlsx, .ods or .csv; finds the course's table by its header row (t1, t2, i1, i2, w1…w8, h1, a_h1, …, \
        E_tot, ∂E/∂w1…∂E/∂w8) in any sheet; reads the learner's own starting values, η and biases; evaluates every \
        formula; compares every cell with the exact gradient descent from that start (1e-9 relative). \
        Exit status: 0 every checked cell is right, 1 something is wrong, 2 the file cannot be read or holds no table. \
        Given a folder, checks every .xlsx/.ods/.csv in it: one line each and a summary.
        Limits: files up to \(SpreadsheetLimits.fileBytes >> 20) MiB; zip parts up to \(SpreadsheetLimits.partBytes >> 20) MiB \
        and \(SpreadsheetLimits.totalBytes >> 20) MiB in all, uncompressed; \(grouped(SpreadsheetLimits.cells)) cells; \
        \(SpreadsheetLimits.sheets) sheets; XML nested \(SpreadsheetLimits.xmlDepth) deep; formulas of 8,192 characters.
        """)

    @Argument(help: "A spreadsheet (.xlsx, .ods, .csv) or a folder of them.") var path: String
    @Option(help: "text (the report) or json.") var format: OutputFormat = .text
    @Option(help: "Write a copy of the workbook with every wrong cell highlighted and commented (.xlsx; one file only).")
    var annotate: String?
    @Option(help: "Draw the table's cells as a map — right, where a slip is, wrong because of one — as .svg or .png (one file only; the first wrong table, else the first).")
    var picture: String?
    @Option(help: "For a folder: also write the summary table as CSV (file, verdict, first slip, first cell, cells wrong).")
    var summary: String?

    func validate() throws {
        if let picture, !["svg", "png"].contains((picture as NSString).pathExtension.lowercased()) {
            throw ValidationError("--picture: \"\(picture)\" does not end in .svg or .png")
        }
        if let annotate, !annotate.lowercased().hasSuffix(".xlsx") {
            throw ValidationError("--annotate: \"\(annotate)\" does not end in .xlsx; the annotated copy is an .xlsx workbook")
        }
    }

    func run() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            fail("\(path): no such file or folder")
        }
        if isFolder.boolValue {
            guard annotate == nil else { throw ValidationError("--annotate: takes one file; \(path) is a folder") }
            guard picture == nil else { throw ValidationError("--picture: takes one file; \(path) is a folder") }
            try checkFolder()
        } else {
            try checkFile()
        }
    }

    /// Prints one line on standard error and exits with status 2 (unreadable, no table).
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data(("backprop: " + message + "\n").utf8))
        Foundation.exit(2)
    }

    func checkFile() throws {
        let name = (path as NSString).lastPathComponent
        let file: SpreadsheetFile, report: CheckReport
        do {
            file = try SpreadsheetReader.read(path: path)
            report = try Checker.check(file, name: name)
        } catch {
            fail("\(name): \(error)")
        }
        if format == .json {
            print(report.json(), terminator: "")
        } else {
            let color = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            print(report.text(color: color), terminator: "")
        }
        if let annotate {
            try Annotation.workbook(for: report, file: file).write(to: annotate)
            if format == .text { print("Wrote \(annotate): \(grouped(report.wrongCellCount)) wrong cells highlighted and commented") }
        }
        if let picture, let table = report.tables.first(where: { !$0.isCorrect }) ?? report.tables.first {
            let map = table.cellMap(file: name)
            if picture.lowercased().hasSuffix(".svg") { try AtomicFile.write(map.svg(), to: picture) }
            else { try AtomicFile.write(map.png(), to: picture) }
            if format == .text { print("Wrote \(picture)") }
        }
        if report.verdict == .wrong { throw ExitCode(1) }
    }

    func checkFolder() throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { ["xlsx", "ods", "csv"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !names.isEmpty else { fail("\(path): no .xlsx, .ods or .csv files in this folder") }
        var rows: [[String]] = [["file", "verdict", "first slip", "first cell", "cells wrong"]]
        var reports: [String] = []
        for name in names {
            do {
                let report = try Checker.check(path: path + "/" + name)
                let first = report.findings.first
                rows.append([name, report.verdict.rawValue, first?.slip.rawValue ?? "", first?.firstCell.description ?? "",
                             String(report.wrongCellCount)])
                if format == .text { print(report.line) } else { reports.append(report.json().trimmingCharacters(in: .newlines)) }
            } catch {
                rows.append([name, "unreadable", "", "", ""])
                if format == .text { print("\(name): unreadable — \(error)") }
                else { reports.append("{\"file\": \(jsonString(name)), \"verdict\": \"unreadable\", \"error\": \(jsonString("\(error)"))}") }
            }
        }
        if format == .json {
            print("[\n" + reports.joined(separator: ",\n") + "\n]")
        } else {
            print("")
            print(table(rows))
            let counts = Dictionary(grouping: rows.dropFirst(), by: { $0[1] }).mapValues(\.count)
            print("\(names.count) files: \(counts["correct"] ?? 0) correct, \(counts["wrong"] ?? 0) wrong, \(counts["unreadable"] ?? 0) unreadable")
        }
        if let summary {
            let csv = rows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
            try AtomicFile.write(csv, to: summary)
        }
        if rows.dropFirst().contains(where: { $0[1] != "correct" }) { throw ExitCode(1) }
    }

    func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        lines.insert(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "), at: 1)
        return lines.joined(separator: "\n")
    }

    func csvField(_ text: String) -> String {
        text.contains(where: { ",\"\n".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    func jsonString(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
