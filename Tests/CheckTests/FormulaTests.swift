import Foundation
import Check
import Formats
import Testing

/// Parsing, printing and evaluating formulas; the helpers build workbooks in memory.
@Suite struct FormulaTests {
    // MARK: - Building workbooks

    typealias Cell = SpreadsheetFile.Cell

    /// A formula cell, with the value the writing program cached if any.
    static func formula(_ text: String, cached: SpreadsheetFile.Value? = nil) -> Cell { Cell(value: cached, formula: text) }

    static func constant(_ value: SpreadsheetFile.Value) -> Cell { Cell(value: value) }

    static func sheet(_ name: String, _ cells: [String: Cell]) -> SpreadsheetFile.Sheet {
        SpreadsheetFile.Sheet(name: name, cells: Dictionary(uniqueKeysWithValues: cells.map { (CellAddress($0.key)!, $0.value) }))
    }

    static func evaluator(_ sheets: SpreadsheetFile.Sheet...) -> WorkbookEvaluator {
        WorkbookEvaluator(SpreadsheetFile(format: .xlsx, sheets: sheets))
    }

    static func value(_ evaluator: WorkbookEvaluator, _ cell: String, sheet: Int = 0) -> EvaluatedValue {
        evaluator.value(sheet: sheet, CellAddress(cell)!)
    }

    /// The value of a formula alone on a sheet with the given cells.
    static func evaluate(_ text: String, with cells: [String: Cell] = [:]) -> EvaluatedValue {
        var cells = cells
        cells["ZZ1"] = formula(text)
        return value(evaluator(sheet("Sheet1", cells)), "ZZ1")
    }

    static func isClose(_ value: EvaluatedValue, _ expected: Double) -> Bool {
        guard case .number(let x) = value else { return false }
        return abs(x - expected) <= 1e-12 * max(1, abs(expected))
    }

