import CDNNL

/// Instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016) of one image [1, C, H, W]: every channel is shifted
/// and scaled to zero mean and unit variance over its own H x W positions, then multiplied by a learned scale and
/// moved by a learned shift, optionally followed by a ReLU. oneDNN's batch normalisation computes its statistics
/// over N, H and W; with a batch of one that is exactly instance normalisation, so it runs here one image at a time.
final class InstanceNormalization {
    let shape: [Int]
    let layout: MemoryDescriptor
    /// The layout the kernels see. An image [1, C, H, W] stored position-major (nhwc) is the same bytes as a batch
    /// of H one-row images [H, C, 1, W], with the same per-channel statistics, and oneDNN 2.6's kernels run 15-35%
    /// faster on that view (2 threads of an Intel Xeon, bf16 and float32, forward and backward, 32 to 128 channels
    /// at 256 to 1120 px; docs/benchmarks.md).
    private let kernelLayout: MemoryDescriptor
    let fusedReLU: Bool
    private let flags: UInt32
    private let epsilon: Float
    private let forwardPrimitive: Primitive
    private let scale: Memory
    private let shift: Memory
    /// The statistics and ReLU mask of the last forward pass, which the backward pass reuses; nil for a layer made
    /// for forward passes only, which keeps neither.
    private let mean: Memory?
    private let variance: Memory?
    private let workspace: Memory?

    /// - Parameters:
    ///   - layout: the layout of the input (the convolution before it chose it); the output has the same.
    ///   - training: false for a layer that only runs forward (oneDNN's inference kind, which keeps no statistics).
    ///   - epsilon: added to the variance, as PyTorch's InstanceNorm2d does (1e-5).
    init(shape: [Int], layout: MemoryDescriptor, fusedReLU: Bool, training: Bool = true, epsilon: Float = 1e-5) throws {
        precondition(shape.count == 4 && shape[0] == 1, "instance normalisation runs on one image [1, C, H, W], not \(shape)")
        self.shape = shape
        self.layout = layout
        self.fusedReLU = fusedReLU
        self.epsilon = epsilon
        flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | (fusedReLU ? dnnl_fuse_norm_relu.rawValue : 0)
        kernelLayout = layout.isPositionMajor
            ? .positionMajor([shape[2], shape[1], 1, shape[3]], layout.data_type) : layout
        var data = kernelLayout
        var desc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_forward_desc_init(&desc, training ? dnnl_forward_training : dnnl_forward_inference,
                                                             &data, epsilon, flags),
                  "batch_normalization_forward_desc_init")
        forwardPrimitive = try Primitive(desc, name: "instance normalisation")
        let channels = MemoryDescriptor.plain([shape[1]])
        scale = try Memory(channels)
        shift = try Memory(channels)
        mean = training ? try Memory(forwardPrimitive.layout(dnnl_query_dst_md, 1)) : nil
        variance = training ? try Memory(forwardPrimitive.layout(dnnl_query_dst_md, 2)) : nil
        let workspaceLayout = forwardPrimitive.layout(dnnl_query_workspace_md)
        workspace = training && workspaceLayout.ndims > 0 ? try Memory(workspaceLayout) : nil
        scale.fill(1)
        shift.fill(0)
    }

    /// Replaces the learned per-channel scale and shift ([C] each).
    func setParameters(scale: Tensor, shift: Tensor) {
        precondition(scale.shape == [shape[1]] && shift.shape == [shape[1]])
        self.scale.load(scale.scalars)
        self.shift.load(shift.scalars)
    }

    /// dst = [relu](scale · (src − mean) / √(variance + ε) + shift), keeping mean and variance for `backward` when
    /// training. `destination` may be `source` itself.
    func forward(_ source: Memory, into destination: Memory) {
        var arguments = [(STYLIZE_ARG_SRC, kernelView(source)), (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift),
                         (STYLIZE_ARG_DST, kernelView(destination))]
        if let mean, let variance { arguments += [(DNNL_ARG_MEAN, mean), (DNNL_ARG_VARIANCE, variance)] }
        if let workspace { arguments.append((STYLIZE_ARG_WORKSPACE, workspace)) }
        forwardPrimitive.execute(arguments)
    }

    private lazy var backwardPrimitive: Result<Primitive, Error> = Result {
        var diff = kernelLayout, data = kernelLayout
        var desc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, epsilon, flags),
                  "batch_normalization_backward_desc_init")
        return try Primitive(desc, hint: forwardPrimitive, name: "instance normalisation backward")
    }

    /// The gradient with respect to the input of the last `forward` (whose input was `source`), and those with
    /// respect to the scale and the shift ([C] each). `inputGradient` may be `outputGradient` itself.
    func backward(source: Memory, outputGradient: Memory, into inputGradient: Memory) throws -> (scale: Tensor, shift: Tensor) {
        guard let mean, let variance else { preconditionFailure("instance normalisation made for forward passes only") }
        let diffScale = try Memory(scale.descriptor), diffShift = try Memory(shift.descriptor)
        // oneDNN 2.6 refuses the call (invalid arguments) without the shift, though the gradient does not depend on it.
        var arguments = [(STYLIZE_ARG_SRC, kernelView(source)), (DNNL_ARG_MEAN, mean), (DNNL_ARG_VARIANCE, variance),
                         (STYLIZE_ARG_DIFF_DST, kernelView(outputGradient)), (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift),
                         (STYLIZE_ARG_DIFF_SRC, kernelView(inputGradient)), (DNNL_ARG_DIFF_SCALE, diffScale),
                         (DNNL_ARG_DIFF_SHIFT, diffShift)]
        if let workspace { arguments.append((STYLIZE_ARG_WORKSPACE, workspace)) }
        try backwardPrimitive.get().execute(arguments)
        return (Tensor(shape: [shape[1]], scalars: diffScale.scalars()), Tensor(shape: [shape[1]], scalars: diffShift.scalars()))
    }

    /// `memory` (in `layout`) as the kernels see it.
    private func kernelView(_ memory: Memory) -> Memory {
        if kernelLayout.sameLayout(as: layout) { return memory }
        // A memory object is a descriptor and a pointer: making one costs microseconds, against milliseconds of work.
        return try! Memory(kernelLayout, viewing: memory, offset: 0)
    }
}
