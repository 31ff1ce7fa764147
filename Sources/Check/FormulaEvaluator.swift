import Foundation
import Formats

/// A value a cell evaluates to.
public enum EvaluatedValue: Sendable, Equatable {
    case number(Double)
    case text(String)
    case boolean(Bool)
    /// An empty cell: 0 in arithmetic.
    case empty
    /// A spreadsheet error: "#DIV/0!", "#VALUE!", "#NUM!", "#NAME?", "#REF!", or "#CIRCULAR!" for
    /// a cell on a cycle of references with no cached value.
    case error(String)

    /// A value as a file stores it.
    init(_ value: SpreadsheetFile.Value) {
        switch value {
        case .number(let number): self = .number(number)
        case .text(let text): self = .text(text)
        case .boolean(let boolean): self = .boolean(boolean)
        case .error(let code): self = .error(code)
        }
    }
}

/// A cell whose formula could not be evaluated as written: one line, with the cell.
public struct FormulaProblem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The formula could not be read, called a function with the wrong number of arguments,
        /// or names a range of more than `WorkbookEvaluator.maximumRangeCells` cells; the reason.
        case unparsable(String)
        /// A function not evaluated here, upper-cased.
        case unknownFunction(String)
        case circularReference
        /// A sheet the workbook does not have, as the formula names it.
        case unknownSheet(String)
    }

    public var sheet: Int
    public var cell: CellAddress
    public var kind: Kind
    /// `Z33: unknown function FOO; its cached value is used`,
    /// `I4: circular reference (I4 → J4 → I4); not evaluated, its cached value is used`.
    public var message: String
}

/// Evaluates the cells of a workbook from their formulas, as Excel would, so that a learner's
/// sheet is checked by what its formulas compute rather than by the values the program cached.
///
/// Excel's semantics, in the subset Part 1 sheets use: an empty cell is 0 in arithmetic and
/// booleans are 1 and 0; text in arithmetic is "#VALUE!"; errors propagate; x/0 and 0^negative
/// are "#DIV/0!"; results that are not finite are "#NUM!". Functions: EXP, LN, LOG10, LOG,
/// SQRT, ABS, POWER, SUM, PRODUCT, AVERAGE, MIN, MAX, PI, ROUND, IF. A cell whose formula cannot
/// be evaluated as written (unreadable, an unknown function, on a cycle) takes its cached value
/// and is listed in `problems`.
///
/// Evaluation follows references with an explicit stack, never by recursion, so a chain of a
/// million cells each referring to the one above is evaluated in constant native stack; only one
/// formula's own expression is evaluated recursively, and the parser bounds its nesting.
public final class WorkbookEvaluator {
    /// The most cells one range may span; a larger one is "#REF!".
    public static let maximumRangeCells = 1_000_000

    /// The functions evaluated, with the numbers of arguments each takes.
    static let functions: [String: ClosedRange<Int>] = [
        "EXP": 1...1, "LN": 1...1, "LOG10": 1...1, "LOG": 1...2, "SQRT": 1...1, "ABS": 1...1,
        "POWER": 2...2, "PI": 0...0, "ROUND": 2...2, "IF": 2...3,
        "SUM": 1...255, "PRODUCT": 1...255, "AVERAGE": 1...255, "MIN": 1...255, "MAX": 1...255,
    ]

    /// Every problem met so far (each cell once), in the order met.
    public private(set) var problems: [FormulaProblem] = []

    private let file: SpreadsheetFile
    /// Sheet indices by lower-cased name; the first of two sheets whose names differ only in case.
    private let sheetIndices: [String: Int]
    private var plans: [CellKey: Plan] = [:]
    /// The values of the formula cells evaluated so far.
    private var values: [CellKey: EvaluatedValue] = [:]
    private var cellsWithProblems: Set<CellKey> = []

    public init(_ file: SpreadsheetFile) {
        self.file = file
        var indices: [String: Int] = [:]
        for (index, sheet) in file.sheets.enumerated() where indices[sheet.name.lowercased()] == nil {
            indices[sheet.name.lowercased()] = index
        }
        sheetIndices = indices
        let formulaCells = file.sheets.reduce(0) { count, sheet in count + sheet.cells.values.lazy.filter { $0.formula != nil }.count }
        plans.reserveCapacity(formulaCells)
        values.reserveCapacity(formulaCells)
    }

