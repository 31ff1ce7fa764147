import Foundation
import Formats

/// A spreadsheet formula, parsed: what a Part 1 sheet's cells compute, in the subset of Excel's
/// language such sheets use.
///
///     formula  = "="? sum
///     sum      = product (("+" | "-") product)*
///     product  = power (("*" | "/") power)*
///     power    = unary ("^" unary)*            left to right, as in Excel: 2^3^2 = 64
///     unary    = ("-" | "+") unary | percent    tighter than ^, as in Excel: -2^2 = 4
///     percent  = primary "%"*                   x% is read as x/100
///     primary  = number | "text" | TRUE | FALSE | reference (":" reference)? | NAME "(" arguments ")" | "(" sum ")"
///     arguments = (sum (("," | ";") sum)*)?
///     reference = (sheet "!")? "$"? letters "$"? digits        sheet = name | 'quoted name'
///
/// Whitespace may stand between any two tokens; names, TRUE and FALSE are read in any case;
/// function names are kept upper-cased, without Excel's `_xlfn.` prefix.
public indirect enum Formula: Sendable, Equatable {
    case number(Double)
    case text(String)
    case boolean(Bool)
    case reference(CellReference)
    /// A rectangle of cells, as in SUM(A1:A5).
    case range(CellReference, CellReference)
    case negate(Formula)
    case binary(BinaryOperator, Formula, Formula)
    /// A function call; the name upper-cased.
    case call(String, [Formula])

    public enum BinaryOperator: String, Sendable {
        case add = "+", subtract = "-", multiply = "*", divide = "/", power = "^"
    }
}

/// A reference to one cell, as written: `C4`, `$B$1`, `'η = 1'!B1`.
public struct CellReference: Hashable, Sendable, CustomStringConvertible {
    /// The sheet named before "!", or nil for the formula's own sheet.
    public var sheet: String?
    public var address: CellAddress
    /// `$` before the row (it stays put when the formula is filled down).
    public var rowAbsolute: Bool
    /// `$` before the column.
    public var columnAbsolute: Bool

    public init(sheet: String? = nil, address: CellAddress, rowAbsolute: Bool = false, columnAbsolute: Bool = false) {
        self.sheet = sheet; self.address = address; self.rowAbsolute = rowAbsolute; self.columnAbsolute = columnAbsolute
    }

    /// As written in a formula: `$B$1`, `'η = 1'!C4`.
    public var description: String {
        var text = sheet.map { CellReference.quotedIfNeeded($0) + "!" } ?? ""
        if columnAbsolute { text += "$" }
        text += CellAddress.columnName(address.column)
        if rowAbsolute { text += "$" }
        return text + String(address.row + 1)
    }

