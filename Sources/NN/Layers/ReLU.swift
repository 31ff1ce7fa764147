import Kernels

/// The rectifier, as PyTorch's `nn.ReLU`: y = max(0, x), any shape.
/// Backward: ∂L/∂x = ∂L/∂y where the output was positive, 0 elsewhere (we read the sign from the
/// cached output, which is positive exactly where the input was).
public final class ReLU: Layer {
    private let output = Tensor(shape: [0])

    public init() {}
    public var description: String { "ReLU()" }
    public var spec: LayerSpec? { LayerSpec(type: "ReLU") }
    public func copy() -> Layer { ReLU() }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        output.reshape(input.shape)
        let x = input.data, y = output.data
        parallelFor(input.count, threads: context.threads, minimumPerThread: 1 << 16) { _, range in
            for i in range { y[i] = max(x[i], 0) }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(output.shape, besides: outputGradient)
        let y = output.data, g = outputGradient.data, dx = inputGradient.data
        parallelFor(output.count, threads: context.threads, minimumPerThread: 1 << 16) { _, range in
            for i in range { dx[i] = y[i] > 0 ? g[i] : 0 }
        }
        return inputGradient
    }
}

