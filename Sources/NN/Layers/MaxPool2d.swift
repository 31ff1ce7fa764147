import Kernels

/// Max pooling over k×k windows with stride k (PyTorch's `nn.MaxPool2d(k)`, floor mode).
/// Shapes: (N, C, H, W) → (N, C, ⌊H/k⌋, ⌊W/k⌋).
/// Forward: y = the largest x in each window; when a backward pass may follow, we remember where
/// it was (its place in the window, i·k + j, in 16 bits: half the memory of a 32-bit index into
/// the plane).
/// Backward: the whole gradient of y goes to that one input; the others get 0
/// (the first maximum wins ties, as in PyTorch).
public final class MaxPool2d: Layer {
    public let kernelSize: Int
    private let output = Tensor(shape: [0])
    private var argmax: [UInt16] = []    // per output, where in its window the maximum was
    private var positionsKept = false    // whether the last forward pass wrote `argmax`
    private var inputShape: [Int] = []
    private var windowOffsets: [Int] = []  // window position i·k + j → i·W + j, for the last input width W

    public init(_ kernelSize: Int) {
        precondition(kernelSize > 0 && kernelSize < 256, "window positions are kept in 16 bits")
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
        if input.shape.last != inputShape.last {
            windowOffsets = (0..<kernelSize * kernelSize).map { $0 / kernelSize * input.shape[3] + $0 % kernelSize }
        }
        inputShape = input.shape
        let planes = input.shape[0] * input.shape[1], h = input.shape[2], w = input.shape[3]
        let k = kernelSize, oh = h / k, ow = w / k
        output.reshape([input.shape[0], input.shape[1], oh, ow])
        if argmax.count < output.count { argmax = Array(repeating: 0, count: output.count) }
        let x = input.data, y = output.data, remembers = context.training || context.needsBackward
        positionsKept = remembers || k != 2   // the general loop always writes them
        argmax.withUnsafeMutableBufferPointer { indices in
            let where_ = indices.baseAddress!
            parallelFor(planes, threads: context.threads, minimumPerThread: 16) { _, range in
                if k == 2 {
                    for p in range {
                        if remembers {
                            Self.pool2x2(x + p * h * w, width: w, rows: oh, columns: ow, y + p * oh * ow, where_ + p * oh * ow,
                                         positions: Remembered.self)
                        } else {
                            Self.pool2x2(x + p * h * w, width: w, rows: oh, columns: ow, y + p * oh * ow, where_ + p * oh * ow,
                                         positions: NotRemembered.self)
                        }
                    }
                    return
                }
                for p in range {
                    let plane = x + p * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let corner = plane + oy * k * w + ox * k
                            var best = corner[0], bestPosition = 0
                            for i in 0..<k {
                                for j in 0..<k {
                                    let value = corner[i * w + j]
                                    if value > best || (value.isNaN && !best.isNaN) { best = value; bestPosition = i * k + j }
                                }
                            }
                            let o = (p * oh + oy) * ow + ox
                            y[o] = best
                            where_[o] = UInt16(truncatingIfNeeded: bestPosition)
                        }
                    }
                }
            }
        }
        return output
    }

    /// The 2×2 case, eight windows at a time: the even and odd columns of two rows are the four
    /// candidates of eight windows, compared lane by lane without a branch (on random data a
    /// branch per comparison is a coin toss for the CPU). A row's last step overlaps the one
    /// before it rather than leaving a tail (its windows are computed twice, to the same values);
    /// rows of 4 to 7 windows take four at a time, narrower ones one by one. The same
    /// first-maximum rule (a NaN wins over a number) as the general loop. Where no backward pass
    /// follows, the positions are not written (`NotRemembered`: that copy compiles without them).
    @inline(__always)
    static func pool2x2<Positions: WindowPositions>(_ plane: UnsafePointer<Float>, width w: Int, rows oh: Int, columns ow: Int,
                                                    _ y: UnsafeMutablePointer<Float>, _ where_: UnsafeMutablePointer<UInt16>,
                                                    positions: Positions.Type) {
        // Window positions: top left 0, top right 1, bottom left 2, bottom right 3.
        let (first, right, below, diagonal) = (SIMD8<Int32>(repeating: 0), Int32(1), Int32(2), Int32(3))
        for oy in 0..<oh {
            let top = plane + 2 * oy * w, bottom = top + w
            if ow >= 8 {
                var ox = 0
                while true {
                    let upper = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
                    let lower = UnsafeRawPointer(bottom + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
                    var best = upper.evenHalf, index = first
                    keepFirstLargest(&best, &index, upper.oddHalf, first &+ right)
                    keepFirstLargest(&best, &index, lower.evenHalf, first &+ below)
                    keepFirstLargest(&best, &index, lower.oddHalf, first &+ diagonal)
                    UnsafeMutableRawPointer(y + oy * ow + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                    if Positions.kept {
                        UnsafeMutableRawPointer(where_ + oy * ow + ox)
                            .storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: index), as: SIMD8<UInt16>.self)
                    }
                    if ox == ow - 8 { break }
                    ox = min(ox + 8, ow - 8)
                }
            } else if ow >= 4 {
                for ox in [0, ow - 4] {
                    let upper = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
                    let lower = UnsafeRawPointer(bottom + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
                    var best = upper.evenHalf, index = first.lowHalf
                    keepFirstLargest(&best, &index, upper.oddHalf, first.lowHalf &+ right)
                    keepFirstLargest(&best, &index, lower.evenHalf, first.lowHalf &+ below)
                    keepFirstLargest(&best, &index, lower.oddHalf, first.lowHalf &+ diagonal)
                    UnsafeMutableRawPointer(y + oy * ow + ox).storeBytes(of: best, as: SIMD4<Float>.self)
                    if Positions.kept {
                        UnsafeMutableRawPointer(where_ + oy * ow + ox)
                            .storeBytes(of: SIMD4<UInt16>(truncatingIfNeeded: index), as: SIMD4<UInt16>.self)
                    }
                }
            } else {
                for ox in 0..<ow {
                    var best = top[2 * ox], position: UInt16 = 0
                    for candidate: UInt16 in 1...3 {
                        let value = (candidate < 2 ? top : bottom)[2 * ox + Int(candidate & 1)]
                        if value > best || (value.isNaN && !best.isNaN) {
                            best = value
                            position = candidate
                        }
                    }
                    y[oy * ow + ox] = best
                    if Positions.kept { where_[oy * ow + ox] = position }
                }
            }
        }
    }

    /// Lane by lane: where `candidate` beats `best` (is larger, or is a NaN where best is not),
    /// take it and its index; an equal value does not (the first maximum wins).
    @inline(__always)
    static func keepFirstLargest(_ best: inout SIMD8<Float>, _ index: inout SIMD8<Int32>, _ candidate: SIMD8<Float>,
                                 _ at: SIMD8<Int32>) {
        let wins = (candidate .> best) .| ((candidate .!= candidate) .& (best .== best))
        best.replace(with: candidate, where: wins)
        index.replace(with: at, where: wins)
    }

    // The same for four lanes. Written twice on purpose: one generic version over SIMD types was
    // measured at 14.0 ms for s6's pool instead of 0.98 (the compiler did not specialise its mask
    // operations), and the eight- and four-window steps above repeat each other for the same reason.
    @inline(__always)
    static func keepFirstLargest(_ best: inout SIMD4<Float>, _ index: inout SIMD4<Int32>, _ candidate: SIMD4<Float>,
                                 _ at: SIMD4<Int32>) {
        let wins = (candidate .> best) .| ((candidate .!= candidate) .& (best .== best))
        best.replace(with: candidate, where: wins)
        index.replace(with: at, where: wins)
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(positionsKept, "MaxPool2d.backward after a forward pass without one to follow (Context(needsBackward: true) keeps the maxima's places)")
        let inputGradient = context.gradients.inputGradient(inputShape, besides: outputGradient)
        inputGradient.fill(0)
        let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3]
        let k = kernelSize, oh = output.shape[2], ow = output.shape[3]
        let g = outputGradient.data, dx = inputGradient.data
        argmax.withUnsafeBufferPointer { positions in
            windowOffsets.withUnsafeBufferPointer { offsets in
                let where_ = positions.baseAddress!, offset = offsets.baseAddress!
                parallelFor(planes, threads: context.threads, minimumPerThread: 16) { _, range in
                    for p in range {
                        for oy in 0..<oh {
                            let row = dx + p * h * w + oy * k * w, o = (p * oh + oy) * ow
                            for ox in 0..<ow { row[ox * k + offset[Int(where_[o + ox])]] += g[o + ox] }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}

/// Whether max-pooling writes where each maximum was (for a backward pass) or only the maxima:
/// a type, so that each choice compiles into its own loop.
protocol WindowPositions { static var kept: Bool { get } }
enum Remembered: WindowPositions { static var kept: Bool { true } }
enum NotRemembered: WindowPositions { static var kept: Bool { false } }
