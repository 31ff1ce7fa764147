import Foundation
import Formats
import Sheet
import Testing
import Check

/// The corpus: for every slip of the catalogue a sheet with that slip, laid out as learners lay
/// theirs out (header in row 32, table from column B, η labelled above), checked as the project
/// writes it and as LibreOffice saves it again as .xlsx, .ods and .csv.
@Suite("backprop check names every slip of the catalogue")
struct SlipCorpusTests {
    /// A slip written into a sheet, and what the check must say: slip ids and first cells, in order.
    struct Case: CustomStringConvertible {
        var name: String
        var sheet: LearnerSheet
        var expected: [(slip: Slip, firstCell: String)]
        /// What the check must say of the sheet saved as values only (.csv), when that differs: two
        /// slips that give the same numbers can only be told apart by the formula.
        var fromValues: [(slip: Slip, firstCell: String)]? = nil
        var description: String { name }
    }

    static func replacing(_ columns: [Quantity], from firstIteration: Int = 0,
                          _ change: @escaping (_ formula: String, _ cell: (Quantity, Int) -> String, _ k: Int) -> String) -> (LearnerSheet) -> LearnerSheet {
        { sheet in
            var sheet = sheet
            let table = sheet.table
            sheet.slip = { q, k, formula in
                guard columns.contains(q), k >= firstIteration else { return nil }
                return change(formula, { table.cell($0, iteration: $1).description }, k)
            }
            return sheet
        }
    }

