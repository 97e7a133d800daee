import Foundation
import XCTest
@testable import Stylize

/// bf16 against float32, layer by layer and for the whole Gatys pass. bf16 keeps 8 bits of mantissa, so values
/// agree to about 1e-2 relative; sums stay float32 and do not drift further.
final class PrecisionTests: XCTestCase, RandomTensors {
    var random = SeededGenerator(seed: 11)

    /// ‖a − b‖ / ‖b‖: the error of a whole tensor, which single values near zero do not dominate.
    func assertRelativeNorm(_ a: [Float], _ b: [Float], _ tolerance: Double, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let difference = zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        let norm = b.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        XCTAssertGreaterThan(norm, 0, "\(what): a zero reference proves nothing", file: file, line: line)
        XCTAssertLessThanOrEqual(difference / norm, tolerance, "\(what): relative error \(difference / norm)", file: file, line: line)
    }

    /// A convolution's forward pass, backward-data and backward-weights in one precision. Without the ReLU: a value
    /// near zero may fall on either side of it in the two formats, and its gradient is then all there or all gone,
    /// which says nothing about the kernels (`testGatysPassInBF16MatchesFloat32` sees that effect as a whole).
    func convolution(_ precision: Precision, input: Tensor, weights: Tensor, bias: Tensor, outputGradient: Tensor)
        throws -> (output: [Float], input: [Float], weights: [Float], bias: [Float]) {
        let conv = try Convolution(inputShape: input.shape, weights: weights, bias: bias, padding: 1, fusedReLU: false,
                                   precision: precision)
        func toEngine(_ tensor: Tensor, _ layout: MemoryDescriptor) throws -> Memory {
            let memory = try Memory(layout)
            try Memory.viewing(tensor.scalars, as: tensor.shape) { try Reorder(from: $0.descriptor, to: layout)($0, into: memory) }
            return memory
        }
        func toPlain(_ memory: Memory, _ shape: [Int]) throws -> [Float] {
            var scalars = [Float](repeating: 0, count: shape.reduce(1, *))
            try Memory.viewing(&scalars, as: shape) { try Reorder(from: memory.descriptor, to: $0.descriptor)(memory, into: $0) }
            return scalars
        }
        let source = try toEngine(input, conv.sourceLayout)
        let output = try conv.makeOutput()
        conv.forward(source, into: output)
        let gradient = try toEngine(outputGradient, conv.destinationLayout)
        let inputGradient = try Memory(conv.inputGradientLayout())
        try conv.backwardData(gradient, into: inputGradient)
        let (dW, dB) = try conv.backwardWeights(source: source, outputGradient: gradient)
        return (try toPlain(output, conv.outputShape), try toPlain(inputGradient, input.shape), dW.scalars, dB.scalars)
    }

    func testConvolutionInBF16MatchesFloat32() throws {
        try TestData.requireKernel(.direct, in: .bf16)
        for (channels, outputs) in [(3, 16), (16, 32), (32, 16)] {
            let input = randomTensor([1, channels, 12, 10], scale: 2)
            let weights = randomTensor([outputs, channels, 3, 3], scale: 0.3), bias = randomTensor([outputs], scale: 0.1)
            let outputGradient = randomTensor([1, outputs, 12, 10])
            let fp32 = try convolution(.fp32, input: input, weights: weights, bias: bias, outputGradient: outputGradient)
            let bf16 = try convolution(.bf16, input: input, weights: weights, bias: bias, outputGradient: outputGradient)
            let what = "\(channels) -> \(outputs) channels"
            assertRelativeNorm(bf16.output, fp32.output, 1e-2, "\(what): forward")
            assertRelativeNorm(bf16.input, fp32.input, 2e-2, "\(what): backward to the input")
            assertRelativeNorm(bf16.weights, fp32.weights, 2e-2, "\(what): backward to the weights")
            assertRelativeNorm(bf16.bias, fp32.bias, 2e-2, "\(what): backward to the bias")
        }
    }

