import Foundation

/// Which images: the MNIST digits or Zalando's Fashion-MNIST clothes (same format and sizes).
public enum DatasetKind: String, CaseIterable, Sendable {
    case mnist, fashion

    /// Class names, for captions and per-class reports.
    public var classNames: [String] {
        switch self {
        case .mnist: return (0...9).map(String.init)
        case .fashion: return ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
        }
    }

    /// The usual normalisation constants of the training set.
    public var normalization: Normalization {
        switch self {
        case .mnist: return Normalization(mean: 0.1307, std: 0.3081)
        case .fashion: return Normalization(mean: 0.2860, std: 0.3530)
        }
    }

    /// Where Debian's `dataset-fashion-mnist` puts the gzipped IDX files.
    public static let debianFashionDirectory = "/usr/share/datasets/fashion-mnist"
}

public enum Split: String, Sendable { case train, test }

/// A set of grey images kept as bytes (47 MB for MNIST's 60,000 of 28×28), with the class of
/// each. Normalising to Float happens batch by batch, so memory stays small.
public struct Dataset: Sendable {
    public let rows: Int
    public let columns: Int
    public let images: [UInt8]
    public let labels: [Int]
    public var count: Int { labels.count }
    public var imageSize: Int { rows * columns }

    public init(rows: Int, columns: Int, images: [UInt8], labels: [Int]) {
        precondition(images.count == labels.count * rows * columns)
        self.rows = rows; self.columns = columns; self.images = images; self.labels = labels
    }

    /// Reads `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (or `t10k-…` for the test
    /// split), plain or gzipped, from `directory`; the images must be `rows`×`columns` pixels (the
    /// model's input: MNIST's 28×28 for every shipped model).
    public static func load(directory: String, split: Split, rows: Int = 28, columns: Int = 28) throws -> Dataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try requirePath(directory + "/\(prefix)-images-idx3-ubyte")
        let labelsPath = try requirePath(directory + "/\(prefix)-labels-idx1-ubyte")
        let images = try IDX.readImages(at: imagesPath)
        guard images.rows == rows && images.columns == columns else {
            throw DataError("\(imagesPath): images of \(images.rows)×\(images.columns) pixels; the model takes \(rows)×\(columns)")
        }
        let labels = try IDX.readLabels(at: labelsPath)
        guard images.count == labels.count else {
            throw DataError("\(imagesPath): \(images.count) images but \(labelsPath) has \(labels.count) labels")
        }
        guard images.count > 0 else { throw DataError("\(imagesPath): no images") }
        return Dataset(rows: images.rows, columns: images.columns, images: images.pixels, labels: labels.map(Int.init))
    }

    /// The first `n` examples (all if there are fewer).
    public func prefix(_ n: Int) -> Dataset { examples(0..<max(0, min(n, count))) }

    /// The last `n` examples (all if there are fewer).
    public func suffix(_ n: Int) -> Dataset { examples(max(0, count - n)..<count) }

    func examples(_ range: Range<Int>) -> Dataset {
        Dataset(rows: rows, columns: columns, images: Array(images[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                labels: Array(labels[range]))
    }

    /// How many of the last training images `--validation` holds out: recipes are chosen on them,
    /// so that the test set only reports.
    public static let validationCount = 5_000

    /// The training images split for choosing a recipe: the first ones to train on, the last
    /// `validationCount` to evaluate on (all but one image to train on, when there are fewer).
    public func validationSplit() -> (train: Dataset, validation: Dataset) {
        let held = min(Self.validationCount, count - 1)
        return (prefix(count - held), suffix(held))
    }

    /// `path` if it exists, else `path.gz` if that exists, else nil.
    public static func existingPath(_ path: String) -> String? {
        if FileManager.default.fileExists(atPath: path) { return path }
        if FileManager.default.fileExists(atPath: path + ".gz") { return path + ".gz" }
        return nil
    }

    static func requirePath(_ path: String) throws -> String {
        guard let found = existingPath(path) else { throw DataError("\(path): missing (nor is there \(path).gz)") }
        return found
    }

    /// The folder that holds a data set: the user's `directory` if it has the files; for MNIST the
    /// folder is filled by `MNISTFetch` when empty (if `fetchesMissing`); for Fashion-MNIST,
    /// Debian's package folder.
    public static func locate(_ kind: DatasetKind, directory: String?, fetchesMissing: Bool = true,
                              log: (String) -> Void) throws -> String {
        switch kind {
        case .mnist:
            let folder = directory ?? "data/mnist"
            if MNISTFetch.isPresent(in: folder) { return folder }
            guard fetchesMissing else {
                throw DataError("\(folder): MNIST is not there; fetch it with: backprop data fetch --data \(folder) (or pass --data with the folder that holds it)")
            }
            try MNISTFetch.ensure(directory: folder, log: log)
            return folder
        case .fashion:
            for folder in [directory, "data/fashion-mnist", DatasetKind.debianFashionDirectory].compactMap({ $0 })
            where existingPath(folder + "/t10k-labels-idx1-ubyte") != nil {
                return folder
            }
            throw DataError("Fashion-MNIST not found in \(directory ?? "data/fashion-mnist") nor \(DatasetKind.debianFashionDirectory); install it with: apt-get install dataset-fashion-mnist")
        }
    }
}
