/// A grouped convolution, as PyTorch's `nn.Conv2d(…, groups=G)`: the input's Cin channels and the
/// output's Cout channels are cut into G groups in order, and each group of outputs sees only its
/// own group of inputs. Depthwise convolutions are the case G = Cin (one input channel per group).
///
/// Shapes: input (N, Cin, H, W), weight (Cout, Cin/G, k, k), output (N, Cout, H′, W′) with
/// H′ = ⌊(H + 2p − d·(k−1) − 1)/s⌋ + 1 (W′ likewise); output channel o belongs to group
/// g = o / (Cout/G), which reads input channels g·Cin/G + c, c < Cin/G.
///
/// Forward:   y[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · in[n, g·Cin/G + c, s·y+d·i−p, s·x+d·j−p]
/// Backward:  ∂L/∂w[o,c,i,j] = Σ_{n,y,x} ∂L/∂y[n,o,y,x] · in[n, g·Cin/G + c, s·y+d·i−p, s·x+d·j−p],
///            ∂L/∂b[o] = Σ_{n,y,x} ∂L/∂y[n,o,y,x],
///            ∂L/∂in[n, g·Cin/G + c, s·y+d·i−p, s·x+d·j−p] += w[o,c,i,j] · ∂L/∂y[n,o,y,x] over all o, i, j, y, x
///            (positions outside the image, the zero padding, take nothing).
///
/// Plain direct loops, one tap at a time over whole output rows (the compiler vectorises the
/// row when s = 1): a grouped convolution does Cin/G times fewer multiply-adds than a full one,
/// too few to fill the register blocks of `Conv2dKernel`. Images are split over threads; the
/// weight gradient sums each thread's images apart, then adds the partial sums in thread order,
/// so a run is the same for the same thread count.
public struct GroupedConvolution: Sendable {
    public let batch: Int, inChannels: Int, outChannels: Int, groups: Int
    public let height: Int, width: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int
    public let outHeight: Int, outWidth: Int
    public let threads: Int

