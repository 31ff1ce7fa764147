import Foundation
import Formats
import NN

/// The folder of one training run and the files `backprop train` keeps in it, all rewritten
/// atomically after every epoch: `metrics.jsonl`, `model.safetensors`, `training-state.safetensors`,
/// `curves.svg/png`, `misclassified.svg/png`, and, written once at the start, `command.txt` (the
/// command that started it) and `model.json` (the model file, so that eval, predict and --resume
/// need nothing else).
public struct RunFolder: Sendable {
    public let path: String
    public init(_ path: String) { self.path = path }

    public static let fileNames = ["command.txt", "model.json", "metrics.jsonl", "model.safetensors", TrainingState.fileName,
                                   "curves.svg", "curves.png", "misclassified.svg", "misclassified.png"]

    public func file(_ name: String) -> String { path + "/" + name }
    public var metricsPath: String { file("metrics.jsonl") }
    public var checkpointPath: String { file("model.safetensors") }
    public var statePath: String { file(TrainingState.fileName) }
    public var modelFilePath: String { file("model.json") }

    /// The model the run trained, called `name` in its state or checkpoint: its model.json, or
    /// for runs from before model files, the shipped model of that name. A model.json naming
    /// another model is refused.
    public func model(named name: String) throws -> ModelDefinition {
        guard FileManager.default.fileExists(atPath: modelFilePath) else {
            guard let shipped = Models.named(name) else {
                throw RunFolderError("\(path): no model.json, and \(quoted(name)) is not a shipped model (\(Models.all.map(\.name).joined(separator: ", ")))")
            }
            return shipped
        }
        let definition = try ModelFile.read(modelFilePath, defaultName: name)
        guard definition.name == name else {
            throw RunFolderError("\(modelFilePath): a model called \(quoted(definition.name)), but the run trained \(quoted(name))")
        }
        return definition
    }

    /// The epochs recorded so far (none when there is no metrics.jsonl yet).
    public func metrics() throws -> [EpochMetrics] {
        guard FileManager.default.fileExists(atPath: metricsPath) else { return [] }
        let bytes = try BoundedFile.read(metricsPath, limit: 1 << 24)
        return try bytes.split(separator: UInt8(ascii: "\n")).enumerated().map { index, line in
            do { return try JSONDecoder().decode(EpochMetrics.self, from: Data(line)) }
            catch { throw RunFolderError("\(metricsPath): line \(index + 1) is not an epoch's metrics") }
        }
    }

    func writeMetrics(_ metrics: [EpochMetrics]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let lines = try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: metricsPath)
    }

    /// Makes `path` the folder of a new run: creates it (and its parents) if it does not exist;
    /// refuses it if it exists and holds anything, unless `replacing`, which first removes what an
    /// earlier run left there (its files only; anything else makes it refuse too). A link, or
    /// anything but a folder, is refused.
    public static func create(_ path: String, replacing: Bool) throws -> RunFolder {
        let folder = RunFolder(path)
        try AtomicFile.prepareDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        if mkdir(path, 0o755) == 0 { return folder }
        guard errno == EEXIST else {
            throw RunFolderError("\(path): the folder cannot be created (\(String(cString: strerror(errno))))")
        }
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw RunFolderError("\(path): exists and is not a folder (or is a link)")
        }
        let manager = FileManager.default
        let contents = (try? manager.contentsOfDirectory(atPath: path)) ?? []
        if !contents.isEmpty {
            guard replacing else {
                throw RunFolderError("\(path): the folder is not empty (an earlier run?); choose another --out, or --force to replace that run")
            }
            if let stranger = contents.first(where: { !fileNames.contains($0) && !$0.hasPrefix(".") }) {
                throw RunFolderError("\(path): holds \(quoted(stranger)), which no run writes; not replacing it")
            }
            for name in fileNames { try? manager.removeItem(atPath: folder.file(name)) }
        }
        guard access(path, W_OK) == 0 else { throw RunFolderError("\(path): the folder is not writable") }
        return folder
    }

    /// A new, empty folder `<parent>/<name>`, or `<name>-2`, `-3`, … if that exists: each is
    /// created with one mkdir, so two runs started at the same moment never share one.
    public static func createUnique(in parent: String, name: String) throws -> RunFolder {
        try AtomicFile.prepareDirectory(parent)
        for attempt in 1...10_000 {
            let path = parent + "/" + (attempt == 1 ? name : "\(name)-\(attempt)")
            if mkdir(path, 0o755) == 0 { return RunFolder(path) }
            guard errno == EEXIST else {
                throw RunFolderError("\(path): the folder cannot be created (\(String(cString: strerror(errno))))")
            }
        }
        throw RunFolderError("\(parent): no free name for a new run folder \(name)")
    }
}

/// A problem with a run folder, in one line.
public struct RunFolderError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
