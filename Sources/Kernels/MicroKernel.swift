// The innermost loops of the convolution: register-blocked SIMD code that the compiler turns into
// fused multiply-adds on this CPU's vector registers when built with `-target-cpu native` (see
// Package.swift). Hand-expanded on purpose: each accumulator must be its own variable for it to
// stay in a register. Two shapes of the same blocks (`RegisterBlocks`): AVX-512's 32 registers of
// 16 floats hold an 8×32 tile's accumulators at once; AVX2's 16 registers of 8 floats would spill
// them to memory on every tap (a third of the speed), so there the tile is computed in 4×16 and
// 6×16 pieces. Each output is the same chain of fused multiply-adds in the same order either way:
// the results are bit for bit the same on both kinds of CPU.

internal import CPUFeatures

/// The shape of the micro-kernels' register blocks, chosen for the CPU's vector registers.
public enum RegisterBlocks: Sendable {
    /// 32 registers of 16 floats (AVX-512): a tile of 8 (or 12, 4) rows × 32 positions per call.
    case wide
    /// 16 registers of 8 floats (AVX2): the same tile as 4×16 (or 6×16) pieces, and the weight
    /// gradient's 4×4 dot products as four 2×2 ones.
    case narrow

    /// This CPU's: `wide` where AVX-512 is there and enabled by the operating system.
    public static let native: RegisterBlocks = backprop_has_512_bit_vectors() != 0 ? .wide : .narrow
}

/// One 8×32 block of a "valid" convolution over zero-padded planes (`PaddedPlanes`):
///   tile[r, q] = bias[r] + Σ_t weights[t, r] · source[q + offsets[t]]   for r < 8, q < 32.
/// Tap t = (c, i, j) of the kernel sits at `offsets[t]` = c·planeSize + i·rowStride + j, so the
/// 32 inputs that one tap needs are two contiguous SIMD16 loads, and one loop covers every kernel
/// size. `weights` holds 8 floats per tap (one per output row), so the eight broadcasts read one
/// cache line. The 16 accumulators (8 rows × 2 halves) stay in zmm registers: per tap, 2 loads,
/// 8 broadcasts, 16 fused multiply-adds.
@inline(never)
func convolve8x32(_ weights: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
                  _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  _ tile: UnsafeMutablePointer<Float>, rowStride ldc: Int) {
    var c0a = SIMD16<Float>(repeating: bias[0]), c0b = c0a
    var c1a = SIMD16<Float>(repeating: bias[1]), c1b = c1a
    var c2a = SIMD16<Float>(repeating: bias[2]), c2b = c2a
    var c3a = SIMD16<Float>(repeating: bias[3]), c3b = c3a
    var c4a = SIMD16<Float>(repeating: bias[4]), c4b = c4a
    var c5a = SIMD16<Float>(repeating: bias[5]), c5b = c5a
    var c6a = SIMD16<Float>(repeating: bias[6]), c6b = c6a
    var c7a = SIMD16<Float>(repeating: bias[7]), c7b = c7a
    var w = weights
    for t in 0..<taps {
        let row = UnsafeRawPointer(source + offsets[t])
        let b0 = row.loadUnaligned(as: SIMD16<Float>.self)
        let b1 = row.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let w0 = SIMD16<Float>(repeating: w[0]); c0a.addProduct(w0, b0); c0b.addProduct(w0, b1)
        let w1 = SIMD16<Float>(repeating: w[1]); c1a.addProduct(w1, b0); c1b.addProduct(w1, b1)
        let w2 = SIMD16<Float>(repeating: w[2]); c2a.addProduct(w2, b0); c2b.addProduct(w2, b1)
        let w3 = SIMD16<Float>(repeating: w[3]); c3a.addProduct(w3, b0); c3b.addProduct(w3, b1)
        let w4 = SIMD16<Float>(repeating: w[4]); c4a.addProduct(w4, b0); c4b.addProduct(w4, b1)
        let w5 = SIMD16<Float>(repeating: w[5]); c5a.addProduct(w5, b0); c5b.addProduct(w5, b1)
        let w6 = SIMD16<Float>(repeating: w[6]); c6a.addProduct(w6, b0); c6b.addProduct(w6, b1)
        let w7 = SIMD16<Float>(repeating: w[7]); c7a.addProduct(w7, b0); c7b.addProduct(w7, b1)
        w += 8
    }
    store(c0a, c0b, to: tile + 0 * ldc)
    store(c1a, c1b, to: tile + 1 * ldc)
    store(c2a, c2b, to: tile + 2 * ldc)
    store(c3a, c3b, to: tile + 3 * ldc)
    store(c4a, c4b, to: tile + 4 * ldc)
    store(c5a, c5b, to: tile + 5 * ldc)
    store(c6a, c6b, to: tile + 6 * ldc)
    store(c7a, c7b, to: tile + 7 * ldc)
}

