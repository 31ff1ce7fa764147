import Foundation
import Formats
import Pictures

/// The sheet as files: the course's workbook with live formulas, CSV, JSON and the loss chart.
public enum SheetExport {
    /// Rows of the worksheet before the table: η, the biases, then the column headers.
    static let tableStart = 3        // 0-based row of iteration 0
    static let iterationColumn = SheetRow.columns.count   // "AF", after the course's columns

    /// One worksheet per learning rate, in the course's column layout. Every computed cell is a
    /// formula over the cells it depends on (η sits in B1, the fixed biases in B2 and D2), with its
    /// value cached; `cacheOverride` replaces the cached values (tests use it to prove a reader
    /// really recalculates).
    public static func workbook(network: SheetNetwork, runs: [(learningRate: Double, rows: [SheetRow])],
                                cacheOverride: Double? = nil) -> XLSXWorkbook {
        let sheets = runs.map { run -> XLSXWorkbook.Worksheet in
            var cells: [[XLSXWorkbook.Cell?]] = []
            cells.append([.text("η", bold: true), .number(run.learningRate), .text("learning rate")])
            cells.append([.text("b_hidden", bold: true), .number(network.biases.0),
                          .text("b_output", bold: true), .number(network.biases.1)])
            cells.append((SheetRow.columns + ["iteration"]).map { .text($0, bold: true) })
            for (k, row) in run.rows.enumerated() {
                cells.append(formulas(row: row, sheetRow: tableStart + k, iteration: k, cacheOverride: cacheOverride))
            }
            let first = tableStart + 1, last = tableStart + run.rows.count
            let eTotal = XLSXWorkbook.columnName(22), iteration = XLSXWorkbook.columnName(iterationColumn)
            // The chart sits to the right of the table, so it hides no numbers.
            let chart = XLSXWorkbook.Chart(
                title: "E_tot by iteration, η = \(number(run.learningRate))", xTitle: "iteration", yTitle: "E_tot",
                categories: "\(iteration)\(first):\(iteration)\(last)",
                series: [("E_tot", "\(eTotal)\(first):\(eTotal)\(last)")],
                from: (column: iterationColumn + 2, row: 2), to: (column: iterationColumn + 12, row: 24))
            return XLSXWorkbook.Worksheet(name: "η = \(number(run.learningRate))", cells: cells, chart: chart)
        }
        return XLSXWorkbook(sheets: sheets)
    }

