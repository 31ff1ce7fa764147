import Kernels
import NN
import Sheet
import Testing

/// Part 1 through the engine: the course's 2-2-2 sigmoid network built from the engine's own layers
/// (Linear, Sigmoid, SquaredErrorLoss, SGD) must give the sheet's numbers, which the Sheet tests
/// check against the course's reference values. Two independent derivations of the same gradients:
/// the sheet's chain rule written out by hand, and the engine's layer-by-layer backward passes.
@Suite struct SheetThroughEngineTests {
    /// Linear(2, 2) → Sigmoid → Linear(2, 2) → Sigmoid, with the sheet's weights: a Linear weight is
    /// (out, in), so the hidden layer's rows are (w1, w2) and (w3, w4), the output layer's (w5, w6)
    /// and (w7, w8). The sheet's biases are fixed numbers; here they are the Linear biases.
    static func engineNetwork(_ sheet: SheetNetwork, biases: Bool) throws -> Model {
        let hidden = Linear(2, 2, bias: biases), output = Linear(2, 2, bias: biases)
        for i in 0..<4 {
            hidden.weight.value[i] = Float(sheet.weights[i])
            output.weight.value[i] = Float(sheet.weights[4 + i])
        }
        if biases {
            for i in 0..<2 {
                hidden.bias!.value[i] = Float(sheet.biases.0)
                output.bias!.value[i] = Float(sheet.biases.1)
            }
        }
        let network = Sequential(["hidden": hidden, "hidden_sigmoid": Sigmoid(),
                                  "output": output, "output_sigmoid": Sigmoid()])
        return try Model(name: "part1", inputShape: [2], network: network)
    }

    /// One forward and backward pass: E_tot and ∂E_tot/∂w1…w8 as the engine computes them.
    static func engineStep(_ model: Model, _ sheet: SheetNetwork) -> (eTotal: Float, gradients: [Float]) {
        model.zeroGradients()
        let input = Tensor(shape: [1, 2], values: [Float(sheet.inputs.0), Float(sheet.inputs.1)])
        let context = Context(training: true)
        let outputs = model.forward(input, context: context)
        let gradient = Tensor(shape: [0])
        let eTotal = SquaredErrorLoss.evaluate(outputs: outputs,
                                               targets: [Float(sheet.targets.0), Float(sheet.targets.1)],
                                               gradient: gradient)
        model.backward(gradient, context: context)
        let weights = model.parameters.filter { $0.name.hasSuffix("weight") }.map(\.parameter)
        return (eTotal, weights.flatMap { $0.gradient.values })
    }

    static func close(_ a: Float, _ b: Double, relative: Double) -> Bool {
        abs(Double(a) - b) <= relative * max(abs(b), 1e-12)
    }

    @Test func courseGradientsAtIterationZero() throws {
        // part1.md, "Gradients at iteration 0, w1..w8" and E_tot.
        let reference = [0.0003169934, 0.0006339868, 0.0003517763, 0.0007035526,
                         0.0128808186, 0.0129760849, 0.0154083483, 0.0155223081]
        let model = try Self.engineNetwork(.course, biases: false)
        let (eTotal, gradients) = Self.engineStep(model, .course)
        #expect(Self.close(eTotal, 0.0141813780, relative: 1e-6), "E_tot \(eTotal)")
        for (k, (engine, course)) in zip(gradients, reference).enumerated() {
            #expect(Self.close(engine, course, relative: 1e-6), "∂E/∂w\(k + 1): engine \(engine), course \(course)")
        }
    }

    /// 68 iterations of plain gradient descent (the engine's SGD, no momentum) for each of the
    /// course's learning rates: E_tot follows the sheet's curve row by row and ends at the
    /// course's value for iteration 67.
    @Test(arguments: [(0.1, 0.00957214), (0.2, 0.00636997), (0.5, 0.00178202),
                      (0.8, 0.000478649), (1.0, 0.000196838), (2.0, 2.09236e-06)])
    func descentFollowsTheSheet(learningRate: Double, courseIteration67: Double) throws {
        let model = try Self.engineNetwork(.course, biases: false)
        let optimizer = SGD(parameters: model.parameters.map(\.parameter), learningRate: Float(learningRate))
        let rows = SheetNetwork.course.descend(learningRate: learningRate, iterations: 68)
        var last: Float = 0
        for (iteration, row) in rows.enumerated() {
            let (eTotal, _) = Self.engineStep(model, .course)
            #expect(Self.close(eTotal, row.eTotal, relative: 1e-4), "η \(learningRate), iteration \(iteration): engine \(eTotal), sheet \(row.eTotal)")
            optimizer.step()
            last = eTotal
        }
        // The course prints six significant digits.
        #expect(Self.close(last, courseIteration67, relative: 1e-4), "η \(learningRate), iteration 67: engine \(last), course \(courseIteration67)")
    }

    /// Random networks with biases, inputs and targets: every weight's gradient from the engine's
    /// backward passes equals the sheet's chain rule.
    @Test func randomNetworksWithBiases() throws {
        var random = Random(seed: 6)
        for trial in 0..<50 {
            func draw() -> Double { Double(random.uniform(-1, 1)) }
            let sheet = SheetNetwork(inputs: (draw(), draw()), targets: ((draw() + 1) / 2, (draw() + 1) / 2),
                                     weights: (0..<8).map { _ in draw() }, biases: (draw(), draw()))
            let model = try Self.engineNetwork(sheet, biases: true)
            let (eTotal, gradients) = Self.engineStep(model, sheet)
            let row = sheet.evaluate()
            #expect(Self.close(eTotal, row.eTotal, relative: 1e-5), "trial \(trial): E_tot \(eTotal) vs \(row.eTotal)")
            for k in 0..<8 {
                // Relative to the largest gradient: a tiny one is only as exact as float32 sums allow.
                let scale = row.gradients.map(abs).max()!
                #expect(abs(Double(gradients[k]) - row.gradients[k]) <= 1e-5 * scale,
                        "trial \(trial), ∂E/∂w\(k + 1): engine \(gradients[k]), sheet \(row.gradients[k])")
            }
        }
    }
}
