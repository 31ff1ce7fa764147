/// A block of Float32 numbers with a shape, in row-major (PyTorch "contiguous") order.
///
/// Activations are NCHW: (batch, channels, height, width). A tensor owns memory for `capacity`
/// numbers (plus 64 spare floats, so SIMD loops may read a little past the end) and its shape may
/// change within that capacity: a layer plans one tensor for the largest batch and reuses it for
/// every batch, so nothing is allocated on the training path. A tensor can also be a view that
/// shares another tensor's memory under a different shape (Flatten).
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private let owner: Tensor?
    private let ownsMemory: Bool

    /// A zero-filled tensor of `shape`.
    public init(shape: [Int]) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.capacity = count
        self.data = Tensor.allocate(count)
        self.owner = nil
        self.ownsMemory = true
    }

    /// A tensor holding `values` under `shape`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `base`'s memory under another shape with the same number of elements.
    public init(viewing base: Tensor, shape: [Int]) {
        precondition(shape.reduce(1, *) <= base.capacity)
        self.shape = shape
        self.capacity = base.capacity
        self.data = base.data
        self.owner = base
        self.ownsMemory = false
    }

    deinit { if ownsMemory { data.deallocate() } }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: (count + 64) * 4, alignment: 64)
        let pointer = raw.bindMemory(to: Float.self, capacity: count + 64)
        pointer.initialize(repeating: 0, count: count + 64)
        return pointer
    }

    public var count: Int { shape.reduce(1, *) }
    /// The first dimension: the number of examples in a batch.
    public var batch: Int { shape[0] }
    /// Elements per example (everything after the first dimension).
    public var perExample: Int { shape.dropFirst().reduce(1, *) }

    /// Gives the tensor a new shape, growing its memory only if the new shape needs more room.
    public func reshape(_ newShape: [Int]) {
        let needed = newShape.reduce(1, *)
        if needed > capacity {
            precondition(ownsMemory, "a view cannot grow")
            data.deallocate()
            data = Tensor.allocate(needed)
            capacity = needed
        }
        shape = newShape
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public func copy(from values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }
}

/// A trainable tensor and the gradient the backward pass accumulates into it.
public final class Parameter {
    public let value: Tensor
    public let gradient: Tensor
    public init(shape: [Int]) {
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
    }
    public var count: Int { value.count }
}
