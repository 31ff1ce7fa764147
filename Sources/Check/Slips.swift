import Foundation
import Formats
import Sheet

/// The slips learners make in the Part 1 sheet, by the ids the report and its JSON use.
public enum Slip: String, CaseIterable, Sendable {
    /// a_h1·(1−a_h1) where a_h2·(1−a_h2) belongs in a hidden gradient, or the reverse.
    case hiddenSlope = "hidden-slope"
    /// w5/w7 where w6/w8 belong in a hidden gradient (or another wrong pair).
    case hiddenWeights = "hidden-weights"
    /// A hidden gradient through one output only.
    case missingPath = "missing-path"
    /// The slope and input multiply one path only: `δo1·w5 + δo2·w7·a_h1·(1−a_h1)·i1`.
    case brackets
    /// t − a for a − t, or + for − in the update.
    case sign
    /// Gradients twice the derivative of the E the sheet uses (or E without its ½).
    case half
    /// A wrong logistic, e.g. `1/1+EXP(-x)`.
    case sigmoid
    /// An input, target or weight cell left empty and read as 0.
    case blankInput = "blank-input"
    /// h, a_h, o, a_o or E "updated" by gradient descent instead of computed from the weights.
    case activationUpdated = "activation-updated"
    /// An update reading a row other than the one above.
    case wrongRow = "wrong-row"
    /// η referenced relatively, so that it drifts when the formula is filled down.
    case relativeEta = "relative-eta"
    /// w1…w4's gradients computed from already-updated w5…w8.
    case staleWeights = "stale-weights"
    /// t1 where t2 belongs (or the reverse) in an output's error term.
    case wrongTarget = "wrong-target"
    /// A cell reading another cell of its row than the one that belongs there: w2 for w3 in h2,
    /// a_h2 for a_h1 in o1, t1 for t2 in E2, h2 inside σ(h1), i2 for i1 in ∂E/∂w1, a_h2 for a_h1
    /// in ∂E/∂w5.
    case wrongCell = "wrong-cell"
    /// Wrong, and no slip of the catalogue reproduces it.
    case unrecognised
}

/// The learner's numbers in one row, by quantity; NaN where a cell holds no number.
struct RowValues {
    var values: [Double]
    subscript(_ q: Quantity) -> Double {
        get { values[q.rawValue] }
        set { values[q.rawValue] = newValue }
    }
}

/// What a cell of the table should hold given the learner's own numbers in the cells it reads,
/// and the slips that would have produced what it holds instead. "Local": a gradient is judged on
/// the learner's own a_o1, w5, … of its row, so a slip is found where it starts, not where its
/// effects have spread to.
struct LocalRules {
    var table: CourseTable
    var learningRate: Double
    var hiddenBias: Double
    var outputBias: Double

    /// The cell's address in iteration k, as the learner sees it.
    func at(_ q: Quantity, _ k: Int) -> String { table.cell(q, iteration: k).description }

    // MARK: the correct rules

    func deltaO1(_ L: RowValues, target: Quantity = .t1) -> Double { (L[.ao1] - L[target]) * L[.ao1] * (1 - L[.ao1]) }
    func deltaO2(_ L: RowValues, target: Quantity = .t2) -> Double { (L[.ao2] - L[target]) * L[.ao2] * (1 - L[.ao2]) }
    func slope(_ L: RowValues, unit: Int) -> Double { let a = unit == 1 ? L[.ah1] : L[.ah2]; return a * (1 - a) }

    /// The cells each rule reads that a learner may mix up, and what they get mixed up with.
    static let swappable: [Quantity: [(Quantity, [Quantity])]] = {
        let inputs: [Quantity] = [.i1, .i2], hidden: [Quantity] = [.ah1, .ah2]
        func sum(_ weights: [Quantity], _ xs: [Quantity]) -> [(Quantity, [Quantity])] {
            weights.map { ($0, Quantity.weights) } + xs.map { ($0, xs) }
        }
        return [.h1: sum([.w1, .w2], inputs), .h2: sum([.w3, .w4], inputs),
                .o1: sum([.w5, .w6], hidden), .o2: sum([.w7, .w8], hidden),
                .ah1: [(.h1, [.h2])], .ah2: [(.h2, [.h1])], .ao1: [(.o1, [.o2])], .ao2: [(.o2, [.o1])],
                .e1: [(.t1, [.t2]), (.ao1, [.ao2])], .e2: [(.t2, [.t1]), (.ao2, [.ao1])],
                // A gradient's last factor: the input (∂E/∂w1…w4) or hidden activation (∂E/∂w5…w8).
                .g1: [(.i1, inputs)], .g2: [(.i2, inputs)], .g3: [(.i1, inputs)], .g4: [(.i2, inputs)],
                .g5: [(.ah1, hidden)], .g6: [(.ah2, hidden)], .g7: [(.ah1, hidden)], .g8: [(.ah2, hidden)]]
    }()

