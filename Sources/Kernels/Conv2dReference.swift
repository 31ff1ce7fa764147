/// The geometry of one stride-1 2-D convolution over a batch, in PyTorch's layouts:
/// input  (batch, inChannels, height, width),
/// weight (outChannels, inChannels, kernelSize, kernelSize),
/// output (batch, outChannels, outHeight, outWidth), with out = in + 2·padding − kernelSize + 1.
public struct Conv2dShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var inChannels: Int
    public var outChannels: Int
    public var height: Int
    public var width: Int
    public var kernelSize: Int
    public var padding: Int

    public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                kernelSize: Int, padding: Int) {
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels
        self.height = height; self.width = width; self.kernelSize = kernelSize; self.padding = padding
    }

    public var outHeight: Int { height + 2 * padding - kernelSize + 1 }
    public var outWidth: Int { width + 2 * padding - kernelSize + 1 }
    public var inputCount: Int { batch * inChannels * height * width }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var weightCount: Int { outChannels * inChannels * kernelSize * kernelSize }
    /// Multiply-adds of the forward pass for the whole batch.
    public var multiplyAdds: Int { batch * outChannels * outHeight * outWidth * inChannels * kernelSize * kernelSize }

    public var description: String {
        "\(batch)×\(inChannels)×\(height)×\(width) → \(outChannels)×\(outHeight)×\(outWidth), \(kernelSize)×\(kernelSize) pad \(padding)"
    }
}

/// Plain, obviously correct loops for the convolution and its two gradients. They are the
/// specification the fast kernels are tested against, and they are slow: use `Conv2dKernel`.
public enum Conv2dReference {
    /// out[n,o,y,x] = bias[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,y+i−p,x+j−p]   (zero outside the image)
    public static func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                               shape s: Conv2dShape) {
        let k = s.kernelSize, oh = s.outHeight, ow = s.outWidth
        for n in 0..<s.batch {
            for o in 0..<s.outChannels {
                for y in 0..<oh {
                    for x in 0..<ow {
                        var sum: Float = bias?[o] ?? 0
                        for c in 0..<s.inChannels {
                            for i in 0..<k {
                                let iy = y + i - s.padding
                                if iy < 0 || iy >= s.height { continue }
                                for j in 0..<k {
                                    let ix = x + j - s.padding
                                    if ix < 0 || ix >= s.width { continue }
                                    sum += weight[((o * s.inChannels + c) * k + i) * k + j]
                                        * input[((n * s.inChannels + c) * s.height + iy) * s.width + ix]
                                }
                            }
                        }
                        output[((n * s.outChannels + o) * oh + y) * ow + x] = sum
                    }
                }
            }
        }
    }

    /// ∂L/∂in[n,c,iy,ix] = Σ_{o,i,j} w[o,c,i,j] · ∂L/∂out[n,o,iy−i+p,ix−j+p]. Overwrites `inputGradient`.
    public static func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                    inputGradient: UnsafeMutablePointer<Float>, shape s: Conv2dShape) {
        let k = s.kernelSize, oh = s.outHeight, ow = s.outWidth
        inputGradient.update(repeating: 0, count: s.inputCount)
        for n in 0..<s.batch {
            for o in 0..<s.outChannels {
                for y in 0..<oh {
                    for x in 0..<ow {
                        let g = outputGradient[((n * s.outChannels + o) * oh + y) * ow + x]
                        for c in 0..<s.inChannels {
                            for i in 0..<k {
                                let iy = y + i - s.padding
                                if iy < 0 || iy >= s.height { continue }
                                for j in 0..<k {
                                    let ix = x + j - s.padding
                                    if ix < 0 || ix >= s.width { continue }
                                    inputGradient[((n * s.inChannels + c) * s.height + iy) * s.width + ix]
                                        += weight[((o * s.inChannels + c) * k + i) * k + j] * g
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// ∂L/∂w[o,c,i,j] += Σ_{n,y,x} ∂L/∂out[n,o,y,x] · in[n,c,y+i−p,x+j−p];  ∂L/∂bias[o] += Σ_{n,y,x} ∂L/∂out[n,o,y,x].
    /// Adds into the gradients (PyTorch's accumulation), so the caller zeroes them once per step.
    public static func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                       weightGradient: UnsafeMutablePointer<Float>,
                                       biasGradient: UnsafeMutablePointer<Float>?, shape s: Conv2dShape) {
        let k = s.kernelSize, oh = s.outHeight, ow = s.outWidth
        for n in 0..<s.batch {
            for o in 0..<s.outChannels {
                for y in 0..<oh {
                    for x in 0..<ow {
                        let g = outputGradient[((n * s.outChannels + o) * oh + y) * ow + x]
                        biasGradient?[o] += g
                        for c in 0..<s.inChannels {
                            for i in 0..<k {
                                let iy = y + i - s.padding
                                if iy < 0 || iy >= s.height { continue }
                                for j in 0..<k {
                                    let ix = x + j - s.padding
                                    if ix < 0 || ix >= s.width { continue }
                                    weightGradient[((o * s.inChannels + c) * k + i) * k + j]
                                        += g * input[((n * s.inChannels + c) * s.height + iy) * s.width + ix]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
