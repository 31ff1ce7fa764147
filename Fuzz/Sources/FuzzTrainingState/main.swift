import Data
import Formats
import FuzzSupport
import NN
import Training

// A saved run's state as `backprop train --resume` takes it: the safetensors file, its settings
// checked as the command line's options are, then the weights, optimiser buffers and positions
// restored into a freshly built run.

let images = Dataset(rows: 28, columns: 28, images: (0..<(64 * 784)).map { UInt8($0 * 7 % 256) }, labels: (0..<64).map { $0 % 10 })
let loader = BatchLoader(dataset: images, batchSize: 32, shuffles: true, normalization: DatasetKind.mnist.normalization, threads: 1)
var models: [String: Model] = [:]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError {
        let state = try TrainingState.parse(try SafetensorsFile.parse(input, source: "fuzz"), source: "fuzz")
        let configuration = try TrainingRun.resuming(state, folder: "/nonexistent/fuzz-run", threads: 1)
        let name = configuration.model.name
        let model = models[name] ?? configuration.model.makeModel()
        models[name] = model
        let stepsPerEpoch = state.epochsDone > 0 ? max(1, state.step / state.epochsDone) : 1
        let trainer = Trainer(model: model, recipe: configuration.recipe, stepsPerEpoch: stepsPerEpoch, seed: 1, threads: 1)
        try state.restore(into: trainer, loader: loader, source: "fuzz")
    }
    return 0
}

@_cdecl("FuzzTrainingState_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        try [Recipe.OptimizerKind.sgd, .adam].map { optimizer in
            var recipe = Models.s5k.recipe
            recipe.optimizer = optimizer
            recipe.batchSize = 32
            let model = Models.s5k.makeModel()
            model.initialize(seed: 3)
            let trainer = Trainer(model: model, recipe: recipe, stepsPerEpoch: loader.batchCount, seed: 3, threads: 1)
            _ = try trainer.trainEpoch(on: loader)
            let settings = TrainingState.Settings(model: "s5k", recipe: recipe, seed: 3, dataset: "mnist",
                                                  dataDirectory: "/nonexistent/mnist", trainLimit: 64, testLimit: 64)
            return TrainingState.capture(settings: settings, trainer: trainer, loader: loader).serialized()
        }
    }, testOneInput)
}