    /// The message a formula is refused with, or nil if it parses.
    static func parseError(_ text: String) -> String? {
        do {
            _ = try Formula(parsing: text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func reference(_ text: String, sheet: String? = nil, row: Bool = false, column: Bool = false) -> Formula {
        .reference(CellReference(sheet: sheet, address: CellAddress(text)!, rowAbsolute: row, columnAbsolute: column))
    }
}

// MARK: - Parsing

extension FormulaTests {
    @Suite("Formula parsing and printing")
    struct Parsing {
        @Test func precedenceFollowsExcel() throws {
            #expect(try Formula(parsing: "-2^2") == .binary(.power, .negate(.number(2)), .number(2)))
            #expect(try Formula(parsing: "2^3^2") == .binary(.power, .binary(.power, .number(2), .number(3)), .number(2)))
            #expect(evaluate("-2^2") == .number(4))
            #expect(evaluate("2^3^2") == .number(64))
            #expect(evaluate("1/1+EXP(0)") == .number(2))
            #expect(evaluate("2+3*4") == .number(14))
            #expect(evaluate("10-4-3") == .number(3))
            #expect(evaluate("12/3/2") == .number(2))
            #expect(evaluate("2^-1") == .number(0.5))
            #expect(evaluate("-(2^2)") == .number(-4))
            #expect(evaluate("--3") == .number(3))
            #expect(evaluate("+3") == .number(3))
            #expect(evaluate("50%") == .number(0.5))
            #expect(evaluate("4^50%") == .number(2))
        }

        @Test func theSheetsOwnFormulas() throws {
            #expect(try Formula(parsing: "1/(1+EXP(-I4))") ==
                .binary(.divide, .number(1), .binary(.add, .number(1), .call("EXP", [.negate(reference("I4"))]))))
            #expect(try Formula(parsing: "E4-$B$1*X4") ==
                .binary(.subtract, reference("E4"), .binary(.multiply, reference("B1", row: true, column: true), reference("X4"))))
            let cells: [String: Cell] = [
                "I4": constant(.number(0.4)), "R4": constant(.number(0.6)), "A4": constant(.number(0.01)),
                "M4": constant(.number(0.5)), "E4": constant(.number(0.15)), "B1": constant(.number(0.5)),
                "X4": constant(.number(0.02)),
            ]
            #expect(isClose(evaluate("1/(1+EXP(-I4))", with: cells), 1 / (1 + exp(-0.4))))
            #expect(isClose(evaluate("(R4-A4)*R4*(1-R4)*M4", with: cells), (0.6 - 0.01) * 0.6 * (1 - 0.6) * 0.5))
            #expect(isClose(evaluate("E4-$B$1*X4", with: cells), 0.15 - 0.5 * 0.02))
        }

        @Test func literals() throws {
            #expect(try Formula(parsing: "0.05") == .number(0.05))
            #expect(try Formula(parsing: ".5") == .number(0.5))
            #expect(try Formula(parsing: "1E-3") == .number(0.001))
            #expect(try Formula(parsing: "1e+3") == .number(1000))
            #expect(try Formula(parsing: "\"say \"\"hi\"\"\"") == .text("say \"hi\""))
            #expect(try Formula(parsing: "TRUE") == .boolean(true))
            #expect(try Formula(parsing: "false") == .boolean(false))
        }

        @Test func references() throws {
            #expect(try Formula(parsing: "c4") == reference("C4"))
            #expect(try Formula(parsing: "$B$1") == reference("B1", row: true, column: true))
            #expect(try Formula(parsing: "B$1") == reference("B1", row: true))
            #expect(try Formula(parsing: "$B1") == reference("B1", column: true))
            #expect(try Formula(parsing: "Sheet1!A1") == reference("A1", sheet: "Sheet1"))
            #expect(try Formula(parsing: "'η = 1'!B1") == reference("B1", sheet: "η = 1"))
            #expect(try Formula(parsing: "'Bob''s'!B1") == reference("B1", sheet: "Bob's"))
            let a1 = CellReference(address: CellAddress(row: 0, column: 0))
            let b5 = CellReference(address: CellAddress(row: 4, column: 1))
            var sheetA1 = a1
            sheetA1.sheet = "Data"
            #expect(try Formula(parsing: "SUM(A1:B5)") == .call("SUM", [.range(a1, b5)]))
            #expect(try Formula(parsing: "SUM(Data!A1:B5)") == .call("SUM", [.range(sheetA1, b5)]))
            #expect(try Formula(parsing: "SUM(Data!A1:data!B5)") == .call("SUM", [.range(sheetA1, b5)]))
            #expect(parseError("SUM(Data!A1:Other!B5)") == "a range cannot span sheets at character 13")
            #expect(try Formula(parsing: "A1+$B$2*Data!C3+SUM(D4:E5)").references.map(\.description) ==
                ["A1", "$B$2", "Data!C3", "D4", "E5"])
        }

        @Test func functionNamesAndArguments() throws {
            #expect(try Formula(parsing: "_xlfn.Power(2;3)") == .call("POWER", [.number(2), .number(3)]))
            #expect(try Formula(parsing: "log10(1000)") == .call("LOG10", [.number(1000)]))
            #expect(try Formula(parsing: "PI()") == .call("PI", []))
            #expect(try Formula(parsing: "ROUND( A1 , 2 )") == .call("ROUND", [reference("A1"), .number(2)]))
        }

        @Test func whitespaceAndTheLeadingEqualsSign() throws {
            let expected = try Formula(parsing: "1/(1+EXP(-I4))")
            #expect(try Formula(parsing: "=1/(1+EXP(-I4))") == expected)
            #expect(try Formula(parsing: "= 1/(1+EXP(-I4))") == expected)  // as Google Sheets writes it
            #expect(try Formula(parsing: "  =\t1 / ( 1 + exp ( - i4 ) )\n") == expected)
            #expect(parseError("1 = 1") == "unexpected \"=\" at character 3")
        }

        @Test func printsCanonicalTextThatParsesBackEqual() throws {
            let canonical: [(String, String)] = [
                ("= 1 / ( 1 + exp( -i4 ) )", "1/(1+EXP(-I4))"),
                ("((R4-A4)*R4)*(1-R4)*M4", "(R4-A4)*R4*(1-R4)*M4"),
                ("E4-($B$1*X4)", "E4-$B$1*X4"),
                ("(-2)^2", "-2^2"),
                ("-(2^2)", "-(2^2)"),
                ("2^(3^2)", "2^(3^2)"),
                ("(2^3)^2", "2^3^2"),
                ("1-(2-3)", "1-(2-3)"),
                ("(1-2)-3", "1-2-3"),
                ("1/(2*3)", "1/(2*3)"),
                ("2^(-1)", "2^-1"),
                ("0.05*1e-5+1E20+3.0", "0.05*1e-05+1e+20+3"),
                ("\"a\"\"b\"", "\"a\"\"b\""),
                ("true", "TRUE"),
                ("_xlfn.SUM(a1:b2;'Sheet 2'!$c$3:d4)", "SUM(A1:B2,'Sheet 2'!$C$3:D4)"),
                ("'Données'!A1+'2024'!B2+'Bob''s'!C3", "Données!A1+'2024'!B2+'Bob''s'!C3"),
                ("50%", "50/100"),
            ]
            for (written, printed) in canonical {
                let parsed = try Formula(parsing: written)
                #expect(parsed.description == printed)
                #expect(try Formula(parsing: parsed.description) == parsed, "\(written)")
            }
        }

        @Test func cellReferencesQuoteSheetNamesOnlyWhenNeeded() {
            let c4 = CellAddress(row: 3, column: 2)
            #expect(CellReference(address: c4).description == "C4")
            #expect(CellReference(address: CellAddress(row: 0, column: 1), rowAbsolute: true, columnAbsolute: true).description == "$B$1")
            #expect(CellReference(address: c4, rowAbsolute: true).description == "C$4")
            #expect(CellReference(sheet: "Sheet_1", address: c4).description == "Sheet_1!C4")
            #expect(CellReference(sheet: "η = 1", address: c4).description == "'η = 1'!C4")
            #expect(CellReference(sheet: "it's", address: c4).description == "'it''s'!C4")
            #expect(CellReference(sheet: "1st", address: c4).description == "'1st'!C4")
            #expect(CellReference(address: CellAddress(row: 1_048_575, column: 16_383)).description == "XFD1048576")
        }

        @Test func errorsAreOneLineWithThePlace() {
            let refused: [(String, String)] = [
                ("SUM(1,)", "unexpected \")\" at character 7"),
                ("1+", "unexpected end of formula at character 3"),
                ("", "empty formula"),
                ("=", "empty formula"),
                ("(1+2", "expected \")\" but found end of formula at character 5"),
                ("1 2", "unexpected number at character 3"),
                ("A1 B1", "unexpected name \"B1\" at character 4"),
                ("eta*2", "unknown name \"eta\" at character 1"),
                ("A0", "unknown name \"A0\" at character 1"),
                ("XFE1", "unknown name \"XFE1\" at character 1"),
                ("A1048577", "unknown name \"A1048577\" at character 1"),
                ("1E", "number without exponent digits at character 1"),
                ("1e999", "number too large at character 1"),
                ("\"open", "unterminated text at character 1"),
                ("'open!A1", "unterminated sheet name at character 1"),
                ("''!A1", "empty sheet name at character 1"),
                ("Sheet1!", "expected a cell after \"!\" at character 8"),
                ("A1:", "expected a cell after \":\" at character 4"),
                ("1+#", "unexpected \"#\" at character 3"),
                ("1+\u{7}", "unexpected U+0007 at character 3"),
                ("$A(1)", "name \"$A\" is not a function at character 1"),
                ("1 > 2", "unexpected \">\" at character 3"),
            ]
            for (text, message) in refused {
                #expect(parseError(text) == message, "\(text)")
            }
            for text in ["\"a\nb", "'a\nb'!A1+", "1+\n", "'x\ny'!A1:'z'!B2", "SUM(1,\n2,\n"] {
                let message = parseError(text)
                #expect(message != nil && !message!.contains("\n"), "\(text)")
            }
        }

        @Test func refusesFormulasLongerThanExcelReads() throws {
            let long = String(repeating: "1+", count: 50_000)
            #expect(parseError(long) == "formula of 100,000 characters; at most 8,192 are read")
            // At the limit, a long chain of operators is read (iteratively), printed and evaluated.
            let longest = String(repeating: "1+", count: 4_095) + "1"
            #expect(longest.count <= Formula.maximumCharacters)
            let parsed = try Formula(parsing: longest)
            #expect(parsed.description == longest)
            #expect(evaluate(longest) == .number(4_096))
        }

        @Test func refusesNestingDeeperThan64() throws {
            func nested(_ open: String, _ depth: Int, _ close: String) -> String {
                String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
            }
            #expect(parseError(nested("(", 10_000, ")")) == "formula of 20,001 characters; at most 8,192 are read")
            #expect(parseError(nested("(", 4_000, ")")) == "nesting deeper than 64 at character 65")
            #expect(parseError(nested("-", 8_000, "")) == "nesting deeper than 64 at character 65")
            #expect(parseError(nested("ABS(", 1_500, ")")) == "nesting deeper than 64 at character 257")
            #expect(try Formula(parsing: nested("(", 64, ")")) == .number(1))
            #expect(evaluate(nested("-", 64, "")) == .number(1))  // an even number of minus signs
        }
    }
}

