import Foundation
import Formats
import Sheet

/// Checks a learner's own Part 1 spreadsheet, cell by cell, against the exact values computed
/// from the learner's own starting point, and names each slip.
///
/// For every table (`TableFinder`) the checker:
/// 1. evaluates every cell from its formula (`WorkbookEvaluator`; cached values only where a
///    formula cannot be evaluated, and cached values that disagree with their formulas are noted);
/// 2. reads the learner's starting values (t, i, w1…w8 of the first row; an empty cell is read as
///    0, as the spreadsheet reads it, and reported as `blank-input`), η and the biases
///    (`Surroundings`), and runs the exact gradient descent from them (`SheetNetwork`);
/// 3. compares every cell with it: a cell is right when |found − expected| ≤ 1e-9 · max(|expected|,
///    10⁻⁶ · the column's largest |expected|) — relative, with a floor for values near zero;
/// 4. finds where each error starts: a cell is the *origin* of an error when it is wrong even
///    given the learner's own values of the cells it reads (`LocalRules`); the other wrong cells
///    only inherit the error and are counted as consequences;
/// 5. names each origin's slip with evidence: re-computing the cell with that slip, from the
///    learner's own numbers, reproduces what the cell holds — or the formula's references show it
///    (an update reading another row, a relative η, a reference to an empty cell). Otherwise
///    the slip is `unrecognised`, with expected and found values.
public enum Checker {
    /// Reads and checks a file; throws `SpreadsheetReadError` or `NoCourseTable` (one line each).
    public static func check(path: String) throws -> CheckReport {
        let file = try SpreadsheetReader.read(path: path)
        return try check(file, name: (path as NSString).lastPathComponent)
    }

    public static func check(_ file: SpreadsheetFile, name: String) throws -> CheckReport {
        let values = WorkbookEvaluator(file)
        let tables = try TableFinder.tables(in: file, values: values)
        return CheckReport(file: name, tables: tables.map { TableCheck(table: $0, file: file, values: values).run() })
    }
}

/// The relative tolerance of every comparison (see `Checker`).
let tolerance = 1e-9

func agrees(_ found: Double, _ expected: Double, scale: Double) -> Bool {
    found == expected || abs(found - expected) <= tolerance * max(abs(expected), 1e-6 * scale)
}

/// The check of one table.
struct TableCheck {
    let table: CourseTable
    let file: SpreadsheetFile
    let values: WorkbookEvaluator
    let rules: LocalRules

    init(table: CourseTable, file: SpreadsheetFile, values: WorkbookEvaluator) {
        self.table = table; self.file = file; self.values = values
        rules = LocalRules(table: table, learningRate: table.learningRate.value,
                           hiddenBias: table.hiddenBias.value, outputBias: table.outputBias.value)
    }

    /// A cell where an error starts, and what was found there.
    struct Origin {
        var quantity: Quantity
        var iteration: Int
        var explanation: (slip: Slip, key: String, text: String)
        var expected: Double?
        var found: Double?
    }

    func cellValue(_ q: Quantity, _ k: Int) -> EvaluatedValue { values.value(sheet: table.sheet, table.cell(q, iteration: k)) }

    func run() -> TableReport {
        let n = table.rows.count
        // The learner's numbers, as the spreadsheet reads them: empty is 0; a t or i left empty
        // below the first row carries the value above (sheets that keep them in one row only).
        var learner: [RowValues] = []
        for k in 0..<n {
            var row = RowValues(values: [Double](repeating: .nan, count: Quantity.allCases.count))
            for q in Quantity.allCases {
                switch cellValue(q, k) {
                case .number(let x): row[q] = x
                case .empty: row[q] = k > 0 && q.isStartingValue && !q.isWeight ? learner[k - 1][q] : 0
                default: row[q] = .nan
                }
            }
            learner.append(row)
        }
        let start = learner[0]
        let network = SheetNetwork(inputs: (start[.i1], start[.i2]), targets: (start[.t1], start[.t2]),
                                   weights: Quantity.weights.map { start[$0] }, biases: (table.hiddenBias.value, table.outputBias.value))
        let reference = network.descend(learningRate: table.learningRate.value, iterations: n).map(\.values)
        var scale = [Double](repeating: 0, count: Quantity.allCases.count)
        for row in reference { for (i, x) in row.enumerated() where x.isFinite { scale[i] = max(scale[i], abs(x)) } }

        var checked = 0
        var origins: [Origin] = []
        var wrong: [CellAddress] = []
        var consequences: [CellAddress] = []
        var carried: [CellAddress] = []
        for k in 0..<n {
            for q in Quantity.allCases {
                let cell = cellValue(q, k)
                if k > 0, q.isStartingValue, !q.isWeight, cell == .empty {   // carried, not written
                    carried.append(table.cell(q, iteration: k))
                    continue
                }
                checked += 1
                let expected = reference[k][q.rawValue]
                let found: Double? = { if case .number(let x) = cell { return x }; return cell == .empty ? 0 : nil }()
                let globallyWrong = found.map { !agrees($0, expected, scale: scale[q.rawValue]) } ?? true
                if let origin = origin(q, k, cell: cell, found: found, learner: learner, scale: scale[q.rawValue]) {
                    origins.append(origin)
                    wrong.append(table.cell(q, iteration: k))
                } else if globallyWrong {
                    consequences.append(table.cell(q, iteration: k))
                    wrong.append(table.cell(q, iteration: k))
                }
            }
        }
        return TableReport(table: table, checkedCells: checked, wrongCells: wrong, findings: findings(origins),
                           consequences: consequences, carriedCells: carried, notes: notes())
    }