    /// The mask is taken from the values' bit patterns: check it against a plain comparison in both formats, with
    /// signed zeros, the smallest values and padding-sized groups.
    func testReLUMaskMatchesComparisonInBothFormats() throws {
        var values = (0..<96).map { _ in random.uniform(-1, 1) }
        values[0] = 0; values[1] = -0.0; values[2] = .leastNonzeroMagnitude; values[3] = -.leastNonzeroMagnitude
        values[4] = 1e-38; values[5] = -1e-38; values[6] = .greatestFiniteMagnitude; values[7] = -.infinity
        let gradient = (0..<96).map { _ in random.uniform(1, 2) }
        for precision in [Precision.fp32, .bf16] {
            // A plain memory of the format, filled by a reorder from float32.
            let plain = MemoryDescriptor.matrix(96, 1, rowStride: 1, columnStride: 1, precision.dataType)
            let output = try Memory(plain), gradientMemory = try Memory(plain)
            try Memory.viewing(values, as: [96, 1]) { try Reorder(from: $0.descriptor, to: plain)($0, into: output) }
            try Memory.viewing(gradient, as: [96, 1]) { try Reorder(from: $0.descriptor, to: plain)($0, into: gradientMemory) }
            func read(_ memory: Memory) throws -> [Float] {
                var scalars = [Float](repeating: .nan, count: 96)
                try Memory.viewing(&scalars, as: [96, 1]) { try Reorder(from: plain, to: $0.descriptor)(memory, into: $0) }
                return scalars
            }
            // As stored: bf16 rounds the values (the tiniest float32 ones to zero) and the gradient.
            let (stored, before) = (try read(output), try read(gradientMemory))
            var mask = ReLUMask(capacity: 96)
            mask.record(output)
            mask.apply(to: gradientMemory)
            let result = try read(gradientMemory)
            XCTAssertGreaterThan(stored.filter { $0 > 0 }.count, 30, "a mix of signs")
            for i in 0..<96 {
                XCTAssertEqual(result[i], stored[i] > 0 ? before[i] : 0, "\(precision) value \(i): \(values[i]) stored as \(stored[i])")
            }
        }
    }

    /// VGG19 in bf16 (its convolutions, pooling, masks and, where the layout allows, Gram products in place) against
    /// float32, through the fast path the objective uses: features kept, losses taken as the backward pass passes.
    func testGatysPassInBF16MatchesFloat32() throws {
        try TestData.requireKernel(.direct, in: .bf16)
        let (height, width) = (24, 32)
        let style = randomTensor([3, height, width], scale: 100), content = randomTensor([3, height, width], scale: 100)
        let x = randomTensor([3, height, width], scale: 100)
        var settings = ObjectiveSettings()
        settings.algorithm = .direct
        var results: [Precision: (terms: ObjectiveTerms, gradient: Tensor)] = [:]
        for precision in [Precision.fp32, .bf16] {
            settings.precision = precision
            let grams = try GatysObjective.styleTargets(vgg: TestData.vgg(), style: style, settings: settings)
            let objective = try GatysObjective(vgg: TestData.vgg(), content: content, styleGrams: grams, settings: settings)
            XCTAssertEqual(objective.precision, precision)
            results[precision] = try objective.evaluate(x)
        }
        let (fp32, bf16) = (results[.fp32]!, results[.bf16]!)
        XCTAssertEqual(bf16.terms.content, fp32.terms.content, accuracy: 2e-2 * fp32.terms.content)
        for (layer, value) in fp32.terms.styleByLayer {
            XCTAssertEqual(bf16.terms.styleByLayer[layer]!, value, accuracy: 3e-2 * value, "style at \(layer)")
        }
        XCTAssertEqual(bf16.terms.total, fp32.terms.total, accuracy: 2e-2 * fp32.terms.total)
        // Looser than the losses: every ReLU output near zero that rounds to the other side passes all or none of
        // its gradient (PyTorch's autocast does the same).
        assertRelativeNorm(bf16.gradient.scalars, fp32.gradient.scalars, 8e-2, "gradient at the image")
    }

    /// The Gram products taken in place on a bf16 position-major map (on AMX machines oneDNN picks that layout)
    /// against the float32 band-by-band products of the same map read as float32.
    func testInPlaceGramProductsMatchBandProducts() throws {
        try TestData.requireKernel(.direct, in: .bf16)
        let (c, height, width) = (32, 6, 10)
        let positionMajor = MemoryDescriptor.matrix(height * width, c, rowStride: c, columnStride: 1, Precision.bf16.dataType)
        // The same storage as a [1, C, H, W] nhwc descriptor, which is what FeatureMap is given.
        let nhwc = MemoryDescriptor.positionMajor([1, c, height, width], Precision.bf16.dataType)
        XCTAssertTrue(nhwc.isPositionMajor)
        let reorders = BandReorders(layout: nhwc, bandBytes: 4 * c * width * 2)
        let features = randomTensor([height * width, c], scale: 3)
        let map = FeatureMap(try Memory(nhwc), reorders: reorders)
        try Memory.viewing(features.scalars, as: [height * width, c]) {
            try Reorder(from: $0.descriptor, to: positionMajor)($0, into: Memory(positionMajor, viewing: map.memory, offset: 0))
        }
        let stored = try map.positionMajor()

        let inPlace = try XCTUnwrap(try map.gramProduct(scale: 0.5))
        var expected = [Float](repeating: 0, count: c * c)
        gemm(stored.scalars, transposed: true, stored.scalars, m: c, n: c, k: height * width, alpha: 0.5, into: &expected)
        assertRelativeNorm(inPlace.scalars, expected, 1e-5, "G = s FᵀF: bf16 products are exact, sums float32")

        let matrix = randomTensor([c, c])
        let symmetric = Tensor(shape: [c, c], scalars: (0..<(c * c)).map { matrix.scalars[$0] + matrix.scalars[($0 % c) * c + $0 / c] })
        let gradient = FeatureMap(try Memory(nhwc), reorders: reorders)
        gradient.memory.zero()
        XCTAssertTrue(try map.addProduct(times: symmetric, scale: 0.25, into: gradient))
        XCTAssertTrue(try map.addProduct(times: symmetric, scale: 0.25, into: gradient), "accumulates")
        let product = product(stored.scalars, symmetric.scalars, m: height * width, n: c, k: c, alpha: 0.5)
        assertRelativeNorm(try gradient.positionMajor().scalars, product, 1e-2, "dF += s F M, twice")
    }

