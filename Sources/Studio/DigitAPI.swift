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
        /// With `?details=1`: every layer's output for this digit, and ∂ log p(digit)/∂ pixel.
        var layers: [Layer]?
        var input_gradient: [Float]?
    }

    /// One layer's feature maps, scaled to bytes between the layer's smallest and largest value.
    struct Layer: Encodable {
        var name: String
        var channels, height, width: Int
        var min, max: Float
        /// channels × height × width bytes, base64: 0 is `min`, 255 is `max`.
        var maps: String

        init(_ map: DigitClassifier.Look.FeatureMap) {
            name = map.layer; channels = map.channels; height = map.height; width = map.width
            min = map.values.min() ?? 0
            max = map.values.max() ?? 0
            let low = min, span = Swift.max(max - min, 1e-12)
            maps = Data(map.values.map { value -> UInt8 in
                let scaled = 255 * (value - low) / span
                return scaled.isFinite ? UInt8(Swift.min(Swift.max(scaled, 0), 255).rounded()) : 0
            }).base64EncodedString()
        }
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
            do {
                let image = try ImageReader.decode(bytes, source: "the body", pixelLimit: Studio.imagePixelLimit)
                digit = try DigitPreprocessing.mnistLike(image, source: "the body")
            }
            catch { throw HTTPError(.badRequest, message: "\(error)") }
            let details = query(request, "details").map { ["1", "true", "yes"].contains($0) } ?? false
            return try await classifiers.with(run) { classifier in
                let probabilities = classifier.probabilities(of: [digit])[0]
                guard probabilities.allSatisfy(\.isFinite) else {
                    throw HTTPError(.unprocessableContent, message: "run \(quoted(id)): the network's output is not a number (its weights overflow); expected a trained checkpoint")
                }
                let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
                var prediction = Prediction(checkpoint: id, model: classifier.model.name, digit: best,
                                            probabilities: probabilities, input: digit)
                if details {
                    let look = classifier.look(at: digit)
                    prediction.layers = look.featureMaps.map(Layer.init)
                    prediction.input_gradient = look.inputGradient.map { $0.isFinite ? $0 : 0 }
                }
                return try jsonResponse(encoding: prediction)
            }
        }
    }
}

/// The models loaded from checkpoints, kept while their files do not change (a run still
/// training rewrites its checkpoint every epoch: the next request loads the new one). They are
/// used one request at a time (a model keeps its activations in its own buffers), on a queue of
/// their own, so that waiting requests hold none of the server's threads.
final class ClassifierCache: @unchecked Sendable {
    private let queue = DispatchQueue(label: "backprop-classifiers")
    /// Only touched on `queue`.
    private var loaded: [String: (modified: Date, classifier: DigitClassifier)] = [:]
    static let capacity = 8

    func with<Result: Sendable>(_ run: RunFolder, _ body: @escaping (DigitClassifier) throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Swift.Result { try body(try self.classifier(for: run)) })
            }
        }
    }

    /// On `queue`: the run's classifier, loaded anew when its checkpoint changed.
    private func classifier(for run: RunFolder) throws -> DigitClassifier {
        let path = run.checkpointPath
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
        if let kept = loaded[path], kept.modified == modified { return kept.classifier }
        let classifier: DigitClassifier
        do { classifier = try DigitClassifier.load(checkpoint: path) }
        catch { throw HTTPError(.unprocessableContent, message: "\(error)") }
        if loaded.count >= Self.capacity { loaded.removeAll() }
        loaded[path] = (modified, classifier)
        return classifier
    }
}
