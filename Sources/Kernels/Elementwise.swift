// The memory-bound passes around the convolutions, in SIMD16: per-channel sums for BatchNorm, the
// normalise–rectify–drop sweep, and the dropout mask, drawn from a counter-based hash so that it
// costs a few instructions per 16 units, can be split over threads, and need not be stored: the
// backward pass recomputes it from the same key.
//
// Comparisons that make a `SIMDMask` compile to slow lane-by-lane loops here, so the selections
// below are integer bit tricks: a lane's all-ones or all-zeros word, ANDed into the float's bits.

/// Dropout's decision for unit `index` under `key`: keep with probability 1 − p.
///   bits = mix(mix(index ⊕ key.low) + key.high),  keep ⇔ bits / 2⁸ ≥ threshold,
/// with `mix` the "lowbias32" integer hash (Wellons) and threshold = round(p·2²⁴).
public struct DropoutMask: Sendable {
    public let key: UInt64
    public let threshold: UInt32
    /// The factor of a kept unit, 1/(1 − p).
    public let scale: Float

    public init(key: UInt64, probability: Float) {
        self.key = key
        threshold = UInt32((Double(probability) * 16_777_216).rounded())
        scale = 1 / (1 - probability)
    }

    @inline(__always)
    static func mix(_ value: UInt32) -> UInt32 {
        var x = value
        x ^= x >> 16; x = x &* 0x7FEB_352D
        x ^= x >> 15; x = x &* 0x846C_A68B
        x ^= x >> 16
        return x
    }

    @inline(__always)
    static func mix(_ value: SIMD16<UInt32>) -> SIMD16<UInt32> {
        var x = value
        x ^= x &>> 16; x &*= 0x7FEB_352D
        x ^= x &>> 15; x &*= 0x846C_A68B
        x ^= x &>> 16
        return x
    }

    /// The factor of unit `index`: 0 or `scale`.
    @inline(__always)
    public func factor(_ index: Int) -> Float {
        let bits = Self.mix(Self.mix(UInt32(truncatingIfNeeded: index) ^ UInt32(truncatingIfNeeded: key))
                            &+ UInt32(truncatingIfNeeded: key >> 32))
        return bits >> 8 >= threshold ? scale : 0
    }

    /// All-ones lanes for the kept units among `first` … `first` + 15.
    @inline(__always)
    func keptLanes(_ first: Int) -> SIMD16<UInt32> {
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let index = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: first)) &+ lanes
        let bits = Self.mix(Self.mix(index ^ UInt32(truncatingIfNeeded: key)) &+ UInt32(truncatingIfNeeded: key >> 32))
        // (bits >> 8) − threshold is negative (sign bit set) exactly for dropped units.
        let difference = unsafeBitCast(bits &>> 8, to: SIMD16<Int32>.self) &- Int32(threshold)
        return ~unsafeBitCast(difference &>> 31, to: SIMD16<UInt32>.self)
    }
}

