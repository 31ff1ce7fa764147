import Data
import Foundation
import Formats
import Kernels
import NN

/// A training run stopped because the loss stopped being a number.
public struct DivergedError: Error, CustomStringConvertible {
    public let epoch: Int
    public let batch: Int
    public let learningRate: Float
    public var description: String {
        "the loss became NaN or infinite in epoch \(epoch), batch \(batch) (learning rate \(learningRate)); try a smaller --lr"
    }
}

/// A training run stopped on request (`TrainingRun.stop()`, Ctrl-C, or a progress callback's answer).
public struct StoppedError: Error, CustomStringConvertible {
    public let epoch: Int
    public let batch: Int
    /// The run's folder, which keeps the last finished epoch's files.
    public var folder: String?
    /// True when the run stopped before finishing any epoch, so that it kept nothing.
    public var keptNothing = false
    public var description: String {
        "stopped in epoch \(epoch) after batch \(batch)"
            + (folder.map { "; \($0) keeps the last finished epoch: continue with backprop train --resume \($0)" } ?? "")
            + (keptNothing ? "; no epoch had finished, so nothing was kept" : "")
    }
}

/// What one pass over a set of images measured.
public struct EvaluationResult: Sendable {
    public var loss: Double
    public var correct: Int
    public var count: Int
    /// predictions[i] is the class chosen for example i, in the loader's order.
    public var predictions: [Int]
    public var labels: [Int]
    /// The model's output (log-probabilities), `count` rows of `classes` values, in the loader's
    /// order; empty unless the evaluation was asked to keep them.
    public var outputs: [Float] = []
    public init(loss: Double, correct: Int, count: Int, predictions: [Int], labels: [Int]) {
        self.loss = loss; self.correct = correct; self.count = count
        self.predictions = predictions; self.labels = labels
    }

    public var accuracy: Double { count > 0 ? 100 * Double(correct) / Double(count) : 0 }

    /// confusion[true][predicted]
    public func confusionMatrix(classes: Int = 10) -> [[Int]] {
        var matrix = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (label, prediction) in zip(labels, predictions) { matrix[label][prediction] += 1 }
        return matrix
    }

    /// The course's line: `Test set: Average loss: 0.0189, Accuracy: 9941/10000 (99.41%)`.
    public func courseLine(setName: String = "Test set") -> String {
        "\(setName): Average loss: \(formatted(loss, 4)), Accuracy: \(correct)/\(count) (\(formatted(accuracy, 2))%)"
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

    public init(epoch: Int, lr: Double, train_loss: Double, train_acc: Double, test_loss: Double, test_acc: Double, seconds: Double) {
        self.epoch = epoch; self.lr = lr; self.train_loss = train_loss; self.train_acc = train_acc
        self.test_loss = test_loss; self.test_acc = test_acc; self.seconds = seconds
    }
}

/// Live figures during an epoch, for a progress bar.
public struct BatchProgress: Sendable {
    public var epoch: Int
    public var batch: Int
    public var batchCount: Int
    public var examplesSeen: Int
    public var runningLoss: Double
    public var runningAccuracy: Double
    public var elapsed: Double
}

/// Trains a model with an optimiser and a schedule, one epoch at a time. Nothing here allocates
/// per batch: the loader writes each batch where the model reads it, layers reuse their buffers.
public final class Trainer {
    public let model: Model
    public let recipe: Recipe
    public let optimizer: Optimizer
    /// The training passes' context: its generator draws the dropout masks.
    public let context: Context
    private let lossGradient = Tensor(shape: [0])
    /// Optimiser steps taken so far (the schedule's position).
    public private(set) var step = 0
    /// Epochs finished so far.
    public private(set) var epochsDone = 0
    public let stepsPerEpoch: Int
    /// The exponential moving average of the model's weights and BatchNorm statistics, when the
    /// recipe keeps one (`averagingDecay`): a model of the same layers, updated after every step.
    public let averaged: Model?
    /// The model each epoch evaluates and saves: the average when there is one, else the model.
    public var evaluated: Model { averaged ?? model }
    /// Each tensor of the average beside the model's it follows, gathered once (the layers build
    /// their name lists anew on every call); `copied` marks counts, which are copied, not averaged.
    private let averagedPairs: [(average: Tensor, current: Tensor, copied: Bool)]
    private var evaluator: Evaluator?

    public init(model: Model, recipe: Recipe, stepsPerEpoch: Int, seed: UInt64, threads: Int = Threads.available) {
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
        context = Context(training: true, seed: seed &+ 0x5EED, threads: threads)
        let averaged = recipe.averagingDecay == nil ? nil : model.copy()
        self.averaged = averaged
        averagedPairs = averaged.map { average in
            zip(average.parameters, model.parameters).map { ($0.parameter.value, $1.parameter.value, false) }
                + zip(average.buffers, model.buffers).map { ($0.buffer.tensor, $1.buffer.tensor, $1.buffer.isInteger) }
        } ?? []
    }

