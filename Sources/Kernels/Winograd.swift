import Glibc

/// The forward pass of a 3×3 convolution with Winograd's minimal filtering F(4, 3) down the
/// columns: for evaluation, where only the forward pass runs. Four output rows come from six
/// input rows, and cost 6 multiply-adds per kernel column instead of 12 (half the direct sum's
/// multiply-adds). In one dimension, outputs y₀…y₃ of inputs d₀…d₅ and kernel g₀…g₂, with the
/// interpolation points 0, ±1, ±2 and ∞ (Lavin and Gray, 2016):
///
///   V = Bᵀd:  V₀ = 4d₀ − 5d₂ + d₄           V₁ = −4d₁ − 4d₂ + d₃ + d₄    V₂ = 4d₁ − 4d₂ − d₃ + d₄
///             V₃ = −2d₁ − d₂ + 2d₃ + d₄     V₄ = 2d₁ − d₂ − 2d₃ + d₄     V₅ = 4d₁ − 5d₃ + d₅
///   U = Gg:   U₀ = g₀/4    U₁ = −(g₀ + g₁ + g₂)/6    U₂ = −(g₀ − g₁ + g₂)/6
///             U₃ = g₀/24 + g₁/12 + g₂/6    U₄ = g₀/24 − g₁/12 + g₂/6    U₅ = g₂
///   M_i = U_i·V_i, and y = AᵀM:
///             y₀ = M₀ + M₁ + M₂ + M₃ + M₄        y₁ = M₁ − M₂ + 2(M₃ − M₄)
///             y₂ = M₁ + M₂ + 4(M₃ + M₄)          y₃ = M₁ − M₂ + 8(M₃ − M₄) + M₅
///   (y_r = d_r·g₀ + d_{r+1}·g₁ + d_{r+2}·g₂)
///
/// Here d are the input rows 4t…4t+5 of the zero-padded plane (whole rows, so every step is a
/// contiguous vector operation) and g a column j of the kernel, so, for output rows 4t…4t+3:
///   V_i[c][t][x] = (Bᵀ rows)_i                         the input transform, i = 0…5
///   M_i[o][t][x] = Σ_{c,j} U_i[o][c][j] · V_i[c][t][x + j]   U_i = (G g)_i, g = w[o, c, ·, j]
///   out[o][4t + r] = (Aᵀ M)_r                          (+ bias, optionally max(0, ·))
/// Each M_i is a 1×3 convolution with 3·Cin taps: the direct convolution's register blocks
/// (`convolve8x32`…) run it over the rows of V laid end to end, as they do over padded planes,
/// and over several images' rows end to end when the images are small (`groupImages`: about 256
/// positions at a time), so that a block of 32 positions is not mostly a small plane's slack.
/// F(2, 3) (two rows from four, two-thirds of the multiply-adds) ran here until 2026-12-03;
/// F(4, 3) needs fewer multiply-adds and also writes and reads fewer transformed rows per output
/// row (1.5 instead of 2), for a larger rounding error (the tests compare it with the direct sum
/// and allow 1e-5 of the sum's scale).
///
/// Same contract as `Conv2dKernel.forward` (which it replaces for evaluation when `suits` says
/// so); the results differ from the direct sum only by rounding.
public final class WinogradConvolution {
    public let shape: Conv2dShape
    public let threads: Int
    /// The micro-kernels' register blocks (this CPU's unless a test asks for the other).
    public let registers: RegisterBlocks

    /// Output rows per tile, input rows per tile (the products M_i per tile).
    static let (tileRows, tileInputs) = (4, 6)

    let tiles: Int                 // output rows, in fours (the last tile may have fewer)
    let rowStride: Int             // padded input width: the stride of planes, V and M rows
    let planeSize: Int             // the padded input plane: (4·tiles + 2) rows
    let imageSpan: Int             // positions of V and M per image: 4·tiles rows of rowStride
    let groupImages: Int           // images whose V and M rows lie end to end, transformed and multiplied together
    let positions: Int             // positions of V and M computed per group: up to its last valid output, rounded up to 32
    let transformedSize: Int       // floats per V_i[c]: positions and the taps' reach
    let blocks: [RowBlock]
    let packed: UnsafeMutablePointer<Float>       // U_i per output block: [i][block: (c, j)][rows]
    let packedFrom: UnsafeMutablePointer<Float>   // the weights, scales and biases `packed` and `biasRows` hold
    var hasPacked = false
    let biasRows: UnsafeMutablePointer<Float>
    let zeros: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Int>        // tap (c, j) ↦ c·transformedSize + j
    let planes: [UnsafeMutablePointer<Float>]     // per thread: one image's zero-padded input planes
    let transformed: [UnsafeMutablePointer<Float>]  // per thread: V[i][c][transformedSize], a group's images in each row
    let products: [UnsafeMutablePointer<Float>]   // per thread: M[i][o][positions], and 16 floats of slack

