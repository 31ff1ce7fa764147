import Kernels

/// What a forward or backward pass needs besides its input: whether we are training (Dropout
/// active, BatchNorm on batch statistics) or evaluating, the random generator Dropout draws from,
/// and how many threads the layers may spread their work over.
public final class Context {
    public var training: Bool
    /// Whether a backward pass will follow the forward pass (always when training). Evaluation
    /// without one lets a layer keep nothing for it: `ConvBlock` then folds BatchNorm into its
    /// convolution (or, ReLU first, maps the convolution's output in place). Set it to evaluate gradients with fixed statistics (what pixels pushed an answer).
    public var needsBackward: Bool
    public var random: Random
    public let threads: Int
    /// Where backward passes write ∂L/∂input (see `GradientBuffers`).
    public let gradients = GradientBuffers()

    public init(training: Bool, needsBackward: Bool? = nil, seed: UInt64 = 0, threads: Int = Threads.available) {
        self.training = training
        self.needsBackward = needsBackward ?? training
        self.random = Random(seed: seed)
        self.threads = max(1, min(threads, Threads.maximum))
    }
}

/// The two tensors backward passes write their input gradients into, in turn. Going back through
/// a chain of layers, only two gradients are needed at once: the one a layer reads (∂L/∂output)
/// and the one it writes (∂L/∂input). So instead of a buffer per layer, each layer writes into
/// whichever of two tensors does not hold what it reads, and each tensor grows to the largest
/// gradient written into it (s6 at batch 128, by its shapes: 10.1 MB instead of 14.1 MB).
public final class GradientBuffers {
    private let first = Tensor(shape: [0]), second = Tensor(shape: [0])

    public init() {}

    /// A tensor of `shape` for a layer's ∂L/∂input: not the one holding `outputGradient` (nor the
    /// one it is a view of: a flattened gradient is a view). Its values are left from earlier passes.
    public func inputGradient(_ shape: [Int], besides outputGradient: Tensor) -> Tensor {
        let start = outputGradient.data
        let buffer = start >= first.data && start < first.data + first.capacity ? second : first
        buffer.reshape(shape)
        return buffer
    }
}

/// One layer of a network: its forward pass, its backward pass and its parameters.
///
/// The contract every layer keeps:
/// - `forward` reads the input (batch first) and returns an output tensor the layer owns; it may
///   keep a reference to the input, which stays untouched until the next forward.
/// - `backward` takes ∂L/∂output for the same batch, ADDS ∂L/∂parameter into each parameter's
///   gradient, and returns ∂L/∂input in one of the context's `gradients` (or nil when
///   `needsInputGradient` is false, as for a network's first layer, which has no one to pass it to):
///   it holds while the layer before reads it; the layer before that may write over it.
///   It follows one forward pass and may use up what that pass kept (`ConvBlock` writes its
///   gradient over the convolution's output): a second backward needs a second forward.
///
/// Most layers are one PyTorch module each (`Conv2d`, `BatchNorm2d`, ...) and describe themselves
/// as one (`spec`, parameters, buffers, initialisation). A layer made of others lists them as
/// `parts`, named as PyTorch names them, and everything a checkpoint, the summary or the PyTorch
/// twin needs comes from those: `ConvBlock` (Conv2d, BatchNorm2d and ReLU in either order, and
/// Dropout, run as one) and `Sequential`.
///
/// To add a layer: one file in Layers/ with the math above it (forward and backward), its
/// PyTorch `spec`, `initialize` if it has parameters, `copy`; then its case in the PyTorch twin
/// (`make_layer` in scripts/torch_twin.py), which builds the same module from the spec.
public protocol Layer: AnyObject {
    /// The layer as PyTorch would print it, e.g. `Conv2d(1, 8, kernel_size=3, bias=False)`.
    var description: String { get }
    /// The output shape of one example (no batch dimension) for an input of `inputShape`, or a
    /// one-line error naming the layer and what it expected.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    func forward(_ input: Tensor, context: Context) -> Tensor
    func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor?
    /// The layers this one is made of, with their PyTorch names relative to it; empty for a layer
    /// that is one PyTorch module itself.
    var parts: [(name: String, layer: Layer)] { get }
    /// Trainable tensors with their PyTorch names within this layer ("weight", "bias", "1.weight").
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// Non-trainable state that checkpoints keep (BatchNorm's running statistics).
    var namedBuffers: [(name: String, buffer: Buffer)] { get }
    /// How the layer moves a receptive field for an input of `inputShape`: window size and stride
    /// over the spatial dimensions (nil for layers that do not look at neighbours).
    func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)?
    /// Multiply-adds of the forward pass for one example of `inputShape`.
    func multiplyAdds(for inputShape: [Int]) -> Int
    /// PyTorch's default initialisation of the parameters and buffers, drawn from `random`.
    func initialize(using random: inout Random)
    /// The PyTorch module this layer is (nil for a layer made of parts).
    var spec: LayerSpec? { get }
    /// A layer of the same kind and size with buffers of its own and a copy of the parameters and buffers.
    func copy() -> Layer
}

