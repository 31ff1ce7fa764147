// The memory-bound passes around the convolutions, in SIMD16: the vocabulary of lane operations
// they share (BatchNormKernel.swift uses it too) and dropout, whose mask is drawn from a
// counter-based hash so that it costs a few instructions per 16 units, can be split over threads,
// and need not be stored: the backward pass recomputes it from the same key.
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
