import Data
import Formats
import FuzzSupport

// IDX files, plain or gzipped, as `Dataset.load` reads them: images and labels.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes(start, count)
    expectOneLineError {
        let file = try IDX.gunzippedIfNeeded(input, source: "fuzz")
        _ = try IDX.images(from: file, source: "fuzz")
    }
    expectOneLineError { _ = try IDX.labels(from: try IDX.gunzippedIfNeeded(input, source: "fuzz"), source: "fuzz") }
    return 0
}

@_cdecl("FuzzIDX_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, seeds: {
        let images = IDX.imagesFile(count: 2, rows: 3, columns: 4, pixels: (0..<24).map(UInt8.init))
        return [images, Zlib.gzip(images), IDX.labelsFile([1, 2, 3]), Zlib.gzip(IDX.labelsFile([9, 0]))]
    }, testOneInput)
}