    /// A sheet name as a formula writes it: bare when it is letters, digits and underscores not
    /// starting with a digit (`Sheet1`), otherwise in single quotes with each quote doubled
    /// (`'η = 1'`, `'2024'`, `'Bob''s'`).
    static func quotedIfNeeded(_ sheet: String) -> String {
        var scalars = sheet.unicodeScalars.makeIterator()
        let bare = scalars.next().map { $0 == "_" || isLetter($0) } == true
            && sheet.unicodeScalars.allSatisfy { $0 == "_" || isLetter($0) || ("0"..."9").contains($0) }
        return bare ? sheet : "'" + sheet.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// Why a formula could not be read: one line, ending with the character where reading stopped
/// (`unexpected ")" at character 7`).
public struct FormulaError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Formula {
    /// The longest formula read, in characters: Excel's own limit.
    public static let maximumCharacters = 8_192
    /// The deepest nesting of parentheses, signs and function calls read: Excel's limit for
    /// functions. It bounds the parser's recursion, whatever the input.
    public static let maximumNesting = 64

    /// Reads a formula in Excel's A1 syntax, with or without its leading "=".
    /// - Throws: `FormulaError` for anything outside the grammar above, a formula longer than
    ///   `maximumCharacters`, or nesting deeper than `maximumNesting`.
    public init(parsing text: String) throws {
        // Characters never outnumber UTF-8 bytes, so only a long text needs counting.
        if text.utf8.count > Formula.maximumCharacters, text.count > Formula.maximumCharacters {
            throw FormulaError("formula of \(grouped(text.count)) characters; at most \(grouped(Formula.maximumCharacters)) are read")
        }
        var parser = FormulaParser(tokens: try FormulaTokenizer.tokens(of: text))
        self = try parser.formula()
    }

    /// Every cell reference, in the order written; both ends of a range.
    public var references: [CellReference] {
        var found: [CellReference] = []
        collectReferences(into: &found)
        return found
    }

    private func collectReferences(into found: inout [CellReference]) {
        switch self {
        case .number, .text, .boolean: break
        case .reference(let reference): found.append(reference)
        case .range(let first, let last): found += [first, last]
        case .negate(let operand): operand.collectReferences(into: &found)
        case .binary(_, let left, let right):
            left.collectReferences(into: &found)
            right.collectReferences(into: &found)
        case .call(_, let arguments):
            for argument in arguments { argument.collectReferences(into: &found) }
        }
    }
}

// MARK: - Printing

extension Formula: CustomStringConvertible {
    /// The formula as Excel writes it, without the "=" and with only the parentheses the
    /// precedence rules need: `1/(1+EXP(-I4))`, `-2^2`, `(R4-A4)*R4*(1-R4)*M4`. A parsed formula
    /// printed so parses back to an equal one (x% comes back as x/100).
    public var description: String {
        var text = ""
        write(to: &text, needing: .sum)
        return text
    }

    /// How tightly an expression binds, loosest first: what may stand unparenthesised where.
    private enum Precedence: Int, Comparable {
        case sum, product, power, prefix, primary
        static func < (a: Precedence, b: Precedence) -> Bool { a.rawValue < b.rawValue }
    }

    private var precedence: Precedence {
        switch self {
        case .number(let value): return value.sign == .minus ? .prefix : .primary
        case .text, .boolean, .reference, .range, .call: return .primary
        case .negate: return .prefix
        case .binary(let op, _, _): return Formula.precedence(of: op)
        }
    }

    private static func precedence(of op: BinaryOperator) -> Precedence {
        switch op {
        case .add, .subtract: return .sum
        case .multiply, .divide: return .product
        case .power: return .power
        }
    }

    /// Appends the formula, in parentheses if it binds more loosely than `needed`.
    private func write(to text: inout String, needing needed: Precedence) {
        let parenthesised = precedence < needed
        if parenthesised { text += "(" }
        switch self {
        case .number(let value): text += Formula.written(value)
        case .text(let string): text += "\"" + string.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        case .boolean(let value): text += value ? "TRUE" : "FALSE"
        case .reference(let reference): text += reference.description
        case .range(let first, let last): text += first.description + ":" + last.description
        case .negate(let operand):
            text += "-"
            operand.write(to: &text, needing: .prefix)
        case .binary(let op, let left, let right):
            // All operators group left to right, so a right operand of the same precedence needs parentheses.
            let own = Formula.precedence(of: op)
            left.write(to: &text, needing: own)
            text += op.rawValue
            right.write(to: &text, needing: Precedence(rawValue: own.rawValue + 1) ?? .primary)
        case .call(let name, let arguments):
            text += name + "("
            for (index, argument) in arguments.enumerated() {
                if index > 0 { text += "," }
                argument.write(to: &text, needing: .sum)
            }
            text += ")"
        }
        if parenthesised { text += ")" }
    }

    /// A number as a formula writes it: `3` rather than `3.0`, otherwise the shortest text that
    /// reads back as the same Double (`0.05`, `1e-05`).
    private static func written(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

// MARK: - Tokens

/// A letter of any script, as names and sheet names may hold (ASCII looked up quickly).
private func isLetter(_ scalar: Unicode.Scalar) -> Bool {
    scalar.isASCII ? ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) : scalar.properties.isAlphabetic
}

private struct Token {
    enum Kind: Equatable {
        case number(Double)
        case text(String)
        /// A name as written: a cell (`$B$1`), a function, TRUE or FALSE, or an unquoted sheet.
        case name(String)
        /// A sheet name written in single quotes, unquoted.
        case quotedSheet(String)
        /// One of + - * / ^ ( ) , ; : ! %
        case symbol(Unicode.Scalar)
        case end
    }

    var kind: Kind
    /// 1-based, in Unicode scalars (characters, for the formulas people type).
    var position: Int

    /// What an error message calls the token; never more than one line.
    var shown: String {
        switch kind {
        case .number: return "number"
        case .text: return "text"
        case .name(let name): return "name " + Token.quoted(name)
        case .quotedSheet: return "sheet name"
        case .symbol(let symbol): return "\"\(symbol)\""
        case .end: return "end of formula"
        }
    }

    func isSymbol(_ symbol: Unicode.Scalar) -> Bool { kind == .symbol(symbol) }

    /// A name in quotes for a message, its first 40 characters if it is longer.
    static func quoted(_ name: String) -> String {
        "\"" + (name.count > 40 ? name.prefix(40) + "…" : name) + "\""
    }
}

private enum FormulaTokenizer {
    static func tokens(of text: String) throws -> [Token] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        func skipWhitespace() {
            while index < scalars.count, isWhitespace(scalars[index]) { index += 1 }
        }
        skipWhitespace()
        if index < scalars.count, scalars[index] == "=" { index += 1 }
        while true {
            skipWhitespace()
            guard index < scalars.count else { break }
            let start = index
            let scalar = scalars[index]
            let kind: Token.Kind
            switch scalar {
            case "0"..."9", ".":
                kind = .number(try number(scalars, &index))
            case "\"":
                kind = .text(try quoted(scalars, &index, what: "text"))
            case "'":
                let sheet = try quoted(scalars, &index, what: "sheet name")
                guard !sheet.isEmpty else { throw FormulaError("empty sheet name at character \(start + 1)") }
                kind = .quotedSheet(sheet)
            case "+", "-", "*", "/", "^", "(", ")", ",", ";", ":", "!", "%":
                index += 1
                kind = .symbol(scalar)
            default:
                guard scalar == "_" || scalar == "$" || isLetter(scalar) else {
                    throw FormulaError("unexpected \(shown(scalar)) at character \(start + 1)")
                }
                while index < scalars.count, isNameScalar(scalars[index]) { index += 1 }
                kind = .name(string(scalars[start..<index]))
            }
            tokens.append(Token(kind: kind, position: start + 1))
        }
        tokens.append(Token(kind: .end, position: scalars.count + 1))
        return tokens
    }

    private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar == "$" || scalar == "." || ("0"..."9").contains(scalar) || isLetter(scalar)
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        if scalars.allSatisfy(\.isASCII) {
            return String(decoding: scalars.lazy.map { UInt8(truncatingIfNeeded: $0.value) }, as: UTF8.self)
        }
        var string = String.UnicodeScalarView()
        string.append(contentsOf: scalars)
        return String(string)
    }

    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII ? scalar == " " || ("\t"..."\r").contains(scalar) : scalar.properties.isWhitespace
    }

