import Foundation
import Formats

/// A line chart: named series of (x, y) points, axes with round ticks, a legend, optional
/// logarithmic y and horizontal reference lines (such as the 99.4% target).
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [Point]
        public var color: Color?
        public var dashed: Bool
        public init(name: String, points: [Point], color: Color? = nil, dashed: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.dashed = dashed
        }
    }
    public struct Point: Sendable { public var x: Double; public var y: Double
        public init(_ x: Double, _ y: Double) { self.x = x; self.y = y } }
    public struct ReferenceLine: Sendable { public var y: Double; public var label: String
        public init(y: Double, label: String) { self.y = y; self.label = label } }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logarithmicY: Bool
    public var referenceLines: [ReferenceLine]
    /// Fixed y limits; nil fits the data.
    public var yRange: ClosedRange<Double>?
    /// Ticks on whole numbers only (epochs, iterations).
    public var integerX: Bool

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logarithmicY: Bool = false,
                referenceLines: [ReferenceLine] = [], yRange: ClosedRange<Double>? = nil, integerX: Bool = false) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.logarithmicY = logarithmicY; self.referenceLines = referenceLines; self.yRange = yRange
        self.integerX = integerX
    }
}

/// One or more charts side by side (in rows of `columns` when given), drawn the same way as SVG
/// text or as a PNG.
public struct Figure: Sendable {
    public var panels: [LineChart]
    public var panelWidth: Double
    /// The height of one row of panels.
    public var panelHeight: Double
    public var columns: Int

    public init(_ panels: [LineChart], panelWidth: Double = 560, height: Double = 380, columns: Int? = nil) {
        self.panels = panels; self.panelWidth = panelWidth; self.panelHeight = height
        self.columns = max(1, min(columns ?? panels.count, panels.count))
    }

    public var width: Double { panelWidth * Double(columns) }
    public var height: Double { panelHeight * Double((panels.count + columns - 1) / columns) }

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

    func draw<D: Drawing>(on drawing: inout D) {
        for (index, chart) in panels.enumerated() {
            ChartLayout(chart: chart, left: Double(index % columns) * panelWidth, top: Double(index / columns) * panelHeight,
                        width: panelWidth, height: panelHeight).draw(on: &drawing)
        }
    }
}

/// What both outputs can draw; the layout speaks only this.
protocol Drawing {
    mutating func line(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), color: Color, width: Double, dashed: Bool)
    mutating func polyline(_ points: [(x: Double, y: Double)], color: Color, width: Double, dashed: Bool)
    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: Color, stroke: Color?)
    mutating func text(_ text: String, x: Double, y: Double, anchor: TextAnchor, bold: Bool, rotated: Bool, color: Color)
    func textWidth(_ text: String, bold: Bool) -> Double
}

struct ChartLayout {
    let chart: LineChart
    let left: Double, top: Double, width: Double, height: Double
    let plotLeft: Double, plotRight: Double, plotTop: Double, plotBottom: Double
    let xTicks: [Double], yTicks: [Double]
    let xMin: Double, xMax: Double, yMin: Double, yMax: Double

    init(chart: LineChart, left: Double, top: Double, width: Double, height: Double) {
        self.chart = chart; self.left = left; self.top = top; self.width = width; self.height = height
        plotLeft = left + 72; plotRight = left + width - 20; plotTop = top + 44; plotBottom = top + height - 52
        let xs = chart.series.flatMap { $0.points.map(\.x) }
        var ys = chart.series.flatMap { $0.points.map(\.y) } + chart.referenceLines.map(\.y)
        if chart.logarithmicY { ys = ys.filter { $0 > 0 } }
        let xLow = xs.min() ?? 0, xHigh = xs.max() ?? 1
        let ticks = niceTicks(xLow, xHigh == xLow ? xLow + 1 : xHigh, count: 6)
        xTicks = chart.integerX && ticks.count > 1 && ticks[1] - ticks[0] < 1
            ? Array(stride(from: xLow.rounded(.down), through: xHigh, by: 1)) : ticks
        xMin = xLow; xMax = xHigh == xLow ? xLow + 1 : xHigh
        if chart.logarithmicY {
            let low = floor(log10(ys.min() ?? 1e-3)), high = ceil(log10(ys.max() ?? 1))
            let top = high == low ? low + 1 : high
            yMin = low; yMax = top
            yTicks = Array(stride(from: low, through: top, by: max(1, ((top - low) / 6).rounded(.up))))
        } else {
            let low = chart.yRange?.lowerBound ?? (ys.min() ?? 0), high = chart.yRange?.upperBound ?? (ys.max() ?? 1)
            let ticks = niceTicks(low, high == low ? low + 1 : high, count: 6)
            yTicks = ticks
            yMin = chart.yRange?.lowerBound ?? min(low, ticks.first ?? low)
            yMax = chart.yRange?.upperBound ?? max(high, ticks.last ?? high)
        }
    }