    /// Default layout: t1 in B, header in row 32, data from row 33, η = 1 in C30 (label "η =" in B30).
    /// Columns: t1 B, t2 C, i1 D, i2 E, w1 F … w4 I, h1 J, a_h1 K, h2 L, a_h2 M, w5 N … w8 Q,
    /// o1 R, a_o1 S, o2 T, a_o2 U, E1 V, E2 W, E_tot X, ∂E/∂w1 Y … ∂E/∂w8 AF.
    static var cases: [Case] {
        let base = LearnerSheet()
        func make(_ name: String, _ change: (LearnerSheet) -> LearnerSheet, _ expected: [(Slip, String)]) -> Case {
            Case(name: name, sheet: change(base), expected: expected.map { (slip: $0.0, firstCell: $0.1) })
        }
        func with(_ item: Case, fromValues: [(Slip, String)]) -> Case {
            var item = item
            item.fromValues = fromValues.map { (slip: $0.0, firstCell: $0.1) }
            return item
        }
        var blank = base
        blank.blanks = [(.t2, 0)]
        var relative = base
        relative.etaCell = CellAddress(row: 31, column: 34)      // AI32, right of the table, label in AH32
        let relativeTable = relative.table
        relative.slip = { q, k, formula in
            guard q.isWeight, k >= 1 else { return nil }
            return formula.replacingOccurrences(of: "$AI$32", with: "AI\(32 + k - 1)")
        }
        return [
            make("hidden-slope", replacing([.g3, .g4]) { f, c, k in
                f.replacingOccurrences(of: "\(c(.ah2, k))*(1-\(c(.ah2, k)))", with: "\(c(.ah1, k))*(1-\(c(.ah1, k)))") },
                 [(.hiddenSlope, "AA33")]),
            make("hidden-weights", replacing([.g1, .g2]) { f, c, k in
                f.replacingOccurrences(of: "*\(c(.w5, k))+", with: "*\(c(.w6, k))+").replacingOccurrences(of: "*\(c(.w7, k)))", with: "*\(c(.w8, k)))") },
                 [(.hiddenWeights, "Y33")]),
            make("missing-path", replacing([.g1]) { _, c, k in
                "(\(c(.ao1, k))-\(c(.t1, k)))*\(c(.ao1, k))*(1-\(c(.ao1, k)))*\(c(.w5, k))*\(c(.ah1, k))*(1-\(c(.ah1, k)))*\(c(.i1, k))" },
                 [(.missingPath, "Y33")]),
            make("brackets", replacing([.g1]) { _, c, k in
                "(\(c(.ao1, k))-\(c(.t1, k)))*\(c(.ao1, k))*(1-\(c(.ao1, k)))*\(c(.w5, k))+(\(c(.ao2, k))-\(c(.t2, k)))*\(c(.ao2, k))*(1-\(c(.ao2, k)))*\(c(.w7, k))*\(c(.ah1, k))*(1-\(c(.ah1, k)))*\(c(.i1, k))" },
                 [(.brackets, "Y33")]),
            make("sign in a gradient", replacing([.g5]) { f, c, k in
                f.replacingOccurrences(of: "(\(c(.ao1, k))-\(c(.t1, k)))", with: "(\(c(.t1, k))-\(c(.ao1, k)))") },
                 [(.sign, "AC33")]),
            make("sign in the update", replacing([.w1], from: 1) { f, _, _ in f.replacingOccurrences(of: "-$C$30*", with: "+$C$30*") },
                 [(.sign, "F34")]),
            make("half", replacing([.g5, .g6, .g7, .g8]) { f, _, _ in "2*" + f }, [(.half, "AC33")]),
            // With the course's inputs (i2 = 2·i1) both of these double ∂E/∂w1 and ∂E/∂w3: the
            // formula tells which it was; a sheet of values cannot.
            make("half in the hidden gradients", replacing([.g1, .g2, .g3, .g4]) { f, _, _ in "2*" + f }, [(.half, "Y33")]),
            with(make("i2 for i1 in a gradient", replacing([.g1]) { f, c, k in
                f.replacingOccurrences(of: "*\(c(.i1, k))", with: "*\(c(.i2, k))") }, [(.wrongCell, "Y33")]),
                 fromValues: [(.half, "Y33")]),
            make("a_h2 for a_h1 in a gradient", replacing([.g5]) { f, c, k in
                f.replacingOccurrences(of: "*\(c(.ah1, k))", with: "*\(c(.ah2, k))") }, [(.wrongCell, "AC33")]),
            make("sigmoid", replacing([.ah1]) { _, c, k in "1/1+EXP(-\(c(.h1, k)))" }, [(.sigmoid, "K33")]),
            Case(name: "blank-input", sheet: blank, expected: [(.blankInput, "C33")]),
            make("activation-updated", replacing([.ah1], from: 1) { _, c, k in "\(c(.ah1, k - 1))-$C$30*\(c(.g1, k - 1))" },
                 [(.activationUpdated, "K34")]),
            make("wrong-row", replacing([.w1], from: 2) { _, c, k in "\(c(.w1, k - 2))-$C$30*\(c(.g1, k - 2))" },
                 [(.wrongRow, "F35")]),
            Case(name: "relative-eta", sheet: relative,
                 expected: [(.relativeEta, relativeTable.cell(.w1, iteration: 2).description)]),
            make("stale-weights", replacing([.g1, .g2, .g3, .g4]) { f, c, k in
                var f = f
                for w in [Quantity.w5, .w6, .w7, .w8] {
                    f = f.replacingOccurrences(of: "*\(c(w, k))", with: "*(\(c(w, k))-$C$30*\(c(w.gradient!, k)))")
                }
                return f
            }, [(.staleWeights, "Y33")]),
            make("wrong-cell", replacing([.h2]) { f, c, k in f.replacingOccurrences(of: "\(c(.w3, k))*", with: "\(c(.w2, k))*") },
                 [(.wrongCell, "L33")]),
            make("a typo", replacing([.g5]) { f, c, k in
                f.replacingOccurrences(of: "(\(c(.ao1, k))-\(c(.t1, k)))", with: "(\(c(.ao1, k))*\(c(.t1, k)))") },
                 [(.unrecognised, "AC33")]),
        ]
    }

