import Kernels
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fast convolution must compute what the plain loops compute, for every shape the models use
/// and the awkward ones they might: odd sizes, outputs narrower than a SIMD vector, channel counts
/// that are not multiples of the register blocks, 1×1, 5×5 and 7×7 kernels, padding 0–3 (also
/// more than k − 1), batch 1, batches that do not split evenly into the kernel's groups, and
/// batches big enough to be split over two threads.
@Suite("Fast convolution equals the reference loops")
struct Conv2dKernelTests {
    static func shape(_ batch: Int, _ cin: Int, _ cout: Int, _ height: Int, _ width: Int, k: Int, pad: Int) -> Conv2dShape {
        Conv2dShape(batch: batch, inChannels: cin, outChannels: cout, height: height, width: width,
                    kernelSize: k, padding: pad)
    }

    static let shapes: [Conv2dShape] = [
        // The course models' layers, at small batches.
        shape(3, 1, 8, 28, 28, k: 3, pad: 0),
        shape(2, 1, 16, 28, 28, k: 3, pad: 1),
        shape(2, 8, 16, 26, 26, k: 3, pad: 0),
        shape(2, 8, 16, 26, 26, k: 3, pad: 1),
        shape(3, 16, 8, 24, 24, k: 1, pad: 0),
        shape(3, 16, 16, 12, 12, k: 3, pad: 0),
        shape(2, 16, 16, 10, 10, k: 3, pad: 1),
        shape(4, 16, 16, 6, 6, k: 3, pad: 0),
        shape(3, 16, 10, 1, 1, k: 1, pad: 0),
        shape(1, 16, 16, 7, 7, k: 3, pad: 0),
        shape(2, 32, 32, 5, 5, k: 3, pad: 1),
        // Odd sizes and channel counts, narrow outputs.
        shape(5, 13, 3, 7, 9, k: 3, pad: 0),
        shape(2, 16, 32, 13, 11, k: 3, pad: 0),
        shape(3, 3, 8, 17, 15, k: 3, pad: 1),
        shape(2, 16, 10, 6, 6, k: 1, pad: 0),
        shape(3, 32, 8, 7, 7, k: 1, pad: 0),
        shape(4, 16, 12, 3, 3, k: 3, pad: 0),
        shape(1, 2, 9, 1, 1, k: 3, pad: 1),
        // 1×1 over gathered windows (ConvolutionWindows): many input channels, small planes; and
        // more than 72 input channels in a 3×3 (backward-data once read its zero bias at every
        // input block's start from 8 + 64 zeroed floats: past 72 channels, beyond the allocation).
        shape(8, 144, 16, 9, 9, k: 1, pad: 0),
        shape(8, 72, 16, 13, 13, k: 1, pad: 0),
        shape(1, 144, 16, 3, 3, k: 3, pad: 1),
        shape(2, 4, 33, 12, 12, k: 3, pad: 1),
        shape(1, 1, 1, 4, 21, k: 3, pad: 0),
        // Larger kernels and paddings, also padding ≥ kernel size (the backward pass crops).
        shape(1, 32, 16, 24, 24, k: 1, pad: 1),
        shape(2, 3, 5, 11, 5, k: 5, pad: 2),
        shape(2, 8, 8, 9, 9, k: 5, pad: 0),
        shape(1, 3, 4, 12, 10, k: 7, pad: 3),
        shape(2, 4, 6, 5, 7, k: 3, pad: 2),
        shape(1, 2, 3, 2, 3, k: 1, pad: 2),
        // Batches split over threads (enough work not to run inline), with uneven groups.
        shape(128, 16, 10, 1, 1, k: 1, pad: 0),
        shape(128, 16, 16, 6, 6, k: 3, pad: 0),
        shape(37, 8, 13, 9, 9, k: 3, pad: 1),
        shape(50, 16, 8, 12, 12, k: 1, pad: 0),
        shape(6, 8, 16, 26, 26, k: 3, pad: 0),
        shape(5, 1, 8, 28, 28, k: 3, pad: 1),
        // seed-erav2's layers at the batch of the PyTorch agreement test.
        shape(16, 1, 12, 28, 28, k: 3, pad: 1),
        shape(16, 12, 16, 28, 28, k: 3, pad: 1),
        shape(16, 16, 20, 14, 14, k: 3, pad: 1),
        shape(16, 20, 28, 14, 14, k: 3, pad: 1),
        shape(16, 28, 24, 7, 7, k: 3, pad: 0),
        shape(16, 24, 12, 5, 5, k: 3, pad: 0),
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
        var random = Random(seed: UInt64(s.inputCount + s.weightCount + threads))
        let input = Self.random(s.inputCount, &random), weight = Self.random(s.weightCount, &random)
        let bias = Self.random(s.outChannels, &random), gradient = Self.random(s.outputCount, &random)
        let kernel = Conv2dKernel(shape: s, threads: threads)
        // The kernel gets buffers that end at an unreadable page: reading or writing past them crashes.
        let guardedInput = GuardedBuffer(input), guardedWeight = GuardedBuffer(weight)
        let guardedBias = GuardedBuffer(bias), guardedGradient = GuardedBuffer(gradient)

        for withBias in [true, false] {
            var expected = [Float](repeating: 0, count: s.outputCount)
            let actual = GuardedBuffer([Float](repeating: .nan, count: s.outputCount))
            bias.withUnsafeBufferPointer { b in
                Conv2dReference.forward(input: input, weight: weight, bias: withBias ? b.baseAddress : nil,
                                        output: &expected, shape: s)
            }
            kernel.forward(input: guardedInput.pointer, weight: guardedWeight.pointer,
                           bias: withBias ? guardedBias.pointer : nil, output: actual.pointer)
            let forwardError = Self.error(expected, actual.array, scale: Float(s.inChannels * s.kernelSize * s.kernelSize))
            #expect(forwardError < 1e-5, "forward \(s), bias \(withBias): error \(forwardError)")
        }

        var expectedData = [Float](repeating: 7, count: s.inputCount)
        let actualData = GuardedBuffer([Float](repeating: .nan, count: s.inputCount))
        Conv2dReference.backwardData(outputGradient: gradient, weight: weight, inputGradient: &expectedData, shape: s)
        kernel.backwardData(outputGradient: guardedGradient.pointer, weight: guardedWeight.pointer,
                            inputGradient: actualData.pointer)
        let dataError = Self.error(expectedData, actualData.array, scale: Float(s.outChannels * s.kernelSize * s.kernelSize))
        #expect(dataError < 1e-5, "backwardData \(s): error \(dataError)")

        // The weight gradient is added to what is there: start both from the same non-zero values.
        let start = Self.random(s.weightCount, &random), biasStart = Self.random(s.outChannels, &random)
        var expectedWeights = start, expectedBias = biasStart
        let actualWeights = GuardedBuffer(start), actualBias = GuardedBuffer(biasStart)
        Conv2dReference.backwardWeights(input: input, outputGradient: gradient, weightGradient: &expectedWeights,
                                        biasGradient: &expectedBias, shape: s)
        kernel.backwardWeights(input: guardedInput.pointer, outputGradient: guardedGradient.pointer,
                               weightGradient: actualWeights.pointer, biasGradient: actualBias.pointer)
        let sumScale = Float(s.batch * s.outHeight * s.outWidth)
        let weightError = Self.error(expectedWeights, actualWeights.array, scale: sumScale)
        #expect(weightError < 1e-5, "backwardWeights \(s): error \(weightError)")
        let biasError = Self.error(expectedBias, actualBias.array, scale: sumScale)
        #expect(biasError < 1e-5, "bias gradient \(s): error \(biasError)")

        let unchanged = GuardedBuffer(start)
        kernel.backwardWeights(input: guardedInput.pointer, outputGradient: guardedGradient.pointer,
                               weightGradient: unchanged.pointer, biasGradient: nil)
        let noBiasError = Self.error(expectedWeights, unchanged.array, scale: sumScale)
        #expect(noBiasError < 1e-5, "backwardWeights without bias \(s): error \(noBiasError)")
    }

