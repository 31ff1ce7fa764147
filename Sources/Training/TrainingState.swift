import Data
import Foundation
import Formats
import Kernels
import NN

/// Everything needed to continue a run exactly where it stopped, saved after every epoch as
/// `training-state.safetensors`: the model's tensors ("model.…"), their moving average's if the
/// recipe keeps one ("average.…"), the optimiser's buffers ("optimizer.…"), and in the metadata
/// the run's configuration, the schedule's position and both random generators (the loader's,
/// behind shuffles and augmentation, and dropout's). Resuming from it gives weights bit-identical
/// to a run that was never interrupted.
public struct TrainingState {
    /// What the run was started with (JSON in the metadata).
    public struct Settings: Codable, Equatable {
        public var model: String
        public var recipe: Recipe
        public var seed: UInt64
        public var dataset: String
        public var dataDirectory: String?
        public var trainLimit: Int?
        public var testLimit: Int?
        /// True when the run evaluated on the validation split instead of the test set (absent,
        /// not false, otherwise, so that states of runs without it keep their bytes).
        public var validation: Bool?

        public init(model: String, recipe: Recipe, seed: UInt64, dataset: String, dataDirectory: String?,
                    trainLimit: Int?, testLimit: Int?, validation: Bool = false) {
            self.model = model; self.recipe = recipe; self.seed = seed; self.dataset = dataset
            self.dataDirectory = dataDirectory; self.trainLimit = trainLimit; self.testLimit = testLimit
            self.validation = validation ? true : nil
        }

        /// Whether the run's accuracies are the validation split's (else the test set's).
        public var evaluatesValidation: Bool { validation == true }
    }

    public static let fileName = "training-state.safetensors"
    static let format = "backprop-training-state-1"

    public var settings: Settings
    public var epochsDone: Int
    public var step: Int
    public var loaderRandom: Random
    public var dropoutRandom: Random
    public var file: SafetensorsFile

    static func words(_ random: Random) -> String { random.stateWords.map { String($0, radix: 16) }.joined(separator: ",") }

    static func random(_ text: String?, named name: String, source: String) throws -> Random {
        let words = (text ?? "").split(separator: ",", omittingEmptySubsequences: false).map { UInt64($0, radix: 16) }
        guard let random = Random(state: words.compactMap { $0 }), !words.contains(nil) else {
            throw RunFolderError("\(source): \(name) is not a generator state (four hexadecimal words, not all zero)")
        }
        return random
    }

    /// The state of a run after `trainer.epochsDone` epochs.
    public static func capture(settings: Settings, trainer: Trainer, loader: BatchLoader) -> SafetensorsFile {
        func prefixed(_ model: Model, _ prefix: String) -> [SafetensorsFile.Tensor] {
            Checkpoint.file(for: model).tensors.map { tensor in
                var renamed = tensor
                renamed.name = prefix + tensor.name
                return renamed
            }
        }
        var tensors = prefixed(trainer.model, "model.") + (trainer.averaged.map { prefixed($0, "average.") } ?? [])
        for (name, tensor) in trainer.optimizer.state {
            tensors.append(.init(name: "optimizer." + name, shape: tensor.shape, floats: tensor.values))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try! encoder.encode(settings), as: UTF8.self)
        return SafetensorsFile(tensors: tensors, metadata: [
            "format": format, "settings": json, "epochs_done": String(trainer.epochsDone), "step": String(trainer.step),
            "loader_random": words(loader.random), "dropout_random": words(trainer.context.random),
        ])
    }

    /// Reads a run folder's state; one-line errors for anything missing or malformed. (What the
    /// values mean for a run is checked by `TrainingRun.resuming` and `restore`.)
    public static func read(folder: String) throws -> TrainingState {
        let path = RunFolder(folder).statePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw RunFolderError("\(folder): no \(fileName) to resume from (it is written after each finished epoch)")
        }
        return try parse(try SafetensorsFile.read(path: path), source: path)
    }

    /// The state held in `file` (a training-state.safetensors), which `source` names in errors.
    public static func parse(_ file: SafetensorsFile, source path: String) throws -> TrainingState {
        guard file.metadata["format"] == format, let json = file.metadata["settings"] else {
            throw RunFolderError("\(path): not a backprop training state")
        }
        let settings: Settings
        do { settings = try JSONDecoder().decode(Settings.self, from: Data(json.utf8)) }
        catch { throw RunFolderError("\(path): its settings are not a training run's (\(decodingProblem(error)))") }
        guard let epochs = file.metadata["epochs_done"].flatMap(Int.init), let step = file.metadata["step"].flatMap(Int.init),
              epochs >= 0, step >= 0 else {
            throw RunFolderError("\(path): epochs_done and step must be whole numbers ≥ 0")
        }
        return TrainingState(settings: settings, epochsDone: epochs, step: step,
                             loaderRandom: try random(file.metadata["loader_random"], named: "loader_random", source: path),
                             dropoutRandom: try random(file.metadata["dropout_random"], named: "dropout_random", source: path),
                             file: file)
    }

    /// Puts the saved weights, optimiser buffers and positions back into a freshly built run.
    public func restore(into trainer: Trainer, loader: BatchLoader, source: String) throws {
        guard step == epochsDone * trainer.stepsPerEpoch else {
            throw RunFolderError("\(source): step \(step) does not follow from \(epochsDone) epochs of \(trainer.stepsPerEpoch) batches (another data set or batch size?)")
        }
        func tensors(_ prefix: String) -> [NamedTensor] {
            file.tensors.filter { $0.name.hasPrefix(prefix) }.map {
                NamedTensor(name: String($0.name.dropFirst(prefix.count)), shape: $0.shape, values: $0.floats())
            }
        }
        try trainer.model.load(stateDict: tensors("model."), source: source)
        if let averaged = trainer.averaged { try averaged.load(stateDict: tensors("average."), source: source + " (its average)") }
        for (name, tensor) in trainer.optimizer.state {
            guard let saved = file["optimizer." + name], saved.elementCount == tensor.count else {
                throw RunFolderError("\(source): optimizer state \"\(name)\" is missing or has the wrong size")
            }
            let values = saved.floats()
            guard values.allSatisfy(\.isFinite) else {
                throw RunFolderError("\(source): optimizer state \"\(name)\" holds values that are not finite numbers")
            }
            // The optimiser counts the steps it took (Adam's bias correction divides by 1 − β^t)...
            if name == "step", values != [Float(step)] {
                throw RunFolderError("\(source): the optimizer has taken \(values.first.map { "\($0)" } ?? "no") steps, the run \(step)")
            }
            // ...and Adam's second moments are averages of squares.
            if name.hasPrefix("exp_avg_sq."), values.contains(where: { $0 < 0 }) {
                throw RunFolderError("\(source): optimizer state \"\(name)\" holds negative averages of squares")
            }
            tensor.copy(from: values)
        }
        trainer.restorePosition(step: step, epochsDone: epochsDone, dropoutRandom: dropoutRandom)
        loader.random = loaderRandom
    }
}
