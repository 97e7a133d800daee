import XCTest
@testable import Stylize

final class TransformerNetTests: XCTestCase {
    var random = SeededGenerator(seed: 5)

    func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.uniform(-scale, scale) })
    }

    func testParameterNamesAndShapesFollowPyTorchsExample() throws {
        let net = try TransformerNet(width: 1, seed: 1)
        XCTAssertEqual(net.channels, [32, 64, 128])
        XCTAssertEqual(net.parameters["conv1.conv2d.weight"]?.shape, [32, 3, 9, 9])
        XCTAssertEqual(net.parameters["res5.in2.bias"]?.shape, [128])
        XCTAssertEqual(net.parameters["deconv3.conv2d.weight"]?.shape, [3, 32, 9, 9])
        XCTAssertEqual(net.parameters.count, 3 * 4 + 5 * 8 + 2 * 4 + 2)
        XCTAssertEqual(net.parameters.values.map(\.count).reduce(0, +), 1_679_235)  // PyTorch's TransformerNet
        XCTAssertEqual(TransformerNet.channels(width: 0.25), [8, 16, 32])
        var wrong = net.parameters
        wrong["in1.weight"] = Tensor(zeros: [31])
        XCTAssertThrowsError(try TransformerNet(width: 1, parameters: wrong))
    }

    /// The gradient of L = Σ out · G with respect to the last layers' parameters, along a random direction, against
    /// central differences of L through the network's own (float32) forward pass. Deeper parameters sit behind
    /// dozens of ReLU kinks and instance normalisations of a few pixels, where float32 central differences do not
    /// settle (they drift by tens of percent as ε shrinks); those are checked against PyTorch's autograd instead.
    func testBackwardMatchesFiniteDifferencesForEveryParameter() throws {
        var net = try TransformerNet(width: 0.125, seed: 3)
        let compiled = try CompiledTransformerNet(net, height: 8, width: 12)
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
        for name in ["deconv3.conv2d.weight", "deconv3.conv2d.bias", "in5.weight", "in5.bias", "in4.weight"] {
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

    func testRejectsSidesThatAreNotMultiplesOfFour() {
        XCTAssertThrowsError(try CompiledTransformerNet(try TransformerNet(width: 0.125, seed: 1), height: 10, width: 12))
    }
}