    /// Whether the error in this cell starts here, and which slip it is.
    func origin(_ q: Quantity, _ k: Int, cell: EvaluatedValue, found: Double?, learner: [RowValues], scale: Double) -> Origin? {
        if k == 0, q.isStartingValue {
            guard cell == .empty else {
                guard found == nil else { return nil }
                return Origin(quantity: q, iteration: k, explanation: (.unrecognised, "not-a-number", "holds \(shown(cell)) where a number belongs"),
                              expected: nil, found: nil)
            }
            return Origin(quantity: q, iteration: k,
                          explanation: (.blankInput, "blank", "is empty, so the sheet reads it as 0; type the starting value of \(q.name)"),
                          expected: nil, found: 0)
        }
        let L = learner[k], P = k > 0 ? learner[k - 1] : nil, T = k > 1 ? learner[k - 2] : nil
        guard let local = rules.expected(q, L: L, P: P), local.isFinite else { return nil }   // it reads a broken cell
        guard let found else {
            return Origin(quantity: q, iteration: k, explanation: (.unrecognised, "not-a-number", "holds \(shown(cell)) where a number belongs"),
                          expected: local, found: nil)
        }
        if agrees(found, local, scale: scale) { return nil }
        if cell == .empty {
            return Origin(quantity: q, iteration: k, explanation: (.unrecognised, "empty", "is empty where \(q.name) belongs"), expected: local, found: 0)
        }
        // Evidence 1: a slip that, re-computed from the learner's own numbers, gives what the cell holds.
        // When several give it, what the formula reads decides: a cell read in place of another is
        // the slip when the formula reads it and not the one that belongs. (With the course's inputs,
        // i2 = 2·i1: ∂E/∂w1 reading i2 gives twice the gradient, as the ½ forgotten does.)
        let evidence = FormulaEvidence(check: self)
        let structural = evidence.explain(q, k, found: found, learner: learner, scale: scale)
        let read = evidence.rowCellsRead(q, k)
        let agreeing = rules.slips(q, k, L: L, P: P, T: T).enumerated().filter { agrees(found, $0.element.value, scale: scale) }
        func shownByFormula(_ slip: LocalRules.Explanation) -> Bool? {
            guard let swap = slip.swap, let read else { return nil }
            return read.contains(swap.read) && !read.contains(swap.belongs)
        }
        if let (index, match) = agreeing.first(where: { shownByFormula($0.element) == true })
            ?? agreeing.first(where: { shownByFormula($0.element) != false }) {
            // What the formula reads says it in the learner's own cells, when it agrees.
            var text = structural?.slip == match.slip ? structural!.text : match.text
            // Without a formula nothing tells two slips that give the same number apart: name both.
            if read == nil, let other = agreeing.first(where: { $0.element.slip != match.slip }) {
                text += "; or it \(other.element.text) (the two give the same number here)"
            }
            return Origin(quantity: q, iteration: k, explanation: (match.slip, "\(match.slip.rawValue)#\(index)", text),
                          expected: local, found: found)
        }
        // Evidence 2: what the formula reads.
        if let structural {
            return Origin(quantity: q, iteration: k, explanation: structural, expected: local, found: found)
        }
        return Origin(quantity: q, iteration: k, explanation: (.unrecognised, "unrecognised", "is wrong, and no slip in the catalogue reproduces it"),
                      expected: local, found: found)
    }

    func shown(_ value: EvaluatedValue) -> String {
        switch value {
        case .text(let text): return "the text \"\(text.prefix(40))\""
        case .error(let error): return error
        case .boolean(let flag): return flag ? "TRUE" : "FALSE"
        case .number(let x): return "\(x)"
        case .empty: return "nothing"
        }
    }

