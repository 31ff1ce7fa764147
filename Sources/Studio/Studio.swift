import Formats
import Foundation
import Hummingbird
import Logging

/// `backprop serve`: a web page, served by this process on the learner's machine, where Part 1's
/// numbers and Part 2's network can be seen, touched and questioned. The page (plain HTML, CSS
/// and JavaScript in `Page/`, compiled into the binary: nothing is fetched from elsewhere) calls
/// the JSON API below, which calls the engine in process.
///
///     GET  /                      the page            GET /openapi.json   the API, described
///     POST /api/sheet             Part 1 rows         POST /api/explain   one iteration, worked
///     POST /api/workbook          the .xlsx           POST /api/check     a learner's workbook checked
///     POST /api/check/picture     its cell map (SVG)  GET  /api/runs      run folders and their curves
///     POST /api/predict?checkpoint=RUN                a drawn digit classified
///     GET  /api/models            the shipped models  POST /api/runs      start training (one at a time)
///     GET  /api/runs/{id}/events  a run as it trains  POST /api/runs/{id}/stop, /resume
///
/// Bad input of any kind is a 4xx with `{"error": {"message": "one line"}}`, never a 5xx.
public struct StudioSettings: Sendable {
    /// The folder of training runs: the digit page's checkpoints and the runs page's curves.
    public var runsFolder: String
    /// The checkpoint the digit page starts with (a run id inside `runsFolder`); nil: the newest s6 run.
    public var defaultCheckpoint: String?
    /// The folder of MNIST's IDX files for runs started from the page (nil: data/mnist, fetched if missing).
    public var dataDirectory: String?

    /// Served on this machine only (`--host` 127.0.0.1, localhost or ::1): requests must then name
    /// it as their Host, which keeps out web pages that rebind a name of theirs to 127.0.0.1.
    public var loopbackOnly: Bool

    public init(runsFolder: String = "runs", defaultCheckpoint: String? = nil, dataDirectory: String? = nil,
                loopbackOnly: Bool = true) {
        self.runsFolder = runsFolder; self.defaultCheckpoint = defaultCheckpoint; self.dataDirectory = dataDirectory
        self.loopbackOnly = loopbackOnly
    }
}

public enum Studio {
    /// The largest request bodies: JSON for Part 1, an image to classify, a workbook to check.
    public static let jsonBodyLimit = 64 << 10
    public static let imageBodyLimit = 8 << 20
    public static let workbookBodyLimit = 16 << 20
    /// The most pixels of an image to classify (a 2,048×2,048 photo): its decoding and centring
    /// take about 40 bytes a pixel, so a few requests at once stay far below the machine's memory.
    public static let imagePixelLimit = 1 << 22

    /// Every route, over the engine; tests call it without a socket (HummingbirdTesting's `.router`).
    public static func router(settings: StudioSettings) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OneLineErrors())
        router.add(middleware: OwnPageOnly(loopbackOnly: settings.loopbackOnly))
        Page.addRoutes(to: router)
        Part1API.addRoutes(to: router)
        let runs = RunCatalog(root: settings.runsFolder)
        DigitAPI(runs: runs, defaultCheckpoint: settings.defaultCheckpoint).addRoutes(to: router)
        RunsAPI(runs: runs).addRoutes(to: router)
        TrainingAPI(runs: runs, desk: TrainingDesk(dataDirectory: settings.dataDirectory)).addRoutes(to: router)
        return router
    }

    /// The server on `host`:`port`; `onServerRunning` is called with the port it listens on (the
    /// one chosen by the system when `port` is 0).
    public static func application(settings: StudioSettings, host: String, port: Int,
                                   onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        var logger = Logger(label: "backprop-serve")
        logger.logLevel = .warning
        return Application(router: router(settings: settings),
                           configuration: .init(address: .hostname(host, port: port), serverName: "backprop"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}

/// Turns whatever a handler throws into a client error of one line: an `HTTPError` keeps its
/// status, anything else the engine throws (a bad file, a bad value) is a 400 with its message.
/// Only a body that is too large keeps NIO's 413; nothing the client sends can produce a 5xx.
struct OneLineErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            var error = error
            if error.status == .notFound && error.body == nil {
                error.body = "no \(request.method) \(request.uri.path) here; the API is described at /openapi.json"
            }
            error.body = error.body.map(oneLine)
            throw error
        } catch let error as HTTPResponseError {
            throw HTTPError(error.status, message: error.status == .contentTooLarge
                                ? "the request body is larger than this endpoint takes" : error.status.reasonPhrase)
        } catch {
            throw HTTPError(.badRequest, message: oneLine("\(error)"))
        }
    }
}

