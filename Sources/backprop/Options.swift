import ArgumentParser
import Data
import Kernels
import NN
import Training

// What several subcommands share: the closed sets their options take (swift-argument-parser
// checks them and lists them in the help), the model lookup, the thread option.

extension DatasetKind: ExpressibleByArgument {}
extension Recipe.OptimizerKind: ExpressibleByArgument {}

/// `--schedule`: which learning-rate schedule, its numbers set by other options.
enum ScheduleKind: String, CaseIterable, ExpressibleByArgument {
    case constant, step, onecycle
}

/// `--format` of commands that print either text for people or JSON for programs.
enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

/// The shipped model called `name` or the model file at that path, or a one-line error that
/// starts with `source` (the option or the file that named it).
func modelDefinition(named name: String, source: String) throws -> ModelDefinition {
    do { return try ModelDefinition.resolve(name, source: source) } catch let error as ModelError {
        throw ValidationError(error.description)
    }
}

/// The help text of `--model`.
let modelHelp = ArgumentHelp("The model: \(Models.all.map(\.name).joined(separator: ", ")), or a model file (net.json, docs/model-files.md).")

/// `--threads`, checked against the limits every run keeps.
func checkThreads(_ threads: Int?) throws {
    if let threads, !RunConfiguration.threadLimits.contains(threads) {
        throw ValidationError("--threads: expected 1 to \(RunConfiguration.threadLimits.upperBound), got \(threads)")
    }
}

/// The help of a `--threads` option.
let threadsHelp = ArgumentHelp("Threads to spread the work over, 1 to \(RunConfiguration.threadLimits.upperBound) (default: all \(Threads.available) cores, or BACKPROP_THREADS).")