public extension Layer {
    var parts: [(name: String, layer: Layer)] { [] }
    var namedParameters: [(name: String, parameter: Parameter)] {
        parts.flatMap { part in part.layer.namedParameters.map { (part.name + "." + $0.name, $0.parameter) } }
    }
    var namedBuffers: [(name: String, buffer: Buffer)] {
        parts.flatMap { part in part.layer.namedBuffers.map { (part.name + "." + $0.name, $0.buffer) } }
    }
    func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { nil }
    func multiplyAdds(for inputShape: [Int]) -> Int { 0 }
    func initialize(using random: inout Random) {
        for part in parts { part.layer.initialize(using: &random) }
    }
    var spec: LayerSpec? { nil }

    var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.parameter.count } }

    /// Overwrites this layer's parameters and buffers with those of `other`, a layer of the same
    /// kind and size (for `copy()`, and for the evaluator's per-thread copies).
    func copyValues(from other: Layer) {
        for (mine, theirs) in zip(namedParameters, other.namedParameters) { mine.parameter.value.copy(from: theirs.parameter.value) }
        for (mine, theirs) in zip(namedBuffers, other.namedBuffers) { mine.buffer.tensor.copy(from: theirs.buffer.tensor) }
    }

    /// Every PyTorch module inside, in order, with its dotted name ("convblock1.0"); a layer that
    /// is one module itself is its only leaf, named "".
    var leaves: [(name: String, layer: Layer)] {
        if parts.isEmpty { return [("", self)] }
        return parts.flatMap { part in
            part.layer.leaves.map { (leaf: (name: String, layer: Layer)) in
                (leaf.name.isEmpty ? part.name : part.name + "." + leaf.name, leaf.layer)
            }
        }
    }
}

/// PyTorch's default for the weights and biases of Conv2d and Linear: uniform in ±1/√fan_in
/// (kaiming_uniform with a = √5, which comes to the same bound for both).
func initializeUniformly(_ parameters: [Parameter], fanIn: Int, using random: inout Random) {
    let bound = 1 / Float(fanIn).squareRoot()
    for p in parameters {
        for i in 0..<p.count { p.value[i] = random.uniform(-bound, bound) }
    }
}

/// A mistake in how a model is put together, found before any data flows.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Checks that an input has the rank and channel count a layer expects.
func expectImage(_ shape: [Int], channels: Int?, _ layer: String) throws -> (c: Int, h: Int, w: Int) {
    guard shape.count == 3 else {
        throw ModelError("\(layer) expects images (channels, height, width), got shape \(shape)")
    }
    if let channels, shape[0] != channels {
        throw ModelError("\(layer) expects \(channels) input channels, got \(shape[0])")
    }
    return (shape[0], shape[1], shape[2])
}

/// The output shape of a k×k pooling with stride k (floor mode), or an error naming the layer.
func pooledShape(_ shape: [Int], kernelSize: Int, _ layer: String) throws -> [Int] {
    let (c, h, w) = try expectImage(shape, channels: nil, layer)
    guard h >= kernelSize && w >= kernelSize else {
        throw ModelError("\(layer) needs images of at least \(kernelSize) pixels, got \(h)×\(w)")
    }
    return [c, h / kernelSize, w / kernelSize]
}
