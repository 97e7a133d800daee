import CDNNL

/// A stride-1 convolution's forward pass run by another kernel: y = conv(x, W) + b is the input gradient of the
/// convolution that goes the other way (from y's channels to x's) with W's input and output channels swapped and its
/// kernel turned 180°, given x as that convolution's output gradient; the bias is added after.
///
/// Why: oneDNN has no direct kernel for some shapes on some CPUs and falls back to im2col + gemm. The style networks'
/// last layer, 9x9 from 32 channels to 3, is one on AVX2: gemm reaches 7 GFLOP/s there, while the backward-data
/// kernel of the opposite convolution (3 to 32 channels, a first layer's shape) is jit-compiled and 6 times faster.
/// Forward passes only; `ConvolutionBlock` uses it where oneDNN's own forward kernel for the layer is gemm and this
/// one is not.
final class TransposedConvolution {
    let outputShape: [Int]
    /// The layout its input must come in, and the one it writes (oneDNN's choice for the backward-data kernel).
    let sourceLayout: MemoryDescriptor
    let destinationLayout: MemoryDescriptor
    private let primitive: Primitive
    private let weights: Memory
    private let bias: BiasAddition

    /// - Parameters: as `Convolution`'s (stride 1, no fused ReLU).
    init(inputShape: [Int], weights: Tensor, bias: Tensor, padding: Int, precision: Precision = .fp32) throws {
        let (kh, kw) = (weights.shape[2], weights.shape[3])
        precondition(kh == kw && kh % 2 == 1 && padding == kh / 2, "a 'same' convolution with an odd square kernel")
        outputShape = [inputShape[0], weights.shape[0], inputShape[2], inputShape[3]]
        let type = precision.dataType, oppositeWeights = [weights.shape[1], weights.shape[0], kh, kw]
        let strides = dnnlDims([1, 1]), pad = dnnlDims([padding, padding])
        // The opposite convolution reads what this one writes and writes what it reads. Every layout is left to
        // oneDNN: the forward kernel it would pick for the opposite one (a hint it needs) may be gemm too, in plain
        // layouts that would hold the backward-data kernel to gemm as well.
        var src = MemoryDescriptor.any(outputShape, type), wei = MemoryDescriptor.any(oppositeWeights, type)
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
    private static func opposite(_ weights: Tensor) -> Tensor {
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
        try self.weights.load(plain: Self.opposite(weights))
        self.bias.setBias(bias)
    }

    func forward(_ source: Memory, into destination: Memory) {
        primitive.execute([(STYLIZE_ARG_DIFF_DST, source), (STYLIZE_ARG_WEIGHTS, weights), (STYLIZE_ARG_DIFF_SRC, destination)])
        bias(destination)
    }
}
