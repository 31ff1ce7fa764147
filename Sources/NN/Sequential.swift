/// Layers run one after another, as PyTorch's `nn.Sequential`, children named "0", "1", ... by
/// position or by the names given. Their parameters are named with those prefixes
/// ("convblock1.0.weight"), so checkpoints line up with the PyTorch twin's `state_dict()`.
///
/// PyTorch numbers the modules of a Sequential one by one. A `ConvBlock` stands for three or
/// four of them (Conv2d, BatchNorm2d, ReLU, Dropout, or Conv2d, ReLU, BatchNorm2d, Dropout), so it
/// takes as many numbers: in
/// `Sequential(MaxPool2d(2), ConvBlock(20, 12, kernelSize: 1))` the pool is "0" and the block's
/// parts are "1", "2", "3"; given a name, say "transition", they would be "transition.0" … "transition.2".
/// A Sequential inside a Sequential is one module, with its own numbering.
public final class Sequential: Layer {
    /// The layers in the order they run, each with the name of the step (a block's is the range
    /// of its parts, "4–7").
    public let children: [(name: String, layer: Layer)]
    public let parts: [(name: String, layer: Layer)]
    /// The names each child was given (one, or one per part; nil: numbered by position), for `copy` and model files.
    let entryNames: [[String?]]

    /// Children with the given names, in order (nil: numbered by position).
    convenience init(layers: [(name: String?, layer: Layer)]) {
        self.init(entries: layers.map { ([$0.name], $0.layer) })
    }

    /// Children in order, each with one name (nil: numbered by position) or — for a layer made
    /// of parts, such as a `ConvBlock` standing for `self.conv1`, `self.bn1` and an `F.relu` of a
    /// PyTorch class — one name for each part, its parts then sitting in this Sequential directly.
    init(entries: [(names: [String?], layer: Layer)]) {
        var children: [(name: String, layer: Layer)] = []
        var parts: [(name: String, layer: Layer)] = []
        var position = 0
        func nextPosition() -> String { defer { position += 1 }; return String(position) }
        for (names, layer) in entries {
            if layer is Sequential || layer.parts.isEmpty {
                let partName = names[0] ?? nextPosition()
                children.append((partName, layer))
                parts.append((partName, layer))
                continue
            }
            let count = layer.parts.count
            if names.count == count {
                let partNames = names.map { $0 ?? nextPosition() }
                children.append(("\(partNames[0])–\(partNames[count - 1])", layer))
                parts += zip(partNames, layer.parts).map { ($0, $1.layer) }
            } else if let name = names[0] {
                children.append(("\(name).0–\(count - 1)", layer))
                parts += layer.parts.map { ("\(name).\($0.name)", $0.layer) }
            } else {
                children.append(("\(position)–\(position + count - 1)", layer))
                parts += layer.parts.enumerated().map { (String(position + $0.offset), $0.element.layer) }
                position += count
            }
        }
        self.children = children
        self.parts = parts
        self.entryNames = entries.map(\.names)
    }

    /// Children numbered by position: "0", "1", ...
    public convenience init(_ layers: [Layer]) {
        self.init(layers: layers.map { (nil, $0) })
    }

    /// Children numbered by position: "0", "1", ...
    public convenience init(_ layers: Layer...) {
        self.init(layers)
    }

    /// Children with names, in order: `Sequential(["convblock1": ..., "gap": ...])`.
    public convenience init(_ named: KeyValuePairs<String, Layer>) {
        self.init(layers: named.map { ($0.key, $0.value) })
    }

    public var description: String {
        "Sequential(\n" + children.map { "  (\($0.name)): " + $0.layer.description.replacingOccurrences(of: "\n", with: "\n  ") }
            .joined(separator: "\n") + "\n)"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try children.reduce(inputShape) { try $1.layer.outputShape(for: $0) }
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        children.reduce(input) { $1.layer.forward($0, context: context) }
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        var gradient = outputGradient
        for (index, child) in children.enumerated().reversed() {
            let needed = index > 0 || needsInputGradient
            guard let next = child.layer.backward(gradient, context: context, needsInputGradient: needed) else { return nil }
            gradient = next
        }
        return gradient
    }

    public func copy() -> Layer {
        Sequential(entries: zip(entryNames, children).map { ($0, $1.layer.copy()) })
    }

    /// What runs, in order, innermost first, with dotted names: every layer that is not a
    /// Sequential ("convblock1.0–3" for a block).
    public var steps: [(name: String, layer: Layer)] {
        children.flatMap { child -> [(name: String, layer: Layer)] in
            guard let inner = child.layer as? Sequential else { return [child] }
            return inner.steps.map { ("\(child.name).\($0.name)", $0.layer) }
        }
    }
}
