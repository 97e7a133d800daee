import CDNNL
import XCTest
@testable import Stylize

/// The objectives' fast path reads feature maps in oneDNN's blocked layout a band of rows at a time; each piece is
/// checked here against the plain-tensor path it replaces, with bands small enough that a map has several and a
/// last, shorter one.
final class FeatureMapTests: XCTestCase, RandomTensors {
    var random = SeededGenerator(seed: 5)

    /// A plain [C, H, W] tensor as a feature map in oneDNN's 16-channel blocked layout (nChw16c), whose channels
    /// are padded to a multiple of 16, with bands of `rows` rows.
    func featureMap(_ tensor: Tensor, rows: Int) throws -> FeatureMap {
        let dims = [1] + tensor.shape
        var blocked = MemoryDescriptor()
        try check(dnnl_memory_desc_init_by_tag(&blocked, 4, dnnlDims(dims), dnnl_f32, dnnl_aBcd16b), "blocked descriptor")
        let memory = try Memory(blocked)
        memory.fill(0)
        try Memory.viewing(tensor.scalars, as: dims) { try Reorder(from: .plain(dims), to: blocked)($0, into: memory) }
        let reorders = BandReorders(layout: blocked, bandBytes: rows * dims[1] * dims[3] * 4)
        XCTAssertEqual(reorders.rowsPerBand, rows)
        return FeatureMap(memory, reorders: reorders)
    }

    /// [C, H, W] -> [H·W, C].
    func positionMajor(_ tensor: Tensor) -> Tensor {
        let (c, positions) = (tensor.shape[0], tensor.count / tensor.shape[0])
        var out = [Float](repeating: 0, count: tensor.count)
        for channel in 0..<c { for p in 0..<positions { out[p * c + channel] = tensor.scalars[channel * positions + p] } }
        return Tensor(shape: [positions, c], scalars: out)
    }