    /// For ∂E/∂w1…w4: which hidden unit (1, 2), which input, and the output weights of its two paths.
    static func hiddenParts(_ q: Quantity) -> (unit: Int, input: Quantity, weights: (Quantity, Quantity)) {
        switch q {
        case .g1: return (1, .i1, (.w5, .w7))
        case .g2: return (1, .i2, (.w5, .w7))
        case .g3: return (2, .i1, (.w6, .w8))
        default: return (2, .i2, (.w6, .w8))
        }
    }

    /// For ∂E/∂w5…w8: which output (1, 2) and which hidden activation.
    static func outputParts(_ q: Quantity) -> (output: Int, activation: Quantity) {
        switch q {
        case .g5: return (1, .ah1)
        case .g6: return (1, .ah2)
        case .g7: return (2, .ah1)
        default: return (2, .ah2)
        }
    }

    /// The value the cell should hold given the learner's own row L (and the row above, P); nil
    /// when the cell has no rule (a starting value) .
    func expected(_ q: Quantity, L: RowValues, P: RowValues?) -> Double? {
        let bh = hiddenBias, bo = outputBias
        switch q {
        case .t1, .t2, .i1, .i2: return P?[q]
        case .w1, .w2, .w3, .w4, .w5, .w6, .w7, .w8:
            guard let P else { return nil }
            return P[q] - learningRate * P[q.gradient!]
        case .h1: return L[.w1] * L[.i1] + L[.w2] * L[.i2] + bh
        case .h2: return L[.w3] * L[.i1] + L[.w4] * L[.i2] + bh
        case .ah1: return sigmoid(L[.h1])
        case .ah2: return sigmoid(L[.h2])
        case .o1: return L[.w5] * L[.ah1] + L[.w6] * L[.ah2] + bo
        case .o2: return L[.w7] * L[.ah1] + L[.w8] * L[.ah2] + bo
        case .ao1: return sigmoid(L[.o1])
        case .ao2: return sigmoid(L[.o2])
        case .e1: return 0.5 * (L[.t1] - L[.ao1]) * (L[.t1] - L[.ao1])
        case .e2: return 0.5 * (L[.t2] - L[.ao2]) * (L[.t2] - L[.ao2])
        case .eTotal: return L[.e1] + L[.e2]
        case .g1, .g2, .g3, .g4:
            let (unit, input, (wa, wb)) = Self.hiddenParts(q)
            return (deltaO1(L) * L[wa] + deltaO2(L) * L[wb]) * slope(L, unit: unit) * L[input]
        case .g5, .g6, .g7, .g8:
            let (output, activation) = Self.outputParts(q)
            return (output == 1 ? deltaO1(L) : deltaO2(L)) * L[activation]
        }
    }

    // MARK: the slips, as values

    /// A slip that reproduces a value: its id and what it says, in the learner's cells; for one
    /// cell read in place of another, which. A formula that does not read `read`, or reads
    /// `belongs` as well, did not make that slip, whatever number it gives.
    struct Explanation {
        var slip: Slip
        var text: String
        var value: Double
        var swap: (belongs: Quantity, read: Quantity)? = nil
    }

