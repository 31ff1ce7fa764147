import Foundation
import Kernels

/// Batch normalisation over the channels of images, as PyTorch's `nn.BatchNorm2d` (momentum 0.1,
/// eps 1e-5, learnable scale γ = `weight` and shift β = `bias`).
///
/// Shapes: input and output (N, C, H, W); weight, bias, running_mean, running_var (C).
///
/// Forward, training: for each channel c over its M = N·H·W values
///   μ = mean(x),  σ² = mean((x − μ)²)  (biased),  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β;
///   running_mean ← 0.9·running_mean + 0.1·μ,  running_var ← 0.9·running_var + 0.1·σ²·M/(M − 1).
/// Forward, evaluating: y = γ·(x − running_mean)/√(running_var + ε) + β.
/// Backward (training): with g = ∂L/∂y,
///   ∂L/∂β = Σ g,  ∂L/∂γ = Σ g·x̂,
///   ∂L/∂x = γ/(M·√(σ² + ε)) · (M·g − Σ g − x̂·Σ g·x̂)
/// (the last two terms are how μ and σ² themselves depend on every x of the channel).
public final class BatchNorm2d: Layer {
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    /// How many training batches have updated the running statistics (PyTorch's num_batches_tracked).
    public let batchesTracked = Tensor(shape: [1])

    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var input: Tensor?
    private var mean: [Float]
    private var inverseStd: [Float]
    private var trainedOnBatch = false

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter(shape: [channels])
        weight.value.fill(1)
        bias = Parameter(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        mean = Array(repeating: 0, count: channels)
        inverseStd = Array(repeating: 1, count: channels)
    }

    public var description: String { "BatchNorm2d(\(channels))" }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        _ = try expectImage(inputShape, channels: channels, description)
        return inputShape
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        prepareStatistics(input, training: context.training)
        normalize(into: output, rectify: false, dropout: nil, dropsWholeChannels: false)
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        backward(outputGradient, throughOutput: nil, factor: 1, needsInputGradient: needsInputGradient)
    }

    /// Keeps `input` for the backward pass and sets each channel's mean and 1/√(σ² + ε): the
    /// batch's (updating the running statistics) when training, else the running ones.
    func prepareStatistics(_ input: Tensor, training: Bool) {
        self.input = input
        let n = input.batch, plane = input.shape[2] * input.shape[3]
        let m = n * plane
        let x = input.data
        trainedOnBatch = training
        if training { batchesTracked[0] += 1 }
        mean.withUnsafeMutableBufferPointer { meanBuffer in
        inverseStd.withUnsafeMutableBufferPointer { inverseStdBuffer in
            let meanOut = meanBuffer.baseAddress!, inverseStdOut = inverseStdBuffer.baseAddress!
            parallelFor(channels) { _, range in
                for c in range {
                    guard training else {
                        meanOut[c] = self.runningMean[c]
                        inverseStdOut[c] = 1 / (self.runningVariance[c] + self.epsilon).squareRoot()
                        continue
                    }
                    // Two passes, rows summed in Float and rows added in Double: exact enough
                    // for any batch size.
                    var sum = 0.0
                    for s in 0..<n { sum += Double(Elementwise.sum(x + (s * self.channels + c) * plane, plane)) }
                    let mean = Float(sum / Double(m))
                    var squares = 0.0
                    for s in 0..<n {
                        squares += Double(Elementwise.squaredDeviations(x + (s * self.channels + c) * plane, plane, mean: mean))
                    }
                    let variance = squares / Double(m)
                    meanOut[c] = mean
                    inverseStdOut[c] = Float(1 / (variance + Double(self.epsilon)).squareRoot())
                    let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                    self.runningMean[c] = (1 - self.momentum) * self.runningMean[c] + self.momentum * mean
                    self.runningVariance[c] = (1 - self.momentum) * self.runningVariance[c] + self.momentum * Float(unbiased)
                }
            }
        }
        }
    }

    /// output = γ·x̂ + β for the prepared input, then, for a fused block, max(0, ·) and the dropout
    /// mask (per element, or per image and channel with `dropsWholeChannels`).
    func normalize(into output: Tensor, rectify: Bool, dropout: DropoutMask?, dropsWholeChannels: Bool) {
        guard let input else { preconditionFailure("normalize before prepareStatistics") }
        output.reshape(input.shape)
        let n = input.batch, plane = input.shape[2] * input.shape[3]
        let x = input.data, y = output.data
        parallelFor(channels) { _, range in
            for c in range {
                let scale = self.weight.value[c] * self.inverseStd[c]
                let shift = self.bias.value[c] - self.mean[c] * scale
                for s in 0..<n {
                    let row = s * self.channels + c
                    Elementwise.normalize(x + row * plane, y + row * plane, plane, scale: scale, shift: shift,
                                          rectify: rectify, dropout: dropout,
                                          firstUnit: dropsWholeChannels ? row : row * plane, unitIsRow: dropsWholeChannels)
                }
            }
        }
    }

    /// The backward pass for a gradient g of this layer's output, or, with `output` (a fused
    /// block's rectified and dropped output), for the gradient of that output: then the gradient
    /// reaching this layer is g·`factor` where output > 0, else 0 (see `Elementwise.gradientSums`).
    func backward(_ outputGradient: Tensor, throughOutput output: Tensor?, factor: Float,
                  needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward before forward") }
        let n = input.batch, plane = input.shape[2] * input.shape[3]
        let m = Float(n * plane)
        let x = input.data, g = outputGradient.data, y = output.map { UnsafePointer($0.data) }
        inputGradient.reshape(input.shape)
        let dx = inputGradient.data
        let training = trainedOnBatch
        parallelFor(channels) { _, range in
            for c in range {
                let mu = self.mean[c], invStd = self.inverseStd[c], gamma = self.weight.value[c]
                var sumG: Float = 0, sumGX: Float = 0
                for s in 0..<n {
                    let row = (s * self.channels + c) * plane
                    let (rowG, rowGX) = Elementwise.gradientSums(g + row, output: y.map { $0 + row }, factor: factor,
                                                                 x + row, mean: mu, plane)
                    sumG += rowG
                    sumGX += rowGX
                }
                self.bias.gradient[c] += sumG
                self.weight.gradient[c] += sumGX * invStd
                guard needsInputGradient else { continue }
                let a = gamma * invStd
                for s in 0..<n {
                    let row = (s * self.channels + c) * plane
                    if training {
                        Elementwise.normalizationInputGradient(g + row, output: y.map { $0 + row }, factor: factor,
                                                               x + row, mean: mu, dx + row, plane,
                                                               a: a, b: a * sumG / m, c: a * sumGX * invStd * invStd / m)
                    } else {
                        Elementwise.scaledGradient(g + row, output: y.map { $0 + row }, factor: factor, dx + row, plane, a: a)
                    }
                }
            }
        }
        return needsInputGradient ? inputGradient : nil
    }
}