    func assertClose(_ a: Tensor, _ b: Tensor, relative: Float = 1e-5, _ message: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, message, file: file, line: line)
        let scale = max(b.scalars.map(abs).max() ?? 0, 1e-6)
        let worst = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, relative * scale, message, file: file, line: line)
    }

    func testBandsReadAndAddThePlainPositions() throws {
        // 20 channels: two blocks of 16, the second padded.
        let plain = randomTensor([20, 7, 5])
        let map = try featureMap(plain, rows: 3)
        XCTAssertEqual(map.bands, [0..<3, 3..<6, 6..<7])
        let expected = positionMajor(plain)
        XCTAssertEqual(try map.positionMajor().scalars, expected.scalars)
        XCTAssertEqual(try map.band(3..<6).scalars, Array(expected.scalars[(3 * 5 * 20)..<(6 * 5 * 20)]))

        let addition = randomTensor([5, 20])
        try map.add(addition, rows: 6..<7)
        var sum = expected.scalars
        for i in 0..<100 { sum[6 * 5 * 20 + i] += addition.scalars[i] }
        XCTAssertEqual(try map.positionMajor().scalars, sum)
        XCTAssertEqual(try map.plain().scalars.count, plain.count)
    }

    func testGramMatrixAndItsGradientMatchThePlainOnes() throws {
        let plain = randomTensor([32, 9, 6], scale: 2)
        let map = try featureMap(plain, rows: 2)
        assertClose(try GramMatrix.of(map), GramMatrix.of(plain), "Gram matrix")

        let gramGradient = GramMatrix.of(randomTensor([32, 4, 4]))  // any symmetric matrix
        let gradient = try featureMap(Tensor(zeros: plain.shape), rows: 2)
        try GramMatrix.backward(gramGradient, features: map, addingTo: gradient)
        assertClose(try gradient.positionMajor(), positionMajor(GramMatrix.backward(gramGradient, features: plain)), "gradient")
    }

    func testMaskedGramMatrixAndItsGradientMatchThePlainOnes() throws {
        let plain = randomTensor([16, 7, 4], scale: 2)
        let mask = StyleMask(height: 7, width: 4, values: (0..<28).map { _ in random.uniform(0, 1) })
        let map = try featureMap(plain, rows: 3)
        assertClose(try GramMatrix.of(map, mask: mask), GramMatrix.of(plain, mask: mask), "masked Gram matrix")

        let gramGradient = GramMatrix.of(randomTensor([16, 3, 3]))
        let gradient = try featureMap(Tensor(zeros: plain.shape), rows: 3)
        try GramMatrix.backward(gramGradient, features: map, mask: mask, addingTo: gradient)
        assertClose(try gradient.positionMajor(),
                    positionMajor(GramMatrix.backward(gramGradient, features: plain, mask: mask)), "masked gradient")
    }

    func testLossesAddTheirGradientsToWhatIsThere() throws {
        let plain = randomTensor([16, 5, 6], scale: 2)
        let map = try featureMap(plain, rows: 2)
        let before = randomTensor(plain.shape)

        let style = StyleLoss(target: GramMatrix.of(randomTensor([16, 5, 6], scale: 2)), weight: 100)
        let gradient = try featureMap(before, rows: 2)
        let (expectedStyle, styleGradient) = style(plain)
        XCTAssertEqual(try style(map, addingGradientTo: gradient), expectedStyle, accuracy: 1e-5 * expectedStyle)

        let target = randomTensor(plain.shape, scale: 2)
        let content = ContentLoss(target: target, weight: 5)
        let (expectedContent, contentGradient) = content(plain)
        let bandContent = ContentLoss(target: positionMajor(target), weight: 5)
        XCTAssertEqual(try bandContent(map, addingGradientTo: gradient), expectedContent, accuracy: 1e-5 * expectedContent)

        let expected = (0..<plain.count).map { before.scalars[$0] + styleGradient.scalars[$0] + contentGradient.scalars[$0] }
        assertClose(try gradient.positionMajor(), positionMajor(Tensor(shape: plain.shape, scalars: expected)), "summed gradients")
    }

    /// The whole Gatys pass through VGG19 the fast way (features kept in oneDNN's layout, relu1_1 made again in the
    /// backward pass, losses taken band by band) against plain copies and plain losses, on the same network.
    func testKeptFeaturesGiveThePlainPathsLossesAndGradient() throws {
        let network = try VGG19Features(TestData.vgg(), height: 20, width: 24, deepest: "relu4_2", algorithm: .direct)
        network.bandBytes = 4096  // relu1_1: 64 channels x 24 columns x 4 bytes a row, so bands of 1 row
        let style = randomTensor([3, 20, 24], scale: 100), content = randomTensor([3, 20, 24], scale: 100)
        let x = randomTensor([3, 20, 24], scale: 100)
        let styleLayers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
        let grams = try network.forward(style, returning: Set(styleLayers)).mapValues(GramMatrix.of)
        let contentTarget = try network.forward(content, returning: ["relu4_2"])["relu4_2"]!
        let styleLosses = grams.mapValues { StyleLoss(target: $0, weight: 100) }
        let contentLoss = ContentLoss(target: contentTarget, weight: 5)
        let names = Set(styleLayers + ["relu4_2"])

        let plainFeatures = try network.forward(x, returning: names)
        var plainLoss = contentLoss(plainFeatures["relu4_2"]!).loss
        var plainGradients = ["relu4_2": contentLoss(plainFeatures["relu4_2"]!).gradient]
        for (name, loss) in styleLosses {
            let (value, gradient) = loss(plainFeatures[name]!)
            plainLoss += value
            plainGradients[name] = gradient
        }
        let plainGradient = try network.backward(plainGradients)

        try network.forward(x, keeping: names)
        var loss = 0.0
        let bandContent = ContentLoss(target: positionMajor(contentTarget), weight: 5)
        let gradient = try network.backward(from: names) { name, gradient, features in
            let features = try XCTUnwrap(features, "\(name) kept")
            if name == "relu4_2" { loss += try bandContent(features, addingGradientTo: gradient) }
            if let style = styleLosses[name] { loss += try style(features, addingGradientTo: gradient) }
        }
        XCTAssertEqual(loss, plainLoss, accuracy: 1e-5 * plainLoss)
        assertClose(gradient, plainGradient, relative: 1e-4, "gradient at the image")
    }
}
