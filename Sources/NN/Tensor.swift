/// A block of Float32 numbers with a shape, in row-major (PyTorch "contiguous") order.
///
/// Activations are NCHW: (batch, channels, height, width). A tensor owns memory for `capacity`
/// numbers (plus 64 spare floats, so SIMD loops may read a little past the end) and its shape may
/// change within that capacity: a layer plans one tensor for the largest batch and reuses it for
/// every batch, so nothing is allocated on the training path. A tensor can also be a view that
/// shares part of another tensor's memory under a shape of its own (Flatten; the evaluator's
/// sub-batches). A shape of [] is a scalar: one number.
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private let owner: Tensor?

    /// A zero-filled tensor of `shape`.
    public init(shape: [Int]) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.capacity = count
        self.data = Tensor.allocate(count)
        self.owner = nil
    }

    /// A tensor holding `values` under `shape`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `base`'s memory from float `offset` on, under a shape that fits in what is left.
    public init(viewing base: Tensor, offset: Int = 0, shape: [Int]) {
        precondition(offset >= 0 && offset + shape.reduce(1, *) <= base.capacity, "a view must lie inside its tensor")
        self.shape = shape
        self.capacity = base.capacity - offset
        self.data = base.data + offset
        self.owner = base
    }

    deinit { if owner == nil { data.deallocate() } }

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
            precondition(owner == nil, "a view cannot grow")
            data.deallocate()
            data = Tensor.allocate(needed)
            capacity = needed
        }
        shape = newShape
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Overwrites the values with `values`, which must be as many.
    public func copy(from values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// Overwrites the values with another tensor's of the same size.
    public func copy(from other: Tensor) {
        precondition(other.count == count)
        data.update(from: other.data, count: count)
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

/// Non-trainable state a checkpoint keeps, such as BatchNorm's running statistics; `isInteger`
/// for counts that PyTorch stores as int64 (`num_batches_tracked`).
public struct Buffer {
    public let tensor: Tensor
    public let isInteger: Bool
    public init(_ tensor: Tensor, isInteger: Bool = false) {
        self.tensor = tensor
        self.isInteger = isInteger
    }
}

/// A batch of examples as a model takes them: images (N, C, H, W), already normalised, and the
/// class of each. The data loader writes into one `Batch` and hands it out again and again; the
/// model reads `images` directly.
public final class Batch {
    public let images: Tensor
    public private(set) var labels: [Int]

    public init() {
        images = Tensor(shape: [0])
        labels = []
    }

    public var count: Int { labels.count }

    /// Makes room for `count` examples of `imageShape`, labels example i with `label(i)`, and
    /// returns where to write their pixels. Allocates nothing once the batch has held as many.
    public func prepare(count: Int, imageShape: [Int], label: (Int) -> Int) -> UnsafeMutablePointer<Float> {
        images.reshape([count] + imageShape)
        labels.removeAll(keepingCapacity: true)
        for i in 0..<count { labels.append(label(i)) }
        return images.data
    }
}
