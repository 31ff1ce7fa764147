import Foundation

/// The course's tiny network, exactly as its spreadsheet computes it: two inputs, two sigmoid
/// hidden units, two sigmoid outputs, weights w1…w8, squared error E_tot = E1 + E2.
///
///     h1 = w1·i1 + w2·i2 + b_h    a_h1 = σ(h1)      o1 = w5·a_h1 + w6·a_h2 + b_o    a_o1 = σ(o1)
///     h2 = w3·i1 + w4·i2 + b_h    a_h2 = σ(h2)      o2 = w7·a_h1 + w8·a_h2 + b_o    a_o2 = σ(o2)
///     E1 = ½(t1 − a_o1)²          E2 = ½(t2 − a_o2)²                                 E_tot = E1 + E2
///
/// The biases b_h and b_o are fixed (not trained), as in the classic worked examples; the course
/// uses none (0).
public struct SheetNetwork: Equatable, Sendable {
    public var inputs: (Double, Double)
    public var targets: (Double, Double)
    /// w1…w8.
    public var weights: [Double]
    /// (hidden-layer bias, output-layer bias).
    public var biases: (Double, Double)

    /// The course's starting point: i = (0.05, 0.1), t = (0.5, 0.5), w = 0.15, 0.2, …, 0.55, no biases.
    public static let course = SheetNetwork(inputs: (0.05, 0.1), targets: (0.5, 0.5),
                                            weights: [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55], biases: (0, 0))

    public init(inputs: (Double, Double), targets: (Double, Double), weights: [Double], biases: (Double, Double) = (0, 0)) {
        precondition(weights.count == 8, "the network has eight weights")
        self.inputs = inputs; self.targets = targets; self.weights = weights; self.biases = biases
    }

    public static func == (a: SheetNetwork, b: SheetNetwork) -> Bool {
        a.inputs == b.inputs && a.targets == b.targets && a.weights == b.weights && a.biases == b.biases
    }

    /// One row of the sheet: the forward pass, the errors and all eight gradients for these weights.
    public func evaluate() -> SheetRow {
        let (i1, i2) = inputs, (t1, t2) = targets, w = weights, (bh, bo) = biases
        let h1 = w[0] * i1 + w[1] * i2 + bh, h2 = w[2] * i1 + w[3] * i2 + bh
        let ah1 = sigmoid(h1), ah2 = sigmoid(h2)
        let o1 = w[4] * ah1 + w[5] * ah2 + bo, o2 = w[6] * ah1 + w[7] * ah2 + bo
        let ao1 = sigmoid(o1), ao2 = sigmoid(o2)
        let e1 = 0.5 * (t1 - ao1) * (t1 - ao1), e2 = 0.5 * (t2 - ao2) * (t2 - ao2)

        // Chain rule. δ_o = ∂E/∂o = ∂E/∂a_o · ∂a_o/∂o = (a_o − t)·a_o·(1 − a_o).
        let deltaO1 = (ao1 - t1) * ao1 * (1 - ao1), deltaO2 = (ao2 - t2) * ao2 * (1 - ao2)
        // A hidden activation feeds both outputs, so its gradient sums the two paths.
        let dAh1 = deltaO1 * w[4] + deltaO2 * w[6], dAh2 = deltaO1 * w[5] + deltaO2 * w[7]
        let gradients = [
            dAh1 * ah1 * (1 - ah1) * i1, dAh1 * ah1 * (1 - ah1) * i2,
            dAh2 * ah2 * (1 - ah2) * i1, dAh2 * ah2 * (1 - ah2) * i2,
            deltaO1 * ah1, deltaO1 * ah2, deltaO2 * ah1, deltaO2 * ah2,
        ]
        return SheetRow(network: self, h1: h1, ah1: ah1, h2: h2, ah2: ah2, o1: o1, ao1: ao1, o2: o2, ao2: ao2,
                        e1: e1, e2: e2, gradients: gradients)
    }

    /// Plain gradient descent: every weight moves against its gradient, all eight computed from
    /// the same row before any changes (a simultaneous update). Row k holds iteration k.
    public func descend(learningRate: Double, iterations: Int) -> [SheetRow] {
        var network = self
        var rows: [SheetRow] = []
        rows.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let row = network.evaluate()
            rows.append(row)
            network.weights = zip(network.weights, row.gradients).map { $0 - learningRate * $1 }
        }
        return rows
    }
}

/// The logistic function σ(x) = 1/(1 + e^(−x)); its derivative is σ(x)·(1 − σ(x)).
public func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

/// One iteration of the sheet, with every column of the course's layout.
public struct SheetRow: Sendable {
    public let network: SheetNetwork
    public let h1: Double, ah1: Double, h2: Double, ah2: Double
    public let o1: Double, ao1: Double, o2: Double, ao2: Double
    public let e1: Double, e2: Double
    /// ∂E_tot/∂w1 … ∂E_tot/∂w8.
    public let gradients: [Double]
    public var eTotal: Double { e1 + e2 }

    /// The course's columns, in its order.
    public static let columns = ["t1", "t2", "i1", "i2", "w1", "w2", "w3", "w4", "h1", "a_h1", "h2", "a_h2",
                                 "w5", "w6", "w7", "w8", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_tot",
                                 "∂E/∂w1", "∂E/∂w2", "∂E/∂w3", "∂E/∂w4", "∂E/∂w5", "∂E/∂w6", "∂E/∂w7", "∂E/∂w8"]

    /// The row's values in `columns` order.
    public var values: [Double] {
        let w = network.weights
        return [network.targets.0, network.targets.1, network.inputs.0, network.inputs.1, w[0], w[1], w[2], w[3],
                h1, ah1, h2, ah2, w[4], w[5], w[6], w[7], o1, ao1, o2, ao2, e1, e2, eTotal] + gradients
    }
}
