import Data
import Foundation
import Formats
import Kernels
import NN

/// Everything needed to continue a run exactly where it stopped, saved after every epoch as
/// `training-state.safetensors`: the model's tensors ("model.…"), the optimiser's buffers
/// ("optimizer.…"), and in the metadata the run's configuration, the schedule's position and both
/// random generators (the loader's, behind shuffles and augmentation, and dropout's). Resuming
/// from it gives weights bit-identical to a run that was never interrupted.
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

    static func random(_ text: String?, source: String) throws -> Random {
        let words = (text ?? "").split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard words.count == 4 else { throw ModelError("\(source): the random generator state is missing or malformed") }
        return Random(state: words)
    }

    /// The state of a run after `trainer.epochsDone` epochs.
    static func capture(settings: Settings, trainer: Trainer, loader: BatchLoader) -> SafetensorsFile {
        var tensors = Checkpoint.file(for: trainer.model).tensors.map { tensor -> SafetensorsFile.Tensor in
            var renamed = tensor
            renamed.name = "model." + tensor.name
            return renamed
        }
        for (name, tensor) in trainer.optimizer.state {
            tensors.append(.init(name: "optimizer." + name, shape: tensor.shape, floats: tensor.values))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try! encoder.encode(settings), as: UTF8.self)
        return SafetensorsFile(tensors: tensors, metadata: [
            "format": format, "settings": json, "epochs_done": String(trainer.epochsDone), "step": String(trainer.step),
            "loader_random": words(loader.random), "dropout_random": words(trainer.trainingContext.random),
        ])
    }

    /// Reads a run folder's state; one-line errors for anything missing or inconsistent.
    public static func read(folder: String) throws -> TrainingState {
        let path = folder + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError("\(folder): no \(fileName) to resume from (it is written after each finished epoch)")
        }
        let file = try SafetensorsFile.read(path: path)
        guard file.metadata["format"] == format, let json = file.metadata["settings"],
              let settings = try? JSONDecoder().decode(Settings.self, from: Data(json.utf8)),
              let epochs = file.metadata["epochs_done"].flatMap(Int.init), let step = file.metadata["step"].flatMap(Int.init)
        else { throw ModelError("\(path): not a backprop training state") }
        return TrainingState(settings: settings, epochsDone: epochs, step: step,
                             loaderRandom: try random(file.metadata["loader_random"], source: path),
                             dropoutRandom: try random(file.metadata["dropout_random"], source: path), file: file)
    }

    /// Puts the saved weights, optimiser buffers and positions back into a freshly built run.
    func restore(into trainer: Trainer, loader: BatchLoader, source: String) throws {
        let modelTensors = file.tensors.filter { $0.name.hasPrefix("model.") }.map {
            NamedTensor(name: String($0.name.dropFirst(6)), shape: $0.shape, values: $0.floats())
        }
        try trainer.model.load(stateDict: modelTensors, source: source)
        for (name, tensor) in trainer.optimizer.state {
            guard let saved = file["optimizer." + name], saved.elementCount == tensor.count else {
                throw ModelError("\(source): optimizer state \"\(name)\" is missing or has the wrong size")
            }
            tensor.copy(from: saved.floats())
        }
        trainer.restorePosition(step: step, epochsDone: epochsDone, dropoutRandom: dropoutRandom)
        loader.random = loaderRandom
    }
}
