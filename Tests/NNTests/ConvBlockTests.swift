import Kernels
import NN
import Testing

/// `ConvBlock` runs Conv2d → BatchNorm2d → ReLU or Conv2d → ReLU → BatchNorm2d (→ Dropout) as one
/// layer. It must compute what its layers compute one after another: the same outputs, gradients
/// and statistics.
@Suite("ConvBlock equals its layers")
struct ConvBlockTests {
    enum Tail: String, CaseIterable { case none, dropout, dropout2d }
    static let orders: [ConvBlock.Order] = [.batchNormThenReLU, .reluThenBatchNorm]

    /// The block's layers with fixed, non-default weights and statistics.
    static func layers(_ tail: Tail, bias: Bool, padding: Int) -> (Conv2d, BatchNorm2d, Dropout?) {
        var random = Random(seed: 2)
        let conv = Conv2d(3, 5, kernelSize: 3, padding: padding, bias: bias)
        conv.initialize(using: &random)
        let norm = BatchNorm2d(5)
        for c in 0..<5 {
            norm.weight.value[c] = random.uniform(0.5, 1.5); norm.bias.value[c] = random.uniform(-0.3, 0.3)
            norm.runningMean[c] = random.uniform(-0.5, 0.5); norm.runningVariance[c] = random.uniform(0.5, 2)
        }
        switch tail {
        case .none: return (conv, norm, nil)
        case .dropout: return (conv, norm, Dropout(0.3))
        case .dropout2d: return (conv, norm, Dropout2d(0.3))
        }
    }

    /// Runs `block` and the same layers one by one, forward and backward, with one context each
    /// (same seed, so the same dropout masks); returns both sides' outputs, input gradients, and
    /// all parameter gradients and running statistics.
    static func bothWays(_ tail: Tail, _ order: ConvBlock.Order, bias: Bool, padding: Int, training: Bool, needsBackward: Bool,
                         threads: Int) -> (block: [[Float]], layers: [[Float]]) {
        var random = Random(seed: 8)
        // 7×6 inputs: output planes that are not a multiple of the SIMD width.
        let input = Tensor(shape: [3, 3, 7, 6], values: (0..<(3 * 3 * 42)).map { _ in random.uniform(-2, 2) })
        func run(_ layer: Layer, _ norm: BatchNorm2d, _ conv: Conv2d) -> [[Float]] {
            let context = Context(training: training, needsBackward: needsBackward, seed: 5, threads: threads)
            let output = layer.forward(input, context: context)
            var results = [output.values]
            if needsBackward {
                var g = Random(seed: 9)
                let gradient = Tensor(shape: output.shape, values: (0..<output.count).map { _ in g.uniform(-1, 1) })
                results.append(layer.backward(gradient, context: context, needsInputGradient: true)!.values)
                results += [conv.weight.gradient.values, conv.bias?.gradient.values ?? [],
                            norm.weight.gradient.values, norm.bias.gradient.values]
            }
            return results + [norm.runningMean.values, norm.runningVariance.values]
        }
        let (conv, norm, dropout) = layers(tail, bias: bias, padding: padding)
        let block = ConvBlock(conv, norm, dropout: dropout, order: order)
        let (conv2, norm2, dropout2) = layers(tail, bias: bias, padding: padding)
        let middle: [Layer] = order == .batchNormThenReLU ? [norm2, ReLU()] : [ReLU(), norm2]
        let separate = Sequential([conv2] + middle + (dropout2.map { [$0] } ?? []))
        return (run(block, norm, conv), run(separate, norm2, conv2))
    }

