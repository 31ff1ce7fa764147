/// The forward pass of a 3×3 convolution with Winograd's minimal filtering F(2, 3) down the
/// columns: for evaluation, where only the forward pass runs. Two output rows come from four
/// input rows, and cost 4 multiply-adds per kernel column instead of 6 (two-thirds of the direct
/// sum's multiply-adds). In one dimension, outputs y₀, y₁ of inputs d₀…d₃ and kernel g₀…g₂:
///
///   m₀ = (d₀ − d₂)·g₀          m₁ = (d₁ + d₂)·(g₀ + g₁ + g₂)/2
///   m₂ = (d₂ − d₁)·(g₀ − g₁ + g₂)/2     m₃ = (d₁ − d₃)·g₂
///   y₀ = m₀ + m₁ + m₂          y₁ = m₁ − m₂ − m₃        (y₀ = d₀g₀ + d₁g₁ + d₂g₂, y₁ = d₁g₀ + d₂g₁ + d₃g₂)
///
/// Here d are the input rows 2t…2t+3 of the zero-padded plane (whole rows, so every step is a
/// contiguous vector operation) and g a column j of the kernel, so, for output rows 2t and 2t+1:
///   V_i[c][t][x] = (Bᵀ rows)_i                         the input transform, i = 0…3
///   M_i[o][t][x] = Σ_{c,j} U_i[o][c][j] · V_i[c][t][x + j]   U_i = (G g)_i, g = w[o, c, ·, j]
///   out[o][2t] = M₀ + M₁ + M₂,  out[o][2t+1] = M₁ − M₂ − M₃   (+ bias, optionally max(0, ·))
/// Each M_i is a 1×3 convolution with 3·Cin taps: the direct convolution's register blocks
/// (`convolve8x32`…) run it over the rows of V laid end to end, as they do over padded planes.
///
/// Same contract as `Conv2dKernel.forward` (which it replaces for evaluation when `suits` says
/// so); the results differ from the direct sum only by rounding (about 1e-7 relative).
public final class WinogradConvolution {
    public let shape: Conv2dShape
    public let threads: Int
    /// The micro-kernels' register blocks (this CPU's unless a test asks for the other).
    public let registers: RegisterBlocks

    let rowPairs: Int              // output rows, in pairs (the last pair may have one row)
    let rowStride: Int             // padded input width: the stride of planes, V and M rows
    let planeSize: Int             // the padded input plane: (2·rowPairs + 2) rows
    let positions: Int             // positions of V and M computed per image: up to the last valid output, rounded up to 32
    let transformedSize: Int       // floats per V_i[c]: positions and the taps' reach
    let blocks: [RowBlock]
    let packed: UnsafeMutablePointer<Float>       // U_i per output block: [i][block: (c, j)][rows]
    let biasRows: UnsafeMutablePointer<Float>
    let zeros: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Int>        // tap (c, j) ↦ c·transformedSize + j
    let planes: [UnsafeMutablePointer<Float>]     // per thread: one image's zero-padded input planes
    let transformed: [UnsafeMutablePointer<Float>]  // per thread: V[i][c][transformedSize]
    let products: [UnsafeMutablePointer<Float>]   // per thread: M[i][o][positions]

    /// Whether F(2, 3) pays for `shape`: 3×3 kernels with enough channels on both sides for the
    /// products to keep the register blocks busy, and enough rows for the pairs.
    public static func suits(_ shape: Conv2dShape) -> Bool {
        shape.kernelSize == 3 && shape.inChannels >= 8 && shape.outChannels >= 8 && shape.outHeight >= 14
    }