/// `convolve8x32` for 12 output rows (12 floats of `weights` per tap): 24 accumulators, 2 loads and
/// 12 broadcasts per 24 fused multiply-adds. Channel counts of 12, 20, 28 (8k + 4) run as one 12-row
/// block and 8-row ones instead of wasting a half-empty 4-row block.
@inline(never)
func convolve12x32(_ weights: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
                   _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                   _ tile: UnsafeMutablePointer<Float>, rowStride ldc: Int) {
    var c0a = SIMD16<Float>(repeating: bias[0]), c0b = c0a
    var c1a = SIMD16<Float>(repeating: bias[1]), c1b = c1a
    var c2a = SIMD16<Float>(repeating: bias[2]), c2b = c2a
    var c3a = SIMD16<Float>(repeating: bias[3]), c3b = c3a
    var c4a = SIMD16<Float>(repeating: bias[4]), c4b = c4a
    var c5a = SIMD16<Float>(repeating: bias[5]), c5b = c5a
    var c6a = SIMD16<Float>(repeating: bias[6]), c6b = c6a
    var c7a = SIMD16<Float>(repeating: bias[7]), c7b = c7a
    var c8a = SIMD16<Float>(repeating: bias[8]), c8b = c8a
    var c9a = SIMD16<Float>(repeating: bias[9]), c9b = c9a
    var c10a = SIMD16<Float>(repeating: bias[10]), c10b = c10a
    var c11a = SIMD16<Float>(repeating: bias[11]), c11b = c11a
    var w = weights
    for t in 0..<taps {
        let row = UnsafeRawPointer(source + offsets[t])
        let b0 = row.loadUnaligned(as: SIMD16<Float>.self)
        let b1 = row.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let w0 = SIMD16<Float>(repeating: w[0]); c0a.addProduct(w0, b0); c0b.addProduct(w0, b1)
        let w1 = SIMD16<Float>(repeating: w[1]); c1a.addProduct(w1, b0); c1b.addProduct(w1, b1)
        let w2 = SIMD16<Float>(repeating: w[2]); c2a.addProduct(w2, b0); c2b.addProduct(w2, b1)
        let w3 = SIMD16<Float>(repeating: w[3]); c3a.addProduct(w3, b0); c3b.addProduct(w3, b1)
        let w4 = SIMD16<Float>(repeating: w[4]); c4a.addProduct(w4, b0); c4b.addProduct(w4, b1)
        let w5 = SIMD16<Float>(repeating: w[5]); c5a.addProduct(w5, b0); c5b.addProduct(w5, b1)
        let w6 = SIMD16<Float>(repeating: w[6]); c6a.addProduct(w6, b0); c6b.addProduct(w6, b1)
        let w7 = SIMD16<Float>(repeating: w[7]); c7a.addProduct(w7, b0); c7b.addProduct(w7, b1)
        let w8 = SIMD16<Float>(repeating: w[8]); c8a.addProduct(w8, b0); c8b.addProduct(w8, b1)
        let w9 = SIMD16<Float>(repeating: w[9]); c9a.addProduct(w9, b0); c9b.addProduct(w9, b1)
        let w10 = SIMD16<Float>(repeating: w[10]); c10a.addProduct(w10, b0); c10b.addProduct(w10, b1)
        let w11 = SIMD16<Float>(repeating: w[11]); c11a.addProduct(w11, b0); c11b.addProduct(w11, b1)
        w += 12
    }
    store(c0a, c0b, to: tile + 0 * ldc)
    store(c1a, c1b, to: tile + 1 * ldc)
    store(c2a, c2b, to: tile + 2 * ldc)
    store(c3a, c3b, to: tile + 3 * ldc)
    store(c4a, c4b, to: tile + 4 * ldc)
    store(c5a, c5b, to: tile + 5 * ldc)
    store(c6a, c6b, to: tile + 6 * ldc)
    store(c7a, c7b, to: tile + 7 * ldc)
    store(c8a, c8b, to: tile + 8 * ldc)
    store(c9a, c9b, to: tile + 9 * ldc)
    store(c10a, c10b, to: tile + 10 * ldc)
    store(c11a, c11b, to: tile + 11 * ldc)
}

