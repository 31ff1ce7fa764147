import Kernels
import NN
import Testing

/// Checks a layer's backward pass against central finite differences of L = Σ out·r for a fixed
/// random r: ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε, for the input and for every parameter.
/// The forward pass is re-run with the same seed each time, so Dropout draws the same mask.
struct GradientChecker {
    var epsilon: Float = 1e-2
    var relativeTolerance: Double = 2e-2
    var absoluteTolerance: Double = 2e-3
    /// Entries checked per tensor: all of a small tensor, else this many drawn at random (evenly
    /// spaced ones could fall only on positions a strided convolution skips).
    var samplesPerTensor = 40
    var threads = Threads.available

    /// `awayFromKinks` keeps inputs at least 0.1 from zero, where ReLU's slope jumps and a finite
    /// difference straddling the kink would measure neither side.
    func check(_ layer: Layer, inputShape: [Int], training: Bool = true, seed: UInt64 = 1,
               awayFromKinks: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
        var random = Random(seed: seed)
        let input = Tensor(shape: inputShape)
        for i in 0..<input.count {
            let x = random.uniform(-1, 1)
            input[i] = awayFromKinks ? (x < 0 ? x - 0.1 : x + 0.1) : x
        }
        for (_, parameter) in layer.namedParameters {
            for i in 0..<parameter.count { parameter.value[i] += random.uniform(-0.5, 0.5) }
        }
        func context() -> Context { Context(training: training, needsBackward: true, seed: 99, threads: threads) }
        let firstOutput = layer.forward(input, context: context())
        let weights = (0..<firstOutput.count).map { _ in random.uniform(-1, 1) }

        func loss() -> Double {
            let output = layer.forward(input, context: context())
            var sum = 0.0
            for i in 0..<output.count { sum += Double(output[i]) * Double(weights[i]) }
            return sum
        }

        for (_, parameter) in layer.namedParameters { parameter.gradient.fill(0) }
        let pass = context()
        let output = layer.forward(input, context: pass)
        let outputGradient = Tensor(shape: output.shape, values: weights)
        let inputGradient = layer.backward(outputGradient, context: pass, needsInputGradient: true)!.values
        let parameterGradients = layer.namedParameters.map { ($0.name, $0.parameter.gradient.values) }

        func compare(_ name: String, _ tensor: Tensor, _ analytic: [Float]) {
            let indices = tensor.count <= samplesPerTensor ? Array(0..<tensor.count)
                : (0..<samplesPerTensor).map { _ in random.below(tensor.count) }
            for i in indices {
                let saved = tensor[i]
                tensor[i] = saved + epsilon
                let plus = loss()
                tensor[i] = saved - epsilon
                let minus = loss()
                tensor[i] = saved
                let numeric = (plus - minus) / (2 * Double(epsilon))
                let exact = Double(analytic[i])
                let tolerance = absoluteTolerance + relativeTolerance * max(abs(numeric), abs(exact))
                #expect(abs(numeric - exact) <= tolerance,
                        "\(layer.description) ∂L/∂\(name)[\(i)]: backward \(exact), finite difference \(numeric)",
                        sourceLocation: sourceLocation)
            }
        }
        compare("input", input, inputGradient)
        for ((name, gradient), (_, parameter)) in zip(parameterGradients, layer.namedParameters) {
            compare(name, parameter.value, gradient)
        }
    }
}

@Suite("Every layer's backward equals finite differences")
struct LayerGradientTests {
    let checker = GradientChecker()

    @Test(arguments: [(1, 3, 0, true), (3, 3, 1, false), (4, 1, 0, true), (2, 5, 2, false)])
    func conv2d(inChannels: Int, kernelSize: Int, padding: Int, bias: Bool) {
        checker.check(Conv2d(inChannels, 5, kernelSize: kernelSize, padding: padding, bias: bias),
                      inputShape: [2, inChannels, 7, 6])
    }

    @Test func batchNormTraining() {
        checker.check(BatchNorm2d(3), inputShape: [4, 3, 5, 5], training: true)
    }

    @Test func batchNormEvaluating() {
        let norm = BatchNorm2d(3)
        for c in 0..<3 { norm.runningMean[c] = Float(c) * 0.1; norm.runningVariance[c] = 1 + Float(c) }
        checker.check(norm, inputShape: [2, 3, 4, 4], training: false)
    }

    @Test func relu() { checker.check(ReLU(), inputShape: [2, 3, 5, 5], awayFromKinks: true) }
    @Test func sigmoid() { checker.check(Sigmoid(), inputShape: [3, 4]) }
    @Test func maxPool() { checker.check(MaxPool2d(2), inputShape: [2, 3, 7, 6]) }
    @Test func maxPoolOfThree() { checker.check(MaxPool2d(3), inputShape: [2, 3, 8, 7]) }
    @Test func avgPool() { checker.check(AvgPool2d(3), inputShape: [2, 2, 7, 6]) }
    @Test func globalAvgPool() { checker.check(GlobalAvgPool2d(), inputShape: [2, 4, 5, 5]) }
    @Test func dropout() { checker.check(Dropout(0.3), inputShape: [2, 3, 4, 4]) }
    @Test func dropout2d() { checker.check(Dropout2d(0.4), inputShape: [3, 5, 4, 4]) }
    @Test func linear() { checker.check(Linear(12, 5), inputShape: [3, 12]) }
    @Test func flatten() { checker.check(Flatten(), inputShape: [2, 3, 2, 2]) }
    @Test func logSoftmax() { checker.check(LogSoftmax(), inputShape: [4, 10]) }

