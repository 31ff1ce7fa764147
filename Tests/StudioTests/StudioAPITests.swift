import Data
import Foundation
import Formats
import Hummingbird
import HummingbirdTesting
import NN
import Sheet
import Studio
import Testing
import Training

/// Every endpoint of `backprop serve`, called through the router as the page calls it (no socket):
/// the answers equal the engine's own, and every kind of bad input is a 4xx of one line.
@Suite("backprop serve: the API")
struct StudioAPITests {
    /// A runs folder with one s6 run (its weights as initialised: the numbers, not the accuracy, are
    /// what these tests compare) and a metrics.jsonl of two epochs.
    static func runsFolder() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("studio-\(UUID().uuidString)").path
        let run = root + "/tests/s6-1"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let model = Models.named("s6")!.makeModel()
        try Checkpoint.save(model, to: run + "/model.safetensors")
        let metrics = [EpochMetrics(epoch: 1, lr: 0.01, train_loss: 0.5, train_acc: 90, test_loss: 0.1, test_acc: 98.5, seconds: 9),
                       EpochMetrics(epoch: 2, lr: 0.02, train_loss: 0.1, train_acc: 98, test_loss: 0.05, test_acc: 99.1, seconds: 9)]
        let lines = try metrics.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        try lines.write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        try "backprop train --model s6\n".write(toFile: run + "/command.txt", atomically: true, encoding: .utf8)
        try Models.named("s6")!.modelFileText.write(toFile: run + "/model.json", atomically: true, encoding: .utf8)
        return root
    }

    /// Runs `body` with a client of a studio over `runs`.
    static func withStudio<Value: Sendable>(runs: String = "/nonexistent-runs", _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: Studio.router(settings: StudioSettings(runsFolder: runs)))
        return try await app.test(.router) { client in try await body(client) }
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, json: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, bytes: [UInt8]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, body: ByteBuffer(bytes: bytes))
    }

    /// The body decoded exactly (Foundation's JSONSerialization rounds some numbers on Linux).
    static func decode<Value: Decodable>(_ type: Value.Type, _ response: TestResponse) throws -> Value {
        try JSONDecoder().decode(type, from: Data(Array(buffer: response.body)))
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [String: Any])
    }

    /// The one-line message of an error response.
    static func message(_ response: TestResponse) throws -> String {
        let error = try #require(try object(response)["error"] as? [String: Any])
        let text = try #require(error["message"] as? String)
        #expect(!text.contains("\n"), "one line: \(text)")
        return text
    }

    static let course = #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], "weights": [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]"#

    // MARK: Part 1

    @Test func theSheetAnswersWhatTheCommandLinePrints() async throws {
        let rates = [0.1, 0.5, 2.0]
        let expected = SheetExport.json(runs: rates.map { (learningRate: $0, rows: SheetNetwork.course.descend(learningRate: $0, iterations: 5)) })
        let text = try await Self.withStudio { client in
            let response = try await Self.post(client, "/api/sheet", json: Self.course + #", "lr": [0.1, 0.5, 2], "iterations": 5}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            return String(buffer: response.body)
        }
        #expect(text == expected)
    }

    struct SheetAnswer: Decodable {
        struct Run: Decodable { var lr: Double; var rows: [[String: Double]] }
        var runs: [Run]
    }

    @Test func editingW1ChangesETotAsTheEngineComputesIt() async throws {
        var network = SheetNetwork.course
        network.weights[0] = 0.9
        let answer = try await Self.withStudio { client in
            try Self.decode(SheetAnswer.self, try await Self.post(client, "/api/sheet", json: #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], "weights": [0.9, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55], "lr": 0.5}"#))
        }
        let rows = try #require(answer.runs.first?.rows)
        #expect(rows.count == 1)
        #expect(rows[0]["E_tot"] == network.evaluate().eTotal)
        #expect(network.evaluate().eTotal != SheetNetwork.course.evaluate().eTotal)
    }

    struct Explained: Decodable {
        struct Step: Decodable { var name, formula, substituted: String; var value: Double }
        struct Section: Decodable { var title: String; var steps: [Step] }
        var iteration: Int
        var weights: [Double]
        var e_tot: Double
        var sections: [Section]
    }

    @Test func explainGivesEachGradientThreeWays() async throws {
        // Iteration 2 at η = 0.5: the weights after two updates.
        let rows = SheetNetwork.course.descend(learningRate: 0.5, iterations: 3)
        let answer = try await Self.withStudio { client in
            try Self.decode(Explained.self, try await Self.post(client, "/api/explain", json: Self.course + #", "lr": 0.5, "iterations": 3}"#))
        }
        #expect(answer.iteration == 2)
        #expect(answer.weights == rows[2].network.weights)
        #expect(answer.e_tot == rows[2].eTotal)
        let w5 = try #require(answer.sections.flatMap(\.steps).first { $0.name == "∂E/∂w5" })
        #expect(w5.value == rows[2].gradients[4])
        #expect(w5.formula == "(a_o1 − t1)·a_o1·(1 − a_o1)·a_h1")
        #expect(w5.substituted.contains(number(rows[2].ah1)))
    }

    @Test func theWorkbookIsTheSheetsAndChecksCorrect() async throws {
        let bytes = try await Self.withStudio { client in
            let response = try await Self.post(client, "/api/workbook", json: Self.course + #", "lr": [0.1, 1], "iterations": 10}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.contentDisposition] == "attachment; filename=\"backprop.xlsx\"")
            return Array(buffer: response.body)
        }
        let runs = [0.1, 1.0].map { (learningRate: $0, rows: SheetNetwork.course.descend(learningRate: $0, iterations: 10)) }
        // The same sheets, cells, formulas and values (not the same bytes: the zip stamps each part with the time).
        let served = try SpreadsheetReader.read(bytes: bytes, fileName: "served.xlsx")
        let written = try SpreadsheetReader.read(bytes: try SheetExport.workbook(network: .course, runs: runs).bytes(), fileName: "written.xlsx")
        #expect(served.sheets.map(\.name) == written.sheets.map(\.name))
        #expect(zip(served.sheets, written.sheets).allSatisfy { $0.cells == $1.cells })
        #expect(served.sheets.count == 2)
        let report = try await Self.withStudio { client in
            try Self.object(try await Self.post(client, "/api/check?name=backprop.xlsx", bytes: bytes))
        }
        #expect(report["verdict"] as? String == "correct")
    }

    @Test func aSlipInAnUploadedSheetIsNamedByItsCell() async throws {
        // The CSV `backprop sheet` writes, with E1 of iteration 2 typed wrong.
        let rows = SheetNetwork.course.descend(learningRate: 0.5, iterations: 6)
        var lines = SheetExport.csv(rows: rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        let column = try #require(header.firstIndex(of: "E1"))
        var cells = lines[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        cells[column] = "0.5"
        lines[3] = cells.joined(separator: ",")
        let csv = Array(lines.joined(separator: "\n").utf8)
        let (report, picture) = try await Self.withStudio { client in
            let report = try Self.object(try await Self.post(client, "/api/check?name=mine.csv", bytes: csv))
            let picture = try await Self.post(client, "/api/check/picture?name=mine.csv", bytes: csv)
            #expect(picture.status == .ok && picture.headers[.contentType] == "image/svg+xml")
            return (report, String(buffer: picture.body))
        }
        #expect(report["verdict"] as? String == "wrong")
        let findings = try #require(report["findings"] as? [[String: Any]])
        #expect(findings.first?["first_cell"] as? String == "\(XLSXWorkbook.columnName(column))4", "\(findings)")
        #expect(picture.hasPrefix("<svg") || picture.hasPrefix("<?xml"))
    }

    // MARK: Part 2 and runs

    @Test func aDigitIsClassifiedAsTheEngineClassifiesIt() async throws {
        let runs = try Self.runsFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // A "1": a white bar on black, 60×60.
        var pixels = [UInt8](repeating: 0, count: 60 * 60)
        for y in 8..<52 { for x in 27..<33 { pixels[y * 60 + x] = 255 } }
        let png = PNGEncoder.encode(width: 60, height: 60, colorType: .gray, pixels: pixels)
        let answer = try await Self.withStudio(runs: runs) { client in
            let checkpoints = try Self.object(try await client.execute(uri: "/api/checkpoints", method: .get))
            #expect(checkpoints["default"] as? String == "tests/s6-1")
            return try Self.decode(Prediction.self, try await Self.post(client, "/api/predict?checkpoint=tests/s6-1", bytes: png))
        }
        let classifier = try DigitClassifier.load(checkpoint: runs + "/tests/s6-1/model.safetensors")
        let digit = try DigitPreprocessing28.mnistLike(png)
        let expected = classifier.probabilities(of: [digit])[0]
        #expect(answer.probabilities == expected)
        #expect(answer.digit == expected.indices.max { expected[$0] < expected[$1] })
        #expect(answer.input == digit)
        #expect(answer.model == "s6" && answer.checkpoint == "tests/s6-1")
        #expect(abs(answer.probabilities.reduce(0, +) - 1) < 1e-5)
    }

    struct Prediction: Decodable {
        struct Layer: Decodable { var name: String; var channels, height, width: Int; var maps: String }
        var checkpoint, model: String
        var digit: Int
        var probabilities: [Double]
        var input: [UInt8]
        var layers: [Layer]?
        var input_gradient: [Float]?
    }

    @Test func withDetailsThePredictionShowsInsideTheNetwork() async throws {
        let runs = try Self.runsFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        var pixels = [UInt8](repeating: 255, count: 40 * 40)   // dark ink on white paper
        for y in 5..<35 { for x in 18..<22 { pixels[y * 40 + x] = 0 } }
        let png = PNGEncoder.encode(width: 40, height: 40, colorType: .gray, pixels: pixels)
        let (plain, detailed) = try await Self.withStudio(runs: runs) { client in
            (try Self.decode(Prediction.self, try await Self.post(client, "/api/predict?checkpoint=tests/s6-1", bytes: png)),
             try Self.decode(Prediction.self, try await Self.post(client, "/api/predict?checkpoint=tests/s6-1&details=1", bytes: png)))
        }
        #expect(plain.layers == nil && plain.input_gradient == nil)
        #expect(detailed.probabilities == plain.probabilities)
        let look = try DigitClassifier.load(checkpoint: runs + "/tests/s6-1/model.safetensors").look(at: detailed.input)
        #expect(detailed.input_gradient == look.inputGradient)
        let layers = try #require(detailed.layers)
        #expect(layers.map(\.name) == look.featureMaps.map(\.layer))
        for layer in layers {
            #expect(Data(base64Encoded: layer.maps)?.count == layer.channels * layer.height * layer.width)
        }
    }

    @Test func runsAreListedWithTheirEpochs() async throws {
        let runs = try Self.runsFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let answer = try await Self.withStudio(runs: runs) { client in
            try Self.object(try await client.execute(uri: "/api/runs", method: .get))
        }
        let listed = try #require(answer["runs"] as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(listed.first?["id"] as? String == "tests/s6-1")
        #expect(listed.first?["command"] as? String == "backprop train --model s6")
        #expect((listed.first?["metrics"] as? [[String: Any]])?.map { $0["test_acc"] as? Double } == [98.5, 99.1])
    }

    // MARK: The page and its description

    @Test func thePageAndTheAPIDescriptionAreServed() async throws {
        let (page, script, document) = try await Self.withStudio { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            let script = try await client.execute(uri: "/studio.js", method: .get)
            let document = try Self.object(try await client.execute(uri: "/openapi.json", method: .get))
            return (String(buffer: page.body), String(buffer: script.body), document)
        }
        #expect(page.contains("<script src=\"/studio.js\""))
        // Nothing is loaded from elsewhere.
        #expect(!page.contains("http://") && !page.contains("https://") && !script.contains("https://"))
        let paths = try #require(document["paths"] as? [String: Any])
        // Every path the page calls is described.
        for path in ["/api/sheet", "/api/explain", "/api/workbook", "/api/check", "/api/check/picture", "/api/checkpoints", "/api/predict", "/api/runs"] {
            #expect(paths[path] != nil, "\(path) in openapi.json")
            #expect(script.contains("\"\(path)") || script.contains("`\(path)"), "\(path) used by the page")
        }
    }
}

/// A PNG decoded and centred as the server does, for comparing.
enum DigitPreprocessing28 {
    static func mnistLike(_ png: [UInt8]) throws -> [UInt8] {
        try DigitPreprocessing.mnistLike(try ImageReader.decode(png, source: "test"), source: "test")
    }
}