/// `convolve8x32` for 4 output rows (4 floats of `weights` per tap): the last rows when the
/// channel count is not a multiple of 8. Eight accumulators, enough to hide the FMA latency.
@inline(never)
func convolve4x32(_ weights: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
                  _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  _ tile: UnsafeMutablePointer<Float>, rowStride ldc: Int) {
    var c0a = SIMD16<Float>(repeating: bias[0]), c0b = c0a
    var c1a = SIMD16<Float>(repeating: bias[1]), c1b = c1a
    var c2a = SIMD16<Float>(repeating: bias[2]), c2b = c2a
    var c3a = SIMD16<Float>(repeating: bias[3]), c3b = c3a
    var w = weights
    for t in 0..<taps {
        let row = UnsafeRawPointer(source + offsets[t])
        let b0 = row.loadUnaligned(as: SIMD16<Float>.self)
        let b1 = row.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let w0 = SIMD16<Float>(repeating: w[0]); c0a.addProduct(w0, b0); c0b.addProduct(w0, b1)
        let w1 = SIMD16<Float>(repeating: w[1]); c1a.addProduct(w1, b0); c1b.addProduct(w1, b1)
        let w2 = SIMD16<Float>(repeating: w[2]); c2a.addProduct(w2, b0); c2b.addProduct(w2, b1)
        let w3 = SIMD16<Float>(repeating: w[3]); c3a.addProduct(w3, b0); c3b.addProduct(w3, b1)
        w += 4
    }
    store(c0a, c0b, to: tile + 0 * ldc)
    store(c1a, c1b, to: tile + 1 * ldc)
    store(c2a, c2b, to: tile + 2 * ldc)
    store(c3a, c3b, to: tile + 3 * ldc)
}

