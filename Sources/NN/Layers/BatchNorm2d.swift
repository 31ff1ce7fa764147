import Kernels

/// Batch normalisation over the channels of images, as PyTorch's `nn.BatchNorm2d` (momentum 0.1,
/// eps 1e-5, learnable scale γ = `weight` and shift β = `bias`).
///
/// Shapes: input and output (N, C, H, W); weight, bias, running_mean, running_var (C).
///
/// Forward, training: for each channel c over its M = N·H·W values
///   μ = mean(x),  σ² = mean((x − μ)²)  (biased),  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β;
///   running_mean ← 0.9·running_mean + 0.1·μ,  running_var ← 0.9·running_var + 0.1·σ²·M/(M − 1).
/// Forward, evaluating: the same with running_mean and running_var for μ and σ².
/// Computed as y = x·scale + shift with scale = γ/√(σ² + ε), shift = β − μ·scale.
///
/// Backward (training), with g = ∂L/∂y:
///   ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂,
///   ∂L/∂x = slope·g − throughMean − throughVariance·(x − μ),   slope = γ/√(σ² + ε),
///           throughMean = slope·Σg/M,  throughVariance = slope·Σg·(x − μ)/(M·(σ² + ε)).
/// The last two terms are there because μ and σ² are themselves computed from every x of the
/// channel: moving one x moves them, and through them every output. (They are PyTorch's
/// γ/(M·√(σ² + ε))·(M·g − Σg − x̂·Σg·x̂), written out.) With fixed statistics (evaluating) only
/// ∂L/∂x = slope·g remains.
///
/// The loops are `BatchNormKernel`'s (Kernels); `ConvBlock` runs the same math fused with the
/// ReLU before or after it and the Dropout that follows, and is tested against this layer.
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    /// How many training batches have updated the running statistics (PyTorch's num_batches_tracked).
    public let batchesTracked = Tensor(shape: [])

    private let output = Tensor(shape: [0])
    private var input: Tensor?
    /// The statistics of the last forward pass: μ and 1/√(σ² + ε) per channel, from the batch
    /// (`fromBatch`) or the running ones.
    let mean: Tensor
    let inverseStd: Tensor
    private(set) var fromBatch = false

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter(shape: [channels])
        bias = Parameter(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        mean = Tensor(shape: [channels])
        inverseStd = Tensor(shape: [channels])
        resetToDefaults()
    }

    private func resetToDefaults() {
        weight.value.fill(1)
        bias.value.fill(0)
        runningMean.fill(0)
        runningVariance.fill(1)
        batchesTracked.fill(0)
    }

    public var description: String {
        "BatchNorm2d(\(channels)" + (epsilon == 1e-5 ? "" : ", eps=\(epsilon)") + (momentum == 0.1 ? "" : ", momentum=\(momentum)") + ")"
    }
    public var spec: LayerSpec? {
        LayerSpec(type: "BatchNorm2d", outChannels: channels, epsilon: epsilon == 1e-5 ? nil : epsilon,
                  momentum: momentum == 0.1 ? nil : momentum)
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        _ = try expectImage(inputShape, channels: channels, description)
        return inputShape
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, buffer: Buffer)] {
        [("running_mean", Buffer(runningMean)), ("running_var", Buffer(runningVariance)),
         ("num_batches_tracked", Buffer(batchesTracked, isInteger: true))]
    }

    /// PyTorch's default: γ = 1, β = 0, running statistics of a standard normal, no batches seen.
    public func initialize(using random: inout Random) { resetToDefaults() }

    public func copy() -> Layer {
        let twin = BatchNorm2d(channels, momentum: momentum, epsilon: epsilon)
        twin.copyValues(from: self)
        return twin
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        updateStatistics(input, context: context)
        output.reshape(input.shape)
        BatchNormKernel.normalize(layout(of: input), x: input.data, y: output.data, kernelChannels, threads: context.threads)
        return output
    }

    func layout(of input: Tensor) -> BatchNormKernel.Layout {
        BatchNormKernel.Layout(images: input.batch, channels: channels, plane: input.shape[2] * input.shape[3])
    }

    /// γ, β and the statistics of the last forward pass, as the kernel reads them.
    var kernelChannels: BatchNormKernel.Channels {
        BatchNormKernel.Channels(gamma: weight.value.data, beta: bias.value.data, mean: mean.data, inverseStd: inverseStd.data)
    }

    /// Evaluation's fixed map y = x·scale + shift per channel, from the running statistics:
    /// scale = γ/√(running_var + ε), shift = β − running_mean·scale (`ConvBlock` folds it into its convolution).
    func fixedScaleAndShift() -> (scale: [Float], shift: [Float]) {
        let scale = (0..<channels).map { weight.value[$0] / (runningVariance[$0] + epsilon).squareRoot() }
        return (scale, (0..<channels).map { bias.value[$0] - runningMean[$0] * scale[$0] })
    }

    /// Sets `mean` and `inverseStd` for `input` (read as max(0, input) when `rectifiesInput`: a
    /// fused block's ReLU before BatchNorm): the batch's when training (and moves the running
    /// statistics towards them), else the running ones.
    func updateStatistics(_ input: Tensor, rectifiesInput: Bool = false, context: Context) {
        let layout = layout(of: input)
        let m = layout.valuesPerChannel
        let x = input.data, meanOut = mean.data, inverseStdOut = inverseStd.data
        let training = context.training
        fromBatch = training
        if training { batchesTracked[0] += 1 }
        guard training else {
            for c in 0..<channels {
                meanOut[c] = runningMean[c]
                inverseStdOut[c] = 1 / (runningVariance[c] + epsilon).squareRoot()
            }
            return
        }
        parallelFor(channels, threads: context.threads) { _, range in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: range.upperBound) { variances in
                let variances = variances.baseAddress!   // indexed by channel; only the range's are used
                BatchNormKernel.statistics(channels: range, layout, x: x, rectifiesInput: rectifiesInput,
                                           mean: meanOut, variance: variances)
                for c in range {
                    let (mean, variance) = (meanOut[c], variances[c])
                    inverseStdOut[c] = Float(1 / (variance + Double(self.epsilon)).squareRoot())
                    let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                    self.runningMean[c] = (1 - self.momentum) * self.runningMean[c] + self.momentum * mean
                    self.runningVariance[c] = (1 - self.momentum) * self.runningVariance[c] + self.momentum * Float(unbiased)
                }
            }
        }
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward before forward") }
        let inputGradient = needsInputGradient ? context.gradients.inputGradient(input.shape, besides: outputGradient) : nil
        BatchNormKernel.backward(layout(of: input), g: outputGradient.data, x: input.data, kernelChannels,
                                 statisticsFromBatch: fromBatch, dx: inputGradient?.data,
                                 gammaGradient: weight.gradient.data, betaGradient: bias.gradient.data, threads: context.threads)
        return inputGradient
    }
}
