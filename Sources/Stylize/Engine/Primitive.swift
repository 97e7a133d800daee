import CDNNL
import Foundation
import Synchronization

/// One oneDNN primitive: its descriptor (queried for layouts) and the compiled kernel.
final class Primitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    /// The work space the kernel needs while it runs; `Scratchpad` lends it.
    let scratchpadLayout: MemoryDescriptor

    /// Creates the primitive for an operation descriptor such as `dnnl_convolution_desc_t`.
    convenience init<OperationDescriptor>(_ operation: OperationDescriptor, attributes: dnnl_primitive_attr_t? = nil,
                              hint: Primitive? = nil, name: String) throws {
        var op = operation
        let plain = attributes == nil ? try makeAttributes { _ in } : nil
        defer { if let plain { dnnl_primitive_attr_destroy(plain) } }
        let attributes = attributes ?? plain
        var pd: dnnl_primitive_desc_t?
        let status = withUnsafeMutableBytes(of: &op) { raw in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(raw.baseAddress!), attributes, DNNL.engine, hint?.descriptor)
        }
        // Kernels depend on the CPU: oneDNN's bf16 and Winograd ones need AVX-512, for one.
        if status == dnnl_unimplemented {
            throw EngineError(description: "oneDNN has no \(name) kernel on this CPU (\(Precision.cpuModel), "
                + "\(Precision.dispatchedISA)); the auto precision and convolution settings choose only kernels it has")
        }
        try check(status, "\(name) primitive_desc_create")
        try self.init(descriptor: pd!, name: name)
    }

    /// Made with attributes from `makeAttributes`, so that the scratchpad is the shared one.
    init(descriptor: dnnl_primitive_desc_t, name: String) throws {
        self.descriptor = descriptor
        scratchpadLayout = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0).pointee
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, descriptor), "\(name) primitive_create")
        self.primitive = primitive!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// The layout the primitive chose for one of its arguments (`dnnl_query_src_md`, ...).
    func layout(_ query: dnnl_query_t, _ index: Int32 = 0) -> MemoryDescriptor {
        dnnl_primitive_desc_query_md(descriptor, query, index).pointee
    }

    /// The implementation oneDNN picked, e.g. "jit:avx512_core".
    var implementation: String {
        var name: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "?"
    }

    /// Runs the primitive and waits for it. Its scratchpad is `scratchpad` if given (at least
    /// `scratchpadLayout.byteCount` bytes), else the shared one.
    func execute(_ arguments: [(Int32, Memory)], scratchpad: Memory? = nil) {
        var arguments = arguments
        if scratchpadLayout.byteCount > 0 {
            precondition(scratchpad.map { $0.descriptor.byteCount >= scratchpadLayout.byteCount } ?? true, "a scratchpad too small")
            arguments.append((STYLIZE_ARG_SCRATCHPAD, scratchpad ?? Scratchpad.memory(scratchpadLayout)))
        }
        let args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        // oneDNN holds only the handles: the memory objects (the scratchpad's is made for this call alone) must
        // outlive the kernel, and Swift may release them after their last use in the code, the line above.
        let status = withExtendedLifetime(arguments) {
            let status = args.withUnsafeBufferPointer {
                dnnl_primitive_execute(primitive, DNNL.stream, Int32($0.count), $0.baseAddress)
            }
            dnnl_stream_wait(DNNL.stream)
            return status
        }
        precondition(status == dnnl_success, "oneDNN execute (\(implementation)) failed: \(status.rawValue)")
    }
}

/// Copies between two layouts of the same tensor (plain <-> blocked), or adds into the destination.
final class Reorder {
    private let primitive: Primitive

