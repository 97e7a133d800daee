import CDNNL

/// A stride-1 9x9 convolution with few channels on one side (an image's three), run as a 3x3 convolution whose taps
/// lie 3 pixels apart (dilation 3) over the nine 1-pixel shifts of those few channels, a band of rows at a time.
///
/// Tap a = 3i + p (i, p in 0...2) of the 9x9 kernel reads the input 3(i - 1) + (p - 1) pixels from the output pixel.
/// So shift channel c of the input by (p - 1, q - 1) into channel 9c + 3p + q of "the shifts" (padded with zero
/// channels to a multiple of 16), and tap (3i + p, 3j + q) of the kernel becomes tap (i, j) of a 3x3 kernel over the
/// shifts, dilated by 3 (`split`).
///
/// - `.input` (few input channels, the style networks' first layer): a band of the shifts, with the rows and columns
///   the dilated kernel reaches beyond the band written out (zero outside the image), then the dilated convolution
///   without padding, whose output is copied into the band's rows of the layer's output.
/// - `.output` (few output channels, the last layer) runs the transpose of that: the dilated convolution from the
///   band's input rows (and the 4 rows and columns around them, zero outside the image) to the shifts of the
///   band's output, whose pixels are each the sum of their nine shifts, plus the bias.
///
/// Why: on AVX2, oneDNN has no direct kernel for a 9x9 convolution from or to 3 channels. It runs the first layer by
/// im2col + gemm (about 30 GFLOP/s, in a plain layout that the next layer's kernel must reorder out of) and the last
/// as `TransposedConvolution`'s backward-data kernel (about 40); its direct kernels run the dilated 3x3 ones at
/// 150-190, in the next layers' blocked layout, for a third more multiplications (27 channels padded to 32). Bands
/// keep the shifts, 9 times the few channels, from ever being whole: they stay in the cache, and no memory is touched
/// for them (a fresh page costs its zeroing). Forward passes only (`apply`, the server); training keeps `Convolution`
/// and `TransposedConvolution`, which this matches (`EngineTests`).
final class ShiftedConvolution {
    enum Shifted { case input, output }

    /// The output rows of a band: its buffers are then a few MB at the widths photos have.
    static let bandRows = 64

    let shifted: Shifted
    let inputShape: [Int]
    let outputShape: [Int]
    /// The layout it reads its input in: plain for `.input`; for `.output`, the one it was given.
    let sourceLayout: MemoryDescriptor
    /// Its output: in the dilated kernel's channel blocks for `.input`, plain for `.output`.
    let output: Memory

    /// The dilated convolution for a band height, and what it reads and writes (each at the start of a buffer that
    /// every band height shares).
    private struct Kernel {
        let convolution: Convolution
        let source: Memory
        let destination: Memory
    }

    /// One band of output rows and its kernel. `copy` moves, for `.input`, the kernel's output into `view`, the band's
    /// rows of `output`; for `.output`, the band's input rows and the 4 on either side within the image, `inputRows`,
    /// into `view`, where they go in the kernel's source (4 rows and columns in from its corner).
    private struct Band {
        let rows: Range<Int>
        let kernel: Kernel
        let copy: Reorder
        let view: Memory
        let inputRows: Range<Int>
    }

    private let bands: [Band]
    /// The bands' convolutions: one for `bandRows` and one for the last band's, when it is shorter.
    private let convolutions: [Convolution]
    private let channels: (few: Int, shifts: Int)
    /// The layer's bias, which `.output` adds after summing the shifts.
    private var bias: [Float]

