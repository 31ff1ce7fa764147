import Formats

/// A model's weights and running statistics as named tensors, the way PyTorch's `state_dict()`
/// lists them: parameters and buffers interleaved in module order. This is what checkpoints hold.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    /// True for integer-valued buffers PyTorch keeps as int64 (`num_batches_tracked`).
    public var isInteger: Bool

    public init(name: String, shape: [Int], values: [Float], isInteger: Bool = false) {
        self.name = name; self.shape = shape; self.values = values; self.isInteger = isInteger
    }
}

extension Model {
    /// Where each state-dict entry lives in the model, in PyTorch's order.
    private var stateTensors: [(name: String, tensor: Tensor, isInteger: Bool)] {
        network.leaves.flatMap { leaf in
            leaf.layer.namedParameters.map { ("\(leaf.name).\($0.name)", $0.parameter.value, false) }
                + leaf.layer.namedBuffers.map { ("\(leaf.name).\($0.name)", $0.buffer.tensor, $0.buffer.isInteger) }
        }
    }

    /// Every parameter and buffer, named as the PyTorch twin's `state_dict()` names them.
    public func stateDict() -> [NamedTensor] {
        stateTensors.map { NamedTensor(name: $0.name, shape: $0.tensor.shape, values: $0.tensor.values, isInteger: $0.isInteger) }
    }

    /// Loads weights and statistics; every tensor of the model must be present with its shape.
    /// Throws a one-line error naming the first tensor that is missing, extra, the wrong shape or
    /// not finite.
    public func load(stateDict entries: [NamedTensor], source: String) throws {
        var byName: [String: NamedTensor] = [:]
        for entry in entries { byName[entry.name] = entry }
        let targets = stateTensors
        for (name, tensor, isInteger) in targets {
            guard let entry = byName[name] else {
                throw ModelError("\(source): no tensor \(quoted(name)) for model \(self.name) (is it a checkpoint of another model?)")
            }
            // A count may come as a scalar or as one number.
            let fits = isInteger ? entry.values.count == 1 && entry.shape.count <= 1 : entry.shape == tensor.shape
            guard fits && entry.values.count == tensor.count else {
                throw ModelError("\(source): tensor \"\(name)\" has shape \(entry.shape), model \(self.name) expects \(tensor.shape)")
            }
            guard entry.values.allSatisfy(\.isFinite) else {
                throw ModelError("\(source): tensor \"\(name)\" holds values that are not finite numbers (NaN or infinity)")
            }
            // A count (num_batches_tracked) is saved again as int64: it must be a whole number that Float holds exactly.
            if isInteger, let count = entry.values.first, !(count >= 0 && count <= 16_777_216 && count == count.rounded()) {
                throw ModelError("\(source): tensor \"\(name)\" is \(count), expected a whole number of batches from 0 to 16,777,216")
            }
            tensor.copy(from: entry.values)
        }
        let known = Set(targets.map(\.name))
        if let extra = entries.first(where: { !known.contains($0.name) }) {
            throw ModelError("\(source): tensor \(quoted(extra.name)) is not part of model \(self.name)")
        }
    }
}
