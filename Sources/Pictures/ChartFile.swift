import Foundation
import Formats

/// A chart described in a JSON file, so that a script that measured something (such as
/// scripts/time-to-accuracy) can have it drawn as the project draws its own charts
/// (`backprop chart`):
///
///     {"title": "s6: test accuracy against wall-clock time",
///      "x_label": "seconds", "y_label": "test accuracy (%)",
///      "y_range": [98, 100],                                  (optional: else the data's)
///      "reference_lines": [{"y": 99.4, "label": "99.4%"}],    (optional)
///      "series": [{"name": "backprop, seed 1", "points": [[8.1, 98.9], [16.0, 99.2]],
///                  "color": 0, "dashed": false}]}             (color: a palette index; both optional)
///
/// Everything is checked before drawing: finite numbers, at most `maximumSeries` series and
/// `maximumPoints` points in all, names of at most `maximumText` characters; anything else is a
/// one-line `ChartFileError`.
public enum ChartFile {
    public static let maximumSeries = 100
    public static let maximumPoints = 100_000
    public static let maximumText = 200

    struct Spec: Decodable {
        struct Series: Decodable {
            var name: String
            var points: [[Double]]
            var color: Int?
            var dashed: Bool?
        }
        struct Reference: Decodable {
            var y: Double
            var label: String
        }
        var title: String
        var x_label: String
        var y_label: String
        var y_range: [Double]?
        var reference_lines: [Reference]?
        var series: [Series]
    }

    /// The chart the JSON `bytes` describe; `source` names the file in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> LineChart {
        let spec: Spec
        do { spec = try JSONDecoder().decode(Spec.self, from: Data(bytes)) } catch {
            throw ChartFileError("\(source): not a chart description (\(decodingProblem(error))); expected {\"title\", \"x_label\", \"y_label\", \"series\": [{\"name\", \"points\": [[x, y], …]}]}")
        }
        func text(_ value: String, _ field: String) throws -> String {
            guard value.count <= maximumText else {
                throw ChartFileError("\(source): \(field) has \(value.count) characters; expected at most \(maximumText)")
            }
            return value
        }
        func number(_ value: Double, _ field: String) throws -> Double {
            guard value.isFinite, abs(value) < 1e15 else { throw ChartFileError("\(source): \(field) must be a finite number, got \(value)") }
            return value
        }
        guard !spec.series.isEmpty, spec.series.count <= maximumSeries else {
            throw ChartFileError("\(source): \(spec.series.count) series; expected 1 to \(maximumSeries)")
        }
        let pointCount = spec.series.reduce(0) { $0 + $1.points.count }
        guard pointCount <= maximumPoints else {
            throw ChartFileError("\(source): \(pointCount) points; expected at most \(grouped(maximumPoints))")
        }
        var series: [LineChart.Series] = []
        for (index, s) in spec.series.enumerated() {
            let field = "series \(index + 1)"
            var points: [LineChart.Point] = []
            for (p, point) in s.points.enumerated() {
                guard point.count == 2 else {
                    throw ChartFileError("\(source): \(field), point \(p + 1) has \(point.count) numbers; expected [x, y]")
                }
                points.append(LineChart.Point(try number(point[0], "\(field), point \(p + 1)"),
                                              try number(point[1], "\(field), point \(p + 1)")))
            }
            var color: Color?
            if let c = s.color {
                guard Color.palette.indices.contains(c) else {
                    throw ChartFileError("\(source): \(field): color \(c); expected a palette index from 0 to \(Color.palette.count - 1)")
                }
                color = Color.palette[c]
            }
            series.append(LineChart.Series(name: try text(s.name, "\(field)'s name"), points: points, color: color,
                                           dashed: s.dashed ?? false))
        }
        var range: ClosedRange<Double>?
        if let r = spec.y_range {
            guard r.count == 2, try number(r[0], "y_range") < number(r[1], "y_range") else {
                throw ChartFileError("\(source): y_range must be [low, high] with low < high")
            }
            range = r[0]...r[1]
        }
        let lines = spec.reference_lines ?? []
        guard lines.count <= maximumSeries else {
            throw ChartFileError("\(source): \(lines.count) reference lines; expected at most \(maximumSeries)")
        }
        let references = try lines.enumerated().map { index, line in
            LineChart.ReferenceLine(y: try number(line.y, "reference line \(index + 1)"),
                                    label: try text(line.label, "reference line \(index + 1)'s label"))
        }
        return LineChart(title: try text(spec.title, "title"), xLabel: try text(spec.x_label, "x_label"),
                         yLabel: try text(spec.y_label, "y_label"), series: series, referenceLines: references,
                         yRange: range)
    }
}

/// A chart description that cannot be drawn, in one line.
public struct ChartFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
