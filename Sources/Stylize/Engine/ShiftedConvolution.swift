import CDNNL

/// A stride-1 9x9 convolution with few channels on one side (an image's three), run as a 3x3 convolution whose taps
/// lie 3 pixels apart (dilation 3) over the nine 1-pixel shifts of those few channels.
///
/// Tap a = 3i + p (i, p in 0...2) of the 9x9 kernel reads the input 3(i - 1) + (p - 1) pixels from the output pixel.
/// So shift channel c of the input by (p - 1, q - 1) into channel 9c + 3p + q of "the shifts", and tap (3i + p, 3j + q)
/// of the kernel becomes tap (i, j) of a 3x3 kernel over the shifts, dilated by 3. The shifts cover one row and column
/// more than the input on every side (the 3x3 convolution's zero padding, 2, must hide only pixels that are zero for
/// the 9x9 one too) and have their channels padded with zeros to a multiple of 16.
///
/// - `.input` shifts the layer's input (few input channels, the style networks' first layer): the shifts, then the
///   dilated convolution.
/// - `.output` runs a layer with few output channels (the last layer) as the transpose of that: the dilated
///   convolution's backward-data kernel from the layer's input to the shifts of the output, each output pixel the
///   sum of its nine shifts, plus the bias. The weights are the layer's turned and swapped, as in
///   `TransposedConvolution`.
///
/// Why: on AVX2, oneDNN has no direct kernel for a 9x9 convolution from or to 3 channels. It runs the first layer by
/// im2col + gemm (about 30 GFLOP/s, in a plain layout that the next layer's kernel must reorder out of) and the last
/// as `TransposedConvolution`'s backward-data kernel (about 40); its direct kernels run the dilated 3x3 ones at
/// 150-190, in the next layers' blocked layout, for a third more multiplications (27 channels padded to 32, 3x3 taps).
/// The shifts are plain loops over memory. In bf16 the last layer has a direct kernel, but one that pads the 3 output
/// channels to 16, so that the matrix units do five times the work: 34-105 ms per pass at 1120x1120 on an Intel Xeon
/// with AMX, against 21-52 ms for the dilated kernel and the sum of the shifts, there a 3x3 convolution whose weights
/// are 0 or 1 (the loops read float32 only). Forward passes only (`apply`, the server); training keeps `Convolution`
/// and `TransposedConvolution`, which this matches (`EngineTests`).
final class ShiftedConvolution {
    enum Shifted { case input, output }

    let shifted: Shifted
    let inputShape: [Int]
    let outputShape: [Int]
    /// The layout it reads its input in: plain for `.input`, the given one for `.output`.
    let sourceLayout: MemoryDescriptor
    /// Its output: in the dilated kernel's layout for `.input`, plain for `.output`.
    let output: Memory
    private let shifts: Memory
    private let dilated: Convolution
    /// bf16 `.output`: the sum of the shifts as a convolution (`summingWeights`), plus the layer's bias.
    private let summing: Convolution?
    /// The layer's bias, which `.output` adds after summing the shifts.
    private var bias: [Float]
    /// The few channels' count and the shifts' layout: value (k, y, x) lies at (k / block)·strides[1] + k % block +
    /// y·strides[2] + x·strides[3].
    private let few: Int
    private let block: Int
    private let strides: [Int]