    @Test(arguments: Tail.allCases, [1, 2])
    func trainingIsBitForBitTheSame(tail: Tail, threads: Int) {
        for order in Self.orders {
            for (bias, padding) in [(false, 0), (true, 1)] {
                let (block, layers) = Self.bothWays(tail, order, bias: bias, padding: padding, training: true, needsBackward: true,
                                                    threads: threads)
                #expect(block == layers, "\(tail), \(order), bias \(bias), padding \(padding)")
                if tail != .none { #expect(block[0].contains(0) && block[0].contains { $0 > 0 }) }
                // Negative outputs exist only with BatchNorm last.
                #expect(block[0].contains { $0 < 0 } == (order == .reluThenBatchNorm))
            }
        }
    }

    /// Evaluating with a backward pass to follow (fixed statistics, no dropout): bit for bit too.
    @Test(arguments: Tail.allCases, Self.orders)
    func evaluationWithGradientsIsBitForBitTheSame(tail: Tail, order: ConvBlock.Order) {
        let (block, layers) = Self.bothWays(tail, order, bias: true, padding: 1, training: false, needsBackward: true, threads: 2)
        #expect(block == layers)
    }

    /// Evaluating without: BatchNorm folded into the convolution (or, ReLU first, applied to its
    /// rectified output in place), equal up to rounding (the weights are scaled before the sums,
    /// and 3×3 convolutions of 8 channels or more use Winograd's transforms), and the statistics untouched.
    @Test(arguments: [true, false], [0, 1])
    func foldedEvaluationEqualsTheLayers(bias: Bool, padding: Int) {
        for order in Self.orders {
            let (block, layers) = Self.bothWays(.dropout, order, bias: bias, padding: padding, training: false, needsBackward: false,
                                                threads: 2)
            #expect(block.count == layers.count)
            for (a, b) in zip(block, layers) {
                #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(order)")
            }
            if order == .batchNormThenReLU { #expect(layers[0].contains(0) && layers[0].contains { $0 > 0 }) }
        }
    }

    /// A block with ReLU first names its parts in that order: checkpoints and the PyTorch twin
    /// see Conv2d, ReLU, BatchNorm2d, Dropout2d.
    @Test func reluFirstBlocksNameTheirPartsInOrder() {
        let block = ConvBlock(3, 4, padding: 1, bias: true, dropout: 0.1, dropsWholeChannels: true, order: .reluThenBatchNorm)
        #expect(block.description == "Conv2d(3, 4, kernel_size=3, padding=1) → ReLU() → BatchNorm2d(4) → Dropout2d(p=0.1)")
        let network = Sequential(block, Conv2d(4, 2, kernelSize: 1))
        #expect(network.namedParameters.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
    }

    /// Inside a Sequential a block takes as many numbers as it has parts: the checkpoint names are
    /// those of the four layers in an `nn.Sequential`.
    @Test func blocksAreNumberedLikeTheirLayers() {
        let network = Sequential(MaxPool2d(2), ConvBlock(4, 6, kernelSize: 1), ConvBlock(6, 6, dropout: 0.1), Conv2d(6, 2, kernelSize: 1))
        #expect(network.namedParameters.map(\.name) == ["1.weight", "2.weight", "2.bias", "4.weight", "5.weight", "5.bias", "8.weight", "8.bias"])
        #expect(network.namedBuffers.map(\.name).prefix(3) == ["2.running_mean", "2.running_var", "2.num_batches_tracked"])
        #expect(network.children.map(\.name) == ["0", "1–3", "4–7", "8"])
        let named = Sequential(["pool": MaxPool2d(2), "block": ConvBlock(4, 6, kernelSize: 1)])
        #expect(named.namedParameters.map(\.name) == ["block.0.weight", "block.1.weight", "block.1.bias"])
        #expect(named.leaves.map(\.name) == ["pool", "block.0", "block.1", "block.2"])
    }
}

/// Dropout's mask is a hash of a per-batch key and each unit's index: it must drop about p of the
/// units, the same ones for the same seed, different ones for the next batch, however the work is
/// split over threads, and its vector form must agree with its scalar form.
@Suite("Dropout masks")
struct DropoutMaskTests {
    @Test(arguments: [Float(0.03), 0.1, 0.5])
    func dropsAboutP(probability: Float) {
        let n = 200_000
        let mask = DropoutMask(key: 0x1234_5678_9ABC_DEF0, probability: probability)
        let dropped = (0..<n).filter { mask.factor($0) == 0 }.count
        // Binomial standard deviation √(n·p·(1−p)): allow five.
        let sd = (Double(n) * Double(probability) * Double(1 - probability)).squareRoot()
        #expect(abs(Double(dropped) - Double(n) * Double(probability)) < 5 * sd)
    }

    /// The sixteen-lane path (which the layers run) keeps exactly the units the one-unit
    /// definition keeps, and scales them by 1/(1 − p), from any starting unit.
    @Test(arguments: [Float(0.03), 0.5])
    func vectorAndScalarMasksAgree(probability: Float) {
        let mask = DropoutMask(key: 0xFEED_F00D_1234_5678, probability: probability)
        let n = 1000
        let ones = [Float](repeating: 1, count: n + 16)
        var out = [Float](repeating: -1, count: n + 16)
        for first in [0, 3, 17, 1 << 31 - 7] {
            ones.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { Elementwise.dropout(x.baseAddress!, $0.baseAddress!, n, mask: mask, firstUnit: first) }
            }
            #expect(Array(out[0..<n]) == (0..<n).map { mask.factor(first + $0) })
            #expect(Set(out[0..<n]) == [0, 1 / (1 - probability)])
        }
    }

    @Test func sameSeedSameMaskAndThreadsDoNotMatter() {
        let input = Tensor(shape: [4, 8, 13, 13], values: Array(repeating: 1, count: 4 * 8 * 169))
        let one = Dropout(0.2).forward(input, context: Context(training: true, seed: 3)).values
        #expect(one == Dropout(0.2).forward(input, context: Context(training: true, seed: 3, threads: 1)).values)
        #expect(one != Dropout(0.2).forward(input, context: Context(training: true, seed: 4)).values)
        // Two batches in a row draw different masks.
        let dropout = Dropout(0.2), context = Context(training: true, seed: 3)
        #expect(dropout.forward(input, context: context).values == one)
        #expect(dropout.forward(input, context: context).values != one)

        // Split at any point (as threads split the work), the pieces give the same mask.
        let mask = DropoutMask(key: 77, probability: 0.2)
        let n = 1000
        let ones = [Float](repeating: 1, count: n)
        var whole = [Float](repeating: -1, count: n), pieces = whole
        ones.withUnsafeBufferPointer { x in
            whole.withUnsafeMutableBufferPointer { Elementwise.dropout(x.baseAddress!, $0.baseAddress!, n, mask: mask, firstUnit: 0) }
            pieces.withUnsafeMutableBufferPointer { y in
                for (start, end) in [(0, 37), (37, 512), (512, 1000)] {
                    Elementwise.dropout(x.baseAddress! + start, y.baseAddress! + start, end - start, mask: mask, firstUnit: start)
                }
            }
        }
        #expect(whole == pieces)
    }
}