    /// Every catalogued way of getting quantity q in iteration k wrong, with the value each gives.
    /// L is the learner's row, P the row above, T the row above that.
    func slips(_ q: Quantity, _ k: Int, L: RowValues, P: RowValues?, T: RowValues?) -> [Explanation] {
        var found: [Explanation] = []
        func add(_ slip: Slip, _ text: String, _ value: Double) { found.append(Explanation(slip: slip, text: text, value: value)) }
        let n = { (q: Quantity) in self.at(q, k) }
        switch q {
        case .g1, .g2, .g3, .g4:
            let (unit, input, (wa, wb)) = Self.hiddenParts(q)
            let correct = expected(q, L: L, P: P)!
            let s = slope(L, unit: unit), x = L[input], d1 = deltaO1(L), d2 = deltaO2(L)
            let (own, other) = unit == 1 ? (Quantity.ah1, Quantity.ah2) : (.ah2, .ah1)
            add(.hiddenSlope, "multiplies by \(n(other))·(1−\(n(other))) (\(other.name)) where \(n(own))·(1−\(n(own))) (\(own.name)) belongs",
                (d1 * L[wa] + d2 * L[wb]) * slope(L, unit: 3 - unit) * x)
            let outputWeights: [Quantity] = [.w5, .w6, .w7, .w8]
            for a in outputWeights { for b in outputWeights where (a, b) != (wa, wb) {
                let changed = [(a, wa), (b, wb)].filter { $0.0 != $0.1 }
                let text = "uses " + changed.map { "\($0.0.name) (\(n($0.0)))" }.joined(separator: " and ")
                    + " where " + changed.map { "\($0.1.name) (\(n($0.1)))" }.joined(separator: " and ")
                    + (changed.count == 1 ? " belongs" : " belong")
                add(.hiddenWeights, text, (d1 * L[a] + d2 * L[b]) * s * x)
            } }
            add(.missingPath, "follows the path through o1 only; the path through o2 (\(wb.name), \(n(wb))) is missing", d1 * L[wa] * s * x)
            add(.missingPath, "follows the path through o2 only; the path through o1 (\(wa.name), \(n(wa))) is missing", d2 * L[wb] * s * x)
            add(.brackets, "multiplies only the path through o2 by \(n(own))·(1−\(n(own)))·\(n(input)): the bracket around both paths is missing",
                d1 * L[wa] + d2 * L[wb] * s * x)
            add(.brackets, "multiplies only the path through o1 by \(n(own))·(1−\(n(own)))·\(n(input)): the bracket around both paths is missing",
                d1 * L[wa] * s * x + d2 * L[wb])
            add(.sign, "has the opposite sign: (t − a) where (a − t) belongs", -correct)
            add(.sign, "has the sign of the path through o1 reversed: (t1 − a_o1) where (a_o1 − t1) belongs", (-d1 * L[wa] + d2 * L[wb]) * s * x)
            add(.sign, "has the sign of the path through o2 reversed: (t2 − a_o2) where (a_o2 − t2) belongs", (d1 * L[wa] - d2 * L[wb]) * s * x)
            add(.half, "is twice the derivative of E = ½(t − a)²: the factor 2 of the square cancels the ½", 2 * correct)
            add(.wrongTarget, "uses t2 (\(n(.t2))) in the path through o1, where t1 (\(n(.t1))) belongs", (deltaO1(L, target: .t2) * L[wa] + d2 * L[wb]) * s * x)
            add(.wrongTarget, "uses t1 (\(n(.t1))) in the path through o2, where t2 (\(n(.t2))) belongs", (d1 * L[wa] + deltaO2(L, target: .t1) * L[wb]) * s * x)
            let updatedA = L[wa] - learningRate * L[wa.gradient!], updatedB = L[wb] - learningRate * L[wb.gradient!]
            add(.staleWeights, "uses \(wa.name) and \(wb.name) already updated by this row's gradients (the next row's values), where this row's \(n(wa)) and \(n(wb)) belong",
                (d1 * updatedA + d2 * updatedB) * s * x)
        case .g5, .g6, .g7, .g8:
            let (output, activation) = Self.outputParts(q)
            let correct = expected(q, L: L, P: P)!
            let (t, a) = output == 1 ? (Quantity.t1, Quantity.ao1) : (.t2, .ao2)
            add(.sign, "has the opposite sign: (\(n(t)) − \(n(a))) where (\(n(a)) − \(n(t))) belongs", -correct)
            add(.half, "is twice the derivative of E = ½(t − a)²: the factor 2 of the square cancels the ½", 2 * correct)
            let other: Quantity = output == 1 ? .t2 : .t1
            add(.wrongTarget, "uses \(other.name) (\(n(other))) where \(t.name) (\(n(t))) belongs",
                (output == 1 ? deltaO1(L, target: other) : deltaO2(L, target: other)) * L[activation])
        case .ah1, .ah2, .ao1, .ao2:
            let x = L[q == .ah1 ? .h1 : q == .ah2 ? .h2 : q == .ao1 ? .o1 : .o2]
            let input = n(q == .ah1 ? .h1 : q == .ah2 ? .h2 : q == .ao1 ? .o1 : .o2)
            add(.sigmoid, "computes 1/1+EXP(−\(input)), which is 1 + e^(−\(input)): the bracket around 1+EXP(−\(input)) is missing", 1 + exp(-x))
            add(.sigmoid, "computes 1/(1+EXP(\(input))): the minus sign is missing", 1 / (1 + exp(x)))
            add(.sigmoid, "computes 1/(1−EXP(−\(input))) where 1/(1+EXP(−\(input))) belongs", 1 / (1 - exp(-x)))
            add(.sigmoid, "computes EXP(−\(input))/(1+EXP(−\(input))), which is 1 − σ", exp(-x) / (1 + exp(-x)))
            add(.sigmoid, "computes 1/(1+EXP(−\(input))) without the 1: 1/EXP(−\(input))", exp(x))
        case .e1, .e2:
            let (t, a) = q == .e1 ? (L[.t1], L[.ao1]) : (L[.t2], L[.ao2])
            add(.half, "omits the ½ of E = ½(t − a)²; the gradients are those of ½(t − a)²", (t - a) * (t - a))
        case .w1, .w2, .w3, .w4, .w5, .w6, .w7, .w8:
            guard let P else { break }
            let g = q.gradient!
            add(.sign, "adds η·\(g.name) where the update subtracts it (w − η·∂E/∂w)", P[q] + learningRate * P[g])
            add(.wrongRow, "uses this row's gradient \(n(g)) where the row above's \(at(g, k - 1)) belongs", P[q] - learningRate * L[g])
            // All eight weights of the row moved with one rate that is not η: η read from a cell
            // that moved when the formula was filled down.
            let rates = Quantity.weights.compactMap { w -> Double? in
                P[w.gradient!] == 0 ? nil : (P[w] - L[w]) / P[w.gradient!]
            }.sorted()
            if rates.count == 8, let rate = Optional(rates[4]), rate.isFinite, abs(rate - learningRate) > 1e-6 * abs(learningRate),
               rates.allSatisfy({ abs($0 - rate) <= 1e-6 * max(abs(rate), 1e-12) }) {
                add(.relativeEta, "updates with the rate \(rate) where η = \(learningRate) belongs (the same wrong rate in all eight weights: a relative reference to η that moved when the formula was filled down)",
                    P[q] - rate * P[g])
            }
            if let T {
                add(.wrongRow, "updates from two rows up (\(at(q, k - 2)), \(at(g, k - 2))) where the row above belongs",
                    T[q] - learningRate * T[g])
                add(.wrongRow, "uses the gradient of two rows up (\(at(g, k - 2))) where the row above's \(at(g, k - 1)) belongs",
                    P[q] - learningRate * T[g])
            }
        default: break
        }
        // One cell of the row read in place of another: each input of the rule swapped for each
        // cell of its kind.
        if let inputs = Self.swappable[q] {
            for (used, others) in inputs {
                for other in others where other != used {
                    var swapped = L
                    swapped[used] = L[other]
                    guard let value = expected(q, L: swapped, P: P) else { continue }
                    found.append(Explanation(slip: .wrongCell, text: "reads \(n(other)) (\(other.name)) where \(n(used)) (\(used.name)) belongs",
                                             value: value, swap: (belongs: used, read: other)))
                }
            }
        }
        // Any computed quantity "updated" like a weight: its value above minus η times some gradient.
        if let P, [.h1, .ah1, .h2, .ah2, .o1, .ao1, .o2, .ao2, .e1, .e2, .eTotal].contains(q) {
            for g in Quantity.gradients {
                add(.activationUpdated, "is \"updated\" by gradient descent (\(at(q, k - 1)) − η·\(at(g, k - 1))) where it should be computed from this row's weights",
                    P[q] - learningRate * P[g])
            }
        }
        return found
    }
}
