import Foundation

/// The machine's arithmetic peak as this engine's code can reach it, measured: every thread runs
/// independent chains of fused multiply-adds on registers (no memory traffic) for about `seconds`,
/// all threads at once: sixteen chains of SIMD16 where there are 32 registers of 16 floats
/// (AVX-512), twelve of SIMD8 where there are 16 of 8 (AVX2; sixteen SIMD16 chains would spill
/// there and measure memory, not arithmetic). What the benchmarks' GFLOP/s are set against: a peak
/// computed from the reported clock and the core's FMA pipes can be far from what a shared,
/// virtualised core sustains.
public func measuredPeakGFLOPS(threads: Int, seconds: Double = 0.25) -> Double {
    let wide = RegisterBlocks.native == .wide
    let chains = wide ? multiplyAddChains : narrowMultiplyAddChains
    let flopsPerIteration = wide ? 16 * 32 : 12 * 16
    let start = DispatchTime.now().uptimeNanoseconds
    var calibration = chains(100_000, 1)
    let perIteration = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / 100_000
    let iterations = max(100_000, Int(seconds / max(perIteration, 1e-12)))
    var results = [Float](repeating: 0, count: threads)
    let begin = DispatchTime.now().uptimeNanoseconds
    results.withUnsafeMutableBufferPointer { results in
        let results = results.baseAddress!
        parallelFor(threads, threads: threads) { _, range in
            for thread in range { results[thread] = chains(iterations, Float(thread + 2)) }
        }
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
    calibration += results.reduce(0, +)
    // The sums are used, so that no optimiser may drop the loops that made them.
    guard calibration.isFinite else { return 0 }
    return Double(threads) * Double(iterations) * Double(flopsPerIteration) / elapsed / 1e9
}

/// 16 chains × `iterations` fused multiply-adds of 16 lanes: a ← a·m + c, which stays finite.
@inline(never)
func multiplyAddChains(_ iterations: Int, seed: Float) -> Float {
    let m = SIMD16<Float>(repeating: 0.5), c = SIMD16<Float>(repeating: seed)
    var a0 = c, a1 = c + 1, a2 = c + 2, a3 = c + 3, a4 = c + 4, a5 = c + 5, a6 = c + 6, a7 = c + 7
    var a8 = c + 8, a9 = c + 9, a10 = c + 10, a11 = c + 11, a12 = c + 12, a13 = c + 13, a14 = c + 14, a15 = c + 15
    for _ in 0..<iterations {
        a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m); a3 = c.addingProduct(a3, m)
        a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m); a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m)
        a8 = c.addingProduct(a8, m); a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
        a12 = c.addingProduct(a12, m); a13 = c.addingProduct(a13, m); a14 = c.addingProduct(a14, m); a15 = c.addingProduct(a15, m)
    }
    let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15))
    return sum.sum()
}

/// 12 chains × `iterations` fused multiply-adds of 8 lanes: `multiplyAddChains` for 16 registers.
@inline(never)
func narrowMultiplyAddChains(_ iterations: Int, seed: Float) -> Float {
    let m = SIMD8<Float>(repeating: 0.5), c = SIMD8<Float>(repeating: seed)
    var a0 = c, a1 = c + 1, a2 = c + 2, a3 = c + 3, a4 = c + 4, a5 = c + 5
    var a6 = c + 6, a7 = c + 7, a8 = c + 8, a9 = c + 9, a10 = c + 10, a11 = c + 11
    for _ in 0..<iterations {
        a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m); a3 = c.addingProduct(a3, m)
        a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m); a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m)
        a8 = c.addingProduct(a8, m); a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
    }
    let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
    return sum.sum()
}