    @Test func convBlockTraining() {
        checker.check(ConvBlock(2, 4, padding: 1, bias: true, dropout: 0.2), inputShape: [3, 2, 6, 5])
    }

    /// ReLU first, the kinks sit on the convolution's raw outputs, and BatchNorm then divides by
    /// the spread of what passed: a finite step straddling one measures neither side. Biases of
    /// ±5 keep every output of a channel on one side: two channels wholly open, two wholly shut
    /// (whose gradients must then be 0). (Where ReLU gates within a channel, the block is checked
    /// against its layers, each checked here: ConvBlockTests.)
    @Test(arguments: [false, true])
    func reluFirstConvBlockTraining(dropsWholeChannels: Bool) {
        let block = ConvBlock(2, 4, padding: 1, bias: true, dropout: 0.2, dropsWholeChannels: dropsWholeChannels,
                              order: .reluThenBatchNorm)
        for c in 0..<4 { block.convolution.bias!.value[c] = c < 2 ? 5 : -5 }
        checker.check(block, inputShape: [3, 2, 6, 5])
    }

    /// Evaluating with gradients (fixed statistics). Unnormalised, the pre-activations lie so close
    /// together around 0 that a finite step of a weight flips some ReLUs, which a finite difference
    /// cannot measure; β = 5 keeps them all open. (Where ReLU gates, the block is checked against
    /// its layers, each checked here: ConvBlockTests.)
    @Test func convBlockEvaluating() {
        let block = ConvBlock(2, 4, padding: 1, bias: true, dropout: 0.2)
        block.normalization.bias.value.fill(5)
        checker.check(block, inputShape: [3, 2, 6, 5], training: false)
    }

    @Test func wholeNetwork() {
        let network = Sequential(Conv2d(2, 4, kernelSize: 3), BatchNorm2d(4), ReLU(), Dropout(0.1),
                                 MaxPool2d(2), ConvBlock(4, 3, kernelSize: 1, dropout: 0.1), GlobalAvgPool2d(), LogSoftmax())
        checker.check(network, inputShape: [3, 2, 8, 8])
    }

    /// Every kind of layer in one chain, so that each backward writes into one of the context's
    /// two gradient tensors while the next reads the other (Flatten's gradient is a view of one).
    @Test func wholeNetworkThroughEveryLayer() {
        let network = Sequential(Conv2d(1, 3, kernelSize: 3, padding: 1), Sigmoid(), MaxPool2d(3), AvgPool2d(2),
                                 Flatten(), Linear(3, 4), Dropout(0.2), Linear(4, 3), LogSoftmax())
        checker.check(network, inputShape: [2, 1, 7, 7])
    }
}

@Suite("Input gradients")
struct GradientBufferTests {
    /// A layer's input gradient never lands in the tensor holding the gradient it reads, nor in
    /// the one a view it reads lies in; otherwise the first tensor is taken.
    @Test func neverTheTensorBeingRead() {
        let buffers = GradientBuffers()
        let elsewhere = Tensor(shape: [4])
        let first = buffers.inputGradient([4], besides: elsewhere)
        let second = buffers.inputGradient([8], besides: first)
        #expect(first !== second && second.shape == [8])
        #expect(buffers.inputGradient([6], besides: Tensor(viewing: second, offset: 2, shape: [2, 3])) === first)
        #expect(buffers.inputGradient([3], besides: Tensor(viewing: first, offset: 5, shape: [1])) === second)
        #expect(buffers.inputGradient([2], besides: elsewhere) === first)
    }
}

@Suite("The loss")
struct LossTests {
    @Test func nllLossAndGradient() {
        // log-probabilities of two examples over three classes; labels 2 and 0.
        let logp = Tensor(shape: [2, 3], values: [-1, -2, -0.5, -0.1, -3, -4])
        let labels = [2, 0]
        let gradient = Tensor(shape: [0])
        let loss = NLLLoss.evaluate(logProbabilities: logp, labels: labels[...], gradient: gradient)
        #expect(abs(loss - 0.3) < 1e-6)
        #expect(gradient.values == [0, 0, -0.5, -0.5, 0, 0])
    }

    /// With ε = 0.3 over K = 3 classes the target is 0.1 on each class plus 0.7 on the true one:
    /// example 1: 0.7·0.5 + 0.1·3.5 = 0.70; example 2: 0.7·0.1 + 0.1·7.1 = 0.78; mean 0.74.
    /// (PyTorch's cross_entropy(x, labels, label_smoothing=0.3) is this loss of log_softmax(x).)
    @Test func labelSmoothing() {
        let logp = Tensor(shape: [2, 3], values: [-1, -2, -0.5, -0.1, -3, -4])
        let labels = [2, 0]
        let gradient = Tensor(shape: [0])
        let loss = NLLLoss.evaluate(logProbabilities: logp, labels: labels[...], gradient: gradient, smoothing: 0.3)
        #expect(abs(loss - 0.74) < 1e-6)
        let expected: [Float] = [-0.05, -0.05, -0.4, -0.4, -0.05, -0.05]
        #expect(zip(gradient.values, expected).allSatisfy { abs($0 - $1) < 1e-7 })
    }

    @Test func logSoftmaxMatchesDefinition() {
        let input = Tensor(shape: [1, 4], values: [1, 2, 3, 1000])  // large values must not overflow
        let output = LogSoftmax().forward(input, context: Context(training: false))
        #expect(output[3] > -1e-6 && output[3] <= 0)
        #expect(abs(output[0] - (1 - 1000)) < 1e-3)
    }
}
