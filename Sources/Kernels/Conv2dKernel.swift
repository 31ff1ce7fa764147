/// The fast convolution for one fixed shape: plans its scratch memory once, then runs forward and
/// both gradients without allocating. Same contract as `Conv2dReference`, which the tests compare it
/// with: `forward` and `backwardData` overwrite their outputs; `backwardWeights` adds into the
/// gradients.
///
/// (Placeholder: delegates to the reference loops until the SIMD kernel lands.)
public final class Conv2dKernel {
    public let shape: Conv2dShape

    public init(shape: Conv2dShape) {
        self.shape = shape
    }

    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        Conv2dReference.forward(input: input, weight: weight, bias: bias, output: output, shape: shape)
    }

    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        Conv2dReference.backwardData(outputGradient: outputGradient, weight: weight,
                                     inputGradient: inputGradient, shape: shape)
    }

    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>?) {
        Conv2dReference.backwardWeights(input: input, outputGradient: outputGradient,
                                        weightGradient: weightGradient, biasGradient: biasGradient, shape: shape)
    }
}
