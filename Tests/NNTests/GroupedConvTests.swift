import Kernels
import NN
import Testing

/// `Conv2d` with groups runs its own direct loops (`GroupedConvolution`). A grouped convolution is
/// a full one whose weights are zero between channels of different groups: checked against that
/// (the full convolution's own kernel, forward, input gradient and the weight gradient's blocks),
/// against central finite differences, and, folded with a BatchNorm for evaluation, against the
/// layers run one by one. PyTorch's own grouped convolutions: the depthwise_separable fixture of
/// TorchAgreementTests.
@Suite("Grouped convolutions")
struct GroupedConvTests {
    struct Case: Sendable, CustomStringConvertible {
        var inChannels: Int, outChannels: Int, groups: Int
        var kernelSize: Int, stride: Int, padding: Int, dilation: Int, bias: Bool
        var description: String {
            "\(inChannels) → \(outChannels) in \(groups) groups, k \(kernelSize) s \(stride) p \(padding) d \(dilation)\(bias ? "" : ", no bias")"
        }

        func layer(groups: Int? = nil) -> Conv2d {
            Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                   dilation: dilation, groups: groups ?? self.groups, bias: bias)
        }
    }

    static let cases: [Case] = [
        Case(inChannels: 4, outChannels: 6, groups: 2, kernelSize: 3, stride: 1, padding: 0, dilation: 1, bias: true),
        Case(inChannels: 6, outChannels: 6, groups: 6, kernelSize: 3, stride: 1, padding: 1, dilation: 1, bias: false),  // depthwise
        Case(inChannels: 4, outChannels: 8, groups: 4, kernelSize: 3, stride: 2, padding: 1, dilation: 1, bias: true),   // two per group, strided
        Case(inChannels: 6, outChannels: 3, groups: 3, kernelSize: 2, stride: 1, padding: 2, dilation: 2, bias: true),   // dilated, wide padding
        Case(inChannels: 3, outChannels: 3, groups: 3, kernelSize: 5, stride: 3, padding: 0, dilation: 1, bias: false),
    ]

    /// The grouped layer's forward pass, input gradient and weight gradient equal those of the full
    /// convolution whose weights outside the groups are zero (to rounding: the sums run in another
    /// order).
    @Test(arguments: cases)
    func equalsTheFullConvolutionWithZerosBetweenGroups(_ c: Case) throws {
        let grouped = c.layer(), full = c.layer(groups: 1)
        var random = Random(seed: 3)
        grouped.initialize(using: &random)
        let perGroupIn = c.inChannels / c.groups, perGroupOut = c.outChannels / c.groups, kk = c.kernelSize * c.kernelSize
        #expect(grouped.weight.value.shape == [c.outChannels, perGroupIn, c.kernelSize, c.kernelSize])
        full.weight.value.fill(0)
        for o in 0..<c.outChannels {
            let group = o / perGroupOut
            for ci in 0..<perGroupIn {
                for t in 0..<kk {
                    full.weight.value[(o * c.inChannels + group * perGroupIn + ci) * kk + t] = grouped.weight.value[(o * perGroupIn + ci) * kk + t]
                }
            }
        }
        if let bias = grouped.bias { full.bias!.value.copy(from: bias.value) }

        let shape = [3, c.inChannels, 9, 8]
        let input = Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.uniform(-1, 1) })
        let context = Context(training: true, threads: 2)
        let a = grouped.forward(input, context: context).values
        let b = full.forward(input, context: context).values
        #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }, "\(c)")

        let outputGradient = Tensor(shape: [3] + (try grouped.outputShape(for: Array(shape.dropFirst()))),
                                    values: (0..<a.count).map { _ in random.uniform(-1, 1) })
        for layer in [grouped, full] { for (_, p) in layer.namedParameters { p.gradient.fill(0) } }
        let da = try #require(grouped.backward(outputGradient, context: context, needsInputGradient: true)).values
        let db = try #require(full.backward(outputGradient, context: context, needsInputGradient: true)).values
        #expect(zip(da, db).allSatisfy { abs($0 - $1) < 1e-4 }, "\(c): input gradient")
        for o in 0..<c.outChannels {
            let group = o / perGroupOut
            for ci in 0..<perGroupIn {
                for t in 0..<kk {
                    let mine = grouped.weight.gradient[(o * perGroupIn + ci) * kk + t]
                    let theirs = full.weight.gradient[(o * c.inChannels + group * perGroupIn + ci) * kk + t]
                    #expect(abs(mine - theirs) < 1e-4, "\(c): ∂w[\(o), \(ci), \(t)]")
                }
            }
        }
        if let bias = grouped.bias {
            #expect(zip(bias.gradient.values, full.bias!.gradient.values).allSatisfy { abs($0 - $1) < 1e-4 })
        }
    }

    @Test(arguments: cases)
    func finiteDifferences(_ c: Case) {
        GradientChecker().check(c.layer(), inputShape: [2, c.inChannels, 7, 6])
    }

    /// Evaluation folds BatchNorm into the grouped convolution as into a full one.
    @Test func foldedBlockEqualsItsLayers() {
        let block = ConvBlock(Conv2d(4, 8, kernelSize: 3, padding: 1, groups: 4, bias: true), BatchNorm2d(8), dropout: nil)
        var random = Random(seed: 8)
        block.convolution.initialize(using: &random)
        for c in 0..<8 {
            block.normalization.runningMean[c] = random.uniform(-0.5, 0.5)
            block.normalization.runningVariance[c] = random.uniform(0.5, 2)
            block.normalization.weight.value[c] = random.uniform(0.5, 1.5)
            block.normalization.bias.value[c] = random.uniform(-0.5, 0.5)
        }
        let input = Tensor(shape: [2, 4, 6, 6], values: (0..<288).map { _ in random.uniform(-1, 1) })
        let evaluating = Context(training: false, threads: 1)
        let folded = block.forward(input, context: evaluating).values
        let layers = ReLU().forward(block.normalization.forward(block.convolution.forward(input, context: evaluating),
                                                                context: evaluating), context: evaluating).values
        #expect(zip(folded, layers).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// groups must divide both channel counts: said in one line when a model file asks otherwise.
    @Test func groupsThatDoNotDivideAreRefused() {
        #expect(throws: (any Error).self) {
            try ModelFile.parse(#"{"layers": [{"c": "Conv2d(4, 6, 3, groups=4)"}, "LogSoftmax()"]}"#, source: "net.json")
        }
    }
}
