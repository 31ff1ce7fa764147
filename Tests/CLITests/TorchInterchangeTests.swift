import Foundation
import Testing

/// Weights cross between the engine and PyTorch in both directions, through the files and commands
/// a user has: for every shipped model, on all 10,000 MNIST test images,
/// - weights trained by `backprop train` and read by the PyTorch twin (`load_state_dict`, strict)
///   give the same log-probabilities (within 1e-4) and the same accuracy as `backprop eval`;
/// - weights initialised and trained by PyTorch alone, saved by the `safetensors` package, read by
///   `backprop eval --model` give PyTorch's log-probabilities and accuracy.
/// `scripts/torch_twin.py check --compare` does the comparing and exits 1 if they disagree.
@Suite("Weights interchanged with PyTorch", .serialized)
struct TorchInterchangeTests {
    static var python: String? {
        let candidates = [ProcessInfo.processInfo.environment["BACKPROP_TORCH_PYTHON"], packageRoot + "/.venv-torch/bin/python"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func twin(_ arguments: [String], python: String) throws -> Backprop.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [packageRoot + "/scripts/torch_twin.py"] + arguments + ["--backprop", Backprop.executable]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Backprop.Result(status: process.terminationStatus, output: text, errors: "")
    }

    /// The accuracy in a "Test set: ... Accuracy: 9876/10000 (98.76%)" line.
    static func accuracy(in text: String) -> String? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("Test set:") }),
              let found = line.range(of: "Accuracy: ") else { return nil }
        return String(line[found.upperBound...].prefix { $0 != " " })
    }

    static let models = ["s6", "s7", "s5k", "s4k", "seed-erav2", "seed-erav1"]

    @Test func everyShippedModelIsCovered() throws {
        let list = try Backprop.run(["summary", "--list"])
        let shipped = list.output.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(Set(shipped) == Set(Self.models), "backprop summary --list: \(list.output)")
    }

    static var prerequisites: String? {
        guard TrainCommandTests.hasMNIST else { return "data/mnist is missing" }
        guard python != nil else { return "no Python with torch (.venv-torch or BACKPROP_TORCH_PYTHON)" }
        return nil
    }

    static func skipOrFail() -> Bool {
        guard let missing = prerequisites else { return false }
        if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("\(missing): scripts/test provides it") }
        else { print("skipped: \(missing)") }
        return true
    }

    @Test(arguments: models)
    func swiftWeightsGiveTheSamePredictionsInPyTorch(model: String) throws {
        if Self.skipOrFail() { return }
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.trainAndCompare(model: model, in: folder, twinArguments: [], label: "\(model), backprop → PyTorch")
    }

    /// Trains `model` for an epoch on 1,280 images, evaluates the checkpoint on the whole test set
    /// and has the twin (`check`, with `twinArguments`) load it and compare, expecting agreement.
    static func trainAndCompare(model: String, in folder: String, twinArguments: [String], label: String) throws {
        let train = try Backprop.run(["train", "--model", model, "--epochs", "1", "--train-limit", "1280", "--test-limit", "100",
                                      "--data", TrainCommandTests.mnist, "--out", folder + "/run"])
        try #require(train.status == 0, "\(train.errors)")
        let checkpoint = folder + "/run/model.safetensors"
        let eval = try Backprop.run(["eval", "--checkpoint", checkpoint, "--data", TrainCommandTests.mnist,
                                     "--save-outputs", folder + "/swift-outputs.safetensors"])
        try #require(eval.status == 0, "\(eval.errors)")
        let twin = try twin(["check", checkpoint, "--compare", folder + "/swift-outputs.safetensors",
                             "--data", TrainCommandTests.mnist] + twinArguments, python: python!)
        print("\(label):\n\(twin.output)")
        #expect(twin.status == 0, "\(twin.output)")
        #expect(accuracy(in: eval.output) != nil && accuracy(in: eval.output) == accuracy(in: twin.output))
    }

    @Test(arguments: models)
    func pytorchWeightsGiveTheSamePredictionsInBackprop(model: String) throws {
        if Self.skipOrFail() { return }
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let weights = folder + "/from-pytorch.safetensors"
        let export = try Self.twin(["export", model, weights, "--steps", "20", "--data", TrainCommandTests.mnist],
                                   python: Self.python!)
        try #require(export.status == 0, "\(export.output)")
        // The file names no model (safetensors.torch.save_file without metadata): --model says which.
        let eval = try Backprop.run(["eval", "--checkpoint", weights, "--model", model, "--data", TrainCommandTests.mnist,
                                     "--save-outputs", folder + "/swift-outputs.safetensors"])
        try #require(eval.status == 0, "\(eval.errors)")
        let check = try Self.twin(["check", weights, "--model", model, "--compare", folder + "/swift-outputs.safetensors",
                                   "--data", TrainCommandTests.mnist], python: Self.python!)
        print("\(model), PyTorch → backprop:\n\(export.output)\(check.output)")
        #expect(check.status == 0, "\(check.output)")
        #expect(Self.accuracy(in: eval.output) != nil && Self.accuracy(in: eval.output) == Self.accuracy(in: export.output))
    }

    /// A learner's own PyTorch class, in each notebook style: `backprop import` writes its model
    /// file, `backprop train` trains it, and the class itself loads the checkpoint (strict) and
    /// gives the same log-probabilities and accuracy on the 10,000 test images as `backprop eval`.
    @Test(arguments: ["sequential_blocks", "functional_forward", "linear_after_gap", "strided", "dilated", "depthwise_separable"])
    func aLearnersClassLoadsTheCheckpointBackpropTrained(fixture: String) throws {
        if Self.skipOrFail() { return }
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let module = packageRoot + "/Tests/Fixtures/notebook-models/\(fixture).py:Net"
        let imported = try Backprop.run(["import", module, "--out", folder + "/net.json"],
                                        environment: ["BACKPROP_PYTHON": Self.python!])
        try #require(imported.status == 0, "\(imported.errors)")
        #expect(imported.output.contains("as PyTorch counts them"), "\(imported.output)")
        try Self.trainAndCompare(model: folder + "/net.json", in: folder, twinArguments: ["--module", module],
                                 label: "\(fixture).py:Net, backprop → the learner's class")
    }

    /// What the importer refuses, it names with the line of forward; without PyTorch it says how
    /// to get it.
    @Test func importRefusalsAreOneLine() throws {
        if Self.skipOrFail() { return }
        let fixtures = packageRoot + "/Tests/Fixtures/notebook-models/"
        let cases = [("unsupported_residual", "unsupported operation + at line 19 of forward: x = x + self.conv2(x)"),
                     ("no_log_softmax", "the model must end in log_softmax")]
        for (fixture, expected) in cases {
            let folder = Backprop.temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let result = try Backprop.run(["import", fixtures + fixture + ".py:Net", "--out", folder + "/net.json"],
                                          environment: ["BACKPROP_PYTHON": Self.python!])
            #expect(result.status != 0)
            #expect(result.errors.split(separator: "\n").count == 1 && result.errors.contains(expected), "\(result.errors)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/net.json"))
        }
        let noTorch = try Backprop.run(["import", fixtures + "strided.py:Net", "--out", NSTemporaryDirectory() + "never.json"],
                                       environment: ["BACKPROP_PYTHON": "/usr/bin/python3"])
        #expect(noTorch.status != 0)
        #expect(noTorch.errors.contains("run scripts/setup-torch"), "\(noTorch.errors)")
        let badName = try Backprop.run(["import", fixtures + "strided.py"])
        #expect(badName.errors.contains("expected FILE.py:CLASS"), "\(badName.errors)")
    }
}