/// 4 rows × 16 positions of a tile for CPUs with 16 vector registers of 8 floats (AVX2):
///   tile[r, q] = bias[r] + Σ_t weights[t·perTap + r] · source[q + offsets[t]]   for r < 4, q < 16,
/// the rows of a block of `perTap` rows (8 or 4) that start at `weights`. Eight accumulators, 2
/// loads and 4 broadcasts per 8 fused multiply-adds: every operand in a register.
@inline(never)
func convolve4x16(_ weights: UnsafePointer<Float>, perTap: Int, offsets: UnsafePointer<Int>, taps: Int,
                  _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  _ tile: UnsafeMutablePointer<Float>, rowStride ldc: Int) {
    var c0a = SIMD8<Float>(repeating: bias[0]), c0b = c0a
    var c1a = SIMD8<Float>(repeating: bias[1]), c1b = c1a
    var c2a = SIMD8<Float>(repeating: bias[2]), c2b = c2a
    var c3a = SIMD8<Float>(repeating: bias[3]), c3b = c3a
    var w = weights
    for t in 0..<taps {
        let row = UnsafeRawPointer(source + offsets[t])
        let b0 = row.loadUnaligned(as: SIMD8<Float>.self)
        let b1 = row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let w0 = SIMD8<Float>(repeating: w[0]); c0a.addProduct(w0, b0); c0b.addProduct(w0, b1)
        let w1 = SIMD8<Float>(repeating: w[1]); c1a.addProduct(w1, b0); c1b.addProduct(w1, b1)
        let w2 = SIMD8<Float>(repeating: w[2]); c2a.addProduct(w2, b0); c2b.addProduct(w2, b1)
        let w3 = SIMD8<Float>(repeating: w[3]); c3a.addProduct(w3, b0); c3b.addProduct(w3, b1)
        w += perTap
    }
    store(c0a, c0b, to: tile + 0 * ldc)
    store(c1a, c1b, to: tile + 1 * ldc)
    store(c2a, c2b, to: tile + 2 * ldc)
    store(c3a, c3b, to: tile + 3 * ldc)
}

/// `convolve4x16` for 6 rows (half of a 12-row block): twelve accumulators, 2 loads and 6
/// broadcasts per 12 fused multiply-adds, 15 of the 16 registers.
@inline(never)
func convolve6x16(_ weights: UnsafePointer<Float>, perTap: Int, offsets: UnsafePointer<Int>, taps: Int,
                  _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  _ tile: UnsafeMutablePointer<Float>, rowStride ldc: Int) {
    var c0a = SIMD8<Float>(repeating: bias[0]), c0b = c0a
    var c1a = SIMD8<Float>(repeating: bias[1]), c1b = c1a
    var c2a = SIMD8<Float>(repeating: bias[2]), c2b = c2a
    var c3a = SIMD8<Float>(repeating: bias[3]), c3b = c3a
    var c4a = SIMD8<Float>(repeating: bias[4]), c4b = c4a
    var c5a = SIMD8<Float>(repeating: bias[5]), c5b = c5a
    var w = weights
    for t in 0..<taps {
        let row = UnsafeRawPointer(source + offsets[t])
        let b0 = row.loadUnaligned(as: SIMD8<Float>.self)
        let b1 = row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let w0 = SIMD8<Float>(repeating: w[0]); c0a.addProduct(w0, b0); c0b.addProduct(w0, b1)
        let w1 = SIMD8<Float>(repeating: w[1]); c1a.addProduct(w1, b0); c1b.addProduct(w1, b1)
        let w2 = SIMD8<Float>(repeating: w[2]); c2a.addProduct(w2, b0); c2b.addProduct(w2, b1)
        let w3 = SIMD8<Float>(repeating: w[3]); c3a.addProduct(w3, b0); c3b.addProduct(w3, b1)
        let w4 = SIMD8<Float>(repeating: w[4]); c4a.addProduct(w4, b0); c4b.addProduct(w4, b1)
        let w5 = SIMD8<Float>(repeating: w[5]); c5a.addProduct(w5, b0); c5b.addProduct(w5, b1)
        w += perTap
    }
    store(c0a, c0b, to: tile + 0 * ldc)
    store(c1a, c1b, to: tile + 1 * ldc)
    store(c2a, c2b, to: tile + 2 * ldc)
    store(c3a, c3b, to: tile + 3 * ldc)
    store(c4a, c4b, to: tile + 4 * ldc)
    store(c5a, c5b, to: tile + 5 * ldc)
}

