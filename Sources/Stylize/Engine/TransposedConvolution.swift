import CDNNL

/// A stride-1 convolution's forward pass run by another kernel: y = conv(x, W) + b is the input gradient of the
/// convolution that goes the other way (from y's channels to x's) with W's input and output channels swapped and its
/// kernel turned 180°, given x as that convolution's output gradient; the bias is added after.
///
/// Why: oneDNN has no direct kernel for some shapes on some CPUs and falls back to im2col + gemm. The style networks'
/// last layer, 9x9 from 32 channels to 3, is one on AVX2: gemm reaches 7 GFLOP/s there, while the backward-data
/// kernel of the opposite convolution (3 to 32 channels, a first layer's shape) is jit-compiled and 6 times faster.
/// Training runs the backward passes by the opposite convolution too (below), whose gemm kernels are several times
/// faster than the layer's own. `ConvolutionBlock` uses it where oneDNN's own forward kernel for the layer is gemm and
/// this one is not.
final class TransposedConvolution {
    let inputShape: [Int]
    let outputShape: [Int]
    let padding: Int
    let precision: Precision
    /// The layout its input must come in, and the one it writes (oneDNN's choice for the backward-data kernel).
    let sourceLayout: MemoryDescriptor
    let destinationLayout: MemoryDescriptor
    private let primitive: Primitive
    private let weights: Memory
    private let bias: BiasAddition
    /// W's opposite, plain: the opposite convolution's weights for training's backward passes.
    private var oppositeWeights: Tensor

