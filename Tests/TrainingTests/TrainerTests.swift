import Kernels
import NN
import Testing
import Training

/// Ten classes of synthetic 28×28 images: class k is a bright 6×6 square at one of ten places,
/// plus noise. A small network must learn them within one epoch.
func syntheticDigits(count: Int, seed: UInt64) -> (images: [Float], labels: [Int32]) {
    var random = Random(seed: seed)
    var images = [Float](repeating: 0, count: count * 784)
    var labels = [Int32](repeating: 0, count: count)
    for n in 0..<count {
        let label = random.below(10)
        labels[n] = Int32(label)
        let top = 2 + (label / 5) * 12 + random.below(3), left = 2 + (label % 5) * 5
        for i in 0..<784 { images[n * 784 + i] = random.uniform(-0.3, 0.3) }
        for y in top..<(top + 6) { for x in left..<(left + 4) { images[n * 784 + y * 28 + x] += 2 } }
    }
    return (images, labels)
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
        let source = ArrayBatchSource(images: train.images, labels: train.labels, batchSize: 25)
        let recipe = Recipe(epochs: 2, batchSize: 25, learningRate: 0.02, momentum: 0.9)
        let trainer = Trainer(model: model, recipe: recipe, stepsPerEpoch: source.batchCount, seed: 1)
        let before = trainer.evaluate(on: ArrayBatchSource(images: test.images, labels: test.labels, batchSize: 100))
        var losses: [Double] = []
        for _ in 0..<2 { losses.append(try trainer.trainEpoch(on: source).loss) }
        let after = trainer.evaluate(on: ArrayBatchSource(images: test.images, labels: test.labels, batchSize: 100))
        #expect(before.accuracy < 40)
        #expect(after.accuracy > 90, "accuracy after two epochs: \(after.accuracy)%")
        #expect(losses[1] < losses[0])
        #expect(after.count == 300 && after.predictions.count == 300)
    }

    /// Evaluation on per-thread replicas in small sub-batches gives what one forward pass over each
    /// whole batch gives.
    @Test func replicatedEvaluationEqualsOneForwardPass() throws {
        let data = syntheticDigits(count: 300, seed: 3)
        let model = Models.s6.makeModel()
        model.initialize(seed: 2)
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 50, learningRate: 0.05, momentum: 0.9),
                              stepsPerEpoch: 6, seed: 1)
        _ = try trainer.trainEpoch(on: ArrayBatchSource(images: data.images, labels: data.labels, batchSize: 50))
        let source = ArrayBatchSource(images: data.images, labels: data.labels, batchSize: 128)
        let replicated = Trainer.evaluate(model: model, on: source, threads: 2)
        let plain = Trainer.evaluate(model: model, on: source, threads: 1)
        #expect(replicated.predictions == plain.predictions)
        #expect(replicated.correct == plain.correct && replicated.count == 300)
        #expect(abs(replicated.loss - plain.loss) <= 1e-5 * max(1, plain.loss))
        // And the trainer's own evaluation (replicas kept between calls) follows the weights.
        #expect(trainer.evaluate(on: source).predictions == plain.predictions)
    }

    @Test func sameSeedSameWeights() throws {
        func run() throws -> [Float] {
            let data = syntheticDigits(count: 300, seed: 3)
            let model = try tinyModel()
            model.initialize(seed: 7)
            let source = ArrayBatchSource(images: data.images, labels: data.labels, batchSize: 32)
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
        var images = data.images
        images[2 * 784 + 400] = .nan   // one bad pixel in the first batch poisons the loss
        let source = ArrayBatchSource(images: images, labels: data.labels, batchSize: 50)
        let trainer = Trainer(model: model, recipe: Recipe(epochs: 1, batchSize: 50, learningRate: 0.1),
                              stepsPerEpoch: source.batchCount, seed: 1)
        let error = #expect(throws: DivergedError.self) { try trainer.trainEpoch(on: source) }
        #expect(error?.description.contains("epoch 1, batch 1") == true)
        #expect(error?.description.contains("--lr") == true)
    }

    @Test func courseLineFormat() {
        let result = EvaluationResult(loss: 0.018912, correct: 9941, count: 10000, predictions: [], labels: [])
        #expect(result.courseLine == "Test set: Average loss: 0.0189, Accuracy: 9941/10000 (99.41%)")
    }
}
