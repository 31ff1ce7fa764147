import Foundation
import Formats
import Hummingbird
import NN
import Training

/// The training runs under one folder, named by their path inside it ("s6-1", "results/s6-seed1"):
/// a name from a request is only ever used as a path after it has been checked to stay inside
/// that folder, symbolic links included.
struct RunCatalog: Sendable {
    let root: String

    /// How deep under the root runs are looked for, and how many folders are looked at, at most.
    static let searchDepth = 3, searchLimit = 5_000

    struct Entry: Sendable {
        var id: String
        var folder: RunFolder
        /// The model's name, from the run's model.json (nil for runs from before model files).
        var model: String?
        var hasCheckpoint: Bool
        /// When its metrics or checkpoint last changed.
        var modified: Date
    }

    /// Every folder under the root that holds a run (a metrics.jsonl or a model.safetensors),
    /// newest first.
    func entries() -> [Entry] {
        let manager = FileManager.default
        let rootURL = URL(fileURLWithPath: root).standardizedFileURL
        var found: [Entry] = []
        var visited = 0
        var queue: [(path: String, depth: Int)] = [("", 0)]
        while let next = queue.popLast(), visited < Self.searchLimit {
            let (relative, depth) = next
            visited += 1
            let folder = relative.isEmpty ? rootURL.path : rootURL.path + "/" + relative
            guard let names = try? manager.contentsOfDirectory(atPath: folder) else { continue }
            let run = RunFolder(folder)
            let metrics = manager.fileExists(atPath: run.metricsPath), checkpoint = manager.fileExists(atPath: run.checkpointPath)
            if !relative.isEmpty && (metrics || checkpoint) {
                let dates = [run.metricsPath, run.checkpointPath].compactMap {
                    (try? manager.attributesOfItem(atPath: $0))?[.modificationDate] as? Date
                }
                let model = (try? ModelFile.read(run.modelFilePath))?.name
                found.append(Entry(id: relative, folder: run, model: model, hasCheckpoint: checkpoint,
                                   modified: dates.max() ?? .distantPast))
                continue
            }
            guard depth < Self.searchDepth else { continue }
            for name in names.sorted() where Self.isSafeComponent(name) {
                var isFolder: ObjCBool = false
                if manager.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder), isFolder.boolValue {
                    queue.append((relative.isEmpty ? name : relative + "/" + name, depth + 1))
                }
            }
        }
        return found.sorted { ($0.modified, $0.id) > ($1.modified, $1.id) }
    }

    /// A name a run id may be made of: letters, digits, '.', '_', '-', not starting with a dot.
    static func isSafeComponent(_ name: Substring) -> Bool {
        !name.isEmpty && name.count <= 100 && name.first != "."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
    static func isSafeComponent(_ name: String) -> Bool { isSafeComponent(name[...]) }

    /// The run called `id`, or a 400 (not a run name) or 404 (no such run inside the root).
    func run(_ id: String) throws -> RunFolder {
        let components = id.split(separator: "/", omittingEmptySubsequences: false)
        guard id.count <= 300, components.count <= Self.searchDepth, components.allSatisfy(Self.isSafeComponent) else {
            throw HTTPError(.badRequest, message: "run \(quoted(id)): not a run name; expected a path inside the runs folder such as \"s6-1\" or \"results/s6-seed1\"")
        }
        let rootPath = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        let path = URL(fileURLWithPath: root + "/" + id).resolvingSymlinksInPath().path
        var isFolder: ObjCBool = false
        guard path.hasPrefix(rootPath + "/"), FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            throw HTTPError(.notFound, message: "run \(quoted(id)): no such run in \(root)")
        }
        return RunFolder(path)
    }
}
