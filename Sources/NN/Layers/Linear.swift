import Kernels

/// A fully connected layer, as PyTorch's `nn.Linear(in, out)`.
/// Shapes: input (N, in) → output (N, out); weight (out, in); bias (out).
/// Forward:  y[n,o] = b[o] + Σ_i w[o,i]·x[n,i]
/// Backward: ∂L/∂w[o,i] = Σ_n ∂L/∂y[n,o]·x[n,i],  ∂L/∂b[o] = Σ_n ∂L/∂y[n,o],
///           ∂L/∂x[n,i] = Σ_o w[o,i]·∂L/∂y[n,o].
/// The layers here are small (108×10 at most in the shipped models), so plain loops suffice.
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private let output = Tensor(shape: [0])
    private var input: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures])
        self.bias = bias ? Parameter(shape: [outFeatures]) : nil
    }

    public var description: String {
        "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True"))"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.reduce(1, *) == inFeatures, inputShape.count == 1 else {
            throw ModelError("\(description) expects \(inFeatures) features, got shape \(inputShape) (add Flatten() first?)")
        }
        return [outFeatures]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func multiplyAdds(for inputShape: [Int]) -> Int { inFeatures * outFeatures }

    public var spec: LayerSpec? {
        LayerSpec(type: "Linear", inChannels: inFeatures, outChannels: outFeatures, bias: bias != nil)
    }

    /// PyTorch's default: weights and bias uniform in ±1/√in.
    public func initialize(using random: inout Random) {
        initializeUniformly([weight] + (bias.map { [$0] } ?? []), fanIn: inFeatures, using: &random)
    }

    public func copy() -> Layer {
        let twin = Linear(inFeatures, outFeatures, bias: bias != nil)
        twin.copyValues(from: self)
        return twin
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        let n = input.batch
        output.reshape([n, outFeatures])
        let x = input.data, w = weight.value.data, y = output.data
        let b = bias?.value.data
        parallelFor(n, threads: context.threads, minimumPerThread: 32) { _, range in
            for s in range {
                for o in 0..<self.outFeatures {
                    var sum: Float = b?[o] ?? 0
                    for i in 0..<self.inFeatures { sum += w[o * self.inFeatures + i] * x[s * self.inFeatures + i] }
                    y[s * self.outFeatures + o] = sum
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward before forward") }
        let n = input.batch
        let x = input.data, g = outputGradient.data, dw = weight.gradient.data
        for s in 0..<n {
            for o in 0..<outFeatures {
                let go = g[s * outFeatures + o]
                bias?.gradient[o] += go
                for i in 0..<inFeatures { dw[o * inFeatures + i] += go * x[s * inFeatures + i] }
            }
        }
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(input.shape, besides: outputGradient)
        let w = weight.value.data, dx = inputGradient.data
        for s in 0..<n {
            for i in 0..<inFeatures {
                var sum: Float = 0
                for o in 0..<outFeatures { sum += w[o * inFeatures + i] * g[s * outFeatures + o] }
                dx[s * inFeatures + i] = sum
            }
        }
        return inputGradient
    }
}
