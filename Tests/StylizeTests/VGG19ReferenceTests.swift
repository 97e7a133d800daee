import Foundation
import XCTest
@testable import Stylize

/// VGG19, its weights and the Gatys objective against the numbers PyTorch computed in float64
/// (../shared/reference/vgg19-reference.json).
final class VGG19ReferenceTests: XCTestCase {
    /// The reference file, which sits in shared/ beside the checkout (as it does for CI's clone). Without it the
    /// tests that need it fail with that path in the message, and the others still run.
    static func reference() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/vgg19-reference.json")
        guard let data = try? Data(contentsOf: url), let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EngineError(description: "cannot read \(url.path): clone the repository beside shared/")
        }
        return json
    }

    static func formulaImage(_ name: String) -> Tensor {
        FormulaImage(rawValue: name)!.tensor(height: 48, width: 64)
    }

    func assertRelative(_ actual: Double, _ expected: Double, _ tolerance: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let error = abs(actual - expected) / max(abs(expected), 1e-12)
        XCTAssertLessThanOrEqual(error, tolerance, "\(what): \(actual) vs \(expected)", file: file, line: line)
    }

    func testConvertedWeightsMatchReferenceSums() throws {
        let expected = try Self.reference()["weights"] as! [String: [String: Any]]
        XCTAssertEqual(expected.count, 32)
        let vgg = try TestData.vgg()
        for (name, stats) in expected {
            guard let tensor = vgg.parameters[name] else { return XCTFail("missing \(name)") }
            XCTAssertEqual(tensor.shape, stats["shape"] as! [Int], name)
            assertRelative(tensor.sum, stats["sum"] as! Double, 1e-5, "\(name) sum")
            assertRelative(tensor.sumOfSquares, stats["sum_of_squares"] as! Double, 1e-5, "\(name) sum of squares")
        }
    }

    /// float32 direct convolution agrees to 1e-4; Winograd (also a possible choice of auto) to 1e-3.
    func allowedError(_ algorithm: ConvolutionAlgorithm) -> Double { algorithm == .direct ? 1e-4 : 1e-3 }

    func checkLayers(_ key: String, pooling: PoolingKind, algorithm: ConvolutionAlgorithm = .direct) throws {
        if algorithm != .auto { try TestData.requireKernel(algorithm, in: .fp32) }
        let tolerance = allowedError(algorithm)
        let layers = try Self.reference()[key] as! [String: [String: Any]]
        let deepest = VGG19.reluLayers.last { layers[$0] != nil }!
        let network = try VGG19Features(TestData.vgg(), height: 48, width: 64, deepest: deepest, pooling: pooling, algorithm: algorithm)
        let features = try network.forward(VGG19.preprocess(Self.formulaImage("image")), returning: Set(layers.keys))
        for (name, stats) in layers {
            let feature = features[name]!
            XCTAssertEqual(feature.shape, stats["shape"] as! [Int], name)
            assertRelative(feature.sum, stats["sum"] as! Double, tolerance, "\(name) sum (\(pooling), \(algorithm))")
            assertRelative(feature.sumOfSquares, stats["sum_of_squares"] as! Double, tolerance, "\(name) sum of squares")
            let scale = feature.scalars.map(abs).max()!
            for sample in stats["samples"] as! [[Double]] {
                let (c, y, x) = (Int(sample[0]) % feature.shape[0], Int(sample[1]) % feature.shape[1], Int(sample[2]) % feature.shape[2])
                let value = feature.scalars[(c * feature.shape[1] + y) * feature.shape[2] + x]
                XCTAssertEqual(Double(value), sample[3], accuracy: tolerance * Double(scale), "\(name)[\(c),\(y),\(x)]")
            }
        }
    }

    func testLayersWithMaxPooling() throws { try checkLayers("layers_of_image", pooling: .max) }

    func testLayersWithAveragePooling() throws { try checkLayers("layers_of_image_avg_pooling", pooling: .avg) }

    func testLayersWithWinograd() throws { try checkLayers("layers_of_image", pooling: .max, algorithm: .winograd) }

    func checkObjective(algorithm: ConvolutionAlgorithm, precision: Precision = .fp32, tolerance: Double? = nil,
                        gradientTolerance: Double? = nil) throws {
        if algorithm != .auto { try TestData.requireKernel(algorithm, in: precision) }
        let expected = try Self.reference()["objective"] as! [String: Any]
        var settings = ObjectiveSettings()
        settings.algorithm = algorithm
        settings.precision = precision
        XCTAssertEqual(settings.contentLayers.map(\.name), [expected["content_layer"] as! String])
        XCTAssertEqual(settings.styleLayers.map(\.name), expected["style_layers"] as! [String])
        XCTAssertEqual(Double(settings.contentWeight), expected["content_weight"] as! Double)
        XCTAssertEqual(Double(settings.styleWeight), expected["style_weight"] as! Double)
        XCTAssertEqual(Double(settings.tvWeight), expected["tv_weight"] as! Double, accuracy: 1e-9)
        let grams = try GatysObjective.styleTargets(vgg: TestData.vgg(), style: VGG19.preprocess(Self.formulaImage("style")), settings: settings)
        let objective = try GatysObjective(vgg: TestData.vgg(), content: VGG19.preprocess(Self.formulaImage("content")),
                                           styleGrams: grams, settings: settings)
        let (terms, gradient) = try objective.evaluate(VGG19.preprocess(Self.formulaImage("image")))
        XCTAssertEqual(objective.precision, precision)
        let tolerance = tolerance ?? allowedError(algorithm)
        assertRelative(terms.content, expected["content_loss"] as! Double, tolerance, "content")
        assertRelative(terms.style, expected["style_loss"] as! Double, tolerance, "style")
        assertRelative(terms.tv, expected["tv_loss"] as! Double, tolerance, "tv")
        assertRelative(terms.total, expected["total"] as! Double, tolerance, "total")
        for (layer, value) in expected["style_loss_per_layer"] as! [String: Double] {
            assertRelative(terms.styleByLayer[layer]!, value, tolerance, "style at \(layer)")
        }
        let g = expected["gradient"] as! [String: Any]
        XCTAssertEqual(gradient.shape, g["shape"] as! [Int])
        let gradientTolerance = gradientTolerance ?? tolerance
        assertRelative(gradient.sumOfSquares, g["sum_of_squares"] as! Double, gradientTolerance, "gradient sum of squares")
        // The sum cancels almost to zero, so compare it at the scale of the gradient's norm.
        let norm = (g["sum_of_squares"] as! Double).squareRoot()
        XCTAssertEqual(gradient.sum, g["sum"] as! Double, accuracy: gradientTolerance * norm, "gradient sum")
        let largest = Double(gradient.scalars.map(abs).max()!)
        for sample in g["samples"] as! [[Double]] {
            let (c, y, x) = (Int(sample[0]), Int(sample[1]), Int(sample[2]))
            XCTAssertEqual(Double(gradient.scalars[(c * 48 + y) * 64 + x]), sample[3], accuracy: gradientTolerance * largest,
                           "gradient[\(c),\(y),\(x)]")
        }
    }

    func testObjectiveAndGradientMatchReference() throws { try checkObjective(algorithm: .direct) }

    func testObjectiveAndGradientMatchReferenceWithWinograd() throws { try checkObjective(algorithm: .winograd) }

    /// Each layer's algorithm measured on this machine, then remembered in a file.
    func testObjectiveAndGradientMatchReferenceWithMeasuredChoices() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("timings-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        MeasuredKernels.keep(in: file)
        try checkObjective(algorithm: .auto)
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: [String: Double]]
        // Every convolution shape of this objective's network (all three images are 64x48), measured both ways and
        // keyed by the CPU that measured it. The process's other tests leave entries of their own in the same file.
        let depth = VGG19.reluLayers.firstIndex(of: ObjectiveSettings().deepestLayer)!
        let shapes = Set(VGG19.plan(height: 48, width: 64, depth: depth).map { layer, h, w in
            "[1, \(layer.inputChannels), \(h), \(w)] \(layer.weightShape) s1 p1"
        })
        let here = saved.filter { entry in
            entry.key.hasSuffix(" \(Precision.cpuModel)") && shapes.contains { entry.key.hasPrefix($0 + " ") }
        }
        XCTAssertEqual(here.count, shapes.count, "one entry per convolution shape: \(saved.keys.sorted())")
        XCTAssertTrue(here.values.allSatisfy { $0["direct"]! > 0 && $0["winograd"] != nil }, "\(here)")
    }

    /// bf16 convolutions (about 3 significant digits per value, float32 sums): the objective within 2% of PyTorch's
    /// float64 numbers, its gradient within 6% (ReLU outputs near zero that round to the other side pass all or
    /// none of their gradient).
    func testObjectiveAndGradientMatchReferenceInBF16() throws {
        try checkObjective(algorithm: .direct, precision: .bf16, tolerance: 2e-2, gradientTolerance: 6e-2)
    }
}
