import ArgumentParser
import Formats
import Pictures

struct ChartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chart",
        abstract: "Draw a line chart (SVG and PNG) from series in a JSON file: how scripts such as scripts/time-to-accuracy draw what they measured.")

    @Argument(help: "The chart as JSON: {\"title\", \"x_label\", \"y_label\", \"series\": [{\"name\", \"points\": [[x, y], …], \"color\", \"dashed\"}], \"y_range\", \"reference_lines\": [{\"y\", \"label\"}]}.")
    var file: String
    @Option(help: "Write OUT.svg and OUT.png (a path without extension).") var out: String

    func run() throws {
        let chart = try ChartFile.parse(try BoundedFile.read(file, limit: 16 << 20), source: file)
        let figure = Figure([chart], panelWidth: 720, height: 440)
        try AtomicFile.write([(out + ".svg", Array(figure.svg().utf8)), (out + ".png", figure.png())])
    }
}
