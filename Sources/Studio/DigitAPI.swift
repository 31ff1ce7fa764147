import Data
import Foundation
import Formats
import Hummingbird
import Training

/// Part 2 over HTTP: an image of a digit, of any size, classified by a run's checkpoint — the
/// digit as the network saw it (centred into 28×28 as MNIST's were) and the ten probabilities.
struct DigitAPI: Sendable {
    let runs: RunCatalog
    /// The run the page starts with; nil: the newest run of s6 with a checkpoint.
    let defaultCheckpoint: String?
    let classifiers = ClassifierCache()

    struct Prediction: Encodable {
        var checkpoint: String
        var model: String
        var digit: Int
        var probabilities: [Double]
        /// The 28×28 grey levels (0 black … 255 white, row by row) the network was given.
        var input: [UInt8]
    }

    struct Checkpoint: Encodable {
        var id: String
        var model: String?
        var epochs: Int
        var test_acc: Double?
    }

    struct Checkpoints: Encodable {
        var `default`: String?
        var checkpoints: [Checkpoint]
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        // Runs with a model.safetensors, newest first, and which one the page starts with.
        router.get("/api/checkpoints") { _, _ -> Response in
            let entries = runs.entries().filter(\.hasCheckpoint)
            let listed = entries.map { entry -> Checkpoint in
                let metrics = (try? entry.folder.metrics()) ?? []
                return Checkpoint(id: entry.id, model: entry.model, epochs: metrics.count, test_acc: metrics.last?.test_acc)
            }
            return try jsonResponse(encoding: Checkpoints(default: defaultCheckpoint ?? entries.first { $0.model == "s6" }?.id,
                                                          checkpoints: listed))
        }
        // The body: a PNG or PGM image. `?checkpoint=RUN` picks the run (default: the page's).
        router.post("/api/predict") { request, _ -> Response in
            let bytes = try await body(of: request, limit: Studio.imageBodyLimit, what: "a PNG or PGM image")
            guard let id = query(request, "checkpoint") ?? defaultCheckpoint ?? runs.entries().first(where: { $0.hasCheckpoint && $0.model == "s6" })?.id else {
                throw HTTPError(.notFound, message: "no checkpoint: pass ?checkpoint=RUN, or train one first (backprop train --model s6)")
            }
            let run = try runs.run(id)
            guard FileManager.default.fileExists(atPath: run.checkpointPath) else {
                throw HTTPError(.notFound, message: "run \(quoted(id)): no model.safetensors in it yet")
            }
            let digit: [UInt8]
            do { digit = try DigitPreprocessing.mnistLike(try ImageReader.decode(bytes, source: "the body"), source: "the body") }
            catch { throw HTTPError(.badRequest, message: "\(error)") }
            return try classifiers.with(run) { classifier in
                let probabilities = classifier.probabilities(of: [digit])[0]
                let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
                return try jsonResponse(encoding: Prediction(checkpoint: id, model: classifier.model.name, digit: best,
                                                             probabilities: probabilities, input: digit))
            }
        }
    }
}

/// The models loaded from checkpoints, kept while their files do not change (a run still
/// training rewrites its checkpoint every epoch: the next request loads the new one). One
/// request at a time uses them: a model keeps its activations in its own buffers.
final class ClassifierCache: @unchecked Sendable {
    private let lock = NSLock()
    private var loaded: [String: (modified: Date, classifier: DigitClassifier)] = [:]
    static let capacity = 8

    func with<Result>(_ run: RunFolder, _ body: (DigitClassifier) throws -> Result) throws -> Result {
        lock.lock()
        defer { lock.unlock() }
        let path = run.checkpointPath
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
        if let kept = loaded[path], kept.modified == modified { return try body(kept.classifier) }
        let classifier: DigitClassifier
        do { classifier = try DigitClassifier.load(checkpoint: path) }
        catch { throw HTTPError(.unprocessableContent, message: "\(error)") }
        if loaded.count >= Self.capacity { loaded.removeAll() }
        loaded[path] = (modified, classifier)
        return try body(classifier)
    }
}