    /// - Parameters:
    ///   - inputShape: the 9x9 layer's input, [1, C, H, W].
    ///   - weights, bias: the layer's, [O, C, 9, 9] and [O]; C (`.input`) or O (`.output`) at most 7.
    ///   - precision: fp32, or bf16 for `.output` (the shift loops write float32).
    ///   - sourceLayout: for `.output`, the layout its input comes in (channels in blocks or position-major); the
    ///     dilated kernel takes it as it is, and the shifts come in the same kind of layout.
    ///   - memory: where to put an activation of a layout, away from the memories given.
    /// - Returns: nil where oneDNN runs the dilated convolution (or the sum) by a fallback kernel (gemm or a reference
    ///   loop) or in other layouts than these loops handle.
    init?(_ shifted: Shifted, inputShape: [Int], weights: Tensor, bias: Tensor, precision: Precision = .fp32,
          sourceLayout: MemoryDescriptor? = nil, memory: (MemoryDescriptor, _ avoiding: [Memory]) throws -> Memory) throws {
        let (n, h, w) = (inputShape[0], inputShape[2], inputShape[3])
        let (outputs, inputs) = (weights.shape[0], weights.shape[1])
        precondition(weights.shape[2] == 9 && weights.shape[3] == 9 && inputs == inputShape[1], "a 9x9 convolution")
        few = shifted == .input ? inputs : outputs
        guard n == 1, few <= 7, shifted == .output || precision == .fp32 else { return nil }
        self.shifted = shifted
        self.inputShape = inputShape
        outputShape = [1, outputs, h, w]
        self.bias = bias.scalars
        let shiftsShape = [1, (9 * few + 15) / 16 * 16, h + 2, w + 2]
        let (dilatedWeights, dilatedBias) = Self.dilatedParameters(shifted, weights: weights, bias: bias, channels: shiftsShape[1])
        switch shifted {
        case .input:
            self.sourceLayout = .plain(inputShape)
            dilated = try Convolution(inputShape: shiftsShape, weights: dilatedWeights, bias: dilatedBias, padding: 2,
                                      dilation: 3, fusedReLU: false)
            summing = nil
        case .output:
            guard let sourceLayout, let tag = sourceLayout.channelBlocking?.tag else { return nil }
            self.sourceLayout = sourceLayout
            dilated = try Convolution(inputShape: shiftsShape, weights: dilatedWeights, bias: dilatedBias, padding: 2,
                                      dilation: 3, fusedReLU: false, precision: precision,
                                      sourceLayout: .tagged(shiftsShape, tag, precision.dataType), destinationLayout: sourceLayout)
            guard try dilated.inputGradientLayout().sameLayout(as: dilated.sourceLayout) else { return nil }
            summing = precision == .fp32 ? nil
                : try Convolution(inputShape: shiftsShape, weights: Self.summingWeights(outputs: few, channels: shiftsShape[1]),
                                  bias: bias, padding: 0, fusedReLU: false, precision: precision, sourceLayout: dilated.sourceLayout)
        }
        let kernels = [shifted == .input ? dilated.forwardImplementation : try dilated.backwardDataImplementation()]
            + (summing.map { [$0.forwardImplementation] } ?? [])
        guard !kernels.contains(where: { $0.hasPrefix("ref") || $0.contains("gemm") }),
              let block = dilated.sourceLayout.channelBlocking?.block else { return nil }
        self.block = block
        strides = dilated.sourceLayout.strides
        shifts = try memory(dilated.sourceLayout, [])
        output = try memory(shifted == .input ? dilated.destinationLayout : summing?.destinationLayout ?? .plain(outputShape), [shifts])
    }

    /// The layout it writes its output in.
    var destinationLayout: MemoryDescriptor { output.descriptor }

    /// The dilated convolution's kernel, e.g. "jit:avx2".
    var implementation: String {
        shifted == .input ? dilated.forwardImplementation : (try? dilated.backwardDataImplementation()) ?? "unavailable"
    }

    func setParameters(weights: Tensor, bias: Tensor) throws {
        let (dilatedWeights, dilatedBias) = Self.dilatedParameters(shifted, weights: weights, bias: bias,
                                                                   channels: dilated.inputShape[1])
        try dilated.setParameters(weights: dilatedWeights, bias: dilatedBias)
        try summing?.setParameters(weights: Self.summingWeights(outputs: few, channels: dilated.inputShape[1]), bias: bias)
        self.bias = bias.scalars
    }

    /// The dilated convolution's weights and bias: for `.input`, the layer's kernel split over the shifts, and its
    /// bias; for `.output`, the transpose's kernel (the layer's turned and swapped, as in `TransposedConvolution`)
    /// split, and no bias (the loop adds the layer's).
    private static func dilatedParameters(_ shifted: Shifted, weights: Tensor, bias: Tensor, channels: Int) -> (Tensor, Tensor) {
        switch shifted {
        case .input: (split(weights, channels: channels), bias)
        case .output: (split(TransposedConvolution.opposite(weights), channels: channels), Tensor(zeros: [weights.shape[1]]))
        }
    }

    /// Runs the layer on `source` (in `sourceLayout`) into `output`.
    func forward(_ source: Memory) {
        switch shifted {
        case .input:
            shift(source)
            dilated.forward(shifts, into: output)
        case .output:
            // Its kernel was built in `init` (`inputGradientLayout`), so this cannot throw.
            try! dilated.backwardData(source, into: shifts)
            if let summing { summing.forward(shifts, into: output) } else { sumShifts() }
        }
    }

