import Foundation
import Formats

/// The worked explanation of one iteration: every quantity three ways — the formula, the formula
/// with this iteration's numbers in it, and the value — in the order a learner computes them.
public struct Explanation {
    public struct Step: Sendable {
        public let name: String
        public let formula: String
        public let substituted: String
        public let value: Double
    }
    public struct Section: Sendable {
        public let title: String
        public let steps: [Step]
    }
    public let sections: [Section]

    public init(row r: SheetRow) {
        let n = r.network, w = n.weights
        let (i1, i2) = n.inputs, (t1, t2) = n.targets, (bh, bo) = n.biases
        func v(_ x: Double) -> String { number(x) }
        let bhText = bh == 0 ? "" : " + b_h", boText = bo == 0 ? "" : " + b_o"
        let bhNum = bh == 0 ? "" : " + \(v(bh))", boNum = bo == 0 ? "" : " + \(v(bo))"
        let forward = [
            Step(name: "h1", formula: "w1·i1 + w2·i2" + bhText, substituted: "\(v(w[0]))·\(v(i1)) + \(v(w[1]))·\(v(i2))" + bhNum, value: r.h1),
            Step(name: "a_h1", formula: "σ(h1) = 1/(1 + e^(−h1))", substituted: "1/(1 + e^(−\(v(r.h1))))", value: r.ah1),
            Step(name: "h2", formula: "w3·i1 + w4·i2" + bhText, substituted: "\(v(w[2]))·\(v(i1)) + \(v(w[3]))·\(v(i2))" + bhNum, value: r.h2),
            Step(name: "a_h2", formula: "σ(h2) = 1/(1 + e^(−h2))", substituted: "1/(1 + e^(−\(v(r.h2))))", value: r.ah2),
            Step(name: "o1", formula: "w5·a_h1 + w6·a_h2" + boText, substituted: "\(v(w[4]))·\(v(r.ah1)) + \(v(w[5]))·\(v(r.ah2))" + boNum, value: r.o1),
            Step(name: "a_o1", formula: "σ(o1)", substituted: "1/(1 + e^(−\(v(r.o1))))", value: r.ao1),
            Step(name: "o2", formula: "w7·a_h1 + w8·a_h2" + boText, substituted: "\(v(w[6]))·\(v(r.ah1)) + \(v(w[7]))·\(v(r.ah2))" + boNum, value: r.o2),
            Step(name: "a_o2", formula: "σ(o2)", substituted: "1/(1 + e^(−\(v(r.o2))))", value: r.ao2),
        ]
        let errors = [
            Step(name: "E1", formula: "½·(t1 − a_o1)²", substituted: "½·(\(v(t1)) − \(v(r.ao1)))²", value: r.e1),
            Step(name: "E2", formula: "½·(t2 − a_o2)²", substituted: "½·(\(v(t2)) − \(v(r.ao2)))²", value: r.e2),
            Step(name: "E_tot", formula: "E1 + E2", substituted: "\(v(r.e1)) + \(v(r.e2))", value: r.eTotal),
        ]
        // ∂E/∂w5 = ∂E1/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w5: E2 does not depend on w5.
        let path1 = "(a_o1 − t1)·a_o1·(1 − a_o1)", path2 = "(a_o2 − t2)·a_o2·(1 − a_o2)"
        let path1Num = "(\(v(r.ao1)) − \(v(t1)))·\(v(r.ao1))·(1 − \(v(r.ao1)))"
        let path2Num = "(\(v(r.ao2)) − \(v(t2)))·\(v(r.ao2))·(1 − \(v(r.ao2)))"
        let g = r.gradients
        let outputLayer = [
            Step(name: "∂E/∂w5", formula: "\(path1)·a_h1", substituted: "\(path1Num)·\(v(r.ah1))", value: g[4]),
            Step(name: "∂E/∂w6", formula: "\(path1)·a_h2", substituted: "\(path1Num)·\(v(r.ah2))", value: g[5]),
            Step(name: "∂E/∂w7", formula: "\(path2)·a_h1", substituted: "\(path2Num)·\(v(r.ah1))", value: g[6]),
            Step(name: "∂E/∂w8", formula: "\(path2)·a_h2", substituted: "\(path2Num)·\(v(r.ah2))", value: g[7]),
        ]
        // A hidden weight reaches E_tot through both outputs: the bracket sums the two paths, and
        // the whole bracket is multiplied by the hidden unit's own slope and input.
        func hidden(_ name: String, _ wA: String, _ wB: String, _ a: String, _ input: String,
                    _ wANum: Double, _ wBNum: Double, _ aNum: Double, _ inputNum: Double, _ value: Double) -> Step {
            Step(name: name,
                 formula: "[\(path1)·\(wA) + \(path2)·\(wB)]·\(a)·(1 − \(a))·\(input)",
                 substituted: "[\(path1Num)·\(v(wANum)) + \(path2Num)·\(v(wBNum))]·\(v(aNum))·(1 − \(v(aNum)))·\(v(inputNum))",
                 value: value)
        }
        let hiddenLayer = [
            hidden("∂E/∂w1", "w5", "w7", "a_h1", "i1", w[4], w[6], r.ah1, i1, g[0]),
            hidden("∂E/∂w2", "w5", "w7", "a_h1", "i2", w[4], w[6], r.ah1, i2, g[1]),
            hidden("∂E/∂w3", "w6", "w8", "a_h2", "i1", w[5], w[7], r.ah2, i1, g[2]),
            hidden("∂E/∂w4", "w6", "w8", "a_h2", "i2", w[5], w[7], r.ah2, i2, g[3]),
        ]
        sections = [
            Section(title: "Forward pass", steps: forward),
            Section(title: "Error", steps: errors),
            Section(title: "Output-layer gradients (one path: through its own output)", steps: outputLayer),
            Section(title: "Hidden-layer gradients (two paths: through o1 and through o2)", steps: hiddenLayer),
        ]
    }

    /// Aligned text; `color` adds ANSI colours (names, formulas, values).
    public func render(color: Bool) -> String {
        let bold = color ? "\u{1B}[1m" : "", dim = color ? "\u{1B}[2m" : "", cyan = color ? "\u{1B}[36m" : ""
        let green = color ? "\u{1B}[32m" : "", reset = color ? "\u{1B}[0m" : ""
        let nameWidth = sections.flatMap(\.steps).map { $0.name.count }.max() ?? 0
        var out = ""
        for section in sections {
            out += "\n\(bold)\(section.title)\(reset)\n"
            for step in section.steps {
                let pad = String(repeating: " ", count: nameWidth - step.name.count)
                let indent = String(repeating: " ", count: nameWidth)
                out += "  \(cyan)\(step.name)\(reset)\(pad) = \(step.formula)\n"
                out += "  \(indent) = \(dim)\(step.substituted)\(reset)\n"
                out += "  \(indent) = \(green)\(number(step.value))\(reset)\n"
            }
        }
        return out
    }
}