    public init(shape: Conv2dShape, threads: Int, registers: RegisterBlocks = .native) {
        precondition(shape.kernelSize == 3 && shape.outHeight > 0 && shape.outWidth > 0,
                     "Winograd F(2, 3) needs a 3×3 kernel: \(shape)")
        self.shape = shape
        self.registers = registers
        let threadCount = max(1, min(threads, shape.batch))
        self.threads = threadCount
        rowPairs = (shape.outHeight + 1) / 2
        rowStride = shape.width + 2 * shape.padding
        planeSize = (2 * rowPairs + 2) * rowStride
        positions = ((rowPairs - 1) * rowStride + shape.outWidth + 31) / 32 * 32
        transformedSize = positions + 32
        blocks = RowBlock.split(shape.outChannels)
        let rows = blocks.last!.end, cin = shape.inChannels
        packed = zeroedFloats(4 * rows * 3 * cin)
        biasRows = zeroedFloats(rows)
        zeros = zeroedFloats(16)
        offsets = .allocate(capacity: 3 * cin)
        for c in 0..<cin { for j in 0..<3 { offsets[3 * c + j] = c * transformedSize + j } }
        let (planeCount, vCount, mCount) = (cin * planeSize + 32, 4 * cin * transformedSize, 4 * rows * positions)
        planes = (0..<threadCount).map { _ in zeroedFloats(planeCount) }
        transformed = (0..<threadCount).map { _ in zeroedFloats(vCount) }
        products = (0..<threadCount).map { _ in zeroedFloats(mCount) }
    }

    deinit {
        for pointer in [packed, biasRows, zeros] + planes + transformed + products { pointer.deallocate() }
        offsets.deallocate()
    }

