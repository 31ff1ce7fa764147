import Data
import Kernels
import NN
import Testing
import Training

/// Ten classes of synthetic 28×28 images: class k is a bright 6×4 patch at one of ten places, on
/// noise. A small network must learn them within two epochs.
func syntheticDigits(count: Int, seed: UInt64) -> Dataset {
    var random = Random(seed: seed)
    var images = [UInt8](repeating: 0, count: count * 784)
    var labels = [Int](repeating: 0, count: count)
    for n in 0..<count {
        let label = random.below(10)
        labels[n] = label
        let top = 2 + (label / 5) * 12 + random.below(3), left = 2 + (label % 5) * 5
        for i in 0..<784 { images[n * 784 + i] = UInt8(random.below(64)) }
        for y in top..<(top + 6) { for x in left..<(left + 4) { images[n * 784 + y * 28 + x] = 255 } }
    }
    return Dataset(rows: 28, columns: 28, images: images, labels: labels)
}

/// Batches of `dataset` in order, normalised as MNIST's.
func loader(_ dataset: Dataset, batchSize: Int, threads: Int = Threads.available) -> BatchLoader {
    BatchLoader(dataset: dataset, batchSize: batchSize, shuffles: false, normalization: DatasetKind.mnist.normalization,
                threads: threads)
}

@Suite("The trainer")
struct TrainerTests {
    func tinyModel() throws -> Model {
        try Model(name: "tiny", network: Sequential([
            "block": Sequential(Conv2d(1, 4, kernelSize: 3, bias: false), BatchNorm2d(4), ReLU(), MaxPool2d(2)),
            "flatten": Flatten(),
            "fc": Linear(4 * 13 * 13, 10),
            "log_softmax": LogSoftmax(),
        ]))
    }

    @Test func learnsSyntheticClassesInTwoEpochs() throws {
        let train = syntheticDigits(count: 1000, seed: 1), test = syntheticDigits(count: 300, seed: 2)
        let model = try tinyModel()
        model.initialize(seed: 1)
        let source = loader(train, batchSize: 25)
        let recipe = Recipe(epochs: 2, batchSize: 25, learningRate: 0.02, momentum: 0.9)
        let trainer = Trainer(model: model, recipe: recipe, stepsPerEpoch: source.batchCount, seed: 1)
        let before = trainer.evaluate(on: loader(test, batchSize: 100))
        var losses: [Double] = []
        for _ in 0..<2 { losses.append(try trainer.trainEpoch(on: source).loss) }
        let after = trainer.evaluate(on: loader(test, batchSize: 100))
        #expect(before.accuracy < 40)
        #expect(after.accuracy > 90, "accuracy after two epochs: \(after.accuracy)%")
        #expect(losses[1] < losses[0])
        #expect(after.count == 300 && after.predictions.count == 300)
    }