    /// A 9x9 kernel [O, C, 9, 9] as the 3x3 kernel [O, channels, 3, 3] over the shifts: tap (3i + p, 3j + q) of input
    /// channel c is tap (i, j) of shift channel 9c + 3p + q; the padding channels' taps are zero.
    static func split(_ weights: Tensor, channels: Int) -> Tensor {
        let (outputs, inputs) = (weights.shape[0], weights.shape[1])
        var kernel = [Float](repeating: 0, count: outputs * channels * 9)
        for o in 0..<outputs { for c in 0..<inputs { for p in 0..<3 { for q in 0..<3 { for i in 0..<3 { for j in 0..<3 {
            let tap = ((o * inputs + c) * 9 + 3 * i + p) * 9 + 3 * j + q
            kernel[((o * channels + 9 * c + 3 * p + q) * 3 + i) * 3 + j] = weights.scalars[tap]
        } } } } } }
        return Tensor(shape: [outputs, channels, 3, 3], scalars: kernel)
    }

    /// `sumShifts` as a 3x3 convolution without padding, [O, channels, 3, 3]: output channel c takes shift channel
    /// 9c + 3p + q at tap (2 - p, 2 - q), which reads it at (y + 2 - p, x + 2 - q), with weight 1.
    static func summingWeights(outputs: Int, channels: Int) -> Tensor {
        var kernel = [Float](repeating: 0, count: outputs * channels * 9)
        for c in 0..<outputs { for p in 0..<3 { for q in 0..<3 {
            kernel[((c * channels + 9 * c + 3 * p + q) * 3 + 2 - p) * 3 + 2 - q] = 1
        } } }
        return Tensor(shape: [outputs, channels, 3, 3], scalars: kernel)
    }

    /// Shift channel 9c + 3p + q at (y, x) is the plain input's channel c at (y + p - 2, x + q - 2), 0 outside it.
    /// One task per block of channels and row, so that a row's lanes are written while it is in the cache.
    private func shift(_ source: Memory) {
        let (h, w) = (inputShape[2], inputShape[3]), (rows, columns) = (h + 2, w + 2)
        let (blocks, used) = ((dilated.inputShape[1] + block - 1) / block, 9 * few)
        nonisolated(unsafe) let (from, to) = (source.pointer, shifts.pointer)
        let (block, strides) = (block, strides)
        inParallel(blocks * rows, least: 8) { tasks in
            for task in tasks {
                let (b, y) = task.quotientAndRemainder(dividingBy: rows)
                for lane in 0..<block {
                    let k = b * block + lane, row = to + b * strides[1] + lane + y * strides[2]
                    let (c, shift) = k.quotientAndRemainder(dividingBy: 9)
                    let (p, q) = shift.quotientAndRemainder(dividingBy: 3)
                    let sourceRow = y + p - 2
                    guard k < used, sourceRow >= 0, sourceRow < h else {
                        for x in 0..<columns { row[x * strides[3]] = 0 }
                        continue
                    }
                    let line = from + (c * h + sourceRow) * w
                    for x in 0..<columns {
                        let sourceColumn = x + q - 2
                        row[x * strides[3]] = sourceColumn >= 0 && sourceColumn < w ? line[sourceColumn] : 0
                    }
                }
            }
        }
    }

    /// The transpose of `shift`: output channel c at (y, x) is its bias plus the sum, over p and q, of shift channel
    /// 9c + 3p + q at (y + 2 - p, x + 2 - q).
    private func sumShifts() {
        let (h, w) = (outputShape[2], outputShape[3])
        nonisolated(unsafe) let (from, to) = (shifts.pointer, output.pointer)
        let (block, strides, bias) = (block, strides, bias)
        inParallel(few * h, least: 8) { tasks in
            for task in tasks {
                let (c, y) = task.quotientAndRemainder(dividingBy: h)
                let line = to + task * w
                for x in 0..<w { line[x] = bias[c] }
                for p in 0..<3 {
                    for q in 0..<3 {
                        let k = 9 * c + 3 * p + q
                        let row = from + (k / block) * strides[1] + k % block + (y + 2 - p) * strides[2]
                            + (2 - q) * strides[3]
                        for x in 0..<w { line[x] += row[x * strides[3]] }
                    }
                }
            }
        }
    }
}
