import CDNNL

/// dst = a + b for two tensors of one shape and layout: the sum at the end of a residual block (forward), and the
/// sum of the two gradients that reach the block's input (backward: an addition passes its gradient to both sides).
final class Addition {
    let layout: MemoryDescriptor
    private let primitive: Primitive

    init(layout: MemoryDescriptor) throws {
        self.layout = layout
        var a = layout, b = layout, sum = layout
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &a, &b, &sum), "binary_desc_init")
        primitive = try Primitive(desc, name: "addition")
    }

    /// `destination` may be `a` or `b`.
    func callAsFunction(_ a: Memory, _ b: Memory, into destination: Memory) {
        primitive.execute([(DNNL_ARG_SRC_0, a), (DNNL_ARG_SRC_1, b), (STYLIZE_ARG_DST, destination)])
    }
}
