import Data
import Foundation
import Formats
import NN
import Testing
import Training

/// A folder holding the four MNIST files, made of `syntheticDigits` (no download needed).
func syntheticMNISTFolder(train: Int, test: Int) throws -> String {
    let folder = NSTemporaryDirectory() + "backprop-data-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (prefix, dataset) in [("train", syntheticDigits(count: train, seed: 1)), ("t10k", syntheticDigits(count: test, seed: 2))] {
        try AtomicFile.write(IDX.imagesFile(count: dataset.count, rows: 28, columns: 28, pixels: dataset.images),
                             to: folder + "/\(prefix)-images-idx3-ubyte")
        try AtomicFile.write(IDX.labelsFile(dataset.labels.map(UInt8.init)), to: folder + "/\(prefix)-labels-idx1-ubyte")
    }
    return folder
}

@Suite("Training runs: stop, resume, refuse", .serialized)
struct RunTests {
    static func configuration(_ model: ModelDefinition = Models.s5k, data: String, out: String,
                              averagingDecay: Float? = nil) -> RunConfiguration {
        var recipe = model.recipe
        recipe.epochs = 3
        recipe.batchSize = 64
        recipe.averagingDecay = averagingDecay
        return RunConfiguration(model: model, recipe: recipe, seed: 5, dataset: .mnist, dataDirectory: data,
                                outDirectory: out, trainLimit: 640, testLimit: 200)
    }

    /// A learner's network, from a model file: a strided and a dilated convolution, attributes.
    static let learnersModel = """
        {"name": "mine", "layers": [
          {"conv1": "Conv2d(1, 8, 3, stride=2, bias=False)"}, {"bn1": "BatchNorm2d(8)"}, "ReLU()", "Dropout(p=0.1)",
          {"conv2": "Conv2d(8, 12, 3, dilation=2)"}, "ReLU()", "AdaptiveAvgPool2d(1)", "Flatten()",
          {"fc": "Linear(12, 10)"}, "LogSoftmax(dim=1)"]}
        """

    /// A run stopped in the middle of its second epoch keeps epoch 1's files; resumed, it ends with
    /// the very bytes of a run that was never stopped. A model file's run resumes from the
    /// model.json in its folder; a run that averages its weights, with its average.
    @Test(arguments: [(false, nil), (true, nil), (false, 0.9)] as [(Bool, Float?)])
    func stoppedMidEpochThenResumedIsBitIdentical(fromModelFile: Bool, averagingDecay: Float?) throws {
        let data = try syntheticMNISTFolder(train: 640, test: 200)
        let out = NSTemporaryDirectory() + "backprop-runs-\(UUID().uuidString)"
        defer { for path in [data, out] { try? FileManager.default.removeItem(atPath: path) } }
        let model = fromModelFile ? try ModelFile.parse(Self.learnersModel, source: "test") : Models.s5k
        _ = try TrainingRun(Self.configuration(model, data: data, out: out + "/whole", averagingDecay: averagingDecay)) { _ in }.execute()

        let stopped = TrainingRun(Self.configuration(model, data: data, out: out + "/stopped", averagingDecay: averagingDecay)) { _ in }
        var stoppedAt: BatchProgress?
        stopped.onBatch = { progress in
            if progress.epoch == 2 && progress.batch == 4 { stoppedAt = progress; stopped.stop() }
        }
        let error = #expect(throws: StoppedError.self) { try stopped.execute() }
        #expect(error?.epoch == 2 && error?.batch == 4 && stoppedAt?.batchCount == 10)
        #expect(try RunFolder(out + "/stopped").metrics().count == 1)

        let resumed = try TrainingRun.resuming(folder: out + "/stopped")
        #expect(resumed.resumeFrom?.epochsDone == 1)
        #expect(resumed.model.name == model.name && (resumed.model.file == Self.learnersModel) == fromModelFile)
        let result = try TrainingRun(resumed) { _ in }.execute()
        #expect(result.metrics.count == 3)
        let a = try Data(contentsOf: URL(fileURLWithPath: out + "/whole/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: out + "/stopped/model.safetensors"))
        #expect(a == b, "resumed weights differ from the uninterrupted run's")
        #expect(try RunFolder(out + "/whole").metrics().map(\.test_acc) == RunFolder(out + "/stopped").metrics().map(\.test_acc))
        // The report finds the model in the run folder: its parameters, and a shipped model's target.
        let table = try ResultsReport(folders: [out + "/whole"]).markdownTable()
        #expect(table.contains("| \(model.name) | \(grouped(model.makeModel().parameterCount)) |"), "\(table)")
    }

    /// A folder that holds an earlier run is refused, unless replacing it was asked for; and a new
    /// folder is made for each of two runs started at once.
    @Test func earlierRunsAreNeverMixedIn() throws {
        let parent = NSTemporaryDirectory() + "backprop-runs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let first = try RunFolder.create(parent + "/run", replacing: false)
        try AtomicFile.write("{}\n", to: first.metricsPath)
        #expect(throws: RunFolderError.self) { try RunFolder.create(parent + "/run", replacing: false) }
        _ = try RunFolder.create(parent + "/run", replacing: true)
        #expect(!FileManager.default.fileExists(atPath: first.metricsPath))
        try AtomicFile.write("notes", to: parent + "/run/notes.txt")
        #expect(throws: RunFolderError.self) { try RunFolder.create(parent + "/run", replacing: true) }

        let folders = try (0..<5).map { _ in try RunFolder.createUnique(in: parent, name: "s6-same-second").path }
        #expect(Set(folders).count == 5)
        #expect(folders.last == parent + "/s6-same-second-5")
        // Eight runs starting at the same moment, on eight threads: eight folders.
        let made = UnsafeMutableBufferPointer<String?>.allocate(capacity: 8)   // one slot per thread
        made.initialize(repeating: nil)
        defer { made.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { made[$0] = try? RunFolder.createUnique(in: parent, name: "s7-same-moment").path }
        #expect(Set(made.compactMap { $0 }).count == 8)
    }
}
