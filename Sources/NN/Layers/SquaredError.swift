/// The course's squared error, summed over outputs and examples as its sheet sums E1 + E2:
///   E = Σ_n Σ_k ½·(t[n,k] − y[n,k])²        (PyTorch: `0.5 * F.mse_loss(y, t, reduction="sum")`)
/// Its gradient is ∂E/∂y[n,k] = y[n,k] − t[n,k]: the ½ cancels the square's 2.
/// Shapes: outputs and targets (N, K), or any shape with the same number of elements.
public enum SquaredErrorLoss {
    /// Returns E and writes ∂E/∂y into `gradient` (reshaped to the outputs' shape).
    public static func evaluate(outputs: Tensor, targets: [Float], gradient: Tensor?) -> Float {
        precondition(targets.count == outputs.count, "one target per output")
        gradient?.reshape(outputs.shape)
        var total: Double = 0
        for i in 0..<outputs.count {
            let difference = outputs[i] - targets[i]
            total += 0.5 * Double(difference) * Double(difference)
            gradient?[i] = difference
        }
        return Float(total)
    }
}
