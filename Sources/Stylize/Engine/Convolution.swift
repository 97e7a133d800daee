import CDNNL
import Foundation

/// Which convolution algorithm oneDNN runs. Winograd (F(4x4, 3x3)) trades a little precision (about 1e-4
/// relative) for far fewer multiplications on 3x3 stride-1 layers; `auto` measures both once per layer shape
/// and keeps the faster (`Convolution.make`).
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    case direct, winograd, auto

    var dnnl: dnnl_alg_kind_t {
        switch self {
        case .direct: dnnl_convolution_direct
        case .winograd: dnnl_convolution_winograd
        case .auto: preconditionFailure("auto is resolved by measuring, in Convolution.make")
        }
    }
}

/// A 2-D convolution with bias, optionally followed by a fused ReLU, for inputs of one fixed shape
/// [N, C, H, W]. Its forward pass, its backward pass to the input and its backward pass to the weights sit
/// side by side; the primitives are compiled once, when the object is made (backward ones on first use).
final class Convolution {
    let inputShape: [Int]
    let outputShape: [Int]
    let weightsShape: [Int]
    let stride: Int
    let padding: Int
    /// How far apart the kernel's taps fall in the input: 1 for a plain convolution, 3 for `ShiftedConvolution`'s.
    let dilation: Int
    let fusedReLU: Bool
    let algorithm: ConvolutionAlgorithm
    /// fp32 or bf16: the format of the input, the weights and the output (the bias and the weights' gradients
    /// stay float32).
    let precision: Precision

    private let forwardPrimitive: Primitive
    /// Layouts the forward primitive chose; activations stay in them between layers.
    let sourceLayout: MemoryDescriptor
    let destinationLayout: MemoryDescriptor
    private let weightsLayout: MemoryDescriptor
    private let weights: Memory
    private let bias: Memory