    /// Index of a sheet by name (case-insensitive, as spreadsheets compare), for cross-sheet references.
    public func sheetIndex(named name: String) -> Int? { sheetIndices[name.lowercased()] }

    /// The cell's value computed from its formula (or its constant); memoised. "#REF!" for a
    /// sheet index the workbook does not have.
    public func value(sheet: Int, _ address: CellAddress) -> EvaluatedValue {
        guard file.sheets.indices.contains(sheet) else { return .error("#REF!") }
        let key = CellKey(sheet: sheet, address: address)
        if let known = knownValue(key) { return known }
        evaluate(from: key)
        return knownValue(key) ?? .error("#CIRCULAR!")  // evaluate(from:) leaves every cell it met known
    }

    /// The parsed formula of a cell (memoised), or nil for a constant/empty cell or an unparsable one.
    public func formula(sheet: Int, _ address: CellAddress) -> Formula? {
        switch plan(CellKey(sheet: sheet, address: address)) {
        case .constant: return nil
        case .evaluate(let formula): return formula
        case .useCache(let formula): return formula
        }
    }

    // MARK: Cells

    private struct CellKey: Hashable {
        var sheet: Int
        var address: CellAddress
    }

    /// How a cell gets its value.
    private enum Plan {
        /// No formula: the constant stored, or empty.
        case constant(EvaluatedValue)
        /// A formula that can be evaluated as written.
        case evaluate(Formula)
        /// A formula with a problem that stops its evaluation (nil when unreadable): the cached value stands in.
        case useCache(Formula?)
    }

    private func cell(_ key: CellKey) -> SpreadsheetFile.Cell? {
        guard file.sheets.indices.contains(key.sheet) else { return nil }
        return file.sheets[key.sheet].cells[key.address]
    }

