import Data
import Foundation
import Formats
import Kernels
import NN
import Synchronization

/// Everything a training run needs to know; the command line fills it in, or a saved run's
/// state (`resuming`). `validate()` holds both to the same limits.
public struct RunConfiguration {
    public var model: ModelDefinition
    public var recipe: Recipe
    public var seed: UInt64
    public var dataset: DatasetKind
    public var dataDirectory: String?
    /// The run's folder: new or empty (unless `replacesEarlierRun`); nil for a new folder under
    /// runs/ named after the model and the time.
    public var outDirectory: String?
    /// Train on the first n training images only (for quick runs and tests).
    public var trainLimit: Int?
    /// Evaluate on the first n test (or validation) images only.
    public var testLimit: Int?
    /// Hold out the last `Dataset.validationCount` training images and evaluate on them after every
    /// epoch instead of on the test set, which this run never reads: for choosing a recipe.
    public var validation = false
    /// What each epoch is evaluated on, in words: "test" or "validation".
    public var evaluated: String { validation ? "validation" : "test" }
    /// Threads the layers and loaders spread their work over.
    public var threads: Int
    /// Whether MNIST may be fetched into `dataDirectory` when it is missing (not when the folder
    /// was named by a saved state, which anyone could have written).
    public var fetchesMissingData = true
    /// Whether `outDirectory` may hold an earlier run, which is then replaced (`--force`).
    public var replacesEarlierRun = false
    /// The command that started the run, saved as command.txt beside its results.
    public var commandLine: String?
    /// Continue from this saved state (in `outDirectory`) instead of starting afresh.
    public var resumeFrom: TrainingState?

    public init(model: ModelDefinition, recipe: Recipe, seed: UInt64, dataset: DatasetKind, dataDirectory: String?,
                outDirectory: String?, trainLimit: Int? = nil, testLimit: Int? = nil, threads: Int = Threads.available) {
        self.model = model; self.recipe = recipe; self.seed = seed; self.dataset = dataset
        self.dataDirectory = dataDirectory; self.outDirectory = outDirectory
        self.trainLimit = trainLimit; self.testLimit = testLimit; self.threads = threads
    }

    /// The most examples a limit may name, and the most threads a run may ask for.
    public static let exampleLimits = 1...10_000_000
    public static let threadLimits = 1...Threads.maximum

    /// Throws a one-line error naming the first setting out of range; `option` names each setting
    /// as the user knows it (a command-line option, or a field of a saved state).
    public func validate(naming option: (String) -> String = { "--" + $0 }) throws {
        try recipe.validate(naming: option)
        for (name, limit) in [("train-limit", trainLimit), ("test-limit", testLimit)] {
            if let limit, !Self.exampleLimits.contains(limit) {
                throw RecipeError("\(option(name)): expected a whole number of images from 1 to \(grouped(Self.exampleLimits.upperBound)), got \(limit)")
            }
        }
        guard Self.threadLimits.contains(threads) else {
            throw RecipeError("\(option("threads")): expected 1 to \(Self.threadLimits.upperBound) threads, got \(threads)")
        }
        let perImage = ModelSummary(model: model.makeModel()).activationFloatsPerImage
        guard perImage * recipe.batchSize <= Self.activationLimit else {
            throw RecipeError("\(option("batch-size")): \(recipe.batchSize) images × \(grouped(perImage)) activations per image is more than \(grouped(Self.activationLimit)) numbers (4 GiB); choose a smaller batch")
        }
    }

    /// The most activations a batch may hold (floats, forward pass): 4 GiB.
    public static let activationLimit = 1 << 30
}

/// What a finished run reached.
public struct RunResult {
    public var metrics: [EpochMetrics]
    public var bestAccuracy: Double { metrics.map(\.test_acc).max() ?? 0 }
    public var bestEpoch: Int { metrics.max { $0.test_acc < $1.test_acc }?.epoch ?? 0 }
    public var lastAccuracy: Double { metrics.last?.test_acc ?? 0 }
}

/// A whole training run, as `backprop train` does it: data, model summary, epochs with a progress
/// bar and the course's test line, and the run's files written after every epoch (atomically, so an
/// interrupted run leaves the last complete epoch's files behind).
public final class TrainingRun {
    public let configuration: RunConfiguration
    private let say: (String) -> Void
    private let stopRequested = Atomic<Bool>(false)
    /// Hears after every training batch (on the training thread), after the progress bar.
    public var onBatch: ((BatchProgress) -> Void)?
    /// Hears after every epoch, once its files are written (on the training thread).
    public var onEpoch: ((EpochMetrics, RunFolder) -> Void)?

    public init(_ configuration: RunConfiguration, say: @escaping (String) -> Void = { print($0) }) {
        self.configuration = configuration
        self.say = say
    }