    /// Origins grouped into findings: runs of consecutive iterations in one column with the same
    /// slip, then runs of the same slip over the same iterations in several columns together.
    func findings(_ origins: [Origin]) -> [Finding] {
        struct Run { var origins: [Origin] }
        var runs: [Run] = []
        let byColumn = Dictionary(grouping: origins, by: \.quantity)
        for q in byColumn.keys.sorted() {
            for origin in byColumn[q]!.sorted(by: { $0.iteration < $1.iteration }) {
                if let last = runs.last?.origins.last, last.quantity == q, last.iteration == origin.iteration - 1,
                   last.explanation.key == origin.explanation.key {
                    runs[runs.count - 1].origins.append(origin)
                } else {
                    runs.append(Run(origins: [origin]))
                }
            }
        }
        // Columns sharing a slip over the same iterations (∂E/∂w3 and ∂E/∂w4) make one finding.
        var groups: [[Run]] = []
        for run in runs {
            let first = run.origins.first!, last = run.origins.last!
            if let index = groups.firstIndex(where: { group in
                let other = group[0].origins
                return other.first!.explanation.slip == first.explanation.slip && other.first!.iteration == first.iteration
                    && other.last!.iteration == last.iteration && first.explanation.slip != .unrecognised
            }) {
                groups[index].append(run)
            } else {
                groups.append([run])
            }
        }
        // In reading order: where each slip first appears, row by row.
        groups.sort { ($0[0].origins[0].iteration, $0[0].origins[0].quantity) < ($1[0].origins[0].iteration, $1[0].origins[0].quantity) }
        return groups.map { group in
            let first = group[0].origins[0]
            let firstCell = table.cell(first.quantity, iteration: first.iteration)
            let ranges = group.map { run -> String in
                let a = table.cell(run.origins.first!.quantity, iteration: run.origins.first!.iteration)
                let b = table.cell(run.origins.last!.quantity, iteration: run.origins.last!.iteration)
                return a == b ? a.description : "\(a):\(b)"
            }
            let cellCount = group.reduce(0) { $0 + $1.origins.count }
            let whereText = cellCount == 1 ? "" : "; wrong in " + joinedAsList(ranges)
            let written = file.sheets[table.sheet].cells[firstCell]?.formula.map { "=" + $0 }
            return Finding(slip: first.explanation.slip, sheet: table.sheetName, column: first.quantity, firstCell: firstCell,
                           ranges: ranges, cells: group.flatMap { $0.origins.map { table.cell($0.quantity, iteration: $0.iteration) } },
                           message: "\(firstCell) \(first.quantity.name): \(first.explanation.text)\(whereText)",
                           expected: first.expected, found: first.found, formula: written,
                           expectedFormula: table.expectedFormula(first.quantity, iteration: first.iteration))
        }
    }

    /// Things worth knowing that do not make a cell wrong: cached values that disagree with their
    /// formulas, formulas that could not be evaluated (their cached values were checked instead).
    func notes() -> [Note] {
        var notes: [Note] = []
        var disagreeing: [CellAddress] = []
        var firstText = ""
        for k in table.rows.indices {
            for q in Quantity.allCases {
                let address = table.cell(q, iteration: k)
                guard let cell = file.sheets[table.sheet].cells[address], cell.formula != nil,
                      case .number(let cached)? = cell.value, case .number(let computed) = values.value(sheet: table.sheet, address),
                      !agrees(cached, computed, scale: abs(computed)) else { continue }
                if disagreeing.isEmpty { firstText = "\(address): cached \(cached), its formula gives \(computed)" }
                disagreeing.append(address)
            }
        }
        if !disagreeing.isEmpty {
            notes.append(Note(kind: "cached-value", cells: disagreeing.map(\.description),
                              message: "\(disagreeing.count) cached value\(disagreeing.count == 1 ? "" : "s") disagree with their formulas (first \(firstText)); the formulas were checked"))
        }
        for problem in values.problems where problem.sheet == table.sheet {
            let kind: String
            switch problem.kind {
            case .unparsable: kind = "unparsable"
            case .unknownFunction: kind = "unknown-function"
            case .circularReference: kind = "circular-reference"
            case .unknownSheet: kind = "unknown-sheet"
            }
            notes.append(Note(kind: kind, cells: [problem.cell.description], message: problem.message))
        }
        return notes
    }
}

func joinedAsList(_ items: [String]) -> String {
    items.count <= 1 ? items.joined() : items.dropLast().joined(separator: ", ") + " and " + items.last!
}
