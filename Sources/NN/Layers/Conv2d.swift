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
/// convolve with stride 1 and dilation 1. Stride 1, dilation 1 runs on them directly. Any other
/// stride or dilation goes through the same kernel, exactly:
///   - the expanded kernel, of size kₑ = d·(k−1) + 1: wₑ[o,c,d·i,d·j] = w[o,c,i,j], 0 at the other taps
///     (refreshed from w at every forward);
///   - forward: the stride-1 convolution with wₑ, full[n,o,y,x] for y < H + 2p − kₑ + 1, then
///     y[n,o,y,x] = full[n,o,s·y,s·x] (every s-th row and column, from 0);
///   - backward: ∂L/∂full is ∂L/∂y at the kept positions [s·y, s·x] and 0 elsewhere; the stride-1
///     backward with wₑ gives ∂L/∂in and ∂L/∂b directly, and ∂L/∂wₑ, whose taps [d·i, d·j] are ∂L/∂w.
///   Stride 2 thus computes the whole stride-1 map and keeps a quarter of it: 4× the multiply-adds
///   of a native strided kernel (s² in general; dilation adds the zero taps, (kₑ/k)² more). An
///   honest trade: the fast kernel, unchanged, and exact results.
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

    // Other strides and dilations only (empty for stride 1, dilation 1): the expanded kernel wₑ
    // and its gradient (Cout, Cin, kₑ, kₑ), the stride-1 output and its gradient.
    private let expandedWeight = Tensor(shape: [0])
    private let expandedWeightGradient = Tensor(shape: [0])
    private let fullOutput = Tensor(shape: [0])
    private let fullOutputGradient = Tensor(shape: [0])

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
        if !isDirect {
            let expandedShape = [outChannels, inChannels, expandedSize, expandedSize]
            expandedWeight.reshape(expandedShape)   // zeros, which stay between the taps for good
            expandedWeightGradient.reshape(expandedShape)
        }
    }

    /// Stride 1 and dilation 1: the kernel convolves with the weights and writes the output itself.
    private var isDirect: Bool { stride == 1 && dilation == 1 }
    /// kₑ = d·(k−1) + 1: the span of the dilated kernel, the size of the kernel the stride-1 pass runs.
    private var expandedSize: Int { dilation * (kernelSize - 1) + 1 }

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
        let span = expandedSize
        guard h + 2 * padding >= span && w + 2 * padding >= span else {
            throw ModelError("\(description) needs images of at least \(span - 2 * padding) pixels, got \(h)×\(w)")
        }
        return [outChannels, (h + 2 * padding - span) / stride + 1, (w + 2 * padding - span) / stride + 1]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func spatialWindow(for inputShape: [Int]) -> (kernel: Int, stride: Int)? { (expandedSize, stride) }

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

    /// The true multiply-adds of the strided, dilated convolution (output positions × Cin·k·k), not
    /// the larger count the expanded stride-1 pass performs.
    public func multiplyAdds(for inputShape: [Int]) -> Int {
        guard let out = try? outputShape(for: inputShape) else { return 0 }
        return out.reduce(1, *) * inChannels * kernelSize * kernelSize
    }

    /// The stride-1 convolution the kernels run: with the expanded kernel (kₑ = k when direct).
    private func shape(for input: Tensor) -> Conv2dShape {
        Conv2dShape(batch: input.batch, inChannels: inChannels, outChannels: outChannels,
                    height: input.shape[2], width: input.shape[3], kernelSize: expandedSize, padding: padding)
    }

    /// The layer's output shape for a batch whose stride-1 pass has `shape`: every s-th row and column.
    private func batchOutputShape(of shape: Conv2dShape) -> [Int] {
        [shape.batch, outChannels, (shape.outHeight - 1) / stride + 1, (shape.outWidth - 1) / stride + 1]
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
        guard WinogradConvolution.suits(shape) else { return nil }
        let kernel = WinogradConvolution(shape: shape, threads: threads)
        evaluationKernels[plan] = kernel
        return kernel
    }

    public func forward(_ input: Tensor, context: Context) -> Tensor {
        self.input = input
        let kernel = kernel(for: input, threads: context.threads)
        output.reshape(batchOutputShape(of: kernel.shape))
        let (weights, destination) = stride1Operands(for: kernel.shape)
        kernel.forward(input: input.data, weight: weights.data, bias: bias?.value.data, output: destination.data)
        if !isDirect { keepStridedPositions() }
        return output
    }

    /// Evaluation with a BatchNorm (fixed statistics) and a ReLU folded in: per output channel o,
    /// y = max(0, conv(x, w·scale[o]) + bias·scale[o] + shift[o]), written in one pass (see
    /// `ConvBlock`). Returns an output the layer owns, like `forward`; keeps nothing for backward.
    /// (The ReLU commutes with keeping every s-th position, so the expanded pass rectifies too.)
    func forwardFolded(_ input: Tensor, scale: [Float], shift: [Float], context: Context) -> Tensor {
        self.input = nil
        let shape = shape(for: input)
        output.reshape(batchOutputShape(of: shape))
        let foldedBias = (0..<outChannels).map { o in shift[o] + (bias.map { $0.value[o] * scale[o] } ?? 0) }
        let winograd = evaluationKernel(for: input, threads: context.threads)
        let (weights, destination) = stride1Operands(for: shape)
        scale.withUnsafeBufferPointer { scale in
            foldedBias.withUnsafeBufferPointer { foldedBias in
                if let winograd {
                    winograd.forward(input: input.data, weight: weights.data, bias: foldedBias.baseAddress!,
                                     output: destination.data, scale: scale.baseAddress!, rectify: true)
                } else {
                    kernel(for: input, threads: context.threads).forward(input: input.data, weight: weights.data, bias: foldedBias.baseAddress!,
                                               output: destination.data, scale: scale.baseAddress!, rectify: true)
                }
            }
        }
        if !isDirect { keepStridedPositions() }
        return output
    }

    public func backward(_ outputGradient: Tensor, context: Context, needsInputGradient: Bool) -> Tensor? {
        guard let input else { preconditionFailure("backward without a forward pass that kept its input") }
        let kernel = kernel(for: input, threads: context.threads)
        // ∂L/∂y itself when direct, else ∂L/∂full: ∂L/∂y spread to the kept positions.
        let gradient = isDirect ? outputGradient : spreadStridedGradient(outputGradient, over: kernel.shape)
        if isDirect {
            kernel.backwardWeights(input: input.data, outputGradient: gradient.data,
                                   weightGradient: weight.gradient.data, biasGradient: bias?.gradient.data)
        } else {
            expandedWeightGradient.fill(0)
            kernel.backwardWeights(input: input.data, outputGradient: gradient.data,
                                   weightGradient: expandedWeightGradient.data, biasGradient: bias?.gradient.data)
            addExpandedWeightGradient()
        }
        guard needsInputGradient else { return nil }
        inputGradient.reshape(input.shape)
        kernel.backwardData(outputGradient: gradient.data, weight: (isDirect ? weight.value : expandedWeight).data,
                            inputGradient: inputGradient.data)
        return inputGradient
    }

    // MARK: The expanded kernel and the strided positions (other strides and dilations)

    /// What the stride-1 pass of `shape` reads and writes: w and the output itself when direct;
    /// else wₑ, refreshed from w, and the full stride-1 map (every s-th position of which is kept).
    private func stride1Operands(for shape: Conv2dShape) -> (weights: Tensor, output: Tensor) {
        guard !isDirect else { return (weight.value, output) }
        expandWeight()
        fullOutput.reshape([shape.batch, outChannels, shape.outHeight, shape.outWidth])
        return (expandedWeight, fullOutput)
    }

    /// wₑ[o,c,d·i,d·j] = w[o,c,i,j]; the taps between stay 0.
    private func expandWeight() {
        let k = kernelSize, span = expandedSize, d = dilation
        let w = weight.value.data, expanded = expandedWeight.data
        for plane in 0..<(outChannels * inChannels) {
            for i in 0..<k {
                for j in 0..<k { expanded[(plane * span + d * i) * span + d * j] = w[(plane * k + i) * k + j] }
            }
        }
    }

    /// ∂L/∂w[o,c,i,j] += ∂L/∂wₑ[o,c,d·i,d·j].
    private func addExpandedWeightGradient() {
        let k = kernelSize, span = expandedSize, d = dilation
        let expanded = expandedWeightGradient.data, w = weight.gradient.data
        for plane in 0..<(outChannels * inChannels) {
            for i in 0..<k {
                for j in 0..<k { w[(plane * k + i) * k + j] += expanded[(plane * span + d * i) * span + d * j] }
            }
        }
    }

    /// output[n,o,y,x] = full[n,o,s·y,s·x].
    private func keepStridedPositions() {
        let (oh, ow) = (output.shape[2], output.shape[3])
        let (fh, fw) = (fullOutput.shape[2], fullOutput.shape[3])
        for plane in 0..<(output.shape[0] * outChannels) {
            let full = fullOutput.data + plane * fh * fw, strided = output.data + plane * oh * ow
            for y in 0..<oh {
                for x in 0..<ow { strided[y * ow + x] = full[stride * y * fw + stride * x] }
            }
        }
    }

    /// ∂L/∂full[n,o,s·y,s·x] = ∂L/∂y[n,o,y,x], 0 at the positions the forward pass dropped, for a
    /// stride-1 pass of `shape`; returns ∂L/∂full.
    private func spreadStridedGradient(_ outputGradient: Tensor, over shape: Conv2dShape) -> Tensor {
        let (oh, ow) = (outputGradient.shape[2], outputGradient.shape[3])
        let (fh, fw) = (shape.outHeight, shape.outWidth)
        fullOutputGradient.reshape([shape.batch, outChannels, fh, fw])
        fullOutputGradient.fill(0)
        for plane in 0..<(shape.batch * outChannels) {
            let full = fullOutputGradient.data + plane * fh * fw, strided = outputGradient.data + plane * oh * ow
            for y in 0..<oh {
                for x in 0..<ow { full[stride * y * fw + stride * x] = strided[y * ow + x] }
            }
        }
        return fullOutputGradient
    }
}
