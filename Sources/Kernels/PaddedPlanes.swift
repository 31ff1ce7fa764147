/// How a group of images sits in scratch memory so that a convolution becomes contiguous loads.
///
/// Each image is copied with `pad` zeros around it, and the group's images of one channel are
/// stacked one under the other into a tall plane, neighbours sharing the `pad` zero rows between
/// them (if pad ≤ k−1, else an image's outputs would reach into the next one); the planes of all
/// channels follow each other. (A negative `pad` crops instead; such images are not stacked.) With `rowStride` the padded width, the window of output position
/// q = (image g, row y, column x) ↦ q = g·imageSize + y·rowStride + x starts at plane position q,
/// so kernel tap (c, i, j) reads position q + c·planeSize + i·rowStride + j: one offset per tap
/// (`offsets`), and 32 neighbouring outputs read 32 neighbouring floats. Positions whose x or y
/// fall outside the image's outputs (x ≥ outWidth, y ≥ outRows) are computed too and thrown away:
/// the price of contiguity, about (k−1)/rowStride of the work, plus (k−1−pad)/imageRows when stacked.
struct PaddedPlanes {
    let channels: Int
    let sourceHeight: Int
    let sourceWidth: Int
    let pad: Int
    let kernelSize: Int
    let images: Int         // per group
    let rowStride: Int      // sourceWidth + 2·pad
    let imageRows: Int      // rows from one image's first row to the next's: sourceHeight + pad (+ pad)
    let imageSize: Int      // imageRows·rowStride
    let planeSize: Int      // images·imageSize + pad·rowStride (the last image's bottom padding)
    let pixels: Int         // positions computed for a full group: planeSize rounded up to 32
    let count: Int          // floats to allocate: every plane, and slack for the last block's reads
    let offsets: [Int]      // per tap (c, i, j), in that order: c·planeSize + i·rowStride + j

    init(channels: Int, height: Int, width: Int, pad: Int, kernelSize k: Int, images: Int) {
        precondition(pad >= 0 || images == 1, "cropped images are not stacked")
        self.channels = channels
        sourceHeight = height
        sourceWidth = width
        self.pad = pad
        kernelSize = k
        self.images = images
        rowStride = width + 2 * pad
        let shared = pad >= 0 && pad <= k - 1
        imageRows = shared ? height + pad : height + 2 * pad
        imageSize = imageRows * rowStride
        planeSize = images * imageSize + (shared ? pad * rowStride : 0)
        pixels = (planeSize + 31) / 32 * 32
        // The last 32-position block of the last channel reads up to (k−1)·(rowStride+1) past it.
        count = channels * planeSize + (pixels - planeSize) + (k - 1) * (rowStride + 1) + 64
        var offsets: [Int] = []
        for c in 0..<channels {
            for i in 0..<k {
                for j in 0..<k { offsets.append(c * planeSize + i * rowStride + j) }
            }
        }
        self.offsets = offsets
    }

    /// Rows and columns of valid outputs per image ("valid" convolution of the padded image).
    var outRows: Int { sourceHeight + 2 * pad - kernelSize + 1 }
    var outWidth: Int { rowStride - kernelSize + 1 }

    /// Positions to compute for a group of `images` images: up to the last valid output.
    func lastPosition(images: Int) -> Int {
        (images - 1) * imageSize + (outRows - 1) * rowStride + outWidth
    }

    /// Without padding and one image per group, an NCHW image already is this layout: its planes
    /// can be read where they are (`planes(…)`).
    var readsInPlace: Bool { pad == 0 && rowStride == sourceWidth && images == 1 }

    /// Floats read past a plane's start when a group of one image is convolved in 32-position blocks.
    var readExtent: Int { (lastPosition(images: 1) + 31) / 32 * 32 + offsets.last! + 32 }

    /// The planes of the `images` images at `source`: in place when `readsInPlace` and the reads stay
    /// before `sourceEnd`, else copied into `scratch`.
    func planes(_ source: UnsafePointer<Float>, sourceEnd: UnsafePointer<Float>, images: Int,
                scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if readsInPlace && source + readExtent <= sourceEnd { return source }
        fill(scratch, from: source, sourceEnd: sourceEnd, images: images)
        return UnsafePointer(scratch)
    }

