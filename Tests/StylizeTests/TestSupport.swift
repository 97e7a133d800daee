import Foundation
import XCTest
@testable import Stylize

/// What the tests share: the example images, the installed VGG19 weights, random tensors and scratch folders.
enum TestData {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let examples = repository.appendingPathComponent("examples")

    /// The path of an example image (`examples/NAME`).
    static func example(_ name: String) -> String { examples.appendingPathComponent(name).path }

    static func exampleImage(_ name: String, longSide: Int) throws -> Image {
        try ImageIO.read(example(name)).resized(longSide: longSide)
    }

    /// The installed VGG19 weights, read once. The suite downloads nothing: `scripts/test.sh` installs them first
    /// (`stylize weights`); without them the tests that need them are skipped and say how to install them.
    static func vgg() throws -> VGG19 {
        switch installedVGG {
        case .success(let vgg): return vgg
        case .failure(let error):
            throw XCTSkip("the VGG19 weights are not installed (run `stylize weights`, or scripts/test.sh): \(error)")
        }
    }

    /// Skips a test of kernels this CPU does not have (oneDNN's bf16 and Winograd kernels need AVX-512).
    static func requireKernel(_ algorithm: ConvolutionAlgorithm, in precision: Precision) throws {
        try XCTSkipUnless(Convolution.isAvailable(algorithm, in: precision), "oneDNN has no \(algorithm) \(precision) "
            + "convolution on this CPU (\(Precision.cpuModel), \(Precision.dispatchedISA))")
    }

    private static let installedVGG = Result { try VGG19(parameters: VGG19Weights.load(from: VGG19Weights.defaultFile())) }
}

/// A test class that draws random tensors from its own seeded generator, so that each run sees the same numbers.
protocol RandomTensors: AnyObject {
    var random: SeededGenerator { get set }
}

extension RandomTensors {
    /// Values uniform in ±scale.
    func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.uniform(-scale, scale) })
    }
}

extension XCTestCase {
    /// A new empty folder, removed when the test ends.
    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stylize-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }
}
