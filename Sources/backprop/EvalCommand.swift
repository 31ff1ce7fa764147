import ArgumentParser
import Data
import Formats
import Foundation
import Kernels
import NN
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint on the test set: loss, accuracy, per-class accuracy, confusion matrix.")

    @Option(help: "A model.safetensors written by backprop train (or by the PyTorch twin).") var checkpoint: String
    @Option(help: "The model, if the checkpoint does not name it.") var model: String?
    @Option(help: "Data set.") var dataset: DatasetKind = .mnist
    @Option(help: "Folder of the IDX files (default data/mnist).") var data: String?
    @Option(help: "Evaluate on the first N test images only (1 to \(grouped(RunConfiguration.exampleLimits.upperBound))).")
    var testLimit: Int?
    @Option(help: "Also write the test-set log-probabilities and labels to this safetensors file (to compare with another engine, e.g. scripts/torch_twin.py check --compare).")
    var saveOutputs: String?
    @Option(help: threadsHelp) var threads: Int?

    func validate() throws {
        if let model { _ = try modelDefinition(named: model, source: "--model") }
        if let testLimit, !RunConfiguration.exampleLimits.contains(testLimit) {
            throw ValidationError("--test-limit: expected 1 to \(grouped(RunConfiguration.exampleLimits.upperBound)) images, got \(testLimit)")
        }
        try checkThreads(threads)
    }

    func run() throws {
        let model = try loadModel(checkpoint: checkpoint, name: model)
        let threads = threads ?? Threads.available
        let folder = try Dataset.locate(dataset, directory: data) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        var test = try Dataset.load(directory: folder, split: .test, rows: model.inputShape[1], columns: model.inputShape[2])
        if let testLimit { test = test.prefix(testLimit) }
        let loader = BatchLoader(dataset: test, batchSize: 128, shuffles: false, normalization: dataset.normalization,
                                 threads: threads)
        let result = Trainer.evaluate(model: model, on: loader, threads: threads, keepOutputs: saveOutputs != nil)
        if let saveOutputs {
            let classes = result.outputs.count / max(result.count, 1)
            try SafetensorsFile(tensors: [
                .init(name: "log_probabilities", shape: [result.count, classes], floats: result.outputs),
                .init(name: "labels", shape: [result.count], integers: result.labels.map(Int64.init)),
            ], metadata: ["model": model.name, "checkpoint": checkpoint]).write(to: saveOutputs)
        }
        print("\(model.name) from \(checkpoint) on \(test.count) \(dataset.rawValue) test images")
        print(result.courseLine())
        let matrix = result.confusionMatrix()
        let names = dataset.classNames
        let width = max(6, names.map(\.count).max() ?? 1)
        func pad(_ text: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - text.count)) + text }
        print("\nPer-class accuracy:")
        for (k, row) in matrix.enumerated() {
            let total = row.reduce(0, +)
            let accuracy = total > 0 ? 100 * Double(row[k]) / Double(total) : 0
            print("  \(pad(names[k], width))  \(pad(String(row[k]), 5))/\(total)  \(formatted(accuracy, 2))%")
        }
        print("\nConfusion matrix (rows: true class, columns: predicted):")
        print("  " + pad("", width) + names.map { pad(String($0.prefix(5)), 6) }.joined())
        for (k, row) in matrix.enumerated() {
            print("  " + pad(names[k], width) + row.map { pad(String($0), 6) }.joined())
        }
    }
}

/// The model a checkpoint was saved from, with its weights (`DigitClassifier.load`); the model is
/// `name` when given, else the one the checkpoint names.
func loadModel(checkpoint: String, name: String?) throws -> Model {
    let definition = try name.map { try modelDefinition(named: $0, source: "--model") }
    return try DigitClassifier.load(checkpoint: checkpoint, definition: definition, missingModelHint: "pass --model").model
}