    init(from source: MemoryDescriptor, to destination: MemoryDescriptor, accumulate: Bool = false) throws {
        var src = source, dst = destination
        let attributes = try makeAttributes { postOps in
            if accumulate { try check(dnnl_post_ops_append_sum(postOps, 1), "post_ops_append_sum") }
        }
        defer { dnnl_primitive_attr_destroy(attributes) }
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&pd, &src, DNNL.engine, &dst, DNNL.engine, attributes),
                  "reorder_primitive_desc_create")
        primitive = try Primitive(descriptor: pd!, name: "reorder")
    }

    func callAsFunction(_ source: Memory, into destination: Memory) {
        primitive.execute([(STYLIZE_ARG_FROM, source), (STYLIZE_ARG_TO, destination)])
    }
}

/// An activation moved into another layout, in a memory of its own: where the next kernel wants a layout the last one
/// did not write.
struct LayoutChange {
    let reorder: Reorder
    /// Where the moved activation is (in the layout it was moved to).
    let copy: Memory

    init(from layout: MemoryDescriptor, into copy: Memory) throws {
        reorder = try Reorder(from: layout, to: copy.descriptor)
        self.copy = copy
    }

    /// `source` moved into `copy`, which is returned.
    func callAsFunction(_ source: Memory) -> Memory {
        reorder(source, into: copy)
        return copy
    }
}

/// Primitive attributes carrying the post-ops `append` adds (a fused ReLU, an accumulation) and asking for the
/// scratchpad to be passed in (`Scratchpad`); the caller destroys them once the primitive descriptor is made.
func makeAttributes(_ append: (dnnl_post_ops_t) throws -> Void) throws -> dnnl_primitive_attr_t {
    var attributes: dnnl_primitive_attr_t?
    try check(dnnl_primitive_attr_create(&attributes), "primitive_attr_create")
    try check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
    var postOps: dnnl_post_ops_t?
    try check(dnnl_post_ops_create(&postOps), "post_ops_create")
    defer { dnnl_post_ops_destroy(postOps) }
    try append(postOps!)
    try check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "set_post_ops")
    return attributes!
}

/// The work space oneDNN's kernels use while they run (Winograd's transformed weights and tiles, for one), for
/// the primitives not given one of their own (`VGG19Features` gives its convolutions part of its activation
/// buffer): one buffer for the whole process, grown to the largest need so far and lent to each primitive in
/// turn. Primitives run one at a time on the one stream, so one buffer serves them all.
enum Scratchpad {
    private static let buffer = Mutex<Buffer?>(nil)

    static func memory(_ layout: MemoryDescriptor) -> Memory {
        let storage = buffer.withLock { buffer -> Buffer in
            if let current = buffer, current.byteCount >= layout.byteCount { return current }
            buffer = nil  // freed before the larger one is made
            buffer = Buffer(byteCount: layout.byteCount)
            return buffer!
        }
        return try! Memory(layout, in: storage)
    }
}

/// C = alpha · A·B, or C += alpha · A·B, by oneDNN's matmul, for matrices of fixed shapes and strides in any
/// number format it takes (bf16 sources into a float32 or bf16 destination run on bf16 units where there are
/// some, accumulating in float32).
final class MatrixProduct {
    private let primitive: Primitive

    init(a: MemoryDescriptor, b: MemoryDescriptor, c: MemoryDescriptor, alpha: Float, accumulate: Bool) throws {
        var src = a, weights = b, dst = c
        var desc = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&desc, &src, &weights, nil, &dst), "matmul_desc_init")
        let attributes = try makeAttributes { postOps in
            if accumulate { try check(dnnl_post_ops_append_sum(postOps, 1), "post_ops_append_sum") }
        }
        defer { dnnl_primitive_attr_destroy(attributes) }
        var scale = alpha
        try check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &scale), "set_output_scales")
        primitive = try Primitive(desc, attributes: attributes, name: "matmul")
    }

    func callAsFunction(_ a: Memory, _ b: Memory, into c: Memory) {
        primitive.execute([(STYLIZE_ARG_SRC, a), (STYLIZE_ARG_WEIGHTS, b), (STYLIZE_ARG_DST, c)])
    }
}
