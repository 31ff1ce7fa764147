import Foundation
import Kernels
import NN

/// Where batches come from: a training loader (shuffled, augmented) or an evaluation loader.
/// Each batch is written into memory the source owns and reuses; it stays valid until the next call.
public protocol BatchSource: AnyObject {
    var batchCount: Int { get }
    var exampleCount: Int { get }
    /// Starts a new pass (a new shuffle, for training).
    func startEpoch()
    /// The next batch: normalised images (count × 1 × 28 × 28) and labels, or nil at the epoch's end.
    func nextBatch() -> (images: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count: Int)?
}

/// A training run stopped because the loss stopped being a number.
public struct DivergedError: Error, CustomStringConvertible {
    public let epoch: Int
    public let batch: Int
    public let learningRate: Float
    public var description: String {
        "the loss became NaN or infinite in epoch \(epoch), batch \(batch) (learning rate \(learningRate)); try a smaller --lr"
    }
}

/// What one pass over a set of images measured.
public struct EvaluationResult: Sendable {
    public var loss: Double
    public var correct: Int
    public var count: Int
    /// predictions[i] is the class chosen for example i, in the source's order.
    public var predictions: [UInt8]
    public var labels: [UInt8]
    /// The model's output (log-probabilities), `count` rows of `classes` values, in the source's
    /// order; empty unless the evaluation was asked to keep them.
    public var outputs: [Float] = []
    public init(loss: Double, correct: Int, count: Int, predictions: [UInt8], labels: [UInt8]) {
        self.loss = loss; self.correct = correct; self.count = count
        self.predictions = predictions; self.labels = labels
    }

    public var accuracy: Double { count > 0 ? 100 * Double(correct) / Double(count) : 0 }

    /// confusion[true][predicted]
    public func confusionMatrix(classes: Int = 10) -> [[Int]] {
        var matrix = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (label, prediction) in zip(labels, predictions) { matrix[Int(label)][Int(prediction)] += 1 }
        return matrix
    }

    /// The course's line: `Test set: Average loss: 0.0189, Accuracy: 9941/10000 (99.41%)`.
    public var courseLine: String {
        "Test set: Average loss: \(formatted(loss, 4)), Accuracy: \(correct)/\(count) (\(formatted(accuracy, 2))%)"
    }
}

/// One epoch's figures, as written to `metrics.jsonl`.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var lr: Double
    public var train_loss: Double
    public var train_acc: Double
    public var test_loss: Double
    public var test_acc: Double
    public var seconds: Double
}

/// Live figures during an epoch, for a progress bar.
public struct BatchProgress {
    public var epoch: Int
    public var batch: Int
    public var batchCount: Int
    public var examplesSeen: Int
    public var runningLoss: Double
    public var runningAccuracy: Double
    public var elapsed: Double
}

/// Trains a model with an optimiser and a schedule, one epoch at a time. Nothing here allocates
/// per batch: the input tensor and the loss gradient are planned once, layers reuse their buffers.
public final class Trainer {
    public let model: Model
    public let recipe: Recipe
    public let optimizer: Optimizer
    public let trainingContext: Context
    private let evaluationContext = Context(training: false)
    private let input = Tensor(shape: [0])
    private let lossGradient = Tensor(shape: [0])
    /// Optimiser steps taken so far (the schedule's position).
    public private(set) var step = 0
    /// Epochs finished so far.
    public private(set) var epochsDone = 0
    public let stepsPerEpoch: Int

    public init(model: Model, recipe: Recipe, stepsPerEpoch: Int, seed: UInt64) {
        self.model = model
        self.recipe = recipe
        self.stepsPerEpoch = stepsPerEpoch
        let parameters = model.parameters.map(\.parameter)
        switch recipe.optimizer {
        case .sgd:
            optimizer = SGD(parameters: parameters, learningRate: recipe.learningRate, momentum: recipe.momentum,
                            nesterov: recipe.nesterov, weightDecay: recipe.weightDecay)
        case .adam:
            optimizer = Adam(parameters: parameters, learningRate: recipe.learningRate, beta1: recipe.momentum,
                             weightDecay: recipe.weightDecay)
        }
        trainingContext = Context(training: true, seed: seed &+ 0x5EED)
    }

