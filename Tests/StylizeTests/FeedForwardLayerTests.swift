import XCTest
@testable import Stylize

/// The transformer network's layers (instance normalisation, nearest upsampling, residual addition, strided and 9x9
/// convolutions with weight gradients) against naive double-precision loops and central differences.
extension EngineTests {
    /// Plain [1, C, H, W] memory holding `tensor`, and back.
    func memory(_ tensor: Tensor) throws -> Memory {
        let memory = try Memory(.plain(tensor.shape))
        memory.load(tensor.scalars)
        return memory
    }

    /// `tensor` in memory of another layout (position-major, blocked), through a reorder.
    func memory(_ tensor: Tensor, in layout: MemoryDescriptor) throws -> Memory {
        let converted = try Memory(layout)
        try Reorder(from: .plain(tensor.shape), to: layout)(try memory(tensor), into: converted)
        return converted
    }

    func tensor(_ memory: Memory) throws -> Tensor {
        let shape = memory.descriptor.shape
        let plain = try Memory(.plain(shape))
        try Reorder(from: memory.descriptor, to: plain.descriptor)(memory, into: plain)
        return Tensor(shape: shape, scalars: plain.scalars())
    }

    /// y = [relu](γ (x − μ) / √(σ² + ε) + β) per channel, μ and σ² over the channel's positions.
    func naiveInstanceNormalization(_ x: Tensor, scale: Tensor, shift: Tensor, relu: Bool) -> [Double] {
        let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
        var out = [Double](repeating: 0, count: x.count)
        for k in 0..<c {
            let values = (0..<plane).map { Double(x.scalars[k * plane + $0]) }
            let mean = values.reduce(0, +) / Double(plane)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(plane)
            for p in 0..<plane {
                let y = Double(scale.scalars[k]) * (values[p] - mean) / (variance + 1e-5).squareRoot() + Double(shift.scalars[k])
                out[k * plane + p] = relu ? max(y, 0) : y
            }
        }
        return out
    }

    /// In the plain layout and in the position-major one, which the layer runs as a batch of one-row images.
    func testInstanceNormalizationMatchesNaiveLoopAndFiniteDifferences() throws {
        for (relu, positionMajor) in [(false, false), (true, false), (false, true), (true, true)] {
            let shape = [1, 16, 5, 7]
            let layout = positionMajor ? MemoryDescriptor.positionMajor(shape) : .plain(shape)
            let x = randomTensor(shape, scale: 3), scale = randomTensor([16]), shift = randomTensor([16])
            let layer = try InstanceNormalization(shape: shape, layout: layout, fusedReLU: relu)
            layer.setParameters(scale: scale, shift: shift)
            let source = try memory(x, in: layout), output = try Memory(layout)
            layer.forward(source, into: output)
            let expected = naiveInstanceNormalization(x, scale: scale, shift: shift, relu: relu)
            assertClose(try tensor(output).scalars, expected.map(Float.init), relative: 1e-5,
                        "instance norm forward relu \(relu) position-major \(positionMajor)")

            let g = randomTensor(shape)
            let inputGradientMemory = try Memory(layout)
            let (dScale, dShift) = try layer.backward(source: source, outputGradient: try memory(g, in: layout),
                                                      into: inputGradientMemory)
            let inputGradient = try tensor(inputGradientMemory).scalars
            func loss(_ x: Tensor, _ scale: Tensor, _ shift: Tensor) -> Double {
                zip(naiveInstanceNormalization(x, scale: scale, shift: shift, relu: relu), g.scalars).reduce(0) { $0 + $1.0 * Double($1.1) }
            }
            let epsilon: Float = 1e-3
            for _ in 0..<8 {
                let at = Int(random.next() % UInt64(x.count))
                var plus = x, minus = x
                plus.scalars[at] += epsilon; minus.scalars[at] -= epsilon
                let numeric = (loss(plus, scale, shift) - loss(minus, scale, shift)) / Double(2 * epsilon)
                XCTAssertEqual(Double(inputGradient[at]), numeric, accuracy: 2e-3 * max(1, abs(numeric)), "dx relu \(relu)")
            }
            for k in 0..<16 {
                var plus = scale, minus = scale
                plus.scalars[k] += epsilon; minus.scalars[k] -= epsilon
                let numericScale = (loss(x, plus, shift) - loss(x, minus, shift)) / Double(2 * epsilon)
                XCTAssertEqual(Double(dScale.scalars[k]), numericScale, accuracy: 2e-3 * max(1, abs(numericScale)), "dScale")
                var shiftPlus = shift, shiftMinus = shift
                shiftPlus.scalars[k] += epsilon; shiftMinus.scalars[k] -= epsilon
                let numericShift = (loss(x, scale, shiftPlus) - loss(x, scale, shiftMinus)) / Double(2 * epsilon)
                XCTAssertEqual(Double(dShift.scalars[k]), numericShift, accuracy: 2e-3 * max(1, abs(numericShift)), "dShift")
            }
        }
    }

