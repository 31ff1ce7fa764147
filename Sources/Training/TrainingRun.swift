import Data
import Foundation
import Formats
import Kernels
import NN

/// Everything a training run needs to know; the command line fills it in.
public struct RunConfiguration {
    public var model: ModelDefinition
    public var recipe: Recipe
    public var seed: UInt64
    public var dataset: DatasetKind
    public var dataDirectory: String?
    public var outDirectory: String
    /// Train on the first n training images only (for quick runs and tests).
    public var trainLimit: Int?
    /// Evaluate on the first n test images only.
    public var testLimit: Int?
    /// Continue from this saved state (in `outDirectory`) instead of starting afresh.
    public var resumeFrom: TrainingState?

    public init(model: ModelDefinition, recipe: Recipe, seed: UInt64, dataset: DatasetKind, dataDirectory: String?,
                outDirectory: String, trainLimit: Int? = nil, testLimit: Int? = nil) {
        self.model = model; self.recipe = recipe; self.seed = seed; self.dataset = dataset
        self.dataDirectory = dataDirectory; self.outDirectory = outDirectory
        self.trainLimit = trainLimit; self.testLimit = testLimit
    }
}

/// What a finished run reached.
public struct RunResult {
    public var metrics: [EpochMetrics]
    public var bestAccuracy: Double { metrics.map(\.test_acc).max() ?? 0 }
    public var bestEpoch: Int { metrics.max { $0.test_acc < $1.test_acc }?.epoch ?? 0 }
    public var lastAccuracy: Double { metrics.last?.test_acc ?? 0 }
    public var finalEvaluation: EvaluationResult
}

/// A whole training run, as `backprop train` does it: data, model summary, epochs with a progress
/// bar and the course's test line, and the run's files written after every epoch (atomically, so an
/// interrupted run leaves the last complete epoch's files behind).
public final class TrainingRun {
    public let configuration: RunConfiguration
    private let say: (String) -> Void
    /// The command that started the run, saved as command.txt beside its results.
    public var commandLine: String?

    public init(_ configuration: RunConfiguration, say: @escaping (String) -> Void = { print($0) }) {
        self.configuration = configuration
        self.say = say
    }

    /// The configuration of the run saved in `folder`, set to continue it there.
    public static func resuming(folder: String) throws -> RunConfiguration {
        let state = try TrainingState.read(folder: folder)
        let s = state.settings
        guard let model = Models.named(s.model), let dataset = DatasetKind(rawValue: s.dataset) else {
            throw ModelError("\(folder)/\(TrainingState.fileName): unknown model \(s.model) or data set \(s.dataset)")
        }
        var configuration = RunConfiguration(model: model, recipe: s.recipe, seed: s.seed, dataset: dataset,
                                             dataDirectory: s.dataDirectory, outDirectory: folder,
                                             trainLimit: s.trainLimit, testLimit: s.testLimit)
        configuration.resumeFrom = state
        return configuration
    }

    var settings: TrainingState.Settings {
        let c = configuration
        return TrainingState.Settings(model: c.model.name, recipe: c.recipe, seed: c.seed, dataset: c.dataset.rawValue,
                                      dataDirectory: c.dataDirectory, trainLimit: c.trainLimit, testLimit: c.testLimit)
    }