    private static func isDigit(_ scalars: [Unicode.Scalar], _ index: Int) -> Bool {
        index < scalars.count && ("0"..."9").contains(scalars[index])
    }

    /// Reads `12`, `0.05`, `.5`, `5.`, `1E-3`, `1e+3` starting at `index`.
    private static func number(_ scalars: [Unicode.Scalar], _ index: inout Int) throws -> Double {
        let start = index
        var digits = 0
        while isDigit(scalars, index) { index += 1; digits += 1 }
        if index < scalars.count, scalars[index] == "." {
            index += 1
            while isDigit(scalars, index) { index += 1; digits += 1 }
        }
        guard digits > 0 else { throw FormulaError("unexpected \".\" at character \(start + 1)") }
        if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
            index += 1
            if index < scalars.count, scalars[index] == "+" || scalars[index] == "-" { index += 1 }
            guard isDigit(scalars, index) else {
                throw FormulaError("number without exponent digits at character \(start + 1)")
            }
            while isDigit(scalars, index) { index += 1 }
        }
        guard let value = Double(string(scalars[start..<index])), value.isFinite else {
            throw FormulaError("number too large at character \(start + 1)")
        }
        return value
    }

    /// Reads text between `quote`s (the one at `index`), a doubled quote standing for one.
    private static func quoted(_ scalars: [Unicode.Scalar], _ index: inout Int, what: String) throws -> String {
        let start = index
        let quote = scalars[index]
        var content = String.UnicodeScalarView()
        index += 1
        while index < scalars.count {
            if scalars[index] == quote {
                guard index + 1 < scalars.count, scalars[index + 1] == quote else {
                    index += 1
                    return String(content)
                }
                index += 1
            }
            content.append(scalars[index])
            index += 1
        }
        throw FormulaError("unterminated \(what) at character \(start + 1)")
    }

    /// A character for an error message: itself in quotes, or its code for an invisible one.
    static func shown(_ scalar: Unicode.Scalar) -> String {
        let visible = scalar.properties.generalCategory != .control && !scalar.properties.isWhitespace
            && scalar.properties.generalCategory != .format
        return visible ? "\"\(scalar)\"" : String(format: "U+%04X", scalar.value)
    }
}

