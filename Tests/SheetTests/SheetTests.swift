import Foundation
import Kernels
import Sheet
import Testing

/// Relative closeness: |a − b| ≤ tolerance·max(|a|, |b|).
func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance * max(abs(a), abs(b))
}

@Suite("The course's reference values (part1.md), to 1e-9 relative")
struct ReferenceValueTests {
    let row = SheetNetwork.course.evaluate()

    @Test func forwardPassAndErrors() {
        let expected: [(Double, Double)] = [
            (row.h1, 0.0275), (row.ah1, 0.5068745668), (row.h2, 0.0425), (row.ah2, 0.5106234010),
            (row.o1, 0.4325303572), (row.ao1, 0.6064777322), (row.o2, 0.5342801539), (row.ao2, 0.6304808355),
            (row.e1, 0.0056687537), (row.e2, 0.0085126242), (row.eTotal, 0.0141813780),
        ]
        // The reference is printed to 10 decimals, so compare to what those digits can say.
        for (actual, reference) in expected {
            #expect(abs(actual - reference) <= 5e-11 + 1e-9 * abs(reference), "\(actual) vs \(reference)")
        }
    }

    @Test func gradientsAtIterationZero() {
        let reference = [0.0003169934, 0.0006339868, 0.0003517763, 0.0007035526,
                         0.0128808186, 0.0129760849, 0.0154083483, 0.0155223081]
        for (actual, expected) in zip(row.gradients, reference) {
            #expect(abs(actual - expected) <= 5e-11 + 1e-9 * abs(expected), "\(actual) vs \(expected)")
        }
    }

    @Test(arguments: [
        (0.1, [0.0141814, 0.0141001, 0.0140192, 0.0139388], 0.00957214),
        (0.2, [0.0141814, 0.0140190, 0.0138583, 0.0136992], 0.00636997),
        (0.5, [0.0141814, 0.0137771, 0.0133829, 0.0129988], 0.00178202),
        (0.8, [0.0141814, 0.0135370, 0.0129185, 0.0123252], 0.000478649),
        (1.0, [0.0141814, 0.0133779, 0.0126149, 0.0118909], 0.000196838),
        (2.0, [0.0141814, 0.0125953, 0.0111685, 0.00988881], 2.09236e-06),
    ])
    func errorCurves(learningRate: Double, first: [Double], atIteration67: Double) {
        let rows = SheetNetwork.course.descend(learningRate: learningRate, iterations: 68)
        #expect(rows.count == 68)
        // The table gives six significant digits.
        for (k, expected) in first.enumerated() { #expect(close(rows[k].eTotal, expected, 5e-6), "η \(learningRate) it \(k)") }
        #expect(close(rows[67].eTotal, atIteration67, 5e-6), "η \(learningRate) it 67: \(rows[67].eTotal)")
    }
}

@Suite("Gradients equal finite differences for random networks")
struct FiniteDifferenceTests {
    /// E_tot of a network with one weight nudged.
    static func error(_ network: SheetNetwork, weight: Int, by h: Double) -> Double {
        var nudged = network
        nudged.weights[weight] += h
        return nudged.evaluate().eTotal
    }

    @Test func manyRandomNetworks() {
        var random = Random(seed: 2024)
        for _ in 0..<500 {
            let network = SheetNetwork(
                inputs: (random.nextDouble() * 4 - 2, random.nextDouble() * 4 - 2),
                targets: (random.nextDouble(), random.nextDouble()),
                weights: (0..<8).map { _ in random.nextDouble() * 6 - 3 },
                biases: (random.nextDouble() * 2 - 1, random.nextDouble() * 2 - 1))
            let gradients = network.evaluate().gradients
            let h = 1e-6
            for w in 0..<8 {
                let numeric = (Self.error(network, weight: w, by: h) - Self.error(network, weight: w, by: -h)) / (2 * h)
                #expect(abs(numeric - gradients[w]) <= 1e-8 + 1e-6 * abs(numeric), "w\(w + 1): \(gradients[w]) vs \(numeric)")
            }
        }
    }

    @Test func biasesShiftTheForwardPass() {
        let shifted = SheetNetwork(inputs: (0.05, 0.1), targets: (0.5, 0.5),
                                   weights: SheetNetwork.course.weights, biases: (0.35, 0.6)).evaluate()
        #expect(close(shifted.h1, 0.3775, 1e-12))          // the classic worked example's net h1
        #expect(close(shifted.o1, 0.6 + 0.4 * shifted.ah1 + 0.45 * shifted.ah2, 1e-12))
    }
}

/// The slips learners make in hand-made sheets (part1.md). Each is written out here as the wrong
/// formula; the checks the project relies on (reference values, finite differences) reject it.
@Suite("The three slips would each be caught")
struct SlipTests {
    let network = SheetNetwork.course
    var row: SheetRow { network.evaluate() }

