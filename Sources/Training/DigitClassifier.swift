import Data
import Foundation
import Formats
import NN

/// A trained model loaded from its checkpoint, answering "which class is this image?" — what
/// `backprop predict` prints and what the studio's digit page shows.
///
/// Not safe to call from two threads at once (the model keeps its activations in buffers planned
/// for it); the studio serialises calls.
public final class DigitClassifier {
    public let model: Model
    public let dataset: DatasetKind
    /// The checkpoint it was loaded from, for messages.
    public let source: String

    public init(model: Model, dataset: DatasetKind = .mnist, source: String) {
        self.model = model; self.dataset = dataset; self.source = source
    }

    /// Builds the model a checkpoint was saved from and loads its weights, or throws one line. The
    /// model is `definition` when given, else the one the checkpoint names: from the model.json of
    /// its run folder, or the shipped model of that name.
    /// `missingModelHint` ends the error when the checkpoint names no model and none was given.
    public static func load(checkpoint path: String, definition: ModelDefinition? = nil, dataset: DatasetKind = .mnist,
                            missingModelHint: String = "name the model") throws -> DigitClassifier {
        let file = try SafetensorsFile.read(path: path)
        let chosen: ModelDefinition
        if let definition {
            chosen = definition
        } else if let modelName = file.metadata["model"] {
            chosen = try RunFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path).model(named: modelName)
        } else {
            throw RunFolderError("\(path): the checkpoint does not name its model; \(missingModelHint)")
        }
        let model = chosen.makeModel()
        try Checkpoint.load(model, from: file, source: path)
        return DigitClassifier(model: model, dataset: dataset, source: path)
    }

    /// For each 28×28 digit (grey bytes, white on black as MNIST), the probability of each class.
    public func probabilities(of digits: [[UInt8]], threads: Int = 1) -> [[Double]] {
        guard !digits.isEmpty else { return [] }
        // The digits as a data set (their classes unknown: 0), evaluated batch by batch as the test set is.
        let digitSet = Dataset(rows: 28, columns: 28, images: digits.flatMap { $0 }, labels: Array(repeating: 0, count: digits.count))
        let loader = BatchLoader(dataset: digitSet, batchSize: 128, shuffles: false, normalization: dataset.normalization)
        let output = Trainer.evaluate(model: model, on: loader, threads: threads, keepOutputs: true).outputs
        let classes = output.count / digits.count
        return (0..<digits.count).map { index in (0..<classes).map { exp(Double(output[index * classes + $0])) } }
    }
}
