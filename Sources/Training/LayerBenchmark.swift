import Data
import Dispatch
import Foundation
import Kernels
import NN

/// Times a model on its real shapes: each layer's forward and backward pass alone, and whole
/// training steps (forward, loss, backward, optimiser), on random images. A benchmark, not a test:
/// it measures and reports, it asserts nothing. The figures are medians over `repeats` calls
/// after one warm-up call.
public struct LayerBenchmark {
    public struct LayerTiming: Sendable {
        public var name: String
        public var description: String
        public var outputShape: [Int]
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        public var multiplyAdds: Int   // for the whole batch, forward
    }

    public let definition: ModelDefinition
    public let batchSize: Int
    public let repeats: Int
    public let threads: Int

    public init(definition: ModelDefinition, batchSize: Int, repeats: Int, threads: Int) {
        self.definition = definition
        self.batchSize = batchSize
        self.repeats = repeats
        self.threads = threads
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func median(_ samples: [Double]) -> Double {
        let sorted = samples.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Median seconds of `body` over `repeats` calls, after one warm-up call; `setup`, untimed,
    /// runs before each.
    func time(setup: () -> Void = {}, _ body: () -> Void) -> Double {
        setup()
        body()
        var samples: [Double] = []
        for _ in 0..<repeats {
            setup()
            let start = Self.now()
            body()
            samples.append(Double(Self.now() - start) / 1e9)
        }
        return Self.median(samples)
    }

    /// A data set of random images (bytes, as MNIST's), one batch of them.
    func randomImages(_ model: Model, seed: UInt64) -> Dataset {
        var random = Random(seed: seed)
        let rows = model.inputShape[1], columns = model.inputShape[2]
        let pixels = (0..<(batchSize * rows * columns)).map { _ in UInt8(random.below(256)) }
        return Dataset(rows: rows, columns: columns, images: pixels, labels: (0..<batchSize).map { $0 % 10 })
    }

    /// One batch of random images, normalised as MNIST's are.
    func randomBatch(_ model: Model, seed: UInt64) -> Tensor {
        let loader = BatchLoader(dataset: randomImages(model, seed: seed), batchSize: batchSize, shuffles: false,
                                 normalization: DatasetKind.mnist.normalization, threads: threads)
        loader.startEpoch()
        let images = loader.nextBatch()!.images
        let copy = Tensor(shape: images.shape)
        copy.copy(from: images)
        return copy
    }

    /// Each step of the model as it runs (single layers, and blocks such as Conv → BatchNorm →
    /// ReLU → Dropout or Conv → ReLU → BatchNorm), timed alone on the activations of a real
    /// forward pass.
    public func layers() -> [LayerTiming] {
        let model = definition.makeModel()
        model.initialize(seed: 1)
        let context = Context(training: true, seed: 3, threads: threads)
        var input = randomBatch(model, seed: 2)
        var timings: [LayerTiming] = []
        var random = Random(seed: 4)
        for (index, (name, step)) in model.network.steps.enumerated() {
            var output: Tensor!
            let forward = time { output = step.forward(input, context: context) }
            let gradient = Tensor(shape: output.shape)
            for i in 0..<gradient.count { gradient[i] = random.uniform(-1, 1) / Float(batchSize) }
            // Each backward after a forward of its own (a backward may use up what the forward kept).
            let backward = time(setup: { output = step.forward(input, context: context) }) {
                _ = step.backward(gradient, context: context, needsInputGradient: index > 0)
            }
            let perExample = Array(input.shape.dropFirst())
            timings.append(LayerTiming(name: name, description: step.description, outputShape: output.shape,
                                       forwardSeconds: forward, backwardSeconds: backward,
                                       multiplyAdds: step.multiplyAdds(for: perExample) * batchSize))
            // The next layer gets a copy: layers may reuse their output buffers.
            let copy = Tensor(shape: output.shape)
            copy.copy(from: output)
            input = copy
        }
        return timings
    }

    /// Median seconds of one whole training step (what `Trainer` does per batch: the loader's
    /// batch, forward, loss, backward, optimiser).
    public func trainingStep() throws -> Double {
        let model = definition.makeModel()
        model.initialize(seed: 1)
        let loader = BatchLoader(dataset: randomImages(model, seed: 2), batchSize: batchSize, shuffles: false,
                                 normalization: DatasetKind.mnist.normalization, threads: threads)
        let trainer = Trainer(model: model, recipe: definition.recipe, stepsPerEpoch: 1_000_000, seed: 1, threads: threads)
        return time { _ = try? trainer.trainEpoch(on: loader) }
    }

    /// Median seconds to evaluate one batch (eval mode, no gradients).
    public func evaluationStep() -> Double {
        let model = definition.makeModel()
        model.initialize(seed: 1)
        let input = randomBatch(model, seed: 2)
        let context = Context(training: false, threads: threads)
        return time { _ = model.forward(input, context: context) }
    }
}

/// One real training epoch and passes over the test set, timed, for the comparison with PyTorch
/// (`scripts/bench-vs-torch`): the same work its twin does in `torch_twin.py time-epoch`: SGD
/// (lr 0.01, momentum 0.9), constant rate, no augmentation, shuffled batches, then the test images
/// in order, in batches of the same size, `evaluationPasses` times (one pass, about a quarter of a
/// second, is too short to time alone; the median of several is steady).
public struct EpochBenchmark {
    public struct Result: Codable, Sendable {
        public var engine = "backprop"
        public var model: String
        public var batch_size: Int
        public var threads: Int
        public var epoch_seconds: Double
        public var images_per_second: Double
        /// The median of the passes over the test set.
        public var eval_seconds: Double
        /// Every pass's seconds, in order (the first includes making the evaluator's model copies).
        public var eval_passes: [Double]
        public var test_accuracy: Double
        public var multiply_adds_per_image: Int
        public var parameters: Int
        public var peak_rss_mb: Double
        /// The machine's measured arithmetic peak (`measuredPeakGFLOPS`), for the GFLOP/s to be read against.
        public var peak_gflops: Double
    }

    public static func run(definition: ModelDefinition, train: Dataset, test: Dataset, normalization: Normalization,
                           batchSize: Int, seed: UInt64, threads: Int, evaluationPasses: Int = 10) throws -> Result {
        let model = definition.makeModel()
        model.initialize(seed: seed)
        var recipe = definition.recipe
        recipe.batchSize = batchSize
        recipe.learningRate = 0.01
        recipe.momentum = 0.9
        recipe.nesterov = false
        recipe.weightDecay = 0
        recipe.optimizer = .sgd
        recipe.schedule = .constant
        let trainLoader = BatchLoader(dataset: train, batchSize: batchSize, shuffles: true, normalization: normalization,
                                      seed: seed, threads: threads)
        let testLoader = BatchLoader(dataset: test, batchSize: batchSize, shuffles: false, normalization: normalization,
                                     threads: threads)
        let trainer = Trainer(model: model, recipe: recipe, stepsPerEpoch: trainLoader.batchCount, seed: seed, threads: threads)
        let start = LayerBenchmark.now()
        _ = try trainer.trainEpoch(on: trainLoader)
        let epoch = Double(LayerBenchmark.now() - start) / 1e9
        var evaluation = EvaluationResult(loss: 0, correct: 0, count: 0, predictions: [], labels: [])
        var passes: [Double] = []
        for _ in 0..<max(1, evaluationPasses) {
            let evalStart = LayerBenchmark.now()
            evaluation = trainer.evaluate(on: testLoader)
            passes.append(Double(LayerBenchmark.now() - evalStart) / 1e9)
        }
        let eval = passes.sorted()[passes.count / 2]
        let macs = ModelSummary(model: model).multiplyAddsPerImage
        return Result(model: definition.name, batch_size: batchSize, threads: threads, epoch_seconds: epoch,
                      images_per_second: Double(train.count) / epoch, eval_seconds: eval, eval_passes: passes,
                      test_accuracy: evaluation.accuracy, multiply_adds_per_image: macs,
                      parameters: model.parameterCount, peak_rss_mb: peakResidentMegabytes(),
                      peak_gflops: measuredPeakGFLOPS(threads: threads))
    }

    /// The process's peak resident set size so far (getrusage), in MB of 10⁶ bytes.
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) * 1024 / 1e6   // Linux reports kilobytes
    }
}
