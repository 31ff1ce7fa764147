// The loops of batch normalisation, in SIMD16, the channels spread over the threads.
// Activations are (N, C, H, W): channel c of image s is the row of `plane` = H·W values starting
// at (s·C + c)·plane. The math, and why each term is there, is
// above `BatchNorm2d` (NN/Layers/BatchNorm2d.swift).
//
// `ConvBlock` (NN/Layers/ConvBlock.swift) runs BatchNorm → ReLU → Dropout as one sweep, so the
// loops below optionally take the two after BatchNorm along:
//   forward:  y = max(0, x·scale + shift) · mask      (`rectify`, `dropout`)
//   backward: the gradient reaching BatchNorm's output is g′ = g·k where y > 0 and 0 elsewhere,
//             since y > 0 exactly where ReLU passed and dropout kept (k = 1/(1 − p), or 1). So
//             neither ReLU's output nor the mask is stored: `through` is the block's output y.
// Without them (`rectify: false`, `dropout: nil`, `through: nil`) they are plain BatchNorm.
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

    /// The batch mean and biased variance of each channel in `channels`, into `mean` and `variance`
    /// (indexed by channel). Two passes, rows summed in Float and rows added in Double: exact
    /// enough for any batch size. Each pass visits the rows in memory order, image by image.
    public static func statistics(channels range: Range<Int>, _ layout: Layout, x: UnsafePointer<Float>,
                                  mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Double>) {
        let m = Double(layout.valuesPerChannel)
        for c in range { variance[c] = 0 }   // the sums, then the squares
        for s in 0..<layout.images {
            for c in range { variance[c] += Double(sum(x + layout.row(s, c), layout.plane)) }
        }
        for c in range { mean[c] = Float(variance[c] / m); variance[c] = 0 }
        for s in 0..<layout.images {
            for c in range { variance[c] += Double(squaredDeviations(x + layout.row(s, c), layout.plane, mean: mean[c])) }
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

    /// The forward pass, channels spread over `threads`: y = x·scale + shift per channel (scale =
    /// γ/√(σ² + ε), shift = β − μ·scale), then (`rectify`) max(0, ·) and (`dropout`) the mask, per
    /// element or, with `dropsWholeChannels`, per image and channel.
    public static func normalize(_ layout: Layout, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, _ channels: Channels,
                                 rectify: Bool = false, dropout: DropoutMask? = nil, dropsWholeChannels: Bool = false,
                                 threads: Int) {
        parallelFor(layout.channels, threads: threads) { _, range in
            for s in 0..<layout.images {
                for c in range {
                    let scale = channels.gamma[c] * channels.inverseStd[c]
                    let shift = channels.beta[c] - channels.mean[c] * scale
                    let row = layout.row(s, c)
                    normalize(x + row, y + row, layout.plane, scale: scale, shift: shift, rectify: rectify, dropout: dropout,
                              firstUnit: dropsWholeChannels ? s * layout.channels + c : row, unitIsRow: dropsWholeChannels)
                }
            }
        }
    }

    /// The backward pass, channels spread over `threads`: adds ∂L/∂β = Σ g′ and ∂L/∂γ = Σ g′·x̂
    /// into `betaGradient` and `gammaGradient` and, when `dx` is given, writes ∂L/∂x (with the
    /// batch terms when the statistics came from the batch). g′ = g, or through a fused block's
    /// output y, g·keptScale where y > 0.
    public static func backward(_ layout: Layout, g: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                through y: UnsafePointer<Float>?, keptScale: Float = 1, _ channels: Channels,
                                statisticsFromBatch: Bool, dx: UnsafeMutablePointer<Float>?,
                                gammaGradient: UnsafeMutablePointer<Float>, betaGradient: UnsafeMutablePointer<Float>,
                                threads: Int) {
        let plane = layout.plane, m = Float(layout.valuesPerChannel)
        parallelFor(layout.channels, threads: threads) { _, range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * range.upperBound) { sums in
                // Σ g′ and Σ g′·(x − μ), indexed by channel (only the range's are used), rows
                // visited in memory order.
                let sumG = sums.baseAddress!, sumGX = sumG + range.upperBound
                for c in range { sumG[c] = 0; sumGX[c] = 0 }
                for s in 0..<layout.images {
                    for c in range {
                        let row = layout.row(s, c)
                        let (rowG, rowGX) = gradientSums(g + row, through: y.map { $0 + row }, keptScale: keptScale, x + row,
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
                        if statisticsFromBatch {
                            inputGradient(g + row, through: y.map { $0 + row }, keptScale: keptScale, x + row, mean: mean,
                                          dx + row, plane, slope: slope, throughMean: slope * sumG[c] / m,
                                          throughVariance: slope * sumGX[c] * inverseStd * inverseStd / m)
                        } else {
                            fixedStatisticsInputGradient(g + row, through: y.map { $0 + row }, keptScale: keptScale, dx + row,
                                                         plane, slope: slope)
                        }
                    }
                }
            }
        }
    }

    /// Σ x[i] for i < count.
    static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var i = 0
        while i + 32 <= count { a += load(x, i); b += load(x, i + 16); i += 32 }
        var total = (a + b).sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Σ (x[i] − mean)² for i < count.
    static func squaredDeviations(_ x: UnsafePointer<Float>, _ count: Int, mean: Float) -> Float {
        let m = SIMD16<Float>(repeating: mean)
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            let d0 = load(x, i) - m, d1 = load(x, i + 16) - m
            a.addProduct(d0, d0); b.addProduct(d1, d1); i += 32
        }
        var total = (a + b).sum()
        while i < count { let d = x[i] - mean; total += d * d; i += 1 }
        return total
    }

    /// y = x·scale + shift (that is γ·x̂ + β, with scale = γ/√(σ² + ε) and shift = β − μ·scale);
    /// then, for a fused block, max(0, ·) (`rectify`) and times the dropout mask's factor of unit
    /// `firstUnit` + i (element-wise) or of the whole row (`unitIsRow`, Dropout2d).
    static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                                 scale: Float, shift: Float, rectify: Bool, dropout: DropoutMask?,
                                 firstUnit: Int, unitIsRow: Bool) {
        let a = SIMD16<Float>(repeating: scale), b = SIMD16<Float>(repeating: shift)
        var i = 0
        if let mask = dropout, unitIsRow {
            let factor = mask.factor(firstUnit), f = SIMD16<Float>(repeating: factor)
            while i + 16 <= count {
                var v = load(x, i) * a + b
                if rectify { v = rectified(v) }
                store(v * f, y, i)
                i += 16
            }
            while i < count {
                var v = x[i] * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v * factor
                i += 1
            }
        } else if let mask = dropout {
            let keptScale = SIMD16<Float>(repeating: mask.scale)
            while i + 16 <= count {
                var v = load(x, i) * a + b
                if rectify { v = rectified(v) }
                store(select(v * keptScale, mask.keptLanes(firstUnit + i)), y, i)
                i += 16
            }
            while i < count {
                var v = x[i] * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v * mask.factor(firstUnit + i)
                i += 1
            }
        } else {
            while i + 16 <= count {
                var v = load(x, i) * a + b
                if rectify { v = rectified(v) }
                store(v, y, i)
                i += 16
            }
            while i < count {
                var v = x[i] * scale + shift
                if rectify { v = max(v, 0) }
                y[i] = v
                i += 1
            }
        }
    }

    /// (Σ g′, Σ g′·(x − mean)) over the row: what ∂L/∂β and ∂L/∂γ sum, and what the input
    /// gradient's two batch terms need. g′ = g, or through a fused block's output y: g·keptScale
    /// where y > 0, else 0.
    static func gradientSums(_ g: UnsafePointer<Float>, through output: UnsafePointer<Float>?, keptScale: Float,
                                    _ x: UnsafePointer<Float>, mean: Float, _ count: Int) -> (Float, Float) {
        let k = SIMD16<Float>(repeating: keptScale), m = SIMD16<Float>(repeating: mean)
        var sumG = SIMD16<Float>(), sumGX = SIMD16<Float>()
        var i = 0
        var tailG: Float = 0, tailGX: Float = 0
        if let y = output {
            while i + 16 <= count {
                let gi = select(load(g, i) * k, positiveLanes(load(y, i)))
                sumG += gi; sumGX.addProduct(gi, load(x, i) - m); i += 16
            }
            while i < count { let gi = y[i] > 0 ? g[i] * keptScale : 0; tailG += gi; tailGX += gi * (x[i] - mean); i += 1 }
        } else {
            while i + 16 <= count {
                let gi = load(g, i)
                sumG += gi; sumGX.addProduct(gi, load(x, i) - m); i += 16
            }
            while i < count { tailG += g[i]; tailGX += g[i] * (x[i] - mean); i += 1 }
        }
        return (sumG.sum() + tailG, sumGX.sum() + tailGX)
    }

    /// The input gradient when the statistics came from the batch (training), g′ as in `gradientSums`:
    ///   dx = slope·g′ − throughMean − throughVariance·(x − mean)
    /// with slope = γ/√(σ² + ε), throughMean = slope·Σg′/M, throughVariance = slope·Σg′·(x − μ)/(M·(σ² + ε)).
    static func inputGradient(_ g: UnsafePointer<Float>, through output: UnsafePointer<Float>?, keptScale: Float,
                                     _ x: UnsafePointer<Float>, mean: Float, _ dx: UnsafeMutablePointer<Float>, _ count: Int,
                                     slope: Float, throughMean: Float, throughVariance: Float) {
        let k = SIMD16<Float>(repeating: keptScale), m = SIMD16<Float>(repeating: mean)
        let a = SIMD16<Float>(repeating: slope), b = SIMD16<Float>(repeating: throughMean)
        let c = SIMD16<Float>(repeating: throughVariance)
        var i = 0
        if let y = output {
            while i + 16 <= count {
                let gi = select(load(g, i) * k, positiveLanes(load(y, i)))
                store(a * gi - b - c * (load(x, i) - m), dx, i); i += 16
            }
            while i < count {
                let gi = y[i] > 0 ? g[i] * keptScale : 0
                dx[i] = slope * gi - throughMean - throughVariance * (x[i] - mean); i += 1
            }
        } else {
            while i + 16 <= count {
                store(a * load(g, i) - b - c * (load(x, i) - m), dx, i); i += 16
            }
            while i < count { dx[i] = slope * g[i] - throughMean - throughVariance * (x[i] - mean); i += 1 }
        }
    }

    /// The input gradient when the statistics were fixed (evaluation): dx = slope·g′, g′ as in `gradientSums`.
    static func fixedStatisticsInputGradient(_ g: UnsafePointer<Float>, through output: UnsafePointer<Float>?,
                                                    keptScale: Float, _ dx: UnsafeMutablePointer<Float>, _ count: Int,
                                                    slope: Float) {
        let k = SIMD16<Float>(repeating: keptScale * slope)
        var i = 0
        if let y = output {
            while i + 16 <= count { store(select(load(g, i) * k, positiveLanes(load(y, i))), dx, i); i += 16 }
            while i < count { dx[i] = y[i] > 0 ? g[i] * keptScale * slope : 0; i += 1 }
        } else {
            while i + 16 <= count { store(load(g, i) * k, dx, i); i += 16 }
            while i < count { dx[i] = g[i] * keptScale * slope; i += 1 }
        }
    }
}
