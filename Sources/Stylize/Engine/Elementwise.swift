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

/// dst += b per channel: a bias added after a kernel that has none (`TransposedConvolution`).
final class BiasAddition {
    private let primitive: Primitive
    private let bias: Memory

    /// The bias starts at zero (`setBias`).
    init(layout: MemoryDescriptor, channels: Int) throws {
        var values = layout, perChannel = MemoryDescriptor.perChannel(channels, like: layout), sum = layout
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &values, &perChannel, &sum), "binary_desc_init")
        primitive = try Primitive(desc, name: "bias addition")
        bias = try Memory(perChannel)
        bias.load([Float](repeating: 0, count: bias.capacity))
    }

    /// `values` [C], into the first C of the block-padded buffer (the padding stays zero).
    func setBias(_ values: Tensor) {
        bias.load(values.scalars + [Float](repeating: 0, count: bias.capacity - values.scalars.count))
    }

    func callAsFunction(_ values: Memory) {
        primitive.execute([(DNNL_ARG_SRC_0, values), (DNNL_ARG_SRC_1, bias), (STYLIZE_ARG_DST, values)])
    }
}