/// Only this server's own page may use the API: a request a browser sends from another site (its
/// `Origin` is not this server) is refused, so a web page elsewhere cannot start training or read
/// the runs; and on loopback the `Host` must be a loopback name, which keeps out pages that rebind
/// a name of theirs to 127.0.0.1. Requests from programs (curl, scripts), which send no `Origin`, pass.
struct OwnPageOnly<Context: RequestContext>: RouterMiddleware {
    let loopbackOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // HTTP/1's Host header arrives as the request's authority.
        if let refusal = RequestOrigin.refusal(host: request.head.authority, origin: request.headers[.origin],
                                               loopbackOnly: loopbackOnly) {
            throw HTTPError(.forbidden, message: refusal)
        }
        return try await next(request, context)
    }
}

public enum RequestOrigin {
    static let loopbackNames: Set<String> = ["127.0.0.1", "localhost", "[::1]", "::1"]

    /// Why a request naming `host` and sent from a page at `origin` is refused, or nil.
    public static func refusal(host: String?, origin: String?, loopbackOnly: Bool) -> String? {
        if loopbackOnly, let host, !loopbackNames.contains(hostName(host).lowercased()) {
            return "Host \(quoted(host)): this server answers requests to 127.0.0.1 or localhost only"
        }
        if let origin, origin != "null", let host, authority(origin) != host.lowercased() {
            return "a request from \(quoted(origin)): this API answers its own page only"
        }
        return nil
    }

    /// "127.0.0.1:8080" → "127.0.0.1", "[::1]:8080" → "[::1]".
    static func hostName(_ host: String) -> String {
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") { return String(host[...end]) }
        return String(host.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// "http://127.0.0.1:8080" → "127.0.0.1:8080".
    static func authority(_ origin: String) -> String {
        let afterScheme = origin.range(of: "://").map { origin[$0.upperBound...] } ?? origin[...]
        return afterScheme.split(separator: "/", maxSplits: 1).first.map { String($0).lowercased() } ?? ""
    }
}

/// `text` on one line (newlines become spaces), at most 500 characters.
func oneLine(_ text: String) -> String {
    let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    return flat.count > 500 ? String(flat.prefix(499)) + "…" : flat
}

/// The query parameter `name` of the request, if given.
func query(_ request: Request, _ name: String) -> String? {
    request.uri.queryParameters.get(name).map { String($0) }
}

/// The request's body, at most `limit` bytes, or a 413 naming the limit.
func body(of request: Request, limit: Int, what: String) async throws -> [UInt8] {
    do {
        var buffer = try await request.body.collect(upTo: limit)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    } catch is HTTPResponseError {
        throw HTTPError(.contentTooLarge, message: "the body is larger than \(limit >> 10) KiB; expected \(what) of at most that")
    }
}

/// A response with these bytes and this content type.
func response(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: type]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// A JSON response of this text.
func jsonResponse(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    response(Array(text.utf8), type: "application/json; charset=utf-8", status: status)
}

/// A JSON response of this value (keys sorted, so that responses are byte-for-byte repeatable).
func jsonResponse<Value: Encodable>(encoding value: Value, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return response(Array(try encoder.encode(value)), type: "application/json; charset=utf-8", status: status)
}
