import Data
import Foundation
import Formats
import Hummingbird
import Kernels
import NN
import ServiceLifecycle
import Training

/// Training from the page: one run at a time, started, watched as it goes (Server-Sent Events:
/// the course's lines, progress every few batches, each epoch's figures), stopped and resumed.
/// A second start while one trains is refused (409), never queued silently. The run is an
/// ordinary run folder in the runs folder, resumable from the terminal too.
///
///     POST /api/runs                {"model": "s6", "epochs": 1, "train_limit": 2000, ...} → 201 {"id", "events"}
///     GET  /api/runs/{id}/events    text/event-stream: line, progress, epoch, end (or failed, stopped)
///     POST /api/runs/{id}/stop      stops after the batch under way (the last finished epoch is kept)
///     POST /api/runs/{id}/resume    continues a stopped run in its folder
///     GET  /api/runs/{id}/misclassified.svg   the test digits it gets wrong, as of its last epoch
struct TrainingAPI: Sendable {
    let runs: RunCatalog
    let desk: TrainingDesk

    /// What the page may set of a shipped model's recipe; anything not given is the recipe's own.
    struct StartRequest: Decodable {
        var model: String
        var epochs: Int?
        var batch_size: Int?
        /// The learning rate: OneCycle's peak for the models that use it.
        var lr: Double?
        var seed: Int?
        var train_limit: Int?
        var test_limit: Int?
    }

    /// A run started: its id, where its events are, how many epochs it trains in all.
    struct Started: Encodable {
        var id: String
        var events: String
        var epochs: Int
        init(id: String, epochs: Int) { self.id = id; events = "/api/runs/\(id)/events"; self.epochs = epochs }
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/api/runs") { request, _ -> Response in
            let bytes = try await body(of: request, limit: Studio.jsonBodyLimit, what: "a JSON object")
            let start = try decodeJSON(StartRequest.self, from: bytes)
            var epochs = 0
            let id = try desk.start(id: nil) {
                let configuration = try configuration(for: start)
                epochs = configuration.recipe.epochs
                return configuration
            }
            return try jsonResponse(encoding: Started(id: id, epochs: epochs), status: .created)
        }
        router.get("/api/runs/{id}/events") { _, context -> Response in
            let id = try context.parameters.require("id")
            let log = try desk.log(of: id)
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                var sent = 0
                while true {
                    let (events, finished) = log.events(after: sent)
                    if !events.isEmpty {
                        try await writer.write(ByteBuffer(string: events.joined()))
                        sent += events.count
                    }
                    // A server shutting down (Ctrl-C) waits for open responses: end this one.
                    if finished || Task.isShuttingDownGracefully { break }
                    try await Task.sleep(nanoseconds: 100_000_000)
                }
                try await writer.finish(nil)
            })
        }
        // The run's own picture of the first 50 test digits it gets wrong, rewritten every epoch.
        router.get("/api/runs/{id}/misclassified.svg") { _, context -> Response in
            let id = try context.parameters.require("id")
            let path = try runs.run(id).file("misclassified.svg")
            guard FileManager.default.fileExists(atPath: path) else {
                throw HTTPError(.notFound, message: "run \(quoted(id)): no misclassified.svg yet (it is written after each epoch)")
            }
            return response(try BoundedFile.read(path, limit: 16 << 20), type: "image/svg+xml",
                            headers: [.cacheControl: "no-cache"])
        }
        router.post("/api/runs/{id}/stop") { _, context -> Response in
            try desk.stop(try context.parameters.require("id"))
            return try jsonResponse(encoding: ["stopping": true], status: .accepted)
        }
        router.post("/api/runs/{id}/resume") { _, context -> Response in
            let id = try context.parameters.require("id")
            let folder = try runs.run(id)
            let configuration: RunConfiguration
            do { configuration = try TrainingRun.resuming(folder: folder.path, dataDirectory: desk.dataDirectory) }
            catch { throw HTTPError(.unprocessableContent, message: "\(error)") }
            guard configuration.resumeFrom!.epochsDone < configuration.recipe.epochs else {
                throw HTTPError(.conflict, message: "run \(quoted(id)): all \(configuration.recipe.epochs) epochs are done; nothing to resume")
            }
            _ = try desk.start(id: id) { configuration }
            return try jsonResponse(encoding: Started(id: id, epochs: configuration.recipe.epochs), status: .created)
        }
    }

    /// The run a start request describes, checked as `backprop train` checks its options, in a
    /// new folder of the runs folder.
    func configuration(for request: StartRequest) throws -> RunConfiguration {
        guard let definition = Models.named(request.model) else {
            throw HTTPError(.badRequest, message: "model: \(quoted(request.model)) is not a shipped model; expected one of \(Models.all.map(\.name).joined(separator: ", "))")
        }
        var recipe = definition.recipe
        if let epochs = request.epochs { recipe.epochs = epochs }
        if let batchSize = request.batch_size { recipe.batchSize = batchSize }
        if let lr = request.lr {
            recipe.learningRate = Float(lr)
            recipe.schedule = recipe.schedule.peaking(at: Float(lr))
        }
        guard (0...Int(Int32.max)).contains(request.seed ?? 1) else {
            throw HTTPError(.badRequest, message: "seed: expected a whole number from 0 to \(Int32.max), got \(request.seed!)")
        }
        var configuration = RunConfiguration(model: definition, recipe: recipe, seed: UInt64(request.seed ?? 1), dataset: .mnist,
                                             dataDirectory: desk.dataDirectory, outDirectory: nil, trainLimit: request.train_limit,
                                             testLimit: request.test_limit, threads: Threads.available)
        do { try configuration.validate { $0.replacingOccurrences(of: "-", with: "_") } }
        catch { throw HTTPError(.badRequest, message: "\(error)") }
        var options = ["--model \(definition.name)", "--seed \(configuration.seed)"]
        if let epochs = request.epochs { options.append("--epochs \(epochs)") }
        if let batchSize = request.batch_size { options.append("--batch-size \(batchSize)") }
        if let lr = request.lr { options.append("--lr \(lr)") }
        if let limit = request.train_limit { options.append("--train-limit \(limit)") }
        if let limit = request.test_limit { options.append("--test-limit \(limit)") }
        let folder = try RunFolder.createUnique(in: runs.root, name: "\(definition.name)-studio-\(TrainingRun.timestamp())")
        configuration.outDirectory = folder.path
        configuration.replacesEarlierRun = true
        // Fetch MNIST only into the default folder; a folder given to `serve --data` is used as it is.
        configuration.fetchesMissingData = desk.dataDirectory == nil
        configuration.commandLine = "backprop train " + options.joined(separator: " ") + " --out \(folder.path)"
        return configuration
    }
}

