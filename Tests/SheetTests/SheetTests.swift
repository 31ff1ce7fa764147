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

/// Gradient descent as the course defines it, which the slips learners make break (part1.md):
/// every row's eight weights come from the row above all at once, and every activation is
/// computed again from the new weights, never "updated" itself.
@Suite("Gradient descent, row by row")
struct DescentTests {
    @Test(arguments: [0.1, 1, 2])
    func allWeightsMoveTogetherAndActivationsAreRecomputed(learningRate: Double) {
        let network = SheetNetwork(inputs: (0.05, 0.1), targets: (0.5, 0.5), weights: SheetNetwork.course.weights,
                                   biases: (0.35, 0.6))
        let rows = network.descend(learningRate: learningRate, iterations: 20)
        for (above, row) in zip(rows, rows.dropFirst()) {
            for k in 0..<8 {
                // From the row above's weights and gradients (not from w5…w8 already moved).
                #expect(row.network.weights[k] == above.network.weights[k] - learningRate * above.gradients[k])
            }
            let w = row.network.weights, i = row.network.inputs, b = row.network.biases
            #expect(row.ah1 == sigmoid(w[0] * i.0 + w[1] * i.1 + b.0))
            #expect(row.ah2 == sigmoid(w[2] * i.0 + w[3] * i.1 + b.0))
            #expect(row.ao1 == sigmoid(w[4] * row.ah1 + w[5] * row.ah2 + b.1))
            #expect(row.ao2 == sigmoid(w[6] * row.ah1 + w[7] * row.ah2 + b.1))
        }
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
