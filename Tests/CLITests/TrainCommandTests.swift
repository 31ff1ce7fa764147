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
        (["--batch-size", "4611686018427387904"], "--batch-size"),
        (["--epochs", "1001"], "--epochs"),
        (["--threads", "100000"], "--threads"),
        (["--rotation", "3e38"], "--rotation"),
        (["--label-smoothing", "1"], "--label-smoothing"),
        (["--train-limit=-3"], "--train-limit"),
        (["--lr", "nan"], "--lr"),
        (["--resume", "x", "--epochs", "3"], "--epochs"),
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

@Suite("Never lose a run", .serialized)
struct ResumeTests {
    /// A run killed with SIGKILL once its first epoch is saved (so during its second, before that
    /// one's files), then resumed, ends with the very same bytes in model.safetensors as a run that
    /// was never interrupted. (Stopping at an exact batch is tested in-process: RunTests.)
    @Test func killedThenResumedIsBitIdentical() throws {
        try #require(TrainCommandTests.hasMNIST, "data/mnist is missing")
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let arguments = ["train", "--model", "s6", "--epochs", "3", "--train-limit", "4000", "--test-limit", "500",
                         "--seed", "7", "--data", TrainCommandTests.mnist]
        let whole = try Backprop.run(arguments + ["--out", folder + "/whole"])
        #expect(whole.status == 0, "\(whole.errors)")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Backprop.executable)
        process.arguments = arguments + ["--out", folder + "/killed"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The state file appears, whole (it is renamed into place), when epoch 1 is saved; epoch 2
        // takes far longer than the 2 ms between looks.
        let state = folder + "/killed/training-state.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: state) && Date() < deadline && process.isRunning { usleep(2_000) }
        #expect(process.isRunning, "the run finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let metrics = try String(contentsOfFile: folder + "/killed/metrics.jsonl", encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 1, "killed after epoch 1 was saved, before epoch 2 was")

        let resumed = try Backprop.run(["train", "--resume", folder + "/killed"])
        #expect(resumed.status == 0, "\(resumed.errors)")
        #expect(resumed.output.contains("Resuming after epoch 1 of 3"))
        let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/whole/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: folder + "/killed/model.safetensors"))
        #expect(a == b, "resumed weights differ from the uninterrupted run's")
        let finalLines = try String(contentsOfFile: folder + "/killed/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(finalLines.count == 3)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder + "/killed").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left behind: \(leftovers)")
    }

    /// Ctrl-C stops a run after the batch under way and ends the process as SIGINT would: in its
    /// second epoch, the first epoch's files stay and `--resume` finishes the run; in its first,
    /// the folder it made is removed again. No temporary file is left either way.
    @Test func ctrlCStopsCleanly() throws {
        let data = try HostileInputTests.dataFolder(train: 6000, test: 200)
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func start(_ out: String) throws -> (Process, Pipe, Pipe) {
            let process = Process(), output = Pipe(), errors = Pipe()
            process.executableURL = URL(fileURLWithPath: Backprop.executable)
            process.arguments = ["train", "--model", "s6", "--epochs", "3", "--data", data, "--out", out]
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            return (process, output, errors)
        }
        // In epoch 2: interrupted once epoch 1's state is saved.
        let (second, _, secondErrors) = try start(folder + "/second")
        let state = folder + "/second/training-state.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: state) && Date() < deadline && second.isRunning { usleep(2_000) }
        kill(second.processIdentifier, SIGINT)
        second.waitUntilExit()
        let message = String(decoding: secondErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(second.terminationReason == .uncaughtSignal && second.terminationStatus == SIGINT, "\(message)")
        #expect(message.contains("stopped in epoch 2") && message.contains("train --resume " + folder + "/second"), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/second").filter { $0.hasPrefix(".") }.isEmpty)
        let resumed = try Backprop.run(["train", "--resume", folder + "/second"], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.errors)")
        #expect(try String(contentsOfFile: folder + "/second/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 3)

        // In epoch 1: interrupted as soon as training starts; nothing was kept, so nothing stays.
        let (first, firstOutput, firstErrors) = try start(folder + "/first")
        var seen = ""
        while !seen.contains("Training s6 on") {
            let chunk = firstOutput.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(first.processIdentifier, SIGINT)
        first.waitUntilExit()
        let firstMessage = String(decoding: firstErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(firstMessage.contains("stopped in epoch 1") && firstMessage.contains("nothing was kept"), "\(firstMessage)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/first"))
    }

    @Test func resumingNothingIsOneLine() throws {
        let folder = Backprop.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try Backprop.run(["train", "--resume", folder])
        #expect(result.status != 0 && result.errors.split(separator: "\n").count == 1 && result.errors.contains("no training-state"))
    }
}