    /// Evaluation on per-thread copies of the model in small sub-batches gives what one plain
    /// forward pass over each whole batch gives.
    @Test func replicatedEvaluationEqualsOneForwardPass() throws {
        let data = syntheticDigits(count: 300, seed: 3)
        let model = Models.s6.makeModel()
        model.initialize(seed: 2)
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 50, learningRate: 0.05, momentum: 0.9),
                              stepsPerEpoch: 6, seed: 1)
        _ = try trainer.trainEpoch(on: loader(data, batchSize: 50))
        let source = loader(data, batchSize: 128)
        let replicated = Trainer.evaluate(model: model, on: source, threads: 2, keepOutputs: true)

        // The plain pass: the whole batch through the model at once.
        var plainOutputs: [Float] = []
        var plainPredictions: [Int] = []
        source.startEpoch()
        while let batch = source.nextBatch() {
            let output = model.forward(batch.images, context: Context(training: false))
            plainOutputs += output.values
            plainPredictions += (0..<batch.count).map { row in (0..<10).max { output[row * 10 + $0] < output[row * 10 + $1] }! }
        }
        #expect(replicated.predictions == plainPredictions && replicated.count == 300)
        #expect(zip(replicated.outputs, plainOutputs).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        // And the trainer's own evaluation (copies kept between calls) follows the weights.
        _ = try trainer.trainEpoch(on: loader(data, batchSize: 50))
        let moved = Trainer.evaluate(model: model, on: source, threads: 1)
        #expect(trainer.evaluate(on: source).predictions == moved.predictions)
        #expect(moved.loss != replicated.loss)
    }

    /// A model's copy has the same weights and statistics and computes the same outputs, but
    /// shares no memory: training the original leaves the copy as it was.
    @Test func copiesAreIndependent() throws {
        let model = Models.s7.makeModel()
        model.initialize(seed: 4)
        let copy = model.copy()
        #expect(copy.stateDict() == model.stateDict())
        let data = syntheticDigits(count: 64, seed: 5)
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 32, learningRate: 0.05), stepsPerEpoch: 2, seed: 1)
        _ = try trainer.trainEpoch(on: loader(data, batchSize: 32))
        #expect(copy.stateDict() != model.stateDict())
        let fresh = Models.s7.makeModel()
        fresh.initialize(seed: 4)
        #expect(copy.stateDict() == fresh.stateDict())
    }

    /// With `averagingDecay`, the trainer keeps average ← d·average + (1 − d)·weights after every
    /// step (d = min(decay, (1 + step)/(10 + step))), for weights and running statistics alike,
    /// and evaluates the average, not the weights it trains.
    @Test func averagesTheWeightsItEvaluates() throws {
        let data = syntheticDigits(count: 256, seed: 6)
        let model = try tinyModel()
        model.initialize(seed: 3)
        let decay: Float = 0.5
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 32, learningRate: 0.05, momentum: 0.9,
                                                           averagingDecay: decay),
                              stepsPerEpoch: 8, seed: 1)
        let averaged = try #require(trainer.averaged)
        #expect(trainer.evaluated === averaged)
        func state(_ model: Model) -> [Float] { model.stateDict().filter { !$0.isInteger }.flatMap(\.values) }
        var expected = state(model)
        var step = 0
        _ = try trainer.trainEpoch(on: loader(data, batchSize: 32)) { _ in
            step += 1
            let d = min(decay, Float(1 + step) / Float(10 + step))
            expected = zip(expected, state(model)).map { d * $0 + (1 - d) * $1 }
            return true
        }
        #expect(step == 8)
        #expect(zip(state(averaged), expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        #expect(state(averaged) != state(model))
        let source = loader(data, batchSize: 64)
        #expect(trainer.evaluate(on: source).loss == Trainer.evaluate(model: averaged, on: source).loss)
    }

    @Test func sameSeedSameWeights() throws {
        func run() throws -> [Float] {
            let data = syntheticDigits(count: 300, seed: 3)
            let model = try tinyModel()
            model.initialize(seed: 7)
            let source = loader(data, batchSize: 32)
            let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 32, learningRate: 0.05),
                                  stepsPerEpoch: source.batchCount, seed: 7)
            _ = try trainer.trainEpoch(on: source)
            return model.parameters.flatMap { $0.parameter.value.values }
        }
        #expect(try run() == run())
    }

    @Test func divergenceIsReportedWithEpochAndBatch() throws {
        let data = syntheticDigits(count: 200, seed: 4)
        let model = try tinyModel()
        model.initialize(seed: 1)
        (model.parameters[0].parameter.value)[3] = .nan   // one bad weight poisons the loss
        let source = loader(data, batchSize: 50)
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 50, learningRate: 0.1),
                              stepsPerEpoch: source.batchCount, seed: 1)
        let error = #expect(throws: DivergedError.self) { try trainer.trainEpoch(on: source) }
        #expect(error?.description.contains("epoch 1, batch 1") == true)
        #expect(error?.description.contains("--lr") == true)
    }

    @Test func courseLineFormat() {
        let result = EvaluationResult(loss: 0.018912, correct: 9941, count: 10000, predictions: [], labels: [])
        #expect(result.courseLine() == "Test set: Average loss: 0.0189, Accuracy: 9941/10000 (99.41%)")
    }
}
