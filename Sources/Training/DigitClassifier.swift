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

    public init(model: Model, dataset: DatasetKind = .mnist) {
        self.model = model; self.dataset = dataset
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
        return DigitClassifier(model: model, dataset: dataset)
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

    /// What the network made of one digit, layer by layer.
    public struct Look {
        /// The output of one layer for this digit: `channels` maps of `height`×`width`, row by row.
        public struct FeatureMap {
            public var layer: String
            public var channels: Int, height: Int, width: Int
            public var values: [Float]
        }
        public var probabilities: [Double]
        /// The class with the largest probability.
        public var top: Int
        /// Every layer's output that is still an image (more than one pixel), in order.
        public var featureMaps: [FeatureMap]
        /// ∂ log p(top) / ∂ pixel, for each of the 28×28 input pixels (pixel values 0…1): which
        /// pixels pushed the answer up (positive) or down — backpropagation to the image.
        public var inputGradient: [Float]
    }

    /// One digit through the network a layer at a time, keeping each layer's output, then the
    /// top class's log-probability back-propagated to the input pixels (evaluation mode: BatchNorm's
    /// running statistics, no dropout; the parameter gradients it adds to are never used here).
    public func look(at digit: [UInt8]) -> Look {
        look(atPixels: digit.map { Float($0) / 255 })
    }

    /// The same for grey levels 0…1 (what the gradient is taken with respect to).
    public func look(atPixels pixels: [Float]) -> Look {
        let normalization = dataset.normalization
        let input = Tensor(shape: [1] + model.inputShape)
        input.fill(0)
        for (index, pixel) in pixels.enumerated() where index < input.count {
            input[index] = (pixel - normalization.mean) / normalization.std
        }
        let context = Context(training: false, needsBackward: true, threads: 1)
        var output = input
        var maps: [Look.FeatureMap] = []
        for step in model.network.steps {
            output = step.layer.forward(output, context: context)
            if output.shape.count == 4, output.shape[2] * output.shape[3] > 1 {
                maps.append(Look.FeatureMap(layer: step.name, channels: output.shape[1], height: output.shape[2],
                                            width: output.shape[3], values: output.values))
            }
        }
        let probabilities = output.values.map { exp(Double($0)) }
        let top = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
        // The output is log-softmax: ∂ log p(top) / ∂ output is 1 at `top`, 0 elsewhere.
        let seed = Tensor(shape: output.shape)
        seed.fill(0)
        seed[top] = 1
        let gradient = model.network.backward(seed, context: context, needsInputGradient: true)
        // ∂/∂pixel = ∂/∂(normalised input) · 1/std.
        let inputGradient = gradient.map { g in g.values.map { $0 / normalization.std } } ?? [Float](repeating: 0, count: input.count)
        return Look(probabilities: probabilities, top: top, featureMaps: maps, inputGradient: inputGradient)
    }
}