    /// The feed-forward networks (convolutions, instance normalisation, upsampling, residual additions) in bf16
    /// against float32: their output, and every parameter's gradient for the same output gradient.
    func testFeedForwardNetworksInBF16MatchFloat32() throws {
        try TestData.requireKernel(.direct, in: .bf16)
        let transformer = try TransformerNet(width: 0.25, seed: 5)
        let upscaler = try UpscalerNet(architecture: .residual, scale: 2, seed: 6)
        var upscalerParameters = upscaler.parameters
        upscalerParameters["shuffle.weight"] = randomTensor(upscalerParameters["shuffle.weight"]!.shape, scale: 0.05)
        // Random last weights, not ICNR's r² equal kernels, whose equal outputs make a different test.
        var espcnParameters = try UpscalerNet(architecture: .espcn, scale: 3, seed: 2).parameters
        espcnParameters["shuffle.weight"] = randomTensor(espcnParameters["shuffle.weight"]!.shape, scale: 0.05)
        let cases: [(String, [ConvolutionSpec], [String: Tensor], [Int])] = [
            ("transformer", TransformerNet.layers(channels: transformer.channels), transformer.parameters, [1, 3, 32, 24]),
            ("upscaler", upscaler.layers, upscalerParameters, [2, 3, 12, 10]),
            ("espcn", UpscalerNet.layers(.espcn, scale: 3, blocks: UpscalerNet.defaultBlocks), espcnParameters, [1, 3, 9, 11]),
        ]
        for (name, layers, parameters, shape) in cases {
            let input = randomTensor(shape, scale: name == "transformer" ? 127 : 0.5)
            var outputs: [Precision: [Float]] = [:], gradients: [Precision: [String: Tensor]] = [:]
            for precision in [Precision.fp32, .bf16] {
                let network = try CompiledNetwork(layers, parameters: parameters, inputShape: shape, precision: precision)
                outputs[precision] = network.forward(input.scalars)
                var generator = SeededGenerator(seed: 9)
                let outputGradient = outputs[precision]!.map { _ in generator.uniform(-1, 1) }
                gradients[precision] = try network.backward(outputGradient)
            }
            assertRelativeNorm(outputs[.bf16]!, outputs[.fp32]!, 2e-2, "\(name): output")
            // A bias before an instance normalisation has no gradient (the normalisation subtracts it again): what
            // the two formats give there is rounding noise.
            let unused = Set(layers.filter { $0.normalization != nil }.map { "\($0.name).bias" })
            for (parameter, gradient) in gradients[.fp32]! where !unused.contains(parameter) {
                // Loose: a ReLU input near zero may fall on the other side and pass all or none of its gradient, and
                // instance normalisation's backward pass subtracts means, which magnifies bf16's rounding (the
                // upscalers, without it, stay within 10%). Training only needs the direction: see docs/precision.md.
                let tolerance = name == "transformer" ? 0.35 : 0.1
                assertRelativeNorm(gradients[.bf16]![parameter]!.scalars, gradient.scalars, tolerance, "\(name): \(parameter)'s gradient")
            }
        }
    }

