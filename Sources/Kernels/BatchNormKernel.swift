// The loops of batch normalisation, in SIMD16, the channels spread over the threads.
// Activations are (N, C, H, W): channel c of image s is the row of `plane` = H·W values starting
// at (s·C + c)·plane. The math, and why each term is there, is
// above `BatchNorm2d` (NN/Layers/BatchNorm2d.swift).
//
// `ConvBlock` (NN/Layers/ConvBlock.swift) runs a convolution's BatchNorm, ReLU and Dropout as one
// sweep, so the loops below optionally take those along (`Fusion`), in either order of the two:
//   Conv → BatchNorm → ReLU (→ Dropout), `rectifiesOutput`:
//     forward:  y = max(0, x·scale + shift) · mask
//     backward: the gradient reaching BatchNorm's output is g′ = g·k where y > 0 and 0 elsewhere,
//               since y > 0 exactly where ReLU passed and dropout kept (k = 1/(1 − p), or 1). So
//               neither ReLU's output nor the mask is stored: `through` is the block's output y.
//   Conv → ReLU → BatchNorm (→ Dropout), `rectifiesInput`: BatchNorm's input is r = max(0, x) of
//     the convolution's output x, read through the ReLU wherever the loops read it, never stored:
//     forward:  y = (r·scale + shift) · mask
//     backward: g′ = g·mask (recomputed from the mask's key: y may have any sign), and ∂L/∂x is
//               BatchNorm's ∂L/∂r where r > 0, 0 elsewhere.
// Without them (`Fusion.none`) they are plain BatchNorm.
//
// Each thread takes a range of channels, and every pass walks its rows image by image (row (s, c)
// for s, then c in the range: long runs of adjacent memory) rather than channel by channel (one
// plane, then a jump of C planes): the hardware prefetches the runs. A channel's row sums are
// still added in image order, so the sums are the same to the bit either way.

public enum BatchNormKernel {
    /// Where a channel's rows lie in an (N, C, H, W) tensor.
    public struct Layout: Sendable {
        public let images: Int
        public let channels: Int
        public let plane: Int
        public init(images: Int, channels: Int, plane: Int) {
            self.images = images; self.channels = channels; self.plane = plane
        }
        /// The first value of channel c of image s.
        @inline(__always) func row(_ s: Int, _ c: Int) -> Int { (s * channels + c) * plane }
        /// Values per channel over the batch: M = N·H·W.
        public var valuesPerChannel: Int { images * plane }
    }

    /// The layers a fused block runs with BatchNorm (see the top of this file).
    public struct Fusion: Sendable {
        /// A ReLU before BatchNorm: its input is max(0, x) of the x the loops are given.
        public let rectifiesInput: Bool
        /// A ReLU after BatchNorm: y = max(0, ·).
        public let rectifiesOutput: Bool
        /// Dropout last, per element or (`dropsWholeChannels`, Dropout2d) per image and channel.
        public let dropout: DropoutMask?
        public let dropsWholeChannels: Bool
        public init(rectifiesInput: Bool = false, rectifiesOutput: Bool = false, dropout: DropoutMask? = nil,
                    dropsWholeChannels: Bool = false) {
            precondition(!(rectifiesInput && rectifiesOutput), "one ReLU, before or after BatchNorm")
            self.rectifiesInput = rectifiesInput; self.rectifiesOutput = rectifiesOutput
            self.dropout = dropout; self.dropsWholeChannels = dropsWholeChannels
        }
        /// Plain BatchNorm.
        public static let none = Fusion()
    }

    /// The batch mean and biased variance of each channel in `channels`, into `mean` and `variance`
    /// (indexed by channel), of x or (`rectifiesInput`) of max(0, x). Two passes, rows summed in
    /// Float and rows added in Double: exact enough for any batch size. Each pass visits the rows
    /// in memory order, image by image.
    public static func statistics(channels range: Range<Int>, _ layout: Layout, x: UnsafePointer<Float>, rectifiesInput: Bool = false,
                                  mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Double>) {
        if rectifiesInput {
            statistics(ThroughReLU.self, channels: range, layout, x: x, mean: mean, variance: variance)
        } else {
            statistics(AsGiven.self, channels: range, layout, x: x, mean: mean, variance: variance)
        }
    }

