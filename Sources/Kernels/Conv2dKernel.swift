/// The fast convolution for one fixed shape: direct convolutions in register blocks over both
/// cores.
///
/// Every pass reads zero-padded planes (`PaddedPlanes`) in which each kernel tap is one offset, so
/// 32 neighbouring outputs read 32 neighbouring inputs:
///   forward:           out[n] = conv(in[n] padded by p, w) + b
///                      out[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · (in[n] padded)[c, y+i, x+j]
///   backward, data:    ∂in[n] = conv(∂out[n] padded by k−1−p, w flipped, in and out channels swapped)
///                      ∂in[n,c,y,x] = Σ_{o,i,j} w[o,c,k−1−i,k−1−j] · (∂out[n] padded)[o, y+i, x+j]
///                      (a negative padding crops)
///   backward, weights: dot products of ∂out rows with shifted rows of the padded input
///                      ∂w[o,c,i,j] += Σ_{n,y,x} ∂out[n,o,y,x] · (in[n] padded)[c, y+i, x+j]
///                      ∂b[o] += Σ_{n,y,x} ∂out[n,o,y,x]
/// Convolutions run in 8×32 (and 12×32, 4×32) register blocks (`convolve8x32`), dot products in 4×4
/// blocks (`dot4x4`), both in `MicroKernel.swift` (on CPUs without AVX-512, in smaller pieces of
/// the same blocks: `RegisterBlocks`). Images small enough to waste a block are
/// stacked in groups; unpadded images are read where they are. The batch is split over the
/// threads, each with its own scratch (padded planes, a result tile, partial weight gradients
/// added up at the end). All memory is planned in `init`, but for what only the backward passes
/// use (`BackwardBuffers`), made by the first backward call, so that a kernel that only evaluates
/// never holds it: nothing is allocated per call after that.
///
/// Same contract as `Conv2dReference`, which the tests compare it with: `forward` and
/// `backwardData` overwrite their outputs; `backwardWeights` adds into the gradients. The caller's
/// buffers are read and written exactly within their sizes.
public final class Conv2dKernel {
    public let shape: Conv2dShape
    /// Threads the batch is spread over (at most the batch size).
    public let threads: Int
    /// The micro-kernels' register blocks (this CPU's unless a test asks for the other).
    public let registers: RegisterBlocks

    let taps: Int                     // K = Cin·k·k: weights per output channel
    let flippedTaps: Int              // Cout·k·k: weights per input channel in backward-data
    let taps4: Int                    // K rounded up to 4
    let outRows4: Int                 // Cout rounded up to 4: rows of the ∂out tile in backward-weights
    let forwardPlanes: PaddedPlanes   // the input, padded by p (forward)
    let weightPlanes: PaddedPlanes    // the same, in longer groups (backward-weights)
    let backwardPlanes: PaddedPlanes  // ∂out, padded by k−1−p (backward-data)
    let outputBlocks: [RowBlock]      // output channels in blocks of 8 (and 12, 4)
    let inputBlocks: [RowBlock]       // input channels in blocks of 8 (and 12, 4)

    let packedWeights: UnsafeMutablePointer<Float>   // per output block: [tap][rows of the block]
    let biasRows: UnsafeMutablePointer<Float>        // bias per output row, 0 past Cout
    let forwardOffsets: UnsafeMutablePointer<Int>

    // Per thread; every layout has its own buffers, whose padding stays zero.
    let inputScratch: [UnsafeMutablePointer<Float>]        // forwardPlanes.count
    let tiles: [UnsafeMutablePointer<Float>]               // convolution results: rows × positions (either pass's)

    /// The backward passes' own memory: the flipped weights, ∂out's padded planes, the weight
    /// gradient's stacked input, its ∂out tiles and partial sums (per thread where per-thread).
    private final class BackwardBuffers {
        let flippedWeights: UnsafeMutablePointer<Float>  // per input block: [flipped tap][rows]
        let zeros: UnsafeMutablePointer<Float>           // the bias of backward-data: 0 for every input row
        let backwardOffsets: UnsafeMutablePointer<Int>
        let weightOffsets: UnsafeMutablePointer<Int>     // taps4 entries (0 past the last tap)
        let gradientScratch: [UnsafeMutablePointer<Float>]     // backwardPlanes.count
        let weightInputScratch: [UnsafeMutablePointer<Float>]  // weightPlanes.count
        let gradientTiles: [UnsafeMutablePointer<Float>]       // ∂out in forward positions, zero elsewhere
        let partials: [UnsafeMutablePointer<Float>]            // outRows4 × taps4 weight sums, then outRows4 bias sums

