import Check
import Foundation
import Formats
import Hummingbird
import Sheet

/// Part 1 over HTTP: the 2-2-2 network's rows, one iteration worked through, the workbook, and a
/// learner's own workbook checked. The same engine calls as `backprop sheet` and `backprop check`.
enum Part1API {
    static func addRoutes(to router: Router<BasicRequestContext>) {
        // The rows `backprop sheet --format json` prints for this start.
        router.post("/api/sheet") { request, _ -> Response in
            let setting = try await SheetSetting.decode(from: request)
            return jsonResponse(SheetExport.json(runs: try setting.runs()))
        }
        // Iteration `iteration` (default 0) of gradient descent at the first learning rate, every
        // quantity three ways: formula, numbers plugged in, value (`backprop sheet`'s explanation).
        router.post("/api/explain") { request, _ -> Response in
            let setting = try await SheetSetting.decode(from: request)
            let row = try setting.runs()[0].rows.last!
            return try jsonResponse(encoding: ExplainedIteration(row: row, iteration: setting.iterations - 1))
        }
        // The workbook `backprop sheet` writes for this start: one sheet per η, live formulas.
        router.post("/api/workbook") { request, _ -> Response in
            let setting = try await SheetSetting.decode(from: request)
            let bytes = try SheetExport.workbook(network: setting.network, runs: try setting.runs()).bytes()
            return response(bytes, type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers: [.contentDisposition: "attachment; filename=\"backprop.xlsx\""])
        }
        // A learner's .xlsx, .ods or .csv checked cell by cell: the JSON `backprop check --format json` prints.
        router.post("/api/check") { request, _ -> Response in
            let (report, _) = try await checkedWorkbook(request)
            return jsonResponse(report.json())
        }
        // The same, as a picture of the table's cells: right, slips, wrong because of a slip.
        router.post("/api/check/picture") { request, _ -> Response in
            let (report, name) = try await checkedWorkbook(request)
            guard let table = report.tables.first(where: { !$0.isCorrect }) ?? report.tables.first else {
                throw HTTPError(.badRequest, message: "\(name): no table to draw")
            }
            return response(Array(table.cellMap(file: name).svg().utf8), type: "image/svg+xml")
        }
    }

    /// Reads and checks the workbook in the body; `?name=` gives its file name (a .csv must say so).
    static func checkedWorkbook(_ request: Request) async throws -> (CheckReport, String) {
        let bytes = try await body(of: request, limit: Studio.workbookBodyLimit, what: "an .xlsx, .ods or .csv workbook")
        let name = query(request, "name") ?? "workbook"
        guard name.count <= 200 else { throw HTTPError(.badRequest, message: "name: longer than 200 characters") }
        do {
            let file = try SpreadsheetReader.read(bytes: bytes, fileName: name)
            return (try Checker.check(file, name: name), name)
        } catch {
            let text = "\(error)"
            throw HTTPError(.badRequest, message: text.hasPrefix(name) ? text : "\(name): \(text)")
        }
    }
}

/// What the Part 1 endpoints take: `{"inputs": [i1, i2], "targets": [t1, t2], "weights": [w1 … w8],
/// "biases": [b_h, b_o] (optional), "lr": η or [η, …], "iterations": n}`, checked as
/// `backprop sheet` checks its options.
struct SheetSetting {
    var network: SheetNetwork
    var learningRates: [Double]
    var iterations: Int

    /// The largest magnitude of an input, target, weight or bias, and of a learning rate.
    static let largestValue = 1e6, largestLearningRate = 1_000.0
    static let maximumIterations = 10_000, maximumRows = 100_000

    struct Body: Decodable {
        var inputs: [Double]
        var targets: [Double]
        var weights: [Double]
        var biases: [Double]?
        var lr: LearningRates?
        /// A number, so that 1.5 is refused by name (Foundation calls it invalid JSON).
        var iterations: Double?
    }