    private static func statistics<Input: InputRead>(_: Input.Type, channels range: Range<Int>, _ layout: Layout, x: UnsafePointer<Float>,
                                                     mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Double>) {
        let m = Double(layout.valuesPerChannel)
        for c in range { variance[c] = 0 }   // the sums, then the squares
        for s in 0..<layout.images {
            for c in range { variance[c] += Double(sum(Input.self, x + layout.row(s, c), layout.plane)) }
        }
        for c in range { mean[c] = Float(variance[c] / m); variance[c] = 0 }
        for s in 0..<layout.images {
            for c in range { variance[c] += Double(squaredDeviations(Input.self, x + layout.row(s, c), layout.plane, mean: mean[c])) }
        }
        for c in range { variance[c] /= m }
    }

    /// The per-channel figures the loops read: γ, β and the statistics in use, μ and 1/√(σ² + ε).
    public struct Channels {
        public let gamma: UnsafePointer<Float>
        public let beta: UnsafePointer<Float>
        public let mean: UnsafePointer<Float>
        public let inverseStd: UnsafePointer<Float>
        public init(gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                    inverseStd: UnsafePointer<Float>) {
            self.gamma = gamma; self.beta = beta; self.mean = mean; self.inverseStd = inverseStd
        }
    }

    /// The forward pass, channels spread over `threads`: y = r·scale + shift per channel (scale =
    /// γ/√(σ² + ε), shift = β − μ·scale; r = x, or max(0, x) with `fusion.rectifiesInput`), then
    /// the fusion's ReLU and dropout mask, per element or, with `dropsWholeChannels`, per image and
    /// channel. y may be x (each value is read before it is written).
    public static func normalize(_ layout: Layout, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, _ channels: Channels,
                                 _ fusion: Fusion = .none, threads: Int) {
        if fusion.rectifiesInput {
            normalize(ThroughReLU.self, layout, x: x, y: y, channels, fusion, threads: threads)
        } else {
            normalize(AsGiven.self, layout, x: x, y: y, channels, fusion, threads: threads)
        }
    }

    private static func normalize<Input: InputRead>(_: Input.Type, _ layout: Layout, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                                    _ channels: Channels, _ fusion: Fusion, threads: Int) {
        parallelFor(layout.channels, threads: threads) { _, range in
            for s in 0..<layout.images {
                for c in range {
                    let scale = channels.gamma[c] * channels.inverseStd[c]
                    let shift = channels.beta[c] - channels.mean[c] * scale
                    let row = layout.row(s, c)
                    normalize(Input.self, x + row, y + row, layout.plane, scale: scale, shift: shift, rectify: fusion.rectifiesOutput,
                              dropout: fusion.dropout, firstUnit: fusion.dropsWholeChannels ? s * layout.channels + c : row,
                              unitIsRow: fusion.dropsWholeChannels)
                }
            }
        }
    }

    /// The backward pass, channels spread over `threads`: adds ∂L/∂β = Σ g′ and ∂L/∂γ = Σ g′·r̂
    /// into `betaGradient` and `gammaGradient` and, when `dx` is given, writes ∂L/∂x (with the
    /// batch terms when the statistics came from the batch). g′ is the gradient reaching
    /// BatchNorm's output: g; or, with the fusion's ReLU after it, g·keptScale where the block's
    /// output y (`through`) > 0; or, with dropout alone after it, g·mask. With the fusion's ReLU
    /// before it, BatchNorm's input is r = max(0, x) and ∂L/∂x is 0 where r = 0. dx may be x.
    public static func backward(_ layout: Layout, g: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                through y: UnsafePointer<Float>? = nil, _ channels: Channels, _ fusion: Fusion = .none,
                                statisticsFromBatch: Bool, dx: UnsafeMutablePointer<Float>?,
                                gammaGradient: UnsafeMutablePointer<Float>, betaGradient: UnsafeMutablePointer<Float>,
                                threads: Int) {
        // g′ along row (s, c), given the row's start and s·C + c; each way of reading the input with each.
        func run<Incoming: IncomingGradient>(_ incoming: (_ row: Int, _ unit: Int) -> Incoming) {
            if fusion.rectifiesInput {
                backward(ThroughReLU.self, incoming, layout, x: x, channels, statisticsFromBatch: statisticsFromBatch, dx: dx,
                         gammaGradient: gammaGradient, betaGradient: betaGradient, threads: threads)
            } else {
                backward(AsGiven.self, incoming, layout, x: x, channels, statisticsFromBatch: statisticsFromBatch, dx: dx,
                         gammaGradient: gammaGradient, betaGradient: betaGradient, threads: threads)
            }
        }
        if fusion.rectifiesOutput {
            precondition(y != nil, "a ReLU after BatchNorm needs the block's output")
            let keptScale = fusion.dropout?.scale ?? 1
            run { row, _ in ThroughPositiveOutput(g: g + row, y: y! + row, keptScale: keptScale) }
        } else if let mask = fusion.dropout {
            if fusion.dropsWholeChannels {
                run { row, unit in ScaledRow(g: g + row, factor: mask.factor(unit)) }
            } else {
                run { row, _ in ThroughMask(g: g + row, mask: mask, firstUnit: row) }
            }
        } else {
            run { row, _ in Unchanged(g: g + row) }
        }
    }