@inline(__always)
func load(_ pointer: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(pointer + i).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store(_ value: SIMD16<Float>, _ pointer: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(pointer + i).storeBytes(of: value, as: SIMD16<Float>.self)
}

@inline(__always)
func select(_ value: SIMD16<Float>, _ lanes: SIMD16<UInt32>) -> SIMD16<Float> {
    unsafeBitCast(unsafeBitCast(value, to: SIMD16<UInt32>.self) & lanes, to: SIMD16<Float>.self)
}

/// max(0, v), lane by lane: clears the lanes whose sign bit is set.
@inline(__always)
func rectified(_ value: SIMD16<Float>) -> SIMD16<Float> {
    let bits = unsafeBitCast(value, to: SIMD16<Int32>.self)
    return unsafeBitCast(bits & ~(bits &>> 31), to: SIMD16<Float>.self)
}

/// All-ones lanes where `value` > 0 (for a rectified `value`, which is never negative).
@inline(__always)
func positiveLanes(_ value: SIMD16<Float>) -> SIMD16<UInt32> {
    unsafeBitCast((0 &- unsafeBitCast(value, to: SIMD16<Int32>.self)) &>> 31, to: SIMD16<UInt32>.self)
}

public enum Elementwise {
    /// Σ x[i] for i < count.
    public static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var i = 0
        while i + 32 <= count { a += load(x, i); b += load(x, i + 16); i += 32 }
        var total = (a + b).sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Σ (x[i] − mean)² for i < count.
    public static func squaredDeviations(_ x: UnsafePointer<Float>, _ count: Int, mean: Float) -> Float {
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

    /// y[i] = x[i]·scale + shift, then (if `rectify`) max(0, ·), then (if `dropout`) times the
    /// mask's factor of unit `firstUnit` + i (element-wise) or of the whole row (`unitIsRow`).
    public static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
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

    /// The gradient that reaches a BatchNorm's output through ReLU (and Dropout after it), from
    /// the block's output y and its gradient g: g·k where y > 0, else 0 (a dropped or rectified
    /// unit has y = 0; a kept one was scaled by k = 1/(1 − p), or k = 1 without dropout).
    /// Without `output` the gradient passes unchanged. Returns (Σ g', Σ g'·(x − mean)) over the row.
    public static func gradientSums(_ g: UnsafePointer<Float>, output: UnsafePointer<Float>?, factor: Float,
                                    _ x: UnsafePointer<Float>, mean: Float, _ count: Int) -> (Float, Float) {
        let k = SIMD16<Float>(repeating: factor), m = SIMD16<Float>(repeating: mean)
        var sumG = SIMD16<Float>(), sumGX = SIMD16<Float>()
        var i = 0
        var tailG: Float = 0, tailGX: Float = 0
        if let y = output {
            while i + 16 <= count {
                let gi = select(load(g, i) * k, positiveLanes(load(y, i)))
                sumG += gi; sumGX.addProduct(gi, load(x, i) - m); i += 16
            }
            while i < count { let gi = y[i] > 0 ? g[i] * factor : 0; tailG += gi; tailGX += gi * (x[i] - mean); i += 1 }
        } else {
            while i + 16 <= count {
                let gi = load(g, i)
                sumG += gi; sumGX.addProduct(gi, load(x, i) - m); i += 16
            }
            while i < count { tailG += g[i]; tailGX += g[i] * (x[i] - mean); i += 1 }
        }
        return (sumG.sum() + tailG, sumGX.sum() + tailGX)
    }

    /// BatchNorm's input gradient in training mode, with g' as in `gradientSums`:
    ///   dx = a·g' − b − c·(x − mean), a = γ/√(σ²+ε), b = a·Σg'/M, c = a·Σg'·(x − mean)/(M·(σ²+ε)).
    public static func normalizationInputGradient(_ g: UnsafePointer<Float>, output: UnsafePointer<Float>?, factor: Float,
                                                  _ x: UnsafePointer<Float>, mean: Float, _ dx: UnsafeMutablePointer<Float>,
                                                  _ count: Int, a: Float, b: Float, c: Float) {
        let k = SIMD16<Float>(repeating: factor), m = SIMD16<Float>(repeating: mean)
        let av = SIMD16<Float>(repeating: a), bv = SIMD16<Float>(repeating: b), cv = SIMD16<Float>(repeating: c)
        var i = 0
        if let y = output {
            while i + 16 <= count {
                let gi = select(load(g, i) * k, positiveLanes(load(y, i)))
                store(av * gi - bv - cv * (load(x, i) - m), dx, i); i += 16
            }
            while i < count { let gi = y[i] > 0 ? g[i] * factor : 0; dx[i] = a * gi - b - c * (x[i] - mean); i += 1 }
        } else {
            while i + 16 <= count {
                store(av * load(g, i) - bv - cv * (load(x, i) - m), dx, i); i += 16
            }
            while i < count { dx[i] = a * g[i] - b - c * (x[i] - mean); i += 1 }
        }
    }

    /// dx = a·g' (BatchNorm with fixed statistics), g' as in `gradientSums`.
    public static func scaledGradient(_ g: UnsafePointer<Float>, output: UnsafePointer<Float>?, factor: Float,
                                      _ dx: UnsafeMutablePointer<Float>, _ count: Int, a: Float) {
        let k = SIMD16<Float>(repeating: factor * a)
        var i = 0
        if let y = output {
            while i + 16 <= count { store(select(load(g, i) * k, positiveLanes(load(y, i))), dx, i); i += 16 }
            while i < count { dx[i] = y[i] > 0 ? g[i] * factor * a : 0; i += 1 }
        } else {
            while i + 16 <= count { store(load(g, i) * k, dx, i); i += 16 }
            while i < count { dx[i] = g[i] * factor * a; i += 1 }
        }
    }

    /// y[i] = x[i] · (the mask's factor of unit `firstUnit` + i).
    public static func dropout(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                               mask: DropoutMask, firstUnit: Int) {
        let keptScale = SIMD16<Float>(repeating: mask.scale)
        var i = 0
        while i + 16 <= count {
            store(select(load(x, i) * keptScale, mask.keptLanes(firstUnit + i)), y, i)
            i += 16
        }
        while i < count { y[i] = x[i] * mask.factor(firstUnit + i); i += 1 }
    }
}
