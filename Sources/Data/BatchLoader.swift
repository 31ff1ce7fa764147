import Foundation
import Kernels
import NN

/// Pixel normalisation: x ← (byte/255 − mean)/std, as torchvision's ToTensor then Normalize.
public struct Normalization: Sendable, Equatable {
    public var mean: Float
    public var std: Float
    public init(mean: Float, std: Float) { self.mean = mean; self.std = std }
}

/// Random changes to training images, drawn anew for every image of every epoch.
public struct Augmentation: Sendable, Equatable {
    /// Rotation by an angle uniform in ±degrees about the image centre, bilinear, filled with 0
    /// (torchvision's `RandomRotation(degrees, interpolation=BILINEAR, fill=0)`).
    public var rotationDegrees: Float
    /// Shift by a whole number of pixels uniform in ±fraction·size on each axis (torchvision's
    /// `RandomAffine(0, translate=(f, f))`).
    public var translateFraction: Float
    public init(rotationDegrees: Float = 0, translateFraction: Float = 0) {
        self.rotationDegrees = rotationDegrees; self.translateFraction = translateFraction
    }
    public static let none = Augmentation()
    public var isNone: Bool { rotationDegrees == 0 && translateFraction == 0 }
}

/// Serves a data set in batches: shuffled with a seeded generator each epoch (training) or in
/// order (evaluation), each image augmented and normalised straight into the `Batch` the model
/// reads. Nothing is allocated per batch. The generator is readable and settable, so a checkpoint
/// can resume a run exactly.
public final class BatchLoader {
    public let dataset: Dataset
    public let batchSize: Int
    public let shuffles: Bool
    public let augmentation: Augmentation
    public let normalization: Normalization
    public let threads: Int
    /// The generator behind shuffles and augmentation.
    public var random: Random
    /// The order of the current epoch, and how far into it we are.
    public private(set) var order: [Int32]
    public private(set) var position = 0

    private let batch = Batch()
    private var transforms: [AffineTransform]

    public init(dataset: Dataset, batchSize: Int, shuffles: Bool, augmentation: Augmentation = .none,
                normalization: Normalization, seed: UInt64 = 0, threads: Int = Threads.available) {
        precondition(batchSize > 0)
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffles = shuffles
        self.augmentation = augmentation
        self.normalization = normalization
        self.threads = threads
        self.random = Random(seed: seed)
        order = (0..<Int32(dataset.count)).map { $0 }
        transforms = Array(repeating: .identity, count: batchSize)
    }

    public var exampleCount: Int { dataset.count }
    public var batchCount: Int { (dataset.count + batchSize - 1) / batchSize }

    /// Starts an epoch: a fresh shuffle (when shuffling) from the generator.
    public func startEpoch() {
        order = (0..<Int32(dataset.count)).map { $0 }
        if shuffles { random.shuffle(&order) }
        position = 0
    }

    /// The next batch, or nil when the epoch is over. The same `Batch` is filled again by the next call.
    public func nextBatch() -> Batch? {
        guard position < order.count else { return nil }
        let count = min(batchSize, order.count - position)
        let rows = dataset.rows, columns = dataset.columns, size = dataset.imageSize
        // Draw every random number first, in order, so the batch is the same whatever the threads do.
        for i in 0..<count {
            transforms[i] = augmentation.isNone ? .identity : AffineTransform.random(augmentation, rows: rows, columns: columns, using: &random)
        }
        let scale = 1 / (255 * normalization.std), shift = -normalization.mean / normalization.std
        let start = position
        let out = batch.prepare(count: count, imageShape: [1, rows, columns]) { self.dataset.labels[Int(self.order[start + $0])] }
        dataset.images.withUnsafeBufferPointer { source in
            transforms.withUnsafeBufferPointer { transforms in
                let pixels = source.baseAddress!
                parallelFor(count, threads: threads, minimumPerThread: 16) { _, range in
                    for i in range {
                        let index = Int(self.order[start + i])
                        let image = pixels + index * size
                        let destination = out + i * size
                        if transforms[i].isIdentity {
                            for p in 0..<size { destination[p] = Float(image[p]) * scale + shift }
                        } else {
                            transforms[i].apply(image, rows: rows, columns: columns, to: destination, scale: scale, shift: shift)
                        }
                    }
                }
            }
        }
        position += count
        return batch
    }
}

/// Where each output pixel samples the source image: source = M·(output − centre) + centre + t,
/// with M the inverse rotation, t the inverse translation.
struct AffineTransform {
    var a: Float, b: Float, c: Float, d: Float, tx: Float, ty: Float
    static let identity = AffineTransform(a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0)
    var isIdentity: Bool { a == 1 && b == 0 && c == 0 && d == 1 && tx == 0 && ty == 0 }

    static func random(_ augmentation: Augmentation, rows: Int, columns: Int, using random: inout Random) -> AffineTransform {
        let degrees = augmentation.rotationDegrees
        let angle = degrees > 0 ? random.uniform(-degrees, degrees) * .pi / 180 : 0
        var shiftX: Float = 0, shiftY: Float = 0
        if augmentation.translateFraction > 0 {
            let maxX = augmentation.translateFraction * Float(columns), maxY = augmentation.translateFraction * Float(rows)
            shiftX = random.uniform(-maxX, maxX).rounded()
            shiftY = random.uniform(-maxY, maxY).rounded()
        }
        // Rotating the image by +angle (counter-clockwise on screen, y pointing down) means sampling
        // the source at the point rotated by −angle.
        let cosine = cosf(angle), sine = sinf(angle)
        return AffineTransform(a: cosine, b: -sine, c: sine, d: cosine, tx: -shiftX, ty: -shiftY)
    }

    /// Bilinear resampling of a byte image into normalised Floats; outside the source reads as 0.
    func apply(_ image: UnsafePointer<UInt8>, rows: Int, columns: Int, to out: UnsafeMutablePointer<Float>,
               scale: Float, shift: Float) {
        let cx = Float(columns - 1) / 2, cy = Float(rows - 1) / 2
        func pixel(_ x: Int, _ y: Int) -> Float {
            (x >= 0 && x < columns && y >= 0 && y < rows) ? Float(image[y * columns + x]) : 0
        }
        for y in 0..<rows {
            for x in 0..<columns {
                let dx = Float(x) - cx + tx, dy = Float(y) - cy + ty
                let sx = a * dx + b * dy + cx, sy = c * dx + d * dy + cy
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = sx - Float(x0), fy = sy - Float(y0)
                let top = pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx
                let bottom = pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx
                out[y * columns + x] = (top * (1 - fy) + bottom * fy) * scale + shift
            }
        }
    }
}