    /// The two shapes of register blocks (AVX-512's and AVX2's) compute each output by the same
    /// chain of fused multiply-adds: the results must be equal bit for bit, on whichever CPU runs
    /// the test (the one it does not have runs too, only more slowly).
    @Test(arguments: shapes)
    func registerBlocksGiveIdenticalResults(shape s: Conv2dShape) {
        var random = Random(seed: UInt64(s.inputCount + 3 * s.weightCount))
        let input = Self.random(s.inputCount, &random), weight = Self.random(s.weightCount, &random)
        let bias = Self.random(s.outChannels, &random), gradient = Self.random(s.outputCount, &random)
        let start = Self.random(s.weightCount, &random)
        func run(_ registers: RegisterBlocks) -> [[Float]] {
            let kernel = Conv2dKernel(shape: s, threads: 2, registers: registers)
            var output = [Float](repeating: 0, count: s.outputCount), data = [Float](repeating: 0, count: s.inputCount)
            var weights = start, biases = [Float](repeating: 0, count: s.outChannels)
            kernel.forward(input: input, weight: weight, bias: bias, output: &output)
            kernel.backwardData(outputGradient: gradient, weight: weight, inputGradient: &data)
            kernel.backwardWeights(input: input, outputGradient: gradient, weightGradient: &weights, biasGradient: &biases)
            return [output, data, weights, biases]
        }
        let wide = run(.wide), narrow = run(.narrow)
        for (name, pair) in zip(["forward", "backwardData", "weight gradient", "bias gradient"], zip(wide, narrow)) {
            #expect(pair.0 == pair.1, "\(name) \(s): the narrow blocks differ from the wide ones")
        }
    }

