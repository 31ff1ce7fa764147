import Kernels

/// A convolution with its BatchNorm2d, ReLU and optional Dropout, run as one layer, in either of
/// the two orders learners write:
///   Conv2d → BatchNorm2d → ReLU (→ Dropout or Dropout2d): the course's block (`.batchNormThenReLU`);
///   Conv2d → ReLU → BatchNorm2d (→ Dropout or Dropout2d): the seed models' (`.reluThenBatchNorm`).
/// PyTorch sees its parts, three or four modules in a row of an `nn.Sequential`, named "0" … "3"
/// here and numbered on by the Sequential the block stands in; their parameters and running
/// statistics are the parts' own, so checkpoints are those of the layers.
///
/// Shapes: (N, Cin, H, W) → (N, Cout, H′, W′), as the convolution.
///
/// Forward, training:  z = conv(x), then
///     BatchNorm then ReLU:  y = max(0, γ·ẑ + β) · mask
///     ReLU then BatchNorm:  y = (γ·r̂ + β) · mask,  r = max(0, z)
///   (ẑ, r̂: normalised with the batch's statistics, as `BatchNorm2d`; mask ∈ {0, 1/(1 − p)}, as
///   `Dropout`). The convolution writes z; then one sweep over z computes the statistics (two
///   passes per channel) and one writes y: BatchNorm, ReLU and dropout cost one pass instead of
///   three, and neither r nor BatchNorm's output is stored.
/// Forward, evaluating: BatchNorm is a fixed affine map per channel, y = scale·v + shift with
///   scale = γ/√(running_var + ε),  shift = β − running_mean·scale   (dropout does nothing).
///   BatchNorm then ReLU: folded into the convolution, which writes
///     y = max(0, conv(x, w·scale) + bias·scale + shift) directly;
///   ReLU then BatchNorm: the convolution writes r = max(0, conv(x) + bias), and one pass maps it
///   in place.
///   (Unless the context says a backward pass will follow, then it runs as in training, with
///   fixed statistics.)
/// Backward, with g = ∂L/∂y, the gradient g′ reaching BatchNorm's output is
///   BatchNorm then ReLU:  g·k where y > 0 and 0 elsewhere, because y > 0 exactly where ReLU passed
///                         and dropout kept (k = 1/(1 − p), or 1): so neither ReLU's output nor
///                         the mask is stored;
///   ReLU then BatchNorm:  g·mask, the mask recomputed from its key (`DropoutMask`); and
///                         ∂L/∂z = ∂L/∂r where z > 0, 0 elsewhere.
///   BatchNorm's backward (see `BatchNorm2d`) runs on g′ as it is read, giving ∂L/∂γ, ∂L/∂β and
///   ∂L/∂z; then the convolution's backward gives ∂L/∂w and ∂L/∂x. ∂L/∂z is written over z itself
///   (each value is computed from z at the same place and z is not needed after it), which saves a
///   buffer the size of the block's output: so a forward pass serves one backward pass, not two.
///
/// The results equal the layers run one after another (the tests compare: bit for bit when
/// training, to rounding when folded).
public final class ConvBlock: Layer {
    /// Where the ReLU stands.
    public enum Order: Sendable {
        case batchNormThenReLU
        case reluThenBatchNorm
    }

    public let convolution: Conv2d
    public let normalization: BatchNorm2d
    public let rectifier = ReLU()
    public let dropout: Dropout?
    public let order: Order

    private let output = Tensor(shape: [0])
    private var convolutionOutput: Tensor?      // z, kept for backward (nil after a folded pass or a backward)
    private var mask: DropoutMask?

    /// The block of a convolution from `input` to `output` channels, without bias (BatchNorm's β
    /// takes its place), and dropout `dropout` (none when 0) last.
    public convenience init(_ input: Int, _ output: Int, kernelSize: Int = 3, padding: Int = 0, bias: Bool = false,
                            dropout: Float = 0, dropsWholeChannels: Bool = false, order: Order = .batchNormThenReLU) {
        self.init(Conv2d(input, output, kernelSize: kernelSize, padding: padding, bias: bias), BatchNorm2d(output),
                  dropout: dropout > 0 ? Dropout(dropout, wholeChannels: dropsWholeChannels) : nil, order: order)
    }

