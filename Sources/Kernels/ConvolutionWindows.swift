/// The windows a convolution with a stride or a dilation reads, gathered so that the convolution
/// becomes a 1×1 one (the layout known as im2col), which `Conv2dKernel` runs at full speed:
///
///   columns[n, (c·k + i)·k + j, y, x] = input[n, c, s·y + d·i − p, s·x + d·j − p]   (0 outside the image)
///   conv(input, w)[n,o,y,x] = Σ_{c,i,j} w[o,c,i,j] · columns[n,(c·k+i)·k+j,y,x]
///                           = a 1×1 convolution of the columns with w read as (Cout, Cin·k·k, 1, 1)
///
/// (the weights' memory is already in that order). Every multiply-add is one the strided,
/// dilated convolution needs; the price is the copy, k²/s² times the input's size.
/// Backward: ∂L/∂w comes from the 1×1 kernel on the columns; ∂L/∂columns from its backward-data,
/// and `scatter` adds each column entry back to the input pixel it was read from (the transpose
/// of `gather`).
public struct ConvolutionWindows: Sendable, Equatable {
    public let batch, channels, height, width: Int
    public let kernelSize, stride, padding, dilation: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int) {
        precondition(batch >= 0 && channels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0)
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding; self.dilation = dilation
        precondition(outHeight > 0 && outWidth > 0, "the windows do not fit the image")
    }

    public var outHeight: Int { (height + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 }
    /// Rows of the column matrix per image: Cin·k·k.
    public var rows: Int { channels * kernelSize * kernelSize }
    /// Floats of the columns for the whole batch.
    public var count: Int { batch * rows * outHeight * outWidth }

    /// The outputs x whose tap at column offset `offset` (= d·j − p) reads inside the image:
    /// 0 ≤ s·x + offset < W.
    private func inside(_ offset: Int, size: Int, outputs: Int) -> Range<Int> {
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = size - 1 - offset < 0 ? -1 : (size - 1 - offset) / stride
        return min(first, outputs)..<min(max(first, last + 1), outputs)
    }

    /// Fills `columns` (count floats) from `input` (N, Cin, H, W), images spread over `threads`.
    public func gather(_ input: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>, threads: Int) {
        let (k, oh, ow) = (kernelSize, outHeight, outWidth)
        parallelFor(batch, threads: threads) { _, images in
            for n in images {
                for c in 0..<channels {
                    let plane = input + (n * channels + c) * height * width
                    for i in 0..<k {
                        for j in 0..<k {
                            let row = columns + ((n * channels + c) * k * k + i * k + j) * oh * ow
                            let xs = inside(dilation * j - padding, size: width, outputs: ow)
                            for y in 0..<oh {
                                let out = row + y * ow
                                let iy = stride * y + dilation * i - padding
                                guard iy >= 0 && iy < height else { out.update(repeating: 0, count: ow); continue }
                                let source = plane + iy * width + dilation * j - padding
                                out.update(repeating: 0, count: xs.lowerBound)
                                for x in xs { out[x] = source[stride * x] }
                                (out + xs.upperBound).update(repeating: 0, count: ow - xs.upperBound)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Overwrites `inputGradient` (N, Cin, H, W) with the sum, for each pixel, of the entries of
    /// `columnsGradient` that were read from it (0 where no window reads).
    public func scatter(_ columnsGradient: UnsafePointer<Float>, into inputGradient: UnsafeMutablePointer<Float>, threads: Int) {
        let (k, oh, ow) = (kernelSize, outHeight, outWidth)
        parallelFor(batch, threads: threads) { _, images in
            for n in images {
                (inputGradient + n * channels * height * width).update(repeating: 0, count: channels * height * width)
                for c in 0..<channels {
                    let plane = inputGradient + (n * channels + c) * height * width
                    for i in 0..<k {
                        for j in 0..<k {
                            let row = columnsGradient + ((n * channels + c) * k * k + i * k + j) * oh * ow
                            let xs = inside(dilation * j - padding, size: width, outputs: ow)
                            for y in 0..<oh {
                                let iy = stride * y + dilation * i - padding
                                guard iy >= 0 && iy < height else { continue }
                                let target = plane + iy * width + dilation * j - padding
                                for x in xs { target[stride * x] += row[y * ow + x] }
                            }
                        }
                    }
                }
            }
        }
    }
}