    /// Slip 1: ∂E/∂w3 with a_h1·(1 − a_h1) instead of a_h2·(1 − a_h2).
    @Test func wrongHiddenUnitSlope() {
        let r = row, w = network.weights
        let d1 = (r.ao1 - 0.5) * r.ao1 * (1 - r.ao1), d2 = (r.ao2 - 0.5) * r.ao2 * (1 - r.ao2)
        let slipped = (d1 * w[5] + d2 * w[7]) * r.ah1 * (1 - r.ah1) * network.inputs.0
        #expect(close(slipped, 0.000351868665, 1e-8))             // what those sheets show
        #expect(!close(slipped, 0.0003517763, 1e-6))              // rejected by the reference value
        #expect(close(r.gradients[2], 0.0003517763216, 1e-9))     // ours passes
    }

    /// Slip 2: hidden activations "updated" like weights instead of recomputed.
    @Test func activationsUpdatedLikeWeights() {
        let rows = network.descend(learningRate: 1, iterations: 2)
        let first = rows[0]
        // The slip: a_h1 ← a_h1 − η·(something), here its own gradient ∂E/∂a_h1.
        let w = network.weights
        let d1 = (first.ao1 - 0.5) * first.ao1 * (1 - first.ao1), d2 = (first.ao2 - 0.5) * first.ao2 * (1 - first.ao2)
        let slippedAh1 = first.ah1 - 1 * (d1 * w[4] + d2 * w[6])
        #expect(!close(slippedAh1, rows[1].ah1, 1e-6))
        #expect(close(rows[1].ah1, sigmoid(rows[1].network.weights[0] * 0.05 + rows[1].network.weights[1] * 0.1), 1e-15))
        #expect(close(rows[1].eTotal, 0.0133779, 5e-6))           // ours reproduces the course's η = 1 curve
    }

    /// Slip 3: updating w5…w8 first and using the new values in the hidden-layer gradients.
    @Test func sequentialInsteadOfSimultaneousUpdate() {
        let first = row, w = network.weights
        var updated = w
        for i in 4..<8 { updated[i] -= 1 * first.gradients[i] }
        let d1 = (first.ao1 - 0.5) * first.ao1 * (1 - first.ao1), d2 = (first.ao2 - 0.5) * first.ao2 * (1 - first.ao2)
        let slippedW1Gradient = (d1 * updated[4] + d2 * updated[6]) * first.ah1 * (1 - first.ah1) * 0.05
        #expect(!close(slippedW1Gradient, 0.0003169934, 1e-6))
        #expect(close(first.gradients[0], 0.0003169934, 1e-7))
    }

    /// Slip 4 (the first seed's written formula): dropping the brackets, so a_h1·(1 − a_h1)·i1
    /// multiplies only the second path.
    @Test func missingBrackets() {
        let r = row, w = network.weights
        let d1 = (r.ao1 - 0.5) * r.ao1 * (1 - r.ao1), d2 = (r.ao2 - 0.5) * r.ao2 * (1 - r.ao2)
        let slipped = d1 * w[4] + d2 * w[6] * r.ah1 * (1 - r.ah1) * network.inputs.0
        let h = 1e-6
        let numeric = (FiniteDifferenceTests.error(network, weight: 0, by: h) - FiniteDifferenceTests.error(network, weight: 0, by: -h)) / (2 * h)
        #expect(!close(slipped, numeric, 1e-3))
        #expect(close(r.gradients[0], numeric, 1e-6))
    }
}

@Suite("The explanation")
struct ExplanationTests {
    @Test func showsBothPathsInBracketsAndTheRightSlope() {
        let text = Explanation(row: SheetNetwork.course.evaluate()).render(color: false)
        #expect(text.contains("∂E/∂w1 = [(a_o1 − t1)·a_o1·(1 − a_o1)·w5 + (a_o2 − t2)·a_o2·(1 − a_o2)·w7]·a_h1·(1 − a_h1)·i1"))
        #expect(text.contains("∂E/∂w3 = [(a_o1 − t1)·a_o1·(1 − a_o1)·w6 + (a_o2 − t2)·a_o2·(1 − a_o2)·w8]·a_h2·(1 − a_h2)·i1"))
        #expect(text.contains("= 0.0003169933959"))
        #expect(!text.contains("\u{1B}["))
        #expect(Explanation(row: SheetNetwork.course.evaluate()).render(color: true).contains("\u{1B}["))
    }

    @Test func exportsHaveTheCourseColumns() {
        let rows = SheetNetwork.course.descend(learningRate: 0.5, iterations: 3)
        let csv = SheetExport.csv(rows: rows)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("iteration,t1,t2,i1,i2,w1,w2,w3,w4,h1,a_h1,h2,a_h2,w5"))
        // Full precision: the CSV text reads back as the very same Double.
        let eTotal = Double(lines[1].split(separator: ",")[23])!
        #expect(eTotal == rows[0].eTotal)
        let json = SheetExport.json(runs: [(0.5, rows)])
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let runs = object?["runs"] as? [[String: Any]]
        #expect((runs?.first?["lr"] as? Double) == 0.5)
        let first = (runs?.first?["rows"] as? [[String: Any]])?.first
        #expect(close(first?["E_tot"] as? Double ?? 0, rows[0].eTotal, 1e-15))
        // Full precision in the text itself (Foundation's parser may round the last bit).
        #expect(json.contains("\"E_tot\": \(rows[0].eTotal)") && json.contains("\"∂E/∂w1\": \(rows[0].gradients[0])"))
    }
}