    /// Restores the position of a resumed run.
    public func restorePosition(step: Int, epochsDone: Int, dropoutRandom: Random) {
        self.step = step
        self.epochsDone = epochsDone
        context.random = dropoutRandom
    }

    /// The schedule's learning rate and momentum for the next step.
    private var scheduled: (learningRate: Float, momentum: Float?) {
        recipe.schedule.values(baseLearningRate: recipe.learningRate, step: step, epoch: epochsDone,
                               totalSteps: stepsPerEpoch * recipe.epochs)
    }

    /// Trains one epoch; returns the mean training loss, the training accuracy in percent and the
    /// learning rate of its first step. `progress` hears after every batch; returning false stops
    /// the epoch there (`StoppedError`), with the model part-way through it.
    public func trainEpoch(on loader: BatchLoader, progress: ((BatchProgress) -> Bool)? = nil) throws -> (loss: Double, accuracy: Double, learningRate: Float) {
        let start = DispatchTime.now().uptimeNanoseconds
        loader.startEpoch()
        var totalLoss = 0.0, correct = 0, seen = 0, batchNumber = 0
        let firstLearningRate = scheduled.learningRate
        while let batch = loader.nextBatch() {
            let scheduled = scheduled
            optimizer.learningRate = scheduled.learningRate
            if let momentum = scheduled.momentum { optimizer.momentum = momentum }

            model.zeroGradients()
            let output = model.forward(batch.images, context: context)
            let loss = NLLLoss.evaluate(logProbabilities: output, labels: batch.labels[...], gradient: lossGradient,
                                          smoothing: recipe.labelSmoothing ?? 0)
            guard loss.isFinite else {
                throw DivergedError(epoch: epochsDone + 1, batch: batchNumber + 1, learningRate: scheduled.learningRate)
            }
            correct += countCorrect(output, batch.labels[...])
            model.backward(lossGradient, context: context)
            optimizer.step()

            step += 1
            updateAverage()
            batchNumber += 1
            seen += batch.count
            totalLoss += Double(loss) * Double(batch.count)
            if let progress {
                let goOn = progress(BatchProgress(epoch: epochsDone + 1, batch: batchNumber, batchCount: loader.batchCount,
                                                  examplesSeen: seen, runningLoss: totalLoss / Double(seen),
                                                  runningAccuracy: 100 * Double(correct) / Double(seen),
                                                  elapsed: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
                if !goOn { throw StoppedError(epoch: epochsDone + 1, batch: batchNumber) }
            }
        }
        epochsDone += 1
        return (totalLoss / Double(max(seen, 1)), 100 * Double(correct) / Double(max(seen, 1)), firstLearningRate)
    }

    /// average ← decay · average + (1 − decay) · current, for every weight and running statistic
    /// (counts are copied). The decay starts low, (1 + step) / (10 + step), so that the first
    /// steps' average is not held back by the initial weights, and rises to the recipe's.
    private func updateAverage() {
        guard let decay = recipe.averagingDecay else { return }
        let d = min(decay, Float(1 + step) / Float(10 + step))
        for (average, current, copied) in averagedPairs {
            if copied { average.copy(from: current); continue }
            let a = average.data, c = current.data
            for i in 0..<average.count { a[i] = d * a[i] + (1 - d) * c[i] }
        }
    }

    /// Evaluates the model (its average, if the recipe keeps one) on every example of `loader`
    /// with BatchNorm's running statistics and no dropout, on per-thread copies of it (see
    /// `Evaluator`), kept between calls. The model's convolution kernels are freed first (the next
    /// training step plans them again), so that evaluation's memory takes their place instead of
    /// adding to a training step's.
    public func evaluate(on loader: BatchLoader) -> EvaluationResult {
        model.releaseKernels()
        if evaluator == nil { evaluator = Evaluator(model: evaluated, threads: context.threads) }
        return evaluator!.evaluate(on: loader)
    }

    /// Evaluates any model on every example of `loader` (for `backprop eval`); `keepOutputs` also
    /// returns its log-probabilities (to compare with another engine's).
    public static func evaluate(model: Model, on loader: BatchLoader, threads: Int = Threads.available,
                                keepOutputs: Bool = false) -> EvaluationResult {
        Evaluator(model: model, threads: threads).evaluate(on: loader, keepOutputs: keepOutputs)
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

/// How many rows of `output` predict their label.
func countCorrect(_ output: Tensor, _ labels: ArraySlice<Int>) -> Int {
    labels.indices.reduce(0) { $0 + (predictedClass(output, row: $1 - labels.startIndex) == labels[$1] ? 1 : 0) }
}