    /// Whether F(4, 3) pays for `shape`: 3×3 kernels with enough channels on both sides for the
    /// products to keep the register blocks busy.
    public static func suits(_ shape: Conv2dShape) -> Bool {
        shape.kernelSize == 3 && shape.inChannels >= 8 && shape.outChannels >= 8
    }

    public init(shape: Conv2dShape, threads: Int, registers: RegisterBlocks = .native) {
        precondition(shape.kernelSize == 3 && shape.outHeight > 0 && shape.outWidth > 0,
                     "Winograd F(4, 3) needs a 3×3 kernel: \(shape)")
        self.shape = shape
        self.registers = registers
        let threadCount = max(1, min(threads, shape.batch))
        self.threads = threadCount
        tiles = (shape.outHeight + Self.tileRows - 1) / Self.tileRows
        rowStride = shape.width + 2 * shape.padding
        planeSize = (Self.tileRows * tiles + 2) * rowStride
        imageSpan = tiles * rowStride
        groupImages = max(1, min(shape.batch, 256 / imageSpan))
        positions = Self.positions(images: groupImages, span: imageSpan, rowStride: rowStride, outWidth: shape.outWidth)
        transformedSize = positions + 32
        blocks = RowBlock.split(shape.outChannels)
        let rows = blocks.last!.end, cin = shape.inChannels
        packed = zeroedFloats(Self.tileInputs * rows * 3 * cin)
        packedFrom = zeroedFloats(shape.weightCount + 2 * shape.outChannels)
        biasRows = zeroedFloats(rows)
        zeros = zeroedFloats(16)
        offsets = .allocate(capacity: 3 * cin)
        for c in 0..<cin { for j in 0..<3 { offsets[3 * c + j] = c * transformedSize + j } }
        let (planeCount, vCount, mCount) = (cin * planeSize + 32, Self.tileInputs * cin * transformedSize, Self.tileInputs * rows * positions + 16)
        planes = (0..<threadCount).map { _ in zeroedFloats(planeCount) }
        transformed = (0..<threadCount).map { _ in zeroedFloats(vCount) }
        products = (0..<threadCount).map { _ in zeroedFloats(mCount) }
    }

    deinit {
        for pointer in [packed, packedFrom, biasRows, zeros] + planes + transformed + products { pointer.deallocate() }
        offsets.deallocate()
    }