    /// The cell's plan, its formula parsed and checked the first time it is asked for.
    private func plan(_ key: CellKey) -> Plan {
        guard let cell = cell(key) else { return .constant(.empty) }
        guard let text = cell.formula else { return .constant(cell.value.map(EvaluatedValue.init) ?? .empty) }
        if let known = plans[key] { return known }
        let plan: Plan
        do {
            let formula = try Formula(parsing: text)
            if case let (kind, reason)? = unsupportedCall(in: formula) {
                record(kind, at: key, "\(reason); \(fallbackNote(key, otherwise: "#NAME?"))")
                plan = .useCache(formula)
            } else {
                checkReferences(in: formula, at: key)
                plan = .evaluate(formula)
            }
        } catch {
            let reason = "\(error)"
            record(.unparsable(reason), at: key, "formula not read: \(reason); \(fallbackNote(key, otherwise: "#NAME?"))")
            plan = .useCache(nil)
        }
        plans[key] = plan
        return plan
    }

    /// The value of a cell when it needs no evaluating: empty, a constant, or a formula cell
    /// evaluated before. Nil for a formula cell not yet evaluated.
    private func knownValue(_ key: CellKey) -> EvaluatedValue? {
        if let value = values[key] { return value }
        guard let cell = cell(key) else { return .empty }
        return cell.formula == nil ? cell.value.map(EvaluatedValue.init) ?? .empty : nil
    }

    /// The value stored with a formula cell, for one that cannot be evaluated as written.
    private func cachedValue(_ key: CellKey, otherwise error: String) -> EvaluatedValue {
        cell(key)?.value.map(EvaluatedValue.init) ?? .error(error)
    }

    private func fallbackNote(_ key: CellKey, otherwise error: String) -> String {
        cell(key)?.value == nil ? "it has no cached value, so it is \(error)" : "its cached value is used"
    }

    // MARK: Following references

    /// One cell on the work stack: `expanded` once its dependencies have been pushed.
    private struct Frame {
        var key: CellKey
        var expanded = false
    }

    /// Evaluates `root` and every formula cell it depends on, depth first with an explicit stack:
    /// a cell is expanded (its unevaluated dependencies pushed above it) and computed when it is
    /// back on top. The expanded cells still on the stack form the chain of references from the
    /// root (`path`), so a dependency found on it closes a cycle.
    private func evaluate(from root: CellKey) {
        var stack = [Frame(key: root)]
        var path: [CellKey] = []
        var positionOnPath: [CellKey: Int] = [:]
        while let frame = stack.last {
            let key = frame.key
            var computed: EvaluatedValue?
            if values[key] == nil {
                switch plan(key) {
                case .constant(let value):
                    computed = value
                case .useCache:
                    computed = cachedValue(key, otherwise: "#NAME?")
                case .evaluate(let formula) where frame.expanded:
                    computed = value(of: formula, sheet: key.sheet)
                case .evaluate(let formula):
                    var dependencies: [CellKey] = []
                    collectUnevaluatedDependencies(of: formula, sheet: key.sheet, into: &dependencies)
                    if dependencies.isEmpty {
                        computed = value(of: formula, sheet: key.sheet)
                    } else {
                        stack[stack.count - 1].expanded = true
                        positionOnPath[key] = path.count
                        path.append(key)
                        if let start = dependencies.lazy.compactMap({ positionOnPath[$0] }).first {
                            reportCycle(Array(path[start...]))
                        } else {
                            // Reversed, so that the first dependency written is evaluated first.
                            stack += dependencies.reversed().map { Frame(key: $0) }
                        }
                        continue
                    }
                }
            }
            if let computed { values[key] = computed }
            stack.removeLast()
            if frame.expanded {
                path.removeLast()
                positionOnPath[key] = nil
            }
        }
    }

    /// Appends the formula cells the formula reads that are not evaluated yet (with repeats).
    private func collectUnevaluatedDependencies(of formula: Formula, sheet: Int, into dependencies: inout [CellKey]) {
        switch formula {
        case .number, .text, .boolean:
            break
        case .reference(let reference):
            if let key = key(reference, from: sheet), knownValue(key) == nil { dependencies.append(key) }
        case .range(let first, let last):
            if let rectangle = rectangle(first, last, from: sheet) {
                dependencies += cells(in: rectangle).filter { knownValue($0) == nil }
            }
        case .negate(let operand):
            collectUnevaluatedDependencies(of: operand, sheet: sheet, into: &dependencies)
        case .binary(_, let left, let right):
            collectUnevaluatedDependencies(of: left, sheet: sheet, into: &dependencies)
            collectUnevaluatedDependencies(of: right, sheet: sheet, into: &dependencies)
        case .call(_, let arguments):
            for argument in arguments {
                collectUnevaluatedDependencies(of: argument, sheet: sheet, into: &dependencies)
            }
        }
    }

    /// Each cell of a cycle (`cycle[i]` refers to `cycle[i + 1]`, the last to the first) takes its
    /// cached value and is reported once, the message following the cycle from that cell.
    private func reportCycle(_ cycle: [CellKey]) {
        for (offset, key) in cycle.enumerated() {
            let shown = cycle.count <= 8 ? cycle.count : 4
            var names = (0..<shown).map { name(of: cycle[(offset + $0) % cycle.count], from: key.sheet) }
            if shown < cycle.count { names.append("…") }
            names.append(name(of: key, from: key.sheet))
            let length = shown < cycle.count ? " of \(grouped(cycle.count)) cells" : ""
            record(.circularReference, at: key,
                   "circular reference (\(names.joined(separator: " → "))\(length)); not evaluated, \(fallbackNote(key, otherwise: "#CIRCULAR!"))")
            if values[key] == nil { values[key] = cachedValue(key, otherwise: "#CIRCULAR!") }
        }
    }

    // MARK: References and ranges

    /// The cell a reference names, read from a formula on `sheet`; nil for an unknown sheet.
    private func key(_ reference: CellReference, from sheet: Int) -> CellKey? {
        guard let name = reference.sheet else { return CellKey(sheet: sheet, address: reference.address) }
        return sheetIndex(named: name).map { CellKey(sheet: $0, address: reference.address) }
    }

    private struct Rectangle {
        var sheet: Int
        var rows: ClosedRange<Int>
        var columns: ClosedRange<Int>
        var count: Int { rows.count * columns.count }

        func contains(_ address: CellAddress) -> Bool { rows.contains(address.row) && columns.contains(address.column) }
    }

    /// The cells a range spans (either corner first); nil for an unknown sheet or more than `maximumRangeCells`.
    private func rectangle(_ first: CellReference, _ last: CellReference, from sheet: Int) -> Rectangle? {
        guard let corner = key(first, from: sheet) else { return nil }
        let rectangle = Rectangle(sheet: corner.sheet,
                                  rows: min(first.address.row, last.address.row)...max(first.address.row, last.address.row),
                                  columns: min(first.address.column, last.address.column)...max(first.address.column, last.address.column))
        return rectangle.count <= WorkbookEvaluator.maximumRangeCells ? rectangle : nil
    }

    /// The cells of the rectangle that hold something, row by row: found by looking up each
    /// position, or by scanning the sheet's cells when the sheet has fewer.
    private func cells(in rectangle: Rectangle) -> [CellKey] {
        let cells = file.sheets[rectangle.sheet].cells
        let addresses: [CellAddress]
        if rectangle.count <= cells.count {
            addresses = rectangle.rows.flatMap { row in
                rectangle.columns.lazy.map { CellAddress(row: row, column: $0) }.filter { cells[$0] != nil }
            }
        } else {
            addresses = cells.keys.filter(rectangle.contains).sorted()
        }
        return addresses.map { CellKey(sheet: rectangle.sheet, address: $0) }
    }

    // MARK: Checking a formula before evaluating it

    /// The first call to a function not evaluated here, or with the wrong number of arguments.
    private func unsupportedCall(in formula: Formula) -> (FormulaProblem.Kind, String)? {
        switch formula {
        case .number, .text, .boolean, .reference, .range:
            return nil
        case .negate(let operand):
            return unsupportedCall(in: operand)
        case .binary(_, let left, let right):
            return unsupportedCall(in: left) ?? unsupportedCall(in: right)
        case .call(let name, let arguments):
            guard let counts = WorkbookEvaluator.functions[name] else {
                return (.unknownFunction(name), "unknown function \(name)")
            }
            guard counts.contains(arguments.count) else {
                let expected = counts.count == 1 ? "\(counts.lowerBound)" : "\(counts.lowerBound) to \(counts.upperBound)"
                let reason = "\(name) takes \(expected) argument\(counts.upperBound == 1 ? "" : "s"), not \(arguments.count)"
                return (.unparsable(reason), reason)
            }
            return arguments.lazy.compactMap { self.unsupportedCall(in: $0) }.first
        }
    }

    /// Reports a reference to a sheet the workbook lacks, or a range too large; either is "#REF!".
    private func checkReferences(in formula: Formula, at cell: CellKey) {
        switch formula {
        case .number, .text, .boolean:
            break
        case .reference(let reference):
            checkSheet(of: reference, at: cell)
        case .range(let first, let last):
            checkSheet(of: first, at: cell)
            if key(first, from: cell.sheet) != nil, rectangle(first, last, from: cell.sheet) == nil {
                let reason = "range \(first):\(last) has more than \(grouped(WorkbookEvaluator.maximumRangeCells)) cells"
                record(.unparsable(reason), at: cell, "\(reason); it is #REF!")
            }
        case .negate(let operand):
            checkReferences(in: operand, at: cell)
        case .binary(_, let left, let right):
            checkReferences(in: left, at: cell)
            checkReferences(in: right, at: cell)
        case .call(_, let arguments):
            for argument in arguments { checkReferences(in: argument, at: cell) }
        }
    }

    private func checkSheet(of reference: CellReference, at cell: CellKey) {
        if let sheet = reference.sheet, sheetIndex(named: sheet) == nil {
            record(.unknownSheet(sheet), at: cell, "no sheet named \(CellReference.quotedIfNeeded(WorkbookEvaluator.oneLine(sheet))); the reference is #REF!")
        }
    }

    // MARK: Problems

    /// Adds a problem, unless the cell has one already; the message is prefixed with the cell.
    private func record(_ kind: FormulaProblem.Kind, at key: CellKey, _ message: String) {
        guard cellsWithProblems.insert(key).inserted else { return }
        let cellName = file.sheets.count > 1 ? qualifiedName(of: key) : key.address.description
        problems.append(FormulaProblem(sheet: key.sheet, cell: key.address, kind: kind, message: cellName + ": " + message))
    }

    /// A cell as a message names it from a cell on `sheet`: `C4`, or `'η = 1'!C4` on another sheet.
    private func name(of key: CellKey, from sheet: Int) -> String {
        key.sheet == sheet ? key.address.description : qualifiedName(of: key)
    }

    /// A cell with its sheet: `'η = 1'!C4`.
    private func qualifiedName(of key: CellKey) -> String {
        CellReference(sheet: WorkbookEvaluator.oneLine(file.sheets[key.sheet].name), address: key.address).description
    }

    /// A name from the file for a one-line message: line breaks and other control characters as spaces.
    private static func oneLine(_ text: String) -> String {
        if text.utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) { return text }
        var line = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let category = scalar.properties.generalCategory
            line.append(category == .control || category == .lineSeparator || category == .paragraphSeparator ? " " : scalar)
        }
        return String(line)
    }

    // MARK: Evaluating one formula

    /// A spreadsheet error met while evaluating, such as "#DIV/0!"; it ends the evaluation of the formula.
    private struct CellError: Error {
        var code: String
    }

    /// The value of a formula whose dependencies are all evaluated; an empty result is 0, as a
    /// formula `=A1` shows for an empty A1.
    private func value(of formula: Formula, sheet: Int) -> EvaluatedValue {
        do throws(CellError) {
            let value = try evaluate(formula, sheet: sheet)
            return value == .empty ? .number(0) : value
        } catch {
            return .error(error.code)
        }
    }

    /// The value of an expression; never `.error`, which is thrown instead.
    private func evaluate(_ formula: Formula, sheet: Int) throws(CellError) -> EvaluatedValue {
        switch formula {
        case .number(let number): return .number(number)
        case .text(let text): return .text(text)
        case .boolean(let boolean): return .boolean(boolean)
        case .reference(let reference):
            guard let key = key(reference, from: sheet) else { throw CellError(code: "#REF!") }
            return try referencedValue(key)
        case .range(let first, let last):
            // A range means something only as an argument of SUM and its kin.
            throw CellError(code: rectangle(first, last, from: sheet) == nil ? "#REF!" : "#VALUE!")
        case .negate(let operand):
            return .number(-(try number(operand, sheet: sheet)))
        case .binary(let op, let left, let right):
            let x = try number(left, sheet: sheet), y = try number(right, sheet: sheet)
            switch op {
            case .add: return .number(try finite(x + y))
            case .subtract: return .number(try finite(x - y))
            case .multiply: return .number(try finite(x * y))
            case .divide:
                guard y != 0 else { throw CellError(code: "#DIV/0!") }
                return .number(try finite(x / y))
            case .power: return .number(try power(x, y))
            }
        case .call(let name, let arguments):
            return try call(name, arguments, sheet: sheet)
        }
    }

    /// A referenced cell's value; its error thrown. Every dependency is evaluated before the
    /// formula that reads it, so the fallback is for the impossible.
    private func referencedValue(_ key: CellKey) throws(CellError) -> EvaluatedValue {
        let value = knownValue(key) ?? .error("#CIRCULAR!")
        if case .error(let code) = value { throw CellError(code: code) }
        return value
    }

    /// An expression as arithmetic reads it: booleans 1 and 0, empty 0, text "#VALUE!".
    private func number(_ formula: Formula, sheet: Int) throws(CellError) -> Double {
        switch try evaluate(formula, sheet: sheet) {
        case .number(let number): return number
        case .boolean(let boolean): return boolean ? 1 : 0
        case .empty: return 0
        case .text, .error: throw CellError(code: "#VALUE!")
        }
    }

    private func finite(_ x: Double) throws(CellError) -> Double {
        guard x.isFinite else { throw CellError(code: "#NUM!") }
        return x
    }

    private func power(_ x: Double, _ y: Double) throws(CellError) -> Double {
        if x == 0 && y < 0 { throw CellError(code: "#DIV/0!") }
        if x == 0 && y == 0 { throw CellError(code: "#NUM!") }
        return try finite(pow(x, y))
    }

    /// A call to one of `functions`, its number of arguments checked when the formula was read.
    private func call(_ name: String, _ arguments: [Formula], sheet: Int) throws(CellError) -> EvaluatedValue {
        func argument(_ index: Int) throws(CellError) -> Double { try number(arguments[index], sheet: sheet) }
        switch name {
        case "EXP": return .number(try finite(exp(try argument(0))))
        case "LN", "LOG10", "LOG":
            let x = try argument(0)
            guard x > 0 else { throw CellError(code: "#NUM!") }
            if name == "LN" { return .number(log(x)) }
            var base = 10.0
            if arguments.count > 1 { base = try argument(1) }
            guard base > 0 else { throw CellError(code: "#NUM!") }
            guard base != 1 else { throw CellError(code: "#DIV/0!") }
            return .number(base == 10 ? log10(x) : log(x) / log(base))
        case "SQRT":
            let x = try argument(0)
            guard x >= 0 else { throw CellError(code: "#NUM!") }
            return .number(x.squareRoot())
        case "ABS": return .number(abs(try argument(0)))
        case "POWER": return .number(try power(try argument(0), try argument(1)))
        case "PI": return .number(Double.pi)
        case "ROUND": return .number(try round(try argument(0), digits: try argument(1)))
        case "IF":
            let condition: Bool
            switch try evaluate(arguments[0], sheet: sheet) {
            case .boolean(let boolean): condition = boolean
            case .number(let number): condition = number != 0
            case .empty: condition = false
            case .text, .error: throw CellError(code: "#VALUE!")
            }
            if condition { return try evaluate(arguments[1], sheet: sheet) }
            if arguments.count > 2 { return try evaluate(arguments[2], sheet: sheet) }
            return .boolean(false)
        case "SUM", "PRODUCT", "AVERAGE", "MIN", "MAX":
            let numbers = try aggregated(arguments, sheet: sheet)
            switch name {
            case "SUM": return .number(try finite(numbers.reduce(0, +)))
            case "PRODUCT":
                if numbers.isEmpty { return .number(0) }
                return .number(try finite(numbers.reduce(1, *)))
            case "AVERAGE":
                guard !numbers.isEmpty else { throw CellError(code: "#DIV/0!") }
                return .number(try finite(numbers.reduce(0, +) / Double(numbers.count)))
            case "MIN": return .number(numbers.min() ?? 0)
            default: return .number(numbers.max() ?? 0)
            }
        default:
            throw CellError(code: "#NAME?")
        }
    }

    /// The numbers SUM and its kin add up: in ranges and references only the numbers (empty cells,
    /// text and booleans skipped, as Excel does); other arguments as arithmetic reads them,
    /// except that an empty result is skipped.
    private func aggregated(_ arguments: [Formula], sheet: Int) throws(CellError) -> [Double] {
        var numbers: [Double] = []
        for argument in arguments {
            let referenced: [CellKey]
            switch argument {
            case .range(let first, let last):
                guard let rectangle = rectangle(first, last, from: sheet) else { throw CellError(code: "#REF!") }
                referenced = cells(in: rectangle)
            case .reference(let reference):
                guard let key = key(reference, from: sheet) else { throw CellError(code: "#REF!") }
                referenced = [key]
            default:
                switch try evaluate(argument, sheet: sheet) {
                case .number(let number): numbers.append(number)
                case .boolean(let boolean): numbers.append(boolean ? 1 : 0)
                case .empty: break
                case .text, .error: throw CellError(code: "#VALUE!")
                }
                continue
            }
            for key in referenced {
                if case .number(let number) = try referencedValue(key) { numbers.append(number) }
            }
        }
        return numbers
    }

    /// ROUND: half away from zero at `digits` decimals (left of the point when negative). The
    /// scaled value is first rounded to 15 significant digits, as Excel does, so that
    /// ROUND(2.675, 2) is 2.68 although 2.675 is stored as 2.67499999….
    private func round(_ x: Double, digits: Double) throws(CellError) -> Double {
        let places = Int(max(-400, min(400, digits.rounded(.towardZero))))
        let scale = pow(10, Double(abs(places)))
        let scaled = places >= 0 ? x * scale : x / scale
        guard scaled.isFinite, abs(scaled) < 1e300 else { return x }
        let rounded = (Double(String(format: "%.15g", scaled)) ?? scaled).rounded(.toNearestOrAwayFromZero)
        return try finite(places >= 0 ? rounded / scale : rounded * scale)
    }
}
