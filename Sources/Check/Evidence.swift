import Foundation
import Formats

/// The second kind of evidence for a slip: what a wrong cell's formula reads. Used when no slip
/// re-computed from the learner's numbers reproduces the cell.
struct FormulaEvidence {
    let check: TableCheck
    var table: CourseTable { check.table }

    /// Which table column and iteration a cell of the sheet is, if it is one.
    func tableCell(_ address: CellAddress) -> (quantity: Quantity, iteration: Int)? {
        guard let quantity = table.columns.first(where: { $0.value == address.column })?.key,
              let iteration = table.rows.firstIndex(of: address.row) else { return nil }
        return (quantity, iteration)
    }

    /// The cells of its own row that the formula of quantity q in iteration k reads, by quantity;
    /// nil when the cell holds no formula (a sheet saved as values).
    func rowCellsRead(_ q: Quantity, _ k: Int) -> Set<Quantity>? {
        guard let formula = check.values.formula(sheet: table.sheet, table.cell(q, iteration: k)) else { return nil }
        return Set(formula.references.filter { $0.sheet == nil }.compactMap { reference in
            tableCell(reference.address).flatMap { $0.iteration == k ? $0.quantity : nil }
        })
    }

    func explain(_ q: Quantity, _ k: Int, found: Double, learner: [RowValues], scale: Double) -> (slip: Slip, key: String, text: String)? {
        let address = table.cell(q, iteration: k)
        guard let formula = check.values.formula(sheet: table.sheet, address) else { return nil }
        let references = formula.references.filter { $0.sheet == nil }
        let cells = check.file.sheets[table.sheet].cells

        for reference in references {
            let target = reference.address
            // A cell the formula reads is another iteration's.
            if let (other, iteration) = tableCell(target), iteration != k {
                if q.isWeight, iteration == k - 1 { continue }             // an update reads the row above
                if q.isWeight {
                    return (.wrongRow, "wrong-row", "reads \(target) (\(other.name) of the row \(iteration < k ? "\(k - iteration) rows up" : "below")) where the row above (\(table.cell(other, iteration: k - 1))) belongs")
                }
                if [.g1, .g2, .g3, .g4].contains(q), [.w5, .w6, .w7, .w8].contains(other), iteration == k + 1 {
                    return (.staleWeights, "stale-weights", "reads \(target), \(other.name) already updated (the next row's), where this row's \(table.cell(other, iteration: k)) belongs")
                }
                return (.wrongRow, "wrong-row", "reads \(target) (\(other.name) of another iteration) where this row's \(table.cell(other, iteration: k)) belongs")
            }
            // An empty cell, read as 0.
            if cells[target] == nil, !table.contains(target) {
                return (.blankInput, "blank-reference", "reads \(target), which is empty, so the sheet reads 0 there")
            }
        }
        let eta = table.learningRate.cell
        if q.isWeight, k > 0 {
            // η read from a cell that moved when the formula was filled down.
            for reference in references where !table.contains(reference.address) && reference.address != eta
                && !(reference.rowAbsolute && reference.columnAbsolute) {
                guard case .number(let value) = check.values.value(sheet: table.sheet, reference.address) else { continue }
                let P = learner[k - 1]
                if agrees(found, P[q] - value * P[q.gradient!], scale: scale) {
                    return (.relativeEta, "relative-eta", "multiplies the gradient by \(reference) (\(value)) where η (\(eta?.absoluteDescription ?? "the learning rate")) belongs: the reference to η has no $ on its row, so it moved when the formula was filled down")
                }
            }
        }
        if let eta, [.h1, .ah1, .h2, .ah2, .o1, .ao1, .o2, .ao2, .e1, .e2, .eTotal].contains(q),
           references.contains(where: { $0.address == eta }) {
            return (.activationUpdated, "activation-updated", "uses η (\(eta)): it is \"updated\" by gradient descent where it should be computed from this row's weights")
        }
        return nil
    }
}

extension CourseTable {
    /// The formula the cell of quantity q in iteration k should hold, written with the table's own
    /// cells (`=F33-$C$30*Y33`): what the report shows beside the formula as written. Nil for a
    /// starting value (the first row's t, i and w).
    public func expectedFormula(_ q: Quantity, iteration k: Int) -> String? {
        let table = self
        func c(_ q: Quantity, _ row: Int? = nil) -> String { table.cell(q, iteration: row ?? k).description }
        func absolute(_ cell: CellAddress?, or value: Double) -> String {
            cell?.absoluteDescription ?? "\(value)"
        }
        let eta = absolute(table.learningRate.cell, or: table.learningRate.value)
        func bias(_ b: CourseTable.Bias) -> String { b.cell == nil && b.value == 0 ? "" : "+" + absolute(b.cell, or: b.value) }
        func sigmoid(_ x: Quantity) -> String { "=1/(1+EXP(-\(c(x))))" }
        func delta(_ a: Quantity, _ t: Quantity) -> String { "(\(c(a))-\(c(t)))*\(c(a))*(1-\(c(a)))" }
        switch q {
        case .t1, .t2, .i1, .i2: return k == 0 ? nil : "=\(c(q, k - 1))"
        case .w1, .w2, .w3, .w4, .w5, .w6, .w7, .w8: return k == 0 ? nil : "=\(c(q, k - 1))-\(eta)*\(c(q.gradient!, k - 1))"
        case .h1: return "=\(c(.w1))*\(c(.i1))+\(c(.w2))*\(c(.i2))" + bias(table.hiddenBias)
        case .h2: return "=\(c(.w3))*\(c(.i1))+\(c(.w4))*\(c(.i2))" + bias(table.hiddenBias)
        case .o1: return "=\(c(.w5))*\(c(.ah1))+\(c(.w6))*\(c(.ah2))" + bias(table.outputBias)
        case .o2: return "=\(c(.w7))*\(c(.ah1))+\(c(.w8))*\(c(.ah2))" + bias(table.outputBias)
        case .ah1: return sigmoid(.h1)
        case .ah2: return sigmoid(.h2)
        case .ao1: return sigmoid(.o1)
        case .ao2: return sigmoid(.o2)
        case .e1: return "=0.5*(\(c(.t1))-\(c(.ao1)))^2"
        case .e2: return "=0.5*(\(c(.t2))-\(c(.ao2)))^2"
        case .eTotal: return "=\(c(.e1))+\(c(.e2))"
        case .g1, .g2, .g3, .g4:
            let (unit, input, (wa, wb)) = LocalRules.hiddenParts(q)
            let a = c(unit == 1 ? .ah1 : .ah2)
            return "=(\(delta(.ao1, .t1))*\(c(wa))+\(delta(.ao2, .t2))*\(c(wb)))*\(a)*(1-\(a))*\(c(input))"
        case .g5: return "=\(delta(.ao1, .t1))*\(c(.ah1))"
        case .g6: return "=\(delta(.ao1, .t1))*\(c(.ah2))"
        case .g7: return "=\(delta(.ao2, .t2))*\(c(.ah1))"
        case .g8: return "=\(delta(.ao2, .t2))*\(c(.ah2))"
        }
    }
}
