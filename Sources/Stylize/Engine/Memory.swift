import CDNNL
import Foundation

/// Dimensions, layout and number format of a memory buffer, as oneDNN sees it. Plain layouts, the ones Swift
/// arrays are viewed as, are always float32; the blocked layouts of a network's activations are float32 or
/// bfloat16 (`Precision`).
typealias MemoryDescriptor = dnnl_memory_desc_t

extension MemoryDescriptor {
    /// A plain row-major float32 descriptor: nchw for 4 dimensions, oihw for weights, x for vectors.
    static func plain(_ dims: [Int]) -> MemoryDescriptor {
        let tags: [Int: dnnl_format_tag_t] = [1: dnnl_a, 2: dnnl_ab, 3: dnnl_abc, 4: dnnl_abcd]
        return tagged(dims, tags[dims.count]!, dnnl_f32)
    }

    /// [N, C, H, W] stored position-major (oneDNN's nhwc): each position's channels side by side.
    static func positionMajor(_ dims: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> MemoryDescriptor {
        tagged(dims, dnnl_acdb, type)
    }

    /// A descriptor that lets the primitive choose its preferred (usually channel-blocked) layout.
    static func any(_ dims: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> MemoryDescriptor {
        tagged(dims, dnnl_format_tag_any, type)
    }

    /// [1, C, 1, 1] float32 in the channel blocking of `layout` (nChw8c, nChw16c or plain), so that a per-channel
    /// value broadcast over `layout` gets oneDNN's jit binary kernel: against a plain one it runs a reference loop
    /// 100 times slower. With one position, the channels lie side by side, padded to a whole block.
    static func perChannel(_ channels: Int, like layout: MemoryDescriptor) -> MemoryDescriptor {
        let blocking = layout.format_desc.blocking
        let block = layout.format_kind == dnnl_blocked && blocking.inner_nblks == 1 && blocking.inner_idxs.0 == 1
            ? Int(blocking.inner_blks.0) : 1
        return tagged([1, channels, 1, 1], [8: dnnl_nChw8c, 16: dnnl_nChw16c][block] ?? dnnl_nchw, dnnl_f32)
    }

    /// A [rows, columns] matrix whose element (i, j) is `i * rowStride + j * columnStride` values from its start:
    /// a transposed view is the same storage with the strides swapped.
    static func matrix(_ rows: Int, _ columns: Int, rowStride: Int, columnStride: Int, _ type: dnnl_data_type_t) -> MemoryDescriptor {
        strided([rows, columns], strides: [rowStride, columnStride], type)
    }

    /// Any number of dimensions, each with its stride in values: a view of storage laid out otherwise.
    static func strided(_ dims: [Int], strides: [Int], _ type: dnnl_data_type_t) -> MemoryDescriptor {
        var md = dnnl_memory_desc_t()
        let status = dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dnnlDims(dims), type, dnnlDims(strides))
        precondition(status == dnnl_success, "bad strided descriptor \(dims) \(strides)")
        return md
    }

    /// A layout by oneDNN's name for it (`dnnl_nChw8c`, `dnnl_nhwc`, ...).
    static func tagged(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t) -> MemoryDescriptor {
        var md = dnnl_memory_desc_t()
        let status = dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dnnlDims(dims), type, tag)
        precondition(status == dnnl_success, "bad memory descriptor \(dims)")
        return md
    }

    /// Bytes per value: 4 for float32, 2 for bfloat16.
    var elementSize: Int { dnnl_data_type_size(data_type) }

    var byteCount: Int {
        var copy = self
        return dnnl_memory_desc_get_size(&copy)
    }

    var shape: [Int] {
        withUnsafeBytes(of: self.dims) { raw in
            Array(raw.bindMemory(to: Int64.self).prefix(Int(ndims)).map { Int($0) })
        }
    }

    /// Values from one row (dimension 2) to the next, when rows are not split into blocks: a band of rows is then
    /// the same descriptor cut to fewer rows, at an offset.
    var rowStride: Int? {
        guard format_kind == dnnl_blocked, ndims == 4 else { return nil }
        let blocking = format_desc.blocking
        let innerIndices = withUnsafeBytes(of: blocking.inner_idxs) { Array($0.bindMemory(to: Int64.self).prefix(Int(blocking.inner_nblks))) }
        guard !innerIndices.contains(2) else { return nil }
        return strides[2]
    }

