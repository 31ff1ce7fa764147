import ArgumentParser
import Data
import Foundation
import Formats
import Kernels
import NN
import Training

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images (PNG or PGM, any size) with a checkpoint: each is centred into a 28×28 MNIST-like digit first.")

    @Option(help: "A model.safetensors written by backprop train.") var checkpoint: String
    @Option(help: "The model, if the checkpoint does not name it.") var model: String?
    @Option(help: "How many of the most likely classes to show, 1 to 10.") var top = 3
    @Option(help: "Data set the model was trained on (for class names and normalisation).") var dataset: DatasetKind = .mnist
    @Option(help: "Also write each 28×28 image the model saw as a PNG into this folder.") var saveInputs: String?
    @Argument(help: "Image files (PNG or PGM).") var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("expected at least one image file") }
        guard (1...10).contains(top) else { throw ValidationError("--top: expected 1 to 10, got \(top)") }
    }

    func run() throws {
        let model = try loadModel(checkpoint: checkpoint, name: model)
        // Read everything first, so a bad file fails before any output.
        let digits = try images.map { path in try DigitPreprocessing.mnistLike(try ImageReader.read(path: path), source: path) }
        if let saveInputs {
            try AtomicFile.prepareDirectory(saveInputs)
            for (path, digit) in zip(images, digits) {
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                try AtomicFile.write(PNGEncoder.encode(width: 28, height: 28, colorType: .gray, pixels: digit),
                                     to: saveInputs + "/\(name)-28x28.png")
            }
        }
        let probabilities = DigitClassifier(model: model, dataset: dataset)
            .probabilities(of: digits, threads: Threads.available)
        for (index, path) in images.enumerated() {
            let ranked = probabilities[index].enumerated().sorted { $0.element > $1.element }.prefix(top)
            let text = ranked.map { "\(dataset.classNames[$0.offset]) \(formatted(100 * $0.element, 1))%" }.joined(separator: ", ")
            print("\(path): \(text)")
        }
    }
}
