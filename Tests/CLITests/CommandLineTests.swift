import Foundation
import Testing

/// Runs the built `backprop` executable (it sits beside the test bundle in .build/<configuration>/).
enum Backprop {
    static var executable: String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return here.appendingPathComponent("backprop").path
    }

    struct Result {
        let status: Int32
        let output: String
        let errors: String
        /// True when the process ran past its time limit and was killed.
        var hung = false
    }

    /// Runs the executable with `arguments`; kills it after `timeout` seconds (then `hung`).
    static func run(_ arguments: [String], in directory: String? = nil, environment extra: [String: String] = [:],
                    timeout: Double = 600) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        process.environment = environment.merging(extra) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        // Both pipes are drained at once, so a chatty process cannot block on a full one.
        final class Collected: @unchecked Sendable { var data = Data() }   // written before `drained` is signalled
        let errData = Collected()
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { errData.data = errors.fileHandleForReading.readDataToEndOfFile(); drained.signal() }
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        watchdog.cancel()
        let hung = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        return Result(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                      errors: String(decoding: errData.data, as: UTF8.self), hung: hung)
    }

    static func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "backprop-cli-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

@Suite("backprop sheet from the command line")
struct SheetCommandTests {
    @Test func writesEveryFileAndPrintsTheExplanation() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["sheet", "--out", folder + "/out"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("∂E/∂w1 = [(a_o1 − t1)·a_o1·(1 − a_o1)·w5 + (a_o2 − t2)·a_o2·(1 − a_o2)·w7]·a_h1·(1 − a_h1)·i1"))
        #expect(result.output.contains("0.00957214"))          // η = 0.1 at iteration 67
        #expect(!result.output.contains("\u{1B}["))              // no colour when not a terminal
        let files = try FileManager.default.contentsOfDirectory(atPath: folder + "/out").sorted()
        #expect(files == ["backprop-lr-0.1.csv", "backprop-lr-0.2.csv", "backprop-lr-0.5.csv", "backprop-lr-0.8.csv",
                          "backprop-lr-1.csv", "backprop-lr-2.csv", "backprop.xlsx", "loss.png", "loss.svg"])
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/out/loss.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let svg = try String(contentsOfFile: folder + "/out/loss.svg", encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("η = 0.5") && svg.contains("iteration"))
    }

    @Test func jsonHoldsEveryRateAndRow() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["sheet", "--format", "json", "--lr", "0.5,1", "--iterations", "5", "--out", folder])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        let runs = try #require(object?["runs"] as? [[String: Any]])
        #expect(runs.count == 2 && (runs[1]["lr"] as? Double) == 1)
        let rows = try #require(runs[0]["rows"] as? [[String: Any]])
        #expect(rows.count == 5 && rows[0]["E_tot"] != nil && rows[0]["∂E/∂w8"] != nil && rows[0]["a_h2"] != nil)
    }

    @Test(arguments: [
        (["--weights", "0.1,0.2,0.3,0.4,0.5,0.6,0.7"], "--weights"),
        (["--inputs", "0.05,abc"], "--inputs"),
        (["--targets", "nan,0.5"], "--targets"),
        (["--lr", "0.1,inf"], "--lr"),
        (["--iterations", "0"], "--iterations"),
        (["--iterations=-5"], "--iterations"),
        (["--lr", ""], "--lr"),
        (["--lr", "-0.5"], "--lr"),
        (["--biases", "1"], "--biases"),
        (["--format", "xml"], "--format"),
    ])
    func badInputIsOneLineAndWritesNothing(arguments: [String], option: String) throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["sheet"] + arguments + ["--out", folder + "/out"])
        #expect(result.status != 0)
        let lines = result.errors.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.errors)")
        #expect(result.errors.contains(option), "stderr: \(result.errors)")
        #expect(!result.errors.contains("Fatal") && !result.errors.contains("Stack"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }

    @Test func unwritableOutputFolderFailsCleanly() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        FileManager.default.createFile(atPath: folder + "/file", contents: Data())
        for out in [folder + "/file", folder + "/file/below", "/proc/backprop-cannot-write"] {
            let result = try Backprop.run(["sheet", "--out", out])
            #expect(result.status != 0)
            #expect(result.errors.split(separator: "\n").count == 1 && result.errors.contains("--out"), "\(result.errors)")
            #expect(result.output.isEmpty)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["file"])
    }
}
