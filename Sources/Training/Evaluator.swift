import Data
import Kernels
import NN

/// Evaluation (no gradients, BatchNorm's running statistics, no dropout) spread over the cores the
/// way that suits a forward pass: each thread runs its own copy of the model, with the same
/// weights, on its share of every batch, in sub-batches of `subBatch` images. A sub-batch's
/// activations fit in a core's cache, so each layer reads what the one before it just wrote
/// there, instead of a whole batch's activations streaming through memory layer after layer; and
/// the threads never wait for each other inside the network. The results equal a plain forward
/// pass over the whole batch (each example's output does not depend on the others in eval mode).
final class Evaluator {
    static let subBatch = 8

    let model: Model
    /// One copy of the model per thread (the first may be the model itself: one thread).
    let replicas: [Model]
    /// Each replica's context: evaluation, one thread (the threads are the replicas).
    let contexts: [Context]

    init(model: Model, threads: Int) {
        self.model = model
        let threads = max(1, threads)
        replicas = threads == 1 ? [model] : (0..<threads).map { _ in model.copy() }
        contexts = replicas.map { _ in Context(training: false, threads: 1) }
    }

    /// Copies the model's current weights and statistics into the replicas.
    func synchronise() {
        for replica in replicas where replica !== model { replica.network.copyValues(from: model.network) }
    }

    func evaluate(on loader: BatchLoader, keepOutputs: Bool = false) -> EvaluationResult {
        synchronise()
        loader.startEpoch()
        var result = EvaluationResult(loss: 0, correct: 0, count: 0, predictions: [], labels: [])
        result.predictions.reserveCapacity(loader.exampleCount)
        result.labels.reserveCapacity(loader.exampleCount)
        var totalLoss = 0.0
        let classes = model.outputShape.reduce(1, *)
        while let batch = loader.nextBatch() {
            let n = batch.count
            var predictions = [Int](repeating: 0, count: n)
            var losses = [Double](repeating: 0, count: replicas.count)
            var outputs = [Float](repeating: 0, count: keepOutputs ? n * classes : 0)
            predictions.withUnsafeMutableBufferPointer { predicted in
            losses.withUnsafeMutableBufferPointer { loss in
            outputs.withUnsafeMutableBufferPointer { kept in
                let predicted = predicted.baseAddress!, loss = loss.baseAddress!, kept = keepOutputs ? kept.baseAddress : nil
                parallelFor(n, threads: replicas.count) { chunk, range in
                    for start in stride(from: range.lowerBound, to: range.upperBound, by: Self.subBatch) {
                        let part = start..<min(range.upperBound, start + Self.subBatch)
                        loss[chunk] += self.forward(self.replicas[chunk], self.contexts[chunk], batch, part, predicted, kept)
                    }
                }
            }
            }
            }
            result.outputs += outputs
            totalLoss += losses.reduce(0, +)
            for i in 0..<n where predictions[i] == batch.labels[i] { result.correct += 1 }
            result.labels += batch.labels
            result.predictions += predictions
            result.count += n
        }
        result.loss = totalLoss / Double(max(result.count, 1))
        return result
    }

    /// Runs `model` on the examples `range` of `batch` (read where the loader wrote them); writes
    /// their predicted classes (and their outputs, into `kept`, if given) and returns their summed loss.
    private func forward(_ model: Model, _ context: Context, _ batch: Batch, _ range: Range<Int>,
                         _ predicted: UnsafeMutablePointer<Int>, _ kept: UnsafeMutablePointer<Float>?) -> Double {
        let imageSize = batch.images.perExample
        let input = Tensor(viewing: batch.images, offset: range.lowerBound * imageSize,
                           shape: [range.count] + Array(batch.images.shape.dropFirst()))
        let output = model.forward(input, context: context)
        let loss = NLLLoss.evaluate(logProbabilities: output, labels: batch.labels[range], gradient: nil)
        for i in 0..<range.count { predicted[range.lowerBound + i] = predictedClass(output, row: i) }
        if let kept {
            let classes = output.count / range.count
            (kept + range.lowerBound * classes).update(from: output.data, count: output.count)
        }
        return Double(loss) * Double(range.count)
    }
}