        init(_ kernel: Conv2dKernel) {
            let inRows = kernel.inputBlocks.last!.end, (rows4, depth4) = (kernel.outRows4, kernel.taps4)
            let (backward, weights) = (kernel.backwardPlanes, kernel.weightPlanes)
            flippedWeights = zeroedFloats(inRows * kernel.flippedTaps)
            zeros = zeroedFloats(inRows)   // read at each block's start, as biasRows is
            backwardOffsets = .allocate(capacity: kernel.flippedTaps)
            backwardOffsets.initialize(from: backward.offsets, count: kernel.flippedTaps)
            weightOffsets = .allocate(capacity: depth4)
            weightOffsets.initialize(repeating: 0, count: depth4)
            weightOffsets.update(from: weights.offsets, count: kernel.taps)
            gradientScratch = (0..<kernel.threads).map { _ in zeroedFloats(backward.count) }
            weightInputScratch = (0..<kernel.threads).map { _ in zeroedFloats(weights.count) }
            gradientTiles = (0..<kernel.threads).map { _ in zeroedFloats(rows4 * weights.pixels) }
            partials = (0..<kernel.threads).map { _ in zeroedFloats(rows4 * depth4 + rows4) }
        }

        deinit {
            for pointer in [flippedWeights, zeros] + gradientScratch + weightInputScratch + gradientTiles + partials {
                pointer.deallocate()
            }
            backwardOffsets.deallocate()
            weightOffsets.deallocate()
        }
    }
    private var madeBackwardBuffers: BackwardBuffers?
    /// Made by the first backward call, on the calling thread (before it spreads any work).
    private var backwardBuffers: BackwardBuffers {
        if let buffers = madeBackwardBuffers { return buffers }
        let buffers = BackwardBuffers(self)
        madeBackwardBuffers = buffers
        return buffers
    }

    /// Plans the kernel for `shape`, to run on at most `threads` threads.
    public init(shape: Conv2dShape, threads: Int, registers: RegisterBlocks = .native) {
        precondition(shape.batch >= 0 && shape.inChannels > 0 && shape.outChannels > 0 && shape.kernelSize > 0
                     && shape.padding >= 0 && shape.outHeight > 0 && shape.outWidth > 0, "bad convolution \(shape)")
        self.shape = shape
        self.registers = registers
        let k = shape.kernelSize, p = shape.padding
        let threadCount = max(1, min(threads, shape.batch))
        self.threads = threadCount
        taps = shape.inChannels * k * k
        flippedTaps = shape.outChannels * k * k
        taps4 = (taps + 3) / 4 * 4
        outRows4 = (shape.outChannels + 3) / 4 * 4

        // Images per group: one where the planes can be read in place (no padding, images of a
        // few blocks or more) or are cropped, else stacked until a group has about `positions`
        // positions, with equal groups per thread.
        let perThread = max(1, (shape.batch + threadCount - 1) / threadCount)
        func planes(channels: Int, height: Int, width: Int, pad: Int, inPlaceFrom smallest: Int) -> PaddedPlanes {
            let imageSize = (height + pad) * (width + 2 * pad)
            var images = 1
            if pad > 0 || (pad == 0 && height * width < smallest) {
                let wanted = min(perThread, max(1, 1024 / imageSize))
                let groups = (perThread + wanted - 1) / wanted
                images = (perThread + groups - 1) / groups
            }
            return PaddedPlanes(channels: channels, height: height, width: width, pad: pad, kernelSize: k, images: images)
        }
        forwardPlanes = planes(channels: shape.inChannels, height: shape.height, width: shape.width, pad: p,
                               inPlaceFrom: 64)
        // The weight gradient's dot products want long rows: stack all but large images.
        weightPlanes = planes(channels: shape.inChannels, height: shape.height, width: shape.width, pad: p,
                              inPlaceFrom: 512)
        backwardPlanes = planes(channels: shape.outChannels, height: shape.outHeight, width: shape.outWidth,
                                pad: k - 1 - p, inPlaceFrom: 64)
        outputBlocks = RowBlock.split(shape.outChannels)
        inputBlocks = RowBlock.split(shape.inChannels)
        let outRows = outputBlocks.last!.end, inRows = inputBlocks.last!.end

        packedWeights = zeroedFloats(outRows * taps)
        biasRows = zeroedFloats(outRows)
        forwardOffsets = .allocate(capacity: taps)
        forwardOffsets.initialize(from: forwardPlanes.offsets, count: taps)

        let (forward, backward) = (forwardPlanes, backwardPlanes)
        let tileSize = max(outRows * forward.pixels, inRows * backward.pixels)
        inputScratch = (0..<threadCount).map { _ in zeroedFloats(forward.count) }
        tiles = (0..<threadCount).map { _ in zeroedFloats(tileSize) }
    }