    /// `auto` for a whole network: it times both formats once, remembers the times, and builds the one it picked;
    /// a size of about the same area is decided by the same times.
    func testAutoTimesBothFormatsOfANetworkOnce() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("timings-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        MeasuredKernels.keep(in: file)
        let upscaler = try UpscalerNet(architecture: .espcn, scale: 2, seed: 1)
        let shape = [1, 3, 17, 13]
        let network = try CompiledNetwork.make(upscaler.layers, parameters: upscaler.parameters, inputShape: shape,
                                               precision: .auto, training: false)
        let data = (try? Data(contentsOf: file)) ?? Data("{}".utf8)
        let saved = try JSONSerialization.jsonObject(with: data) as! [String: [String: Double]]
        guard Precision.cpuHasNativeBF16 else {
            XCTAssertEqual(network.precision, .fp32, "no native bf16: float32 without measuring")
            return XCTAssertTrue(saved.isEmpty)
        }
        let key = CompiledNetwork.measurementKey(upscaler.layers, inputShape: shape, training: false)
        let entry = try XCTUnwrap(saved.first { $0.key.hasPrefix(key) }?.value)
        XCTAssertEqual(network.precision, Precision.choice(nativeBF16: true, fp32Seconds: entry["fp32"]!, bf16Seconds: entry["bf16"]!))
        let again = try CompiledNetwork.make(upscaler.layers, parameters: upscaler.parameters, inputShape: shape,
                                             precision: .auto, training: false)
        XCTAssertEqual(again.precision, network.precision, "the remembered times decide the same way")

        let nearby = [1, 3, 16, 14]
        XCTAssertEqual(CompiledNetwork.measurementKey(upscaler.layers, inputShape: nearby, training: false), key)
        XCTAssertNotEqual(CompiledNetwork.measurementKey(upscaler.layers, inputShape: [1, 3, 34, 26], training: false), key,
                          "four times the area is measured anew")
        let resized = try CompiledNetwork.make(upscaler.layers, parameters: upscaler.parameters, inputShape: nearby,
                                               precision: .auto, training: false)
        XCTAssertEqual(resized.precision, network.precision)
        let savedAfter = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: [String: Double]]
        XCTAssertEqual(savedAfter.first { $0.key.hasPrefix(key) }?.value, entry, "no second measurement for a size of about the same area")

        // Above `measuredPixels`, a network is timed on a smaller input of the same aspect, and every such size
        // shares that one measurement.
        let large = [1, 3, 400, 300]
        let measured = CompiledNetwork.measuredShape(upscaler.layers, inputShape: large)
        XCTAssertLessThanOrEqual(measured[2] * measured[3], CompiledNetwork.measuredPixels)
        XCTAssertEqual(Double(measured[2]) / Double(measured[3]), 4 / 3, accuracy: 0.02)
        let largeKey = CompiledNetwork.measurementKey(upscaler.layers, inputShape: measured, training: false)
        let larger = CompiledNetwork.measuredShape(upscaler.layers, inputShape: [1, 3, 3000, 4000])
        XCTAssertEqual(CompiledNetwork.measurementKey(upscaler.layers, inputShape: larger, training: false), largeKey)
        let big = try CompiledNetwork.make(upscaler.layers, parameters: upscaler.parameters, inputShape: large,
                                           precision: .auto, training: false)
        XCTAssertEqual(big.inputShape, large, "measured small, compiled at the size asked for")
        let largeEntry = MeasuredKernels.lookup(largeKey)
        XCTAssertEqual(big.precision, Precision.choice(nativeBF16: true, fp32Seconds: try XCTUnwrap(largeEntry[.fp32]),
                                                       bf16Seconds: try XCTUnwrap(largeEntry[.bf16])))
        // The sides stay multiples of the network's total stride (4 for the transformer network).
        let transformer = CompiledNetwork.measuredShape(TransformerNet.layers(channels: [32, 64, 128]), inputShape: [1, 3, 1120, 1000])
        XCTAssertEqual([transformer[2] % 4, transformer[3] % 4], [0, 0])
        XCTAssertLessThanOrEqual(transformer[2] * transformer[3], CompiledNetwork.measuredPixels)
    }

    /// `auto` never picks bf16 where the CPU has no native bf16 units, and picks it elsewhere only when it measures
    /// clearly faster.
    func testAutoFallsBackToFloat32WithoutNativeBF16() {
        XCTAssertEqual(Precision.choice(nativeBF16: false, fp32Seconds: 1, bf16Seconds: 0.1), .fp32)
        XCTAssertEqual(Precision.choice(nativeBF16: true, fp32Seconds: 1, bf16Seconds: 0.5), .bf16)
        XCTAssertEqual(Precision.choice(nativeBF16: true, fp32Seconds: 1, bf16Seconds: 0.95), .fp32, "a near tie stays float32")
        XCTAssertEqual(Precision.choice(nativeBF16: true, fp32Seconds: 1, bf16Seconds: .infinity), .fp32, "no bf16 kernel")
    }

    /// A timings file from another CPU is not trusted: its entries are keyed by the CPU that measured them.
    func testMeasurementsFromAnotherCPUAreIgnored() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("timings-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let key = "[1, 7, 5, 5] [7, 7, 3, 3] s1 p1"
        let foreign = ["\(key) t\(DNNL.threads) \(Precision.dispatchedISA) Some Other CPU": ["direct": 1.0, "bf16": 0.001]]
        try JSONSerialization.data(withJSONObject: foreign).write(to: file)
        MeasuredKernels.keep(in: file)
        XCTAssertTrue(MeasuredKernels.lookup(key).isEmpty)
    }
}
