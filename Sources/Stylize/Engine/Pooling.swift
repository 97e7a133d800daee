import CDNNL

/// Max pooling, or average pooling, which Gatys et al. found gives smoother images (`--pooling max|avg`).
public enum PoolingKind: String, Sendable, CaseIterable {
    case max, avg
}

/// Max or average pooling over square windows, forward and backward, for one input shape.
final class Pooling {
    let inputShape: [Int]
    let outputShape: [Int]
    let kind: PoolingKind
    let destinationLayout: MemoryDescriptor
    private let forwardPrimitive: Primitive
    private let sourceLayout: MemoryDescriptor
    private let kernel: Int
    /// Where max pooling remembers which input won each window; its backward needs it.
    let workspaceLayout: MemoryDescriptor?

    init(inputShape: [Int], sourceLayout: MemoryDescriptor, kind: PoolingKind, kernel: Int = 2, stride: Int = 2) throws {
        precondition(stride == kernel, "only non-overlapping windows are used here")
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        self.inputShape = inputShape
        // Floor division, as PyTorch and Caffe's VGG do for odd sizes: the last row or column is dropped.
        self.outputShape = [n, c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]
        self.kind = kind
        self.kernel = kernel
        self.sourceLayout = sourceLayout
        var src = sourceLayout
        var dst = MemoryDescriptor.any(outputShape, sourceLayout.data_type)
        let strides = dnnlDims([stride, stride]), kernels = dnnlDims([kernel, kernel])
        let padding = dnnlDims([0, 0])
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_training, kind.algorithm, &src, &dst, strides,
                                                 kernels, padding, padding), "pooling_forward_desc_init")
        forwardPrimitive = try Primitive(desc, name: "pooling")
        destinationLayout = forwardPrimitive.layout(dnnl_query_dst_md)
        let workspace = forwardPrimitive.layout(dnnl_query_workspace_md)
        workspaceLayout = workspace.ndims > 0 ? workspace : nil
    }

    func makeWorkspace() throws -> Memory? { try workspaceLayout.map { try Memory($0) } }

    func forward(_ source: Memory, into destination: Memory, workspace: Memory?) {
        var args = [(STYLIZE_ARG_SRC, source), (STYLIZE_ARG_DST, destination)]
        if let workspace { args.append((STYLIZE_ARG_WORKSPACE, workspace)) }
        forwardPrimitive.execute(args)
    }

    private lazy var backwardPrimitive: Result<Primitive, Error> = Result {
        var diffSrc = sourceLayout, diffDst = destinationLayout
        let strides = dnnlDims([kernel, kernel]), kernels = dnnlDims([kernel, kernel])
        let padding = dnnlDims([0, 0])
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_backward_desc_init(&desc, kind.algorithm, &diffSrc, &diffDst, strides, kernels,
                                                  padding, padding), "pooling_backward_desc_init")
        return try Primitive(desc, hint: forwardPrimitive, name: "pooling backward")
    }

    /// Routes each output gradient to the window's winner (max) or spreads it evenly (average).
    func backward(_ outputGradient: Memory, into inputGradient: Memory, workspace: Memory?) throws {
        var args = [(STYLIZE_ARG_DIFF_DST, outputGradient), (STYLIZE_ARG_DIFF_SRC, inputGradient)]
        if let workspace { args.append((STYLIZE_ARG_WORKSPACE, workspace)) }
        try backwardPrimitive.get().execute(args)
    }
}

extension PoolingKind {
    var algorithm: dnnl_alg_kind_t {
        switch self {
        case .max: dnnl_pooling_max
        case .avg: dnnl_pooling_avg_exclude_padding
        }
    }
}
