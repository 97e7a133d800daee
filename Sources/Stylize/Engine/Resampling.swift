import CDNNL

/// Nearest-neighbour upsampling by 2: every pixel becomes a 2 x 2 block. Followed by a convolution it replaces a
/// transposed convolution without its checkerboard artifacts (Odena, Dumoulin & Olah 2016).
final class NearestUpsampling {
    let inputShape: [Int]
    let outputShape: [Int]
    let sourceLayout: MemoryDescriptor
    let destinationLayout: MemoryDescriptor
    private let forwardPrimitive: Primitive

    init(inputShape: [Int], sourceLayout: MemoryDescriptor) throws {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        self.inputShape = inputShape
        outputShape = [n, c, 2 * h, 2 * w]
        self.sourceLayout = sourceLayout
        var src = sourceLayout
        // Left to oneDNN, which gives the input's layout: the convolution after it wants what the one before made.
        var dst = MemoryDescriptor.any(outputShape, sourceLayout.data_type)
        let factors: [Float] = [2, 2]
        var desc = dnnl_resampling_desc_t()
        try check(dnnl_resampling_forward_desc_init(&desc, dnnl_forward_training, dnnl_resampling_nearest, factors,
                                                    &src, &dst), "resampling_forward_desc_init")
        forwardPrimitive = try Primitive(desc, name: "nearest upsampling")
        destinationLayout = forwardPrimitive.layout(dnnl_query_dst_md)
    }

    func makeOutput() throws -> Memory { try Memory(destinationLayout) }

    func forward(_ source: Memory, into destination: Memory) {
        forwardPrimitive.execute([(STYLIZE_ARG_SRC, source), (STYLIZE_ARG_DST, destination)])
    }

    private lazy var backwardPrimitive: Result<Primitive, Error> = Result {
        var diffSrc = sourceLayout, diffDst = destinationLayout
        let factors: [Float] = [2, 2]
        var desc = dnnl_resampling_desc_t()
        try check(dnnl_resampling_backward_desc_init(&desc, dnnl_resampling_nearest, factors, &diffSrc, &diffDst),
                  "resampling_backward_desc_init")
        return try Primitive(desc, hint: forwardPrimitive, name: "nearest upsampling backward")
    }

    /// Each input pixel's gradient is the sum of its 2 x 2 block's.
    func backward(_ outputGradient: Memory, into inputGradient: Memory) throws {
        try backwardPrimitive.get().execute([(STYLIZE_ARG_DIFF_DST, outputGradient), (STYLIZE_ARG_DIFF_SRC, inputGradient)])
    }
}
