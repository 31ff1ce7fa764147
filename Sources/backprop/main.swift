import ArgumentParser
import Foundation
import Synchronization
import Training

/// The command line: one subcommand per file, each a thin layer over the libraries.
struct Backprop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Backpropagation you can see, check and use: from a hand calculation to a CNN that reads digits.",
        subcommands: [TrainCommand.self, EvalCommand.self, PredictCommand.self, ReportCommand.self, SummaryCommand.self, ImportCommand.self, SheetCommand.self, CheckCommand.self, ServeCommand.self, DataCommand.self, BenchCommand.self, ChartCommand.self]
    )
}

/// Runs the command; any error becomes one line on standard error and a non-zero exit status
/// (help and version requests still print in full).
func runCommandLine() -> Never {
    do {
        var command = try Backprop.parseAsRoot()
        try command.run()
        exit(0)
    } catch {
        if let stopped = error as? StoppedError {
            FileHandle.standardError.write(Data(("backprop: " + stopped.description + "\n").utf8))
            // End as the signal would have, so that a shell script running us stops too.
            let number = interruption.load(ordering: .relaxed)
            if number != 0 { kill(getpid(), number) }
            exit(130)
        }
        // A command that has printed its verdict (summary --rules) just sets the status.
        if let code = error as? ExitCode { exit(code.rawValue) }
        let code = Backprop.exitCode(for: error)
        if code == .success { Backprop.exit(withError: error) }
        let message = Backprop.message(for: error)
            .split(separator: "\n").first.map(String.init) ?? "failed"
        FileHandle.standardError.write(Data(("backprop: " + message.replacingOccurrences(of: "Error: ", with: "") + "\n").utf8))
        exit(code == .failure || code == .validationFailure ? code.rawValue : 1)
    }
}

runCommandLine()