// MARK: - Parsing

/// Recursive descent over the tokens, one method per rule of the grammar. The recursion goes
/// deeper only through parentheses, signs and function calls, which `nesting` counts.
private struct FormulaParser {
    /// Never empty: the last token is `.end`, and `index` never moves past it.
    let tokens: [Token]
    var index = 0
    var nesting = 0

    init(tokens: [Token]) { self.tokens = tokens }

    var current: Token { tokens[index] }

    /// The token after the current one (the current one again at the end).
    var next: Token { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    mutating func formula() throws -> Formula {
        guard current.kind != .end else { throw FormulaError("empty formula") }
        let formula = try sum()
        guard current.kind == .end else { throw unexpected() }
        return formula
    }

    mutating func sum() throws -> Formula {
        var formula = try product()
        while true {
            let op: Formula.BinaryOperator
            if current.isSymbol("+") { op = .add } else if current.isSymbol("-") { op = .subtract } else { return formula }
            advance()
            formula = .binary(op, formula, try product())
        }
    }

    mutating func product() throws -> Formula {
        var formula = try power()
        while true {
            let op: Formula.BinaryOperator
            if current.isSymbol("*") { op = .multiply } else if current.isSymbol("/") { op = .divide } else { return formula }
            advance()
            formula = .binary(op, formula, try power())
        }
    }

    mutating func power() throws -> Formula {
        var formula = try unary()
        while current.isSymbol("^") {
            advance()
            formula = .binary(.power, formula, try unary())
        }
        return formula
    }

    mutating func unary() throws -> Formula {
        let negative = current.isSymbol("-")
        guard negative || current.isSymbol("+") else { return try percent() }
        try enter()
        advance()
        let operand = try unary()
        nesting -= 1
        return negative ? .negate(operand) : operand
    }

    mutating func percent() throws -> Formula {
        var formula = try primary()
        while current.isSymbol("%") {
            advance()
            formula = .binary(.divide, formula, .number(100))
        }
        return formula
    }

    mutating func primary() throws -> Formula {
        if atSheetReference { return try rangeOrReference(from: try sheetReference()) }
        switch current.kind {
        case .number(let value):
            advance()
            return .number(value)
        case .text(let text):
            advance()
            return .text(text)
        case .symbol("("):
            try enter()
            advance()
            let inner = try sum()
            try expect(")")
            nesting -= 1
            return inner
        case .name(let name) where next.isSymbol("("):
            return try call(name)
        case .name(let name):
            switch name.uppercased() {
            case "TRUE": advance(); return .boolean(true)
            case "FALSE": advance(); return .boolean(false)
            default:
                guard let reference = FormulaParser.cellReference(name) else {
                    throw FormulaError("unknown name \(Token.quoted(name)) at character \(current.position)")
                }
                advance()
                return try rangeOrReference(from: reference)
            }
        default:
            throw unexpected()
        }
    }

    /// `NAME(arguments)`, the current token being the name.
    mutating func call(_ written: String) throws -> Formula {
        var name = written.uppercased()
        if name.hasPrefix("_XLFN.") { name.removeFirst(6) }
        guard !name.isEmpty, !name.contains("$") else {
            throw FormulaError("\(current.shown) is not a function at character \(current.position)")
        }
        try enter()
        advance()
        advance()  // the "("
        var arguments: [Formula] = []
        if current.isSymbol(")") {
            advance()
        } else {
            while true {
                arguments.append(try sum())
                if current.isSymbol(",") || current.isSymbol(";") { advance(); continue }
                try expect(")")
                break
            }
        }
        nesting -= 1
        return .call(name, arguments)
    }

    /// Whether the current token names a sheet: `'η = 1'`, or a name followed by "!".
    var atSheetReference: Bool {
        switch current.kind {
        case .quotedSheet: return true
        case .name: return next.isSymbol("!")
        default: return false
        }
    }

    /// `Sheet1!A1` or `'η = 1'!A1`, the current token being the sheet.
    mutating func sheetReference() throws -> CellReference {
        let sheet: String
        switch current.kind {
        case .quotedSheet(let name), .name(let name): sheet = name
        default: throw unexpected()
        }
        advance()
        try expect("!")
        guard case .name(let name) = current.kind, var reference = FormulaParser.cellReference(name) else {
            throw FormulaError("expected a cell after \"!\" at character \(current.position)")
        }
        advance()
        reference.sheet = sheet
        return reference
    }

    /// The reference just read, or the range it starts.
    mutating func rangeOrReference(from first: CellReference) throws -> Formula {
        guard current.isSymbol(":") else { return .reference(first) }
        advance()
        let position = current.position
        if atSheetReference {
            let last = try sheetReference()
            // `Sheet1!A1:Sheet1!B5` says no more than `Sheet1!A1:B5`; a range across sheets is not read.
            guard let firstSheet = first.sheet, let lastSheet = last.sheet,
                  firstSheet.lowercased() == lastSheet.lowercased() else {
                throw FormulaError("a range cannot span sheets at character \(position)")
            }
            return .range(first, CellReference(address: last.address, rowAbsolute: last.rowAbsolute,
                                               columnAbsolute: last.columnAbsolute))
        }
        guard case .name(let name) = current.kind, let last = FormulaParser.cellReference(name) else {
            throw FormulaError("expected a cell after \":\" at character \(position)")
        }
        advance()
        return .range(first, last)
    }

    /// `C4`, `$B$1`, `B$1`, `$B1`, `c4` (no sheet); nil for any other name or one beyond a sheet's limits.
    static func cellReference(_ name: String) -> CellReference? {
        var rest = Substring(name).unicodeScalars
        let columnAbsolute = rest.first == "$"
        if columnAbsolute { rest.removeFirst() }
        let letters = rest.prefix { ("A"..."Z").contains($0) || ("a"..."z").contains($0) }
        rest.removeFirst(letters.count)
        let rowAbsolute = rest.first == "$"
        if rowAbsolute { rest.removeFirst() }
        guard !letters.isEmpty, !rest.isEmpty, rest.allSatisfy({ ("0"..."9").contains($0) }),
              let address = CellAddress(String(letters) + String(rest)) else { return nil }
        return CellReference(address: address, rowAbsolute: rowAbsolute, columnAbsolute: columnAbsolute)
    }

    /// One more level of parentheses, sign or function call.
    mutating func enter() throws {
        nesting += 1
        guard nesting <= Formula.maximumNesting else {
            throw FormulaError("nesting deeper than \(Formula.maximumNesting) at character \(current.position)")
        }
    }

    mutating func expect(_ symbol: Unicode.Scalar) throws {
        guard current.isSymbol(symbol) else {
            throw FormulaError("expected \"\(symbol)\" but found \(current.shown) at character \(current.position)")
        }
        advance()
    }

    func unexpected() -> FormulaError {
        FormulaError("unexpected \(current.shown) at character \(current.position)")
    }
}