    /// The cells of iteration k (at 0-based sheet row r): constants in iteration 0, formulas after.
    static func formulas(row: SheetRow, sheetRow r: Int, iteration k: Int, cacheOverride: Double?) -> [XLSXWorkbook.Cell?] {
        let n = r + 1, p = r       // this row's and the previous row's 1-based numbers
        let values = row.values
        func f(_ formula: String, _ index: Int) -> XLSXWorkbook.Cell { .formula(formula, cached: cacheOverride ?? values[index]) }
        var cells: [XLSXWorkbook.Cell?] = Array(repeating: nil, count: iterationColumn + 1)
        // t1, t2, i1, i2 and the weights: numbers in iteration 0; then carried down or updated.
        let weightColumns = [4, 5, 6, 7, 12, 13, 14, 15]          // E…H, M…P
        let gradientColumns = [23, 24, 25, 26, 27, 28, 29, 30]     // X…AE
        for column in 0..<4 {
            cells[column] = k == 0 ? .number(values[column]) : f("\(col(column))\(p)", column)
        }
        for (w, column) in weightColumns.enumerated() {
            cells[column] = k == 0 ? .number(values[column])
                : f("\(col(column))\(p)-$B$1*\(col(gradientColumns[w]))\(p)", column)
        }
        // A t1, B t2, C i1, D i2, E w1, F w2, G w3, H w4, I h1, J a_h1, K h2, L a_h2, M w5, N w6,
        // O w7, P w8, Q o1, R a_o1, S o2, T a_o2, U E1, V E2, W E_tot, X…AE the gradients.
        cells[8] = f("E\(n)*C\(n)+F\(n)*D\(n)+$B$2", 8)
        cells[9] = f("1/(1+EXP(-I\(n)))", 9)
        cells[10] = f("G\(n)*C\(n)+H\(n)*D\(n)+$B$2", 10)
        cells[11] = f("1/(1+EXP(-K\(n)))", 11)
        cells[16] = f("M\(n)*J\(n)+N\(n)*L\(n)+$D$2", 16)
        cells[17] = f("1/(1+EXP(-Q\(n)))", 17)
        cells[18] = f("O\(n)*J\(n)+P\(n)*L\(n)+$D$2", 18)
        cells[19] = f("1/(1+EXP(-S\(n)))", 19)
        cells[20] = f("0.5*(A\(n)-R\(n))^2", 20)
        cells[21] = f("0.5*(B\(n)-T\(n))^2", 21)
        cells[22] = f("U\(n)+V\(n)", 22)
        let d1 = "(R\(n)-A\(n))*R\(n)*(1-R\(n))", d2 = "(T\(n)-B\(n))*T\(n)*(1-T\(n))"
        cells[23] = f("(\(d1)*M\(n)+\(d2)*O\(n))*J\(n)*(1-J\(n))*C\(n)", 23)
        cells[24] = f("(\(d1)*M\(n)+\(d2)*O\(n))*J\(n)*(1-J\(n))*D\(n)", 24)
        cells[25] = f("(\(d1)*N\(n)+\(d2)*P\(n))*L\(n)*(1-L\(n))*C\(n)", 25)
        cells[26] = f("(\(d1)*N\(n)+\(d2)*P\(n))*L\(n)*(1-L\(n))*D\(n)", 26)
        cells[27] = f("\(d1)*J\(n)", 27)
        cells[28] = f("\(d1)*L\(n)", 28)
        cells[29] = f("\(d2)*J\(n)", 29)
        cells[30] = f("\(d2)*L\(n)", 30)
        cells[iterationColumn] = .number(Double(k))
        return cells
    }

    static func col(_ index: Int) -> String { XLSXWorkbook.columnName(index) }

    /// CSV with the course's columns plus the iteration, every number in full precision
    /// (Swift's shortest round-tripping form).
    public static func csv(rows: [SheetRow]) -> String {
        var text = (["iteration"] + SheetRow.columns).joined(separator: ",") + "\n"
        for (k, row) in rows.enumerated() {
            text += ([String(k)] + row.values.map { "\($0)" }).joined(separator: ",") + "\n"
        }
        return text
    }

    /// One JSON document: for each learning rate its "lr" and its "rows" keyed by column name.
    public static func json(runs: [(learningRate: Double, rows: [SheetRow])]) -> String {
        func quote(_ s: String) -> String { "\"" + s + "\"" }
        let items = runs.map { run -> String in
            let rows = run.rows.enumerated().map { k, row -> String in
                let fields = [quote("iteration") + ": \(k)"] + zip(SheetRow.columns, row.values).map { quote($0) + ": \($1)" }
                return "      {" + fields.joined(separator: ", ") + "}"
            }
            return "    {\"lr\": \(run.learningRate), \"rows\": [\n" + rows.joined(separator: ",\n") + "\n    ]}"
        }
        return "{\"runs\": [\n" + items.joined(separator: ",\n") + "\n]}\n"
    }

    /// E_tot against iteration for every learning rate, on a logarithmic axis so that the fast
    /// and the slow rates both show.
    public static func lossFigure(runs: [(learningRate: Double, rows: [SheetRow])]) -> Figure {
        let series = runs.map { run in
            LineChart.Series(name: "η = \(number(run.learningRate))",
                             points: run.rows.enumerated().map { LineChart.Point(Double($0.offset), $0.element.eTotal) })
        }
        return Figure([LineChart(title: "Total error E_tot during gradient descent", xLabel: "iteration",
                                 yLabel: "E_tot (log scale)", series: series, logarithmicY: true, integerX: true)],
                      panelWidth: 720, height: 440)
    }
}
