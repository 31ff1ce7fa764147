import Formats
import NN

/// Model weights in the safetensors format, named as the PyTorch twin's `state_dict()` so that
/// `model.load_state_dict(safetensors.torch.load_file(path))` works on the Python side.
public enum Checkpoint {
    public static func file(for model: Model, metadata: [String: String] = [:]) -> SafetensorsFile {
        let tensors = model.stateDict().map { entry -> SafetensorsFile.Tensor in
            entry.isInteger
                ? SafetensorsFile.Tensor(name: entry.name, shape: entry.shape, integers: entry.values.map { Int64($0) })
                : SafetensorsFile.Tensor(name: entry.name, shape: entry.shape, floats: entry.values)
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata.merging(["model": model.name]) { a, _ in a })
    }

    public static func save(_ model: Model, to path: String, metadata: [String: String] = [:]) throws {
        try file(for: model, metadata: metadata).write(to: path)
    }

    /// Loads weights into `model`, checking every name, shape and value; `source` names the file in errors.
    public static func load(_ model: Model, from file: SafetensorsFile, source: String) throws {
        let entries = file.tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: $0.floats()) }
        try model.load(stateDict: entries, source: source)
    }
}
