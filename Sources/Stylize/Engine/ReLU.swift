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

    /// Masks `gradient` where `output` (the ReLU's forward result) is zero, in place or `into` another buffer.
    func callAsFunction(output: Memory, gradient: Memory, into inputGradient: Memory? = nil) {
        primitive.execute([(STYLIZE_ARG_DST, output), (STYLIZE_ARG_DIFF_DST, gradient),
                           (STYLIZE_ARG_DIFF_SRC, inputGradient ?? gradient)])
    }
}

/// ReLU's backward pass from a bit mask of where its output was positive. Keeping a bit per value instead
/// of the output lets the next layers overwrite the output, so VGG19 needs two activation buffers in
/// all rather than one per layer. Elementwise, so it works in any layout, padding included (oneDNN's buffers
/// are whole 64-byte lines: 16 float32 or 32 bf16 values), and in either precision: a bf16 value is the top
/// half of a float32, so both are positive exactly when their sign bit is clear and some other bit is set.
struct ReLUMask {
    private var bits: [UInt16]
    let capacity: Int
    /// Bit i of a 16-value group.
    private static let lanes = SIMD16<UInt16>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
    private static let shifts = SIMD16<UInt16>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    init(capacity: Int) {
        precondition(capacity % 16 == 0, "a ReLU mask covers whole groups of 16 values")
        self.capacity = capacity
        bits = [UInt16](repeating: 0, count: capacity / 16)
    }

    mutating func record(_ output: Memory) {
        precondition(output.capacity == capacity)
        if output.isFloat32 {
            record(output.address.assumingMemoryBound(to: SIMD16<UInt32>.self))
        } else {
            record(output.address.assumingMemoryBound(to: SIMD16<UInt16>.self))
        }
    }

    /// Each group's bits from the values' bit patterns u, by integer arithmetic that vectorises (comparisons and
    /// masks did not): with s the sign bit, u > 0 as a number exactly when u + (s - 1) carries into the sign bit
    /// and u's own sign bit is clear.
    private mutating func record<Lanes: FixedWidthInteger & UnsignedInteger & SIMDScalar>(_ values: UnsafeMutablePointer<SIMD16<Lanes>>) {
        nonisolated(unsafe) let values = values
        let top = Lanes(Lanes.bitWidth - 1)
        let belowSign = SIMD16<Lanes>(repeating: (1 << top) - 1)
        let shifts = SIMD16<Lanes>(truncatingIfNeeded: Self.shifts)
        bits.withUnsafeMutableBufferPointer { bits in
            inParallel(bits.count) { range in
                for g in range {
                    let u = values[g]
                    let positive = ((u &+ belowSign) & ~u) &>> top
                    bits[g] = UInt16(truncatingIfNeeded: (positive &<< shifts).wrappedSum())
                }
            }
        }
    }

    /// dL/dx = dL/dy where y > 0, else 0, in place: each group's 16 bits become 16 all-ones or all-zeros lanes
    /// that are ANDed with the values' bit patterns, a few vector instructions per group (a lane-by-lane loop was
    /// 3% of an iteration, and SIMD's `replace(with:where:)` ten times that).
    func apply(to gradient: Memory) {
        precondition(gradient.capacity == capacity)
        if gradient.isFloat32 {
            apply(gradient.address.assumingMemoryBound(to: SIMD16<UInt32>.self))
        } else {
            apply(gradient.address.assumingMemoryBound(to: SIMD16<UInt16>.self))
        }
    }

    private func apply<Lanes: FixedWidthInteger & UnsignedInteger & SIMDScalar>(_ values: UnsafeMutablePointer<SIMD16<Lanes>>) {
        nonisolated(unsafe) let values = values
        let shifts = SIMD16<Lanes>(truncatingIfNeeded: Self.shifts)
        bits.withUnsafeBufferPointer { bits in
            inParallel(bits.count) { range in
                for g in range {
                    let bit = (SIMD16<Lanes>(repeating: Lanes(bits[g])) &>> shifts) & 1
                    values[g] &= 0 &- bit
                }
            }
        }
    }
}