    /// A kernel is planned once and called many times: results must not depend on what earlier
    /// calls left in its scratch (padding, stale images of a fuller group, partial sums).
    @Test(arguments: [shape(37, 8, 13, 9, 9, k: 3, pad: 1), shape(9, 16, 16, 12, 12, k: 3, pad: 0),
                      shape(7, 8, 8, 6, 6, k: 3, pad: 1), shape(3, 4, 4, 1, 1, k: 3, pad: 2)])
    func repeatedCallsGiveTheSameResults(shape s: Conv2dShape) {
        var random = Random(seed: 5)
        let kernel = Conv2dKernel(shape: s, threads: 2)
        func run(_ input: [Float], _ gradient: [Float], _ weight: [Float]) -> [[Float]] {
            var output = [Float](repeating: 0, count: s.outputCount), data = [Float](repeating: 0, count: s.inputCount)
            var weights = [Float](repeating: 0, count: s.weightCount), biases = [Float](repeating: 0, count: s.outChannels)
            kernel.forward(input: input, weight: weight, bias: nil, output: &output)
            kernel.backwardData(outputGradient: gradient, weight: weight, inputGradient: &data)
            kernel.backwardWeights(input: input, outputGradient: gradient, weightGradient: &weights, biasGradient: &biases)
            return [output, data, weights, biases]
        }
        let input = Self.random(s.inputCount, &random), gradient = Self.random(s.outputCount, &random)
        let weight = Self.random(s.weightCount, &random)
        let first = run(input, gradient, weight)
        // Other values, large ones and infinities through every scratch buffer, then the first again.
        _ = run(input.map { $0 * 1e30 }, gradient.map { $0 * 1e30 }, weight)
        _ = run([Float](repeating: .infinity, count: s.inputCount), [Float](repeating: -.infinity, count: s.outputCount),
                weight)
        #expect(run(input, gradient, weight) == first)
    }

