import XCTest
@testable import Stylize

final class TransformerNetTests: XCTestCase, RandomTensors {
    var random = SeededGenerator(seed: 5)

    func testParameterNamesAndShapesFollowPyTorchsExample() throws {
        let net = try TransformerNet(width: 1, seed: 1)
        XCTAssertEqual(net.channels, [32, 64, 128])
        XCTAssertEqual(net.parameters["conv1.conv2d.weight"]?.shape, [32, 3, 9, 9])
        XCTAssertEqual(net.parameters["res5.in2.bias"]?.shape, [128])
        XCTAssertEqual(net.parameters["deconv3.conv2d.weight"]?.shape, [3, 32, 9, 9])
        XCTAssertEqual(net.parameters.count, 3 * 4 + 5 * 8 + 2 * 4 + 2)
        XCTAssertEqual(net.parameters.values.map(\.count).reduce(0, +), 1_679_235)  // PyTorch's TransformerNet
        XCTAssertEqual(TransformerNet.channels(width: 0.25), [16, 16, 32])
        XCTAssertEqual(TransformerNet.channels(width: 0.375), [16, 32, 48])
        var wrong = net.parameters
        wrong["in1.weight"] = Tensor(zeros: [31])
        XCTAssertThrowsError(try TransformerNet(width: 1, parameters: wrong))
    }

