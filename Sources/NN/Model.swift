import Kernels

/// A network ready to train: its layers, the shape of one input image, and its parameters in the
/// order and with the names of its PyTorch twin.
public final class Model {
    public let name: String
    public let inputShape: [Int]
    public let network: Sequential
    public let outputShape: [Int]

    /// Checks every layer's shapes against the input before any data flows.
    public init(name: String, inputShape: [Int] = [1, 28, 28], network: Sequential) throws {
        self.name = name
        self.inputShape = inputShape
        self.network = network
        self.outputShape = try network.outputShape(for: inputShape)
    }

    public var parameters: [(name: String, parameter: Parameter)] { network.namedParameters }
    public var buffers: [(name: String, tensor: Tensor)] { network.namedBuffers }
    public var parameterCount: Int { network.parameterCount }

    /// Log-probabilities (N, classes) for a batch of images (N, C, H, W).
    public func forward(_ images: Tensor, context: Context) -> Tensor {
        network.forward(images, context: context)
    }

    /// Back-propagates ∂L/∂output through every layer, accumulating parameter gradients.
    public func backward(_ outputGradient: Tensor) {
        _ = network.backward(outputGradient, needsInputGradient: false)
    }

    public func zeroGradients() {
        for (_, parameter) in parameters { parameter.gradient.fill(0) }
    }

    /// PyTorch's default initialisation, drawn from a seeded generator: Conv2d and Linear weights
    /// and biases uniform in ±1/√fan_in (kaiming_uniform with a = √5), BatchNorm γ = 1, β = 0.
    public func initialize(seed: UInt64) {
        var random = Random(seed: seed)
        for (_, layer) in network.leaves {
            switch layer {
            case let conv as Conv2d:
                let bound = 1 / Float(conv.inChannels * conv.kernelSize * conv.kernelSize).squareRoot()
                for p in [conv.weight] + (conv.bias.map { [$0] } ?? []) {
                    for i in 0..<p.count { p.value[i] = random.uniform(-bound, bound) }
                }
            case let linear as Linear:
                let bound = 1 / Float(linear.inFeatures).squareRoot()
                for p in [linear.weight] + (linear.bias.map { [$0] } ?? []) {
                    for i in 0..<p.count { p.value[i] = random.uniform(-bound, bound) }
                }
            case let norm as BatchNorm2d:
                norm.weight.value.fill(1)
                norm.bias.value.fill(0)
                norm.runningMean.fill(0)
                norm.runningVariance.fill(1)
                norm.batchesTracked.fill(0)
            default:
                break
            }
        }
    }
}
