import Foundation

/// One PyTorch module as plain data: its class and arguments. A layer gives its own (`Layer.spec`);
/// a model lists them under their dotted names (`Model.architecture`), so that an independent
/// implementation — the PyTorch twin in scripts/torch_twin.py — builds the very same network with
/// the same parameter names.
public struct LayerSpec: Codable, Equatable, Sendable {
    /// Dotted path within the model, e.g. "convblock1.0" (empty until the model names it).
    public var name: String
    /// PyTorch's class name: Conv2d, BatchNorm2d, ReLU, Sigmoid, MaxPool2d, AvgPool2d,
    /// AdaptiveAvgPool2d, Dropout, Dropout2d, Linear, Flatten, LogSoftmax.
    public var type: String
    public var inChannels: Int?
    public var outChannels: Int?
    public var kernelSize: Int?
    public var stride: Int?
    public var padding: Int?
    public var dilation: Int?
    /// Conv2d's groups, when more than one.
    public var groups: Int?
    public var bias: Bool?
    public var probability: Float?
    /// BatchNorm2d's eps and momentum, when not PyTorch's defaults (1e-5, 0.1).
    public var epsilon: Float?
    public var momentum: Float?

    public init(name: String = "", type: String, inChannels: Int? = nil, outChannels: Int? = nil,
                kernelSize: Int? = nil, stride: Int? = nil, padding: Int? = nil, dilation: Int? = nil,
                groups: Int? = nil, bias: Bool? = nil, probability: Float? = nil, epsilon: Float? = nil, momentum: Float? = nil) {
        self.name = name; self.type = type; self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding; self.dilation = dilation
        self.groups = groups; self.bias = bias; self.probability = probability
        self.epsilon = epsilon; self.momentum = momentum
    }
}

/// A whole model as plain data: what `backprop summary --json` prints.
public struct ArchitectureSpec: Codable, Equatable, Sendable {
    public var name: String
    public var inputShape: [Int]
    public var parameterCount: Int
    public var layers: [LayerSpec]
}

extension Model {
    public var architecture: ArchitectureSpec {
        let layers = network.leaves.map { leaf -> LayerSpec in
            guard var spec = leaf.layer.spec else { preconditionFailure("\(leaf.layer.description) has neither a spec nor parts") }
            spec.name = leaf.name
            return spec
        }
        return ArchitectureSpec(name: name, inputShape: inputShape, parameterCount: parameterCount, layers: layers)
    }

    public func architectureJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(architecture), as: UTF8.self)
    }
}