    /// out[n,o,y,x] = bias[o] + Σ_{c,i,j} w[o,c,i,j]·scale[o] · in[n,c,y+i−p,x+j−p], through max(0, ·)
    /// with `rectify`. Overwrites `output`.
    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                        scale: UnsafePointer<Float>? = nil, rectify: Bool = false) {
        let s = shape, cin = s.inChannels, rows = blocks.last!.end
        guard s.batch > 0 else { return }
        let perProduct = rows * 3 * cin   // from U_i to U_i+1
        if !packs(weight: weight, scale: scale, bias: bias) {
            pack(weight: weight, scale: scale, bias: bias)
        }
        let inImage = cin * s.height * s.width, outImage = s.outChannels * s.outHeight * s.outWidth
        parallelFor(s.batch, threads: s.multiplyAdds < 1 << 18 ? 1 : threads) { chunk, images in
            let v = self.transformed[chunk], m = self.products[chunk]
            for first in Swift.stride(from: images.lowerBound, to: images.upperBound, by: self.groupImages) {
                let count = min(self.groupImages, images.upperBound - first)
                for g in 0..<count {
                    self.transformInput(input + (first + g) * inImage, into: v + g * self.imageSpan, plane: self.planes[chunk])
                }
                let positions = Self.positions(images: count, span: self.imageSpan, rowStride: self.rowStride,
                                               outWidth: s.outWidth)
                for i in 0..<Self.tileInputs {
                    let u = self.packed + i * perProduct
                    let vi = v + i * cin * self.transformedSize, mi = m + i * rows * self.positions
                    for q in Swift.stride(from: 0, to: positions, by: 32) {
                        for block in self.blocks {
                            convolve(block, u + block.start * 3 * cin, offsets: self.offsets, taps: 3 * cin, vi + q,
                                     bias: self.zeros, mi + block.start * self.positions + q, rowStride: self.positions,
                                     registers: self.registers)
                        }
                    }
                }
                for g in 0..<count {
                    self.transformOutput(m + g * self.imageSpan, into: output + (first + g) * outImage, rectify: rectify)
                }
            }
        }
    }

    /// Whether `packed` and `biasRows` hold these weights, scales and biases already (bit for bit):
    /// evaluation calls `forward` for every few images with the same ones.
    private func packs(weight: UnsafePointer<Float>, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>?) -> Bool {
        let s = shape, weights = s.weightCount
        guard hasPacked, memcmp(packedFrom, weight, weights * MemoryLayout<Float>.stride) == 0 else { return false }
        for o in 0..<s.outChannels {
            let (factor, offset) = (scale?[o] ?? 1, bias?[o] ?? 0)
            if factor.bitPattern != packedFrom[weights + o].bitPattern
                || offset.bitPattern != packedFrom[weights + s.outChannels + o].bitPattern { return false }
        }
        return true
    }

    /// U_i = G·(column j of the kernel) times the scale, packed per i and output block as the
    /// register blocks read it; the biases per row.
    private func pack(weight: UnsafePointer<Float>, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>?) {
        let s = shape, cin = s.inChannels, rows = blocks.last!.end, weights = s.weightCount
        let perProduct = rows * 3 * cin   // from U_i to U_i+1
        for block in blocks {
            for o in block.start..<min(block.end, s.outChannels) {
                let factor = scale?[o] ?? 1
                for c in 0..<cin {
                    let g = weight + (o * cin + c) * 9
                    for j in 0..<3 {
                        let (g0, g1, g2) = (g[j] * factor, g[3 + j] * factor, g[6 + j] * factor)
                        let u = SIMD8<Float>(g0 / 4, -(g0 + g1 + g2) / 6, -(g0 - g1 + g2) / 6,
                                             g0 / 24 + g1 / 12 + g2 / 6, g0 / 24 - g1 / 12 + g2 / 6, g2, 0, 0)
                        for i in 0..<Self.tileInputs {
                            packed[i * perProduct + block.start * 3 * cin + (3 * c + j) * block.rows + o - block.start] = u[i]
                        }
                    }
                }
            }
        }
        for o in 0..<s.outChannels { biasRows[o] = bias?[o] ?? 0 }
        packedFrom.update(from: weight, count: weights)
        for o in 0..<s.outChannels {
            packedFrom[weights + o] = scale?[o] ?? 1
            packedFrom[weights + s.outChannels + o] = bias?[o] ?? 0
        }
        hasPacked = true
    }

    /// Positions of V and M that `images` images end to end need: up to the last one's last valid
    /// output, rounded up to the register blocks' 32.
    static func positions(images: Int, span: Int, rowStride: Int, outWidth: Int) -> Int {
        ((images - 1) * span + span - rowStride + outWidth + 31) / 32 * 32
    }

    /// Pads one image's planes with zeros, then V_i[c][t·rowStride + x] = (Bᵀ d)_i for the plane rows
    /// d = 4t…4t+5 (the formulas above), `v` pointing at the image's place in its group. Vectors
    /// that run past a row's end are overwritten by the next row's, and the next image's: images
    /// are transformed in order.
    private func transformInput(_ image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                plane: UnsafeMutablePointer<Float>) {
        let s = shape, p = s.padding, cin = s.inChannels
        for c in 0..<cin {
            if p == 0 {   // the rows lie as in the image: one copy per plane
                (plane + c * planeSize).update(from: image + c * s.height * s.width, count: s.height * s.width)
                continue
            }
            for y in 0..<s.height {
                (plane + c * planeSize + (p + y) * rowStride + p).update(from: image + (c * s.height + y) * s.width,
                                                                         count: s.width)
            }
        }
        let bytes = MemoryLayout<Float>.stride
        let step = cin * transformedSize * bytes   // from V_i to V_i+1
        let (two, four, five) = (SIMD16<Float>(repeating: 2), SIMD16<Float>(repeating: 4), SIMD16<Float>(repeating: 5))
        for c in 0..<cin {
            let source = UnsafeRawPointer(plane + c * planeSize), row = rowStride * bytes
            for t in 0..<tiles {
                // Vectors of 16 along the row; the last one runs into the next row's place, which is
                // written after it (the planes and V have slack for the last row's).
                for x in Swift.stride(from: 0, to: rowStride, by: 16) {
                    let at = (Self.tileRows * t * rowStride + x) * bytes
                    let d0 = source.loadUnaligned(fromByteOffset: at, as: SIMD16<Float>.self)
                    let d1 = source.loadUnaligned(fromByteOffset: at + row, as: SIMD16<Float>.self)
                    let d2 = source.loadUnaligned(fromByteOffset: at + 2 * row, as: SIMD16<Float>.self)
                    let d3 = source.loadUnaligned(fromByteOffset: at + 3 * row, as: SIMD16<Float>.self)
                    let d4 = source.loadUnaligned(fromByteOffset: at + 4 * row, as: SIMD16<Float>.self)
                    let d5 = source.loadUnaligned(fromByteOffset: at + 5 * row, as: SIMD16<Float>.self)
                    let (sum, difference) = (d4 - four * d2, d3 - four * d1)     // shared by V₁, V₂
                    let (sum2, difference2) = (d4 - d2, two * (d3 - d1))         // shared by V₃, V₄
                    let target = UnsafeMutableRawPointer(v + c * transformedSize + t * rowStride + x)
                    target.storeBytes(of: four * d0 - five * d2 + d4, as: SIMD16<Float>.self)
                    target.storeBytes(of: sum + difference, toByteOffset: step, as: SIMD16<Float>.self)
                    target.storeBytes(of: sum - difference, toByteOffset: 2 * step, as: SIMD16<Float>.self)
                    target.storeBytes(of: sum2 + difference2, toByteOffset: 3 * step, as: SIMD16<Float>.self)
                    target.storeBytes(of: sum2 - difference2, toByteOffset: 4 * step, as: SIMD16<Float>.self)
                    target.storeBytes(of: four * d1 - five * d3 + d5, toByteOffset: 5 * step, as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// out[o][4t + r][x] = bias[o] + (Aᵀ M)_r at t·rowStride + x (the formulas above), through
    /// max(0, ·) with `rectify`; rows past the output's height are not written.
    private func transformOutput(_ m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rectify: Bool) {
        let s = shape, rows = blocks.last!.end, width = s.outWidth
        let step = rows * positions   // from M_i to M_i+1
        let end = output + s.outChannels * s.outHeight * width
        for o in 0..<s.outChannels {
            let bias = biasRows[o]
            let plane = output + o * s.outHeight * width
            for t in 0..<tiles {
                let first = m + o * positions + t * rowStride
                let top = plane + Self.tileRows * t * width
                let valid = min(Self.tileRows, s.outHeight - Self.tileRows * t)
                // 16 columns at a time. A row's last vector overlaps the one before it rather than
                // leaving a tail (its columns are computed twice, to the same values); rows narrower
                // than 16 take the first 16 lanes, those past the width reading the next row's (or the
                // slack's) products and stored over the rows that follow, which are written later
                // (lane by lane at the image's end).
                var x = 0
                while true {
                    let at = UnsafeRawPointer(first + x)
                    func product(_ i: Int) -> SIMD16<Float> {
                        at.loadUnaligned(fromByteOffset: i * step * MemoryLayout<Float>.stride, as: SIMD16<Float>.self)
                    }
                    let y = Self.outputs(product(0), product(1), product(2), product(3), product(4), product(5),
                                         bias: SIMD16<Float>(repeating: bias), rectify: rectify)
                    if width >= 16 {
                        let target = UnsafeMutableRawPointer(top + x), rowBytes = width * MemoryLayout<Float>.stride
                        target.storeBytes(of: y.0, as: SIMD16<Float>.self)
                        if valid > 1 { target.storeBytes(of: y.1, toByteOffset: rowBytes, as: SIMD16<Float>.self) }
                        if valid > 2 { target.storeBytes(of: y.2, toByteOffset: 2 * rowBytes, as: SIMD16<Float>.self) }
                        if valid > 3 { target.storeBytes(of: y.3, toByteOffset: 3 * rowBytes, as: SIMD16<Float>.self) }
                    } else {
                        // Narrow rows: the whole vector, its lanes past the width landing on the rows
                        // after it, which are written later; lane by lane where it would run past
                        // the image's output (whose neighbours another thread may be writing).
                        for r in 0..<valid {
                            let row = r == 0 ? y.0 : r == 1 ? y.1 : r == 2 ? y.2 : y.3, target = top + r * width
                            if target + 16 <= end {
                                UnsafeMutableRawPointer(target).storeBytes(of: row, as: SIMD16<Float>.self)
                            } else {
                                for lane in 0..<width { target[lane] = row[lane] }
                            }
                        }
                    }
                    if x + 16 >= width { break }
                    x = min(x + 16, width - 16)
                }
            }
        }
    }

    /// y = Aᵀ(M₀…M₅) + bias, through max(0, ·) with `rectify`: a tile's four output rows.
    @inline(__always)
    private static func outputs(_ m0: SIMD16<Float>, _ m1: SIMD16<Float>, _ m2: SIMD16<Float>, _ m3: SIMD16<Float>,
                                _ m4: SIMD16<Float>, _ m5: SIMD16<Float>, bias: SIMD16<Float>, rectify: Bool)
        -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let (sum, difference) = (m1 + m2, m1 - m2), (sum2, difference2) = (m3 + m4, m3 - m4)
        var y = (m0 + sum + sum2 + bias, difference + 2 * difference2 + bias,
                 sum + 4 * sum2 + bias, difference + 8 * difference2 + m5 + bias)
        if rectify {
            y = (pointwiseMax(y.0, .zero), pointwiseMax(y.1, .zero), pointwiseMax(y.2, .zero), pointwiseMax(y.3, .zero))
        }
        return y
    }
}