    deinit {
        for pointer in [packedWeights, biasRows] + inputScratch + tiles { pointer.deallocate() }
        forwardOffsets.deallocate()
    }

    /// Multiply-adds of one forward pass (each backward pass does as many).
    public var multiplyAdds: Int { shape.multiplyAdds }

    /// Threads worth waking for a pass of `multiplyAdds`: small layers run inline.
    func threadCount(for multiplyAdds: Int) -> Int {
        multiplyAdds < 1 << 18 ? 1 : threads
    }

    /// out[n,o,y,x] = bias[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,y+i−p,x+j−p]. Overwrites `output`.
    ///
    /// With `scale`, every output channel's weights are first multiplied by scale[o] (a BatchNorm
    /// folded in for evaluation: the caller passes the folded bias), and with `rectify` the
    /// output is written through max(0, ·): convolution, normalisation and ReLU in one pass.
    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                        scale: UnsafePointer<Float>? = nil, rectify: Bool = false) {
        let s = shape
        guard s.batch > 0 else { return }
        for block in outputBlocks {
            let packed = packedWeights + block.start * taps
            for r in 0..<block.rows where block.start + r < s.outChannels {
                let o = block.start + r
                let factor = scale?[o] ?? 1
                for t in 0..<taps { packed[t * block.rows + r] = scale == nil ? weight[o * taps + t] : weight[o * taps + t] * factor }
            }
        }
        for o in 0..<s.outChannels { biasRows[o] = bias?[o] ?? 0 }
        convolve(forwardPlanes, scratch: inputScratch, source: input, sourceCount: s.inputCount,
                 weights: packedWeights, taps: taps, offsets: forwardOffsets, blocks: outputBlocks, bias: biasRows,
                 destination: output, channels: s.outChannels, rectify: rectify)
    }

    /// ∂in[n,c,iy,ix] = Σ_{o,i,j} w[o,c,i,j] · ∂out[n,o,iy−i+p,ix−j+p]. Overwrites `inputGradient`.
    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        let s = shape, kk = s.kernelSize * s.kernelSize
        guard s.batch > 0 else { return }
        let buffers = backwardBuffers
        // flipped[c][(o, i, j)] = w[o, c, k−1−i, k−1−j]
        for block in inputBlocks {
            let packed = buffers.flippedWeights + block.start * flippedTaps
            for r in 0..<block.rows where block.start + r < s.inChannels {
                let c = block.start + r
                for o in 0..<s.outChannels {
                    let kernel = weight + (o * s.inChannels + c) * kk
                    for t in 0..<kk { packed[(o * kk + t) * block.rows + r] = kernel[kk - 1 - t] }
                }
            }
        }
        convolve(backwardPlanes, scratch: buffers.gradientScratch, source: outputGradient, sourceCount: s.outputCount,
                 weights: buffers.flippedWeights, taps: flippedTaps, offsets: buffers.backwardOffsets, blocks: inputBlocks,
                 bias: buffers.zeros, destination: inputGradient, channels: s.inChannels)
    }

    /// ∂w[o,c,i,j] += Σ_{n,y,x} ∂out[n,o,y,x] · in[n,c,y+i−p,x+j−p];  ∂b[o] += Σ_{n,y,x} ∂out[n,o,y,x].
    /// Adds into the gradients; `biasGradient` may be nil.
    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>?) {
        let s = shape, planes = weightPlanes
        guard s.batch > 0 else { return }
        let outPlane = s.outHeight * s.outWidth, inImage = s.inChannels * s.height * s.width
        let stride = planes.pixels, partialSize = outRows4 * taps4 + outRows4
        let withBias = biasGradient != nil
        let buffers = backwardBuffers
        for t in 0..<threads { buffers.partials[t].update(repeating: 0, count: partialSize) }
        parallelFor(s.batch, threads: threadCount(for: s.multiplyAdds)) { chunk, images in
            let gradient = buffers.gradientTiles[chunk]
            let partial = buffers.partials[chunk], biasPartial = partial + self.outRows4 * self.taps4
            let gradientEnd = outputGradient + s.outputCount
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: planes.images) {
                let count = min(planes.images, images.upperBound - first)
                let source = planes.planes(input + first * inImage, sourceEnd: input + s.inputCount, images: count,
                                           scratch: buffers.weightInputScratch[chunk])
                // ∂out in the positions of the forward outputs; padding positions stay zero.
                let last = planes.lastPosition(images: count)
                let length = (last + 15) / 16 * 16
                for o in 0..<s.outChannels {
                    let row = gradient + o * stride
                    for g in 0..<count {
                        copyRows(s.outHeight, of: s.outWidth,
                                 from: outputGradient + ((first + g) * s.outChannels + o) * outPlane,
                                 stride: s.outWidth, readLimit: gradientEnd,
                                 to: row + g * planes.imageSize, stride: planes.rowStride,
                                 writeLimit: gradient + self.outRows4 * stride)
                    }
                    // Zeros up to the end of the last 16-float block (stale after a smaller group).
                    (row + last).update(repeating: 0, count: length - last)
                }
                for o in Swift.stride(from: 0, to: self.outRows4, by: 4) {
                    for t in Swift.stride(from: 0, to: self.taps4, by: 4) {
                        dot(gradient + o * stride, ldg: stride, source, offsets: buffers.weightOffsets + t,
                            length: length, partial + o * self.taps4 + t, ldo: self.taps4, registers: self.registers)
                    }
                }
                if withBias {
                    for o in 0..<s.outChannels { biasPartial[o] += rowSum(gradient + o * stride, length: length) }
                }
            }
        }
        for t in 0..<threads {
            let partial = buffers.partials[t]
            for o in 0..<s.outChannels {
                for tap in 0..<taps { weightGradient[o * taps + tap] += partial[o * taps4 + tap] }
                biasGradient?[o] += partial[outRows4 * taps4 + o]
            }
        }
    }

    /// The forward and backward-data passes: for each group of images, get the padded planes of
    /// `source`, convolve them block by block into the tile, and copy the valid positions into
    /// `destination` (batch × `channels` planes of planes.outRows × planes.outWidth).
    func convolve(_ planes: PaddedPlanes, scratch: [UnsafeMutablePointer<Float>],
                  source: UnsafePointer<Float>, sourceCount: Int,
                  weights: UnsafePointer<Float>, taps: Int, offsets: UnsafePointer<Int>, blocks: [RowBlock],
                  bias: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>, channels: Int,
                  rectify: Bool = false) {
        let s = shape
        let sourceImage = planes.channels * planes.sourceHeight * planes.sourceWidth
        let outRows = planes.outRows, outWidth = planes.outWidth, outPlane = outRows * outWidth
        let stride = planes.pixels
        parallelFor(s.batch, threads: threadCount(for: s.multiplyAdds)) { chunk, images in
            let tile = self.tiles[chunk]
            let tileEnd = UnsafePointer(tile + blocks.last!.end * stride)
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: planes.images) {
                let count = min(planes.images, images.upperBound - first)
                let padded = planes.planes(source + first * sourceImage, sourceEnd: source + sourceCount,
                                           images: count, scratch: scratch[chunk])
                for p in Swift.stride(from: 0, to: planes.lastPosition(images: count), by: 32) {
                    for block in blocks {
                        Kernels.convolve(block, weights + block.start * taps, offsets: offsets, taps: taps, padded + p,
                                         bias: bias + block.start, tile + block.start * stride + p, rowStride: stride,
                                         registers: self.registers)
                    }
                }
                // In increasing address order, so each row may run over into the next (see copyRows).
                let groupEnd = destination + (first + count) * channels * outPlane
                for g in 0..<count {
                    for o in 0..<channels {
                        copyRows(outRows, of: outWidth, from: tile + o * stride + g * planes.imageSize,
                                 stride: planes.rowStride, readLimit: tileEnd,
                                 to: destination + ((first + g) * channels + o) * outPlane, stride: outWidth,
                                 writeLimit: groupEnd, rectify: rectify)
                    }
                }
            }
        }
    }
}

