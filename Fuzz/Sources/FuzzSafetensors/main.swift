import Formats
import FuzzSupport
import NN
import Training

// A checkpoint as `backprop eval --checkpoint` takes it: the safetensors file, then its tensors
// loaded into the model it names (names, shapes and values checked).

let model = Models.s6.makeModel()

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError {
        let file = try SafetensorsFile.parse(input, source: "fuzz")
        _ = file.tensors.map { $0.floats() }
        try Checkpoint.load(model, from: file, source: "fuzz")
    }
    return 0
}

@_cdecl("FuzzSafetensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        model.initialize(seed: 1)
        let small = SafetensorsFile(tensors: [.init(name: "a.weight", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
                                              .init(name: "b.num_batches_tracked", shape: [], integers: [3])],
                                    metadata: ["model": "s6"])
        return [Checkpoint.file(for: model).serialized(), small.serialized()]
    }, testOneInput)
}