    /// Sheets a learner may well have that are right.
    static var correctSheets: [(name: String, sheet: LearnerSheet)] {
        var other = LearnerSheet()
        other.network = SheetNetwork(inputs: (0.3, -0.2), targets: (0.9, 0.1), weights: [0.7, -0.4, 0.25, 0.9, -0.6, 0.3, 0.45, -0.15])
        other.learningRate = 0.5
        var biases = LearnerSheet()
        biases.network.biases = (0.35, 0.6)
        var unlabelled = biases
        unlabelled.labelledBiases = false
        var spelled = LearnerSheet()
        spelled.headerRow = 2
        spelled.firstColumn = 0
        spelled.etaLabel = "learning rate"
        spelled.blankRowAfterHeader = true
        spelled.extraColumnAfter = .h1
        spelled.headers = [.eTotal: "E_total", .ao1: "a_01", .ao2: "a_02", .g1: "dE/dw1", .g2: "∂E/∂W2", .g3: "δE_tot/δw3",
                           .g4: "∂E∂W4", .g5: "E∂w5", .g6: "dw6", .g7: "Etotaldw7", .g8: "∂E_total/∂W8", .ah1: "out_h1", .ah2: "act_h2"]
        return [("the course's sheet", LearnerSheet()), ("other starting values and η", other), ("labelled biases", biases),
                ("unlabelled biases", unlabelled), ("header spellings, extra column, blank row, table from A1", spelled)]
    }

    static func diagnosis(_ report: CheckReport) -> [String] { report.findings.map { "\($0.slip.rawValue) \($0.firstCell)" } }

    @Test(arguments: cases)
    func slipIsNamedWhereItStarts(_ item: Case) throws {
        let report = try Checker.check(item.sheet.file, name: item.name)
        #expect(report.verdict == .wrong)
        #expect(Self.diagnosis(report) == item.expected.map { "\($0.slip.rawValue) \($0.firstCell)" }, "\(report.text())")
    }

    @Test(arguments: correctSheets.map(\.name))
    func rightSheetsAreCorrect(_ name: String) throws {
        let sheet = Self.correctSheets.first { $0.name == name }!.sheet
        let report = try Checker.check(sheet.file, name: name)
        #expect(report.verdict == .correct, "\(report.text())")
        #expect(report.tables.first?.checkedCells == 31 * sheet.iterations)
        #expect(report.tables.first?.table.learningRate.value == sheet.learningRate)
    }

    @Test func aSheetOfValuesNamesBothSlipsThatGiveItsNumbers() throws {
        let item = try #require(Self.cases.first { $0.name == "i2 for i1 in a gradient" })
        var file = item.sheet.file
        for address in file.sheets[0].cells.keys { file.sheets[0].cells[address]!.formula = nil }
        let report = try Checker.check(file, name: "values.csv")
        let finding = try #require(report.findings.first)
        #expect(finding.slip == .half)
        #expect(finding.message.contains("; or it reads E33 (i2) where D33 (i1) belongs (the two give the same number here)"),
                "\(finding.message)")
    }

    @Test func hiddenSlopeMessageNamesTheLearnersCells() throws {
        let report = try Checker.check(Self.cases[0].sheet.file, name: "sheet.xlsx")
        let finding = try #require(report.findings.first)
        #expect(finding.ranges == ["AA33:AA52", "AB33:AB52"])
        #expect(finding.message == "AA33 ∂E/∂w3: multiplies by K33·(1−K33) (a_h1) where M33·(1−M33) (a_h2) belongs; wrong in AA33:AA52 and AB33:AB52")
        #expect(finding.expectedFormula == "=((S33-B33)*S33*(1-S33)*O33+(U33-C33)*U33*(1-U33)*Q33)*M33*(1-M33)*D33")
        #expect(finding.formula == "=((S33-B33)*S33*(1-S33)*O33+(U33-C33)*U33*(1-U33)*Q33)*K33*(1-K33)*D33")
        // The course's measured slip at iteration 0.
        #expect(abs(finding.found! - 0.000351868665) < 1e-12 && abs(finding.expected! - 0.000351776322) < 1e-12)
        // The slip changes E_tot only a little: the check compares every column, not the curve.
        #expect(report.tables[0].consequences.count > 0)
    }
}