    /// - Parameters:
    ///   - sourceLayout: the layout of the previous layer's output (in `precision`'s format), or nil to let oneDNN
    ///     choose.
    ///   - destinationLayout: the layout to write (in `precision`'s format), or nil to let oneDNN choose.
    init(inputShape: [Int], weights: Tensor, bias: Tensor, stride: Int = 1, padding: Int, dilation: Int = 1,
         fusedReLU: Bool, algorithm: ConvolutionAlgorithm = .direct, precision: Precision = .fp32,
         sourceLayout: MemoryDescriptor? = nil, destinationLayout: MemoryDescriptor? = nil) throws {
        precondition(precision == .fp32 || algorithm == .direct, "oneDNN's Winograd convolution is float32 only")
        precondition(inputShape.count == 4 && weights.shape.count == 4 && weights.shape[1] == inputShape[1],
                     "convolution of \(inputShape) with weights \(weights.shape)")
        let (n, h, w) = (inputShape[0], inputShape[2], inputShape[3])
        let (out, kernel) = (weights.shape[0], weights.shape[2])
        let reach = (kernel - 1) * dilation + 1
        let outH = (h + 2 * padding - reach) / stride + 1
        let outW = (w + 2 * padding - reach) / stride + 1
        self.inputShape = inputShape
        self.outputShape = [n, out, outH, outW]
        self.weightsShape = weights.shape
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.fusedReLU = fusedReLU
        self.algorithm = algorithm
        self.precision = precision
        let type = precision.dataType

        var src = sourceLayout ?? .any(inputShape, type)
        precondition(src.data_type == type, "a \(precision) convolution given another format's input")
        var wei = MemoryDescriptor.any(weights.shape, type)
        var bia = MemoryDescriptor.plain([out])
        var dst = destinationLayout ?? .any(outputShape, type)
        precondition(dst.data_type == type, "a \(precision) convolution asked to write another format")
        let strides = dnnlDims([stride, stride]), pad = dnnlDims([padding, padding])
        let dilations = dnnlDims([dilation - 1, dilation - 1])
        var desc = dnnl_convolution_desc_t()
        try check(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_training, algorithm.dnnl, &src, &wei, &bia,
                                                             &dst, strides, dilations, pad, pad), "convolution_forward_desc_init")
        let attributes = try makeAttributes { postOps in
            if fusedReLU { try check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "append_eltwise") }
        }
        defer { dnnl_primitive_attr_destroy(attributes) }
        forwardPrimitive = try Primitive(desc, attributes: attributes, name: "convolution \(algorithm) \(precision)")
        self.sourceLayout = forwardPrimitive.layout(dnnl_query_src_md)
        self.destinationLayout = forwardPrimitive.layout(dnnl_query_dst_md)
        weightsLayout = forwardPrimitive.layout(dnnl_query_weights_md)
        self.weights = try Memory(weightsLayout)
        self.bias = try Memory(.plain([out]))
        try setParameters(weights: weights, bias: bias)
    }

    /// The kernels oneDNN picked for the forward and backward-data passes, e.g. "jit:avx512_core".
    var implementation: String {
        let backward = (try? backwardDataImplementation()) ?? "unavailable"
        return "\(forwardImplementation) / backward \(backward)"
    }

    var forwardImplementation: String { forwardPrimitive.implementation }

    func backwardDataImplementation() throws -> String { try backwardData.get().primitive.implementation }

    /// Replaces the weights and bias (plain [out, in, kh, kw] and [out]), e.g. after an optimiser step.
    func setParameters(weights: Tensor, bias: Tensor) throws {
        precondition(weights.shape == weightsShape && bias.shape == [weightsShape[0]])
        try self.weights.load(plain: weights)
        self.bias.load(bias.scalars)
        backwardWeightsAreStale = true
    }

    func makeOutput() throws -> Memory { try Memory(destinationLayout) }

    /// The geometry in oneDNN's terms, whose dilation counts the gaps between taps (0 for none).
    private var strides: [Int64] { dnnlDims([stride, stride]) }
    private var pad: [Int64] { dnnlDims([padding, padding]) }
    private var dilations: [Int64] { dnnlDims([dilation - 1, dilation - 1]) }

    // MARK: Forward: dst = [relu](conv(src, W) + b)

    /// - Parameter scratchpad: at least `scratchpadLayouts.forward`'s size; the shared `Scratchpad` if nil.
    func forward(_ source: Memory, into destination: Memory, scratchpad: Memory? = nil) {
        forwardPrimitive.execute([(STYLIZE_ARG_SRC, source), (STYLIZE_ARG_WEIGHTS, weights),
                                  (STYLIZE_ARG_BIAS, bias), (STYLIZE_ARG_DST, destination)], scratchpad: scratchpad)
    }

    /// The work space the forward and backward-data kernels need while they run: none for direct convolution;
    /// Winograd's transformed tiles, several times the layer's activations, for Winograd.
    func scratchpadLayouts() throws -> (forward: MemoryDescriptor, backwardData: MemoryDescriptor) {
        (forwardPrimitive.scratchpadLayout, try backwardData.get().primitive.scratchpadLayout)
    }

    // MARK: Backward to the input: dL/dsrc = conv_transpose(dL/d(conv output), W)
    // A fused ReLU's own backward is `ReLU.backward`, applied to the gradient before this.

    /// The backward kernel may want the weights in another blocked order than the forward one (input and output
    /// channel blocks swapped); it then works on a reordered copy, refreshed after `setParameters`, or reordered
    /// afresh each pass into a buffer that all layers share (`shareBackwardWeights`), which saves a whole copy of
    /// the network's weights for one reorder per pass.
    private lazy var backwardData: Result<(primitive: Primitive, reorder: Reorder?), Error> = Result {
        func make(inputGradientLayout: MemoryDescriptor) throws -> Primitive {
            var diffSrc = inputGradientLayout, wei = MemoryDescriptor.any(weightsShape, precision.dataType)
            var diffDst = destinationLayout
            var desc = dnnl_convolution_desc_t()
            try check(dnnl_dilated_convolution_backward_data_desc_init(&desc, algorithm.dnnl, &diffSrc, &wei, &diffDst,
                                                                       strides, dilations, pad, pad),
                      "convolution_backward_data_desc_init")
            return try Primitive(desc, hint: forwardPrimitive, name: "convolution backward data \(algorithm)")
        }
        // The input gradient in the input's own layout keeps the layers below free of reorders; but when only a
        // slow reference kernel takes that layout (a 3-channel image in plain layout), oneDNN may choose.
        var primitive = try make(inputGradientLayout: sourceLayout)
        if primitive.implementation.hasPrefix("ref") {
            primitive = try make(inputGradientLayout: .any(inputShape, precision.dataType))
        }
        let layout = primitive.layout(dnnl_query_weights_md)
        return (primitive, layout.sameLayout(as: weightsLayout) ? nil : try Reorder(from: weightsLayout, to: layout))
    }
    private var backwardWeights: Memory?
    private var backwardWeightsAreStale = true
    private var backwardWeightsAreShared = false

    /// The layout `backwardData` writes the input gradient in.
    func inputGradientLayout() throws -> MemoryDescriptor {
        try backwardData.get().primitive.layout(dnnl_query_diff_src_md)
    }

    /// Bytes of the backward pass's own copy of the weights; 0 when it reads the forward weights.
    func backwardWeightsByteCount() throws -> Int {
        let (primitive, reorder) = try backwardData.get()
        return reorder == nil ? 0 : primitive.layout(dnnl_query_weights_md).byteCount
    }

    /// Keeps the backward weights in `buffer` (at least `backwardWeightsByteCount()` bytes), reordered each pass.
    func shareBackwardWeights(_ buffer: Buffer) throws {
        let (primitive, reorder) = try backwardData.get()
        guard reorder != nil else { return }
        backwardWeights = try Memory(primitive.layout(dnnl_query_weights_md), in: buffer)
        backwardWeightsAreShared = true
    }

    func backwardData(_ outputGradient: Memory, into inputGradient: Memory, scratchpad: Memory? = nil) throws {
        let (primitive, reorder) = try backwardData.get()
        var weightsForBackward = weights
        if let reorder {
            if backwardWeights == nil { backwardWeights = try Memory(primitive.layout(dnnl_query_weights_md)) }
            if backwardWeightsAreStale || backwardWeightsAreShared { reorder(weights, into: backwardWeights!) }
            backwardWeightsAreStale = false
            weightsForBackward = backwardWeights!
        }
        primitive.execute([(STYLIZE_ARG_DIFF_DST, outputGradient), (STYLIZE_ARG_WEIGHTS, weightsForBackward),
                           (STYLIZE_ARG_DIFF_SRC, inputGradient)], scratchpad: scratchpad)
    }

    // MARK: Backward to the parameters: dL/dW = sum over positions of src x dL/d(conv output), dL/db = sum of it

    private lazy var backwardWeightsPrimitive: Result<(Primitive, Reorder), Error> = Result {
        var src = sourceLayout, diffDst = destinationLayout
        // float32 weight gradients from bf16 activations: they are summed over every position and go to Adam.
        var diffWeights = MemoryDescriptor.any(weightsShape), diffBias = MemoryDescriptor.plain([weightsShape[0]])
        var desc = dnnl_convolution_desc_t()
        // Winograd's backward-weights kernels are not built for every shape; direct is always there.
        try check(dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &diffWeights,
                                                                      &diffBias, &diffDst, strides, dilations, pad, pad),
                  "convolution_backward_weights_desc_init")
        let primitive = try Primitive(desc, hint: forwardPrimitive, name: "convolution backward weights")
        let toPlain = try Reorder(from: primitive.layout(dnnl_query_diff_weights_md), to: .plain(weightsShape))
        return (primitive, toPlain)
    }

    /// Gradients of the loss with respect to the weights [out, in, kh, kw] and the bias [out].
    func backwardWeights(source: Memory, outputGradient: Memory) throws -> (weights: Tensor, bias: Tensor) {
        let (primitive, toPlain) = try backwardWeightsPrimitive.get()
        let diffWeights = try Memory(primitive.layout(dnnl_query_diff_weights_md))
        let diffBias = try Memory(.plain([weightsShape[0]]))
        primitive.execute([(STYLIZE_ARG_SRC, source), (STYLIZE_ARG_DIFF_DST, outputGradient),
                           (STYLIZE_ARG_DIFF_WEIGHTS, diffWeights), (STYLIZE_ARG_DIFF_BIAS, diffBias)])
        let plain = try Memory(.plain(weightsShape))
        toPlain(diffWeights, into: plain)
        return (Tensor(shape: weightsShape, scalars: plain.scalars()),
                Tensor(shape: [weightsShape[0]], scalars: diffBias.scalars()))
    }
}