    func testNearestUpsamplingForwardAndBackward() throws {
        let shape = [1, 5, 3, 4]
        let x = randomTensor(shape)
        let layer = try NearestUpsampling(inputShape: shape, sourceLayout: .plain(shape))
        XCTAssertEqual(layer.outputShape, [1, 5, 6, 8])
        let output = try layer.makeOutput()
        layer.forward(try memory(x), into: output)
        let up = try tensor(output)
        let g = randomTensor(layer.outputShape)
        var expectedGradient = [Float](repeating: 0, count: x.count)
        for c in 0..<5 { for y in 0..<6 { for i in 0..<8 {
            XCTAssertEqual(up.scalars[(c * 6 + y) * 8 + i], x.scalars[(c * 3 + y / 2) * 4 + i / 2])
            expectedGradient[(c * 3 + y / 2) * 4 + i / 2] += g.scalars[(c * 6 + y) * 8 + i]
        }}}
        let gradientOut = try Memory(layer.destinationLayout)
        try Reorder(from: .plain(layer.outputShape), to: layer.destinationLayout)(try memory(g), into: gradientOut)
        let inputGradient = try Memory(.plain(shape))
        try layer.backward(gradientOut, into: inputGradient)
        assertClose(inputGradient.scalars(), expectedGradient, relative: 1e-6, "upsampling backward")
    }

    func testAdditionAndItsBackward() throws {
        let shape = [1, 4, 3, 5]
        let a = randomTensor(shape), b = randomTensor(shape)
        let add = try Addition(layout: .plain(shape))
        let sum = try Memory(.plain(shape))
        add(try memory(a), try memory(b), into: sum)
        assertClose(sum.scalars(), zip(a.scalars, b.scalars).map(+), relative: 1e-7, "addition")
        // In place, as the residual block's backward pass may use it.
        let inPlace = try memory(a)
        add(inPlace, try memory(b), into: inPlace)
        assertClose(inPlace.scalars(), zip(a.scalars, b.scalars).map(+), relative: 1e-7, "addition in place")
    }

    /// The transformer network's convolutions: 9x9 with padding 4 (first and last) and 3x3 stride 2, with weight
    /// gradients, by central differences of L = Σ out · G.
    func testTransformerConvolutionsWeightGradients() throws {
        for (kernel, stride, input, output) in [(9, 1, 3, 4), (3, 2, 4, 8), (9, 1, 8, 3)] {
            let x = randomTensor([1, input, 11, 10])
            let weights = randomTensor([output, input, kernel, kernel], scale: 0.2), bias = randomTensor([output])
            let reference = naiveConvolution(x, weights, bias, stride: stride, padding: kernel / 2)
            let g = randomTensor(reference.shape)
            let result = try engineConvolution(x, weights, bias, stride: stride, padding: kernel / 2, relu: false, outputGradient: g)
            assertClose(result.output.scalars, reference.scalars, "forward k\(kernel) s\(stride)")
            func loss(_ w: Tensor, _ x: Tensor) -> Double {
                zip(naiveConvolution(x, w, bias, stride: stride, padding: kernel / 2).scalars, g.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            }
            let epsilon: Float = 1e-2
            for _ in 0..<6 {
                let at = Int(random.next() % UInt64(weights.count))
                var plus = weights, minus = weights
                plus.scalars[at] += epsilon; minus.scalars[at] -= epsilon
                let numeric = (loss(plus, x) - loss(minus, x)) / Double(2 * epsilon)
                XCTAssertEqual(Double(result.weights.scalars[at]), numeric, accuracy: 1e-3 * max(1, abs(numeric)), "dW k\(kernel) s\(stride)")
                let xAt = Int(random.next() % UInt64(x.count))
                var xPlus = x, xMinus = x
                xPlus.scalars[xAt] += epsilon; xMinus.scalars[xAt] -= epsilon
                let xNumeric = (loss(weights, xPlus) - loss(weights, xMinus)) / Double(2 * epsilon)
                XCTAssertEqual(Double(result.input.scalars[xAt]), xNumeric, accuracy: 1e-3 * max(1, abs(xNumeric)), "dx k\(kernel) s\(stride)")
            }
        }
    }
}
