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
        self.input = input
        output.reshape(input.shape)
        let n = input.batch, plane = input.shape[2] * input.shape[3]
        let m = n * plane
        let x = input.data, y = output.data
        trainedOnBatch = context.training
        if context.training {
            batchesTracked[0] += 1
        }
        mean.withUnsafeMutableBufferPointer { meanBuffer in
        inverseStd.withUnsafeMutableBufferPointer { inverseStdBuffer in
            let meanOut = meanBuffer.baseAddress!, inverseStdOut = inverseStdBuffer.baseAddress!
            parallelFor(channels) { _, range in
                for c in range {
                    let gamma = self.weight.value[c], beta = self.bias.value[c]
                    var mu: Float, invStd: Float
                    if context.training {
                        // Two passes in Double for the statistics: exact enough for any batch size.
                        var sum = 0.0
                        for s in 0..<n {
                            let row = x + (s * self.channels + c) * plane
                            var partial: Float = 0
                            for i in 0..<plane { partial += row[i] }
                            sum += Double(partial)
                        }
                        let mean = sum / Double(m)
                        var squares = 0.0
                        for s in 0..<n {
                            let row = x + (s * self.channels + c) * plane
                            var partial: Float = 0
                            let muF = Float(mean)
                            for i in 0..<plane { let d = row[i] - muF; partial += d * d }
                            squares += Double(partial)
                        }
                        let variance = squares / Double(m)
                        mu = Float(mean)
                        invStd = Float(1 / (variance + Double(self.epsilon)).squareRoot())
                        let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                        self.runningMean[c] = (1 - self.momentum) * self.runningMean[c] + self.momentum * mu
                        self.runningVariance[c] = (1 - self.momentum) * self.runningVariance[c]
                            + self.momentum * Float(unbiased)
                    } else {
                        mu = self.runningMean[c]
                        invStd = 1 / (self.runningVariance[c] + self.epsilon).squareRoot()
                    }
                    meanOut[c] = mu
                    inverseStdOut[c] = invStd
                    let scale = gamma * invStd, shift = beta - mu * scale
                    for s in 0..<n {
                        let offset = (s * self.channels + c) * plane
                        for i in 0..<plane { y[offset + i] = x[offset + i] * scale + shift }
                    }
                }
            }
        }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward before forward") }
        let n = input.batch, plane = input.shape[2] * input.shape[3]
        let m = Float(n * plane)
        let x = input.data, g = outputGradient.data
        inputGradient.reshape(input.shape)
        let dx = inputGradient.data
        let training = trainedOnBatch
        parallelFor(channels) { _, range in
            for c in range {
                let mu = self.mean[c], invStd = self.inverseStd[c], gamma = self.weight.value[c]
                var sumG: Float = 0, sumGXhat: Float = 0
                for s in 0..<n {
                    let offset = (s * self.channels + c) * plane
                    for i in 0..<plane {
                        let gi = g[offset + i]
                        sumG += gi
                        sumGXhat += gi * (x[offset + i] - mu) * invStd
                    }
                }
                self.bias.gradient[c] += sumG
                self.weight.gradient[c] += sumGXhat
                guard needsInputGradient else { continue }
                if training {
                    let k = gamma * invStd / m
                    for s in 0..<n {
                        let offset = (s * self.channels + c) * plane
                        for i in 0..<plane {
                            let xhat = (x[offset + i] - mu) * invStd
                            dx[offset + i] = k * (m * g[offset + i] - sumG - xhat * sumGXhat)
                        }
                    }
                } else {
                    // With fixed statistics the layer is just y = scale·x + shift.
                    let scale = gamma * invStd
                    for s in 0..<n {
                        let offset = (s * self.channels + c) * plane
                        for i in 0..<plane { dx[offset + i] = scale * g[offset + i] }
                    }
                }
            }
        }
        return needsInputGradient ? inputGradient : nil
    }
}