extension Convolution {
    /// Whether oneDNN builds `algorithm` in `precision` on this CPU, asked with a small 3x3 layer: its bf16 and
    /// Winograd kernels need AVX-512. The `auto` settings never pick a missing kernel; tests of them check first.
    static func isAvailable(_ algorithm: ConvolutionAlgorithm, in precision: Precision) -> Bool {
        let convolution = try? Convolution(inputShape: [1, 16, 8, 8], weights: Tensor(zeros: [16, 16, 3, 3]),
                                           bias: Tensor(zeros: [16]), padding: 1, fusedReLU: false,
                                           algorithm: algorithm, precision: precision)
        return convolution != nil
    }

    /// A convolution in the given precision and algorithm. For float32, `.auto` picks direct or Winograd by their
    /// measured times (`MeasuredKernels`): Winograd only where it is clearly faster (by 10%: its transformed weights
    /// take four times the memory). bf16 is always direct: oneDNN has no bf16 Winograd on CPUs.
    static func make(inputShape: [Int], weights: Tensor, bias: Tensor, stride: Int = 1, padding: Int, fusedReLU: Bool,
                     algorithm: ConvolutionAlgorithm, precision: Precision = .fp32,
                     sourceLayout: MemoryDescriptor? = nil) throws -> Convolution {
        func build(_ algorithm: ConvolutionAlgorithm) throws -> Convolution {
            try Convolution(inputShape: inputShape, weights: weights, bias: bias, stride: stride, padding: padding,
                            fusedReLU: fusedReLU, algorithm: algorithm, precision: precision, sourceLayout: sourceLayout)
        }
        if precision == .bf16 { return try build(.direct) }
        guard algorithm == .auto else { return try build(algorithm) }
        let seconds = try measuredSeconds(inputShape: inputShape, weights: weights, bias: bias, stride: stride,
                                          padding: padding, fusedReLU: fusedReLU, kernels: [.direct, .winograd])
        let winograd = seconds[.winograd] ?? .infinity
        return try build(winograd < 0.9 * seconds[.direct]! ? .winograd : .direct)
    }