    /// The reference itself against central differences of L = Σ out·r, in Double.
    @Test func referenceMatchesFiniteDifferences() {
        let s = Conv2dShape(batch: 2, inChannels: 2, outChannels: 3, height: 5, width: 4, kernelSize: 3, padding: 1)
        var random = Random(seed: 9)
        var input = Self.random(s.inputCount, &random), weight = Self.random(s.weightCount, &random)
        var bias = Self.random(s.outChannels, &random)
        let r = Self.random(s.outputCount, &random)
        func loss() -> Double {
            var out = [Float](repeating: 0, count: s.outputCount)
            Conv2dReference.forward(input: input, weight: weight, bias: bias, output: &out, shape: s)
            return zip(out, r).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var dInput = [Float](repeating: 0, count: s.inputCount), dWeight = [Float](repeating: 0, count: s.weightCount)
        var dBias = [Float](repeating: 0, count: s.outChannels)
        Conv2dReference.backwardData(outputGradient: r, weight: weight, inputGradient: &dInput, shape: s)
        Conv2dReference.backwardWeights(input: input, outputGradient: r, weightGradient: &dWeight, biasGradient: &dBias, shape: s)
        // (plus − minus) / 2h after setting one value to saved ± h.
        let h: Float = 1e-2
        func derivative(_ set: (Float) -> Void, at saved: Float) -> Double {
            set(saved + h); let plus = loss()
            set(saved - h); let minus = loss()
            set(saved)
            return (plus - minus) / Double(2 * h)
        }
        for i in 0..<s.inputCount {
            let numeric = derivative({ input[i] = $0 }, at: input[i])
            #expect(abs(numeric - Double(dInput[i])) < 1e-3, "∂L/∂in[\(i)]")
        }
        for i in 0..<s.weightCount {
            let numeric = derivative({ weight[i] = $0 }, at: weight[i])
            #expect(abs(numeric - Double(dWeight[i])) < 1e-3, "∂L/∂w[\(i)]")
        }
        for i in 0..<s.outChannels {
            let numeric = derivative({ bias[i] = $0 }, at: bias[i])
            #expect(abs(numeric - Double(dBias[i])) < 1e-3, "∂L/∂b[\(i)]")
        }
    }
}

/// Winograd's F(4, 3) down the columns, which evaluation uses for 3×3 convolutions of 8 channels or
/// more, must give the direct sum up to rounding: output heights that fill the last tile of four
/// rows or leave part of it, widths under and over 16, padding 0–2, small images several to a group
/// and large ones alone, channel counts that fill the register blocks partly, a BatchNorm scale
/// folded in, ReLU.
@Suite("Winograd convolution equals the reference loops")
struct WinogradTests {
    static func shape(_ batch: Int, _ cin: Int, _ cout: Int, _ height: Int, _ width: Int, pad: Int) -> Conv2dShape {
        Conv2dShape(batch: batch, inChannels: cin, outChannels: cout, height: height, width: width,
                    kernelSize: 3, padding: pad)
    }

    static let shapes: [Conv2dShape] = [
        shape(3, 12, 20, 26, 26, pad: 0),     // s6's second convolution
        shape(2, 8, 16, 26, 26, pad: 0),
        shape(2, 12, 16, 12, 12, pad: 0),
        shape(2, 16, 16, 10, 10, pad: 0),
        shape(2, 20, 20, 6, 6, pad: 1),
        shape(3, 12, 16, 28, 28, pad: 1),
        shape(2, 9, 13, 11, 17, pad: 0),      // odd outputs: 9×15
        shape(1, 16, 33, 7, 40, pad: 2),      // wider than one 16-tile vector, padding 2
        shape(37, 8, 12, 10, 10, pad: 1),     // split over threads
        shape(1, 4, 4, 3, 3, pad: 0),         // a single 1×1 output
        shape(5, 8, 8, 6, 18, pad: 0),        // 4×16: one whole tile, one whole vector a row
        shape(4, 8, 9, 7, 19, pad: 0),        // 5×17: a tile of one row, a vector and one column
        shape(9, 8, 8, 3, 3, pad: 0),         // 1×1 outputs, several images to a group, over threads
    ]

