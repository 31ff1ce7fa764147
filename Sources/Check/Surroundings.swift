import Foundation
import Formats

/// What sits around a course table: the learning rate η and the fixed biases, read the way a
/// person would find them.
///
/// η, in order of trust:
/// 1. the cell the first row of weight updates multiplies the gradients by (`E33-$G$31*X32`: the
///    reference that is not a cell of the table) — it names the cell even when no label does;
/// 2. a cell labelled `η`, `η =`, `eta`, `n=`, `lr`, `LR (η) =`, `learning rate`, `learningRate=`,
///    `ͷ` (the look-alike U+0377), with the number to its right (up to three columns) or below;
///    or a label holding its number (`η = 0.5`);
/// 3. inferred from the first update: (w1 before − w1 after) / ∂E/∂w1, the median over the weights.
///
/// Biases: cells labelled `b1`/`b_h`/`b_hidden`/`bias1`… and `b2`/`b_o`/`b_output`/`bias2`…
/// (number to the right or below); without labels, an offset that h1 and h2 (o1 and o2) both add
/// to their weighted sums in the first row is taken as the bias; else none.
enum Surroundings {
    static func read(into table: inout CourseTable, file: SpreadsheetFile, values: WorkbookEvaluator) {
        let sheet = file.sheets[table.sheet]
        let labels = labelCells(sheet)
        table.learningRate = learningRate(table, labels: labels, values: values)
        let hidden = labelled(["b1", "bh", "bhidden", "bias1", "biash", "biashidden", "hiddenbias"], labels, table, values)
        let output = labelled(["b2", "bo", "boutput", "bias2", "biaso", "biasoutput", "outputbias"], labels, table, values)
        table.hiddenBias = hidden ?? inferredBias(table, values: values, sums: (.h1, .h2), inputs: (.i1, .i2), weights: [.w1, .w2, .w3, .w4])
        table.outputBias = output ?? inferredBias(table, values: values, sums: (.o1, .o2), inputs: (.ah1, .ah2), weights: [.w5, .w6, .w7, .w8])
    }

    /// Text cells with their text reduced to a key: lower case, no spaces, "=", ":" or brackets.
    static func labelCells(_ sheet: SpreadsheetFile.Sheet) -> [(address: CellAddress, key: String, text: String)] {
        sheet.cells.compactMap { address, cell in
            guard case .text(let text)? = cell.value, text.count <= 60 else { return nil }
            let key = String(text.lowercased().unicodeScalars.filter { !" =:()_\t\u{A0}".unicodeScalars.contains($0) }.map(Character.init))
            return (address, key, text)
        }.sorted { $0.address < $1.address }
    }

    static func number(_ values: WorkbookEvaluator, _ sheet: Int, _ address: CellAddress) -> Double? {
        if case .number(let value) = values.value(sheet: sheet, address) { return value }
        return nil
    }

    /// The number belonging to a label cell: to its right (up to three columns) or just below.
    static func valueBeside(_ label: CellAddress, table: CourseTable, values: WorkbookEvaluator) -> CellAddress? {
        let candidates = (1...3).map { CellAddress(row: label.row, column: label.column + $0) }
            + (1...2).map { CellAddress(row: label.row + $0, column: label.column) }
        return candidates.first { number(values, table.sheet, $0) != nil }
    }

