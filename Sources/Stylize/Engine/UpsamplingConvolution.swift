import CDNNL

/// Nearest 2x upsampling followed by a 3x3 convolution with padding 1, computed without the upsampled image.
///
/// Each output pixel of the upsampled convolution sees a 2x2 patch of the input: along each axis, the kernel's three
/// taps fall on two input pixels, for an even output row on the one above (w0) and its own (w1 + w2), for an odd row
/// on its own (w0 + w1) and the one below (w2); likewise for columns. So the four phases of the output (even or odd
/// row, even or odd column) are four 2x2 convolutions of the input. One 2x2 convolution with padding 1 and the four
/// phases' kernels as four groups of output channels makes them all on an (h + 1) x (w + 1) grid (output row 2i at
/// grid row i, row 2i + 1 at i + 1), and four reorders interleave them into the output: 4/9 of the multiplications,
/// and no upsampled copy of the input. Forward passes only (`apply`, the server); training runs `NearestUpsampling`
/// and `Convolution`, which this matches (`EngineTests`).
final class UpsamplingConvolution {
    let outputShape: [Int]
    /// The phases' grid, and the output they are interleaved into.
    let phases: Memory
    let output: Memory
    private let convolution: Convolution
    /// One reorder, run four times: from each phase's part of the grid to every other row and column of the output.
    private let interleave: Reorder
    private let views: [(phase: Memory, output: Memory)]

    /// - Parameter memory: where to put an activation of a layout, away from the memories given.
    /// - Returns: nil where oneDNN's layout for the phases is not one the interleaving handles (channels in whole
    ///   blocks of 8 or 16, or position-major), or for a batch.
    init?(inputShape: [Int], weights: Tensor, bias: Tensor, precision: Precision, sourceLayout: MemoryDescriptor,
          memory: (MemoryDescriptor, _ avoiding: [Memory]) throws -> Memory) throws {
        let (n, h, w, out) = (inputShape[0], inputShape[2], inputShape[3], weights.shape[0])
        precondition(weights.shape[2] == 3 && weights.shape[3] == 3, "an upsampling convolution's kernel is 3x3")
        convolution = try Convolution(inputShape: inputShape, weights: Self.phaseKernels(weights), bias: Self.phaseBias(bias),
                                      padding: 1, fusedReLU: false, precision: precision, sourceLayout: sourceLayout)
        let grid = convolution.destinationLayout, type = grid.data_type
        outputShape = [n, out, 2 * h, 2 * w]
        guard n == 1, let (tag, block) = grid.channelBlocking, out % block == 0 else { return nil }
        let outputLayout = MemoryDescriptor.tagged(outputShape, tag, type)
        let phases = try memory(grid, [])
        let output = try memory(outputLayout, [phases])
        (self.phases, self.output) = (phases, output)
        // Both sides as [channel blocks, i, j, channel in block]. Phase (a, b) is the grid's channel group 2a + b from
        // row a and column b on, and the output's rows 2i + a and columns 2j + b.
        let dims = [out / block, h, w, block]
        let (from, to) = (grid.strides, outputLayout.strides)
        let phaseLayout = MemoryDescriptor.strided(dims, strides: [from[1], from[2], from[3], 1], type)
        let outputPart = MemoryDescriptor.strided(dims, strides: [to[1], 2 * to[2], 2 * to[3], 1], type)
        interleave = try Reorder(from: phaseLayout, to: outputPart)
        views = try [(0, 0), (0, 1), (1, 0), (1, 1)].map { a, b in
            let group = (2 * a + b) * out / block * from[1]
            return (try Memory(phaseLayout, viewing: phases, offset: group + a * from[2] + b * from[3]),
                    try Memory(outputPart, viewing: output, offset: a * to[2] + b * to[3]))
        }
    }

    var sourceLayout: MemoryDescriptor { convolution.sourceLayout }
    var destinationLayout: MemoryDescriptor { output.descriptor }
    var implementation: String { convolution.forwardImplementation }

    /// Runs the layer on `source` (in `sourceLayout`) into `output`.
    func forward(_ source: Memory) {
        convolution.forward(source, into: phases)
        for (phase, part) in views { interleave(phase, into: part) }
    }

    func setParameters(weights: Tensor, bias: Tensor) throws {
        try convolution.setParameters(weights: Self.phaseKernels(weights), bias: Self.phaseBias(bias))
    }

    /// The four phases' 2x2 kernels [4 * out, in, 2, 2] (phase 2a + b: row parity a, column parity b) of a 3x3 kernel
    /// [out, in, 3, 3]: along each axis, taps (w0, w1 + w2) for an even output position, (w0 + w1, w2) for an odd one.
    static func phaseKernels(_ weights: Tensor) -> Tensor {
        let (out, input) = (weights.shape[0], weights.shape[1])
        let taps = [[[0], [1, 2]], [[0, 1], [2]]]  // [parity][2x2 tap]: the 3x3 taps it sums
        var kernels = [Float](repeating: 0, count: 4 * out * input * 4)
        for a in 0..<2 { for b in 0..<2 { for o in 0..<out { for i in 0..<input { for y in 0..<2 { for x in 0..<2 {
            var sum: Float = 0
            for ky in taps[a][y] { for kx in taps[b][x] { sum += weights.scalars[((o * input + i) * 3 + ky) * 3 + kx] } }
            kernels[((((2 * a + b) * out + o) * input + i) * 2 + y) * 2 + x] = sum
        } } } } } }
        return Tensor(shape: [4 * out, input, 2, 2], scalars: kernels)
    }

    /// Every phase has the layer's bias.
    private static func phaseBias(_ bias: Tensor) -> Tensor {
        Tensor(shape: [4 * bias.count], scalars: Array([[Float]](repeating: bias.scalars, count: 4).joined()))
    }
}