    /// The faster float32 kernel's time (as `make` picks it for `algorithm`) and the bf16 kernel's, per step.
    static func secondsPerStep(inputShape: [Int], weights: Tensor, bias: Tensor, stride: Int = 1, padding: Int,
                               fusedReLU: Bool, algorithm: ConvolutionAlgorithm) throws -> (fp32: Double, bf16: Double) {
        let fp32Kernels: [MeasuredKernels.Kernel] = switch algorithm {
        case .auto: [.direct, .winograd]
        case .direct: [.direct]
        case .winograd: [.winograd]
        }
        let seconds = try measuredSeconds(inputShape: inputShape, weights: weights, bias: bias, stride: stride,
                                          padding: padding, fusedReLU: fusedReLU, kernels: fp32Kernels + [.bf16])
        let fp32 = fp32Kernels.compactMap { seconds[$0] }.min() ?? .infinity
        return (fp32, seconds[.bf16] ?? .infinity)
    }

    /// Seconds per forward + backward-data step of each kernel on this shape, measured the first time the shape is
    /// seen on this machine and remembered. A kernel oneDNN cannot build for the shape is left out.
    ///
    /// A large image is measured on a band of its rows, its time scaled up by the ratio of rows: the kernels' time
    /// grows in proportion to the rows, and their memory too. Measured whole in float32 (Winograd's scratchpad
    /// included), a 512 px image's first layers raised the peak of the first Gatys run at that size from 278 MiB to
    /// 468; on bands, to 365-382 (Intel Xeon, 2 threads, 2026-12-01).
    private static func measuredSeconds(inputShape: [Int], weights: Tensor, bias: Tensor, stride: Int, padding: Int,
                                        fusedReLU: Bool, kernels: [MeasuredKernels.Kernel]) throws -> [MeasuredKernels.Kernel: Double] {
        let key = "\(inputShape) \(weights.shape) s\(stride) p\(padding)"
        let bytesPerRow = max(inputShape[1], weights.shape[0]) * inputShape[3] * MemoryLayout<Float>.size
        let rows = min(inputShape[2], max(measuredBandBytes / bytesPerRow, 16 * stride))
        let band = [inputShape[0], inputShape[1], rows, inputShape[3]]
        var seconds = MeasuredKernels.lookup(key)
        for kernel in kernels where seconds[kernel] == nil {
            let (algorithm, precision): (ConvolutionAlgorithm, Precision) = switch kernel {
            case .direct, .fp32: (.direct, .fp32)
            case .winograd: (.winograd, .fp32)
            case .bf16: (.direct, .bf16)
            }
            let convolution = try? Convolution(inputShape: band, weights: weights, bias: bias, stride: stride,
                                               padding: padding, fusedReLU: fusedReLU, algorithm: algorithm,
                                               precision: precision)
            // A shape the kernel is not built for is recorded as never faster.
            seconds[kernel] = try convolution.map { try $0.secondsPerStep() * Double(inputShape[2]) / Double(rows) } ?? .infinity
            if kernel == .direct && seconds[kernel] == .infinity { throw EngineError(description: "no direct convolution for \(key)") }
        }
        MeasuredKernels.record(key, seconds)
        return seconds
    }

    /// The largest float32 input or output of a measurement (16 MiB: a 512 px image's 64 channels, 128 rows of them).
    private static let measuredBandBytes = 16 << 20

    /// Best of three forward + backward-data passes on zeros. Its memory, a layer's worth of activations and
    /// scratchpad, is mapped for the measurement and handed back after it, so that it is not left in the heap.
    private func secondsPerStep() throws -> Double {
        let layouts = try scratchpadLayouts()
        let scratchpad = try Memory(mapping: layouts.forward.byteCount >= layouts.backwardData.byteCount ? layouts.forward : layouts.backwardData)
        let source = try Memory(mapping: sourceLayout), output = try Memory(mapping: destinationLayout)
        let gradient = try Memory(mapping: inputGradientLayout())
        source.zero()
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            forward(source, into: output, scratchpad: scratchpad)
            try backwardData(output, into: gradient, scratchpad: scratchpad)
            let elapsed = ContinuousClock.now - start
            best = min(best, elapsed.seconds)
        }
        return best
    }
}