    func px(_ x: Double) -> Double { plotLeft + (x - xMin) / (xMax - xMin) * (plotRight - plotLeft) }
    func py(_ y: Double) -> Double {
        let v = chart.logarithmicY ? log10(max(y, 1e-300)) : y
        return plotBottom - (v - yMin) / (yMax - yMin) * (plotBottom - plotTop)
    }

    func draw<D: Drawing>(on d: inout D) {
        let axis = Color(hex: "#333333"), grid = Color(hex: "#e8e8e8")
        d.text(chart.title, x: (plotLeft + plotRight) / 2, y: top + 26, anchor: .middle, bold: true, rotated: false, color: .black)
        // Grid and ticks.
        for tick in xTicks where tick >= xMin - 1e-9 && tick <= xMax + 1e-9 {
            d.line((px(tick), plotTop), (px(tick), plotBottom), color: grid, width: 1, dashed: false)
            d.text(tickLabel(tick, step: xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1), x: px(tick), y: plotBottom + 17,
                   anchor: .middle, bold: false, rotated: false, color: axis)
        }
        for tick in yTicks {
            let y = chart.logarithmicY ? py(pow(10, tick)) : py(tick)
            guard y >= plotTop - 0.5 && y <= plotBottom + 0.5 else { continue }
            d.line((plotLeft, y), (plotRight, y), color: grid, width: 1, dashed: false)
            let label = chart.logarithmicY ? exponentLabel(tick) : tickLabel(tick, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1)
            d.text(label, x: plotLeft - 8, y: y + 4, anchor: .end, bold: false, rotated: false, color: axis)
        }
        d.line((plotLeft, plotBottom), (plotRight, plotBottom), color: axis, width: 1, dashed: false)
        d.line((plotLeft, plotTop), (plotLeft, plotBottom), color: axis, width: 1, dashed: false)
        d.text(chart.xLabel, x: (plotLeft + plotRight) / 2, y: top + height - 14, anchor: .middle, bold: false, rotated: false, color: .black)
        d.text(chart.yLabel, x: left + 18, y: (plotTop + plotBottom) / 2, anchor: .middle, bold: false, rotated: true, color: .black)
        for reference in chart.referenceLines {
            let y = py(reference.y)
            d.line((plotLeft, y), (plotRight, y), color: Color(hex: "#d62728"), width: 1, dashed: true)
            d.text(reference.label, x: plotLeft + 6, y: y - 5, anchor: .start, bold: false, rotated: false, color: Color(hex: "#d62728"))
        }
        // Series, clipped to the plot by dropping points outside the y range.
        for (index, series) in chart.series.enumerated() {
            let color = series.color ?? Color.palette[index % Color.palette.count]
            let points = series.points.filter { !chart.logarithmicY || $0.y > 0 }
                .map { (x: px($0.x), y: min(plotBottom, max(plotTop, py($0.y)))) }
            d.polyline(points, color: color, width: 2, dashed: series.dashed)
        }
        // Legend, top right inside the plot.
        guard !chart.series.isEmpty else { return }
        let labelWidth = chart.series.map { d.textWidth($0.name, bold: false) }.max() ?? 0
        let boxWidth = labelWidth + 44, boxHeight = Double(chart.series.count) * 18 + 8
        // The corner whose box would hide the fewest data points.
        let corners = [(plotRight - boxWidth - 8, plotTop + 8), (plotRight - boxWidth - 8, plotBottom - boxHeight - 8),
                       (plotLeft + 8, plotBottom - boxHeight - 8), (plotLeft + 8, plotTop + 8)]
        let points = chart.series.flatMap { $0.points }.map { (px($0.x), py($0.y)) }
        func hidden(_ corner: (Double, Double)) -> Int {
            points.filter { $0.0 >= corner.0 - 4 && $0.0 <= corner.0 + boxWidth + 4 && $0.1 >= corner.1 - 4 && $0.1 <= corner.1 + boxHeight + 4 }.count
        }
        let (boxLeft, boxTop) = corners.min { hidden($0) < hidden($1) }!
        d.rect(x: boxLeft, y: boxTop, width: boxWidth, height: boxHeight, fill: .white, stroke: Color(hex: "#bbbbbb"))
        for (index, series) in chart.series.enumerated() {
            let color = series.color ?? Color.palette[index % Color.palette.count]
            let y = boxTop + 13 + Double(index) * 18
            d.line((boxLeft + 8, y), (boxLeft + 30, y), color: color, width: 2, dashed: series.dashed)
            d.text(series.name, x: boxLeft + 36, y: y + 4, anchor: .start, bold: false, rotated: false, color: .black)
        }
    }
}

/// Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten.
public func niceTicks(_ low: Double, _ high: Double, count: Int) -> [Double] {
    let span = high - low
    guard span > 0, span.isFinite else { return [low] }
    let rough = span / Double(max(count - 1, 1))
    let magnitude = pow(10, floor(log10(rough)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
    let first = floor(low / step) * step, last = ceil(high / step) * step
    return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
}

func tickLabel(_ value: Double, step: Double) -> String {
    if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e6) { return String(format: "%.0e", value) }
    let decimals = max(0, Int(-floor(log10(abs(step)) + 1e-9)))
    return String(format: "%.\(decimals)f", value)
}

func exponentLabel(_ exponent: Double) -> String {
    let e = Int(exponent)
    return e == 0 ? "1" : e == 1 ? "10" : "1e\(e)"
}

struct SVGDrawing: Drawing {
    var body: [String] = []
    let width: Double, height: Double
    init(width: Double, height: Double) { self.width = width; self.height = height }

    static func number(_ v: Double) -> String { String(format: "%.1f", v) }

    mutating func line(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), color: Color, width: Double, dashed: Bool) {
        body.append("<line x1=\"\(Self.number(a.x))\" y1=\"\(Self.number(a.y))\" x2=\"\(Self.number(b.x))\" y2=\"\(Self.number(b.y))\" stroke=\"\(color.hex)\" stroke-width=\"\(width)\"\(dashed ? " stroke-dasharray=\"6 6\"" : "")/>")
    }
    mutating func polyline(_ points: [(x: Double, y: Double)], color: Color, width: Double, dashed: Bool) {
        let list = points.map { "\(Self.number($0.x)),\(Self.number($0.y))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(color.hex)\" stroke-width=\"\(width)\" stroke-linejoin=\"round\"\(dashed ? " stroke-dasharray=\"6 6\"" : "")/>")
    }
    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: Color, stroke: Color?) {
        body.append("<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"\(fill.hex)\"\(stroke.map { " stroke=\"\($0.hex)\"" } ?? "")/>")
    }
    mutating func text(_ text: String, x: Double, y: Double, anchor: TextAnchor, bold: Bool, rotated: Bool, color: Color) {
        let anchorName = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
        let transform = rotated ? " transform=\"rotate(-90 \(Self.number(x)) \(Self.number(y)))\"" : ""
        let escaped = text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        body.append("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" text-anchor=\"\(anchorName)\" font-size=\"\(bold ? 16 : 13)\"\(bold ? " font-weight=\"bold\"" : "") fill=\"\(color.hex)\"\(transform)>\(escaped)</text>")
    }
    func textWidth(_ text: String, bold: Bool) -> Double { (bold ? FontAtlas.bold : FontAtlas.regular).width(of: text) }

    func finish() -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}

struct CanvasDrawing: Drawing {
    var canvas: Canvas
    mutating func line(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), color: Color, width: Double, dashed: Bool) {
        if dashed { canvas.drawDashedLine(from: a, to: b, color: color, thickness: width) }
        else { canvas.drawLine(from: a, to: b, color: color, thickness: width) }
    }
    mutating func polyline(_ points: [(x: Double, y: Double)], color: Color, width: Double, dashed: Bool) {
        guard points.count > 1 else { return }
        for i in 1..<points.count { line(points[i - 1], points[i], color: color, width: width, dashed: dashed) }
    }
    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: Color, stroke: Color?) {
        canvas.fillRect(x: x, y: y, width: width, height: height, color: fill)
        if let stroke {
            canvas.drawLine(from: (x, y), to: (x + width, y), color: stroke, thickness: 1)
            canvas.drawLine(from: (x + width, y), to: (x + width, y + height), color: stroke, thickness: 1)
            canvas.drawLine(from: (x + width, y + height), to: (x, y + height), color: stroke, thickness: 1)
            canvas.drawLine(from: (x, y + height), to: (x, y), color: stroke, thickness: 1)
        }
    }
    mutating func text(_ text: String, x: Double, y: Double, anchor: TextAnchor, bold: Bool, rotated: Bool, color: Color) {
        if rotated {
            // Centre the rotated text on y: its start is half its width below.
            let half = canvas.textWidth(text, bold: bold) / 2
            canvas.drawText(text, x: x, y: anchor == .middle ? y + half : y, color: color, anchor: .start, bold: bold, rotated: true)
        } else {
            canvas.drawText(text, x: x, y: y, color: color, anchor: anchor, bold: bold)
        }
    }
    func textWidth(_ text: String, bold: Bool) -> Double { canvas.textWidth(text, bold: bold) }
}