    /// One learning rate or a list of them.
    struct LearningRates: Decodable {
        var values: [Double]
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(Double.self) { values = [one]; return }
            guard let many = try? container.decode([Double].self) else {
                throw HTTPError(.badRequest, message: "lr: expected a learning rate or an array of them")
            }
            values = many
        }
    }

    static func decode(from request: Request) async throws -> SheetSetting {
        let bytes = try await body(of: request, limit: Studio.jsonBodyLimit, what: "a JSON object")
        return try SheetSetting(json: bytes)
    }

    init(json bytes: [UInt8]) throws {
        let body = try decodeJSON(Body.self, from: bytes)
        func numbers(_ values: [Double], _ name: String, _ count: Int, _ meaning: String) throws -> [Double] {
            guard values.count == count else { throw HTTPError(.badRequest, message: "\(name): got \(values.count) numbers, expected \(meaning)") }
            if let bad = values.first(where: { !(abs($0) <= Self.largestValue) }) {
                throw HTTPError(.badRequest, message: "\(name): \(bad) is outside ±\(Int(Self.largestValue)); expected \(meaning)")
            }
            return values
        }
        let i = try numbers(body.inputs, "inputs", 2, "2 numbers [i1, i2]")
        let t = try numbers(body.targets, "targets", 2, "2 numbers [t1, t2]")
        let w = try numbers(body.weights, "weights", 8, "8 numbers [w1, …, w8]")
        let b = try numbers(body.biases ?? [0, 0], "biases", 2, "2 numbers [b_hidden, b_output]")
        let rates = body.lr?.values ?? [0.5]
        guard (1...20).contains(rates.count) else {
            throw HTTPError(.badRequest, message: "lr: \(rates.count) learning rates; expected 1 to 20")
        }
        if let bad = rates.first(where: { !($0 > 0 && $0 <= Self.largestLearningRate) }) {
            throw HTTPError(.badRequest, message: "lr: \(bad) is not a learning rate; expected a number above 0 and at most \(Int(Self.largestLearningRate))")
        }
        let count = body.iterations ?? 1
        guard count == count.rounded(), abs(count) <= 1e9 else {
            throw HTTPError(.badRequest, message: "iterations: \(count) is not a whole number; expected 1 to \(Self.maximumIterations)")
        }
        let iterations = Int(count)
        guard (1...Self.maximumIterations).contains(iterations), iterations * rates.count <= Self.maximumRows else {
            throw HTTPError(.badRequest, message: "iterations: \(iterations) for \(rates.count) learning rate(s); expected 1 to \(Self.maximumIterations), and at most \(Self.maximumRows) rows in all")
        }
        network = SheetNetwork(inputs: (i[0], i[1]), targets: (t[0], t[1]), weights: w, biases: (b[0], b[1]))
        learningRates = rates
        self.iterations = iterations
    }

    /// Gradient descent at each learning rate; a 422 if a value overflows (JSON has no infinity).
    func runs() throws -> [(learningRate: Double, rows: [SheetRow])] {
        let runs = learningRates.map { (learningRate: $0, rows: network.descend(learningRate: $0, iterations: iterations)) }
        for run in runs {
            if let k = run.rows.firstIndex(where: { !$0.values.allSatisfy(\.isFinite) }) {
                throw HTTPError(.unprocessableContent, message: "at η = \(run.learningRate) the values overflow at iteration \(k); expected a setting whose numbers stay finite")
            }
        }
        return runs
    }
}

/// One iteration worked through, as `/api/explain` answers.
struct ExplainedIteration: Encodable {
    struct Step: Encodable { var name: String, formula: String, substituted: String, value: Double }
    struct Section: Encodable { var title: String, steps: [Step] }
    var iteration: Int
    var weights: [Double]
    var e_tot: Double
    var sections: [Section]

    init(row: SheetRow, iteration: Int) {
        self.iteration = iteration
        weights = row.network.weights
        e_tot = row.eTotal
        sections = Explanation(row: row).sections.map { section in
            Section(title: section.title, steps: section.steps.map {
                Step(name: $0.name, formula: $0.formula, substituted: $0.substituted, value: $0.value)
            })
        }
    }
}

/// `bytes` decoded as JSON into `type`, or a 400 naming what was wrong and where.
func decodeJSON<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
    func path(_ codingPath: [any CodingKey]) -> String {
        let text = jsonPath(codingPath)
        return text.isEmpty ? "the body" : text
    }
    do {
        return try JSONDecoder().decode(type, from: Data(bytes))
    } catch let error as DecodingError {
        switch error {
        case .keyNotFound(let key, let context):
            throw HTTPError(.badRequest, message: "\(path(context.codingPath + [key])): missing")
        case .typeMismatch(let expected, let context), .valueNotFound(let expected, let context):
            throw HTTPError(.badRequest, message: "\(path(context.codingPath)): expected \(jsonName(of: expected))")
        case .dataCorrupted(let context):
            let isJSON = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            throw HTTPError(.badRequest, message: isJSON || !context.codingPath.isEmpty
                                ? "\(path(context.codingPath)): \(context.debugDescription)"
                                : "the body is not valid JSON; expected a JSON object")
        @unknown default:
            throw HTTPError(.badRequest, message: "the body: \(error)")
        }
    }
}

/// How JSON calls what a Swift type decodes from.
func jsonName(of type: Any.Type) -> String {
    switch type {
    case is Double.Type, is Float.Type: return "a number"
    case is Int.Type: return "a whole number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    case is [Double].Type: return "an array of numbers"
    default:
        let name = String(describing: type)
        if name.contains("Unkeyed") || name.hasPrefix("Array") { return "an array" }
        return "a JSON object"
    }
}