    /// `backward`'s loops, for one way of reading the input and one of forming g′ along row
    /// (s, c) (`incoming(row start, s·C + c)`).
    private static func backward<Input: InputRead, Incoming: IncomingGradient>(
        _: Input.Type, _ incoming: (_ row: Int, _ unit: Int) -> Incoming, _ layout: Layout, x: UnsafePointer<Float>,
        _ channels: Channels, statisticsFromBatch: Bool, dx: UnsafeMutablePointer<Float>?,
        gammaGradient: UnsafeMutablePointer<Float>, betaGradient: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let plane = layout.plane, m = Float(layout.valuesPerChannel)
        parallelFor(layout.channels, threads: threads) { _, range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * range.upperBound) { sums in
                // Σ g′ and Σ g′·(r − μ), indexed by channel (only the range's are used), rows
                // visited in memory order.
                let sumG = sums.baseAddress!, sumGX = sumG + range.upperBound
                for c in range { sumG[c] = 0; sumGX[c] = 0 }
                for s in 0..<layout.images {
                    for c in range {
                        let row = layout.row(s, c)
                        let (rowG, rowGX) = gradientSums(incoming(row, s * layout.channels + c), Input.self, x + row,
                                                         mean: channels.mean[c], plane)
                        sumG[c] += rowG
                        sumGX[c] += rowGX
                    }
                }
                for c in range {
                    betaGradient[c] += sumG[c]
                    gammaGradient[c] += sumGX[c] * channels.inverseStd[c]
                }
                guard let dx else { return }
                for s in 0..<layout.images {
                    for c in range {
                        let row = layout.row(s, c)
                        let mean = channels.mean[c], inverseStd = channels.inverseStd[c]
                        let slope = channels.gamma[c] * inverseStd
                        let g = incoming(row, s * layout.channels + c)
                        if statisticsFromBatch {
                            inputGradient(g, Input.self, x + row, mean: mean, dx + row, plane, slope: slope,
                                          throughMean: slope * sumG[c] / m,
                                          throughVariance: slope * sumGX[c] * inverseStd * inverseStd / m)
                        } else {
                            fixedStatisticsInputGradient(g, Input.self, x + row, dx + row, plane, slope: slope)
                        }
                    }
                }
            }
        }
    }

    /// Σ r[i] for i < count (r: x read as `Input` reads it).
    static func sum<Input: InputRead>(_: Input.Type, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var i = 0
        while i + 32 <= count { a += Input.lanes(x, i); b += Input.lanes(x, i + 16); i += 32 }
        var total = (a + b).sum()
        while i < count { total += Input.value(x, i); i += 1 }
        return total
    }

    /// Σ (r[i] − mean)² for i < count.
    static func squaredDeviations<Input: InputRead>(_: Input.Type, _ x: UnsafePointer<Float>, _ count: Int, mean: Float) -> Float {
        let m = SIMD16<Float>(repeating: mean)
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            let d0 = Input.lanes(x, i) - m, d1 = Input.lanes(x, i + 16) - m
            a.addProduct(d0, d0); b.addProduct(d1, d1); i += 32
        }
        var total = (a + b).sum()
        while i < count { let d = Input.value(x, i) - mean; total += d * d; i += 1 }
        return total
    }

    /// y = r·scale + shift (that is γ·r̂ + β, with scale = γ/√(σ² + ε) and shift = β − μ·scale);
    /// then, for a fused block, max(0, ·) (`rectify`) and times the dropout mask's factor of unit
    /// `firstUnit` + i (element-wise) or of the whole row (`unitIsRow`, Dropout2d).
    static func normalize<Input: InputRead>(_: Input.Type, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                                            scale: Float, shift: Float, rectify: Bool, dropout: DropoutMask?,
                                            firstUnit: Int, unitIsRow: Bool) {
        let a = SIMD16<Float>(repeating: scale), b = SIMD16<Float>(repeating: shift)
        var i = 0
        if let mask = dropout, unitIsRow {
            let factor = mask.factor(firstUnit), f = SIMD16<Float>(repeating: factor)
            while i + 16 <= count {
                var v = Input.lanes(x, i) * a + b
                if rectify { v = rectified(v) }
                store(v * f, y, i)
                i += 16
            }
            while i < count {
                var v = Input.value(x, i) * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v * factor
                i += 1
            }
        } else if let mask = dropout {
            let keptScale = SIMD16<Float>(repeating: mask.scale)
            while i + 16 <= count {
                var v = Input.lanes(x, i) * a + b
                if rectify { v = rectified(v) }
                store(select(v * keptScale, mask.keptLanes(firstUnit + i)), y, i)
                i += 16
            }
            while i < count {
                var v = Input.value(x, i) * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v * mask.factor(firstUnit + i)
                i += 1
            }
        } else {
            while i + 16 <= count {
                var v = Input.lanes(x, i) * a + b
                if rectify { v = rectified(v) }
                store(v, y, i)
                i += 16
            }
            while i < count {
                var v = Input.value(x, i) * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v
                i += 1
            }
        }
    }

    /// (Σ g′, Σ g′·(r − mean)) over the row: what ∂L/∂β and ∂L/∂γ sum, and what the input
    /// gradient's two batch terms need.
    static func gradientSums<Incoming: IncomingGradient, Input: InputRead>(_ g: Incoming, _: Input.Type, _ x: UnsafePointer<Float>,
                                                                           mean: Float, _ count: Int) -> (Float, Float) {
        let m = SIMD16<Float>(repeating: mean)
        var sumG = SIMD16<Float>(), sumGX = SIMD16<Float>()
        var i = 0
        var tailG: Float = 0, tailGX: Float = 0
        while i + 16 <= count {
            let gi = g.lanes(i)
            sumG += gi; sumGX.addProduct(gi, Input.lanes(x, i) - m); i += 16
        }
        while i < count { let gi = g.value(i); tailG += gi; tailGX += gi * (Input.value(x, i) - mean); i += 1 }
        return (sumG.sum() + tailG, sumGX.sum() + tailGX)
    }

    /// The input gradient when the statistics came from the batch (training):
    ///   ∂L/∂r = slope·g′ − throughMean − throughVariance·(r − mean)
    /// with slope = γ/√(σ² + ε), throughMean = slope·Σg′/M, throughVariance = slope·Σg′·(r − μ)/(M·(σ² + ε));
    /// then through the ReLU before, if any.
    static func inputGradient<Incoming: IncomingGradient, Input: InputRead>(
        _ g: Incoming, _: Input.Type, _ x: UnsafePointer<Float>, mean: Float, _ dx: UnsafeMutablePointer<Float>, _ count: Int,
        slope: Float, throughMean: Float, throughVariance: Float
    ) {
        let m = SIMD16<Float>(repeating: mean)
        let a = SIMD16<Float>(repeating: slope), b = SIMD16<Float>(repeating: throughMean)
        let c = SIMD16<Float>(repeating: throughVariance)
        var i = 0
        while i + 16 <= count {
            let r = Input.lanes(x, i)
            store(Input.gate(a * g.lanes(i) - b - c * (r - m), by: r), dx, i); i += 16
        }
        while i < count {
            let r = Input.value(x, i)
            dx[i] = Input.gate(slope * g.value(i) - throughMean - throughVariance * (r - mean), by: r); i += 1
        }
    }

    /// The input gradient when the statistics were fixed (evaluation): ∂L/∂r = slope·g′, then
    /// through the ReLU before, if any.
    static func fixedStatisticsInputGradient<Incoming: IncomingGradient, Input: InputRead>(
        _ g: Incoming, _: Input.Type, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int, slope: Float
    ) {
        let a = SIMD16<Float>(repeating: slope)
        var i = 0
        while i + 16 <= count { store(Input.gate(g.lanes(i) * a, by: Input.lanes(x, i)), dx, i); i += 16 }
        while i < count { dx[i] = Input.gate(g.value(i) * slope, by: Input.value(x, i)); i += 1 }
    }
}

