import ArgumentParser
import Dispatch
import Foundation
import Studio

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "A local web page to see backprop happen: the 2-2-2 network to edit and step, a digit to draw, the training runs.",
        discussion: """
        Everything is served by this process (no CDN, works offline); the page's API is described at /openapi.json. \
        Bodies are limited to \(Studio.jsonBodyLimit >> 10) KiB of JSON, \(Studio.imageBodyLimit >> 20) MiB per image and \
        \(Studio.workbookBodyLimit >> 20) MiB per workbook. There is no login: keep --host on this machine unless you mean otherwise.
        """)

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0: any free port, printed at start).") var port = 8080
    @Option(help: "The folder of training runs the page lists and classifies with.") var runs = "runs"
    @Option(help: "The run the digit page starts with, a folder inside --runs (default: the newest s6 run).") var checkpoint: String?
    @Option(help: "Folder of MNIST's IDX files for runs started from the page (default data/mnist, fetched if missing).") var data: String?

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port: expected 0 to 65535, got \(port)") }
        guard !host.isEmpty else { throw ValidationError("--host: expected an address such as 127.0.0.1") }
    }

    func run() throws {
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        if !loopback {
            FileHandle.standardError.write(Data("backprop: warning: listening on \(host): anyone who can reach it can use the studio (there is no login)\n".utf8))
        }
        let settings = StudioSettings(runsFolder: runs, defaultCheckpoint: checkpoint, dataDirectory: data,
                                      loopbackOnly: loopback)
        let host = host
        let application = Studio.application(settings: settings, host: host, port: port) { port in
            let shown = host.contains(":") ? "[\(host)]" : host
            print("backprop studio: http://\(shown):\(port)/  (Ctrl-C stops it)")
            fflush(stdout)
        }
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task {
            do { try await application.runService() } catch { failure = error }
            finished.signal()
        }
        finished.wait()
        if let failure { throw ValidationError("cannot serve on \(host):\(port): \(failure)") }
    }
}
