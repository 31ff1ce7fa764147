import Kernels

/// Max pooling over k×k windows with stride k (PyTorch's `nn.MaxPool2d(k)`, floor mode).
/// Shapes: (N, C, H, W) → (N, C, ⌊H/k⌋, ⌊W/k⌋).
/// Forward: y = the largest x in each window; we remember where it was.
/// Backward: the whole gradient of y goes to that one input; the others get 0
/// (the first maximum wins ties, as in PyTorch).
public final class MaxPool2d: Layer {
    public let kernelSize: Int
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var argmax: [Int32] = []
    private var inputShape: [Int] = []

    public init(_ kernelSize: Int) {
        precondition(kernelSize > 0)
        self.kernelSize = kernelSize
    }

    public var description: String { "MaxPool2d(kernel_size=\(kernelSize), stride=\(kernelSize))" }
    public var spec: LayerSpec? { LayerSpec(type: "MaxPool2d", kernelSize: kernelSize) }
    public func copy() -> Layer { MaxPool2d(kernelSize) }
    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (kernelSize, kernelSize) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try pooledShape(inputShape, kernelSize: kernelSize, description)
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        inputShape = input.shape
        let planes = input.shape[0] * input.shape[1], h = input.shape[2], w = input.shape[3]
        let k = kernelSize, oh = h / k, ow = w / k
        output.reshape([input.shape[0], input.shape[1], oh, ow])
        if argmax.count < output.count { argmax = Array(repeating: 0, count: output.count) }
        let x = input.data, y = output.data
        argmax.withUnsafeMutableBufferPointer { indices in
            let where_ = indices.baseAddress!
            parallelFor(planes, threads: context.threads, minimumPerThread: 16) { _, range in
                if k == 2 {
                    for p in range { Self.pool2x2(x + p * h * w, width: w, rows: oh, columns: ow,
                                                  y + p * oh * ow, where_ + p * oh * ow) }
                    return
                }
                for p in range {
                    let plane = x + p * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var bestIndex = oy * k * w + ox * k
                            var best = plane[bestIndex]
                            for i in 0..<k {
                                for j in 0..<k {
                                    let index = (oy * k + i) * w + ox * k + j
                                    let value = plane[index]
                                    if value > best || (value.isNaN && !best.isNaN) { best = value; bestIndex = index }
                                }
                            }
                            let o = (p * oh + oy) * ow + ox
                            y[o] = best
                            where_[o] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
        return output
    }

    /// The 2×2 case, unrolled: the same first-maximum rule (a NaN wins over a number).
    @inline(__always)
    static func pool2x2(_ plane: UnsafePointer<Float>, width w: Int, rows oh: Int, columns ow: Int,
                        _ y: UnsafeMutablePointer<Float>, _ where_: UnsafeMutablePointer<Int32>) {
        for oy in 0..<oh {
            let top = plane + 2 * oy * w, bottom = top + w
            let base = Int32(2 * oy * w)
            for ox in 0..<ow {
                var best = top[2 * ox], index = base + Int32(2 * ox)
                let candidates = (top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1])
                let offsets = (Int32(1), Int32(w), Int32(w + 1))
                if candidates.0 > best || (candidates.0.isNaN && !best.isNaN) { best = candidates.0; index = base + Int32(2 * ox) + offsets.0 }
                if candidates.1 > best || (candidates.1.isNaN && !best.isNaN) { best = candidates.1; index = base + Int32(2 * ox) + offsets.1 }
                if candidates.2 > best || (candidates.2.isNaN && !best.isNaN) { best = candidates.2; index = base + Int32(2 * ox) + offsets.2 }
                y[oy * ow + ox] = best
                where_[oy * ow + ox] = index
            }
        }
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        inputGradient.reshape(inputShape)
        inputGradient.fill(0)
        let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3]
        let outPlane = output.shape[2] * output.shape[3]
        let g = outputGradient.data, dx = inputGradient.data
        argmax.withUnsafeBufferPointer { indices in
            let where_ = indices.baseAddress!
            parallelFor(planes, threads: context.threads, minimumPerThread: 16) { _, range in
                for p in range {
                    for o in 0..<outPlane {
                        dx[p * h * w + Int(where_[p * outPlane + o])] += g[p * outPlane + o]
                    }
                }
            }
        }
        return inputGradient
    }
}
