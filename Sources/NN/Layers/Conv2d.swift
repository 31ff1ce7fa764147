import Kernels

/// A 2-D convolution with square kernels, zero padding, stride and dilation, as PyTorch's `nn.Conv2d`.
///
/// Shapes: input (N, Cin, H, W) → output (N, Cout, H′, W′), H′ = ⌊(H + 2p − d·(k−1) − 1)/s⌋ + 1
/// (W′ likewise); weight (Cout, Cin, k, k); bias (Cout). Stride s and dilation d default to 1.
///
/// Forward:   y[n,o,y,x] = b[o] + Σ_{c,i,j} w[o,c,i,j] · in[n,c,s·y+d·i−p,s·x+d·j−p]
/// Backward:  each weight touched every output position, so its gradient sums over them:
///            ∂L/∂w[o,c,i,j] = Σ_{n,y,x} ∂L/∂y[n,o,y,x] · in[n,c,s·y+d·i−p,s·x+d·j−p],  ∂L/∂b[o] = Σ_{n,y,x} ∂L/∂y[n,o,y,x];
///            each input pixel fed the outputs whose window covers it, so
///            ∂L/∂in[n,c,iy,ix] = Σ_{o,i,j} w[o,c,i,j] · ∂L/∂y[n,o,(iy−d·i+p)/s,(ix−d·j+p)/s]   (terms whose
///            division is not exact, or lands outside the output, are 0); with s = d = 1, a "full"
///            convolution of the output gradient with the flipped kernel.
/// The loops live in `Kernels` (`Conv2dKernel`, with the plain `Conv2dReference` beside it), which
/// convolve with stride 1 and dilation 1: such convolutions run on them directly. Any other stride
/// or dilation first gathers the windows it reads into columns (`ConvolutionWindows`, im2col):
/// columns[n,(c·k+i)·k+j,y,x] = in[n,c,s·y+d·i−p,s·x+d·j−p], after which the convolution is a 1×1
/// one over Cin·k·k channels, run by the same fast kernel with the same weights:
///   forward:  y = conv1×1(columns, w) + b
///   backward: ∂L/∂w and ∂L/∂b from the 1×1 kernel on the columns; ∂L/∂columns from its
///             backward-data, then each entry added back to the pixel it was read from.
/// No multiply-add is wasted; the columns cost k²/s² times the input's memory.
public final class Conv2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let weight: Parameter
    public let bias: Parameter?

    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var input: Tensor?
    private var kernels: [Plan: Conv2dKernel] = [:]   // one plan per batch size and thread count seen
    private var evaluationKernels: [Plan: WinogradConvolution] = [:]   // the same, for `forwardFolded`
    private struct Plan: Hashable { let batch: Int, threads: Int }

    // Other strides and dilations only (empty for stride 1, dilation 1): the gathered windows of
    // the last forward pass (N, Cin·k·k, H′, W′) and their gradient.
    private let columns = Tensor(shape: [0])
    private let columnsGradient = Tensor(shape: [0])

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0 && dilation > 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        weight = Parameter(shape: [outChannels, inChannels, kernelSize, kernelSize])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    /// Stride 1 and dilation 1: the kernel convolves the input itself, else the gathered windows.
    private var isDirect: Bool { stride == 1 && dilation == 1 }
    /// d·(k−1) + 1: the span of the dilated kernel.
    private var span: Int { dilation * (kernelSize - 1) + 1 }

    public var description: String {
        var text = "Conv2d(\(inChannels), \(outChannels), kernel_size=\(kernelSize)"
        if stride > 1 { text += ", stride=\(stride)" }
        if padding > 0 { text += ", padding=\(padding)" }
        if dilation > 1 { text += ", dilation=\(dilation)" }
        if bias == nil { text += ", bias=False" }
        return text + ")"
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let (_, h, w) = try expectImage(inputShape, channels: inChannels, description)
        guard h + 2 * padding >= span && w + 2 * padding >= span else {
            throw ModelError("\(description) needs images of at least \(span - 2 * padding) pixels, got \(h)×\(w)")
        }
        return [outChannels, (h + 2 * padding - span) / stride + 1, (w + 2 * padding - span) / stride + 1]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (span, stride) }

    public var spec: LayerSpec? {
        LayerSpec(type: "Conv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                  stride: stride, padding: padding, dilation: dilation, bias: bias != nil)
    }

    /// PyTorch's default: weights and bias uniform in ±1/√fan_in, fan_in = Cin·k·k.
    public func initialize(using random: inout Random) {
        initializeUniformly([weight] + (bias.map { [$0] } ?? []), fanIn: inChannels * kernelSize * kernelSize, using: &random)
    }

    public func copy() -> Layer {
        let twin = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                          dilation: dilation, bias: bias != nil)
        twin.copyValues(from: self)
        return twin
    }

    /// Output positions × Cin·k·k.
    public func multiplyAdds(for inputShape: [Int]) -> Int {
        guard let out = try? outputShape(for: inputShape) else { return 0 }
        return out.reduce(1, *) * inChannels * kernelSize * kernelSize
    }

    /// The stride-1 convolution the kernel runs: this one when direct, else the 1×1 one over the
    /// gathered windows.
    private func shape(for input: Tensor) -> Conv2dShape {
        guard !isDirect else {
            return Conv2dShape(batch: input.batch, inChannels: inChannels, outChannels: outChannels,
                               height: input.shape[2], width: input.shape[3], kernelSize: kernelSize, padding: padding)
        }
        let w = windows(for: input)
        return Conv2dShape(batch: input.batch, inChannels: w.rows, outChannels: outChannels,
                           height: w.outHeight, width: w.outWidth, kernelSize: 1, padding: 0)
    }

    private func windows(for input: Tensor) -> ConvolutionWindows {
        ConvolutionWindows(batch: input.batch, channels: inChannels, height: input.shape[2], width: input.shape[3],
                           kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    /// What the kernel convolves: the input itself when direct, else its windows, gathered now.
    private func operand(for input: Tensor, threads: Int) -> Tensor {
        guard !isDirect else { return input }
        let w = windows(for: input)
        columns.reshape([input.batch, w.rows, w.outHeight, w.outWidth])
        w.gather(input.data, into: columns.data, threads: threads)
        return columns
    }

    private func kernel(for input: Tensor, threads: Int) -> Conv2dKernel {
        let plan = Plan(batch: input.batch, threads: threads)
        if let kernel = kernels[plan] { return kernel }
        let kernel = Conv2dKernel(shape: shape(for: input), threads: threads)
        kernels[plan] = kernel
        return kernel
    }

    /// Evaluation's plan for larger 3×3 convolutions: Winograd F(2, 3), a third fewer multiply-adds
    /// (see Winograd.swift); nil where the direct kernel is faster, and for other strides and dilations.
    private func evaluationKernel(for input: Tensor, threads: Int) -> WinogradConvolution? {
        guard isDirect else { return nil }
        let plan = Plan(batch: input.batch, threads: threads)
        if let kernel = evaluationKernels[plan] { return kernel }
        let shape = shape(for: input)
        guard isDirect && WinogradConvolution.suits(shape) else { return nil }
        let kernel = WinogradConvolution(shape: shape, threads: threads)
        evaluationKernels[plan] = kernel
        return kernel
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        let kernel = kernel(for: input, threads: context.threads)
        output.reshape([input.batch, outChannels, kernel.shape.outHeight, kernel.shape.outWidth])
        kernel.forward(input: operand(for: input, threads: context.threads).data, weight: weight.value.data,
                       bias: bias?.value.data, output: output.data)
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
        let source = operand(for: input, threads: context.threads)
        scale.withUnsafeBufferPointer { scale in
            foldedBias.withUnsafeBufferPointer { foldedBias in
                if let winograd {
                    winograd.forward(input: source.data, weight: weight.value.data, bias: foldedBias.baseAddress!,
                                     output: output.data, scale: scale.baseAddress!, rectify: true)
                } else {
                    kernel(for: input, threads: context.threads).forward(input: source.data, weight: weight.value.data, bias: foldedBias.baseAddress!,
                                               output: output.data, scale: scale.baseAddress!, rectify: true)
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward without a forward pass that kept its input") }
        let kernel = kernel(for: input, threads: context.threads)
        kernel.backwardWeights(input: (isDirect ? input : columns).data, outputGradient: outputGradient.data,
                               weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
        guard needsInputGradient else { return nil }
        inputGradient.reshape(input.shape)
        guard !isDirect else {
            kernel.backwardData(outputGradient: outputGradient.data, weight: weight.value.data, inputGradient: inputGradient.data)
            return inputGradient
        }
        columnsGradient.reshape(columns.shape)
        kernel.backwardData(outputGradient: outputGradient.data, weight: weight.value.data, inputGradient: columnsGradient.data)
        windows(for: input).scatter(columnsGradient.data, into: inputGradient.data, threads: context.threads)
        return inputGradient
    }
}
