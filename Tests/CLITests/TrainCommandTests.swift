import Foundation
import Testing

/// The package's root folder, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite("backprop train on real MNIST", .serialized)
struct TrainCommandTests {
    static var mnist: String { packageRoot + "/data/mnist" }
    static var hasMNIST: Bool { FileManager.default.fileExists(atPath: mnist + "/t10k-labels-idx1-ubyte") }

    /// One short end-to-end run: 6,000 real training images, two epochs; it must clearly learn.
    @Test func shortRunLearnsAndWritesItsFiles() throws {
        try #require(Self.hasMNIST, "data/mnist is missing: run scripts/test (it fetches MNIST) or backprop data fetch")
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["train", "--model", "s6", "--epochs", "2", "--train-limit", "6000",
                                       "--test-limit", "1000", "--data", Self.mnist, "--out", folder + "/run"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("Total params: "))
        let line = try #require(result.output.split(separator: "\n").last { $0.hasPrefix("Test set: Average loss: ") })
        // "Test set: Average loss: 0.1234, Accuracy: 953/1000 (95.30%)"
        let correct = Int(line.split(separator: "Accuracy: ")[1].split(separator: "/")[0]) ?? 0
        #expect(correct >= 900, "\(line)")
        for file in ["metrics.jsonl", "model.safetensors", "curves.svg", "curves.png", "misclassified.png"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/run/" + file), "\(file) missing")
        }
        let metrics = try String(contentsOfFile: folder + "/run/metrics.jsonl", encoding: .utf8)
        let first = try JSONSerialization.jsonObject(with: Data(metrics.split(separator: "\n")[0].utf8)) as? [String: Any]
        for key in ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"] {
            #expect(first?[key] != nil, "metrics.jsonl lacks \(key)")
        }
        // The checkpoint evaluates to the same accuracy.
        let evaluation = try Backprop.run(["eval", "--checkpoint", folder + "/run/model.safetensors",
                                           "--data", Self.mnist, "--test-limit", "1000"])
        #expect(evaluation.status == 0, "\(evaluation.errors)")
        #expect(evaluation.output.contains("Accuracy: \(correct)/1000"), "\(evaluation.output)")
    }

    @Test(arguments: [
        (["--model", "nope"], "--model"),
        (["--epochs", "0"], "--epochs"),
        (["--lr", "-1"], "--lr"),
        (["--dataset", "cifar"], "--dataset"),
        (["--batch-size", "0"], "--batch-size"),
    ])
    func badOptionsAreOneLine(arguments: [String], option: String) throws {
        let result = try Backprop.run(["train"] + arguments)
        #expect(result.status != 0)
        #expect(result.errors.split(separator: "\n").count == 1 && result.errors.contains(option), "\(result.errors)")
    }

    @Test func corruptDataIsOneLine() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Four files, the images one truncated.
        var header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]
        header += [UInt8](repeating: 0, count: 100)
        FileManager.default.createFile(atPath: folder + "/train-images-idx3-ubyte", contents: Data(header))
        FileManager.default.createFile(atPath: folder + "/train-labels-idx1-ubyte", contents: Data([0, 0, 8, 1, 0, 0, 0, 10] + [UInt8](repeating: 1, count: 10)))
        FileManager.default.createFile(atPath: folder + "/t10k-images-idx3-ubyte", contents: Data(header))
        FileManager.default.createFile(atPath: folder + "/t10k-labels-idx1-ubyte", contents: Data([0, 0, 8, 1, 0, 0, 0, 10] + [UInt8](repeating: 1, count: 10)))
        let result = try Backprop.run(["train", "--data", folder, "--out", folder + "/run"])
        #expect(result.status != 0)
        #expect(result.errors.split(separator: "\n").count == 1, "\(result.errors)")
        #expect(result.errors.contains("train-images-idx3-ubyte") && result.errors.contains("7856"), "\(result.errors)")
    }
}