    /// Copies `images` images (NCHW, `channels` planes of sourceHeight × sourceWidth each, starting at
    /// `source`) into `planes`, whose padding is already zero and stays so. `sourceEnd` bounds reads.
    /// The slots of a smaller group's missing images are zeroed: the weight gradient reads them
    /// (times zero), so results must not depend on what an earlier group left there.
    func fill(_ planes: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>,
              sourceEnd: UnsafePointer<Float>, images: Int) {
        let before = max(pad, 0), cropped = max(-pad, 0)
        let sourcePlane = sourceHeight * sourceWidth
        let rows = sourceHeight - 2 * cropped, columns = sourceWidth - 2 * cropped
        let planesEnd = planes + count
        for c in 0..<channels {
            for g in 0..<images {
                copyRows(rows, of: columns,
                         from: source + (g * channels + c) * sourcePlane + cropped * sourceWidth + cropped,
                         stride: sourceWidth, readLimit: sourceEnd,
                         to: planes + c * planeSize + g * imageSize + before * rowStride + before,
                         stride: rowStride, writeLimit: planesEnd)
            }
            if images < self.images {
                (planes + c * planeSize + images * imageSize).update(repeating: 0, count: (self.images - images) * imageSize)
            }
        }
    }
}

/// Copies `rows` rows of `count` floats (through max(0, ·) with `rectify`). Whole SIMD16 vectors
/// are moved while they stay below both limits (so a row may be written up to 15 floats past its
/// end: the lanes past `count` are written as zeros, and rows must be copied in increasing address
/// order so that later rows overwrite them); otherwise the row is copied float by float.
@inline(__always)
func copyRows(_ rows: Int, of count: Int,
              from source: UnsafePointer<Float>, stride sourceStride: Int, readLimit: UnsafePointer<Float>,
              to destination: UnsafeMutablePointer<Float>, stride destinationStride: Int,
              writeLimit: UnsafeMutablePointer<Float>, rectify: Bool = false) {
    if rectify {
        copyRows(rows, of: count, from: source, stride: sourceStride, readLimit: readLimit,
                 to: destination, stride: destinationStride, writeLimit: writeLimit, transform: rectified)
    } else {
        copyRows(rows, of: count, from: source, stride: sourceStride, readLimit: readLimit,
                 to: destination, stride: destinationStride, writeLimit: writeLimit, transform: { $0 })
    }
}

@inline(__always)
func copyRows(_ rows: Int, of count: Int,
              from source: UnsafePointer<Float>, stride sourceStride: Int, readLimit: UnsafePointer<Float>,
              to destination: UnsafeMutablePointer<Float>, stride destinationStride: Int,
              writeLimit: UnsafeMutablePointer<Float>, transform: (SIMD16<Float>) -> SIMD16<Float>) {
    guard count > 0 && rows > 0 else { return }
    let vectors = (count + 15) / 16
    let keep = lanesBelow(count - (vectors - 1) * 16)
    for row in 0..<rows {
        let from = source + row * sourceStride, to = destination + row * destinationStride
        if from + vectors * 16 <= readLimit && to + vectors * 16 <= writeLimit {
            let s = UnsafeRawPointer(from), d = UnsafeMutableRawPointer(to)
            for v in 0..<(vectors - 1) {
                d.storeBytes(of: transform(s.loadUnaligned(fromByteOffset: v * 64, as: SIMD16<Float>.self)),
                             toByteOffset: v * 64, as: SIMD16<Float>.self)
            }
            let last = transform(s.loadUnaligned(fromByteOffset: (vectors - 1) * 64, as: SIMD16<Float>.self))
            d.storeBytes(of: unsafeBitCast(unsafeBitCast(last, to: SIMD16<UInt32>.self) & keep, to: SIMD16<Float>.self),
                         toByteOffset: (vectors - 1) * 64, as: SIMD16<Float>.self)
        } else {
            for i in 0..<count {
                var lanes = SIMD16<Float>(repeating: 0)
                lanes[0] = from[i]
                to[i] = transform(lanes)[0]
            }
        }
    }
}

/// All ones in the lanes below `count` (1…16), zeros above: (lane − count) >> 31, computed as
/// integers (comparisons that make a `SIMDMask` compile to a slow lane-by-lane loop here).
@inline(__always)
func lanesBelow(_ count: Int) -> SIMD16<UInt32> {
    let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    return unsafeBitCast((lanes &- Int32(count)) &>> 31, to: SIMD16<UInt32>.self)
}

/// `count` floats, zeroed, 64-byte aligned, with 64 more past the end for SIMD loads that run over.
func zeroedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: (count + 64) * 4, alignment: 64)
    return raw.initializeMemory(as: Float.self, repeating: 0, count: count + 64)
}

