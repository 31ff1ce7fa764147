import Kernels
import NN
import Testing

/// MaxPool2d(2) runs eight (or four) windows at a time in SIMD lanes, the last step of a row
/// overlapping the one before, and rows of fewer than four windows one by one: each must pick what
/// PyTorch picks — the largest value, the first of equal ones, a NaN over any number — and send the
/// gradient there. Widths that give 1 to 20 windows a row, odd ones (the last column is dropped),
/// values drawn from a few so that ties are common; and evaluation's loop, which keeps no positions,
/// the same maxima.
@Suite("Max pooling picks PyTorch's maximum")
struct MaxPoolTests {
    @Test(arguments: [2, 5, 7, 8, 9, 14, 15, 16, 17, 22, 24, 28, 33, 40])
    func firstMaximumAndItsGradient(width: Int) {
        var random = Random(seed: UInt64(width))
        let choices: [Float] = [-1, 0, 0.5, 1, 1, .nan, -.infinity, 2]
        let (batch, channels, height) = (3, 2, 6)
        let input = Tensor(shape: [batch, channels, height, width])
        for i in 0..<input.count { input[i] = choices[Int(random.uniform(0, 8)) % 8] }
        let layer = MaxPool2d(2)
        let context = Context(training: true, needsBackward: true, seed: 1, threads: 2)
        let output = layer.forward(input, context: context)
        let (oh, ow) = (height / 2, width / 2)
        #expect(output.shape == [batch, channels, oh, ow])
        // The expected winner of each window, and a gradient of distinct values to follow it.
        let gradient = Tensor(shape: output.shape)
        var expectedInputGradient = [Float](repeating: 0, count: input.count)
        for plane in 0..<(batch * channels) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let o = (plane * oh + oy) * ow + ox
                    var best = -1
                    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let index = (plane * height + 2 * oy + i) * width + 2 * ox + j
                        let value = input[index]
                        if best < 0 || value > input[best] || (value.isNaN && !input[best].isNaN) { best = index }
                    }
                    let got = output[o], want = input[best]
                    #expect(got == want || (got.isNaN && want.isNaN), "width \(width), window \(o): \(got), not \(want)")
                    gradient[o] = Float(o + 1)
                    expectedInputGradient[best] = Float(o + 1)
                }
            }
        }
        let inputGradient = layer.backward(gradient, context: context, needsInputGradient: true)!
        #expect((0..<input.count).map { inputGradient[$0] } == expectedInputGradient, "width \(width)")
        // Without a backward pass to follow, the loop that writes no positions gives the same maxima.
        let evaluated = MaxPool2d(2).forward(input, context: Context(training: false, threads: 2))
        #expect((0..<output.count).allSatisfy { evaluated[$0].bitPattern == output[$0].bitPattern },
                "width \(width): evaluation's maxima differ from training's")
    }
}
