import Kernels
import NN

/// Evaluation (no gradients, BatchNorm's running statistics, no dropout) spread over the cores the
/// way that suits a forward pass: each thread runs its own replica of the model, with the same
/// weights, on its share of every batch, in sub-batches of `subBatch` images. A sub-batch's
/// activations fit in a core's cache, so each layer reads what the one before it just wrote
/// there, instead of a whole batch's activations streaming through memory layer after layer; and
/// the threads never wait for each other inside the network. The results equal a plain forward
/// pass over the whole batch (each example's output does not depend on the others in eval mode).
///
/// Models that are not shipped ones (no definition to build a replica from) are evaluated by one
/// forward pass per batch.
final class Evaluator {
    static let subBatch = 8

    let model: Model
    let replicas: [Model]
    let inputs: [Tensor]
    let context = Context(training: false)

    init(model: Model, threads: Int = Threads.count) {
        self.model = model
        var replicas: [Model] = []
        if threads > 1, let definition = Models.named(model.name) {
            replicas = (0..<threads).map { _ in definition.makeModel() }
            let names = model.parameters.map(\.name) + model.buffers.map(\.name)
            if replicas.contains(where: { $0.parameters.map(\.name) + $0.buffers.map(\.name) != names }) { replicas = [] }
        }
        self.replicas = replicas
        inputs = replicas.map { _ in Tensor(shape: [0]) }
    }

    /// Copies the model's current weights and statistics into the replicas.
    func synchronise() {
        for replica in replicas {
            for (source, target) in zip(model.parameters, replica.parameters) {
                target.parameter.value.data.update(from: source.parameter.value.data, count: source.parameter.count)
            }
            for (source, target) in zip(model.buffers, replica.buffers) {
                target.tensor.data.update(from: source.tensor.data, count: source.tensor.count)
            }
        }
    }

    func evaluate(on source: BatchSource, keepOutputs: Bool = false) -> EvaluationResult {
        synchronise()
        source.startEpoch()
        var result = EvaluationResult(loss: 0, correct: 0, count: 0, predictions: [], labels: [])
        result.predictions.reserveCapacity(source.exampleCount)
        result.labels.reserveCapacity(source.exampleCount)
        var totalLoss = 0.0
        let imageSize = model.inputShape.reduce(1, *)
        let classes = model.outputShape.reduce(1, *)
        while let next = source.nextBatch() {
            var predictions = [UInt8](repeating: 0, count: next.count)
            var losses = [Double](repeating: 0, count: max(1, replicas.count))
            var outputs = [Float](repeating: 0, count: keepOutputs ? next.count * classes : 0)
            predictions.withUnsafeMutableBufferPointer { predicted in
            losses.withUnsafeMutableBufferPointer { loss in
            outputs.withUnsafeMutableBufferPointer { kept in
                let predicted = predicted.baseAddress!, loss = loss.baseAddress!, kept = keepOutputs ? kept.baseAddress : nil
                if replicas.isEmpty {
                    loss[0] = forward(model, Tensor(shape: [0]), next.images, next.labels, 0..<next.count, imageSize,
                                      predicted, kept)
                    return
                }
                parallelFor(next.count, threads: replicas.count) { chunk, range in
                    for start in stride(from: range.lowerBound, to: range.upperBound, by: Self.subBatch) {
                        let part = start..<min(range.upperBound, start + Self.subBatch)
                        loss[chunk] += self.forward(self.replicas[chunk], self.inputs[chunk], next.images, next.labels,
                                                    part, imageSize, predicted, kept)
                    }
                }
            }
            }
            }
            result.outputs += outputs
            totalLoss += losses.reduce(0, +)
            for i in 0..<next.count {
                if Int(predictions[i]) == Int(next.labels[i]) { result.correct += 1 }
                result.labels.append(UInt8(next.labels[i]))
            }
            result.predictions += predictions
            result.count += next.count
        }
        result.loss = totalLoss / Double(max(result.count, 1))
        return result
    }

    /// Runs `model` on the examples `range` of a batch; writes their predicted classes (and their
    /// outputs, into `kept`, if given) and returns their summed loss.
    private func forward(_ model: Model, _ input: Tensor, _ images: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
                         _ range: Range<Int>, _ imageSize: Int, _ predicted: UnsafeMutablePointer<UInt8>,
                         _ kept: UnsafeMutablePointer<Float>?) -> Double {
        input.reshape([range.count] + model.inputShape)
        input.data.update(from: images + range.lowerBound * imageSize, count: input.count)
        let output = model.forward(input, context: context)
        let loss = NLLLoss.evaluate(logProbabilities: output, labels: labels + range.lowerBound, gradient: nil)
        for i in 0..<range.count { predicted[range.lowerBound + i] = UInt8(predictedClass(output, row: i)) }
        if let kept {
            let classes = output.count / range.count
            (kept + range.lowerBound * classes).update(from: output.data, count: output.count)
        }
        return Double(loss) * Double(range.count)
    }
}
