import ArgumentParser
import Data
import Foundation
import Kernels
import NN
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on MNIST (or Fashion-MNIST) with its recipe, print the course's test line each epoch, save the run.")

    @Option(help: "The model: \(Models.all.map(\.name).joined(separator: ", ")).")
    var model = "s6"
    @Option(help: "Epochs (default: the model's recipe).") var epochs: Int?
    @Option(help: "Batch size (default: the model's recipe).") var batchSize: Int?
    @Option(help: "Learning rate; with --schedule onecycle, the peak rate (default: the recipe's).") var lr: Float?
    @Option(help: "SGD momentum or Adam's β1 (default: the recipe's).") var momentum: Float?
    @Option(help: "Optimiser: sgd or adam (default: the recipe's).") var optimizer: String?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum for SGD (default: the recipe's).") var nesterov: Bool?
    @Option(help: "L2 weight decay (default: the recipe's).") var weightDecay: Float?
    @Option(help: "Learning-rate schedule: constant, step, onecycle (default: the recipe's).") var schedule: String?
    @Option(help: "OneCycle: the fraction of the steps spent warming up to the peak rate (default: the recipe's).")
    var warmup: Float?
    @Option(help: "StepLR: epochs between reductions.") var stepSize = 6
    @Option(help: "StepLR: factor of each reduction.") var gamma: Float = 0.3
    @Option(help: "Random rotation in ±degrees (0: none; default: the recipe's).") var rotation: Float?
    @Option(help: "Random translation as a fraction of the image size (default: the recipe's).") var translate: Float?
    @Option(help: "Random seed: the same seed gives the same run.") var seed: UInt64 = 1
    @Option(help: "Data set: mnist or fashion.") var dataset = "mnist"
    @Option(help: "Folder of the IDX files (default data/mnist, fetched when missing; Fashion-MNIST: Debian's package folder).")
    var data: String?
    @Option(help: "Folder for the run's files (default: a new folder under runs/).") var out: String?
    @Option(help: "Train on the first N training images only.") var trainLimit: Int?
    @Option(help: "Test on the first N test images only.") var testLimit: Int?
    @Option(help: "Threads for the kernels (default: all cores).") var threads: Int?
    @Option(help: "Continue the run saved in this folder (after its last finished epoch), with its own settings.")
    var resume: String?

    func validate() throws {
        _ = try modelDefinition(named: model, source: "--model")
        guard DatasetKind(rawValue: dataset) != nil else { throw ValidationError("--dataset: expected mnist or fashion, got \"\(dataset)\"") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs: expected a positive whole number, got \(epochs)") }
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size: expected a positive whole number, got \(batchSize)") }
        if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr: expected a positive number, got \(lr)") }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum: expected a number in [0, 1), got \(momentum)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay: expected a number ≥ 0, got \(weightDecay)") }
        if let optimizer, Recipe.OptimizerKind(rawValue: optimizer) == nil { throw ValidationError("--optimizer: expected sgd or adam, got \"\(optimizer)\"") }
        if let schedule, !["constant", "step", "onecycle"].contains(schedule) {
            throw ValidationError("--schedule: expected constant, step or onecycle, got \"\(schedule)\"")
        }
        guard stepSize > 0 else { throw ValidationError("--step-size: expected a positive whole number, got \(stepSize)") }
        guard gamma > 0 && gamma.isFinite else { throw ValidationError("--gamma: expected a positive number, got \(gamma)") }
        if let rotation, !(rotation >= 0 && rotation <= 180) { throw ValidationError("--rotation: expected degrees from 0 to 180, got \(rotation)") }
        if let translate, !(translate >= 0 && translate < 0.5) { throw ValidationError("--translate: expected a fraction in [0, 0.5), got \(translate)") }
        if let trainLimit, trainLimit <= 0 { throw ValidationError("--train-limit: expected a positive whole number, got \(trainLimit)") }
        if let testLimit, testLimit <= 0 { throw ValidationError("--test-limit: expected a positive whole number, got \(testLimit)") }
        if let warmup, !(warmup > 0 && warmup < 1) { throw ValidationError("--warmup: expected a fraction between 0 and 1, got \(warmup)") }
        if let threads, threads <= 0 { throw ValidationError("--threads: expected a positive whole number, got \(threads)") }
    }

    /// The model's recipe with the user's options laid over it.
    func recipe(for definition: ModelDefinition) -> Recipe {
        var recipe = definition.recipe
        if let epochs { recipe.epochs = epochs }
        if let batchSize { recipe.batchSize = batchSize }
        if let optimizer { recipe.optimizer = Recipe.OptimizerKind(rawValue: optimizer)! }
        if let momentum { recipe.momentum = momentum }
        if let nesterov { recipe.nesterov = nesterov }
        if let weightDecay { recipe.weightDecay = weightDecay }
        if let rotation { recipe.rotationDegrees = rotation }
        if let translate { recipe.translateFraction = translate }
        switch schedule {
        case "constant": recipe.schedule = .constant
        case "step": recipe.schedule = .step(stepSize: stepSize, gamma: gamma)
        case "onecycle": recipe.schedule = .oneCycle(maxLearningRate: lr ?? recipe.learningRate)
        default: break
        }
        if let lr { recipe.learningRate = lr }
        if case let .oneCycle(peak, pct, div, finalDiv, base, top) = recipe.schedule {
            recipe.schedule = .oneCycle(maxLearningRate: lr ?? peak, percentStart: warmup ?? pct, divFactor: div,
                                        finalDivFactor: finalDiv, baseMomentum: base, maxMomentum: top)
        }
        return recipe
    }

    func run() throws {
        if let threads { Threads.count = threads }
        if let resume {
            let configuration = try TrainingRun.resuming(folder: resume)
            print("backprop train --resume \(resume): \(configuration.model.name), \(describe(configuration.recipe))")
            _ = try TrainingRun(configuration) { print($0); fflush(stdout) }.execute()
            return
        }
        let definition = Models.named(model)!
        let recipe = recipe(for: definition)
        let outDirectory = out ?? Self.newRunFolder(model: model)
        print("backprop train --model \(model): \(describe(recipe))")
        let configuration = RunConfiguration(model: definition, recipe: recipe, seed: seed,
                                             dataset: DatasetKind(rawValue: dataset)!, dataDirectory: data,
                                             outDirectory: outDirectory, trainLimit: trainLimit, testLimit: testLimit)
        let run = TrainingRun(configuration) { print($0); fflush(stdout) }
        run.commandLine = "backprop " + CommandLine.arguments.dropFirst().joined(separator: " ")
        _ = try run.execute()
    }

    /// runs/<model>-<date>-<time>, made unique with a counter if needed.
    static func newRunFolder(model: String) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        let base = "runs/\(model)-\(formatter.string(from: Date()))"
        var candidate = base, n = 2
        while FileManager.default.fileExists(atPath: candidate) { candidate = "\(base)-\(n)"; n += 1 }
        return candidate
    }
}
