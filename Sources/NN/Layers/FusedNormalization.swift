import Kernels

/// BatchNorm2d → ReLU → Dropout (or Dropout2d, or no dropout), the course's block after each
/// convolution, run as one sweep over memory instead of three. Not a layer a model lists: the
/// model keeps its three layers (their names, parameters and statistics); `Sequential` runs
/// them through this when they stand next to each other, and the results are the same, bit for
/// bit (the tests compare).
///
/// Forward:  y = max(0, γ·x̂ + β) · mask                          (N, C, H, W) → (N, C, H, W)
/// Backward: the gradient reaching BatchNorm's output is g·k where y > 0 and 0 elsewhere, since
///           y > 0 exactly where ReLU passed and dropout kept (k = 1/(1 − p), or 1): so neither
///           ReLU's output nor the mask is stored; BatchNorm's backward then runs on it directly.
final class FusedNormalization: Layer {
    let normalization: BatchNorm2d
    let rectifier: ReLU
    let dropout: Dropout?
    private let output = Tensor(shape: [0])
    private var mask: DropoutMask?

    init(_ normalization: BatchNorm2d, _ rectifier: ReLU, _ dropout: Dropout?) {
        self.normalization = normalization
        self.rectifier = rectifier
        self.dropout = dropout
    }

    var layers: [Layer] { [normalization, rectifier] + (dropout.map { [$0] } ?? []) }
    var description: String { layers.map(\.description).joined(separator: " + ") }
    func outputShape(for inputShape: [Int]) throws -> [Int] {
        try layers.reduce(inputShape) { try $1.outputShape(for: $0) }
    }

    func forward(_ input: Tensor, context: Context) -> Tensor {
        normalization.prepareStatistics(input, training: context.training)
        mask = dropout?.drawMask(context)
        normalization.normalize(into: output, rectify: true, dropout: mask,
                                dropsWholeChannels: dropout?.wholeChannels ?? false)
        return output
    }

    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        normalization.backward(outputGradient, throughOutput: output, factor: mask?.scale ?? 1,
                               needsInputGradient: needsInputGradient)
    }
}

/// Conv2d → BatchNorm2d → ReLU (→ Dropout). Training runs the convolution, then the fused
/// normalisation. Evaluating, BatchNorm is a fixed affine map per channel, so it is folded into
/// the convolution, which writes max(0, ·) of its result directly:
///   scale = γ/√(running_var + ε),  w′ = w·scale,  b′ = (b − running_mean)·scale + β
/// (and Dropout does nothing): one pass over memory instead of two.
final class ConvolutionBlock: Layer {
    let convolution: Conv2d
    let normalization: FusedNormalization
    private var folded = false
    private var lastInput: Tensor?

    init(_ convolution: Conv2d, _ normalization: FusedNormalization) {
        self.convolution = convolution
        self.normalization = normalization
    }

    var description: String { convolution.description + " + " + normalization.description }
    func outputShape(for inputShape: [Int]) throws -> [Int] {
        try normalization.outputShape(for: try convolution.outputShape(for: inputShape))
    }

    func forward(_ input: Tensor, context: Context) -> Tensor {
        folded = !context.training
        guard folded else { return normalization.forward(convolution.forward(input, context: context), context: context) }
        lastInput = input
        let norm = normalization.normalization
        let scale = (0..<norm.channels).map { norm.weight.value[$0] / (norm.runningVariance[$0] + norm.epsilon).squareRoot() }
        let shift = (0..<norm.channels).map { norm.bias.value[$0] - norm.runningMean[$0] * scale[$0] }
        return convolution.forwardFolded(input, scale: scale, shift: shift)
    }

    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        if folded, let input = lastInput {
            // Gradients in evaluation mode (rare): redo the forward pass unfolded, which keeps
            // what each layer's backward needs.
            let context = Context(training: false)
            _ = normalization.forward(convolution.forward(input, context: context), context: context)
        }
        let gradient = normalization.backward(outputGradient, needsInputGradient: true)!
        return convolution.backward(gradient, needsInputGradient: needsInputGradient)
    }
}

extension Sequential {
    /// The children as they run: a BatchNorm2d directly followed by a ReLU (and a Dropout, if one
    /// follows) becomes one `FusedNormalization`, joined with a Conv2d just before it into a
    /// `ConvolutionBlock`; every other child runs as itself.
    static func executionPlan(_ children: [Layer]) -> [Layer] {
        var plan: [Layer] = []
        var i = 0
        while i < children.count {
            if let norm = children[i] as? BatchNorm2d, i + 1 < children.count, let relu = children[i + 1] as? ReLU {
                let dropout = i + 2 < children.count ? children[i + 2] as? Dropout : nil
                let fused = FusedNormalization(norm, relu, dropout)
                if let convolution = plan.last as? Conv2d {
                    plan[plan.count - 1] = ConvolutionBlock(convolution, fused)
                } else {
                    plan.append(fused)
                }
                i += dropout == nil ? 2 : 3
            } else {
                plan.append(children[i])
                i += 1
            }
        }
        return plan
    }
}
