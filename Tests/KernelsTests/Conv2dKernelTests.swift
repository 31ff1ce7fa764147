import Kernels
import Testing

/// The fast convolution must compute what the plain loops compute, for every shape the models use
/// and the awkward ones they might: odd sizes, outputs narrower than a SIMD vector, channel counts
/// that are not multiples of the register blocks, 1×1 and 5×5 kernels, padding 0–2, batch 1.
@Suite("Fast convolution equals the reference loops")
struct Conv2dKernelTests {
    static let shapes: [Conv2dShape] = [
        Conv2dShape(batch: 3, inChannels: 1, outChannels: 8, height: 28, width: 28, kernelSize: 3, padding: 0),
        Conv2dShape(batch: 2, inChannels: 8, outChannels: 16, height: 26, width: 26, kernelSize: 3, padding: 1),
        Conv2dShape(batch: 5, inChannels: 13, outChannels: 3, height: 7, width: 9, kernelSize: 3, padding: 0),
        Conv2dShape(batch: 2, inChannels: 16, outChannels: 10, height: 6, width: 6, kernelSize: 1, padding: 0),
        Conv2dShape(batch: 1, inChannels: 32, outChannels: 16, height: 24, width: 24, kernelSize: 1, padding: 1),
        Conv2dShape(batch: 2, inChannels: 3, outChannels: 5, height: 11, width: 5, kernelSize: 5, padding: 2),
        Conv2dShape(batch: 4, inChannels: 16, outChannels: 12, height: 3, width: 3, kernelSize: 3, padding: 0),
        Conv2dShape(batch: 1, inChannels: 2, outChannels: 9, height: 1, width: 1, kernelSize: 3, padding: 1),
        Conv2dShape(batch: 2, inChannels: 4, outChannels: 33, height: 12, width: 12, kernelSize: 3, padding: 1),
    ]

    static func random(_ count: Int, _ random: inout Random) -> [Float] {
        (0..<count).map { _ in random.uniform(-1, 1) }
    }

    /// The largest difference, relative to the size of the sums involved (`scale` terms of magnitude ≤ 1).
    static func error(_ a: [Float], _ b: [Float], scale: Float) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / scale) }
    }

    @Test(arguments: shapes, [1, 2])
    func fastEqualsReference(shape s: Conv2dShape, threads: Int) {
        var random = Random(seed: UInt64(s.inputCount + threads))
        let input = Self.random(s.inputCount, &random), weight = Self.random(s.weightCount, &random)
        let bias = Self.random(s.outChannels, &random), gradient = Self.random(s.outputCount, &random)
        let scale = Float(s.inChannels * s.kernelSize * s.kernelSize)
        let kernel = Conv2dKernel(shape: s, threads: threads)

        for withBias in [true, false] {
            var expected = [Float](repeating: 0, count: s.outputCount), actual = expected
            bias.withUnsafeBufferPointer { b in
                let biasPointer = withBias ? b.baseAddress : nil
                Conv2dReference.forward(input: input, weight: weight, bias: biasPointer, output: &expected, shape: s)
                kernel.forward(input: input, weight: weight, bias: biasPointer, output: &actual)
            }
            let forwardError = Self.error(expected, actual, scale: scale)
            #expect(forwardError < 1e-5, "forward \(s), bias \(withBias): error \(forwardError)")
        }

        var expectedData = [Float](repeating: 7, count: s.inputCount), actualData = expectedData
        Conv2dReference.backwardData(outputGradient: gradient, weight: weight, inputGradient: &expectedData, shape: s)
        kernel.backwardData(outputGradient: gradient, weight: weight, inputGradient: &actualData)
        let dataError = Self.error(expectedData, actualData, scale: Float(s.outChannels * s.kernelSize * s.kernelSize))
        #expect(dataError < 1e-5, "backwardData \(s): error \(dataError)")

        // The weight gradient is added to what is there: start both from the same non-zero values.
        let start = Self.random(s.weightCount, &random), biasStart = Self.random(s.outChannels, &random)
        var expectedWeights = start, actualWeights = start, expectedBias = biasStart, actualBias = biasStart
        Conv2dReference.backwardWeights(input: input, outputGradient: gradient, weightGradient: &expectedWeights,
                                        biasGradient: &expectedBias, shape: s)
        kernel.backwardWeights(input: input, outputGradient: gradient, weightGradient: &actualWeights, biasGradient: &actualBias)
        let sumScale = Float(s.batch * s.outHeight * s.outWidth)
        let weightError = Self.error(expectedWeights, actualWeights, scale: sumScale)
        #expect(weightError < 1e-5, "backwardWeights \(s): error \(weightError)")
        let biasError = Self.error(expectedBias, actualBias, scale: sumScale)
        #expect(biasError < 1e-5, "bias gradient \(s): error \(biasError)")

        var unchanged = start
        kernel.backwardWeights(input: input, outputGradient: gradient, weightGradient: &unchanged, biasGradient: nil)
        let noBiasError = Self.error(expectedWeights, unchanged, scale: sumScale)
        #expect(noBiasError < 1e-5, "backwardWeights without bias \(s): error \(noBiasError)")
    }

    /// The reference itself against central differences of L = Σ out·r, in Double.
    @Test func referenceMatchesFiniteDifferences() {
        let s = Conv2dShape(batch: 2, inChannels: 2, outChannels: 3, height: 5, width: 4, kernelSize: 3, padding: 1)
        var random = Random(seed: 9)
        var input = Self.random(s.inputCount, &random), weight = Self.random(s.weightCount, &random)
        let r = Self.random(s.outputCount, &random)
        func loss() -> Double {
            var out = [Float](repeating: 0, count: s.outputCount)
            Conv2dReference.forward(input: input, weight: weight, bias: nil, output: &out, shape: s)
            return zip(out, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var dInput = [Float](repeating: 0, count: s.inputCount), dWeight = [Float](repeating: 0, count: s.weightCount)
        Conv2dReference.backwardData(outputGradient: r, weight: weight, inputGradient: &dInput, shape: s)
        Conv2dReference.backwardWeights(input: input, outputGradient: r, weightGradient: &dWeight, biasGradient: nil, shape: s)
        let h: Float = 1e-2
        for i in Swift.stride(from: 0, to: s.inputCount, by: 7) {
            let saved = input[i]
            input[i] = saved + h; let plus = loss()
            input[i] = saved - h; let minus = loss()
            input[i] = saved
            #expect(abs((plus - minus) / Double(2 * h) - Double(dInput[i])) < 1e-3)
        }
        for i in 0..<s.weightCount {
            let saved = weight[i]
            weight[i] = saved + h; let plus = loss()
            weight[i] = saved - h; let minus = loss()
            weight[i] = saved
            #expect(abs((plus - minus) / Double(2 * h) - Double(dWeight[i])) < 1e-3)
        }
    }
}