    public func execute() throws -> RunResult {
        let c = configuration
        let folder = try Dataset.locate(c.dataset, directory: c.dataDirectory, log: say)
        var train = try Dataset.load(directory: folder, split: .train)
        var test = try Dataset.load(directory: folder, split: .test)
        if let limit = c.trainLimit { train = train.prefix(limit) }
        if let limit = c.testLimit { test = test.prefix(limit) }
        try AtomicFile.prepareDirectory(c.outDirectory)
        if let commandLine { try AtomicFile.write(commandLine + "\n", to: c.outDirectory + "/command.txt") }

        let model = c.model.makeModel()
        model.initialize(seed: c.seed)
        say(ModelSummary(model: model).render(batchSize: c.recipe.batchSize))
        let normalization = c.dataset.normalization
        let trainLoader = BatchLoader(dataset: train, batchSize: c.recipe.batchSize, shuffles: true,
                                      augmentation: Augmentation(rotationDegrees: c.recipe.rotationDegrees,
                                                                 translateFraction: c.recipe.translateFraction),
                                      normalization: normalization, seed: c.seed)
        // Test batches as large as the training ones: the layers' buffers, planned for the largest
        // batch they see, then serve both (a batch of 1,000 would make them eight times larger).
        let testLoader = BatchLoader(dataset: test, batchSize: c.recipe.batchSize, shuffles: false, normalization: normalization)
        let trainer = Trainer(model: model, recipe: c.recipe, stepsPerEpoch: trainLoader.batchCount, seed: c.seed)
        say("Training \(model.name) on \(train.count) \(c.dataset.rawValue) images, testing on \(test.count); seed \(c.seed); \(Threads.count) threads")

        let bar = ProgressBar()
        var metrics: [EpochMetrics] = []
        var evaluation = EvaluationResult(loss: 0, correct: 0, count: 0, predictions: [], labels: [])
        if let state = c.resumeFrom {
            try state.restore(into: trainer, loader: trainLoader, source: c.outDirectory + "/" + TrainingState.fileName)
            metrics = Array(try readMetrics().prefix(state.epochsDone))
            say("Resuming after epoch \(state.epochsDone) of \(c.recipe.epochs).")
            if state.epochsDone >= c.recipe.epochs { evaluation = trainer.evaluate(on: testLoader) }
        }
        for epoch in stride(from: trainer.epochsDone + 1, through: c.recipe.epochs, by: 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            let trained = try trainer.trainEpoch(on: trainLoader) { bar.update($0) }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            bar.finish()
            evaluation = trainer.evaluate(on: testLoader)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let row = EpochMetrics(epoch: epoch, lr: Double(trained.learningRate), train_loss: trained.loss,
                                   train_acc: trained.accuracy, test_loss: evaluation.loss,
                                   test_acc: evaluation.accuracy, seconds: seconds)
            metrics.append(row)
            say("Epoch \(epoch)/\(c.recipe.epochs)  lr \(formatted(Double(trained.learningRate), 5))  train loss \(formatted(trained.loss, 4)) acc \(formatted(trained.accuracy, 2))%  (\(formatted(trainSeconds, 1)) s, \(grouped(Int(Double(train.count) / trainSeconds))) img/s)")
            say(evaluation.courseLine + "  [\(formatted(seconds, 1)) s]")
            try writeEpochFiles(model: model, metrics: metrics)
            try writePictures(metrics: metrics, evaluation: evaluation, test: test)
            try TrainingState.capture(settings: settings, trainer: trainer, loader: trainLoader)
                .write(to: c.outDirectory + "/" + TrainingState.fileName)
        }
        let result = RunResult(metrics: metrics, finalEvaluation: evaluation)
        say("Best test accuracy \(formatted(result.bestAccuracy, 2))% (epoch \(result.bestEpoch)), last \(formatted(result.lastAccuracy, 2))%. Files in \(c.outDirectory)/")
        return result
    }

    /// curves.svg/png (loss and accuracy by epoch) and misclassified.png/svg (the first 50 test
    /// images the model gets wrong, labelled true → predicted).
    func writePictures(metrics: [EpochMetrics], evaluation: EvaluationResult, test: Dataset) throws {
        let out = configuration.outDirectory
        let figure = RunPictures.curves(metrics: metrics, model: configuration.model.name)
        try AtomicFile.write(figure.svg(), to: out + "/curves.svg")
        try AtomicFile.write(figure.png(), to: out + "/curves.png")
        let grid = RunPictures.misclassified(evaluation: evaluation, test: test, classNames: configuration.dataset.classNames)
        try AtomicFile.write(grid.svg(), to: out + "/misclassified.svg")
        try AtomicFile.write(grid.png(), to: out + "/misclassified.png")
    }

    func readMetrics() throws -> [EpochMetrics] {
        let path = configuration.outDirectory + "/metrics.jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
    }

    func writeEpochFiles(model: Model, metrics: [EpochMetrics]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let lines = try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: configuration.outDirectory + "/metrics.jsonl")
        try Checkpoint.save(model, to: configuration.outDirectory + "/model.safetensors",
                            metadata: ["epochs": String(metrics.count), "seed": String(configuration.seed)])
    }
}