    @Test(arguments: shapes, [1, 2])
    func winogradEqualsReference(shape s: Conv2dShape, threads: Int) {
        var random = Random(seed: UInt64(s.inputCount + s.weightCount + threads))
        let input = Conv2dKernelTests.random(s.inputCount, &random), weight = Conv2dKernelTests.random(s.weightCount, &random)
        let bias = Conv2dKernelTests.random(s.outChannels, &random)
        let scale = (0..<s.outChannels).map { _ in random.uniform(0.5, 2) }
        let kernel = WinogradConvolution(shape: s, threads: threads)
        let guardedInput = GuardedBuffer(input), guardedWeight = GuardedBuffer(weight)
        let guardedBias = GuardedBuffer(bias), guardedScale = GuardedBuffer(scale)
        for rectify in [false, true] {
            // The reference with the scale folded into the weights by hand, then ReLU.
            var scaled = weight
            for o in 0..<s.outChannels { for t in 0..<(s.inChannels * 9) { scaled[o * s.inChannels * 9 + t] *= scale[o] } }
            var expected = [Float](repeating: 0, count: s.outputCount)
            bias.withUnsafeBufferPointer { b in
                Conv2dReference.forward(input: input, weight: scaled, bias: b.baseAddress, output: &expected, shape: s)
            }
            if rectify { expected = expected.map { max(0, $0) } }
            for _ in 0..<2 {   // twice: nothing may depend on what the first call left in the scratch
                let actual = GuardedBuffer([Float](repeating: .nan, count: s.outputCount))
                kernel.forward(input: guardedInput.pointer, weight: guardedWeight.pointer, bias: guardedBias.pointer,
                               output: actual.pointer, scale: guardedScale.pointer, rectify: rectify)
                let error = Conv2dKernelTests.error(expected, actual.array, scale: Float(s.inChannels * 9 * 2))
                #expect(error < 1e-5, "Winograd \(s), rectify \(rectify): error \(error)")
            }
        }
    }
}

extension WinogradTests {
    /// The kernel keeps its transformed weights while they stay the same (evaluation calls it for
    /// every few images): a change to one weight, one scale or one bias must reach the result.
    @Test func changedWeightsScalesAndBiasesAreUsed() {
        let s = Self.shape(3, 8, 12, 10, 10, pad: 1)
        var random = Random(seed: 17)
        let input = Conv2dKernelTests.random(s.inputCount, &random)
        var weight = Conv2dKernelTests.random(s.weightCount, &random), bias = Conv2dKernelTests.random(s.outChannels, &random)
        var scale = [Float](repeating: 1, count: s.outChannels)
        let kernel = WinogradConvolution(shape: s, threads: 2)
        for change in 0..<4 {
            switch change {
            case 1: weight[5 * 9 * s.inChannels + 7] += 0.5
            case 2: scale[3] = 1.5
            case 3: bias[11] -= 2
            default: break
            }
            var scaled = weight
            for o in 0..<s.outChannels { for t in 0..<(s.inChannels * 9) { scaled[o * s.inChannels * 9 + t] *= scale[o] } }
            var expected = [Float](repeating: 0, count: s.outputCount), actual = expected
            Conv2dReference.forward(input: input, weight: scaled, bias: bias, output: &expected, shape: s)
            kernel.forward(input: input, weight: weight, bias: bias, output: &actual, scale: scale)
            let error = Conv2dKernelTests.error(expected, actual, scale: Float(s.inChannels * 9 * 2))
            #expect(error < 1e-5, "after change \(change): error \(error)")
        }
    }

    /// As for the direct kernel: AVX-512's and AVX2's register blocks give the same bits.
    @Test(arguments: shapes)
    func registerBlocksGiveIdenticalResults(shape s: Conv2dShape) {
        var random = Random(seed: UInt64(s.inputCount + 5 * s.weightCount))
        let input = Conv2dKernelTests.random(s.inputCount, &random), weight = Conv2dKernelTests.random(s.weightCount, &random)
        let bias = Conv2dKernelTests.random(s.outChannels, &random)
        func run(_ registers: RegisterBlocks) -> [Float] {
            var output = [Float](repeating: 0, count: s.outputCount)
            WinogradConvolution(shape: s, threads: 2, registers: registers)
                .forward(input: input, weight: weight, bias: bias, output: &output, rectify: true)
            return output
        }
        #expect(run(.wide) == run(.narrow), "Winograd \(s): the narrow blocks differ from the wide ones")
    }
}

/// Floats that end exactly where an inaccessible page begins, so that any access past the last
/// one faults. Freed when the buffer is.
final class GuardedBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let mapping: UnsafeMutableRawPointer
    private let length: Int

    init(_ values: [Float]) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = max(1, values.count) * MemoryLayout<Float>.stride
        let dataPages = (bytes + page - 1) / page
        length = (dataPages + 1) * page
        mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        precondition(mapping != MAP_FAILED, "mmap failed")
        precondition(mprotect(mapping + dataPages * page, page, PROT_NONE) == 0, "mprotect failed")
        count = values.count
        pointer = (mapping + dataPages * page).assumingMemoryBound(to: Float.self) - count
        pointer.initialize(from: values, count: count)
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { munmap(mapping, length) }
}
