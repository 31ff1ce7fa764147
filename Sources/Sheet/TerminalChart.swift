import Foundation

/// A small chart drawn with characters: one symbol per curve, a logarithmic y axis.
public enum TerminalChart {
    public static let symbols: [Character] = ["●", "○", "■", "□", "▲", "△", "◆", "◇", "✚", "✕"]

    public static func render(curves: [(name: String, values: [Double])], width: Int = 64, height: Int = 16,
                              yLabel: String, xLabel: String) -> String {
        let positive = curves.flatMap(\.values).filter { $0 > 0 && $0.isFinite }
        guard let low = positive.min(), let high = positive.max(), let length = curves.map(\.values.count).max(), length > 0 else {
            return ""
        }
        let top = log10(high), bottom = log10(low) == top ? top - 1 : log10(low)
        var grid = Array(repeating: Array(repeating: Character(" "), count: width), count: height)
        for (index, curve) in curves.enumerated() {
            let symbol = symbols[index % symbols.count]
            for column in 0..<width {
                let k = length == 1 ? 0 : Int((Double(column) / Double(width - 1) * Double(length - 1)).rounded())
                guard k < curve.values.count, curve.values[k] > 0 else { continue }
                let fraction = (top - log10(curve.values[k])) / (top - bottom)
                let row = min(height - 1, max(0, Int((fraction * Double(height - 1)).rounded())))
                grid[row][column] = symbol
            }
        }
        let labels = (0..<height).map { row -> String in
            guard row % 5 == 0 || row == height - 1 else { return "" }
            let value = pow(10, top - (top - bottom) * Double(row) / Double(height - 1))
            return String(format: "%.2e", value)
        }
        let labelWidth = labels.map(\.count).max() ?? 0
        var out = "  \(yLabel) (log scale)\n"
        for row in 0..<height {
            out += String(repeating: " ", count: labelWidth - labels[row].count) + labels[row] + " ┤" + String(grid[row]) + "\n"
        }
        out += String(repeating: " ", count: labelWidth) + " └" + String(repeating: "─", count: width) + "\n"
        let endLabel = String(length - 1)
        out += String(repeating: " ", count: labelWidth + 2) + "0" + String(repeating: " ", count: max(1, width - 1 - endLabel.count)) + endLabel + "  \(xLabel)\n"
        out += "  " + curves.enumerated().map { "\(symbols[$0.offset % symbols.count]) \($0.element.name)" }.joined(separator: "   ") + "\n"
        return out
    }
}
