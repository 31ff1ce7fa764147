import Foundation
import Testing

/// `--model path/to/net.json` through the commands, on real MNIST.
@Suite("Model files through the command line", .serialized)
struct ModelFileCommandTests {
    /// A shipped model's file trains byte for byte as the compiled model; the run folder keeps
    /// the file, and eval and --resume need nothing else.
    @Test func aShippedModelsFileTrainsAsTheCompiledModel() throws {
        try #require(TrainCommandTests.hasMNIST, "data/mnist is missing: run scripts/test")
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let common = ["--epochs", "2", "--train-limit", "2000", "--test-limit", "500", "--seed", "3", "--data", TrainCommandTests.mnist]
        let fromFile = try Backprop.run(["train", "--model", packageRoot + "/models/s7.json", "--out", folder + "/file"] + common)
        #expect(fromFile.status == 0, "\(fromFile.errors)")
        let compiled = try Backprop.run(["train", "--model", "s7", "--out", folder + "/compiled"] + common)
        #expect(compiled.status == 0, "\(compiled.errors)")
        for name in ["model.safetensors", "training-state.safetensors", "model.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/file/" + name))
            let b = try Data(contentsOf: URL(fileURLWithPath: folder + "/compiled/" + name))
            #expect(a == b, "\(name) differs")
        }
    }

    /// A network of the learner's own, written by hand: summary, rules, train, eval (from the
    /// run folder alone), and a model file that does not fit the checkpoint.
    @Test func aLearnersModelFileGoesThroughEveryCommand() throws {
        try #require(TrainCommandTests.hasMNIST, "data/mnist is missing: run scripts/test")
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/mine.json"
        try """
        {"name": "mine", "layers": [
          {"conv1": "Conv2d(1, 8, 3, bias=False)"}, {"bn1": "BatchNorm2d(8)"}, "ReLU()",
          {"conv2": "Conv2d(8, 16, 3, stride=2, padding=1, bias=False)"}, {"bn2": "BatchNorm2d(16)"}, "ReLU()", "Dropout2d(p=0.05)",
          {"conv3": "Conv2d(16, 16, 3, dilation=2, bias=False)"}, {"bn3": "BatchNorm2d(16)"}, "ReLU()",
          "AdaptiveAvgPool2d(1)", "Flatten()", {"fc": "Linear(16, 10)"}, "LogSoftmax(dim=1)"],
         "recipe": {"epochs": 3, "batch_size": 64, "lr": 0.05, "schedule": "onecycle", "max_lr": 0.1}}
        """.write(toFile: file, atomically: true, encoding: .utf8)

        let summary = try Backprop.run(["summary", "--model", file, "--rules", "s7"])
        #expect(summary.status == 0, "\(summary.errors)")
        #expect(summary.output.contains("conv2") && summary.output.contains("stride=2"), "\(summary.output)")
        #expect(summary.output.contains("✓ 3 epochs in the recipe (at most 15)"), "\(summary.output)")
        let strict = try Backprop.run(["summary", "--model", file, "--rules", "s6"])
        #expect(strict.status == 0, "\(strict.output)")   // it has BatchNorm and Dropout

        let run = folder + "/run"
        let train = try Backprop.run(["train", "--model", file, "--epochs", "1", "--train-limit", "2000", "--test-limit", "500",
                                      "--data", TrainCommandTests.mnist, "--out", run])
        #expect(train.status == 0, "\(train.errors)")
        #expect(train.output.contains("backprop train --model mine: 1 epochs, batch 64"), "\(train.output)")
        let line = try #require(train.output.split(separator: "\n").last { $0.hasPrefix("Test set: ") })
        let accuracy = line.split(separator: "Accuracy: ")[1].split(separator: " ")[0]

        try FileManager.default.removeItem(atPath: file)   // the run folder must be enough
        let eval = try Backprop.run(["eval", "--checkpoint", run + "/model.safetensors", "--data", TrainCommandTests.mnist,
                                     "--test-limit", "500"])
        #expect(eval.status == 0, "\(eval.errors)")
        #expect(eval.output.contains("Accuracy: \(accuracy)"), "\(eval.output)")
        // A model file that does not match the checkpoint names the tensor and both shapes.
        let other = folder + "/other.json"
        try String(contentsOfFile: run + "/model.json", encoding: .utf8).replacingOccurrences(of: "Conv2d(1, 8, 3", with: "Conv2d(1, 8, 5")
            .replacingOccurrences(of: "\"mine\"", with: "\"other\"").write(toFile: other, atomically: true, encoding: .utf8)
        let mismatch = try Backprop.run(["eval", "--checkpoint", run + "/model.safetensors", "--model", other, "--data", TrainCommandTests.mnist])
        #expect(mismatch.status != 0)
        #expect(mismatch.errors.contains("\"conv1.weight\" has shape [8, 1, 3, 3], model other expects [8, 1, 5, 5]"), "\(mismatch.errors)")
    }

    @Test(arguments: [
        (["summary", "--model", "nope"], "--model: unknown model \"nope\"; expected one of s6, s7, s5k, s4k, seed-erav2, seed-erav1, or a model file"),
        (["summary", "--model", "/nonexistent/net.json"], "/nonexistent/net.json"),
        (["train", "--model", "/dev/zero"], "/dev/zero"),
        (["summary", "--model", "s6", "--rules", "s8"], "--rules"),
    ])
    func badModelsAreOneLine(arguments: [String], expected: String) throws {
        let result = try Backprop.run(arguments)
        #expect(result.status != 0)
        #expect(result.errors.split(separator: "\n").count == 1 && result.errors.contains(expected), "\(result.errors)")
    }

    /// A batch whose activations would pass 4 GiB is refused before anything is read or made.
    @Test func aBatchTooLargeForMemoryIsRefused() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #"{"layers": [{"wide": "Conv2d(1, 1024, 1)"}, "AdaptiveAvgPool2d(1)", "Flatten()", {"fc": "Linear(1024, 10)"}, "LogSoftmax()"]}"#
            .write(toFile: folder + "/wide.json", atomically: true, encoding: .utf8)
        let result = try Backprop.run(["train", "--model", folder + "/wide.json", "--batch-size", "4096", "--out", folder + "/run"])
        #expect(result.status != 0)
        #expect(result.errors.split(separator: "\n").count == 1 && result.errors.contains("--batch-size: 4096 images × 804,884 activations per image"),
                "\(result.errors)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/run"))
    }

    /// A rule that fails sets exit status 1 after printing every rule.
    @Test func aFailedRuleIsExitStatusOne() throws {
        let result = try Backprop.run(["summary", "--model", "s6", "--rules", "s7"])
        #expect(result.status == 1)
        #expect(result.output.contains("✗ 13,452 parameters (fewer than 8,000)"), "\(result.output)")
        #expect(result.output.contains("✓ receptive field 32"), "\(result.output)")
        #expect(result.errors.isEmpty, "\(result.errors)")
    }
}