    /// Restores the position of a resumed run.
    public func restorePosition(step: Int, epochsDone: Int, dropoutRandom: Random) {
        self.step = step
        self.epochsDone = epochsDone
        trainingContext.random = dropoutRandom
    }

    /// The learning rate the schedule gives the next step.
    public var currentLearningRate: Float {
        recipe.schedule.values(baseLearningRate: recipe.learningRate, step: step, epoch: epochsDone,
                               totalSteps: stepsPerEpoch * recipe.epochs).learningRate
    }

    /// Trains one epoch; returns the mean training loss and the training accuracy in percent.
    public func trainEpoch(on source: BatchSource, progress: ((BatchProgress) -> Void)? = nil) throws -> (loss: Double, accuracy: Double, learningRate: Float) {
        let start = DispatchTime.now().uptimeNanoseconds
        source.startEpoch()
        var totalLoss = 0.0, correct = 0, seen = 0, batch = 0
        let firstLearningRate = currentLearningRate
        while let next = source.nextBatch() {
            let scheduled = recipe.schedule.values(baseLearningRate: recipe.learningRate, step: step,
                                                   epoch: epochsDone, totalSteps: stepsPerEpoch * recipe.epochs)
            optimizer.learningRate = scheduled.learningRate
            if let momentum = scheduled.momentum { optimizer.momentum = momentum }

            load(next.images, count: next.count)
            model.zeroGradients()
            let output = model.forward(input, context: trainingContext)
            let loss = NLLLoss.evaluate(logProbabilities: output, labels: next.labels, gradient: lossGradient)
            guard loss.isFinite else {
                throw DivergedError(epoch: epochsDone + 1, batch: batch + 1, learningRate: scheduled.learningRate)
            }
            correct += countCorrect(output, next.labels, next.count)
            model.backward(lossGradient)
            optimizer.step()

            step += 1
            batch += 1
            seen += next.count
            totalLoss += Double(loss) * Double(next.count)
            if let progress {
                progress(BatchProgress(epoch: epochsDone + 1, batch: batch, batchCount: source.batchCount,
                                       examplesSeen: seen, runningLoss: totalLoss / Double(seen),
                                       runningAccuracy: 100 * Double(correct) / Double(seen),
                                       elapsed: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            }
        }
        epochsDone += 1
        return (totalLoss / Double(max(seen, 1)), 100 * Double(correct) / Double(max(seen, 1)), firstLearningRate)
    }

    /// Evaluates on every example of `source` with BatchNorm's running statistics and no dropout.
    public func evaluate(on source: BatchSource) -> EvaluationResult {
        if evaluator == nil { evaluator = Evaluator(model: model) }
        return evaluator!.evaluate(on: source)
    }
    private var evaluator: Evaluator?

    /// Evaluates any model on every example of `source` (for `backprop eval`), on `threads`
    /// replicas of it (see `Evaluator`); `keepOutputs` also returns its log-probabilities (to
    /// compare with another engine's).
    public static func evaluate(model: Model, on source: BatchSource, threads: Int = Threads.count,
                                keepOutputs: Bool = false) -> EvaluationResult {
        Evaluator(model: model, threads: threads).evaluate(on: source, keepOutputs: keepOutputs)
    }

    private func load(_ images: UnsafePointer<Float>, count: Int) {
        input.reshape([count] + model.inputShape)
        input.data.update(from: images, count: input.count)
    }
}

/// The class with the largest log-probability in row `s` of `output` (N, classes).
func predictedClass(_ output: Tensor, row s: Int) -> Int {
    let classes = output.shape[1]
    let row = output.data + s * classes
    var best = 0
    for k in 1..<classes where row[k] > row[best] { best = k }
    return best
}

/// How many of the first `count` rows predict their label.
func countCorrect(_ output: Tensor, _ labels: UnsafePointer<Int32>, _ count: Int) -> Int {
    (0..<count).reduce(0) { $0 + (predictedClass(output, row: $1) == Int(labels[$1]) ? 1 : 0) }
}
