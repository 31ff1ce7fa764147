import ArgumentParser
import Data
import Formats
import Foundation
import Kernels
import NN
import Synchronization
import Training

/// The signal (SIGINT, SIGTERM) that asked `train` to stop, or 0; set by its handler (an atomic
/// store is all a signal handler may do here).
let interruption = Atomic<Int32>(0)

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on MNIST (or Fashion-MNIST) with its recipe, print the course's test line each epoch, save the run.")

    @Option(help: ArgumentHelp(modelHelp.abstract + " (default: s6)")) var model: String?
    @Option(help: "Start from the model's recipe of this name instead of its own, e.g. --model s7 --recipe speedrun (backprop summary lists a model's recipes).")
    var recipe: String?
    @Option(help: "Epochs, \(Recipe.Limits.epochs.lowerBound) to \(Recipe.Limits.epochs.upperBound) (default: the model's recipe).")
    var epochs: Int?
    @Option(help: "Batch size, \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound) (default: the model's recipe).")
    var batchSize: Int?
    @Option(help: "Learning rate, up to \(Recipe.Limits.learningRate.upperBound); with --schedule onecycle, the peak rate (default: the recipe's).")
    var lr: Float?
    @Option(help: "SGD momentum or Adam's β1, in [0, 1) (default: the recipe's).") var momentum: Float?
    @Option(help: "Optimiser (default: the recipe's).") var optimizer: Recipe.OptimizerKind?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum for SGD (default: the recipe's).") var nesterov: Bool?
    @Option(help: "L2 weight decay, 0 to 1 (default: the recipe's).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule (default: the recipe's).") var schedule: ScheduleKind?
    @Option(help: "OneCycle: the fraction of the steps spent warming up to the peak rate, in (0, 1) (default: the recipe's).")
    var warmup: Float?
    @Option(help: "StepLR: epochs between reductions, \(Recipe.Limits.stepSize.lowerBound) to \(Recipe.Limits.stepSize.upperBound) (default: 6).")
    var stepSize: Int?
    @Option(help: "StepLR: factor of each reduction, \(Recipe.Limits.gamma.lowerBound) to \(Recipe.Limits.gamma.upperBound) (default: 0.3).")
    var gamma: Float?
    @Option(help: "Random rotation in ±degrees, 0 to 180 (0: none; default: the recipe's).") var rotation: Float?
    @Option(help: "Random translation as a fraction of the image size, 0 to \(Recipe.Limits.translateFraction.upperBound) (default: the recipe's).")
    var translate: Float?
    @Option(help: "Evaluate and save an exponential moving average of the weights and BatchNorm statistics, updated after every step with this decay, in (0, 1), e.g. 0.998 (0: none; default: the recipe's).")
    var ema: Float?
    @Option(help: "Label smoothing ε in [0, 1): train towards 1 − ε on the true class plus ε spread evenly over all classes, as PyTorch's cross_entropy(label_smoothing=ε) (0: none; default: the recipe's).")
    var labelSmoothing: Float?
    @Option(help: "Random seed: the same seed gives the same run (default: 1).") var seed: UInt64?
    @Option(help: "Data set (default: mnist).") var dataset: DatasetKind?
    @Option(help: "Folder of the IDX files (default data/mnist, fetched when missing; Fashion-MNIST: Debian's package folder).")
    var data: String?
    @Option(help: "Folder for the run's files (default: a new folder under runs/). It must be new or empty, unless --force.")
    var out: String?
    @Flag(help: "Let --out name the folder of an earlier run, whose files are then replaced.") var force = false
    @Option(help: "Train on the first N training images only (1 to \(grouped(RunConfiguration.exampleLimits.upperBound))).")
    var trainLimit: Int?
    @Option(help: "Evaluate on the first N test (or with --validation, validation) images only (1 to \(grouped(RunConfiguration.exampleLimits.upperBound))).")
    var testLimit: Int?
    @Flag(help: "Hold out the last \(grouped(Dataset.validationCount)) training images and evaluate on them after every epoch instead of on the test set (which is then not read): for choosing a recipe without looking at the test set.")
    var validation = false
    @Option(help: threadsHelp) var threads: Int?
    @Option(help: "Continue the run saved in this folder after its last finished epoch, with its own settings (only --threads and --data may be given with it).")
    var resume: String?

    /// The options that change what a run computes: a resumed run takes all of them from its state.
    var recipeOptionsGiven: [String] {
        let given: [(String, Bool)] = [
            ("--model", model != nil), ("--recipe", recipe != nil), ("--epochs", epochs != nil), ("--batch-size", batchSize != nil), ("--lr", lr != nil),
            ("--momentum", momentum != nil), ("--optimizer", optimizer != nil), ("--nesterov", nesterov != nil),
            ("--weight-decay", weightDecay != nil), ("--schedule", schedule != nil), ("--warmup", warmup != nil),
            ("--step-size", stepSize != nil), ("--gamma", gamma != nil), ("--rotation", rotation != nil),
            ("--translate", translate != nil), ("--ema", ema != nil),
            ("--label-smoothing", labelSmoothing != nil), ("--seed", seed != nil), ("--dataset", dataset != nil), ("--out", out != nil),
            ("--force", force), ("--train-limit", trainLimit != nil), ("--test-limit", testLimit != nil),
            ("--validation", validation),
        ]
        return given.filter(\.1).map(\.0)
    }

    func validate() throws {
        try checkThreads(threads)
        if resume != nil {
            let extra = recipeOptionsGiven
            guard extra.isEmpty else {
                throw ValidationError("--resume continues a run with the settings it was started with; it cannot take \(extra.joined(separator: ", "))")
            }
            return
        }
        do { try configuration().validate() } catch let error as RecipeError { throw ValidationError(error.description) }
    }

    /// The model's recipe with the user's options laid over it.
    func recipe(for definition: ModelDefinition) -> Recipe {
        var recipe = definition.recipe
        if let epochs { recipe.epochs = epochs }
        if let batchSize { recipe.batchSize = batchSize }
        if let optimizer { recipe.optimizer = optimizer }
        if let momentum { recipe.momentum = momentum }
        if let nesterov { recipe.nesterov = nesterov }
        if let weightDecay { recipe.weightDecay = weightDecay }
        if let rotation { recipe.rotationDegrees = rotation }
        if let translate { recipe.translateFraction = translate }
        if let ema { recipe.averagingDecay = ema == 0 ? nil : ema }
        if let labelSmoothing { recipe.labelSmoothing = labelSmoothing == 0 ? nil : labelSmoothing }
        switch schedule {
        case .constant: recipe.schedule = .constant
        case .step: recipe.schedule = .step(stepSize: stepSize ?? 6, gamma: gamma ?? 0.3)
        case .onecycle: recipe.schedule = .oneCycle(maxLearningRate: lr ?? recipe.learningRate)
        case nil: break
        }
        if let lr { recipe.learningRate = lr }
        if case let .oneCycle(peak, pct, div, finalDiv, base, top) = recipe.schedule {
            recipe.schedule = .oneCycle(maxLearningRate: lr ?? peak, percentStart: warmup ?? pct, divFactor: div,
                                        finalDivFactor: finalDiv, baseMomentum: base, maxMomentum: top)
        }
        return recipe
    }

    /// The run the options describe (a new run; `--resume` reads its own).
    func configuration() throws -> RunConfiguration {
        var definition = try modelDefinition(named: model ?? "s6", source: "--model")
        if let recipe { definition = try definition.withRecipe(named: recipe, source: "--recipe") }
        var configuration = RunConfiguration(model: definition, recipe: self.recipe(for: definition), seed: seed ?? 1,
                                             dataset: dataset ?? .mnist,
                                             dataDirectory: data, outDirectory: out, trainLimit: trainLimit,
                                             testLimit: testLimit, threads: threads ?? Threads.available)
        configuration.replacesEarlierRun = force
        configuration.validation = validation
        return configuration
    }

    func run() throws {
        var configuration: RunConfiguration
        if let resume {
            configuration = try TrainingRun.resuming(folder: resume, threads: threads ?? Threads.available, dataDirectory: data)
            print("backprop train --resume \(resume): \(configuration.model.name), \(describe(configuration.recipe))")
        } else {
            configuration = try self.configuration()
            configuration.commandLine = "backprop " + CommandLine.arguments.dropFirst().joined(separator: " ")
            print("backprop train --model \(configuration.model.name): \(describe(configuration.recipe))")
        }
        let run = TrainingRun(configuration) { print($0); fflush(stdout) }
        // Ctrl-C (or a SIGTERM) stops the run after the batch under way, never in the middle of
        // writing its files; a second one ends the process at once.
        _ = interruption.load(ordering: .relaxed)
        var signals = sigset_t()
        sigemptyset(&signals)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { number in
                interruption.store(number, ordering: .relaxed)
                signal(number, SIG_DFL)
            }
            sigaddset(&signals, signalNumber)
        }
        // A parent may have started us with them blocked (as test runners do); the threads the
        // run starts from here on inherit this.
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        run.onBatch = { _ in if interruption.load(ordering: .relaxed) != 0 { run.stop() } }
        _ = try run.execute()
    }

}