    /// [1, C, H, W] stored position-major with no padding (oneDNN's nhwc): a plain matrix [H·W, C].
    var isPositionMajor: Bool {
        guard format_kind == dnnl_blocked, ndims == 4, format_desc.blocking.inner_nblks == 0 else { return false }
        let dims = shape, steps = strides
        return dims[0] == 1 && steps[1] == 1 && steps[3] == dims[1] && steps[2] == dims[1] * dims[3]
    }

    /// Values from one index to the next along each dimension, outside any inner blocks (blocked layouts only).
    var strides: [Int] {
        withUnsafeBytes(of: format_desc.blocking.strides) { Array($0.bindMemory(to: Int64.self).prefix(Int(ndims))).map { Int($0) } }
    }

    /// The format tag of a 4-D layout that oneDNN chose and its channel block, where it is one whose channels lie in
    /// whole blocks: nChw16c, nChw8c, or nhwc (block 1); nil for others.
    var channelBlocking: (tag: dnnl_format_tag_t, block: Int)? {
        [(dnnl_nChw16c, 16), (dnnl_nChw8c, 8), (dnnl_nhwc, 1)].first { tag, _ in
            MemoryDescriptor.tagged(shape, tag, data_type).sameLayout(as: self)
        }
    }

    func sameLayout(as other: MemoryDescriptor) -> Bool {
        var a = self, b = other
        return dnnl_memory_desc_equal(&a, &b) != 0
    }
}

/// Raw, page-aligned storage that several `Memory` views can share, one at a time: VGG19's activations,
/// gradients and scratchpad all live in one of these. Mapped from the kernel directly rather than taken from
/// malloc's heap, so that the pages are untouched (free) until used and are handed back when the buffer goes.
final class Buffer {
    let byteCount: Int
    let pointer: UnsafeMutableRawPointer
    private let mappedBytes: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        mappedBytes = max(byteCount, 1)
        guard let address = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              address != MAP_FAILED else {
            fatalError("out of memory: cannot map \(byteCount) bytes")
        }
        #if os(Linux)
        // Huge pages, where the kernel has them to give: the activations and Winograd's tiles are streamed through
        // at every layer, and 4 KB pages cost TLB misses.
        madvise(address, mappedBytes, MADV_HUGEPAGE)
        #endif
        pointer = address
    }

    deinit { munmap(pointer, mappedBytes) }
}

/// A oneDNN memory object: a descriptor and the storage it describes. Blocked layouts pad channels, so
/// `capacity` may exceed the logical element count.
final class Memory {
    let descriptor: MemoryDescriptor
    let handle: dnnl_memory_t
    let address: UnsafeMutableRawPointer
    /// Keeps shared storage (a `Buffer`, or the memory this one is a view of) alive as long as the view.
    private let storage: AnyObject?

    /// Memory that oneDNN allocates and owns.
    convenience init(_ descriptor: MemoryDescriptor) throws {
        try self.init(descriptor, at: stylize_memory_allocate(), storage: nil)
    }

    /// Memory in a `Buffer` of its own: for large memory that should go back to the kernel once freed, rather
    /// than stay in malloc's heap where only smaller allocations could reuse it.
    convenience init(mapping descriptor: MemoryDescriptor) throws {
        try self.init(descriptor, in: Buffer(byteCount: descriptor.byteCount))
    }

    /// Whether this memory starts inside `buffer`.
    func lies(in buffer: Buffer) -> Bool {
        address >= buffer.pointer && address < buffer.pointer + max(buffer.byteCount, 1)
    }

    /// A view of shared storage, `byteOffset` bytes in (a multiple of 64).
    convenience init(_ descriptor: MemoryDescriptor, in buffer: Buffer, byteOffset: Int = 0) throws {
        precondition(byteOffset >= 0 && byteOffset % 64 == 0 && byteOffset + descriptor.byteCount <= buffer.byteCount,
                     "a view outside its buffer")
        try self.init(descriptor, at: buffer.pointer + byteOffset, storage: buffer)
    }

    /// A view of part of another memory, `offset` values in. The descriptor must reach no further than the
    /// memory (oneDNN sizes a part cut from a descriptor as the whole, so this is the caller's to ensure).
    convenience init(_ descriptor: MemoryDescriptor, viewing memory: Memory, offset: Int) throws {
        precondition(offset >= 0 && offset < memory.capacity, "a view outside its memory")
        try self.init(descriptor, at: memory.address + offset * memory.descriptor.elementSize, storage: memory)
    }

