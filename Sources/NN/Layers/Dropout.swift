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
    /// The current batch's mask (nil when inactive): one key drawn from the context's generator
    /// per forward pass; each unit's decision is a hash of the key and the unit's index, so the
    /// mask is never stored and the backward pass recomputes it (`DropoutMask`).
    private var mask: DropoutMask?

    public init(_ probability: Float, wholeChannels: Bool = false) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
        self.wholeChannels = wholeChannels
    }

    public var description: String { (wholeChannels ? "Dropout2d" : "Dropout") + "(p=\(probability))" }
    public var spec: LayerSpec? { LayerSpec(type: wholeChannels ? "Dropout2d" : "Dropout", probability: probability) }
    public func copy() -> Layer { Dropout(probability, wholeChannels: wholeChannels) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        if wholeChannels { _ = try expectImage(inputShape, channels: nil, description) }
        return inputShape
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        mask = context.training && probability > 0 ? DropoutMask(key: context.random.next(), probability: probability) : nil
        guard let mask else { return input }
        output.reshape(input.shape)
        apply(mask, input, output, threads: context.threads)
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let mask else { return outputGradient }
        let inputGradient = context.gradients.inputGradient(outputGradient.shape, besides: outputGradient)
        apply(mask, outputGradient, inputGradient, threads: context.threads)
        return inputGradient
    }

    /// y = x·mask: forward on the input, backward on the gradient.
    private func apply(_ mask: DropoutMask, _ source: Tensor, _ destination: Tensor, threads: Int) {
        let x = source.data, y = destination.data
        if wholeChannels {
            let units = source.shape[0] * source.shape[1], unitSize = source.count / max(units, 1)
            parallelFor(units, threads: threads, minimumPerThread: max(1, 1 << 14 / max(unitSize, 1))) { _, range in
                for u in range {
                    let factor = mask.factor(u)
                    for i in (u * unitSize)..<((u + 1) * unitSize) { y[i] = x[i] * factor }
                }
            }
        } else {
            let count = source.count
            parallelFor((count + 1023) / 1024, threads: threads, minimumPerThread: 16) { _, range in
                let start = range.lowerBound * 1024, end = min(count, range.upperBound * 1024)
                Elementwise.dropout(x + start, y + start, end - start, mask: mask, firstUnit: start)
            }
        }
    }
}

/// `nn.Dropout2d(p)`: drops whole feature maps, the course's choice after convolutions.
public func Dropout2d(_ probability: Float) -> Dropout { Dropout(probability, wholeChannels: true) }