    /// The gradient of L = Σ out · G with respect to the last layer's parameters, along a random direction, against
    /// central differences of L through the network's own (float32) forward pass: this checks the wiring of the
    /// backward pass from the outside. Deeper parameters sit behind ReLU kinks and instance normalisations of a few
    /// pixels, where float32 central differences do not settle (they drift by tens of percent as ε shrinks); every
    /// parameter is checked against PyTorch's autograd instead (`TransformerNetTorchTests`).
    func testLastLayerGradientsMatchFiniteDifferences() throws {
        var net = try TransformerNet(width: 0.125, seed: 3)
        let compiled = try CompiledTransformerNet(net, height: 8, width: 12, training: true)
        let image = randomTensor([3, 8, 12]).scalars.map { $0 + 1 }
        let x = Tensor(shape: [3, 8, 12], scalars: image)
        let y = compiled.forward(x)
        XCTAssertEqual(y.shape, [3, 8, 12])
        let g = randomTensor(y.shape)
        let gradients = try compiled.backward(g)
        XCTAssertEqual(Set(gradients.keys), Set(net.parameters.keys))
        func loss() -> Double {
            zip(compiled.forward(x).scalars, g.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let epsilon: Float = 1e-3
        for name in ["deconv3.conv2d.weight", "deconv3.conv2d.bias"] {
            let p = net.parameters[name]!
            let direction = randomTensor(p.shape)
            var moved = net.parameters
            moved[name] = Tensor(shape: p.shape, scalars: zip(p.scalars, direction.scalars).map { $0 + epsilon * $1 })
            try compiled.setParameters(TransformerNet(width: 0.125, parameters: moved))
            let plus = loss()
            moved[name] = Tensor(shape: p.shape, scalars: zip(p.scalars, direction.scalars).map { $0 - epsilon * $1 })
            try compiled.setParameters(TransformerNet(width: 0.125, parameters: moved))
            let minus = loss()
            let numeric = (plus - minus) / Double(2 * epsilon)
            let analytic = zip(gradients[name]!.scalars, direction.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(analytic, numeric, accuracy: 2e-2 * max(abs(numeric), 1e-2), name)
        }
        try compiled.setParameters(net)
        XCTAssertEqual(compiled.forward(x), y)
        try net.update(net.parameters)
    }

    /// A network compiled for forward passes only keeps its activations in three shared slots and normalises in
    /// place; it must compute what the training network computes (a buffer read after another layer overwrote it
    /// would show), for the transformer and for the residual upscaler, in both formats, twice in a row: to 1e-3 of the
    /// largest output in float32, to 1e-2 (about one rounding of the output) in bf16.
    func testForwardOnlyNetworksAgreeWithTrainingOnes() throws {
        let transformer = try TransformerNet(width: 0.25, seed: 5)
        let upscaler = try UpscalerNet(architecture: .residual, scale: 2, blocks: 3, seed: 6)
        let cases: [(String, [ConvolutionSpec], [String: Tensor], [Int])] = [
            ("transformer", TransformerNet.layers(channels: transformer.channels), transformer.parameters, [1, 3, 36, 28]),
            ("upscaler", upscaler.layers, upscaler.parameters, [1, 3, 19, 23]),
        ]
        for (name, layers, parameters, shape) in cases {
            for precision in [Precision.fp32, .bf16] where precision == .fp32 || Precision.cpuHasNativeBF16 {
                let training = try CompiledNetwork(layers, parameters: parameters, inputShape: shape, precision: precision)
                let forwardOnly = try CompiledNetwork(layers, parameters: parameters, inputShape: shape, precision: precision,
                                                      training: false)
                for seed in [UInt64(1), 2] {
                    var generator = SeededGenerator(seed: seed)
                    let x = (0..<shape.reduce(1, *)).map { _ in generator.uniform(0, 255) }
                    let expected = training.forward(x), got = forwardOnly.forward(x)
                    let scale = expected.map(abs).max()!
                    let worst = zip(expected, got).map { abs($0 - $1) }.max()!
                    // In bf16 the two round differently (the forward-only upsampling blocks sum their weights
                    // before rounding them): a few outputs differ by one bf16 step, 2^-7 of the largest value
                    // at most. A buffer overwritten too early would be off by far more.
                    let tolerance: Float = precision == .bf16 ? 1e-2 : 1e-3
                    XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(name) \(precision) pass \(seed)")
                }
            }
        }
    }

    /// oneDNN falls back to im2col + gemm where it has no direct kernel for a layer, and then writes plain layouts, in
    /// which it has no direct kernel for the next layers either (on AVX2, for the transformer's first 9x9 layer).
    /// A forward-only network runs no layer by the fallback: the first and last 9x9 layers, which oneDNN has no direct
    /// kernel for there in any layout, run as dilated 3x3 ones (`ShiftedConvolution`). A training network reorders out
    /// of the fallback once: no layer between the first and the last runs it, and the last at worst by gemm (never by
    /// a reference loop). (That these networks compute the right values, forward and backward, the tests above and
    /// PyTorch's check.)
    func testTransformerLeavesTheGemmFallbackAfterItsFirstLayer() throws {
        let transformer = try TransformerNet(width: 1, seed: 5)
        for training in [false, true] {
            let network = try CompiledNetwork(TransformerNet.layers(channels: transformer.channels), parameters: transformer.parameters,
                                              inputShape: [1, 3, 64, 64], precision: .fp32, training: training)
            let kernels = network.implementations
            XCTAssertEqual(kernels.count, 16)
            for (index, kernel) in kernels.enumerated() where !training || (index > 0 && index < 15) {
                XCTAssertFalse(kernel.contains("gemm") || kernel.hasPrefix("ref"), "training \(training), layer \(index): \(kernels)")
            }
            XCTAssertFalse(kernels[15].hasPrefix("ref"), "\(kernels)")
        }
    }

    func testRejectsSidesThatAreNotMultiplesOfFour() {
        XCTAssertThrowsError(try CompiledTransformerNet(try TransformerNet(width: 0.125, seed: 1), height: 10, width: 12))
    }
}

/// The whole network against PyTorch's autograd (scripts/reference/transformer_net.py fixture, computed in float64): the same
/// parameters and input must give the same output, and the same output gradient the same parameter gradients.
final class TransformerNetTorchTests: XCTestCase {
    func testForwardAndBackwardAgreeWithPyTorch() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/transformer-net-torch.safetensors").standardized
        let fixture = try SafetensorsFile(contentsOf: url)
        let width = try XCTUnwrap(fixture.metadata["width"].flatMap(Float.init))
        var parameters: [String: Tensor] = [:]
        for (name, tensor) in fixture.tensors where name.hasPrefix("parameter.") {
            parameters[String(name.dropFirst("parameter.".count))] = tensor
        }
        let input = try XCTUnwrap(fixture.tensors["input"])
        let network = try TransformerNet(width: width, parameters: parameters)
        let compiled = try CompiledTransformerNet(network, height: input.shape[1], width: input.shape[2], training: true)
        let output = compiled.forward(input)
        assertClose(output, try XCTUnwrap(fixture.tensors["output"]), relative: 1e-4, "output")
        let gradients = try compiled.backward(try XCTUnwrap(fixture.tensors["output_gradient"]))
        for name in parameters.keys.sorted() {
            // Biases just before an instance normalisation have a zero gradient (the mean is subtracted right after);
            // both sides give rounding noise there, compared against a floor.
            assertClose(try XCTUnwrap(gradients[name]), try XCTUnwrap(fixture.tensors["gradient." + name]), relative: 2e-3, name)
        }
    }

    func assertClose(_ a: Tensor, _ b: Tensor, relative: Float, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, name, file: file, line: line)
        let scale = max(b.scalars.map(abs).max() ?? 0, 1e-2)
        let worst = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst / scale, relative, "\(name): worst difference \(worst) at scale \(scale)", file: file, line: line)
    }
}