    /// - Parameters:
    ///   - inputShape: the 9x9 layer's input, [1, C, H, W].
    ///   - weights, bias: the layer's, [O, C, 9, 9] and [O]; C (`.input`) or O (`.output`) at most 7.
    ///   - sourceLayout: for `.output`, the layout its input comes in.
    ///   - memory: where to put an activation of a layout, away from the memories given.
    /// - Returns: nil where oneDNN runs the dilated convolution by a fallback kernel (gemm or a reference loop), or
    ///   keeps the shifts in a layout these loops do not read and write (they take channels in whole blocks, or
    ///   position-major).
    init?(_ shifted: Shifted, inputShape: [Int], weights: Tensor, bias: Tensor, sourceLayout: MemoryDescriptor? = nil,
          memory: (MemoryDescriptor, _ avoiding: [Memory]) throws -> Memory) throws {
        let (n, h, w) = (inputShape[0], inputShape[2], inputShape[3])
        let (outputs, inputs) = (weights.shape[0], weights.shape[1])
        precondition(weights.shape[2] == 9 && weights.shape[3] == 9 && inputs == inputShape[1], "a 9x9 convolution")
        let few = shifted == .input ? inputs : outputs
        guard n == 1, few <= 7, shifted == .input || sourceLayout?.rowStride != nil else { return nil }
        let shifts = (9 * few + 15) / 16 * 16
        channels = (few, shifts)
        self.shifted = shifted
        self.inputShape = inputShape
        outputShape = [1, outputs, h, w]
        self.bias = bias.scalars
        self.sourceLayout = shifted == .input ? .plain(inputShape) : sourceLayout!
        let (dilatedWeights, dilatedBias) = Self.dilatedParameters(shifted, weights: weights, bias: bias, shifts: shifts)

        // A band of `rows` output rows: for `.input`, its shifts (3 rows and columns more on every side) to its rows;
        // for `.output`, its input rows (4 more on every side) to its shifts (1 more).
        func sourceShape(rows: Int) -> [Int] {
            shifted == .input ? [1, shifts, rows + 6, w + 6] : [1, inputs, rows + 8, w + 8]
        }
        let heights = Set([min(h, Self.bandRows), h % Self.bandRows]).filter { $0 > 0 }.sorted(by: >)
        let convolutions = try heights.map { rows in
            try Convolution(inputShape: sourceShape(rows: rows), weights: dilatedWeights, bias: dilatedBias, padding: 0,
                            dilation: 3, fusedReLU: false)
        }
        for convolution in convolutions {
            let shiftsLayout = shifted == .input ? convolution.sourceLayout : convolution.destinationLayout
            guard !convolution.forwardImplementation.hasPrefix("ref"), !convolution.forwardImplementation.contains("gemm"),
                  shiftsLayout.channelBlocking != nil, convolution.sourceLayout.rowStride != nil else { return nil }
        }
        let buffers = (source: Buffer(byteCount: convolutions[0].sourceLayout.byteCount),
                       destination: Buffer(byteCount: convolutions[0].destinationLayout.byteCount))
        let kernels = Dictionary(uniqueKeysWithValues: try zip(heights, convolutions).map { rows, convolution in
            (rows, Kernel(convolution: convolution, source: try Memory(convolution.sourceLayout, in: buffers.source),
                          destination: try Memory(convolution.destinationLayout, in: buffers.destination)))
        })

        let outputLayout: MemoryDescriptor = shifted == .input
            ? .tagged(outputShape, kernels[heights[0]]!.convolution.destinationLayout.channelBlocking!.tag, dnnl_f32)
            : .plain(outputShape)
        let output = try memory(outputLayout, [])
        bands = try stride(from: 0, to: h, by: Self.bandRows).map { top in
            let rows = top..<min(h, top + Self.bandRows)
            let kernel = kernels[rows.count]!
            switch shifted {
            case .input:
                let view = try output.window(rows: rows, columns: 0..<w)
                return Band(rows: rows, kernel: kernel, copy: try Reorder(from: kernel.destination.descriptor, to: view.descriptor),
                            view: view, inputRows: rows)
            case .output:
                let inputRows = max(0, top - 4)..<min(h, rows.upperBound + 4)
                let view = try kernel.source.window(rows: (inputRows.lowerBound - (top - 4))..<(inputRows.upperBound - (top - 4)),
                                                    columns: 4..<(w + 4))
                let from = try sourceLayout!.window(rows: inputRows.count, columns: w)
                return Band(rows: rows, kernel: kernel, copy: try Reorder(from: from, to: view.descriptor), view: view,
                            inputRows: inputRows)
            }
        }
        self.output = output
        self.convolutions = convolutions
    }

    /// The layout it writes its output in.
    var destinationLayout: MemoryDescriptor { output.descriptor }

    /// The dilated convolution's kernel, e.g. "jit:avx2".
    var implementation: String { convolutions[0].forwardImplementation }

    func setParameters(weights: Tensor, bias: Tensor) throws {
        let (dilatedWeights, dilatedBias) = Self.dilatedParameters(shifted, weights: weights, bias: bias, shifts: channels.shifts)
        for convolution in convolutions { try convolution.setParameters(weights: dilatedWeights, bias: dilatedBias) }
        self.bias = bias.scalars
    }

    /// The dilated convolution's weights and bias: for `.input`, the layer's kernel split (and its bias); for
    /// `.output`, the transpose's kernel (the layer's turned and swapped, as in `TransposedConvolution`) split, then
    /// turned and swapped back, since it runs forward here, from the layer's input to the shifts; no bias.
    private static func dilatedParameters(_ shifted: Shifted, weights: Tensor, bias: Tensor, shifts: Int) -> (Tensor, Tensor) {
        switch shifted {
        case .input: (split(weights, channels: shifts), bias)
        case .output:
            (TransposedConvolution.opposite(split(TransposedConvolution.opposite(weights), channels: shifts)), Tensor(zeros: [shifts]))
        }
    }

