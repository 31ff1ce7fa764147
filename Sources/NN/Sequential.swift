/// Layers run one after another, as PyTorch's `nn.Sequential`. Children are named "0", "1", ...
/// or by the names given, and their parameters are named with those prefixes ("convblock1.0.weight"),
/// so checkpoints line up with the PyTorch twin's `state_dict()`.
public final class Sequential: Layer {
    public let children: [(name: String, layer: Layer)]
    /// The children as they run, with BatchNorm → ReLU → Dropout fused (`executionPlan`).
    let plan: [Layer]

    /// Children with the given names, in order.
    public init(namedChildren: [(name: String, layer: Layer)]) {
        children = namedChildren
        plan = Sequential.executionPlan(namedChildren.map(\.layer))
    }

    /// Children named by position: "0", "1", ...
    public convenience init(_ layers: [Layer]) {
        self.init(namedChildren: layers.enumerated().map { (String($0.offset), $0.element) })
    }

    /// Children named by position: "0", "1", ...
    public convenience init(_ layers: Layer...) {
        self.init(layers)
    }

    /// Children with names, in order: `Sequential(["convblock1": ..., "gap": ...])`.
    public convenience init(_ named: KeyValuePairs<String, Layer>) {
        self.init(namedChildren: named.map { ($0.key, $0.value) })
    }

    public var description: String {
        "Sequential(\n" + children.map { "  (\($0.name)): " + $0.layer.description.replacingOccurrences(of: "\n", with: "\n  ") }
            .joined(separator: "\n") + "\n)"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try children.reduce(inputShape) { try $1.layer.outputShape(for: $0) }
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        plan.reduce(input) { $1.forward($0, context: context) }
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        var gradient = outputGradient
        for (index, step) in plan.enumerated().reversed() {
            let needed = index > 0 || needsInputGradient
            guard let next = step.backward(gradient, needsInputGradient: needed) else { return nil }
            gradient = next
        }
        return gradient
    }

    /// What runs, in order, innermost first: every leaf layer, except that fused BatchNorm → ReLU
    /// → Dropout groups are one step, named after their first and last layers ("convblock1.1–3").
    public var executionSteps: [(name: String, layer: Layer)] {
        var steps: [(name: String, layer: Layer)] = []
        var childIndex = 0
        for step in plan {
            let name = children[childIndex].name
            if let inner = step as? Sequential {
                steps += inner.executionSteps.map { ("\(name).\($0.name)", $0.layer) }
                childIndex += 1
            } else if let block = step as? ConvolutionBlock {
                let fused = block.normalization
                let first = children[childIndex + 1].name, last = children[childIndex + fused.layers.count].name
                steps.append((name, block.convolution))
                steps.append(("\(first)–\(last)", fused))
                childIndex += 1 + fused.layers.count
            } else if let fused = step as? FusedNormalization {
                let last = children[childIndex + fused.layers.count - 1].name
                steps.append(("\(name)–\(last)", fused))
                childIndex += fused.layers.count
            } else {
                steps.append((name, step))
                childIndex += 1
            }
        }
        return steps
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        children.flatMap { child in child.layer.namedParameters.map { ("\(child.name).\($0.name)", $0.parameter) } }
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        children.flatMap { child in child.layer.namedBuffers.map { ("\(child.name).\($0.name)", $0.tensor) } }
    }

    /// Every non-container layer in order, with its dotted name ("convblock1.0").
    public var leaves: [(name: String, layer: Layer)] {
        children.flatMap { child -> [(name: String, layer: Layer)] in
            if let inner = child.layer as? Sequential {
                return inner.leaves.map { ("\(child.name).\($0.name)", $0.layer) }
            }
            return [(child.name, child.layer)]
        }
    }
}