    /// - Parameters: as `Convolution`'s (stride 1, no fused ReLU).
    init(inputShape: [Int], weights: Tensor, bias: Tensor, padding: Int, precision: Precision = .fp32) throws {
        let (kh, kw) = (weights.shape[2], weights.shape[3])
        precondition(kh == kw && kh % 2 == 1 && padding == kh / 2, "a 'same' convolution with an odd square kernel")
        self.inputShape = inputShape
        outputShape = [inputShape[0], weights.shape[0], inputShape[2], inputShape[3]]
        self.padding = padding
        self.precision = precision
        oppositeWeights = Self.opposite(weights)
        let type = precision.dataType, oppositeShape = [weights.shape[1], weights.shape[0], kh, kw]
        let strides = dnnlDims([1, 1]), pad = dnnlDims([padding, padding])
        // The opposite convolution reads what this one writes and writes what it reads. Every layout is left to
        // oneDNN: the forward kernel it would pick for the opposite one (a hint it needs) may be gemm too, in plain
        // layouts that would hold the backward-data kernel to gemm as well.
        var src = MemoryDescriptor.any(outputShape, type), wei = MemoryDescriptor.any(oppositeShape, type)
        var dst = MemoryDescriptor.any(inputShape, type)
        var forward = dnnl_convolution_desc_t(), backward = dnnl_convolution_desc_t()
        try check(dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &src, &wei,
                                                     nil, &dst, strides, pad, pad), "convolution_forward_desc_init")
        let hint = try Primitive(forward, name: "convolution direct \(precision)")
        try check(dnnl_convolution_backward_data_desc_init(&backward, dnnl_convolution_direct, &src, &wei, &dst,
                                                           strides, pad, pad), "convolution_backward_data_desc_init")
        primitive = try Primitive(backward, hint: hint, name: "convolution backward data direct \(precision)")
        sourceLayout = primitive.layout(dnnl_query_diff_dst_md)
        destinationLayout = primitive.layout(dnnl_query_diff_src_md)
        self.weights = try Memory(primitive.layout(dnnl_query_weights_md))
        self.bias = try BiasAddition(layout: destinationLayout, channels: outputShape[1])
        try setParameters(weights: weights, bias: bias)
    }

    /// W [out, in, kh, kw] as the opposite convolution's weights [in, out, kh, kw], each kernel turned 180°.
    static func opposite(_ weights: Tensor) -> Tensor {
        let (outputs, inputs, kh, kw) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        var turned = [Float](repeating: 0, count: weights.scalars.count)
        for o in 0..<outputs {
            for i in 0..<inputs {
                for y in 0..<kh {
                    for x in 0..<kw {
                        turned[((i * outputs + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] =
                            weights.scalars[((o * inputs + i) * kh + y) * kw + x]
                    }
                }
            }
        }
        return Tensor(shape: [inputs, outputs, kh, kw], scalars: turned)
    }

    /// The kernel that runs it, e.g. "jit:avx2".
    var implementation: String { primitive.implementation }

    func setParameters(weights: Tensor, bias: Tensor) throws {
        oppositeWeights = Self.opposite(weights)
        try self.weights.load(plain: oppositeWeights)
        self.bias.setBias(bias)
        if case .success(let backward)? = backward {
            try backward.opposite.setParameters(weights: oppositeWeights, bias: Tensor(zeros: [inputShape[1]]))
        }
    }

    func forward(_ source: Memory, into destination: Memory) {
        primitive.execute([(STYLIZE_ARG_DIFF_DST, source), (STYLIZE_ARG_WEIGHTS, weights), (STYLIZE_ARG_DIFF_SRC, destination)])
        bias(destination)
    }

    // MARK: Training: both backward passes by the opposite convolution's forward and backward-weights kernels
    //
    // With C' the opposite convolution (weights W turned and swapped, no bias), this layer is y = C'ᵀ(x) + b, so
    //   dL/dx = C'(dL/dy)                              (C''s forward pass)
    //   dL/dW = (C''s weight gradient for input dL/dy and output gradient x), turned and swapped back
    //   dL/db = dL/dy summed over the positions.
    // C' has a first layer's shape (3 channels to 32): oneDNN runs it by gemm too, but 5-10 times faster than this
    // layer's own backward kernels (measured on AVX2), in plain layouts; the gradients are reordered to and from them.

    /// C' (in layouts of oneDNN's choosing) and the copies the gradients are moved into for it.
    private struct Backward {
        let opposite: Convolution
        /// dL/dy moved into C''s input layout, when it is another than `destinationLayout`.
        let outputGradient: LayoutChange?
        /// dL/dy as plain float32, for the bias gradient, when C''s input layout is not that already.
        let plainOutputGradient: LayoutChange?
        /// x moved into C''s output layout, when it is another than `sourceLayout`.
        let source: LayoutChange?
        /// C''s output, dL/dx, and its move into `sourceLayout` when that is another layout.
        let inputGradient: Memory
        let inputGradientBack: Reorder?
    }

    private var backward: Result<Backward, Error>?

    private func backwardParts() throws -> Backward {
        if let backward { return try backward.get() }
        let made = Result { () throws -> Backward in
            let opposite = try Convolution(inputShape: outputShape, weights: oppositeWeights, bias: Tensor(zeros: [inputShape[1]]),
                                           padding: padding, fusedReLU: false, precision: precision)
            func move(_ layout: MemoryDescriptor, into target: MemoryDescriptor) throws -> LayoutChange? {
                layout.sameLayout(as: target) ? nil : try LayoutChange(from: layout, into: try Memory(target))
            }
            let inputGradient = try Memory(opposite.destinationLayout), plain = MemoryDescriptor.plain(outputShape)
            return Backward(opposite: opposite,
                            outputGradient: try move(destinationLayout, into: opposite.sourceLayout),
                            plainOutputGradient: try move(opposite.sourceLayout, into: plain),
                            source: try move(sourceLayout, into: opposite.destinationLayout),
                            inputGradient: inputGradient,
                            inputGradientBack: inputGradient.descriptor.sameLayout(as: sourceLayout)
                                ? nil : try Reorder(from: inputGradient.descriptor, to: sourceLayout))
        }
        backward = made
        return try made.get()
    }

    /// dL/dx (in `sourceLayout`) from dL/dy (in `destinationLayout`).
    func backwardData(_ outputGradient: Memory, into inputGradient: Memory) throws {
        let parts = try backwardParts()
        let gradient = parts.outputGradient?(outputGradient) ?? outputGradient
        if let back = parts.inputGradientBack {
            parts.opposite.forward(gradient, into: parts.inputGradient)
            back(parts.inputGradient, into: inputGradient)
        } else {
            parts.opposite.forward(gradient, into: inputGradient)
        }
    }

    /// dL/dW [out, in, kh, kw] and dL/db [out], for the input `source` (in `sourceLayout`) of the last forward pass.
    func backwardWeights(source: Memory, outputGradient: Memory) throws -> (weights: Tensor, bias: Tensor) {
        let parts = try backwardParts()
        let gradient = parts.outputGradient?(outputGradient) ?? outputGradient
        let (oppositeGradient, _) = try parts.opposite.backwardWeights(source: gradient,
                                                                       outputGradient: parts.source?(source) ?? source)
        let plain = (parts.plainOutputGradient?(gradient) ?? gradient).scalars()
        let (images, channels, positions) = (outputShape[0], outputShape[1], outputShape[2] * outputShape[3])
        var bias = [Double](repeating: 0, count: channels)
        for image in 0..<images {
            for c in 0..<channels {
                let start = (image * channels + c) * positions
                bias[c] += plain[start..<start + positions].reduce(0.0) { $0 + Double($1) }
            }
        }
        return (Self.opposite(oppositeGradient), Tensor(shape: [channels], scalars: bias.map { Float($0) }))
    }
}
