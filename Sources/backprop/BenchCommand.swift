import ArgumentParser
import Data
import Formats
import Foundation
import Kernels
import NN
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a model on its real shapes: each layer's forward and backward, whole training steps, and how they scale with batch size and threads.",
        discussion: """
            Random images, no data needed. Medians of --repeats calls after a warm-up. A benchmark: \
            it prints figures and asserts nothing. Timings taken while something else runs are worthless.
            """)

    @Option(help: modelHelp) var model = "s6"

    @Option(help: "Batch size for the per-layer table, \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound).")
    var batchSize = 128

    @Option(help: "Calls per median, 1 to 10,000.")
    var repeats = 20

    @Option(help: threadsHelp) var threads: Int?

    @Flag(help: "Also time training steps for batch sizes 32 to 512 with 1 and 2 threads.")
    var scaling = false

    @Flag(help: "Instead: train one real MNIST epoch (SGD 0.01, momentum 0.9, no augmentation), evaluate the test set, print one JSON line (what scripts/bench-vs-torch compares with PyTorch).")
    var epoch = false

    @Option(help: "With --epoch: the folder of the MNIST IDX files (fetched when missing).")
    var data: String?

    func validate() throws {
        _ = try modelDefinition(named: model, source: "--model")
        guard Recipe.Limits.batchSize.contains(batchSize) else {
            throw ValidationError("--batch-size: expected \(Recipe.Limits.batchSize.lowerBound) to \(Recipe.Limits.batchSize.upperBound), got \(batchSize)")
        }
        guard (1...10_000).contains(repeats) else { throw ValidationError("--repeats: expected 1 to 10,000, got \(repeats)") }
        try checkThreads(threads)
    }

    func run() throws {
        let definition = try modelDefinition(named: model, source: "--model")
        let threads = threads ?? Threads.available
        if epoch {
            let folder = try Dataset.locate(.mnist, directory: data) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            let result = try EpochBenchmark.run(definition: definition,
                                                train: try Dataset.load(directory: folder, split: .train),
                                                test: try Dataset.load(directory: folder, split: .test),
                                                normalization: DatasetKind.mnist.normalization, batchSize: batchSize, seed: 1,
                                                threads: threads)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        let bench = LayerBenchmark(definition: definition, batchSize: batchSize, repeats: repeats, threads: threads)
        print("\(model), batch \(batchSize), \(threads) thread(s), median of \(repeats) calls")
        print(pad("step", 26) + pad("output", 18) + lpad("forward ms", 11) + lpad("backward ms", 12) + lpad("GFLOP/s", 9))
        let timings = bench.layers()
        var forwardTotal = 0.0, backwardTotal = 0.0, flops = 0.0
        for t in timings {
            forwardTotal += t.forwardSeconds
            backwardTotal += t.backwardSeconds
            // Forward does M multiply-adds; backward about twice as many (data and weights).
            let work = 2.0 * Double(t.multiplyAdds) * 3
            flops += work
            let rate = t.multiplyAdds > 0 ? formatted(work / (t.forwardSeconds + t.backwardSeconds) / 1e9, 1) : ""
            print(pad(t.name, 26) + pad(t.outputShape.dropFirst().map(String.init).joined(separator: "×"), 18)
                  + lpad(formatted(t.forwardSeconds * 1e3, 3), 11) + lpad(formatted(t.backwardSeconds * 1e3, 3), 12) + lpad(rate, 9))
            print("  " + t.description)
        }
        print(pad("sum of steps", 44) + lpad(formatted(forwardTotal * 1e3, 3), 11) + lpad(formatted(backwardTotal * 1e3, 3), 12))
        let step = try bench.trainingStep()
        let evaluation = bench.evaluationStep()
        print("whole training step: \(formatted(step * 1e3, 2)) ms (\(formatted(Double(batchSize) / step, 0)) images/s, "
              + "\(formatted(flops / step / 1e9, 1)) GFLOP/s); evaluation: \(formatted(evaluation * 1e3, 2)) ms per batch "
              + "(\(formatted(Double(batchSize) / evaluation, 0)) images/s)")
        let peak = measuredPeakGFLOPS(threads: threads)
        print("measured peak: \(formatted(peak, 0)) GFLOP/s on \(threads) thread(s) (fused multiply-adds on registers only); "
              + "the training step reaches \(formatted(100 * flops / step / 1e9 / peak, 0))% of it")

        guard scaling else { return }
        print("\nHow the cost grows: training steps on random images (median of \(repeats)), projected to a 60,000-image epoch")
        print(pad("batch", 8) + lpad("1 thread s/epoch", 18) + lpad("2 threads s/epoch", 19) + lpad("speed-up", 10))
        for batch in [32, 64, 128, 256, 512] {
            var seconds: [Double] = []
            for threadCount in [1, 2] {
                let timing = try LayerBenchmark(definition: definition, batchSize: batch, repeats: repeats, threads: threadCount).trainingStep()
                seconds.append(timing * 60_000 / Double(batch))
            }
            print(pad("\(batch)", 8) + lpad(formatted(seconds[0], 1), 18) + lpad(formatted(seconds[1], 1), 19)
                  + lpad(formatted(seconds[0] / seconds[1], 2) + "×", 10))
        }
    }

    func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
    func lpad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
}
