/// Batches from images already normalised in memory, in order: for evaluation of small sets and
/// for tests. (Training on MNIST uses `Data`'s loader, which augments and shuffles.)
public final class ArrayBatchSource: BatchSource {
    public let images: [Float]
    public let labels: [Int32]
    public let imageSize: Int
    public let batchSize: Int
    private var position = 0

    public init(images: [Float], labels: [Int32], imageSize: Int = 784, batchSize: Int) {
        precondition(images.count == labels.count * imageSize && batchSize > 0)
        self.images = images
        self.labels = labels
        self.imageSize = imageSize
        self.batchSize = batchSize
    }

    public var exampleCount: Int { labels.count }
    public var batchCount: Int { (labels.count + batchSize - 1) / batchSize }
    public func startEpoch() { position = 0 }

    public func nextBatch() -> (images: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count: Int)? {
        guard position < labels.count else { return nil }
        let count = min(batchSize, labels.count - position)
        defer { position += count }
        // The arrays are immutable and owned by self, so their storage outlives the batch.
        let imagePointer = images.withUnsafeBufferPointer { $0.baseAddress! } + position * imageSize
        let labelPointer = labels.withUnsafeBufferPointer { $0.baseAddress! } + position
        return (imagePointer, labelPointer, count)
    }
}
