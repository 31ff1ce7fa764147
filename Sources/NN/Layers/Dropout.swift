import Kernels

/// Dropout, as PyTorch's `nn.Dropout(p)` (each element) or `nn.Dropout2d(p)` (whole channels).
/// Training: each element (or each channel of each image) is kept with probability 1 − p and then
/// scaled by 1/(1 − p), so the expected output equals the input: y = x·mask, mask ∈ {0, 1/(1 − p)}.
/// Evaluating: y = x. Backward: ∂L/∂x = ∂L/∂y·mask, the same mask.
/// The mask comes from the context's seeded generator, so a seed reproduces every dropped unit.
public final class Dropout: Layer {
    /// The chance of dropping a unit; settable so that comparisons with another engine can turn
    /// dropout off (no two engines draw the same masks).
    public var probability: Float
    /// True for `Dropout2d`: one decision per (image, channel) rather than per element.
    public let wholeChannels: Bool
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var mask: [Float] = []
    private var active = false

    public init(_ probability: Float, wholeChannels: Bool = false) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
        self.wholeChannels = wholeChannels
    }

    public var description: String { (wholeChannels ? "Dropout2d" : "Dropout") + "(p=\(probability))" }
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        if wholeChannels { _ = try expectImage(inputShape, channels: nil, description) }
        return inputShape
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        active = context.training && probability > 0
        guard active else { return input }
        output.reshape(input.shape)
        let units = wholeChannels ? input.shape[0] * input.shape[1] : input.count
        let unitSize = input.count / max(units, 1)
        if mask.count < units { mask = Array(repeating: 0, count: units) }
        let scale = 1 / (1 - probability)
        for u in 0..<units { mask[u] = context.random.nextFloat() < probability ? 0 : scale }
        let x = input.data, y = output.data
        mask.withUnsafeBufferPointer { maskBuffer in
            let m = maskBuffer.baseAddress!
            parallelFor(units, minimumPerThread: max(1, 1 << 16 / max(unitSize, 1))) { _, range in
                for u in range {
                    let factor = m[u]
                    for i in (u * unitSize)..<((u + 1) * unitSize) { y[i] = x[i] * factor }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard active else { return outputGradient }
        inputGradient.reshape(outputGradient.shape)
        let units = wholeChannels ? output.shape[0] * output.shape[1] : output.count
        let unitSize = output.count / max(units, 1)
        let g = outputGradient.data, dx = inputGradient.data
        mask.withUnsafeBufferPointer { maskBuffer in
            let m = maskBuffer.baseAddress!
            parallelFor(units, minimumPerThread: max(1, 1 << 16 / max(unitSize, 1))) { _, range in
                for u in range {
                    let factor = m[u]
                    for i in (u * unitSize)..<((u + 1) * unitSize) { dx[i] = g[i] * factor }
                }
            }
        }
        return inputGradient
    }
}

/// `nn.Dropout2d(p)`: drops whole feature maps, the course's choice after convolutions.
public func Dropout2d(_ probability: Float) -> Dropout { Dropout(probability, wholeChannels: true) }
