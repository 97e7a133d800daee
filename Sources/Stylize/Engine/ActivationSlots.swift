/// Where a network that only runs forward keeps its activations: three buffers, each as large as the largest
/// activation, handed out so that no layer's output shares a buffer with what it reads. A forward pass needs only
/// the layer's input and output alive (and, in a residual block, the block's input), so three are enough at any
/// depth, where keeping every activation for a backward pass grows with it. Mapped, so that the part of each buffer
/// a smaller activation never reaches is never touched.
final class ActivationSlots {
    private let buffers: [Buffer]

    /// - Parameter byteCount: at least the largest activation's size.
    init(byteCount: Int) {
        buffers = (0..<3).map { _ in Buffer(byteCount: byteCount) }
    }

    /// A memory in `layout` at the start of a buffer that none of `busy` lies in.
    func memory(_ layout: MemoryDescriptor, avoiding busy: [Memory]) throws -> Memory {
        guard let free = buffers.first(where: { buffer in !busy.contains { $0.lies(in: buffer) } }) else {
            preconditionFailure("more than two activations alive at once")
        }
        return try Memory(layout, in: free)
    }
}
