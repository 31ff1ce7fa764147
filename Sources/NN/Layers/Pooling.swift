/// Average pooling over k×k windows with stride k (PyTorch's `nn.AvgPool2d(k)`, floor mode).
/// Shapes: (N, C, H, W) → (N, C, ⌊H/k⌋, ⌊W/k⌋).  y = (1/k²)·Σ_window x;  ∂L/∂x = ∂L/∂y / k² for
/// each input in the window (inputs in no window get 0).
public final class AvgPool2d: Layer {
    public let kernelSize: Int
    private let output = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init(_ kernelSize: Int) {
        precondition(kernelSize > 0)
        self.kernelSize = kernelSize
    }

    public var description: String { "AvgPool2d(kernel_size=\(kernelSize), stride=\(kernelSize))" }
    public var spec: LayerSpec? { LayerSpec(type: "AvgPool2d", kernelSize: kernelSize) }
    public func copy() -> Layer { AvgPool2d(kernelSize) }
    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (kernelSize, kernelSize) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try pooledShape(inputShape, kernelSize: kernelSize, description)
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        inputShape = input.shape
        let planes = input.shape[0] * input.shape[1], h = input.shape[2], w = input.shape[3]
        let k = kernelSize, oh = h / k, ow = w / k
        output.reshape([input.shape[0], input.shape[1], oh, ow])
        let scale = 1 / Float(k * k)
        for p in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Float = 0
                    for i in 0..<k { for j in 0..<k { sum += input[(p * h + oy * k + i) * w + ox * k + j] } }
                    output[(p * oh + oy) * ow + ox] = sum * scale
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(inputShape, besides: outputGradient)
        inputGradient.fill(0)
        let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3]
        let k = kernelSize, oh = h / k, ow = w / k
        let scale = 1 / Float(k * k)
        for p in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = outputGradient[(p * oh + oy) * ow + ox] * scale
                    for i in 0..<k { for j in 0..<k { inputGradient[(p * h + oy * k + i) * w + ox * k + j] = g } }
                }
            }
        }
        return inputGradient
    }
}

/// Global average pooling: each channel's mean over the whole image, PyTorch's
/// `nn.AdaptiveAvgPool2d(1)`. Shapes: (N, C, H, W) → (N, C, 1, 1).
/// y[n,c] = (1/HW)·Σ x[n,c,·,·];  ∂L/∂x[n,c,·,·] = ∂L/∂y[n,c] / HW.
public final class GlobalAvgPool2d: Layer {
    private let output = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init() {}
    public var description: String { "AdaptiveAvgPool2d(output_size=1)" }
    public var spec: LayerSpec? { LayerSpec(type: "AdaptiveAvgPool2d") }
    public func copy() -> Layer { GlobalAvgPool2d() }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let (c, _, _) = try expectImage(inputShape, channels: nil, description)
        return [c, 1, 1]
    }

    /// One window covering the whole remaining image.
    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? {
        inputShape.count == 3 ? (inputShape[1], inputShape[1]) : nil
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        inputShape = input.shape
        let planes = input.shape[0] * input.shape[1], area = input.shape[2] * input.shape[3]
        output.reshape([input.shape[0], input.shape[1], 1, 1])
        let scale = 1 / Float(area)
        for p in 0..<planes {
            var sum: Float = 0
            let plane = input.data + p * area
            for i in 0..<area { sum += plane[i] }
            output[p] = sum * scale
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(inputShape, besides: outputGradient)
        let planes = inputShape[0] * inputShape[1], area = inputShape[2] * inputShape[3]
        let scale = 1 / Float(area)
        for p in 0..<planes {
            let g = outputGradient[p] * scale
            (inputGradient.data + p * area).update(repeating: g, count: area)
        }
        return inputGradient
    }
}

/// Flattens each example to a vector, as `x.view(N, -1)` or `nn.Flatten()`: (N, C, H, W) → (N, C·H·W).
/// It copies nothing: the output is a view of the input, and the gradient a view of ∂L/∂y.
public final class Flatten: Layer {
    private var inputShape: [Int] = []
    public init() {}
    public var description: String { "Flatten()" }
    public var spec: LayerSpec? { LayerSpec(type: "Flatten") }
    public func copy() -> Layer { Flatten() }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }
    /// The vector holds the whole map, so whatever reads it (a Linear) sees every position, as
    /// after global pooling.
    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? {
        inputShape.count == 3 ? (max(inputShape[1], inputShape[2]), max(inputShape[1], inputShape[2])) : nil
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        inputShape = input.shape
        return Tensor(viewing: input, shape: [input.batch, input.perExample])
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        needsInputGradient ? Tensor(viewing: outputGradient, shape: inputShape) : nil
    }
}