/// The one training run of the studio, on a thread of its own, and what it has said so far.
final class TrainingDesk: @unchecked Sendable {
    let dataDirectory: String?
    private let lock = NSLock()
    private var current: (id: String, run: TrainingRun, log: EventLog)?

    init(dataDirectory: String?) { self.dataDirectory = dataDirectory }

    /// Starts the run `prepare` describes (called only when no run is training, so that a refused
    /// start leaves no folder behind) and returns its id (`id`, else the name of its folder); or a 409.
    func start(id given: String?, _ prepare: () throws -> RunConfiguration) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let current, !current.log.isFinished {
            throw HTTPError(.conflict, message: "run \(quoted(current.id)) is training; one run trains at a time: stop it or wait for it")
        }
        let configuration = try prepare()
        let id = given ?? URL(fileURLWithPath: configuration.outDirectory ?? "run").lastPathComponent
        let log = EventLog()
        let run = TrainingRun(configuration) { text in log.append("line", ["text": text]) }
        var batches = 0
        run.onBatch = { progress in
            batches += 1
            guard batches % 10 == 0 || progress.batch == progress.batchCount else { return }
            log.append("progress", Progress(epoch: progress.epoch, batch: progress.batch, batches: progress.batchCount,
                                            loss: progress.runningLoss, accuracy: progress.runningAccuracy))
        }
        run.onEpoch = { metrics, _ in log.append("epoch", metrics) }
        current = (id, run, log)
        let thread = Thread {
            do {
                let result = try run.execute()
                log.finish("end", End(message: "finished: best \(configuration.evaluated) accuracy \(formatted(result.bestAccuracy, 2))%"))
            } catch let stopped as StoppedError {
                log.finish("stopped", End(message: stopped.description))
            } catch {
                // A run that failed before its first epoch (no data, say) leaves no folder behind.
                if configuration.resumeFrom == nil, let path = configuration.outDirectory,
                   !FileManager.default.fileExists(atPath: RunFolder(path).metricsPath) {
                    for name in ["command.txt", "model.json"] { try? FileManager.default.removeItem(atPath: RunFolder(path).file(name)) }
                    if (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true {
                        try? FileManager.default.removeItem(atPath: path)
                    }
                }
                log.finish("failed", End(message: "\(error)"))
            }
        }
        thread.name = "backprop-training"
        thread.start()
        return id
    }

    struct Progress: Encodable { var epoch, batch, batches: Int; var loss, accuracy: Double }
    struct End: Encodable { var message: String }

    /// The events of run `id`, or a 404 when it was not started from this page since the server started.
    func log(of id: String) throws -> EventLog {
        lock.lock()
        defer { lock.unlock() }
        guard let current, current.id == id else {
            throw HTTPError(.notFound, message: "run \(quoted(id)): not started from this page since the server started; its finished epochs are in GET /api/runs")
        }
        return current.log
    }

    func stop(_ id: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard let current, current.id == id else {
            throw HTTPError(.notFound, message: "run \(quoted(id)): not started from this page since the server started")
        }
        guard !current.log.isFinished else { throw HTTPError(.conflict, message: "run \(quoted(id)): not training") }
        current.run.stop()
    }
}

/// Server-Sent Events, kept from the start of a run so that a page that connects late still
/// sees them all.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []
    private var finished = false

    var isFinished: Bool { lock.lock(); defer { lock.unlock() }; return finished }

    func append<Value: Encodable>(_ kind: String, _ value: Value) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A diverging run's last loss may be infinite or NaN: JavaScript's Number() reads these.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        // One line of data: JSON escapes newlines inside strings.
        let event = "event: \(kind)\ndata: " + String(decoding: data, as: UTF8.self) + "\n\n"
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    func finish<Value: Encodable>(_ kind: String, _ value: Value) {
        append(kind, value)
        lock.lock()
        finished = true
        lock.unlock()
    }

    /// The events after the first `count`, and whether the run has ended (no more will come).
    func events(after count: Int) -> ([String], Bool) {
        lock.lock()
        defer { lock.unlock() }
        return (Array(events.dropFirst(count)), finished)
    }
}