/// One block of rows of a convolution's tile, by the micro-kernel of its size (12, 8 or 4 rows):
/// tile[r, q] = bias[r] + Σ_t weights[t, r] · source[q + offsets[t]] for q < 32.
@inline(__always)
func convolve(_ block: RowBlock, _ weights: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
              _ source: UnsafePointer<Float>, bias: UnsafePointer<Float>,
              _ tile: UnsafeMutablePointer<Float>, rowStride: Int, registers: RegisterBlocks) {
    if registers == .narrow {
        for half in [0, 16] {
            if block.rows == 12 {
                for r in [0, 6] {
                    convolve6x16(weights + r, perTap: 12, offsets: offsets, taps: taps, source + half, bias: bias + r,
                                 tile + r * rowStride + half, rowStride: rowStride)
                }
            } else {
                for r in Swift.stride(from: 0, to: block.rows, by: 4) {
                    convolve4x16(weights + r, perTap: block.rows, offsets: offsets, taps: taps, source + half,
                                 bias: bias + r, tile + r * rowStride + half, rowStride: rowStride)
                }
            }
        }
    } else if block.rows == 8 {
        convolve8x32(weights, offsets: offsets, taps: taps, source, bias: bias, tile, rowStride: rowStride)
    } else if block.rows == 12 {
        convolve12x32(weights, offsets: offsets, taps: taps, source, bias: bias, tile, rowStride: rowStride)
    } else {
        convolve4x32(weights, offsets: offsets, taps: taps, source, bias: bias, tile, rowStride: rowStride)
    }
}

@inline(__always)
func store(_ low: SIMD16<Float>, _ high: SIMD16<Float>, to c: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(c).storeBytes(of: low, as: SIMD16<Float>.self)
    UnsafeMutableRawPointer(c + 16).storeBytes(of: high, as: SIMD16<Float>.self)
}