    /// A 9x9 kernel [O, C, 9, 9] as the 3x3 kernel [O, channels, 3, 3] over the shifts: tap (3i + p, 3j + q) of input
    /// channel c is tap (i, j) of shift channel 9c + 3p + q; the padding channels' taps are zero.
    static func split(_ weights: Tensor, channels: Int) -> Tensor {
        let (outputs, inputs) = (weights.shape[0], weights.shape[1])
        var kernel = [Float](repeating: 0, count: outputs * channels * 9)
        for o in 0..<outputs { for c in 0..<inputs { for p in 0..<3 { for q in 0..<3 { for i in 0..<3 { for j in 0..<3 {
            kernel[((o * channels + 9 * c + 3 * p + q) * 3 + i) * 3 + j] = weights.scalars[((o * inputs + c) * 9 + 3 * i + p) * 9 + 3 * j + q]
        } } } } } }
        return Tensor(shape: [outputs, channels, 3, 3], scalars: kernel)
    }

    /// Runs the layer on `source` (in `sourceLayout`) into `output`, a band of rows at a time.
    func forward(_ source: Memory) {
        for band in bands {
            let kernel = band.kernel
            switch shifted {
            case .input:
                shift(source, rows: band.rows, into: kernel.source)
                kernel.convolution.forward(kernel.source, into: kernel.destination)
                band.copy(kernel.destination, into: band.view)
            case .output:
                // Where the band's input rows with their margins reach beyond the image, the kernel's source must hold
                // zeros, the padding they stand for, not the rows another band left there. (Its margin columns are
                // never written.)
                if band.inputRows.count != band.rows.count + 8 { kernel.source.zero() }
                // A view of a memory at an offset inside it: oneDNN only records the address.
                band.copy(try! source.window(rows: band.inputRows, columns: 0..<inputShape[3]), into: band.view)
                kernel.convolution.forward(kernel.source, into: kernel.destination)
                sumShifts(kernel.destination, rows: band.rows)
            }
        }
    }

    /// Rows `rows` of the shifts, with 3 rows and columns more on every side: shift channel 9c + 3p + q at band row r
    /// and column x is the plain input's channel c at (rows.lowerBound + r + p - 4, x + q - 4), 0 outside it. One task
    /// per block of channels and row, so that a row's lanes are written while it is in the cache.
    private func shift(_ source: Memory, rows: Range<Int>, into shifts: Memory) {
        let (h, w) = (inputShape[2], inputShape[3])
        let layout = shifts.descriptor, (bandRows, columns) = (layout.shape[2], layout.shape[3])
        let block = layout.channelBlocking!.block, strides = layout.strides
        let (blocks, used, top) = ((layout.shape[1] + block - 1) / block, 9 * channels.few, rows.lowerBound)
        nonisolated(unsafe) let (from, to) = (source.pointer, shifts.pointer)
        inParallel(blocks * bandRows, least: 8) { tasks in
            for task in tasks {
                let (b, r) = task.quotientAndRemainder(dividingBy: bandRows)
                for lane in 0..<block {
                    let k = b * block + lane, row = to + b * strides[1] + lane + r * strides[2]
                    let (c, shift) = k.quotientAndRemainder(dividingBy: 9), (p, q) = shift.quotientAndRemainder(dividingBy: 3)
                    let sourceRow = top + r + p - 4
                    guard k < used, sourceRow >= 0, sourceRow < h else {
                        for x in 0..<columns { row[x * strides[3]] = 0 }
                        continue
                    }
                    let line = from + (c * h + sourceRow) * w
                    for x in 0..<columns {
                        let sourceColumn = x + q - 4
                        row[x * strides[3]] = sourceColumn >= 0 && sourceColumn < w ? line[sourceColumn] : 0
                    }
                }
            }
        }
    }

    /// The transpose of `shift`, into rows `rows` of the output: channel c at (y, x) is its bias plus the sum, over p
    /// and q, of shift channel 9c + 3p + q at band row y - rows.lowerBound + 2 - p and column x + 2 - q.
    private func sumShifts(_ shifts: Memory, rows: Range<Int>) {
        let (h, w) = (outputShape[2], outputShape[3])
        let layout = shifts.descriptor, block = layout.channelBlocking!.block, strides = layout.strides
        nonisolated(unsafe) let (from, to) = (shifts.pointer, output.pointer)
        let (bias, top, count) = (bias, rows.lowerBound, rows.count)
        inParallel(channels.few * count, least: 8) { tasks in
            for task in tasks {
                let (c, r) = task.quotientAndRemainder(dividingBy: count)
                let line = to + (c * h + top + r) * w
                for x in 0..<w { line[x] = bias[c] }
                for p in 0..<3 {
                    for q in 0..<3 {
                        let k = 9 * c + 3 * p + q
                        let row = from + (k / block) * strides[1] + k % block + (r + 2 - p) * strides[2] + (2 - q) * strides[3]
                        for x in 0..<w { line[x] += row[x * strides[3]] }
                    }
                }
            }
        }
    }
}
