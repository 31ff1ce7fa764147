import Kernels

/// What a forward pass needs besides its input: whether we are training (Dropout active,
/// BatchNorm on batch statistics) or evaluating, and the random generator Dropout draws from.
public final class Context {
    public var training: Bool
    public var random: Random
    public init(training: Bool, seed: UInt64 = 0) {
        self.training = training
        self.random = Random(seed: seed)
    }
}

/// One layer of a network: its forward pass, its backward pass and its parameters.
///
/// The contract every layer keeps:
/// - `forward` reads the input (batch first) and returns an output tensor the layer owns; it may
///   keep a reference to the input, which stays untouched until the next forward.
/// - `backward` takes ∂L/∂output for the same batch, ADDS ∂L/∂parameter into each parameter's
///   gradient, and returns ∂L/∂input in a tensor the layer owns (or nil when
///   `needsInputGradient` is false, as for a network's first layer, which has no one to pass it to).
public protocol Layer: AnyObject {
    /// The PyTorch twin's module as Python would print it, e.g. `Conv2d(1, 8, kernel_size=3, bias=False)`.
    var description: String { get }
    /// The output shape of one example (no batch dimension) for an input of `inputShape`.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    func forward(_ input: Tensor, context: Context) -> Tensor
    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor?
    /// Parameters with their PyTorch names within this layer ("weight", "bias", or nested "0.weight").
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// Non-trainable state saved in checkpoints (BatchNorm's running statistics).
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
    /// How the layer moves a receptive field for an input of `inputShape`: window size and stride
    /// over the spatial dimensions (nil for layers that do not look at neighbours).
    func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)?
    /// Multiply-adds for one example of `inputShape`.
    func multiplyAdds(for inputShape: [Int]) -> Int
}

public extension Layer {
    var namedParameters: [(name: String, parameter: Parameter)] { [] }
    var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { nil }
    func multiplyAdds(for inputShape: [Int]) -> Int { 0 }
    var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.parameter.count } }
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
