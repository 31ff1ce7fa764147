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

extension Sequential {
    /// The children as they run: a BatchNorm2d directly followed by a ReLU (and a Dropout, if one
    /// follows) becomes one `FusedNormalization`; every other child runs as itself.
    static func executionPlan(_ children: [Layer]) -> [Layer] {
        var plan: [Layer] = []
        var i = 0
        while i < children.count {
            if let norm = children[i] as? BatchNorm2d, i + 1 < children.count, let relu = children[i + 1] as? ReLU {
                let dropout = i + 2 < children.count ? children[i + 2] as? Dropout : nil
                plan.append(FusedNormalization(norm, relu, dropout))
                i += dropout == nil ? 2 : 3
            } else {
                plan.append(children[i])
                i += 1
            }
        }
        return plan
    }
}
