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

/// ReLU's backward pass from a bit mask of where its output was positive. Keeping a bit per value instead
/// of the float output lets the next layers overwrite the output, so VGG19 needs two activation buffers in
/// all rather than one per layer. Elementwise, so it works in any layout, padding included.
struct ReLUMask {
    private var positive: [UInt8]
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        positive = [UInt8](repeating: 0, count: (capacity + 7) / 8)
    }

    mutating func record(_ output: Memory) {
        precondition(output.capacity == capacity)
        let values = output.pointer, count = capacity
        positive.withUnsafeMutableBufferPointer { bits in
            for byte in 0..<bits.count {
                var packed: UInt8 = 0
                for bit in 0..<8 where byte * 8 + bit < count && values[byte * 8 + bit] > 0 { packed |= 1 << bit }
                bits[byte] = packed
            }
        }
    }

    /// dL/dx = dL/dy where y > 0, else 0, in place.
    func apply(to gradient: Memory) {
        precondition(gradient.capacity == capacity)
        let g = gradient.pointer, count = capacity
        positive.withUnsafeBufferPointer { bits in
            for byte in 0..<bits.count {
                let packed = bits[byte]
                for bit in 0..<8 where byte * 8 + bit < count && packed & (1 << bit) == 0 { g[byte * 8 + bit] = 0 }
            }
        }
    }
}