    public init(batch: Int, inChannels: Int, outChannels: Int, groups: Int, height: Int, width: Int,
                kernelSize: Int, stride: Int, padding: Int, dilation: Int, threads: Int) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0)
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels; self.groups = groups
        self.height = height; self.width = width; self.kernelSize = kernelSize
        self.stride = stride; self.padding = padding; self.dilation = dilation
        let span = dilation * (kernelSize - 1) + 1
        outHeight = (height + 2 * padding - span) / stride + 1
        outWidth = (width + 2 * padding - span) / stride + 1
        self.threads = threads
    }

    /// Input channels per group (the weight's second dimension), and output channels per group.
    public var groupInChannels: Int { inChannels / groups }
    public var groupOutChannels: Int { outChannels / groups }
    public var multiplyAdds: Int { batch * outChannels * outHeight * outWidth * groupInChannels * kernelSize * kernelSize }

    /// One kernel position (i, j), t = i·k + j: the output rows and columns whose input,
    /// row s·y + d·i − p and column s·x + d·j − p, lies inside the image, and where output (y, x)
    /// reads in its input plane: `offset` + s·(y·W + x).
    private struct Tap {
        let rows: Range<Int>, columns: Range<Int>, offset: Int
    }

    /// The k·k taps, in the weight's order.
    private var taps: [Tap] {
        func valid(_ offset: Int, _ size: Int, _ outSize: Int) -> Range<Int> {
            // first t with s·t + offset ≥ 0, and past the last with s·t + offset ≤ size − 1
            let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
            let end = size - 1 - offset < 0 ? 0 : min(outSize, (size - 1 - offset) / stride + 1)
            return first..<max(first, end)
        }
        return (0..<kernelSize * kernelSize).map { t in
            let dy = dilation * (t / kernelSize) - padding, dx = dilation * (t % kernelSize) - padding
            return Tap(rows: valid(dy, height, outHeight), columns: valid(dx, width, outWidth), offset: dy * width + dx)
        }
    }

    /// Threads worth waking: small passes run inline.
    private var threadCount: Int { multiplyAdds < 1 << 18 ? 1 : threads }

    /// Overwrites `output`. With `scale`, output channel o's weights are multiplied by scale[o]
    /// first (a BatchNorm folded in for evaluation; the caller passes the folded bias), and with
    /// `rectify` the output goes through max(0, ·).
    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        output: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>? = nil, rectify: Bool = false) {
        let taps = taps, cg = groupInChannels, og = groupOutChannels
        let inPlane = height * width, outPlane = outHeight * outWidth
        parallelFor(batch, threads: threadCount) { _, images in
            for n in images {
                for o in 0..<outChannels {
                    let out = output + (n * outChannels + o) * outPlane
                    out.update(repeating: bias?[o] ?? 0, count: outPlane)
                    let factor = scale?[o] ?? 1   // × 1 is exact: unscaled weights stay as they are
                    for c in 0..<cg {
                        let plane = input + (n * inChannels + (o / og) * cg + c) * inPlane
                        let weights = weight + (o * cg + c) * taps.count
                        for (t, tap) in taps.enumerated() {
                            let w = weights[t] * factor
                            for y in tap.rows {
                                let source = plane + tap.offset + stride * y * width, row = out + y * outWidth
                                for x in tap.columns { row[x] += w * source[stride * x] }
                            }
                        }
                    }
                    if rectify { for p in 0..<outPlane { out[p] = max(0, out[p]) } }
                }
            }
        }
    }

    /// Overwrites `inputGradient`.
    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        let taps = taps, cg = groupInChannels, og = groupOutChannels
        let inPlane = height * width, outPlane = outHeight * outWidth
        parallelFor(batch, threads: threadCount) { _, images in
            for n in images {
                (inputGradient + n * inChannels * inPlane).update(repeating: 0, count: inChannels * inPlane)
                for o in 0..<outChannels {
                    let g = outputGradient + (n * outChannels + o) * outPlane
                    for c in 0..<cg {
                        let plane = inputGradient + (n * inChannels + (o / og) * cg + c) * inPlane
                        let weights = weight + (o * cg + c) * taps.count
                        for (t, tap) in taps.enumerated() {
                            let w = weights[t]
                            for y in tap.rows {
                                let target = plane + tap.offset + stride * y * width, row = g + y * outWidth
                                for x in tap.columns { target[stride * x] += w * row[x] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds into `weightGradient` (and `biasGradient`, if given).
    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?) {
        let taps = taps, cg = groupInChannels, og = groupOutChannels
        let inPlane = height * width, outPlane = outHeight * outWidth
        let weights = outChannels * cg * taps.count, chunks = threadCount
        // One row of partial sums per chunk of images: the weights', then the biases'.
        var partials = [Float](repeating: 0, count: chunks * (weights + outChannels))
        partials.withUnsafeMutableBufferPointer { partials in
            let partials = partials.baseAddress!
            parallelFor(batch, threads: chunks) { chunk, images in
                let partial = partials + chunk * (weights + outChannels), biasPartial = partial + weights
                for n in images {
                    for o in 0..<outChannels {
                        let g = outputGradient + (n * outChannels + o) * outPlane
                        var sum: Float = 0
                        for p in 0..<outPlane { sum += g[p] }
                        biasPartial[o] += sum
                        for c in 0..<cg {
                            let plane = input + (n * inChannels + (o / og) * cg + c) * inPlane
                            let weightSums = partial + (o * cg + c) * taps.count
                            for (t, tap) in taps.enumerated() {
                                var sum: Float = 0
                                for y in tap.rows {
                                    let source = plane + tap.offset + stride * y * width, row = g + y * outWidth
                                    for x in tap.columns { sum += row[x] * source[stride * x] }
                                }
                                weightSums[t] += sum
                            }
                        }
                    }
                }
            }
            for chunk in 0..<chunks {
                let partial = partials + chunk * (weights + outChannels)
                for w in 0..<weights { weightGradient[w] += partial[w] }
                if let biasGradient { for o in 0..<outChannels { biasGradient[o] += partial[weights + o] } }
            }
        }
    }
}
