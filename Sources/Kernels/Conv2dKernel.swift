/// The fast convolution for one fixed shape, as a matrix product per image.
///
/// For image n, "im2col" lays out every k×k window of the input as a column:
///   col[(c·k + i)·k + j, y·OW + x] = in[n, c, y+i−p, x+j−p]   (0 outside the image)
/// so that, with W the weights viewed as a (Cout × Cin·k·k) matrix,
///   forward:          out[n]  = W · col + b
///   backward, data:   ∂in[n]  = col2im(Wᵀ · ∂out[n])   (col2im adds each column back where it came from)
///   backward, weights: ∂W    += ∂out[n] · colᵀ,  ∂b += row sums of ∂out[n].
/// The products run in register-blocked SIMD16 micro-kernels (`MicroKernel.swift`); images are
/// spread over the threads, each with its own scratch (columns, a padded output tile, partial
/// weight gradients added up at the end). Rows are padded to a multiple of 32 pixels so the
/// kernels never need a remainder loop. All memory is planned in `init`: nothing is allocated per call.
///
/// Same contract as `Conv2dReference`, which the tests compare it with: `forward` and
/// `backwardData` overwrite their outputs; `backwardWeights` adds into the gradients.
public final class Conv2dKernel {
    public let shape: Conv2dShape
    let depth: Int           // K = Cin·k·k
    let pixels: Int          // P = OH·OW
    let stride: Int          // P rounded up to 32
    let outRows: Int         // Cout rounded up to 8
    let depthRows: Int       // K rounded up to 8

    let weights: UnsafeMutablePointer<Float>            // outRows × K, rows past Cout are 0
    let weightsTransposed: UnsafeMutablePointer<Float>  // depthRows × Cout, rows past K are 0
    let bias: UnsafeMutablePointer<Float>               // outRows (zeros without a bias)
    let noBias: UnsafeMutablePointer<Float>             // 8 zeros
    let threads: Int
    let columns: [UnsafeMutablePointer<Float>]          // per thread: depthRows × stride
    let tiles: [UnsafeMutablePointer<Float>]            // per thread: max(outRows, depthRows) × stride
    let gradients: [UnsafeMutablePointer<Float>]        // per thread: outRows × stride (padded ∂out)
    let partials: [UnsafeMutablePointer<Float>]         // per thread: outRows × depthRows + outRows