    /// The block of these layers (the normalisation must have the convolution's output channels).
    public init(_ convolution: Conv2d, _ normalization: BatchNorm2d, dropout: Dropout?, order: Order = .batchNormThenReLU) {
        precondition(normalization.channels == convolution.outChannels, "BatchNorm2d channels must match the convolution's")
        self.convolution = convolution
        self.normalization = normalization
        self.dropout = dropout
        self.order = order
    }

    public var parts: [(name: String, layer: Layer)] {
        let middle: [Layer] = order == .batchNormThenReLU ? [normalization, rectifier] : [rectifier, normalization]
        let layers: [Layer] = [convolution] + middle + (dropout.map { [$0] } ?? [])
        return layers.enumerated().map { (String($0.offset), $0.element) }
    }

    public var description: String { parts.map(\.layer.description).joined(separator: " → ") }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try parts.reduce(inputShape) { try $1.layer.outputShape(for: $0) }
    }

    public func multiplyAdds(for inputShape: [Int]) -> Int { convolution.multiplyAdds(for: inputShape) }

    public func copy() -> Layer {
        ConvBlock(convolution.copy() as! Conv2d, normalization.copy() as! BatchNorm2d, dropout: dropout?.copy() as? Dropout,
                  order: order)
    }

    /// The layers run around BatchNorm in this block's sweeps, with this pass's dropout mask.
    private var fusion: BatchNormKernel.Fusion {
        BatchNormKernel.Fusion(rectifiesInput: order == .reluThenBatchNorm, rectifiesOutput: order == .batchNormThenReLU,
                               dropout: mask, dropsWholeChannels: dropout?.wholeChannels ?? false)
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        guard context.training || context.needsBackward else {
            convolutionOutput = nil
            mask = nil
            return evaluate(input, context: context)
        }
        let z = convolution.forward(input, context: context)
        convolutionOutput = z
        normalization.updateStatistics(z, rectifiesInput: order == .reluThenBatchNorm, context: context)
        let dropout = context.training ? dropout : nil
        mask = dropout.flatMap { $0.probability > 0 ? DropoutMask(key: context.random.next(), probability: $0.probability) : nil }
        output.reshape(z.shape)
        BatchNormKernel.normalize(normalization.layout(of: z), x: z.data, y: output.data, normalization.kernelChannels, fusion,
                                  threads: context.threads)
        return output
    }

    /// Evaluation with fixed statistics and no backward pass to follow (see above).
    private func evaluate(_ input: Tensor, context: Context) -> Tensor {
        switch order {
        case .batchNormThenReLU:
            let (scale, shift) = normalization.fixedScaleAndShift()
            return convolution.forwardFolded(input, scale: scale, shift: shift, context: context)
        case .reluThenBatchNorm:
            let ones = [Float](repeating: 1, count: convolution.outChannels)
            let r = convolution.forwardFolded(input, scale: ones, shift: [Float](repeating: 0, count: ones.count), context: context)
            normalization.updateStatistics(r, context: context)   // the running statistics
            BatchNormKernel.normalize(normalization.layout(of: r), x: r.data, y: r.data, normalization.kernelChannels,
                                      threads: context.threads)
            return r
        }
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let z = convolutionOutput else {
            preconditionFailure("ConvBlock.backward without a forward pass that kept z: once per training forward pass (or one with Context(needsBackward: true))")
        }
        let norm = normalization
        // ∂L/∂z over z (the kernel reads x[i] before it writes dx[i], at the same i).
        BatchNormKernel.backward(norm.layout(of: z), g: outputGradient.data, x: z.data, through: output.data,
                                 norm.kernelChannels, fusion, statisticsFromBatch: norm.fromBatch,
                                 dx: z.data, gammaGradient: norm.weight.gradient.data,
                                 betaGradient: norm.bias.gradient.data, threads: context.threads)
        convolutionOutput = nil
        return convolution.backward(z, context: context, needsInputGradient: needsInputGradient)
    }
}
