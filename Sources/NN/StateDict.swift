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
    /// Every parameter and buffer, named as the PyTorch twin's `state_dict()` names them.
    public func stateDict() -> [NamedTensor] {
        var entries: [NamedTensor] = []
        for (name, layer) in network.leaves {
            for (local, parameter) in layer.namedParameters {
                entries.append(NamedTensor(name: "\(name).\(local)", shape: parameter.value.shape, values: parameter.value.values))
            }
            for (local, tensor) in layer.namedBuffers {
                let shape = local == "num_batches_tracked" ? [] : tensor.shape
                entries.append(NamedTensor(name: "\(name).\(local)", shape: shape, values: tensor.values,
                                           isInteger: local == "num_batches_tracked"))
            }
        }
        return entries
    }

    /// Loads weights and statistics; every tensor of the model must be present with its shape.
    /// Throws a one-line error naming the first tensor that is missing, extra or the wrong shape.
    public func load(stateDict entries: [NamedTensor], source: String) throws {
        var byName: [String: NamedTensor] = [:]
        for entry in entries { byName[entry.name] = entry }
        var targets: [(String, Tensor, Bool)] = []
        for (name, layer) in network.leaves {
            for (local, parameter) in layer.namedParameters { targets.append(("\(name).\(local)", parameter.value, false)) }
            for (local, tensor) in layer.namedBuffers { targets.append(("\(name).\(local)", tensor, local == "num_batches_tracked")) }
        }
        for (name, tensor, isScalar) in targets {
            guard let entry = byName[name] else {
                throw ModelError("\(source): no tensor \"\(name)\" for model \(self.name) (is it a checkpoint of another model?)")
            }
            let expected = isScalar ? [] : tensor.shape
            let fits = isScalar ? entry.values.count == 1 : entry.shape == expected
            guard fits else {
                throw ModelError("\(source): tensor \"\(name)\" has shape \(entry.shape), model \(self.name) expects \(expected)")
            }
            tensor.copy(from: entry.values)
        }
        let known = Set(targets.map(\.0))
        if let extra = entries.first(where: { !known.contains($0.name) }) {
            throw ModelError("\(source): tensor \"\(extra.name)\" is not part of model \(self.name)")
        }
    }
}
