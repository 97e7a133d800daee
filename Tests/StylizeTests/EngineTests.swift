import CDNNL
import Synchronization
import XCTest
@testable import Stylize

/// Every engine layer's forward and backward against a naive double-precision loop (llm.c style).
final class EngineTests: XCTestCase, RandomTensors {
    var random = SeededGenerator(seed: 7)

    /// out[n,o,y,x] = b[o] + Σ w[o,i,ky,kx] · in[n,i,y·s+ky−p, x·s+kx−p]
    func naiveConvolution(_ input: Tensor, _ weights: Tensor, _ bias: Tensor, stride: Int, padding: Int) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (o, k) = (weights.shape[0], weights.shape[2])
        let (oh, ow) = ((h + 2 * padding - k) / stride + 1, (w + 2 * padding - k) / stride + 1)
        var out = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for f in 0..<o { for y in 0..<oh { for x in 0..<ow {
            var sum = Double(bias.scalars[f])
            for i in 0..<c { for ky in 0..<k { for kx in 0..<k {
                let (iy, ix) = (y * stride + ky - padding, x * stride + kx - padding)
                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                sum += Double(weights.scalars[((f * c + i) * k + ky) * k + kx]) * Double(input.scalars[((b * c + i) * h + iy) * w + ix])
            }}}
            out[((b * o + f) * oh + y) * ow + x] = Float(sum)
        }}}}
        return Tensor(shape: [n, o, oh, ow], scalars: out)
    }

    func assertClose(_ a: [Float], _ b: [Float], relative: Float = 1e-4, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 1, 1e-6)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst / scale, relative, "\(message): worst difference \(worst) at scale \(scale)", file: file, line: line)
    }

    /// Runs a convolution through the engine: forward, and the gradients for a given output gradient.
    func engineConvolution(_ input: Tensor, _ weights: Tensor, _ bias: Tensor, stride: Int, padding: Int, relu: Bool,
                           outputGradient: Tensor, algorithm: ConvolutionAlgorithm = .direct)
        throws -> (output: Tensor, input: Tensor, weights: Tensor, bias: Tensor) {
        let conv = try Convolution(inputShape: input.shape, weights: weights, bias: bias, stride: stride, padding: padding,
                                   fusedReLU: relu, algorithm: algorithm)
        let plainInput = try Memory(.plain(input.shape))
        plainInput.load(input.scalars)
        let source = try Memory(conv.sourceLayout)
        try Reorder(from: plainInput.descriptor, to: source.descriptor)(plainInput, into: source)
        let output = try conv.makeOutput()
        conv.forward(source, into: output)
        let plainOut = try Memory(.plain(conv.outputShape))
        try Reorder(from: output.descriptor, to: plainOut.descriptor)(output, into: plainOut)
        let gradient = try Memory(conv.destinationLayout)
        let plainGradient = try Memory(.plain(conv.outputShape))
        plainGradient.load(outputGradient.scalars)
        try Reorder(from: plainGradient.descriptor, to: gradient.descriptor)(plainGradient, into: gradient)
        if relu { try ReLUBackward(layout: conv.destinationLayout)(output: output, gradient: gradient) }
        let inputGradient = try Memory(conv.inputGradientLayout())
        try conv.backwardData(gradient, into: inputGradient)
        try Reorder(from: inputGradient.descriptor, to: plainInput.descriptor)(inputGradient, into: plainInput)
        let (dW, dB) = try conv.backwardWeights(source: source, outputGradient: gradient)
        return (Tensor(shape: conv.outputShape, scalars: plainOut.scalars()),
                Tensor(shape: input.shape, scalars: plainInput.scalars()), dW, dB)
    }

    /// The loops outside oneDNN run on its OpenMP threads: every index exactly once, results in order.
    func testParallelLoopsCoverEveryIndexOnce() {
        let previous = DNNL.threads
        defer { DNNL.setThreads(previous) }
        for threads in [1, 2, 3] {
            DNNL.setThreads(threads)
            let visits = Mutex([Int](repeating: 0, count: 10_001))
            inParallel(10_001, least: 100) { range in visits.withLock { for i in range { $0[i] += 1 } } }
            XCTAssertEqual(visits.withLock { $0 }, [Int](repeating: 1, count: 10_001), "\(threads) threads")
            let items = Array(0..<37)
            XCTAssertEqual(parallelMap(items) { "\($0 * $0)" }, items.map { "\($0 * $0)" }, "\(threads) threads")
        }
    }

    func testConvolutionForwardAndBackwardMatchNaiveLoops() throws {
        for (stride, padding, relu) in [(1, 1, false), (1, 1, true), (2, 1, false), (1, 0, false)] {
            let input = randomTensor([2, 5, 9, 7])
            let weights = randomTensor([6, 5, 3, 3]), bias = randomTensor([6])
            let reference = naiveConvolution(input, weights, bias, stride: stride, padding: padding)
            let outputGradient = randomTensor(reference.shape)
            let result = try engineConvolution(input, weights, bias, stride: stride, padding: padding, relu: relu,
                                               outputGradient: outputGradient)
            let expectedOutput = relu ? reference.scalars.map { max($0, 0) } : reference.scalars
            assertClose(result.output.scalars, expectedOutput, "forward s\(stride) p\(padding) relu \(relu)")

            // The gradient of L = Σ out · G is the backward pass of G; check it by central differences on L.
            let maskedGradient = Tensor(shape: reference.shape, scalars: zip(outputGradient.scalars, reference.scalars).map {
                relu && $1 <= 0 ? 0 : $0 })
            func loss(_ i: Tensor, _ w: Tensor, _ b: Tensor) -> Double {
                let out = naiveConvolution(i, w, b, stride: stride, padding: padding)
                return zip(out.scalars, maskedGradient.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            let epsilon: Float = 1e-2
            for _ in 0..<6 {
                let at = Int(random.next() % UInt64(input.count))
                var plus = input, minus = input
                plus.scalars[at] += epsilon; minus.scalars[at] -= epsilon
                let numeric = (loss(plus, weights, bias) - loss(minus, weights, bias)) / Double(2 * epsilon)
                XCTAssertEqual(Double(result.input.scalars[at]), numeric, accuracy: 1e-3 * max(1, abs(numeric)), "dInput")
                let wAt = Int(random.next() % UInt64(weights.count))
                var wPlus = weights, wMinus = weights
                wPlus.scalars[wAt] += epsilon; wMinus.scalars[wAt] -= epsilon
                let wNumeric = (loss(input, wPlus, bias) - loss(input, wMinus, bias)) / Double(2 * epsilon)
                XCTAssertEqual(Double(result.weights.scalars[wAt]), wNumeric, accuracy: 1e-3 * max(1, abs(wNumeric)), "dW")
            }
            for f in 0..<6 {
                var expected = 0.0
                let plane = reference.shape[2] * reference.shape[3]
                for b in 0..<2 { for p in 0..<plane { expected += Double(maskedGradient.scalars[(b * 6 + f) * plane + p]) } }
                XCTAssertEqual(Double(result.bias.scalars[f]), expected, accuracy: 1e-3 * max(1, abs(expected)), "dBias")
            }
        }
    }

    func testWinogradAgreesWithDirectOnVGGSizedLayer() throws {
        try TestData.requireKernel(.winograd, in: .fp32)
        let input = randomTensor([1, 64, 20, 24]), weights = randomTensor([64, 64, 3, 3], scale: 0.1), bias = randomTensor([64])
        let gradient = randomTensor([1, 64, 20, 24])
        let direct = try engineConvolution(input, weights, bias, stride: 1, padding: 1, relu: true, outputGradient: gradient)
        let winograd = try engineConvolution(input, weights, bias, stride: 1, padding: 1, relu: true, outputGradient: gradient,
                                             algorithm: .winograd)
        assertClose(winograd.output.scalars, direct.output.scalars, relative: 1e-4, "winograd forward")
        assertClose(winograd.input.scalars, direct.input.scalars, relative: 1e-4, "winograd backward data")
    }

    /// `TransposedConvolution` (the style networks' last 9x9 layer to 3 channels, run by the opposite convolution's
    /// kernels): its forward pass against the plain loop, and its input and weight gradients against `Convolution`'s
    /// (checked by central differences above), for two images, and again after new parameters.
    func testTransposedConvolutionComputesTheForwardAndBackwardPasses() throws {
        let input = randomTensor([2, 8, 11, 13])
        let transposed = try TransposedConvolution(inputShape: input.shape, weights: randomTensor([3, 8, 9, 9]),
                                                   bias: randomTensor([3]), padding: 4)
        func moved(_ memory: Memory, to layout: MemoryDescriptor) throws -> Memory {
            let result = try Memory(layout)
            try Reorder(from: memory.descriptor, to: layout)(memory, into: result)
            return result
        }
        for _ in 0..<2 {
            let weights = randomTensor([3, 8, 9, 9], scale: 0.2), bias = randomTensor([3])
            try transposed.setParameters(weights: weights, bias: bias)
            let plainInput = try Memory(.plain(input.shape))
            plainInput.load(input.scalars)
            let source = try moved(plainInput, to: transposed.sourceLayout), output = try Memory(transposed.destinationLayout)
            transposed.forward(source, into: output)
            let reference = naiveConvolution(input, weights, bias, stride: 1, padding: 4)
            assertClose(try moved(output, to: .plain(transposed.outputShape)).scalars(), reference.scalars, relative: 1e-5,
                        "9x9 from 8 channels to 3")

            let outputGradient = randomTensor(reference.shape)
            let expected = try engineConvolution(input, weights, bias, stride: 1, padding: 4, relu: false,
                                                 outputGradient: outputGradient)
            let plainGradient = try Memory(.plain(reference.shape))
            plainGradient.load(outputGradient.scalars)
            let gradient = try moved(plainGradient, to: transposed.destinationLayout)
            let inputGradient = try Memory(transposed.sourceLayout)
            try transposed.backwardData(gradient, into: inputGradient)
            assertClose(try moved(inputGradient, to: .plain(input.shape)).scalars(), expected.input.scalars, relative: 1e-5,
                        "input gradient")
            let (dW, dB) = try transposed.backwardWeights(source: source, outputGradient: gradient)
            XCTAssertEqual(dW.shape, weights.shape)
            assertClose(dW.scalars, expected.weights.scalars, relative: 1e-5, "weights' gradient")
            assertClose(dB.scalars, expected.bias.scalars, relative: 1e-5, "bias gradient")
        }
    }

    /// A forward-only layer's output, plain, for a plain input: the input moved into the layer's `sourceLayout`, the
    /// layer run, and its `output` moved back.
    func plainForward(_ input: Tensor, sourceLayout: MemoryDescriptor, output: Memory,
                      _ forward: (Memory) -> Void) throws -> [Float] {
        let plainInput = try Memory(.plain(input.shape)), plainOutput = try Memory(.plain(output.descriptor.shape))
        plainInput.load(input.scalars)
        let source = try Memory(sourceLayout)
        try Reorder(from: plainInput.descriptor, to: sourceLayout)(plainInput, into: source)
        forward(source)
        try Reorder(from: output.descriptor, to: plainOutput.descriptor)(output, into: plainOutput)
        return plainOutput.scalars()
    }

    /// A 9x9 convolution from 3 channels (`.input`) and to 3 channels (`.output`) run as a 3x3 convolution dilated by
    /// 3 over nine shifted copies (`ShiftedConvolution`), against the plain loop, on odd sides (the borders are where
    /// shifts and padding could disagree), and again after new parameters. The `.output` form takes its input in the
    /// layout its kernel wants; the test offers both channel blockings. In bf16 (`.output` only, where the CPU has
    /// bf16 kernels) a convolution sums the shifts, in the position-major layout the bf16 layers write; bf16 keeps
    /// about 3 significant digits of the input, the weights and each shift.
    func testShiftedConvolutionMatchesTheNineByNineOne() throws {
        let cases: [(ShiftedConvolution.Shifted, Int, Int, Precision, [dnnl_format_tag_t])] = [
            (.input, 3, 16, .fp32, []), (.output, 16, 3, .fp32, [dnnl_nChw8c, dnnl_nChw16c]),
            (.output, 32, 3, .bf16, Convolution.isAvailable(.direct, in: .bf16) ? [dnnl_nhwc] : []),
        ]
        for (shifted, inputs, outputs, precision, tags) in cases where shifted == .input || !tags.isEmpty {
            let input = randomTensor([1, inputs, 11, 13])
            let layouts: [MemoryDescriptor?] = shifted == .input ? [nil] : tags.map { .tagged(input.shape, $0, precision.dataType) }
            let made = try layouts.lazy.compactMap { layout in
                try ShiftedConvolution(shifted, inputShape: input.shape, weights: self.randomTensor([outputs, inputs, 9, 9]),
                                       bias: self.randomTensor([outputs]), precision: precision, sourceLayout: layout,
                                       memory: { layout, _ in try Memory(layout) })
            }.first
            guard let layer = made else { XCTFail("no shifted convolution \(shifted) \(precision) on this CPU"); continue }
            for _ in 0..<2 {
                let weights = randomTensor([outputs, inputs, 9, 9], scale: 0.2), bias = randomTensor([outputs])
                try layer.setParameters(weights: weights, bias: bias)
                let output = try plainForward(input, sourceLayout: layer.sourceLayout, output: layer.output, layer.forward)
                let reference = naiveConvolution(input, weights, bias, stride: 1, padding: 4)
                assertClose(output, reference.scalars, relative: precision == .fp32 ? 1e-5 : 2e-2,
                            "\(shifted) \(precision): \(inputs) to \(outputs) channels")
            }
        }
    }

    /// Upsampling and a 3x3 convolution in one (`UpsamplingConvolution`: the four phases' 2x2 kernels, interleaved)
    /// against the plain loop on the upsampled input, on odd sides, in channel-blocked and position-major layouts, and
    /// again after new parameters.
    func testUpsamplingConvolutionMatchesUpsamplingThenConvolution() throws {
        for (channels, out, tag) in [(16, 16, dnnl_nChw8c), (32, 16, dnnl_nChw16c), (16, 8, dnnl_nhwc)] {
            let input = randomTensor([1, channels, 5, 7])
            let (h, w) = (input.shape[2], input.shape[3])
            var upsampled = [Float](repeating: 0, count: channels * 4 * h * w)
            for c in 0..<channels { for y in 0..<(2 * h) { for x in 0..<(2 * w) {
                upsampled[(c * 2 * h + y) * 2 * w + x] = input.scalars[(c * h + y / 2) * w + x / 2]
            } } }
            let sourceLayout = MemoryDescriptor.tagged(input.shape, tag, dnnl_f32)
            guard let layer = try UpsamplingConvolution(inputShape: input.shape, weights: randomTensor([out, channels, 3, 3]),
                                                        bias: randomTensor([out]), precision: .fp32, sourceLayout: sourceLayout,
                                                        memory: { layout, _ in try Memory(layout) }) else {
                XCTFail("no upsampling convolution for \(channels) channels in layout \(tag)"); continue
            }
            for _ in 0..<2 {
                let weights = randomTensor([out, channels, 3, 3], scale: 0.2), bias = randomTensor([out])
                try layer.setParameters(weights: weights, bias: bias)
                let output = try plainForward(input, sourceLayout: layer.sourceLayout, output: layer.output, layer.forward)
                let reference = naiveConvolution(Tensor(shape: [1, channels, 2 * h, 2 * w], scalars: upsampled), weights, bias,
                                                 stride: 1, padding: 1)
                assertClose(output, reference.scalars, relative: 1e-5, "\(channels) to \(out) channels, layout \(tag)")
            }
        }
    }

    /// A kernel oneDNN lacks (here Winograd for a 5x5 layer, which it has on no CPU; bf16 ones below AVX-512) is
    /// one clear sentence that names it, the CPU and the way out, not a bare status code.
    func testMissingKernelIsNamedWithTheCPU() {
        XCTAssertThrowsError(try Convolution(inputShape: [1, 4, 9, 9], weights: Tensor(zeros: [4, 4, 5, 5]),
                                             bias: Tensor(zeros: [4]), padding: 2, fusedReLU: false, algorithm: .winograd)) {
            let message = "\($0)"
            XCTAssertTrue(message.hasPrefix("oneDNN has no convolution winograd fp32 kernel on this CPU ("), message)
            XCTAssertTrue(message.contains(Precision.cpuModel) && message.contains(Precision.dispatchedISA), message)
            XCTAssertTrue(message.hasSuffix("the auto precision and convolution settings choose only kernels it has"), message)
        }
        XCTAssertTrue(Convolution.isAvailable(.direct, in: .fp32), "float32 direct convolutions run on every CPU")
    }

    func testPoolingForwardAndBackward() throws {
        for kind in [PoolingKind.max, .avg] {
            let shape = [1, 16, 7, 9]  // odd sizes: the last row and column are dropped, as in PyTorch
            let input = randomTensor(shape)
            let pool = try Pooling(inputShape: shape, sourceLayout: .plain(shape), kind: kind)
            XCTAssertEqual(pool.outputShape, [1, 16, 3, 4])
            let source = try Memory(.plain(shape)); source.load(input.scalars)
            let output = try Memory(pool.destinationLayout)
            let workspace = try pool.makeWorkspace()
            pool.forward(source, into: output, workspace: workspace)
            let plainOut = try Memory(.plain(pool.outputShape))
            try Reorder(from: output.descriptor, to: plainOut.descriptor)(output, into: plainOut)
            let outGradient = randomTensor(pool.outputShape)
            let plainGrad = try Memory(.plain(pool.outputShape)); plainGrad.load(outGradient.scalars)
            let gradient = try Memory(pool.destinationLayout)
            try Reorder(from: plainGrad.descriptor, to: gradient.descriptor)(plainGrad, into: gradient)
            let inGradient = try Memory(.plain(shape))
            try pool.backward(gradient, into: inGradient, workspace: workspace)
            var expectedOut = [Float](), expectedIn = [Float](repeating: 0, count: input.count)
            for c in 0..<16 { for y in 0..<3 { for x in 0..<4 {
                let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { ((c * 7 + 2 * y + $0.0) * 9 + 2 * x + $0.1) }
                let g = outGradient.scalars[(c * 3 + y) * 4 + x]
                if kind == .max {
                    let winner = window.max { input.scalars[$0] < input.scalars[$1] }!
                    expectedOut.append(input.scalars[winner]); expectedIn[winner] += g
                } else {
                    expectedOut.append(window.map { input.scalars[$0] }.reduce(0, +) / 4)
                    for i in window { expectedIn[i] += g / 4 }
                }
            }}}
            assertClose(plainOut.scalars(), expectedOut, relative: 1e-6, "\(kind) forward")
            assertClose(inGradient.scalars(), expectedIn, relative: 1e-6, "\(kind) backward")
        }
    }

    func testGemmMatchesNaiveProduct() {
        let a = randomTensor([4, 6]), b = randomTensor([5, 6])
        var c = [Float](repeating: 0, count: 20)
        gemm(a.scalars, transposed: false, b.scalars, transposed: true, m: 4, n: 5, k: 6, into: &c)
        var expected = [Float]()
        for i in 0..<4 { for j in 0..<5 { expected.append((0..<6).map { a.scalars[i * 6 + $0] * b.scalars[j * 6 + $0] }.reduce(0, +)) } }
        assertClose(c, expected, relative: 1e-6, "gemm")
    }
}
