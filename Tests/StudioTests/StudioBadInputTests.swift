import Foundation
import Formats
import Hummingbird
import HummingbirdTesting
import Studio
import Testing

/// What the studio does with requests a page would never send: every one is a 4xx whose message
/// (one line) says what was wrong and what was expected; none is a 5xx, none reaches a file
/// outside the runs folder.
@Suite("backprop serve: bad requests")
struct StudioBadInputTests {
    typealias API = StudioAPITests

    struct Case: Sendable, CustomStringConvertible {
        var uri: String
        var body: [UInt8]
        var status: HTTPResponse.Status
        var says: String
        var description: String { "\(uri) → \(status.code) \(says)" }

        init(_ uri: String, _ body: String, _ status: HTTPResponse.Status, _ says: String) {
            self.init(uri, Array(body.utf8), status, says)
        }
        init(_ uri: String, _ body: [UInt8], _ status: HTTPResponse.Status, _ says: String) {
            self.uri = uri; self.body = body; self.status = status; self.says = says
        }
    }

    static let weights = #""weights": [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]"#
    static let cases: [Case] = [
        Case("/api/sheet", "", .badRequest, "the body is not valid JSON; expected a JSON object"),
        Case("/api/sheet", "{\"inputs\": [0.05, 0.1", .badRequest, "not valid JSON"),
        Case("/api/sheet", "[1, 2]", .badRequest, "the body: expected"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5]}"#, .badRequest, "weights: missing"),
        Case("/api/sheet", #"{"inputs": [0.05], "targets": [0.5, 0.5], \#(weights)}"#, .badRequest, "inputs: got 1 numbers, expected 2 numbers [i1, i2]"),
        Case("/api/sheet", #"{"inputs": [0.05, "a"], "targets": [0.5, 0.5], \#(weights)}"#, .badRequest, "inputs[1]: expected a number"),
        Case("/api/sheet", #"{"inputs": [0.05, 1e300], "targets": [0.5, 0.5], \#(weights)}"#, .badRequest, "inputs: 1e+300 is outside ±1000000"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], "weights": [1, 2, 3, 4, 5, 6, 7]}"#, .badRequest, "weights: got 7 numbers, expected 8 numbers"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "lr": 0}"#, .badRequest, "lr: 0.0 is not a learning rate; expected a number above 0"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "lr": "fast"}"#, .badRequest, "lr: expected a learning rate or an array of them"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "lr": []}"#, .badRequest, "lr: 0 learning rates; expected 1 to 20"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "iterations": 0}"#, .badRequest, "iterations: 0 for 1 learning rate(s); expected 1 to 10000"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "iterations": 1.5}"#, .badRequest, "iterations"),
        Case("/api/sheet", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "lr": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15], "iterations": 9000}"#,
             .badRequest, "at most 100000 rows in all"),
        Case("/api/sheet", "{\"inputs\": [" + String(repeating: "0.1, ", count: 20_000) + "0.1]}", .contentTooLarge, "larger than 64 KiB"),
        Case("/api/explain", "null", .badRequest, "the body: expected"),
        Case("/api/workbook", #"{"inputs": [0.05, 0.1], "targets": [0.5, 0.5], \#(weights), "lr": -1}"#, .badRequest, "lr: -1.0 is not a learning rate"),
        Case("/api/check", "", .badRequest, "workbook"),
        Case("/api/check?name=x.xlsx", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0], .badRequest, "x.xlsx"),
        Case("/api/check?name=notes.txt", "hello", .badRequest, "notes.txt"),
        Case("/api/check/picture", "GIF89a", .badRequest, "workbook"),
        Case("/api/predict?checkpoint=tests/s6-1", "GIF89a", .badRequest, "the body: not a PNG or PGM image (starts with 47 49 46 38)"),
        Case("/api/predict?checkpoint=tests/s6-1", "", .badRequest, "not a PNG or PGM image (starts with nothing)"),
        Case("/api/predict?checkpoint=tests/s6-1", "P5\n99999 99999\n255\n", .badRequest, "99999×99999 pixels is outside what we read"),
        Case("/api/predict?checkpoint=tests/s6-1", "P5\n2 2\n255\n\0\0\0\0", .badRequest, "no digit found"),
        Case("/api/predict?checkpoint=tests/s6-1", "P5\n2100 2100\n255\n", .badRequest, "2100×2100 pixels is outside what we read (1 to 16384 per side, 4194304 in all)"),
        Case("/api/predict?checkpoint=../../etc", "P2 1 1 255 0", .badRequest, "not a run name"),
        Case("/api/predict?checkpoint=/etc", "P2 1 1 255 0", .badRequest, "not a run name"),
        Case("/api/predict?checkpoint=tests/..", "P2 1 1 255 0", .badRequest, "not a run name"),
        Case("/api/predict?checkpoint=tests/none", "P2 1 1 255 0", .notFound, "run \"tests/none\": no such run"),
        Case("/api/predict?checkpoint=tests/escape", "P2 1 1 255 0", .notFound, "run \"tests/escape\": no such run"),
        Case("/api/predict?checkpoint=tests/empty", "P2 1 1 255 0", .notFound, "no model.safetensors in it yet"),
        Case("/api/predict?checkpoint=tests/broken", PNGEncoder.encode(width: 3, height: 3, colorType: .gray, pixels: [0, 255, 0, 0, 255, 0, 0, 255, 0]),
             .unprocessableContent, "model.safetensors"),
    ]

