import Foundation
import FuzzSupport
import NN

// A model file as `--model net.json` takes it: parsed, checked, built, one forward and backward
// pass of a batch of two images (a file that reads must build a model that runs).

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError {
        let definition = try ModelFile.parse(String(decoding: input, as: UTF8.self), source: "fuzz")
        let model = definition.makeModel()
        // Models the limits allow can still be large for a debug build: run only the small ones.
        guard ModelSummary(model: model).multiplyAddsPerImage < 5_000_000 else { return }
        let context = Context(training: true, threads: 1)
        let output = model.forward(Tensor(shape: [2, 1, 28, 28], values: (0..<1568).map { Float($0 % 7) / 7 }), context: context)
        model.backward(Tensor(shape: output.shape, values: [Float](repeating: 0.1, count: output.count)), context: context)
    }
    return 0
}

@_cdecl("FuzzModelFile_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        Models.all.map { Array(ModelFile.text(for: $0).utf8) } + [Array("""
            {"name": "mine", "layers": [
              {"conv1": "Conv2d(1, 8, (3, 3), stride=2, padding=1, bias=False)"}, {"bn1": "BatchNorm2d(8, eps=1e-3)"}, "ReLU()",
              {"conv2": "Conv2d(8, 12, 3, dilation=2)"}, "Dropout2d(p=0.1)", "AvgPool2d(2)", "Sigmoid()",
              "AdaptiveAvgPool2d(1)", "Flatten()", {"fc": "Linear(12, 10, bias=False)"}, "LogSoftmax(dim=-1)"],
             "recipe": {"epochs": 3, "schedule": "step", "step_size": 2, "gamma": 0.5, "optimizer": "adam"}}
            """.utf8)]
    }, testOneInput)
}