// MARK: - Evaluating

extension FormulaTests {
    @Suite("Workbook evaluation")
    struct Evaluation {
        @Test func aChainOf200000CellsNeedsNoDeepStack() {
            var cells: [CellAddress: Cell] = [CellAddress(row: 0, column: 0): constant(.number(1))]
            for row in 1..<200_000 {
                cells[CellAddress(row: row, column: 0)] = formula("A\(row)+1")
            }
            let workbook = WorkbookEvaluator(SpreadsheetFile(format: .csv, sheets: [.init(name: "Sheet1", cells: cells)]))
            #expect(workbook.value(sheet: 0, CellAddress(row: 199_999, column: 0)) == .number(200_000))
            #expect(workbook.value(sheet: 0, CellAddress(row: 99_999, column: 0)) == .number(100_000))
            #expect(workbook.problems.isEmpty)
        }

        @Test func cyclesFallBackToTheCachedValueAndAreReportedOnce() {
            let workbook = evaluator(sheet("Sheet1", [
                "A1": formula("B1", cached: .number(3)),
                "B1": formula("A1*2", cached: .number(6)),
                "C1": formula("A1+1"),
                "D1": formula("D1+1"),
            ]))
            #expect(value(workbook, "C1") == .number(4))
            #expect(value(workbook, "A1") == .number(3))
            #expect(value(workbook, "B1") == .number(6))
            #expect(value(workbook, "D1") == .error("#CIRCULAR!"))
            #expect(value(workbook, "D1") == .error("#CIRCULAR!"))
            #expect(workbook.problems.map(\.message) == [
                "A1: circular reference (A1 → B1 → A1); not evaluated, its cached value is used",
                "B1: circular reference (B1 → A1 → B1); not evaluated, its cached value is used",
                "D1: circular reference (D1 → D1); not evaluated, it has no cached value, so it is #CIRCULAR!",
            ])
            #expect(workbook.problems.map(\.kind) == Array(repeating: .circularReference, count: 3))
            #expect(workbook.problems.map(\.cell) == ["A1", "B1", "D1"].map { CellAddress($0)! })
        }

        @Test func aLongCycleIsNamedShortly() {
            var cells: [CellAddress: Cell] = [CellAddress(row: 0, column: 0): formula("A100000")]
            for row in 1..<100_000 {
                cells[CellAddress(row: row, column: 0)] = formula("A\(row)")
            }
            let workbook = WorkbookEvaluator(SpreadsheetFile(format: .csv, sheets: [.init(name: "Sheet1", cells: cells)]))
            #expect(workbook.value(sheet: 0, CellAddress(row: 0, column: 0)) == .error("#CIRCULAR!"))
            #expect(workbook.problems.count == 100_000)
            #expect(workbook.problems.first?.message ==
                "A1: circular reference (A1 → A100000 → A99999 → A99998 → … → A1 of 100,000 cells); not evaluated, it has no cached value, so it is #CIRCULAR!")
        }

        @Test func unknownFunctionsAndUnreadableFormulasUseTheCachedValue() {
            let workbook = evaluator(sheet("Sheet1", [
                "Z33": formula("FOO(1)+1", cached: .number(7)),
                "Z34": formula("_xlfn.STDEV.S(A1:A3)"),
                "Z35": formula("1+)", cached: .number(2)),
                "Z36": formula("ROUND(1)", cached: .number(1)),
                "Z37": formula("Z33*2"),
            ]))
            #expect(value(workbook, "Z37") == .number(14))
            #expect(value(workbook, "Z34") == .error("#NAME?"))
            #expect(value(workbook, "Z35") == .number(2))
            #expect(value(workbook, "Z36") == .number(1))
            #expect(workbook.problems.map(\.message) == [
                "Z33: unknown function FOO; its cached value is used",
                "Z34: unknown function STDEV.S; it has no cached value, so it is #NAME?",
                "Z35: formula not read: unexpected \")\" at character 3; its cached value is used",
                "Z36: ROUND takes 2 arguments, not 1; its cached value is used",
            ])
            #expect(workbook.problems.map(\.kind) == [
                .unknownFunction("FOO"), .unknownFunction("STDEV.S"),
                .unparsable("unexpected \")\" at character 3"), .unparsable("ROUND takes 2 arguments, not 1"),
            ])
            #expect(workbook.formula(sheet: 0, CellAddress("Z33")!) != nil)
            #expect(workbook.formula(sheet: 0, CellAddress("Z35")!) == nil)
        }

        @Test func aFormulaCellIgnoresItsCacheAndAConstantIsItsValue() {
            let workbook = evaluator(sheet("Sheet1", [
                "A1": formula("1+1", cached: .number(5)),
                "A2": constant(.number(3)),
                "A3": formula("A9"),
            ]))
            #expect(value(workbook, "A1") == .number(2))
            #expect(value(workbook, "A2") == .number(3))
            #expect(value(workbook, "A3") == .number(0))
            #expect(value(workbook, "A9") == .empty)
            #expect(workbook.formula(sheet: 0, CellAddress("A2")!) == nil)
            #expect(workbook.formula(sheet: 0, CellAddress("A9")!) == nil)
            #expect(workbook.formula(sheet: 0, CellAddress("A1")!) == .binary(.add, .number(1), .number(1)))
        }

        @Test func arithmeticErrorsAsExcel() {
            let cells: [String: Cell] = [
                "A1": formula("1/0"), "A2": constant(.text("n/a")), "A3": constant(.boolean(true)),
                "A4": constant(.error("#N/A")),
            ]
            #expect(evaluate("1/0") == .error("#DIV/0!"))
            #expect(evaluate("A1+1", with: cells) == .error("#DIV/0!"))
            #expect(evaluate("A2*2", with: cells) == .error("#VALUE!"))
            #expect(evaluate("\"3\"+1") == .error("#VALUE!"))
            #expect(evaluate("A3+A3", with: cells) == .number(2))
            #expect(evaluate("A4+A1", with: cells) == .error("#N/A"))
            #expect(evaluate("A1+A4", with: cells) == .error("#DIV/0!"))
            #expect(evaluate("A8+1") == .number(1))
            #expect(evaluate("0^-1") == .error("#DIV/0!"))
            #expect(evaluate("0^0") == .error("#NUM!"))
            #expect(evaluate("(-8)^(1/3)") == .error("#NUM!"))
            #expect(evaluate("EXP(1000)") == .error("#NUM!"))
            #expect(evaluate("1E300*1E300") == .error("#NUM!"))
            #expect(evaluate("SQRT(-1)") == .error("#NUM!"))
            #expect(evaluate("LN(0)") == .error("#NUM!"))
            #expect(evaluate("LOG(8,1)") == .error("#DIV/0!"))
            #expect(evaluate("A2", with: cells) == .text("n/a"))
            #expect(evaluate("\"x\"") == .text("x"))
            #expect(evaluate("A1:A2", with: cells) == .error("#VALUE!"))
        }

        @Test func functions() {
            #expect(isClose(evaluate("EXP(1)"), M_E))
            #expect(isClose(evaluate("LN(EXP(2))"), 2))
            #expect(evaluate("LOG10(1000)") == .number(3))
            #expect(evaluate("LOG(100)") == .number(2))
            #expect(isClose(evaluate("LOG(8,2)"), 3))
            #expect(evaluate("SQRT(16)") == .number(4))
            #expect(evaluate("ABS(-2.5)") == .number(2.5))
            #expect(evaluate("POWER(2,10)") == .number(1024))
            #expect(evaluate("PI()") == .number(Double.pi))
            #expect(evaluate("ROUND(2.675,2)") == .number(2.68))
            #expect(evaluate("ROUND(-2.5,0)") == .number(-3))
            #expect(evaluate("ROUND(1234.5,-2)") == .number(1200))
            #expect(evaluate("ROUND(0.123456,4.9)") == .number(0.1235))
            #expect(evaluate("IF(TRUE,1,2)") == .number(1))
            #expect(evaluate("IF(0,1,2)") == .number(2))
            #expect(evaluate("IF(0,1)") == .boolean(false))
            #expect(evaluate("IF(\"yes\",1,2)") == .error("#VALUE!"))
            #expect(evaluate("IF(1,1/0,2)") == .error("#DIV/0!"))
            #expect(evaluate("IF(0,1/0,2)") == .number(2))
        }

        @Test func sumAndItsKinSkipEmptyAndTextCellsInRanges() {
            let cells: [String: Cell] = [
                "A1": constant(.number(1)), "A3": constant(.text("label")), "A4": constant(.boolean(true)),
                "A5": formula("A1*4"), "B2": constant(.number(10)), "C1": constant(.error("#N/A")),
            ]
            #expect(evaluate("SUM(A1:A5)", with: cells) == .number(5))
            #expect(evaluate("SUM(A5:A1)", with: cells) == .number(5))
            #expect(evaluate("SUM(A1:B5)", with: cells) == .number(15))
            #expect(evaluate("SUM(A1:Z1000)", with: cells.filter { $0.key != "C1" }) == .number(15))  // the sheet's cells scanned
            #expect(evaluate("SUM(A1:A5,2,TRUE,A3,A2)", with: cells) == .number(8))
            #expect(evaluate("SUM(A1,\"x\")", with: cells) == .error("#VALUE!"))
            #expect(evaluate("AVERAGE(A1:A5)", with: cells) == .number(2.5))
            #expect(evaluate("AVERAGE(A2:A3)", with: cells) == .error("#DIV/0!"))
            #expect(evaluate("MIN(A1:B5)", with: cells) == .number(1))
            #expect(evaluate("MAX(A1:B5)", with: cells) == .number(10))
            #expect(evaluate("MAX(A2:A3)", with: cells) == .number(0))
            #expect(evaluate("PRODUCT(A1:B5)", with: cells) == .number(40))
            #expect(evaluate("PRODUCT(A2:A3)", with: cells) == .number(0))
            #expect(evaluate("SUM(A1:C1)", with: cells) == .error("#N/A"))
        }

        @Test func aRangeOfMoreThanAMillionCellsIsRefused() {
            let workbook = evaluator(sheet("Sheet1", ["B1": formula("SUM(A1:XFD1048576)"), "B2": formula("SUM(A1:A1000000)")]))
            #expect(value(workbook, "B1") == .error("#REF!"))
            #expect(value(workbook, "B2") == .number(0))
            #expect(workbook.problems.map(\.kind) == [.unparsable("range A1:XFD1048576 has more than 1,000,000 cells")])
            #expect(workbook.problems.map(\.message) == ["B1: range A1:XFD1048576 has more than 1,000,000 cells; it is #REF!"])
            #expect(workbook.problems.map(\.cell) == [CellAddress("B1")!])
        }

        @Test func crossSheetReferences() {
            let workbook = evaluator(
                sheet("Sheet1", ["A1": formula("'η = 1'!B1*2+data!A1"), "A2": formula("Missing!A1+1"),
                                 "A3": formula("SUM(Data!A1:A3)")]),
                sheet("η = 1", ["B1": formula("0.5*2")]),
                sheet("Data", ["A1": constant(.number(3)), "A2": formula("Sheet1!A1")]))
            #expect(workbook.sheetIndex(named: "DATA") == 2)
            #expect(workbook.sheetIndex(named: "Η = 1") == 1)
            #expect(workbook.sheetIndex(named: "Nope") == nil)
            #expect(value(workbook, "A1") == .number(5))
            #expect(value(workbook, "A2", sheet: 2) == .number(5))
            #expect(value(workbook, "A3") == .number(8))
            #expect(value(workbook, "A2") == .error("#REF!"))
            #expect(workbook.value(sheet: 7, CellAddress(row: 0, column: 0)) == .error("#REF!"))
            #expect(workbook.problems.map(\.kind) == [.unknownSheet("Missing")])
            #expect(workbook.problems.map(\.message) == ["Sheet1!A2: no sheet named Missing; the reference is #REF!"])
            #expect(workbook.problems.map(\.sheet) == [0])
        }

        @Test func messagesAreOneLineWhateverTheSheetNames() {
            let workbook = evaluator(sheet("Line\nbreak", ["A1": formula("FOO()"), "A2": formula("'x\ny'!A1")]), sheet("Other", [:]))
            #expect(value(workbook, "A1") == .error("#NAME?"))
            #expect(value(workbook, "A2") == .error("#REF!"))
            #expect(workbook.problems.map(\.message) == [
                "'Line break'!A1: unknown function FOO; it has no cached value, so it is #NAME?",
                "'Line break'!A2: no sheet named 'x y'; the reference is #REF!",
            ])
        }

        @Test func aCycleAcrossSheetsNamesTheSheets() {
            let workbook = evaluator(sheet("One", ["A1": formula("Two!A1")]), sheet("Two", ["A1": formula("One!A1")]))
            #expect(value(workbook, "A1") == .error("#CIRCULAR!"))
            #expect(workbook.problems.map(\.message) == [
                "One!A1: circular reference (A1 → Two!A1 → A1); not evaluated, it has no cached value, so it is #CIRCULAR!",
                "Two!A1: circular reference (A1 → One!A1 → A1); not evaluated, it has no cached value, so it is #CIRCULAR!",
            ])
        }
    }
}
