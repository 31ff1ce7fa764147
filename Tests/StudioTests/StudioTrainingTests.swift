import Data
import Foundation
import Formats
import Hummingbird
import HummingbirdTesting
import Studio
import Testing

/// Training from the page: a run started over HTTP trains in an ordinary run folder, tells its
/// progress as Server-Sent Events, and a second start while it trains is refused.
@Suite("backprop serve: training from the page", .serialized)
struct StudioTrainingTests {
    typealias API = StudioAPITests

    /// MNIST's four files, of random images (what is learnt does not matter here).
    static func dataFolder(train: Int, test: Int) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("studio-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        for (prefix, count) in [("train", train), ("t10k", test)] {
            let pixels = (0..<(count * 784)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try AtomicFile.write(IDX.imagesFile(count: count, rows: 28, columns: 28, pixels: pixels), to: folder + "/\(prefix)-images-idx3-ubyte")
            try AtomicFile.write(IDX.labelsFile((0..<count).map { UInt8($0 % 10) }), to: folder + "/\(prefix)-labels-idx1-ubyte")
        }
        return folder
    }

    struct Started: Decodable { var id, events: String; var epochs: Int }

    /// The events of a stream, as (kind, data) pairs.
    static func events(_ text: String) -> [(kind: String, data: String)] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n")
            guard let kind = lines.first(where: { $0.hasPrefix("event: ") }), let data = lines.first(where: { $0.hasPrefix("data: ") }) else { return nil }
            return (String(kind.dropFirst(7)), String(data.dropFirst(6)))
        }
    }

    static func temporaryFolder(_ prefix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    }

    @Test func aRunStartedFromThePageTrainsAndTellsItsEpochs() async throws {
        let data = try Self.dataFolder(train: 2_048, test: 128)
        let runs = Self.temporaryFolder("studio-runs")
        defer { for folder in [data, runs] { try? FileManager.default.removeItem(atPath: folder) } }
        let app = Application(router: Studio.router(settings: StudioSettings(runsFolder: runs, dataDirectory: data)))
        let (started, stream) = try await app.test(.router) { client in
            let start = #"{"model": "s4k", "epochs": 2, "batch_size": 64, "lr": 0.05, "train_limit": 2048, "test_limit": 128, "seed": 3}"#
            let started = try API.decode(Started.self, try await API.post(client, "/api/runs", json: start).ifStatus(.created))
            let stream = try await client.execute(uri: started.events, method: .get)
            #expect(stream.headers[.contentType] == "text/event-stream", "\(String(buffer: stream.body))")
            let wrong = try await client.execute(uri: "/api/runs/\(started.id)/misclassified.svg", method: .get)
            #expect(wrong.status == .ok && wrong.headers[.contentType] == "image/svg+xml")
            #expect(String(buffer: wrong.body).contains("<svg"))
            return (started, String(buffer: stream.body))
        }
        let id = started.id
        #expect(id.hasPrefix("s4k-studio-") && started.epochs == 2)
        let events = Self.events(stream)
        #expect(events.last?.kind == "end", "\(stream)")
        #expect(events.contains { $0.kind == "line" && $0.data.contains("Training s4k on 2048 mnist images") }, "\(stream)")
        #expect(events.filter { $0.kind == "progress" }.count >= 2)
        let epochs = events.filter { $0.kind == "epoch" }.map { $0.data }
        #expect(epochs.count == 2 && epochs.first?.contains("\"epoch\":1") == true && epochs.last?.contains("\"epoch\":2") == true, "\(epochs)")
        // An ordinary run folder: the terminal can evaluate it, and it says how it was started.
        let folder = runs + "/" + id
        let command = try String(contentsOfFile: folder + "/command.txt", encoding: .utf8)
        #expect(command.hasPrefix("backprop train --model s4k --seed 3 --epochs 2 --batch-size 64 --lr 0.05 --train-limit 2048 --test-limit 128 --out "))
        #expect(try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 2)
        // Finished: nothing to stop or resume.
        let (stop, resume) = try await app.test(.router) { client in
            (try await API.post(client, "/api/runs/\(id)/stop", json: "{}").status,
             try API.message(try await API.post(client, "/api/runs/\(id)/resume", json: "{}")))
        }
        #expect(stop == .conflict)
        #expect(resume.contains("all 2 epochs are done"), "\(resume)")
    }

    @Test func oneRunTrainsAtATimeAndCanBeStopped() async throws {
        let data = try Self.dataFolder(train: 2_048, test: 128)
        let runs = Self.temporaryFolder("studio-runs")
        defer { for folder in [data, runs] { try? FileManager.default.removeItem(atPath: folder) } }
        let app = Application(router: Studio.router(settings: StudioSettings(runsFolder: runs, dataDirectory: data)))
        let (second, stopped, stream) = try await app.test(.router) { client in
            // Long enough (200 epochs) to be training still when the next requests arrive.
            let start = #"{"model": "s4k", "epochs": 200, "batch_size": 64, "train_limit": 2048, "test_limit": 128}"#
            let started = try API.decode(Started.self, try await API.post(client, "/api/runs", json: start).ifStatus(.created))
            let second = try await API.post(client, "/api/runs", json: start)
            let secondAnswer = (second.status, String(buffer: second.body))
            if second.status == .created {   // the first had ended already: stop the second, say why
                _ = try await API.post(client, "/api/runs/\(try API.decode(Started.self, second).id)/stop", json: "{}")
            }
            let stop = try await API.post(client, "/api/runs/\(started.id)/stop", json: "{}")
            let stream = try await client.execute(uri: started.events, method: .get)
            return (secondAnswer, stop.status, String(buffer: stream.body))
        }
        #expect(second.0 == .conflict && second.1.contains("one run trains at a time"), "\(second); first run: \(stream)")
        #expect(stopped == .accepted, "\(stream)")
        #expect(Self.events(stream).last?.kind == "stopped", "\(stream)")
    }

    @Test(arguments: [
        (#"{"model": "nope"}"#, "model: \"nope\" is not a shipped model"),
        (#"{"model": "s6", "epochs": 0}"#, "epochs"),
        (#"{"model": "s6", "batch_size": 100000}"#, "batch_size"),
        (#"{"model": "s6", "train_limit": -5}"#, "train_limit"),
        (#"{"model": "s6", "seed": -1}"#, "seed: expected a whole number from 0"),
        (#"{"model": "s6", "lr": 1e300}"#, "lr"),
        (#"{"epochs": 3}"#, "model: missing"),
    ])
    func aBadStartIsRefusedAndLeavesNoFolder(_ body: String, _ says: String) async throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("studio-runs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let (status, message) = try await API.withStudio(runs: runs) { client in
            let response = try await API.post(client, "/api/runs", json: body)
            return (response.status, try API.message(response))
        }
        #expect(status == .badRequest && message.contains(says), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs).isEmpty)
    }

    @Test func eventsOfARunNotStartedHereAreNotFound() async throws {
        let (status, message) = try await API.withStudio { client in
            let response = try await client.execute(uri: "/api/runs/s6-1/events", method: .get)
            return (response.status, try API.message(response))
        }
        #expect(status == .notFound && message.contains("not started from this page"))
    }
}

extension TestResponse {
    /// This response, after checking its status.
    func ifStatus(_ status: HTTPResponse.Status) throws -> TestResponse {
        try #require(self.status == status, "\(self.status): \(String(buffer: body))")
        return self
    }
}