    static func learningRate(_ table: CourseTable, labels: [(address: CellAddress, key: String, text: String)],
                             values: WorkbookEvaluator) -> CourseTable.LearningRate {
        // 1. The cell the updates use.
        if table.rows.count >= 2 {
            var counts: [CellAddress: Int] = [:]
            for weight in Quantity.weights {
                guard let formula = values.formula(sheet: table.sheet, table.cell(weight, iteration: 1)) else { continue }
                for reference in formula.references where reference.sheet == nil && !table.contains(reference.address) {
                    counts[reference.address, default: 0] += 1
                }
            }
            if let (cell, _) = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }),
               let value = number(values, table.sheet, cell) {
                return .init(value: value, cell: cell, source: "the cell the weight updates use")
            }
        }
        // 2. A label, nearest above the table first.
        let names: Set<String> = ["η", "eta", "n", "h", "lr", "lrη", "learningrate", "learningrateη", "learningrate:η", "ͷ", "alpha", "α", "rate"]
        let labelled = labels.filter { label in
            names.contains(label.key) || label.key.hasPrefix("η") || label.key.hasPrefix("learningrate") || label.key.hasPrefix("lr")
                || label.key.hasPrefix("eta")
        }.sorted { abs($0.address.row - table.headerRow) < abs($1.address.row - table.headerRow) }
        for label in labelled {
            if let cell = valueBeside(label.address, table: table, values: values), !table.contains(cell),
               let value = number(values, table.sheet, cell) {
                return .init(value: value, cell: cell, source: "labelled \"\(label.text)\"")
            }
            // "η = 0.5" in one cell.
            if let equals = label.text.lastIndex(where: { $0 == "=" || $0 == ":" }),
               let value = Double(label.text[label.text.index(after: equals)...].trimmingCharacters(in: .whitespaces)) {
                return .init(value: value, cell: label.address, source: "written in \"\(label.text)\"")
            }
        }
        // 3. Inferred from the first update.
        if table.rows.count >= 2 {
            var rates: [Double] = []
            for weight in Quantity.weights {
                guard let before = number(values, table.sheet, table.cell(weight, iteration: 0)),
                      let after = number(values, table.sheet, table.cell(weight, iteration: 1)),
                      let gradient = number(values, table.sheet, table.cell(weight.gradient!, iteration: 0)),
                      gradient != 0 else { continue }
                rates.append((before - after) / gradient)
            }
            if !rates.isEmpty {
                // Rounded to 12 significant digits: a learner's η is a short number, the ratio is not quite.
                let median = rates.sorted()[rates.count / 2]
                let value = Double(String(format: "%.12g", median)) ?? median
                return .init(value: value, cell: nil, source: "inferred from the first update: no η cell found")
            }
        }
        return .init(value: 0, cell: nil, source: "not found: the table has one row, so no update to check")
    }

    static func labelled(_ names: Set<String>, _ labels: [(address: CellAddress, key: String, text: String)],
                         _ table: CourseTable, _ values: WorkbookEvaluator) -> CourseTable.Bias? {
        for label in labels where names.contains(label.key) {
            if let cell = valueBeside(label.address, table: table, values: values), let value = number(values, table.sheet, cell) {
                return .init(value: value, cell: cell)
            }
        }
        return nil
    }

    /// The offset both units of a layer add to their weighted sums in the first row, if they agree.
    static func inferredBias(_ table: CourseTable, values: WorkbookEvaluator, sums: (Quantity, Quantity),
                             inputs: (Quantity, Quantity), weights: [Quantity]) -> CourseTable.Bias {
        func value(_ q: Quantity) -> Double? { number(values, table.sheet, table.cell(q, iteration: 0)) }
        guard let s1 = value(sums.0), let s2 = value(sums.1), let x1 = value(inputs.0), let x2 = value(inputs.1) else {
            return .init(value: 0, cell: nil)
        }
        let w = weights.map { value($0) ?? 0 }
        let offset1 = s1 - (w[0] * x1 + w[1] * x2), offset2 = s2 - (w[2] * x1 + w[3] * x2)
        let scale = max(abs(s1), abs(s2), 1e-300)
        guard abs(offset1) > 1e-9 * scale, abs(offset1 - offset2) <= 1e-9 * scale else { return .init(value: 0, cell: nil) }
        return .init(value: offset1, cell: nil)
    }
}

extension CourseTable {
    /// Whether a cell lies in one of the table's columns, in its header or data rows.
    func contains(_ address: CellAddress) -> Bool {
        address.row >= headerRow && address.row <= (rows.last ?? headerRow) && columns.values.contains(address.column)
    }
}