@inline(__always)
func store(_ low: SIMD8<Float>, _ high: SIMD8<Float>, to c: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(c).storeBytes(of: low, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(c + 8).storeBytes(of: high, as: SIMD8<Float>.self)
}

/// out[a, b] += Σ_q g[a, q] · source[q + offsets[b]]   for a, b < 4, q < length (a multiple of 16):
/// sixteen dot products of output-gradient rows with shifted input rows, for the weight gradient.
/// `g` has row stride `ldg`, `out` row stride `ldo`. Sixteen SIMD16 accumulators, added across
/// lanes once at the end.
@inline(never)
func dot4x4(_ g: UnsafePointer<Float>, ldg: Int, _ source: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
            length: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int) {
    var s00 = SIMD16<Float>(), s01 = SIMD16<Float>(), s02 = SIMD16<Float>(), s03 = SIMD16<Float>()
    var s10 = SIMD16<Float>(), s11 = SIMD16<Float>(), s12 = SIMD16<Float>(), s13 = SIMD16<Float>()
    var s20 = SIMD16<Float>(), s21 = SIMD16<Float>(), s22 = SIMD16<Float>(), s23 = SIMD16<Float>()
    var s30 = SIMD16<Float>(), s31 = SIMD16<Float>(), s32 = SIMD16<Float>(), s33 = SIMD16<Float>()
    let g0 = UnsafeRawPointer(g), g1 = UnsafeRawPointer(g + ldg)
    let g2 = UnsafeRawPointer(g + 2 * ldg), g3 = UnsafeRawPointer(g + 3 * ldg)
    let x0 = UnsafeRawPointer(source + offsets[0]), x1 = UnsafeRawPointer(source + offsets[1])
    let x2 = UnsafeRawPointer(source + offsets[2]), x3 = UnsafeRawPointer(source + offsets[3])
    var byte = 0
    let end = length * 4
    while byte < end {
        let a0 = g0.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let a1 = g1.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let a2 = g2.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let a3 = g3.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b0 = x0.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b1 = x1.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b2 = x2.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b3 = x3.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        s00.addProduct(a0, b0); s01.addProduct(a0, b1); s02.addProduct(a0, b2); s03.addProduct(a0, b3)
        s10.addProduct(a1, b0); s11.addProduct(a1, b1); s12.addProduct(a1, b2); s13.addProduct(a1, b3)
        s20.addProduct(a2, b0); s21.addProduct(a2, b1); s22.addProduct(a2, b2); s23.addProduct(a2, b3)
        s30.addProduct(a3, b0); s31.addProduct(a3, b1); s32.addProduct(a3, b2); s33.addProduct(a3, b3)
        byte += 64
    }
    add(sums(s00, s01, s02, s03), to: out)
    add(sums(s10, s11, s12, s13), to: out + ldo)
    add(sums(s20, s21, s22, s23), to: out + 2 * ldo)
    add(sums(s30, s31, s32, s33), to: out + 3 * ldo)
}

/// A quarter of `dot4x4` (rows a, a+1 × columns b, b+1), for CPUs with 16 vector registers of 8
/// floats (AVX2), where `dot4x4`'s sixteen SIMD16 accumulators would spill: out[a, b] += Σ_q g[a, q] ·
/// source[q + offsets[b]] for a, b < 2, with the same per-lane sums and the same final halving
/// (`sums`), so the same results. Measured here: 73 GFLOP/s on one core, against 54 for one row of
/// four and 36 for `dot4x4` itself.
@inline(never)
func dot2x2(_ g: UnsafePointer<Float>, ldg: Int, _ source: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
            length: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int) {
    var s00 = SIMD16<Float>(), s01 = SIMD16<Float>(), s10 = SIMD16<Float>(), s11 = SIMD16<Float>()
    let g0 = UnsafeRawPointer(g), g1 = UnsafeRawPointer(g + ldg)
    let x0 = UnsafeRawPointer(source + offsets[0]), x1 = UnsafeRawPointer(source + offsets[1])
    var byte = 0
    let end = length * 4
    while byte < end {
        let a0 = g0.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let a1 = g1.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b0 = x0.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        let b1 = x1.loadUnaligned(fromByteOffset: byte, as: SIMD16<Float>.self)
        s00.addProduct(a0, b0); s01.addProduct(a0, b1)
        s10.addProduct(a1, b0); s11.addProduct(a1, b1)
        byte += 64
    }
    let v = sums(s00, s01, s10, s11)
    out[0] += v[0]; out[1] += v[1]; out[ldo] += v[2]; out[ldo + 1] += v[3]
}

/// out[a, b] += Σ_q g[a, q] · source[q + offsets[b]] for a, b < 4 (see `dot4x4`), in the register
/// blocks that suit `registers`.
@inline(__always)
func dot(_ g: UnsafePointer<Float>, ldg: Int, _ source: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
         length: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int, registers: RegisterBlocks) {
    if registers == .wide {
        dot4x4(g, ldg: ldg, source, offsets: offsets, length: length, out, ldo: ldo)
    } else {
        for a in [0, 2] {
            for b in [0, 2] { dot2x2(g + a * ldg, ldg: ldg, source, offsets: offsets + b, length: length, out + a * ldo + b, ldo: ldo) }
        }
    }
}

/// The lane sums of four vectors, by halving: (a₀…a₁₅, b…, c…, d…) → (Σa, Σb, Σc, Σd).
@inline(__always)
func sums(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, _ d: SIMD16<Float>) -> SIMD4<Float> {
    let ab = SIMD16(lowHalf: a.lowHalf + a.highHalf, highHalf: b.lowHalf + b.highHalf)   // 8 a, 8 b
    let cd = SIMD16(lowHalf: c.lowHalf + c.highHalf, highHalf: d.lowHalf + d.highHalf)   // 8 c, 8 d
    let abcd = SIMD16(lowHalf: ab.evenHalf + ab.oddHalf, highHalf: cd.evenHalf + cd.oddHalf)  // 4 of each
    let pairs = abcd.evenHalf + abcd.oddHalf                                               // 2 of each
    return pairs.evenHalf + pairs.oddHalf
}

/// out[0..<4] += v.
@inline(__always)
func add(_ v: SIMD4<Float>, to out: UnsafeMutablePointer<Float>) {
    let raw = UnsafeMutableRawPointer(out)
    raw.storeBytes(of: raw.loadUnaligned(as: SIMD4<Float>.self) + v, as: SIMD4<Float>.self)
}