    /// Asks the run to stop after the batch under way (from any thread): `execute` then throws
    /// `StoppedError`, and the folder keeps the last finished epoch's files, ready for `--resume`.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// The configuration of the run saved in `folder`, set to continue it there. Every value read
    /// from the file passes the same checks as the command line's options, and its own.
    public static func resuming(folder: String, threads: Int = Threads.available, dataDirectory: String? = nil) throws -> RunConfiguration {
        try resuming(try TrainingState.read(folder: folder), folder: folder, threads: threads, dataDirectory: dataDirectory)
    }

    /// The configuration that continues `state`, saved in `folder`, after checking every value in it.
    public static func resuming(_ state: TrainingState, folder: String, threads: Int = Threads.available,
                                dataDirectory: String? = nil) throws -> RunConfiguration {
        let s = state.settings
        let source = RunFolder(folder).statePath
        let model = try RunFolder(folder).model(named: s.model)
        guard let dataset = DatasetKind(rawValue: s.dataset) else {
            throw RunFolderError("\(source): unknown data set \(quoted(s.dataset)); expected mnist or fashion")
        }
        var configuration = RunConfiguration(model: model, recipe: s.recipe, seed: s.seed, dataset: dataset,
                                             dataDirectory: dataDirectory ?? s.dataDirectory, outDirectory: folder,
                                             trainLimit: s.trainLimit, testLimit: s.testLimit, threads: threads)
        try configuration.validate { "\(source): its setting \($0)" }
        guard (0...s.recipe.epochs).contains(state.epochsDone) else {
            throw RunFolderError("\(source): \(state.epochsDone) epochs done of \(s.recipe.epochs); expected 0 to \(s.recipe.epochs)")
        }
        configuration.validation = s.evaluatesValidation
        configuration.fetchesMissingData = dataDirectory != nil
        configuration.resumeFrom = state
        return configuration
    }

    var settings: TrainingState.Settings {
        let c = configuration
        return TrainingState.Settings(model: c.model.name, recipe: c.recipe, seed: c.seed, dataset: c.dataset.rawValue,
                                      dataDirectory: c.dataDirectory, trainLimit: c.trainLimit, testLimit: c.testLimit,
                                      validation: c.validation)
    }

