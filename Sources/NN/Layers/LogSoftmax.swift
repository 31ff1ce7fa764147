import Foundation

/// Log-probabilities over classes, as `F.log_softmax(x, dim=1)`. Any input whose examples hold
/// K numbers, e.g. (N, K) or (N, K, 1, 1), gives (N, K).
/// Forward:  y_k = x_k − log Σ_j e^(x_j)   (computed as x_k − m − log Σ_j e^(x_j − m), m = max x, to avoid overflow)
/// Backward: ∂L/∂x_k = ∂L/∂y_k − softmax_k · Σ_j ∂L/∂y_j,  with softmax_k = e^(y_k).
public final class LogSoftmax: Layer {
    private let output = Tensor(shape: [0])
    private var inputShape: [Int] = []

    public init() {}
    public var description: String { "LogSoftmax(dim=1)" }
    public var spec: LayerSpec? { LayerSpec(type: "LogSoftmax") }
    public func copy() -> Layer { LogSoftmax() }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        inputShape = input.shape
        let n = input.batch, k = input.perExample
        output.reshape([n, k])
        for s in 0..<n {
            let x = input.data + s * k, y = output.data + s * k
            var largest = x[0]
            for j in 1..<k { largest = max(largest, x[j]) }
            var sum: Float = 0
            for j in 0..<k { sum += expf(x[j] - largest) }
            let logSum = largest + logf(sum)
            for j in 0..<k { y[j] = x[j] - logSum }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let inputGradient = context.gradients.inputGradient(inputShape, besides: outputGradient)
        let n = output.shape[0], k = output.shape[1]
        for s in 0..<n {
            let y = output.data + s * k, g = outputGradient.data + s * k, dx = inputGradient.data + s * k
            var total: Float = 0
            for j in 0..<k { total += g[j] }
            for j in 0..<k { dx[j] = g[j] - expf(y[j]) * total }
        }
        return inputGradient
    }
}

/// The negative log-likelihood of the true classes, averaged over the batch, as `F.nll_loss`:
/// L = −(1/N)·Σ_n logp[n, label_n]. Its gradient is −1/N at each true class and 0 elsewhere.
///
/// With label smoothing ε (as `F.cross_entropy(…, label_smoothing=ε)`), the target puts 1 − ε on
/// the true class and ε/K on each of the K classes:
/// L = −(1/N)·Σ_n [(1 − ε)·logp[n, label_n] + (ε/K)·Σ_k logp[n, k]],
/// ∂L/∂logp[n, k] = −(1/N)·[(1 − ε)·[k = label_n] + ε/K].
public enum NLLLoss {
    /// Returns the mean loss and writes ∂L/∂logp into `gradient` (reshaped to match); `labels`
    /// holds one class per row of `logProbabilities`; `smoothing` is ε above, in [0, 1).
    public static func evaluate(logProbabilities: Tensor, labels: ArraySlice<Int>, gradient: Tensor?,
                                smoothing: Float = 0) -> Float {
        let n = logProbabilities.shape[0], k = logProbabilities.shape[1]
        precondition(labels.count == n, "one label per example")
        gradient?.reshape([n, k])
        guard smoothing > 0 else {
            gradient?.fill(0)
            var total: Double = 0
            for s in 0..<n {
                let label = labels[labels.startIndex + s]
                total -= Double(logProbabilities[s * k + label])
                gradient?[s * k + label] = -1 / Float(n)
            }
            return Float(total / Double(n))
        }
        let onTrue = 1 - Double(smoothing), onEach = Double(smoothing) / Double(k)
        gradient?.fill(Float(-onEach / Double(n)))
        var total: Double = 0
        for s in 0..<n {
            let label = labels[labels.startIndex + s]
            var rowSum: Double = 0
            for j in 0..<k { rowSum += Double(logProbabilities[s * k + j]) }
            total -= onTrue * Double(logProbabilities[s * k + label]) + onEach * rowSum
            gradient?[s * k + label] = Float(-(onTrue + onEach) / Double(n))
        }
        return Float(total / Double(n))
    }
}
