import CDNNL

/// ReLU's backward pass, computed from the forward output: dL/dx = dL/dy where y > 0, else 0.
/// The forward pass is fused into the convolution before it, so only the backward is a primitive here.
final class ReLUBackward {
    private let primitive: Primitive

    init(layout: MemoryDescriptor) throws {
        var data = layout
        var forward = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&forward, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                 &data, 0, 0), "eltwise_forward_desc_init")
        let hint = try Primitive(forward, name: "relu forward")
        var diff = layout
        var backward = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_backward_desc_init(&backward, dnnl_eltwise_relu_use_dst_for_bwd, &diff, &data, 0, 0),
                  "eltwise_backward_desc_init")
        primitive = try Primitive(backward, hint: hint, name: "relu backward")
    }

    /// Masks `gradient` in place where `output` (the ReLU's forward result) is zero.
    func callAsFunction(output: Memory, gradient: Memory) {
        primitive.execute([(STYLIZE_ARG_DST, output), (STYLIZE_ARG_DIFF_DST, gradient), (STYLIZE_ARG_DIFF_SRC, gradient)])
    }
}

/// ReLU's backward pass from a byte mask of where its output was positive. Keeping a byte per value instead
/// of the float output lets the next layers overwrite the output, so VGG19 needs two activation buffers in
/// all rather than one per layer. Elementwise, so it works in any layout, padding included.
struct ReLUMask {
    private var positive: [UInt8]

    init(capacity: Int) { positive = [UInt8](repeating: 0, count: capacity) }

    mutating func record(_ output: Memory) {
        precondition(output.capacity == positive.count)
        let values = output.pointer
        positive.withUnsafeMutableBufferPointer { mask in
            for i in 0..<mask.count { mask[i] = values[i] > 0 ? 1 : 0 }
        }
    }

    /// dL/dx = dL/dy where y > 0, else 0, in place.
    func apply(to gradient: Memory) {
        precondition(gradient.capacity == positive.count)
        let g = gradient.pointer
        positive.withUnsafeBufferPointer { mask in
            for i in 0..<mask.count { g[i] = mask[i] != 0 ? g[i] : 0 }
        }
    }
}
