import Kernels
import NN
import Testing

/// `Sequential` runs BatchNorm2d → ReLU → Dropout as one fused sweep. It must compute exactly what
/// the three layers compute one after another: same outputs, gradients, statistics, bit for bit.
@Suite("Fused BatchNorm → ReLU → Dropout equals the three layers")
struct FusionTests {
    enum Tail: String, CaseIterable { case none, dropout, dropout2d }

    static func layers(_ tail: Tail, channels: Int) -> [Layer] {
        let norm = BatchNorm2d(channels)
        for c in 0..<channels {
            norm.weight.value[c] = 0.5 + Float(c) * 0.1
            norm.bias.value[c] = Float(c) * 0.05 - 0.1
            norm.runningMean[c] = 0.1 * Float(c)
            norm.runningVariance[c] = 1 + 0.2 * Float(c)
        }
        switch tail {
        case .none: return [norm, ReLU()]
        case .dropout: return [norm, ReLU(), Dropout(0.3)]
        case .dropout2d: return [norm, ReLU(), Dropout2d(0.3)]
        }
    }

    @Test(arguments: Tail.allCases, [true, false])
    func fusedEqualsSeparate(tail: Tail, training: Bool) {
        // 5×5 planes: rows that are not a multiple of the SIMD width.
        let shape = [3, 4, 5, 5]
        var random = Random(seed: 8)
        let input = Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.uniform(-2, 2) })
        let gradient = Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.uniform(-1, 1) })

        let fusedLayers = Self.layers(tail, channels: 4), separate = Self.layers(tail, channels: 4)
        let fused = Sequential(fusedLayers)
        let fusedOutput = fused.forward(input, context: Context(training: training, seed: 5)).values
        let fusedInputGradient = fused.backward(gradient, needsInputGradient: true)!.values

        let context = Context(training: training, seed: 5)
        var x = input
        for layer in separate { x = layer.forward(x, context: context) }
        var g: Tensor = gradient
        for layer in separate.reversed() { g = layer.backward(g, needsInputGradient: true)! }

        #expect(fusedOutput == x.values)
        #expect(fusedInputGradient == g.values)
        let a = fusedLayers[0] as! BatchNorm2d, b = separate[0] as! BatchNorm2d
        #expect(a.weight.gradient.values == b.weight.gradient.values)
        #expect(a.bias.gradient.values == b.bias.gradient.values)
        #expect(a.runningMean.values == b.runningMean.values)
        #expect(a.runningVariance.values == b.runningVariance.values)
        if training && tail != .none {
            #expect(fusedOutput.contains(0) && fusedOutput.contains { $0 > 0 })
        }
    }
}

/// Evaluating, Conv2d → BatchNorm2d → ReLU → Dropout runs as one folded convolution: it must give
/// the four layers' output (up to rounding: the weights are scaled before the sums), and gradients
/// taken in evaluation mode must still be right.
@Suite("Folded convolution blocks")
struct FoldingTests {
    @Test(arguments: [true, false])
    func foldedEqualsSeparate(bias: Bool) {
        func layers() -> [Layer] {
            let conv = Conv2d(3, 5, kernelSize: 3, padding: 1, bias: bias)
            var random = Random(seed: 2)
            for i in 0..<conv.weight.count { conv.weight.value[i] = random.uniform(-0.5, 0.5) }
            if let b = conv.bias { for i in 0..<b.count { b.value[i] = random.uniform(-0.5, 0.5) } }
            let norm = BatchNorm2d(5)
            for c in 0..<5 {
                norm.weight.value[c] = random.uniform(0.5, 1.5); norm.bias.value[c] = random.uniform(-0.3, 0.3)
                norm.runningMean[c] = random.uniform(-0.5, 0.5); norm.runningVariance[c] = random.uniform(0.5, 2)
            }
            return [conv, norm, ReLU(), Dropout(0.2)]
        }
        var random = Random(seed: 9)
        let input = Tensor(shape: [4, 3, 9, 7], values: (0..<(4 * 3 * 63)).map { _ in random.uniform(-1, 1) })
        let context = Context(training: false)
        let block = Sequential(layers())
        let folded = block.forward(input, context: context).values
        var x = input
        let separate = layers()
        for layer in separate { x = layer.forward(x, context: context) }
        let expected = x.values
        #expect(zip(folded, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(expected.contains(0) && expected.contains { $0 > 0 })

        // Backward after an evaluation forward pass: the separate layers' gradients.
        let gradient = Tensor(shape: x.shape, values: (0..<x.count).map { _ in random.uniform(-1, 1) })
        let blockInput = block.backward(gradient, needsInputGradient: true)!.values
        var g = gradient
        for layer in separate.reversed() { g = layer.backward(g, needsInputGradient: true)! }
        #expect(zip(blockInput, g.values).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        let blockConv = block.children[0].layer as! Conv2d, conv = separate[0] as! Conv2d
        #expect(zip(blockConv.weight.gradient.values, conv.weight.gradient.values).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }
}

/// Dropout's mask is a hash of a per-batch key and each unit's index: it must drop about p of the
/// units, the same ones for the same seed, different ones for the next batch, however the work is
/// split over threads.
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
        #expect(mask.factor(0) == 0 || mask.factor(0) == 1 / (1 - probability))
    }

    @Test func sameSeedSameMaskAndThreadsDoNotMatter() {
        let input = Tensor(shape: [4, 8, 13, 13], values: Array(repeating: 1, count: 4 * 8 * 169))
        let one = Dropout(0.2).forward(input, context: Context(training: true, seed: 3)).values
        #expect(one == Dropout(0.2).forward(input, context: Context(training: true, seed: 3)).values)
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
        #expect(whole == (0..<n).map { mask.factor($0) })
    }
}
