import Foundation
import NN
import Testing
import Training

/// What the studio's digit page shows of a network: its feature maps and the gradient of the top
/// class's log-probability with respect to the input pixels, checked against finite differences.
@Suite("Digit classifier: a look inside")
struct DigitClassifierTests {
    static func classifier() -> DigitClassifier {
        let model = Models.named("s6")!.makeModel()
        model.initialize(seed: 7)
        return DigitClassifier(model: model)
    }

    /// A "7": a bar and a diagonal, grey levels 0…1.
    static let seven: [Float] = (0..<784).map { index in
        let x = index % 28, y = index / 28
        let bar = (6...8).contains(y) && (7...21).contains(x)
        let diagonal = (8...23).contains(y) && abs(x - (21 - (y - 8) / 2)) <= 1
        return bar || diagonal ? 0.9 : 0.05
    }

    @Test func theInputGradientAgreesWithFiniteDifferences() {
        let classifier = Self.classifier()
        let look = classifier.look(atPixels: Self.seven)
        #expect(look.inputGradient.count == 784)
        func logProbability(_ pixels: [Float]) -> Double { log(classifier.look(atPixels: pixels).probabilities[look.top]) }
        // The pixels with the largest gradients: the finite difference is far above rounding there.
        let largest = look.inputGradient.indices.sorted { abs(look.inputGradient[$0]) > abs(look.inputGradient[$1]) }.prefix(6)
        let h: Float = 1e-2
        for pixel in largest {
            var up = Self.seven, down = Self.seven
            up[pixel] += h
            down[pixel] -= h
            let difference = (logProbability(up) - logProbability(down)) / Double(2 * h)
            let gradient = Double(look.inputGradient[pixel])
            #expect(abs(difference - gradient) <= 0.05 * abs(gradient) + 1e-3, "pixel \(pixel): \(difference) vs \(gradient)")
        }
    }

    @Test func featureMapsAreEveryImageLayersOutputAndProbabilitiesMatchTheEvaluator() {
        let classifier = Self.classifier()
        let digit = Self.seven.map { UInt8(($0 * 255).rounded()) }
        let look = classifier.look(at: digit)
        #expect(!look.featureMaps.isEmpty)
        for map in look.featureMaps { #expect(map.values.count == map.channels * map.height * map.width) }
        // The first is the first convolution block's output for one image.
        #expect(look.featureMaps.first?.height == 26 || look.featureMaps.first?.height == 28)
        let evaluated = classifier.probabilities(of: [digit])[0]
        for (a, b) in zip(look.probabilities, evaluated) { #expect(abs(a - b) <= 1e-5) }
        #expect(abs(look.probabilities.reduce(0, +) - 1) < 1e-5)
    }
}
