// The benchmark behind scripts/bench-conv.sh: medians of Conv2dKernel calls on the course model's
// convolutions. Not a test: it asserts nothing, it prints.
import Foundation
import Kernels

struct Layer {
    var name: String
    var shape: Conv2dShape
    var needsInputGradient = true
}

func layers(batch n: Int) -> [Layer] {
    func conv(_ cin: Int, _ cout: Int, _ size: Int, _ k: Int, pad: Int = 0) -> Conv2dShape {
        Conv2dShape(batch: n, inChannels: cin, outChannels: cout, height: size, width: size, kernelSize: k, padding: pad)
    }
    // A typical course model: 3×3 1→8→16 unpadded, a 1×1 down to 8, max-pool, 3×3 convolutions of
    // 16 down to 6², global average pooling, a 1×1 to the ten classes.
    return [
        Layer(name: "1→8 3×3 28²", shape: conv(1, 8, 28, 3), needsInputGradient: false),
        Layer(name: "8→16 3×3 26²", shape: conv(8, 16, 26, 3)),
        Layer(name: "16→8 1×1 24²", shape: conv(16, 8, 24, 1)),
        Layer(name: "8→16 3×3 12²", shape: conv(8, 16, 12, 3)),
        Layer(name: "16→16 3×3 12²", shape: conv(16, 16, 12, 3)),
        Layer(name: "16→16 3×3 10²", shape: conv(16, 16, 10, 3)),
        Layer(name: "16→16 3×3 8²", shape: conv(16, 16, 8, 3)),
        Layer(name: "16→16 3×3 6²", shape: conv(16, 16, 6, 3)),
        Layer(name: "16→10 1×1 6²", shape: conv(16, 10, 6, 1)),
        Layer(name: "16→10 1×1 1²", shape: conv(16, 10, 1, 1)),
        Layer(name: "16→16 3×3 7² pad 1", shape: conv(16, 16, 7, 3, pad: 1)),
        Layer(name: "32→32 3×3 14² pad 1", shape: conv(32, 32, 14, 3, pad: 1)),
    ]
}

/// The stack the notes timed (cpu-kernels.md: 5.4 ms per step): layers a–d there.
let notesStack = ["1→8 3×3 28²", "8→16 3×3 26²", "16→16 3×3 12²", "16→8 1×1 24²"]
/// The course model itself (one 8→16 at 12², no 16→16 at 12², 1×1 to ten classes on 1²).
let modelStack = ["1→8 3×3 28²", "8→16 3×3 26²", "16→8 1×1 24²", "8→16 3×3 12²", "16→16 3×3 10²",
                  "16→16 3×3 8²", "16→16 3×3 6²", "16→10 1×1 1²"]

var repeats = 40
var batch = 128
var threadCounts = [1, 2]
var useMinimum = false
var only: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--repeats": repeats = Int(arguments.popFirst() ?? "") ?? repeats
    case "--batch": batch = Int(arguments.popFirst() ?? "") ?? batch
    case "--threads": threadCounts = (arguments.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--min": useMinimum = true
    case "--only": only = arguments.popFirst()
    default:
        print("usage: bench-conv.sh [--repeats N] [--batch N] [--threads 1,2] [--min] [--only LAYER-TEXT]")
        exit(2)
    }
}

func buffer(_ count: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
    var random = Random(seed: seed)
    let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    for i in 0..<count { pointer[i] = random.uniform(-1, 1) }
    return pointer
}

/// Median (or with --min the least) seconds of `body` over `repeats` calls, after a few warm-up calls.
func median(_ body: () -> Void) -> Double {
    for _ in 0..<3 { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return useMinimum ? times.min()! : times.sorted()[times.count / 2]
}

func cell(_ seconds: Double, _ multiplyAdds: Int) -> String {
    let ms = String(format: "%7.3f", seconds * 1e3)
    let gflops = String(format: "%6.1f", 2 * Double(multiplyAdds) / seconds * 1e-9)
    return "\(ms) ms \(gflops) GF/s"
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

print("Conv2dKernel, batch \(batch), \(useMinimum ? "fastest" : "median") of \(repeats) calls; GF/s = 2·multiply-adds / time")
for threads in threadCounts {
    print("\nthreads \(threads)")
    print(pad("layer", 22) + pad("forward", 26) + pad("backwardData", 26) + "backwardWeights")
    var times: [String: (Double, Double, Double)] = [:]
    for layer in layers(batch: batch) where only.map({ layer.name.contains($0) }) ?? true {
        let s = layer.shape
        let kernel = Conv2dKernel(shape: s, threads: threads)
        let input = buffer(s.inputCount, seed: 1), weight = buffer(s.weightCount, seed: 2)
        let bias = buffer(s.outChannels, seed: 3), output = buffer(s.outputCount, seed: 4)
        let gradient = buffer(s.outputCount, seed: 5), inputGradient = buffer(s.inputCount, seed: 6)
        let weightGradient = buffer(s.weightCount, seed: 7), biasGradient = buffer(s.outChannels, seed: 8)
        defer { for p in [input, weight, bias, output, gradient, inputGradient, weightGradient, biasGradient] { p.deallocate() } }
        let f = median { kernel.forward(input: input, weight: weight, bias: bias, output: output) }
        let d = median { kernel.backwardData(outputGradient: gradient, weight: weight, inputGradient: inputGradient) }
        let w = median {
            kernel.backwardWeights(input: input, outputGradient: gradient, weightGradient: weightGradient,
                                   biasGradient: biasGradient)
        }
        times[layer.name] = (f, layer.needsInputGradient ? d : 0, w)
        let m = s.multiplyAdds
        print(pad(layer.name, 22) + pad(cell(f, m), 26) + pad(cell(d, m), 26) + cell(w, m))
    }
    for (title, names) in [("notes' stack (a–d)", notesStack), ("course model", modelStack)] where only == nil {
        var forward = 0.0, step = 0.0
        for name in names {
            let (f, d, w) = times[name]!
            forward += f
            step += f + d + w
        }
        print(String(format: "%@: forward %.2f ms, forward + backward %.2f ms per step", title, forward * 1e3, step * 1e3))
    }
}

// Evaluation of one image at a time (batch 1), the course model's forward pass.
for threads in threadCounts {
    var total = 0.0
    for layer in layers(batch: 1) where modelStack.contains(layer.name) {
        let s = layer.shape
        let kernel = Conv2dKernel(shape: s, threads: threads)
        let input = buffer(s.inputCount, seed: 1), weight = buffer(s.weightCount, seed: 2)
        let bias = buffer(s.outChannels, seed: 3), output = buffer(s.outputCount, seed: 4)
        defer { for p in [input, weight, bias, output] { p.deallocate() } }
        total += median { kernel.forward(input: input, weight: weight, bias: bias, output: output) }
    }
    print(String(format: "\nbatch 1, threads %d: course model convolutions forward %.1f µs per image", threads, total * 1e6))
}
