import Foundation

/// A map of a table's cells, one small coloured square each: which cells are right, where an
/// error starts and how far it spreads (`backprop check --picture`). Column labels run up above
/// the grid, every few rows are labelled on the left, the legend sits under it.
public struct CellMap: Sendable {
    public struct Kind: Sendable {
        public var label: String
        public var color: Color
        public init(label: String, color: Color) { self.label = label; self.color = color }
    }

    public var title: String
    public var columnLabels: [String]
    /// One label per row; only every `rowLabelEvery`-th is drawn.
    public var rowLabels: [String]
    public var rowLabelEvery: Int
    /// cells[row][column]: an index into `kinds`.
    public var cells: [[Int]]
    public var kinds: [Kind]

    public init(title: String, columnLabels: [String], rowLabels: [String], rowLabelEvery: Int = 10,
                cells: [[Int]], kinds: [Kind]) {
        self.title = title; self.columnLabels = columnLabels; self.rowLabels = rowLabels
        self.rowLabelEvery = max(1, rowLabelEvery); self.cells = cells; self.kinds = kinds
    }

    static let cellWidth = 18.0, left = 84.0, top = 110.0
    /// Rows are thinner when there are many, so that a long table still fits a page.
    var cellHeight: Double { cells.count <= 40 ? 10 : cells.count <= 120 ? 6 : max(1, 720 / Double(cells.count)) }
    var width: Double { max(Self.left + Double(columnLabels.count) * Self.cellWidth + 24, 520) }
    var height: Double { Self.top + Double(cells.count) * cellHeight + 30 + 22 * Double(kinds.count) }

    public func svg() -> String {
        var drawing = SVGDrawing(width: width, height: height)
        draw(on: &drawing)
        return drawing.finish()
    }

    public func png() -> [UInt8] {
        var drawing = CanvasDrawing(canvas: Canvas(width: Int(width), height: Int(height)))
        draw(on: &drawing)
        return drawing.canvas.pngData()
    }

    func draw(on drawing: inout some Drawing) {
        drawing.text(title, x: width / 2, y: 24, anchor: .middle, bold: true, rotated: false, color: .black)
        for (column, label) in columnLabels.enumerated() {
            let x = Self.left + (Double(column) + 0.5) * Self.cellWidth + 4
            drawing.text(label, x: x, y: Self.top - 6, anchor: .start, bold: false, rotated: true, color: .black)
        }
        let h = cellHeight
        for (row, kinds) in cells.enumerated() {
            let y = Self.top + Double(row) * h
            for (column, kind) in kinds.enumerated() where kind < self.kinds.count {
                drawing.rect(x: Self.left + Double(column) * Self.cellWidth, y: y, width: Self.cellWidth - 1, height: max(h - 1, 1),
                             fill: self.kinds[kind].color, stroke: nil)
            }
            if row % rowLabelEvery == 0, row < rowLabels.count {
                drawing.text(rowLabels[row], x: Self.left - 6, y: y + h / 2 + 4, anchor: .end, bold: false, rotated: false, color: .black)
            }
        }
        var y = Self.top + Double(cells.count) * h + 24
        for kind in kinds {
            drawing.rect(x: Self.left, y: y - 11, width: 14, height: 14, fill: kind.color, stroke: nil)
            drawing.text(kind.label, x: Self.left + 22, y: y, anchor: .start, bold: false, rotated: false, color: .black)
            y += 22
        }
    }
}
