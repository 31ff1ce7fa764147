import ArgumentParser
import Foundation
import Formats
import NN

/// The tracer's Python source (import_tracer.py beside this file, embedded when building).
let importTracer = String(decoding: PackageResources.import_tracer_py, as: UTF8.self)

/// `backprop import notebook.py:Net`: a learner's PyTorch class, traced by PyTorch itself
/// (torch.fx, in `importTracer` above), written as a model file with the class's own attribute
/// names, so that a checkpoint backprop trains loads back into the class with strict=True.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write a model file from a PyTorch class (FILE.py:CLASS), traced by PyTorch itself; needs PyTorch (scripts/setup-torch).")

    @Argument(help: "The Python file and the class in it, e.g. notebook_model.py:Net (constructible without arguments).")
    var module: String
    @Option(help: "The model file to write (default: the class's name in lower case, .json).") var out: String?
    @Option(help: "The model's name, which runs are named after (default: the model file's name).") var name: String?
    @Flag(help: "Replace --out if it exists.") var force = false

    /// How long tracing may take (importing torch takes a few seconds).
    static let timeLimit: TimeInterval = 300

    func run() throws {
        guard let colon = module.lastIndex(of: ":"), module[module.index(after: colon)...].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
              colon != module.startIndex, module.index(after: colon) != module.endIndex else {
            throw ValidationError("\(quoted(module)): expected FILE.py:CLASS, e.g. notebook_model.py:Net")
        }
        let file = String(module[..<colon]), className = String(module[module.index(after: colon)...])
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), !isFolder.boolValue else {
            throw ValidationError("\(quoted(file)): no such file; expected the Python file that defines \(className)")
        }
        let out = self.out ?? className.lowercased() + ".json"
        if !force && FileManager.default.fileExists(atPath: out) {
            throw ValidationError("\(out) exists; choose another --out, or add --force to replace it")
        }
        let modelName = name ?? URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent
        let text = try trace(file: file, className: className, modelName: modelName)
        let definition: ModelDefinition
        do { definition = try ModelFile.parse(text, source: "\(module), traced") } catch let error as ModelError {
            throw ValidationError(error.description)
        }
        try AtomicFile.write(text, to: out)
        let model = definition.makeModel()
        print(ModelSummary(model: model).render(batchSize: definition.recipe.batchSize), terminator: "")
        print("Wrote \(out): \(model.network.leaves.count) layers, \(grouped(model.parameterCount)) parameters, as PyTorch counts them.")
        print("Next: backprop summary --model \(out) --rules s6; backprop train --model \(out)")
    }

    /// Runs the tracer with a Python that has torch; its one-line error becomes ours.
    func trace(file: String, className: String, modelName: String) throws -> String {
        let python = torchPython()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-P", "-c", importTracer, file, className, "--name", modelName]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ValidationError("cannot run \(python) (\(error)); backprop import needs Python with PyTorch: run scripts/setup-torch")
        }
        // Past the time limit: SIGTERM, and SIGKILL a few seconds later if it is still there.
        let started = Date()
        let watchdog = DispatchWorkItem {
            process.terminate()
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.timeLimit, execute: watchdog)
        // Read both pipes at once, so that neither fills while the other is read; each at most
        // `outputLimit` bytes (the tracer prints a model file, or one line).
        final class Received: @unchecked Sendable { var data = Data() }
        let received = Received()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { received.data = Self.read(errors, process: process) }
        let outputData = Self.read(output, process: process)
        group.wait()
        let errorData = received.data
        process.waitUntilExit()
        watchdog.cancel()
        let message = String(decoding: errorData, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("error: ") }
        switch (process.terminationReason, process.terminationStatus) {
        case (.exit, 0):
            return String(decoding: outputData, as: UTF8.self)
        case (.exit, 3):
            throw ValidationError("backprop import needs PyTorch, which \(python) does not have: run scripts/setup-torch (or set BACKPROP_PYTHON to a Python with torch)")
        case (.exit, 127):
            throw ValidationError("cannot run \(python): backprop import needs Python 3.11 or later with PyTorch: run scripts/setup-torch (or set BACKPROP_PYTHON)")
        case (.uncaughtSignal, _) where Date().timeIntervalSince(started) >= Self.timeLimit:
            throw ValidationError("\(module): tracing took more than \(Int(Self.timeLimit)) s; stopped")
        default:
            throw ValidationError("\(module): " + (message.map { String($0.dropFirst("error: ".count)) }
                                                  ?? "the tracer failed (\(python) ended with status \(process.terminationStatus); it needs Python 3.11 or later with PyTorch)"))
        }
    }

    /// The most bytes read from each of the tracer's outputs: a model file's limit.
    static let outputLimit = ModelFile.sizeLimit

    /// Everything `pipe` carries until it closes, or, past `outputLimit`, what came so far (the
    /// process is stopped; its output then fails as a model file).
    static func read(_ pipe: Pipe, process: Process) -> Data {
        var data = Data()
        let handle = pipe.fileHandleForReading
        while let chunk = try? handle.read(upToCount: 65_536), !chunk.isEmpty {
            data.append(chunk)
            if data.count > outputLimit {
                process.terminate()
                break
            }
        }
        return data
    }
}

/// The Python to trace with: BACKPROP_PYTHON, else the .venv-torch that scripts/setup-torch makes
/// (in the current folder, or in the checkout this binary was built in, found from its path),
/// else python3.
func torchPython() -> String {
    if let chosen = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"], !chosen.isEmpty { return chosen }
    var folders = [FileManager.default.currentDirectoryPath]
    if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<5 {   // .build/x86_64-unknown-linux-gnu/release/backprop
            folder = folder.deletingLastPathComponent()
            folders.append(folder.path)
        }
    }
    for folder in folders {
        let candidate = folder + "/.venv-torch/bin/python"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return "python3"
}
