import Data
import Foundation
import Formats
import Kernels
import NN
import Testing
import Training

/// The engine against an independent one: for every shipped model, PyTorch (the twin built by
/// scripts/torch_twin.py from the same architecture, loading the same safetensors weights) must
/// give the same eval-mode log-probabilities, the same training-mode gradients of every parameter
/// and the same BatchNorm running statistics after the step's forward pass.
@Suite("Agreement with PyTorch", .serialized)
struct TorchAgreementTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The Python with torch and safetensors: BACKPROP_TORCH_PYTHON, or the venv scripts/test makes.
    static var python: String? {
        let candidates = [ProcessInfo.processInfo.environment["BACKPROP_TORCH_PYTHON"], root + "/.venv-torch/bin/python"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(arguments: Models.all.map(\.name))
    func sameLogitsGradientsAndStatistics(model name: String) throws {
        guard let python = Self.python else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("no Python with torch: scripts/test creates .venv-torch; set BACKPROP_TORCH_PYTHON otherwise")
            } else { print("skipped: no Python with torch (.venv-torch or BACKPROP_TORCH_PYTHON)") }
            return
        }
        // A batch that comes within float32 rounding of a ReLU or max-pool kink has no
        // well-defined float32 gradient (torch_twin.py exits 3): try the next inputs.
        for inputs in UInt64(5)..<UInt64(15) {
            let (status, report) = try Self.compare(model: name, inputs: inputs, python: python)
            if status == 3 { continue }
            print("PyTorch twin of \(name) (inputs \(inputs)): \(report)")
            #expect(status == 0, "\(name): \(report)")
            return
        }
        Issue.record("\(name): every batch tried came too close to a kink")
    }

    /// The notebook styles of Tests/Fixtures/notebook-models, each traced by `backprop import`'s
    /// tracer into a model file: the engine built from that file computes what the learner's own
    /// class computes (log-probabilities, gradients, statistics), and counts the same parameters.
    static let notebookModels = ["sequential_blocks", "functional_forward", "linear_after_gap", "strided", "dilated", "depthwise_separable"]

    @Test(arguments: notebookModels)
    func importedModelsAgreeWithTheirOwnClass(fixture: String) throws {
        guard let python = Self.python else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("no Python with torch: scripts/test creates .venv-torch") }
            return
        }
        let module = Self.root + "/Tests/Fixtures/notebook-models/\(fixture).py:Net"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-P", Self.root + "/Sources/backprop/import_tracer.py", module.replacingOccurrences(of: ":Net", with: ""), "Net"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(message)")
        let definition = try ModelFile.parse(text, source: fixture)
        let stated = try #require((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["parameters"] as? Int)
        #expect(definition.makeModel().parameterCount == stated, "PyTorch counts \(stated)")
        for inputs in UInt64(5)..<UInt64(15) {
            let (status, report) = try Self.compare(definition, module: module, inputs: inputs, python: python)
            if status == 3 { continue }
            print("\(fixture).py:Net against the engine (inputs \(inputs)): \(report)")
            #expect(status == 0, "\(fixture): \(report)")
            return
        }
        Issue.record("\(fixture): every batch tried came too close to a kink")
    }

    /// Writes what the engine computes for a batch drawn from `inputs` and lets the twin compare;
    /// returns the script's exit status and report.
    static func compare(model name: String, inputs: UInt64, python: String) throws -> (Int32, String) {
        try compare(Models.named(name)!, module: nil, inputs: inputs, python: python)
    }

    /// The same for any model; with `module` (FILE.py:Class) the twin is the learner's own class.
    static func compare(_ definition: ModelDefinition, module: String?, inputs: UInt64, python: String) throws -> (Int32, String) {
        let folder = NSTemporaryDirectory() + "backprop-twin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let model = definition.makeModel()
        model.initialize(seed: 11)
        // Train two steps first, so BatchNorm's statistics and weights are not at their defaults.
        var random = Random(seed: inputs)
        let n = 4
        let images = (0..<(n * 784)).map { _ in random.uniform(-0.5, 2.5) }
        let labels = (0..<n).map { $0 % 10 }
        let bytes = (0..<(2 * n * 784)).map { _ in UInt8(random.below(256)) }
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: n, learningRate: 0.05, momentum: 0.9),
                              stepsPerEpoch: 2, seed: 1)
        _ = try trainer.trainEpoch(on: loader(Dataset(rows: 28, columns: 28, images: bytes, labels: labels + labels), batchSize: n))
        try Checkpoint.save(model, to: folder + "/model.safetensors")
        try model.architectureJSON().write(toFile: folder + "/architecture.json", atomically: true, encoding: .utf8)

        let input = Tensor(shape: [n, 1, 28, 28], values: images)
        let evaluation = model.forward(input, context: Context(training: false)).values
        for (_, layer) in model.network.leaves { (layer as? Dropout)?.probability = 0 }   // no two engines draw the same masks
        model.zeroGradients()
        let context = Context(training: true)
        let output = model.forward(input, context: context)
        let gradient = Tensor(shape: [0])
        let loss = NLLLoss.evaluate(logProbabilities: output, labels: labels[...], gradient: gradient)
        model.backward(gradient, context: context)

        var tensors: [SafetensorsFile.Tensor] = [
            .init(name: "input", shape: [n, 1, 28, 28], floats: images),
            .init(name: "labels", shape: [n], integers: labels.map(Int64.init)),
            .init(name: "eval_logprobs", shape: [n, 10], floats: evaluation),
            .init(name: "train_logprobs", shape: [n, 10], floats: output.values),
            .init(name: "loss", shape: [], floats: [loss]),
        ]
        for (parameterName, parameter) in model.parameters {
            tensors.append(.init(name: "grad." + parameterName, shape: parameter.gradient.shape, floats: parameter.gradient.values))
        }
        for entry in model.stateDict() where entry.name.hasSuffix("running_mean") || entry.name.hasSuffix("running_var") {
            tensors.append(.init(name: "after." + entry.name, shape: entry.shape, floats: entry.values))
        }
        try SafetensorsFile(tensors: tensors).write(to: folder + "/expected.safetensors")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root + "/scripts/torch_twin.py", "agree", folder] + (module.map { ["--module", $0] } ?? [])
        let output_ = Pipe()
        process.standardOutput = output_
        process.standardError = output_
        try process.run()
        let report = String(decoding: output_.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, report.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