/// How the loops read BatchNorm's input from the x they are given, 16 lanes or one value at a
/// time: as it is, or through the ReLU before BatchNorm. (Generic parameters, so that each loop is
/// compiled once per way, with no test inside it.)
protocol InputRead {
    static func lanes(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float>
    static func value(_ x: UnsafePointer<Float>, _ i: Int) -> Float
    /// ∂L/∂x from ∂L/∂r, r being what was read at that place.
    static func gate(_ gradient: SIMD16<Float>, by r: SIMD16<Float>) -> SIMD16<Float>
    static func gate(_ gradient: Float, by r: Float) -> Float
}

/// r = x.
enum AsGiven: InputRead {
    @inline(__always) static func lanes(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> { load(x, i) }
    @inline(__always) static func value(_ x: UnsafePointer<Float>, _ i: Int) -> Float { x[i] }
    @inline(__always) static func gate(_ gradient: SIMD16<Float>, by r: SIMD16<Float>) -> SIMD16<Float> { gradient }
    @inline(__always) static func gate(_ gradient: Float, by r: Float) -> Float { gradient }
}

/// r = max(0, x) (as `ReLU`'s forward), and ∂L/∂x = ∂L/∂r where r > 0, else 0 (as its backward).
enum ThroughReLU: InputRead {
    @inline(__always) static func lanes(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> { rectified(load(x, i)) }
    @inline(__always) static func value(_ x: UnsafePointer<Float>, _ i: Int) -> Float { max(x[i], 0) }
    @inline(__always) static func gate(_ gradient: SIMD16<Float>, by r: SIMD16<Float>) -> SIMD16<Float> {
        select(gradient, positiveLanes(r))
    }
    @inline(__always) static func gate(_ gradient: Float, by r: Float) -> Float { r > 0 ? gradient : 0 }
}

/// The gradient reaching BatchNorm's output, g′, along one row, formed from the gradient g of the
/// fused block's output as the loops read it.
protocol IncomingGradient {
    func lanes(_ i: Int) -> SIMD16<Float>
    func value(_ i: Int) -> Float
}

/// g′ = g: nothing after BatchNorm.
struct Unchanged: IncomingGradient {
    let g: UnsafePointer<Float>
    @inline(__always) func lanes(_ i: Int) -> SIMD16<Float> { load(g, i) }
    @inline(__always) func value(_ i: Int) -> Float { g[i] }
}

/// A ReLU (and dropout) after BatchNorm: g′ = g·keptScale where the block's output y > 0, else 0.
struct ThroughPositiveOutput: IncomingGradient {
    let g: UnsafePointer<Float>
    let y: UnsafePointer<Float>
    let keptScale: Float
    @inline(__always) func lanes(_ i: Int) -> SIMD16<Float> {
        select(load(g, i) * SIMD16<Float>(repeating: keptScale), positiveLanes(load(y, i)))
    }
    @inline(__always) func value(_ i: Int) -> Float { y[i] > 0 ? g[i] * keptScale : 0 }
}

/// Element-wise dropout after BatchNorm: g′ = g·(the mask's factor of unit firstUnit + i), as
/// `Elementwise.dropout`.
struct ThroughMask: IncomingGradient {
    let g: UnsafePointer<Float>
    let mask: DropoutMask
    let firstUnit: Int
    @inline(__always) func lanes(_ i: Int) -> SIMD16<Float> {
        select(load(g, i) * SIMD16<Float>(repeating: mask.scale), mask.keptLanes(firstUnit + i))
    }
    @inline(__always) func value(_ i: Int) -> Float { g[i] * mask.factor(firstUnit + i) }
}

/// Dropout2d after BatchNorm: g′ = g·(the row's factor, 0 or 1/(1 − p)).
struct ScaledRow: IncomingGradient {
    let g: UnsafePointer<Float>
    let factor: Float
    @inline(__always) func lanes(_ i: Int) -> SIMD16<Float> { load(g, i) * SIMD16<Float>(repeating: factor) }
    @inline(__always) func value(_ i: Int) -> Float { g[i] * factor }
}