    /// out[n,o,y,x] = bias[o] + Σ_{c,i,j} w[o,c,i,j]·scale[o] · in[n,c,y+i−p,x+j−p], through max(0, ·)
    /// with `rectify`. Overwrites `output`.
    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                        scale: UnsafePointer<Float>? = nil, rectify: Bool = false) {
        let s = shape, cin = s.inChannels, rows = blocks.last!.end
        guard s.batch > 0 else { return }
        // U_i = G·(column j of the kernel), packed per i and output block as the register blocks read it.
        for block in blocks {
            for o in block.start..<min(block.end, s.outChannels) {
                let factor = scale?[o] ?? 1
                for c in 0..<cin {
                    let g = weight + (o * cin + c) * 9
                    for j in 0..<3 {
                        let (g0, g1, g2) = (g[j] * factor, g[3 + j] * factor, g[6 + j] * factor)
                        let u = SIMD4<Float>(g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
                        for i in 0..<4 {
                            packed[i * rows * 3 * cin + block.start * 3 * cin + (3 * c + j) * block.rows + o - block.start] = u[i]
                        }
                    }
                }
            }
        }
        for o in 0..<s.outChannels { biasRows[o] = bias?[o] ?? 0 }
        let inImage = cin * s.height * s.width, outImage = s.outChannels * s.outHeight * s.outWidth
        parallelFor(s.batch, threads: s.multiplyAdds < 1 << 18 ? 1 : threads) { chunk, images in
            for n in images {
                let v = self.transformed[chunk], m = self.products[chunk]
                self.transformInput(input + n * inImage, into: v, plane: self.planes[chunk])
                for i in 0..<4 {
                    let u = self.packed + i * rows * 3 * cin
                    let vi = v + i * cin * self.transformedSize, mi = m + i * rows * self.positions
                    for q in Swift.stride(from: 0, to: self.positions, by: 32) {
                        for block in self.blocks {
                            convolve(block, u + block.start * 3 * cin, offsets: self.offsets, taps: 3 * cin, vi + q,
                                     bias: self.zeros, mi + block.start * self.positions + q, rowStride: self.positions,
                                     registers: self.registers)
                        }
                    }
                }
                self.transformOutput(m, into: output + n * outImage, rectify: rectify)
            }
        }
    }

    /// Pads one image's planes with zeros, then V_i[c][t·rowStride + x] = (Bᵀ d)_i for the plane rows
    /// d = 2t…2t+3: V₀ = d₀ − d₂, V₁ = d₁ + d₂, V₂ = d₂ − d₁, V₃ = d₁ − d₃.
    private func transformInput(_ image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                plane: UnsafeMutablePointer<Float>) {
        let s = shape, p = s.padding, cin = s.inChannels
        for c in 0..<cin {
            for y in 0..<s.height {
                (plane + c * planeSize + (p + y) * rowStride + p).update(from: image + (c * s.height + y) * s.width,
                                                                         count: s.width)
            }
        }
        let step = cin * transformedSize   // from V_i to V_i+1
        for c in 0..<cin {
            let source = UnsafeRawPointer(plane + c * planeSize), row = 4 * rowStride
            for t in 0..<rowPairs {
                // Vectors of 16 along the row; the last one runs into the next row's place, which is
                // written after it (the planes and V have slack for the last row's).
                for x in Swift.stride(from: 0, to: rowStride, by: 16) {
                    let at = (2 * t * rowStride + x) * 4
                    let d0 = source.loadUnaligned(fromByteOffset: at, as: SIMD16<Float>.self)
                    let d1 = source.loadUnaligned(fromByteOffset: at + row, as: SIMD16<Float>.self)
                    let d2 = source.loadUnaligned(fromByteOffset: at + 2 * row, as: SIMD16<Float>.self)
                    let d3 = source.loadUnaligned(fromByteOffset: at + 3 * row, as: SIMD16<Float>.self)
                    let target = UnsafeMutableRawPointer(v + c * transformedSize + t * rowStride + x)
                    target.storeBytes(of: d0 - d2, as: SIMD16<Float>.self)
                    target.storeBytes(of: d1 + d2, toByteOffset: step * 4, as: SIMD16<Float>.self)
                    target.storeBytes(of: d2 - d1, toByteOffset: 2 * step * 4, as: SIMD16<Float>.self)
                    target.storeBytes(of: d1 - d3, toByteOffset: 3 * step * 4, as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// out[o][2t][x] = bias[o] + M₀ + M₁ + M₂,  out[o][2t+1][x] = bias[o] + M₁ − M₂ − M₃ (at t·rowStride + x),
    /// through max(0, ·) with `rectify`.
    private func transformOutput(_ m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rectify: Bool) {
        let s = shape, rows = blocks.last!.end, width = s.outWidth
        let step = rows * positions   // from M_i to M_i+1
        for o in 0..<s.outChannels {
            let bias = biasRows[o], biases = SIMD16<Float>(repeating: bias)
            let plane = output + o * s.outHeight * width
            for t in 0..<rowPairs {
                let first = m + o * positions + t * rowStride
                let top = plane + 2 * t * width, bottom = 2 * t + 1 < s.outHeight ? top + width : nil
                var x = 0
                while x + 16 <= width {
                    let at = UnsafeRawPointer(first + x)
                    let m0 = at.loadUnaligned(as: SIMD16<Float>.self)
                    let m1 = at.loadUnaligned(fromByteOffset: step * 4, as: SIMD16<Float>.self)
                    let m2 = at.loadUnaligned(fromByteOffset: 2 * step * 4, as: SIMD16<Float>.self)
                    let m3 = at.loadUnaligned(fromByteOffset: 3 * step * 4, as: SIMD16<Float>.self)
                    var y0 = m0 + m1 + m2 + biases, y1 = m1 - m2 - m3 + biases
                    if rectify { y0 = pointwiseMax(y0, .zero); y1 = pointwiseMax(y1, .zero) }
                    UnsafeMutableRawPointer(top + x).storeBytes(of: y0, as: SIMD16<Float>.self)
                    if let bottom { UnsafeMutableRawPointer(bottom + x).storeBytes(of: y1, as: SIMD16<Float>.self) }
                    x += 16
                }
                while x < width {
                    let (m0, m1, m2, m3) = (first[x], first[x + step], first[x + 2 * step], first[x + 3 * step])
                    var y0 = m0 + m1 + m2 + bias, y1 = m1 - m2 - m3 + bias
                    if rectify { y0 = max(y0, 0); y1 = max(y1, 0) }
                    top[x] = y0
                    bottom?[x] = y1
                    x += 1
                }
            }
        }
    }
}