/// A run of 12, 8 or 4 rows computed by one micro-kernel; the last block may reach past the row
/// count (its extra rows have zero weights and are not used).
struct RowBlock {
    let start: Int
    let rows: Int
    var end: Int { start + rows }

    /// Blocks of 8, the last one of 4 when 4 or fewer rows remain; but first one block of 12 when
    /// that leaves a multiple of 8 (or nearly): 12 = 12, 20 = 12 + 8, 28 = 12 + 8 + 8.
    static func split(_ rows: Int) -> [RowBlock] {
        var blocks: [RowBlock] = []
        var start = 0
        if rows >= 12 && (1...4).contains(rows % 8) {
            blocks.append(RowBlock(start: 0, rows: 12))
            start = 12
        }
        while start < rows {
            let size = rows - start <= 4 ? 4 : 8
            blocks.append(RowBlock(start: start, rows: size))
            start += size
        }
        return blocks
    }
}

/// Σ row[0..<length], `length` a multiple of 16.
@inline(__always)
func rowSum(_ row: UnsafePointer<Float>, length: Int) -> Float {
    var sum = SIMD16<Float>()
    let raw = UnsafeRawPointer(row)
    for byte in Swift.stride(from: 0, to: length * 4, by: 64) { sum += raw.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self) }
    return sum.sum()
}