    private init(_ descriptor: MemoryDescriptor, at address: UnsafeMutableRawPointer, storage: AnyObject?) throws {
        self.descriptor = descriptor
        self.storage = storage
        var md = descriptor
        var handle: dnnl_memory_t?
        try check(dnnl_memory_create(&handle, &md, DNNL.engine, address), "memory_create")
        self.handle = handle!
        var raw: UnsafeMutableRawPointer?
        try check(dnnl_memory_get_data_handle(handle, &raw), "memory_get_data_handle")
        // oneDNN allocates nothing for an empty descriptor, but an empty memory object is never read.
        self.address = raw ?? (storage == nil ? UnsafeMutableRawPointer(bitPattern: 64)! : address)
    }

    /// Runs `body` with a plain-layout memory object over an array's storage, so that reorders write Swift
    /// arrays without a copy.
    static func viewing<R>(_ scalars: inout [Float], as dims: [Int], positionMajor: Bool = false,
                           _ body: (Memory) throws -> R) throws -> R {
        let descriptor = positionMajor ? MemoryDescriptor.positionMajor(dims) : .plain(dims)
        precondition(descriptor.byteCount == scalars.count * 4, "viewing \(scalars.count) floats as \(dims)")
        return try scalars.withUnsafeMutableBytes { raw in
            try body(Memory(descriptor, at: raw.baseAddress!, storage: nil))
        }
    }

    /// The same for an array that is only read (the memory object must only be a source).
    static func viewing<R>(_ scalars: [Float], as dims: [Int], positionMajor: Bool = false,
                           _ body: (Memory) throws -> R) throws -> R {
        let descriptor = positionMajor ? MemoryDescriptor.positionMajor(dims) : .plain(dims)
        precondition(descriptor.byteCount == scalars.count * 4, "viewing \(scalars.count) floats as \(dims)")
        return try scalars.withUnsafeBytes { raw in
            try body(Memory(descriptor, at: UnsafeMutableRawPointer(mutating: raw.baseAddress!), storage: nil))
        }
    }

    deinit { dnnl_memory_destroy(handle) }

    /// Number of values in the buffer, padding included.
    var capacity: Int { descriptor.byteCount / descriptor.elementSize }

    var isFloat32: Bool { descriptor.data_type == dnnl_f32 }

    /// The values of a float32 memory.
    var pointer: UnsafeMutablePointer<Float> {
        precondition(isFloat32, "reading bfloat16 memory as float32")
        return address.assumingMemoryBound(to: Float.self)
    }

    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: capacity) }

    func fill(_ value: Float) { buffer.update(repeating: value) }

    /// Sets every byte to zero, which is 0 in either number format.
    func zero() { address.initializeMemory(as: UInt8.self, repeating: 0, count: descriptor.byteCount) }

    /// Copies the bytes of `other`, a memory of the same size.
    func copy(from other: Memory) {
        precondition(other.descriptor.byteCount == descriptor.byteCount)
        address.copyMemory(from: other.address, byteCount: descriptor.byteCount)
    }

    /// Copies scalars into a plain-layout memory.
    func load(_ scalars: [Float]) {
        precondition(scalars.count == capacity, "loading \(scalars.count) floats into \(capacity)")
        scalars.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// Copies a plain tensor into this memory, in whatever layout it has (through a plain copy and a reorder), as
    /// weights are loaded.
    func load(plain tensor: Tensor) throws {
        let plain = try Memory(.plain(tensor.shape))
        plain.load(tensor.scalars)
        try Reorder(from: plain.descriptor, to: descriptor)(plain, into: self)
    }

    /// The contents of a plain-layout memory.
    func scalars() -> [Float] { Array(buffer) }

    /// Adds `other` (same descriptor) into this memory.
    func add(_ other: Memory) {
        precondition(other.capacity == capacity)
        let a = pointer, b = other.pointer
        for i in 0..<capacity { a[i] += b[i] }
    }
}

/// The dims arrays oneDNN's descriptor functions take (a C array of DNNL_MAX_NDIMS int64s).
func dnnlDims(_ values: [Int]) -> [Int64] {
    values.map { Int64($0) } + [Int64](repeating: 0, count: 12 - values.count)
}
