import Kernels

/// A 2-D convolution with stride 1, square kernels and zero padding, as PyTorch's `nn.Conv2d`.
///
/// Shapes: input (N, Cin, H, W) → output (N, Cout, H + 2p − k + 1, W + 2p − k + 1);
/// weight (Cout, Cin, k, k); bias (Cout).
///
/// Forward:   y[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,y+i−p,x+j−p]
/// Backward:  each weight touched every output position, so its gradient sums over them:
///            ∂L/∂w[o,c,i,j] = Σ_{n,y,x} ∂L/∂y[n,o,y,x] · in[n,c,y+i−p,x+j−p],  ∂L/∂b[o] = Σ_{n,y,x} ∂L/∂y[n,o,y,x];
///            each input pixel fed k×k outputs per output channel, so
///            ∂L/∂in[n,c,iy,ix] = Σ_{o,i,j} w[o,c,i,j] · ∂L/∂y[n,o,iy−i+p,ix−j+p]
///            (a "full" convolution of the output gradient with the flipped kernel).
/// The loops live in `Kernels` (`Conv2dKernel`, with the plain `Conv2dReference` beside it).
public final class Conv2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let padding: Int
    public let weight: Parameter
    public let bias: Parameter?

    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var input: Tensor?
    private var kernels: [Plan: Conv2dKernel] = [:]   // one plan per batch size and thread count seen
    private var evaluationKernels: [Plan: WinogradConvolution] = [:]   // the same, for `forwardFolded`
    private struct Plan: Hashable { let batch: Int, threads: Int }

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, padding: Int = 0, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && padding >= 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.padding = padding
        weight = Parameter(shape: [outChannels, inChannels, kernelSize, kernelSize])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    public var description: String {
        var text = "Conv2d(\(inChannels), \(outChannels), kernel_size=\(kernelSize)"
        if padding > 0 { text += ", padding=\(padding)" }
        if bias == nil { text += ", bias=False" }
        return text + ")"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let (_, h, w) = try expectImage(inputShape, channels: inChannels, description)
        let oh = h + 2 * padding - kernelSize + 1, ow = w + 2 * padding - kernelSize + 1
        guard oh > 0 && ow > 0 else {
            throw ModelError("\(description) needs images of at least \(kernelSize - 2 * padding) pixels, got \(h)×\(w)")
        }
        return [outChannels, oh, ow]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (kernelSize, 1) }

    public var spec: LayerSpec? {
        LayerSpec(type: "Conv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                  padding: padding, bias: bias != nil)
    }

    /// PyTorch's default: weights and bias uniform in ±1/√fan_in, fan_in = Cin·k·k.
    public func initialize(using random: inout Random) {
        initializeUniformly([weight] + (bias.map { [$0] } ?? []), fanIn: inChannels * kernelSize * kernelSize, using: &random)
    }

    public func copy() -> Layer {
        let twin = Conv2d(inChannels, outChannels, kernelSize: kernelSize, padding: padding, bias: bias != nil)
        twin.copyValues(from: self)
        return twin
    }

    public func multiplyAdds(for inputShape: [Int]) -> Int {
        guard let out = try? outputShape(for: inputShape) else { return 0 }
        return out.reduce(1, *) * inChannels * kernelSize * kernelSize
    }

    private func shape(for input: Tensor) -> Conv2dShape {
        Conv2dShape(batch: input.batch, inChannels: inChannels, outChannels: outChannels,
                    height: input.shape[2], width: input.shape[3], kernelSize: kernelSize, padding: padding)
    }

    private func kernel(for input: Tensor, threads: Int) -> Conv2dKernel {
        let plan = Plan(batch: input.batch, threads: threads)
        if let kernel = kernels[plan] { return kernel }
        let kernel = Conv2dKernel(shape: shape(for: input), threads: threads)
        kernels[plan] = kernel
        return kernel
    }

    /// Evaluation's plan for larger 3×3 convolutions: Winograd F(2, 3), a third fewer multiply-adds
    /// (see Winograd.swift); nil where the direct kernel is faster.
    private func evaluationKernel(for input: Tensor, threads: Int) -> WinogradConvolution? {
        let plan = Plan(batch: input.batch, threads: threads)
        if let kernel = evaluationKernels[plan] { return kernel }
        let shape = shape(for: input)
        guard WinogradConvolution.suits(shape) else { return nil }
        let kernel = WinogradConvolution(shape: shape, threads: threads)
        evaluationKernels[plan] = kernel
        return kernel
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        let kernel = kernel(for: input, threads: context.threads)
        output.reshape([input.batch, outChannels, kernel.shape.outHeight, kernel.shape.outWidth])
        kernel.forward(input: input.data, weight: weight.value.data, bias: bias?.value.data, output: output.data)
        return output
    }

    /// Evaluation with a BatchNorm (fixed statistics) and a ReLU folded in: per output channel o,
    /// y = max(0, conv(x, w·scale[o]) + bias·scale[o] + shift[o]), written in one pass (see
    /// `ConvBlock`). Returns an output the layer owns, like `forward`; keeps nothing for backward.
    func forwardFolded(_ input: Tensor, scale: [Float], shift: [Float], context: Context) -> Tensor {
        self.input = nil
        let shape = shape(for: input)
        output.reshape([input.batch, outChannels, shape.outHeight, shape.outWidth])
        let foldedBias = (0..<outChannels).map { o in shift[o] + (bias.map { $0.value[o] * scale[o] } ?? 0) }
        let winograd = evaluationKernel(for: input, threads: context.threads)
        scale.withUnsafeBufferPointer { scale in
            foldedBias.withUnsafeBufferPointer { foldedBias in
                if let winograd {
                    winograd.forward(input: input.data, weight: weight.value.data, bias: foldedBias.baseAddress!,
                                     output: output.data, scale: scale.baseAddress!, rectify: true)
                } else {
                    kernel(for: input, threads: context.threads).forward(input: input.data, weight: weight.value.data, bias: foldedBias.baseAddress!,
                                               output: output.data, scale: scale.baseAddress!, rectify: true)
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward without a forward pass that kept its input") }
        let kernel = kernel(for: input, threads: context.threads)
        kernel.backwardWeights(input: input.data, outputGradient: outputGradient.data,
                               weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
        guard needsInputGradient else { return nil }
        inputGradient.reshape(input.shape)
        kernel.backwardData(outputGradient: outputGradient.data, weight: weight.value.data,
                            inputGradient: inputGradient.data)
        return inputGradient
    }
}
