/// A stride-2 convolution with an odd k×k kernel (dilation 1) as a stride-1 one, which
/// `Conv2dKernel` runs at full speed: the padded input's four phases (even or odd rows × even or
/// odd columns) become four times the channels at half the size (space-to-depth), and the
/// kernel's taps are dealt out to the phases, a K×K kernel per phase, K = (k + 1)/2:
///
///   P[n, (2u+v)·C + c, r, s] = xp[n, c, 2r+u, 2s+v]             (xp: the input padded by p, 0 past it)
///   w′[o, (2u+v)·C + c, a, b] = w[o, c, 2a+u, 2b+v]             (0 where 2a+u ≥ k or 2b+v ≥ k)
///   y[n,o,Y,X] = Σ_{c,i,j} w[o,c,i,j] · xp[n,c,2Y+i,2X+j]       (i = 2a+u, j = 2b+v)
///              = Σ_{(u,v,c),a,b} w′[o,(2u+v)·C+c,a,b] · P[n,(2u+v)·C+c,Y+a,X+b]   (stride 1, no padding)
///
/// For odd k the stride-1 output is exactly PyTorch's: ⌈(H + 2p)/2⌉ − K + 1 = ⌊(H + 2p − k)/2⌋ + 1.
/// The price: 4K² multiply-adds per input channel instead of k² (16/9 for 3×3), and one copy of
/// the input. Backward: ∂L/∂w[o,c,i,j] is ∂L/∂w′ at the tap w went to; ∂L/∂x[n,c,y,x] is ∂L/∂P at
/// the phase position of (y + p, x + p) (each pixel sits in exactly one; the padding's are dropped).
public struct SpaceToDepth: Sendable, Equatable {
    public let batch, channels, height, width, kernelSize, padding: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, kernelSize: Int, padding: Int) {
        precondition(Self.suits(kernelSize: kernelSize, stride: 2, dilation: 1) && batch >= 0 && channels > 0 && padding >= 0)
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelSize = kernelSize; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "the kernel does not fit the image")
    }

    /// The convolutions this applies to: stride 2, no dilation, an odd kernel of 3 or more (a 1×1
    /// would leave three phases without a tap: gathered windows suit it better).
    public static func suits(kernelSize: Int, stride: Int, dilation: Int) -> Bool {
        stride == 2 && dilation == 1 && kernelSize >= 3 && kernelSize % 2 == 1
    }

    /// Rows and columns of a phase, the phases' kernel size and channels, the output size.
    public var phaseHeight: Int { (height + 2 * padding + 1) / 2 }
    public var phaseWidth: Int { (width + 2 * padding + 1) / 2 }
    public var phaseKernel: Int { (kernelSize + 1) / 2 }
    public var phaseChannels: Int { 4 * channels }
    public var outHeight: Int { phaseHeight - phaseKernel + 1 }
    public var outWidth: Int { phaseWidth - phaseKernel + 1 }
    /// Floats of the phases for the whole batch.
    public var count: Int { batch * phaseChannels * phaseHeight * phaseWidth }

    /// Fills `phases` (count floats) from `input` (N, C, H, W).
    public func split(_ input: UnsafePointer<Float>, into phases: UnsafeMutablePointer<Float>, threads: Int) {
        let (ph, pw, p) = (phaseHeight, phaseWidth, padding)
        parallelFor(batch, threads: threads) { _, images in
            for n in images {
                for u in 0..<2 {
                    for v in 0..<2 {
                        for c in 0..<channels {
                            let plane = input + (n * channels + c) * height * width
                            let phase = phases + ((n * 4 + 2 * u + v) * channels + c) * ph * pw
                            for r in 0..<ph {
                                let y = 2 * r + u - p, row = phase + r * pw
                                guard y >= 0 && y < height else { row.update(repeating: 0, count: pw); continue }
                                for s in 0..<pw {
                                    let x = 2 * s + v - p
                                    row[s] = x >= 0 && x < width ? plane[y * width + x] : 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Overwrites `inputGradient` (N, C, H, W) with ∂L/∂P at each pixel's phase position.
    public func merge(_ phasesGradient: UnsafePointer<Float>, into inputGradient: UnsafeMutablePointer<Float>, threads: Int) {
        let (ph, pw, p) = (phaseHeight, phaseWidth, padding)
        parallelFor(batch, threads: threads) { _, images in
            for n in images {
                for c in 0..<channels {
                    let plane = inputGradient + (n * channels + c) * height * width
                    for y in 0..<height {
                        let (r, u) = ((y + p) / 2, (y + p) % 2)
                        for x in 0..<width {
                            let (s, v) = ((x + p) / 2, (x + p) % 2)
                            plane[y * width + x] = phasesGradient[(((n * 4 + 2 * u + v) * channels + c) * ph + r) * pw + s]
                        }
                    }
                }
            }
        }
    }

    /// w′ (Cout, 4C, K, K) from w (Cout, C, k, k); every float of `phased` is written.
    public func dealWeights(_ weight: UnsafePointer<Float>, outChannels: Int, into phased: UnsafeMutablePointer<Float>) {
        let (k, kk) = (kernelSize, phaseKernel)
        for o in 0..<outChannels {
            for u in 0..<2 {
                for v in 0..<2 {
                    for c in 0..<channels {
                        let target = phased + ((o * 4 + 2 * u + v) * channels + c) * kk * kk
                        let source = weight + (o * channels + c) * k * k
                        for a in 0..<kk {
                            for b in 0..<kk {
                                let (i, j) = (2 * a + u, 2 * b + v)
                                target[a * kk + b] = i < k && j < k ? source[i * k + j] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds ∂L/∂w′ (Cout, 4C, K, K) at each tap of w into ∂L/∂w (Cout, C, k, k).
    public func addWeightGradient(_ phased: UnsafePointer<Float>, outChannels: Int, into weightGradient: UnsafeMutablePointer<Float>) {
        let (k, kk) = (kernelSize, phaseKernel)
        for o in 0..<outChannels {
            for c in 0..<channels {
                let target = weightGradient + (o * channels + c) * k * k
                for i in 0..<k {
                    for j in 0..<k {
                        let (a, u, b, v) = (i / 2, i % 2, j / 2, j % 2)
                        target[i * k + j] += phased[(((o * 4 + 2 * u + v) * channels + c) * kk + a) * kk + b]
                    }
                }
            }
        }
    }
}