    /// Plans the kernel for `shape`, to run on at most `threads` threads.
    public init(shape: Conv2dShape, threads: Int = Threads.count) {
        self.shape = shape
        depth = shape.inChannels * shape.kernelSize * shape.kernelSize
        pixels = shape.outHeight * shape.outWidth
        stride = (pixels + 31) / 32 * 32
        outRows = (shape.outChannels + 7) / 8 * 8
        depthRows = (depth + 7) / 8 * 8
        let threadCount = max(1, min(threads, shape.batch))
        self.threads = threadCount
        func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count + 64)
            pointer.initialize(repeating: 0, count: count + 64)
            return pointer
        }
        weights = zeros(outRows * depth)
        weightsTransposed = zeros(depthRows * shape.outChannels)
        bias = zeros(outRows)
        noBias = zeros(8)
        let (tileRows, columnSize, outSize) = (max(outRows, depthRows) * stride, depthRows * stride, outRows * stride)
        let partialSize = outRows * depthRows + outRows
        columns = (0..<threadCount).map { _ in zeros(columnSize) }
        tiles = (0..<threadCount).map { _ in zeros(tileRows) }
        gradients = (0..<threadCount).map { _ in zeros(outSize) }
        partials = (0..<threadCount).map { _ in zeros(partialSize) }
    }

    deinit {
        for pointer in [weights, weightsTransposed, bias, noBias] + columns + tiles + gradients + partials { pointer.deallocate() }
    }

    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias inputBias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        let s = shape
        weights.update(from: weight, count: s.outChannels * depth)
        if let inputBias { bias.update(from: inputBias, count: s.outChannels) } else { bias.update(repeating: 0, count: outRows) }
        let inPlane = s.inChannels * s.height * s.width, outPlane = s.outChannels * pixels
        parallelFor(s.batch, threads: self.threads) { chunk, images in
            let column = self.columns[chunk], tile = self.tiles[chunk]
            for n in images {
                self.im2col(input + n * inPlane, into: column)
                self.multiply(self.weights, rows: self.outRows, depth: self.depth, by: column, bias: self.bias, into: tile)
                let out = output + n * outPlane
                for o in 0..<s.outChannels {
                    (out + o * self.pixels).update(from: tile + o * self.stride, count: self.pixels)
                }
            }
        }
    }

    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        let s = shape
        for o in 0..<s.outChannels {
            for r in 0..<depth { weightsTransposed[r * s.outChannels + o] = weight[o * depth + r] }
        }
        let inPlane = s.inChannels * s.height * s.width, outPlane = s.outChannels * pixels
        parallelFor(s.batch, threads: self.threads) { chunk, images in
            let gradient = self.gradients[chunk], tile = self.tiles[chunk]
            for n in images {
                self.pad(outputGradient + n * outPlane, into: gradient)
                self.multiply(self.weightsTransposed, rows: self.depthRows, depth: s.outChannels, by: gradient,
                              bias: nil, into: tile)
                self.col2im(tile, into: inputGradient + n * inPlane)
            }
        }
    }

    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>?) {
        let s = shape
        let inPlane = s.inChannels * s.height * s.width, outPlane = s.outChannels * pixels
        let rows4 = (s.outChannels + 3) / 4 * 4, depth4 = (depth + 3) / 4 * 4
        let partialSize = outRows * depthRows
        parallelFor(s.batch, threads: self.threads) { chunk, images in
            let column = self.columns[chunk], gradient = self.gradients[chunk], partial = self.partials[chunk]
            partial.update(repeating: 0, count: partialSize + self.outRows)
            for n in images {
                self.im2col(input + n * inPlane, into: column)
                self.pad(outputGradient + n * outPlane, into: gradient)
                for o in Swift.stride(from: 0, to: rows4, by: 4) {
                    for r in Swift.stride(from: 0, to: depth4, by: 4) {
                        dotKernel4x4(gradient + o * self.stride, ldg: self.stride, column + r * self.stride,
                                     ldx: self.stride, length: self.stride, partial + o * self.depthRows + r,
                                     ldo: self.depthRows)
                    }
                    for row in o..<(o + 4) {
                        var sum = SIMD16<Float>()
                        for p in Swift.stride(from: 0, to: self.stride, by: 16) {
                            sum += UnsafeRawPointer(gradient + row * self.stride + p).loadUnaligned(as: SIMD16<Float>.self)
                        }
                        partial[partialSize + row] += sum.sum()
                    }
                }
            }
        }
        for t in 0..<threads {
            let partial = partials[t]
            for o in 0..<s.outChannels {
                for r in 0..<depth { weightGradient[o * depth + r] += partial[o * depthRows + r] }
                biasGradient?[o] += partial[partialSize + o]
            }
        }
    }

    /// tile = A · B (+ bias per row): A is `rows` × `depth` (rows a multiple of 8), B is `depth` rows
    /// of `stride` pixels; the 8×32 micro-kernel covers it block by block.
    func multiply(_ a: UnsafePointer<Float>, rows: Int, depth: Int, by b: UnsafePointer<Float>,
                  bias: UnsafePointer<Float>?, into tile: UnsafeMutablePointer<Float>) {
        for row in Swift.stride(from: 0, to: rows, by: 8) {
            let rowBias = bias.map { $0 + row } ?? UnsafePointer(noBias)
            for p in Swift.stride(from: 0, to: stride, by: 32) {
                microKernel8x32(a + row * depth, lda: depth, b + p, ldb: stride, depth: depth, bias: rowBias,
                                tile + row * stride + p, ldc: stride)
            }
        }
    }

    /// Copies ∂out of one image into rows of `stride` floats, zero past each row's end.
    /// Rows from Cout to the next multiple of 8 stay zero from `init`.
    func pad(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        for o in 0..<shape.outChannels {
            (destination + o * stride).update(from: source + o * pixels, count: pixels)
            (destination + o * stride + pixels).update(repeating: 0, count: stride - pixels)
        }
    }

    /// Lays out one image's k×k windows as the rows of `column` (see the type's comment).
    func im2col(_ image: UnsafePointer<Float>, into column: UnsafeMutablePointer<Float>) {
        let s = shape, k = s.kernelSize, pad = s.padding, ow = s.outWidth
        for c in 0..<s.inChannels {
            let plane = image + c * s.height * s.width
            for i in 0..<k {
                for j in 0..<k {
                    let row = column + ((c * k + i) * k + j) * stride
                    // Output columns x whose input column x + j − pad lies inside the image.
                    let first = max(0, pad - j), last = min(ow, s.width + pad - j)
                    for y in 0..<s.outHeight {
                        let target = row + y * ow
                        let iy = y + i - pad
                        guard iy >= 0 && iy < s.height, first < last else {
                            target.update(repeating: 0, count: ow)
                            continue
                        }
                        if first > 0 { target.update(repeating: 0, count: first) }
                        (target + first).update(from: plane + iy * s.width + first + j - pad, count: last - first)
                        if last < ow { (target + last).update(repeating: 0, count: ow - last) }
                    }
                    (row + pixels).update(repeating: 0, count: stride - pixels)
                }
            }
        }
    }

    /// The reverse of im2col: adds every column entry back onto the input pixel it was copied from.
    func col2im(_ column: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let s = shape, k = s.kernelSize, pad = s.padding, ow = s.outWidth
        image.update(repeating: 0, count: s.inChannels * s.height * s.width)
        for c in 0..<s.inChannels {
            let plane = image + c * s.height * s.width
            for i in 0..<k {
                for j in 0..<k {
                    let row = column + ((c * k + i) * k + j) * stride
                    let first = max(0, pad - j), last = min(ow, s.width + pad - j)
                    guard first < last else { continue }
                    for y in 0..<s.outHeight {
                        let iy = y + i - pad
                        guard iy >= 0 && iy < s.height else { continue }
                        let source = row + y * ow, target = plane + iy * s.width + j - pad
                        for x in first..<last { target[x] += source[x] }
                    }
                }
            }
        }
    }
}