    public func execute() throws -> RunResult {
        let c = configuration
        try c.validate()
        let model = c.model.makeModel()
        let rows = model.inputShape[1], columns = model.inputShape[2]
        let dataFolder = try Dataset.locate(c.dataset, directory: c.dataDirectory, fetchesMissing: c.fetchesMissingData, log: say)
        var train = try Dataset.load(directory: dataFolder, split: .train, rows: rows, columns: columns)
        // `test` is what every epoch is evaluated on: the test set, or with --validation the last
        // training images, which are then not trained on (and the test set is not read at all).
        var test: Dataset
        if c.validation {
            guard train.count >= 2 else { throw DataError("\(dataFolder): --validation needs at least 2 training images, found \(train.count)") }
            (train, test) = train.validationSplit()
        } else {
            test = try Dataset.load(directory: dataFolder, split: .test, rows: rows, columns: columns)
        }
        if let limit = c.trainLimit { train = train.prefix(limit) }
        if let limit = c.testLimit { test = test.prefix(limit) }
        let folder: RunFolder
        switch (c.resumeFrom, c.outDirectory) {
        case (.some, let path?): folder = RunFolder(path)
        case (_, let path?): folder = try RunFolder.create(path, replacing: c.replacesEarlierRun)
        case (_, nil): folder = try RunFolder.createUnique(in: "runs", name: "\(c.model.name)-\(Self.timestamp())")
        }
        if let commandLine = c.commandLine { try AtomicFile.write(commandLine + "\n", to: folder.file("command.txt")) }
        if c.resumeFrom == nil { try AtomicFile.write(c.model.modelFileText, to: folder.modelFilePath) }

        model.initialize(seed: c.seed)
        say(ModelSummary(model: model).render(batchSize: c.recipe.batchSize))
        let normalization = c.dataset.normalization
        let trainLoader = BatchLoader(dataset: train, batchSize: c.recipe.batchSize, shuffles: true,
                                      augmentation: Augmentation(rotationDegrees: c.recipe.rotationDegrees,
                                                                 translateFraction: c.recipe.translateFraction),
                                      normalization: normalization, seed: c.seed, threads: c.threads)
        // Test batches as large as the training ones: the layers' buffers, planned for the largest
        // batch they see, then serve both (a batch of 1,000 would make them eight times larger).
        let testLoader = BatchLoader(dataset: test, batchSize: c.recipe.batchSize, shuffles: false,
                                     normalization: normalization, threads: c.threads)
        let trainer = Trainer(model: model, recipe: c.recipe, stepsPerEpoch: trainLoader.batchCount, seed: c.seed,
                              threads: c.threads)
        say("Training \(model.name) on \(train.count) \(c.dataset.rawValue) images, \(c.validation ? "validating on the last" : "testing on") \(test.count); seed \(c.seed); \(c.threads) threads")

        let bar = ProgressBar()
        var metrics: [EpochMetrics] = []
        if let state = c.resumeFrom {
            try state.restore(into: trainer, loader: trainLoader, source: folder.statePath)
            metrics = try folder.metrics()
            guard metrics.count >= state.epochsDone else {
                throw RunFolderError("\(folder.metricsPath): \(metrics.count) epochs recorded, but the state says \(state.epochsDone) are done")
            }
            metrics = Array(metrics.prefix(state.epochsDone))
            say("Resuming after epoch \(state.epochsDone) of \(c.recipe.epochs).")
        }
        /// A stop asked for: the files of the last finished epoch stay (or, before the first, the
        /// folder this run made is removed again).
        func stopped(_ error: StoppedError) -> StoppedError {
            var error = error
            if metrics.isEmpty && c.resumeFrom == nil {
                for name in ["command.txt", "model.json"] { try? FileManager.default.removeItem(atPath: folder.file(name)) }
                if (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.isEmpty == true {
                    try? FileManager.default.removeItem(atPath: folder.path)
                }
                error.keptNothing = true
            } else {
                error.folder = folder.path
            }
            return error
        }
        for epoch in stride(from: trainer.epochsDone + 1, through: c.recipe.epochs, by: 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            let trained: (loss: Double, accuracy: Double, learningRate: Float)
            do {
                trained = try trainer.trainEpoch(on: trainLoader) { progress in
                    bar.update(progress)
                    self.onBatch?(progress)
                    return !self.stopRequested.load(ordering: .relaxed)
                }
            } catch let error as StoppedError {
                bar.finish()
                throw stopped(error)
            }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            bar.finish()
            let evaluation = trainer.evaluate(on: testLoader)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let row = EpochMetrics(epoch: epoch, lr: Double(trained.learningRate), train_loss: trained.loss,
                                   train_acc: trained.accuracy, test_loss: evaluation.loss,
                                   test_acc: evaluation.accuracy, seconds: seconds)
            metrics.append(row)
            say("Epoch \(epoch)/\(c.recipe.epochs)  lr \(formatted(Double(trained.learningRate), 5))  train loss \(formatted(trained.loss, 4)) acc \(formatted(trained.accuracy, 2))%  (\(formatted(trainSeconds, 1)) s, \(grouped(Int(Double(train.count) / trainSeconds))) img/s)")
            say(evaluation.courseLine(setName: c.evaluated.capitalized + " set") + "  [\(formatted(seconds, 1)) s]")
            try folder.writeMetrics(metrics)
            try Checkpoint.save(trainer.evaluated, to: folder.checkpointPath, metadata: ["epochs": String(metrics.count), "seed": String(c.seed)])
            try writePictures(in: folder, metrics: metrics, evaluation: evaluation, test: test)
            try TrainingState.capture(settings: settings, trainer: trainer, loader: trainLoader).write(to: folder.statePath)
            onEpoch?(row, folder)
            // A stop asked for while evaluating or writing takes effect here, with this epoch saved.
            if stopRequested.load(ordering: .relaxed) && epoch < c.recipe.epochs {
                throw stopped(StoppedError(epoch: epoch, batch: trainLoader.batchCount))
            }
        }
        let result = RunResult(metrics: metrics)
        say("Best \(c.evaluated) accuracy \(formatted(result.bestAccuracy, 2))% (epoch \(result.bestEpoch)), last \(formatted(result.lastAccuracy, 2))%. Files in \(folder.path)/")
        return result
    }

    /// The local date and time as yyyyMMdd-HHmmss, for run folder names.
    public static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date())
    }

    /// curves.svg/png (loss and accuracy by epoch) and misclassified.png/svg (the first 50 test
    /// images the model gets wrong, labelled true → predicted).
    func writePictures(in folder: RunFolder, metrics: [EpochMetrics], evaluation: EvaluationResult, test: Dataset) throws {
        let figure = RunPictures.curves(metrics: metrics, model: configuration.model.name,
                                        evaluated: configuration.evaluated)
        let grid = RunPictures.misclassified(evaluation: evaluation, test: test, classNames: configuration.dataset.classNames,
                                             evaluated: configuration.evaluated)
        try AtomicFile.write([(folder.file("curves.svg"), Array(figure.svg().utf8)), (folder.file("curves.png"), figure.png()),
                              (folder.file("misclassified.svg"), Array(grid.svg().utf8)), (folder.file("misclassified.png"), grid.png())])
    }
}
