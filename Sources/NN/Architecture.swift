import Foundation

/// A model's layers as plain data (JSON), so an independent implementation — the PyTorch twin in
/// `scripts/torch_twin.py` — can build the very same network with the same parameter names.
public struct LayerSpec: Codable, Equatable, Sendable {
    /// Dotted path, e.g. "convblock1.0".
    public var name: String
    /// PyTorch's class name: Conv2d, BatchNorm2d, ReLU, Sigmoid, MaxPool2d, AvgPool2d,
    /// AdaptiveAvgPool2d, Dropout, Dropout2d, Linear, Flatten, LogSoftmax.
    public var type: String
    public var inChannels: Int?
    public var outChannels: Int?
    public var kernelSize: Int?
    public var padding: Int?
    public var bias: Bool?
    public var probability: Float?
}

public struct ArchitectureSpec: Codable, Equatable, Sendable {
    public var name: String
    public var inputShape: [Int]
    public var parameterCount: Int
    public var layers: [LayerSpec]
}

extension Model {
    public var architecture: ArchitectureSpec {
        let layers = network.leaves.map { name, layer -> LayerSpec in
            var spec = LayerSpec(name: name, type: "")
            switch layer {
            case let conv as Conv2d:
                spec.type = "Conv2d"; spec.inChannels = conv.inChannels; spec.outChannels = conv.outChannels
                spec.kernelSize = conv.kernelSize; spec.padding = conv.padding; spec.bias = conv.bias != nil
            case let norm as BatchNorm2d:
                spec.type = "BatchNorm2d"; spec.outChannels = norm.channels
            case let linear as Linear:
                spec.type = "Linear"; spec.inChannels = linear.inFeatures; spec.outChannels = linear.outFeatures
                spec.bias = linear.bias != nil
            case let pool as MaxPool2d:
                spec.type = "MaxPool2d"; spec.kernelSize = pool.kernelSize
            case let pool as AvgPool2d:
                spec.type = "AvgPool2d"; spec.kernelSize = pool.kernelSize
            case is GlobalAvgPool2d: spec.type = "AdaptiveAvgPool2d"
            case let dropout as Dropout:
                spec.type = dropout.wholeChannels ? "Dropout2d" : "Dropout"; spec.probability = dropout.probability
            case is ReLU: spec.type = "ReLU"
            case is Sigmoid: spec.type = "Sigmoid"
            case is Flatten: spec.type = "Flatten"
            case is LogSoftmax: spec.type = "LogSoftmax"
            default: spec.type = String(describing: type(of: layer))
            }
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