    @Test(arguments: cases) func isRefusedInOneLine(_ bad: Case) async throws {
        let runs = try API.runsFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // A link out of the runs folder, a run with no checkpoint, a checkpoint that is not one.
        try FileManager.default.createSymbolicLink(atPath: runs + "/tests/escape", withDestinationPath: "/tmp")
        try FileManager.default.createDirectory(atPath: runs + "/tests/empty", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: runs + "/tests/broken", withIntermediateDirectories: true)
        try "not safetensors".write(toFile: runs + "/tests/broken/model.safetensors", atomically: true, encoding: .utf8)
        let (status, message) = try await API.withStudio(runs: runs) { client in
            let response = try await API.post(client, bad.uri, bytes: bad.body)
            return (response.status, try API.message(response))
        }
        #expect(status == bad.status, "\(message)")
        #expect(message.contains(bad.says), "\(message)")
    }

    @Test func anotherSitesPageIsRefused() async throws {
        // The router's tests name the host "localhost".
        let (fromElsewhere, own) = try await API.withStudio { client in
            let start = ByteBuffer(string: #"{"model": "nope"}"#)
            let elsewhere = try await client.execute(uri: "/api/runs", method: .post, headers: [.origin: "https://example.com"], body: start)
            let own = try await client.execute(uri: "/api/runs", method: .get, headers: [.origin: "http://localhost"])
            return ((elsewhere.status, try API.message(elsewhere)), own.status)
        }
        #expect(fromElsewhere.0 == .forbidden && fromElsewhere.1 == "a request from \"https://example.com\": this API answers its own page only")
        #expect(own == .ok)
    }

    @Test func onLoopbackOnlyLoopbackHostNamesAreAnswered() {
        #expect(RequestOrigin.refusal(host: "127.0.0.1:8080", origin: nil, loopbackOnly: true) == nil)
        #expect(RequestOrigin.refusal(host: "[::1]:8080", origin: "http://[::1]:8080", loopbackOnly: true) == nil)
        #expect(RequestOrigin.refusal(host: "LOCALHOST:80", origin: nil, loopbackOnly: true) == nil)
        #expect(RequestOrigin.refusal(host: "attacker.example:8080", origin: nil, loopbackOnly: true)
                == "Host \"attacker.example:8080\": this server answers requests to 127.0.0.1 or localhost only")
        #expect(RequestOrigin.refusal(host: "attacker.example:8080", origin: nil, loopbackOnly: false) == nil)
        #expect(RequestOrigin.refusal(host: "192.168.1.5:8080", origin: "http://192.168.1.5:8080", loopbackOnly: false) == nil)
        #expect(RequestOrigin.refusal(host: "192.168.1.5:8080", origin: "http://evil.example", loopbackOnly: false) != nil)
    }

    @Test func unknownPathsAreNotFound() async throws {
        let (status, message) = try await API.withStudio { client in
            let response = try await client.execute(uri: "/api/nothing", method: .get)
            return (response.status, try API.message(response))
        }
        #expect(status == .notFound && message == "no GET /api/nothing here; the API is described at /openapi.json")
    }

    @Test func withNoRunsThePredictionSaysHowToMakeOne() async throws {
        let response = try await API.withStudio { client in
            let response = try await API.post(client, "/api/predict", bytes: Array("P2 1 1 255 0".utf8))
            return (response.status, try API.message(response))
        }
        #expect(response.0 == .notFound)
        #expect(response.1.contains("backprop train --model s6"))
    }
}
