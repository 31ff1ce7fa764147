import Foundation

/// The logistic sigmoid, as PyTorch's `nn.Sigmoid`: y = 1/(1 + e^(−x)), any shape.
/// Backward: ∂L/∂x = ∂L/∂y · y·(1 − y), the factor the course writes as a_h·(1 − a_h).
public final class Sigmoid: Layer {
    private let output = Tensor(shape: [0])

    public init() {}
    public var description: String { "Sigmoid()" }
    public var spec: LayerSpec? { LayerSpec(type: "Sigmoid") }
    public func copy() -> Layer { Sigmoid() }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        output.reshape(input.shape)
        for i in 0..<input.count { output[i] = 1 / (1 + expf(-input[i])) }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(output.shape, besides: outputGradient)
        for i in 0..<output.count { inputGradient[i] = outputGradient[i] * output[i] * (1 - output[i]) }
        return inputGradient
    }
}
