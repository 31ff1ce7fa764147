import Kernels
import NN
import Testing

/// `Conv2d` with a stride or a dilation runs the stride-1 kernel with an expanded kernel and keeps
/// every s-th position (see Conv2d.swift). Checked here against PyTorch's definition written out as
/// a plain loop (forward), central finite differences (backward), the unfolded layers (evaluation
/// with BatchNorm folded in, and ConvBlock training), and the stride-1 kernel itself (the direct path).
@Suite("Conv2d with stride and dilation")
struct Conv2dStrideTests {
    /// One convolution and the input it is run on.
    struct Case: Sendable, CustomStringConvertible {
        var batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int
        var kernelSize: Int, stride: Int, padding: Int, dilation: Int, bias: Bool

        /// PyTorch's output size: ⌊(H + 2p − d·(k−1) − 1)/s⌋ + 1.
        var outHeight: Int { (height + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }
        var outWidth: Int { (width + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }
        var inputShape: [Int] { [batch, inChannels, height, width] }

        /// The layer with PyTorch's initialisation drawn from a fixed seed.
        func layer() -> Conv2d {
            let conv = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                              dilation: dilation, bias: bias)
            var random = Random(seed: 4)
            conv.initialize(using: &random)
            return conv
        }

        func input(seed: UInt64 = 6) -> Tensor {
            var random = Random(seed: seed)
            return Tensor(shape: inputShape, values: (0..<inputShape.reduce(1, *)).map { _ in random.uniform(-1, 1) })
        }

        var description: String {
            "\(batch)×\(inChannels)×\(height)×\(width) → \(outChannels), k \(kernelSize) s \(stride) p \(padding) d \(dilation)\(bias ? "" : ", no bias")"
        }
    }

    static let cases: [Case] = [
        // stride 2 without padding, odd size: the last row and column of the stride-1 map are kept
        Case(batch: 1, inChannels: 2, outChannels: 5, height: 13, width: 13, kernelSize: 3, stride: 2, padding: 0, dilation: 1, bias: true),
        // stride 2 with padding, no bias
        Case(batch: 3, inChannels: 3, outChannels: 4, height: 13, width: 13, kernelSize: 3, stride: 2, padding: 1, dilation: 1, bias: false),
        // even height, odd width: the stride-1 map's last row is dropped, its last column kept
        Case(batch: 3, inChannels: 2, outChannels: 3, height: 12, width: 9, kernelSize: 3, stride: 2, padding: 1, dilation: 1, bias: true),
        // dilation 2 alone, padding keeping the size
        Case(batch: 3, inChannels: 3, outChannels: 4, height: 13, width: 11, kernelSize: 3, stride: 1, padding: 2, dilation: 2, bias: true),
        // stride 2 and dilation 2
        Case(batch: 1, inChannels: 2, outChannels: 5, height: 13, width: 13, kernelSize: 3, stride: 2, padding: 1, dilation: 2, bias: false),
        // stride 3 with an even kernel
        Case(batch: 2, inChannels: 3, outChannels: 2, height: 14, width: 9, kernelSize: 2, stride: 3, padding: 0, dilation: 1, bias: true),
        // a 1×1 downsampling with padding wider than the kernel (the border outputs see only zeros)
        Case(batch: 2, inChannels: 3, outChannels: 4, height: 7, width: 8, kernelSize: 1, stride: 2, padding: 1, dilation: 1, bias: true),
        // large enough (over 2¹⁸ multiply-adds) for two threads to split the batch
        Case(batch: 3, inChannels: 6, outChannels: 10, height: 29, width: 29, kernelSize: 3, stride: 2, padding: 1, dilation: 1, bias: true),
        Case(batch: 3, inChannels: 6, outChannels: 10, height: 29, width: 27, kernelSize: 3, stride: 2, padding: 2, dilation: 2, bias: false),
        // the shapes of a learner's network: Cin·k·k = 72 and 144 gathered rows, batches of 8
        Case(batch: 8, inChannels: 8, outChannels: 16, height: 26, width: 26, kernelSize: 3, stride: 2, padding: 1, dilation: 1, bias: false),
        Case(batch: 8, inChannels: 16, outChannels: 16, height: 13, width: 13, kernelSize: 3, stride: 1, padding: 0, dilation: 2, bias: false),
    ]

