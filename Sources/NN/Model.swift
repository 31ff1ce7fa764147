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
    public var buffers: [(name: String, buffer: Buffer)] { network.namedBuffers }
    public var parameterCount: Int { network.parameterCount }

    /// Log-probabilities (N, classes) for a batch of images (N, C, H, W).
    public func forward(_ images: Tensor, context: Context) -> Tensor {
        network.forward(images, context: context)
    }

    /// Back-propagates ∂L/∂output through every layer, accumulating parameter gradients.
    public func backward(_ outputGradient: Tensor, context: Context) {
        _ = network.backward(outputGradient, context: context, needsInputGradient: false)
    }

    public func zeroGradients() {
        for (_, parameter) in parameters { parameter.gradient.fill(0) }
    }

    /// PyTorch's default initialisation, layer by layer in order, drawn from one seeded generator
    /// (see each layer's `initialize`).
    public func initialize(seed: UInt64) {
        var random = Random(seed: seed)
        network.initialize(using: &random)
    }

    /// Frees every convolution's planned kernels (their scratch); the next pass plans them again.
    /// For a model that pauses while copies of it evaluate, so that their memory does not add to its.
    public func releaseKernels() {
        for leaf in network.leaves { (leaf.layer as? Conv2d)?.releaseKernels() }
    }

    /// Another model of the same layers with its own buffers and the same weights and statistics
    /// (the evaluator runs one per thread).
    public func copy() -> Model {
        try! Model(name: name, inputShape: inputShape, network: network.copy() as! Sequential)
    }
}