    /// PyTorch's definition, in Double: y[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,s·y+d·i−p,s·x+d·j−p]
    /// (zero outside the image). Returns the outputs and, per output, Σ|terms| (the scale of its rounding).
    static func naiveForward(_ c: Case, input: Tensor, weight: Tensor, bias: Tensor?) -> (values: [Double], magnitudes: [Double]) {
        let k = c.kernelSize
        var values: [Double] = [], magnitudes: [Double] = []
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for y in 0..<c.outHeight {
                    for x in 0..<c.outWidth {
                        var sum = Double(bias?[o] ?? 0), magnitude = abs(sum)
                        for ci in 0..<c.inChannels {
                            for i in 0..<k {
                                for j in 0..<k {
                                    let iy = c.stride * y + c.dilation * i - c.padding
                                    let ix = c.stride * x + c.dilation * j - c.padding
                                    guard iy >= 0 && iy < c.height && ix >= 0 && ix < c.width else { continue }
                                    let term = Double(weight[((o * c.inChannels + ci) * k + i) * k + j])
                                        * Double(input[((n * c.inChannels + ci) * c.height + iy) * c.width + ix])
                                    sum += term
                                    magnitude += abs(term)
                                }
                            }
                        }
                        values.append(sum)
                        magnitudes.append(magnitude)
                    }
                }
            }
        }
        return (values, magnitudes)
    }

    @Test(arguments: cases, [1, 2])
    func forwardEqualsTheDefinition(_ c: Case, threads: Int) throws {
        let conv = c.layer(), input = c.input()
        #expect(try conv.outputShape(for: Array(c.inputShape.dropFirst())) == [c.outChannels, c.outHeight, c.outWidth])
        let output = conv.forward(input, context: Context(training: true, threads: threads))
        #expect(output.shape == [c.batch, c.outChannels, c.outHeight, c.outWidth])
        let (expected, magnitudes) = Self.naiveForward(c, input: input, weight: conv.weight.value, bias: conv.bias?.value)
        let values = output.values
        try #require(values.count == expected.count)
        let wrong = (0..<values.count).filter { abs(Double(values[$0]) - expected[$0]) > 1e-6 * (1 + magnitudes[$0]) }
        let wrongCount = wrong.count
        #expect(wrongCount == 0, "\(c): \(wrongCount) of \(values.count) outputs differ, the first at \(wrong.first ?? 0)")

        // Twice more, after a weight changes and with another batch size: the expanded kernel
        // follows the weights, and the stride-1 scratch its batch.
        conv.weight.value[1] += 0.5
        let smaller = Case(batch: 1, inChannels: c.inChannels, outChannels: c.outChannels, height: c.height, width: c.width,
                           kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, dilation: c.dilation, bias: c.bias)
        for run in [c, smaller] {
            let input = run.input(seed: 7)
            let output = conv.forward(input, context: Context(training: true, threads: threads)).values
            let (expected, magnitudes) = Self.naiveForward(run, input: input, weight: conv.weight.value, bias: conv.bias?.value)
            #expect(output.count == expected.count
                    && (0..<output.count).allSatisfy { abs(Double(output[$0]) - expected[$0]) <= 1e-6 * (1 + magnitudes[$0]) },
                    "\(run) after a weight changed")
        }
    }

    /// The gradients against central finite differences (`GradientChecker`: L = Σ r·y for a fixed
    /// random r). L is affine in every input and parameter, so a central difference has no
    /// truncation error at any step: a large step (0.25) keeps Float rounding in the outputs small
    /// beside the change it measures.
    @Test(arguments: cases, [1, 2])
    func backwardEqualsFiniteDifferences(_ c: Case, threads: Int) throws {
        GradientChecker(epsilon: 0.25, relativeTolerance: 1e-3, absoluteTolerance: 1e-3, samplesPerTensor: 60, threads: threads)
            .check(c.layer(), inputShape: [c.batch, c.inChannels, c.height, c.width])

        // Backward adds into the parameter gradients, and a second backward for the same forward
        // adds the same again (the expanded kernel's gradient scratch starts from zero each time).
        let conv = c.layer(), input = c.input()
        let context = Context(training: true, threads: threads)
        let output = conv.forward(input, context: context)
        var random = Random(seed: 12)
        let g = Tensor(shape: output.shape, values: (0..<output.count).map { _ in random.uniform(-1, 1) })
        let start: Float = 0.25
        for (_, parameter) in conv.namedParameters { parameter.gradient.fill(start) }
        _ = conv.backward(g, context: context, needsInputGradient: false)
        let once = conv.namedParameters.map { $0.parameter.gradient.values.map { $0 - start } }
        _ = conv.forward(input, context: context)
        _ = conv.backward(g, context: context, needsInputGradient: false)
        for (gradient, (name, parameter)) in zip(once, conv.namedParameters) {
            #expect(zip(gradient, parameter.gradient.values).allSatisfy { abs(start + 2 * $0 - $1) <= 1e-5 * (1 + abs($1)) },
                    "\(c) \(name), twice")
        }
    }

    /// Evaluation through a ConvBlock folds BatchNorm into the convolution (`forwardFolded`): it
    /// must equal the convolution's forward followed by y = max(0, z·scale + shift), per channel,
    /// scale = γ/√(running_var + ε), shift = β − running_mean·scale (to rounding: the folded pass
    /// scales the weights before the sums).
    @Test(arguments: cases, [1, 2])
    func foldedEvaluationEqualsForwardThenScaleShiftAndReLU(_ c: Case, threads: Int) {
        let conv = c.layer(), input = c.input()
        let norm = BatchNorm2d(c.outChannels)
        var random = Random(seed: 3)
        for o in 0..<c.outChannels {
            norm.weight.value[o] = random.uniform(0.5, 1.5); norm.bias.value[o] = random.uniform(-0.3, 0.3)
            norm.runningMean[o] = random.uniform(-0.5, 0.5); norm.runningVariance[o] = random.uniform(0.5, 2)
        }
        let block = ConvBlock(conv, norm, dropout: nil)
        let folded = block.forward(input, context: Context(training: false, threads: threads)).values

        let z = conv.forward(input, context: Context(training: true, threads: threads))
        let plane = c.outHeight * c.outWidth
        var expected: [Float] = []
        for i in 0..<z.count {
            let o = i / plane % c.outChannels
            let scale = norm.weight.value[o] / (norm.runningVariance[o] + norm.epsilon).squareRoot()
            let shift = norm.bias.value[o] - norm.runningMean[o] * scale
            expected.append(max(0, z[i] * scale + shift))
        }
        #expect(folded.count == expected.count
                && zip(folded, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(c)")
        #expect(expected.contains(0) && expected.contains { $0 > 0 })
    }

    /// Training, a ConvBlock with a strided (and dilated) convolution computes exactly what its
    /// layers compute one by one: outputs, input gradients, parameter gradients, running statistics.
    @Test(arguments: [(2, 1), (2, 2)], [1, 2])
    func convBlockTrainsAsItsLayers(strideAndDilation: (Int, Int), threads: Int) {
        let (stride, dilation) = strideAndDilation
        func layers(dropout: Bool) -> (Conv2d, BatchNorm2d, Dropout?) {
            var random = Random(seed: 2)
            let conv = Conv2d(3, 5, kernelSize: 3, stride: stride, padding: 1, dilation: dilation, bias: true)
            conv.initialize(using: &random)
            let norm = BatchNorm2d(5)
            for o in 0..<5 { norm.weight.value[o] = random.uniform(0.5, 1.5); norm.bias.value[o] = random.uniform(-0.3, 0.3) }
            return (conv, norm, dropout ? Dropout(0.3) : nil)
        }
        var random = Random(seed: 8)
        let input = Tensor(shape: [3, 3, 13, 13], values: (0..<(3 * 3 * 169)).map { _ in random.uniform(-2, 2) })
        func run(_ layer: Layer, _ conv: Conv2d, _ norm: BatchNorm2d) -> [[Float]] {
            let context = Context(training: true, seed: 5, threads: threads)
            let output = layer.forward(input, context: context)
            var g = Random(seed: 9)
            let gradient = Tensor(shape: output.shape, values: (0..<output.count).map { _ in g.uniform(-1, 1) })
            let inputGradient = layer.backward(gradient, context: context, needsInputGradient: true)!.values
            return [output.values, inputGradient, conv.weight.gradient.values, conv.bias!.gradient.values,
                    norm.weight.gradient.values, norm.bias.gradient.values, norm.runningMean.values, norm.runningVariance.values]
        }
        for dropout in [false, true] {
            let (conv, norm, drop) = layers(dropout: dropout)
            let block = run(ConvBlock(conv, norm, dropout: drop), conv, norm)
            let (conv2, norm2, drop2) = layers(dropout: dropout)
            let separate = run(Sequential([conv2, norm2, ReLU()] + (drop2.map { [$0] } ?? [])), conv2, norm2)
            #expect(block == separate, "stride \(stride), dilation \(dilation), dropout \(dropout)")
            let side = dilation == 1 ? 7 : 6   // (13 + 2 − 3)/2 + 1, or (13 + 2 − 5)/2 + 1 dilated
            #expect(block[0].count == 3 * 5 * side * side)
        }
    }

    /// Stride 1 and dilation 1 run the stride-1 kernel on the layer's own weights and tensors, as
    /// before stride and dilation existed: forward and both gradients bit for bit those of
    /// `Conv2dKernel` called directly.
    @Test(arguments: [1, 2])
    func strideOneIsTheKernelItself(threads: Int) {
        let c = Case(batch: 3, inChannels: 6, outChannels: 10, height: 28, width: 28, kernelSize: 3, stride: 1,
                     padding: 1, dilation: 1, bias: true)
        let conv = c.layer(), input = c.input()
        let context = Context(training: true, threads: threads)
        let output = conv.forward(input, context: context).values
        var random = Random(seed: 12)
        let g = Tensor(shape: [3, 10, 28, 28], values: (0..<(3 * 10 * 784)).map { _ in random.uniform(-1, 1) })
        let inputGradient = conv.backward(g, context: context, needsInputGradient: true)!.values

        let kernel = Conv2dKernel(shape: Conv2dShape(batch: 3, inChannels: 6, outChannels: 10, height: 28, width: 28,
                                                     kernelSize: 3, padding: 1), threads: context.threads)
        let y = Tensor(shape: [3, 10, 28, 28]), dx = Tensor(shape: c.inputShape)
        let dw = Tensor(shape: conv.weight.value.shape), db = Tensor(shape: [10])
        kernel.forward(input: input.data, weight: conv.weight.value.data, bias: conv.bias!.value.data, output: y.data)
        kernel.backwardWeights(input: input.data, outputGradient: g.data, weightGradient: dw.data, biasGradient: db.data)
        kernel.backwardData(outputGradient: g.data, weight: conv.weight.value.data, inputGradient: dx.data)
        #expect(output == y.values)
        #expect(inputGradient == dx.values)
        #expect(conv.weight.gradient.values == dw.values)
        #expect(conv.bias!.gradient.values == db.values)
    }

    /// How the layer describes itself: PyTorch's repr (only non-default arguments), its spec and
    /// copy, the window the summary's receptive field grows by, the true multiply-adds, and the
    /// error for an image too small for the dilated kernel.
    @Test func describesItselfAsPyTorchDoes() throws {
        let conv = Conv2d(1, 8, kernelSize: 3, stride: 2, padding: 1, dilation: 2, bias: false)
        #expect(conv.description == "Conv2d(1, 8, kernel_size=3, stride=2, padding=1, dilation=2, bias=False)")
        #expect(Conv2d(1, 8, kernelSize: 3, bias: false).description == "Conv2d(1, 8, kernel_size=3, bias=False)")
        #expect(Conv2d(4, 8, kernelSize: 1, stride: 2).description == "Conv2d(4, 8, kernel_size=1, stride=2)")

        let spec = try #require(conv.spec)
        #expect(spec.stride == 2 && spec.dilation == 2 && spec.padding == 1 && spec.kernelSize == 3 && spec.bias == false)
        #expect(Conv2d(1, 8, kernelSize: 3).spec?.stride == 1 && Conv2d(1, 8, kernelSize: 3).spec?.dilation == 1)
        let twin = try #require(conv.copy() as? Conv2d)
        #expect(twin.spec == spec && twin.stride == 2 && twin.dilation == 2)

        // 28×28: dilated kernel span 5; (28 + 2 − 5)/2 + 1 = 13.
        #expect(try conv.outputShape(for: [1, 28, 28]) == [8, 13, 13])
        #expect(conv.spatialWindow(for: [1, 28, 28])! == (kernel: 5, stride: 2))
        #expect(conv.multiplyAdds(for: [1, 28, 28]) == 8 * 13 * 13 * 1 * 9)
        // Span 5 needs 5 − 2·1 = 3 pixels.
        #expect(try conv.outputShape(for: [1, 3, 3]) == [8, 1, 1])
        #expect(throws: ModelError.self) { try conv.outputShape(for: [1, 2, 7]) }
        #expect(throws: ModelError.self) { try Model(name: "bad", network: Sequential(Conv2d(1, 4, kernelSize: 3, dilation: 14))) }

        let model = try Model(name: "strided", network: Sequential(conv, Conv2d(8, 4, kernelSize: 3, stride: 2)))
        #expect(model.architecture.layers.map(\.stride) == [2, 2])
        #expect(model.architecture.layers.map(\.dilation) == [2, 1])
        // Receptive field: 5 after the first (jump 2), 5 + (3 − 1)·2 = 9 after the second (jump 4).
        let summary = ModelSummary(model: model)
        #expect(summary.rows.map(\.receptiveField) == [5, 9])
        #expect(summary.rows.map(\.jump) == [2, 4])
    }
}
