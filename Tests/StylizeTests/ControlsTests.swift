import Foundation
import XCTest
@testable import Stylize

/// The controls of `stylize transfer` on small images: each test shows the control's effect, and most
/// compare against a run without it, so that a control that did nothing would fail.
final class ControlsTests: XCTestCase {
    static func example(_ name: String, longSide: Int) -> Image {
        try! TestData.exampleImage(name, longSide: longSide)  // the examples are part of the repository
    }

    /// 48 x 32 (cat) and two small styles of one size, which share their network.
    static let content = example("chelsea-cat.png", longSide: 48)
    static let starry = example("starry-night.jpg", longSide: 48).resized(width: 48, height: 36)
    static let wave = example("great-wave.png", longSide: 48).resized(width: 48, height: 36)

    /// VGG19 down to relu3_1 only, which builds and runs a few times faster than down to relu5_1: the
    /// controls do not depend on the depth.
    func settings(iterations: Int = 4, _ change: (inout TransferSettings) -> Void = { _ in }) -> TransferSettings {
        var settings = TransferSettings()
        settings.iterations = iterations
        settings.objective.contentLayers = [WeightedLayer("relu3_1")]
        settings.objective.styleLayers = ["relu1_1", "relu2_1", "relu3_1"].map { WeightedLayer($0) }
        change(&settings)
        return settings
    }

    func run(_ styles: [StyleImage], _ settings: TransferSettings, content: Image = content) throws -> Tensor {
        try StyleTransfer(vgg: TestData.vgg(), content: content.tensor, styles: styles, settings: settings).run()
    }

    // MARK: several styles

    func testBlendOneZeroIsTheFirstStyleAlone() throws {
        let alone = try run([StyleImage(Self.starry)], settings())
        let blended = try run([StyleImage(Self.starry, weight: 1), StyleImage(Self.wave, weight: 0)], settings())
        XCTAssertEqual(blended, alone)
        let even = try run([StyleImage(Self.starry), StyleImage(Self.wave)], settings())
        XCTAssertNotEqual(even, alone, "the second style, weighted, changes the result")
    }

    func testBlendWeightsAreNormalised() throws {
        let small = try run([StyleImage(Self.starry, weight: 3), StyleImage(Self.wave, weight: 1)], settings())
        let large = try run([StyleImage(Self.starry, weight: 30), StyleImage(Self.wave, weight: 10)], settings())
        XCTAssertEqual(small.scalars.indices.map { abs(small.scalars[$0] - large.scalars[$0]) }.max()!, 0, accuracy: 1e-3)
    }

    func testBadStyleWeightsAreRefused() {
        XCTAssertThrowsError(try run([StyleImage(Self.starry, weight: -1), StyleImage(Self.wave)], settings()))
        XCTAssertThrowsError(try run([StyleImage(Self.starry, weight: 0)], settings()))
    }

    // MARK: masks

    /// Style only in the left 16 columns of 48, with no content or smoothness term: the style loss reaches
    /// the pixels its masked features see (relu2_1's receptive field reaches 4 columns past the mask's
    /// pooled edge), and no further. Without the mask the same run moves every pixel.
    func testPixelsOutsideAMaskAreNotMovedByItsStyle() throws {
        let (width, height) = (Self.content.width, Self.content.height)
        let mask = StyleMask(height: height, width: width, values: (0..<height * width).map { $0 % width < 16 ? 1 : 0 })
        let settings = settings(iterations: 3) {
            $0.objective.contentWeight = 0
            $0.objective.tvWeight = 0
            $0.objective.styleLayers = [WeightedLayer("relu1_1"), WeightedLayer("relu2_1")]
        }
        let masked = try run([StyleImage(Self.starry, mask: mask)], settings)
        let unmasked = try run([StyleImage(Self.starry)], settings)
        let original = Self.content.tensor
        func moved(_ image: Tensor, columns: Range<Int>) -> Float {
            var most: Float = 0
            for c in 0..<3 { for y in 0..<height { for x in columns {
                let i = (c * height + y) * width + x
                most = max(most, abs(image.scalars[i] - original.scalars[i]))
            }}}
            return most
        }
        // Only the float rounding of preprocessing and back (x − mean + mean) is left there.
        XCTAssertLessThan(moved(masked, columns: 24..<width), 1e-4, "outside the mask and its reach")
        XCTAssertGreaterThan(moved(masked, columns: 0..<16), 1, "inside the mask")
        XCTAssertGreaterThan(moved(unmasked, columns: 24..<width), 1, "without the mask")
    }

    func testMaskedGramOfAWhiteMaskIsTheGram() {
        var random = SeededGenerator(seed: 3)
        let features = Tensor(shape: [4, 5, 6], scalars: (0..<120).map { _ in random.uniform(-1, 1) })
        let white = StyleMask(height: 5, width: 6, values: [Float](repeating: 1, count: 30))
        XCTAssertEqual(GramMatrix.of(features, mask: white).scalars, GramMatrix.of(features).scalars)
        let grey = StyleMask(height: 5, width: 6, values: [Float](repeating: 0.5, count: 30))
        for (a, b) in zip(GramMatrix.of(features, mask: grey).scalars, GramMatrix.of(features).scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-6, "a uniform grey mask keeps the Gram matrix's scale")
        }
    }

    func testMaskedStyleLossGradient() {
        var random = SeededGenerator(seed: 5)
        func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.uniform(-2, 2) }) }
        let mask = StyleMask(height: 5, width: 7, values: (0..<35).map { _ in random.uniform(0, 1) })
        let loss = StyleLoss(target: GramMatrix.of(tensor([6, 5, 7])), weight: 100, mask: mask)
        let x = tensor([6, 5, 7])
        let analytic = loss(x).gradient
        for i in stride(from: 0, to: x.count, by: 17) {
            var plus = x, minus = x
            plus.scalars[i] += 1e-2; minus.scalars[i] -= 1e-2
            let numeric = (loss(plus).loss - loss(minus).loss) / 2e-2
            XCTAssertEqual(Double(analytic.scalars[i]), numeric, accuracy: 2e-3 * max(1e-3, abs(numeric)) + 1e-6, "element \(i)")
        }
    }

    func testMaskFollowsThePoolingDown() {
        let mask = StyleMask(height: 5, width: 4, values: (0..<20).map { Float($0) })
        let half = mask.halved()
        XCTAssertEqual([half.height, half.width], [2, 2])
        XCTAssertEqual(half.values, [2.5, 4.5, 10.5, 12.5])
        XCTAssertEqual(mask.following(toHeight: 1, width: 1).values, [7.5])
    }

    func testAllBlackOrMisfitMasksAreRefused() {
        let (w, h) = (Self.content.width, Self.content.height)
        let black = StyleMask(height: h, width: w, values: [Float](repeating: 0, count: w * h))
        XCTAssertThrowsError(try run([StyleImage(Self.starry, mask: black)], settings()))
        let small = StyleMask(height: 8, width: 8, values: [Float](repeating: 1, count: 64))
        XCTAssertThrowsError(try run([StyleImage(Self.starry, mask: small)], settings()))
    }

    func testMasksWorkWithAveragePoolingAndOddSizes() throws {
        let content = Self.example("cincinnati-bridge.jpg", longSide: 37)
        let mask = StyleMask(height: content.height, width: content.width,
                             values: (0..<content.height * content.width).map { $0 % content.width < 20 ? 1 : 0 })
        let inverse = StyleMask(height: mask.height, width: mask.width, values: mask.values.map { 1 - $0 })
        let settings = settings(iterations: 2) { $0.objective.pooling = .avg }
        let result = try run([StyleImage(Self.starry, mask: mask), StyleImage(Self.wave, mask: inverse)],
                             settings, content: content)
        XCTAssertEqual(result.shape, [3, content.height, content.width])
        XCTAssertTrue(result.scalars.allSatisfy(\.isFinite))
    }

    // MARK: colours

    func testLuminanceTransferKeepsTheContentsChroma() throws {
        let result = Image(try run([StyleImage(Self.starry)], settings { $0.preserveColors = .luminance }))
        let chromaError = zip(result.chroma, Self.content.chroma).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(chromaError, 1e-2)
        let luminanceChange = zip(result.luminance, Self.content.luminance).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(luminanceChange, 1, "the style changed the luminance")
        let plain = Image(try run([StyleImage(Self.starry)], settings()))
        XCTAssertGreaterThan(zip(plain.chroma, Self.content.chroma).map { abs($0 - $1) }.max()!, 1, "without it, colours change")
    }

    func testWithLuminanceReplacesOnlyTheLuminance() {
        let image = Self.content
        let target = image.luminance.map { 255 - $0 }
        let changed = image.withLuminance(target)
        for (a, b) in zip(changed.luminance, target) { XCTAssertEqual(a, b, accuracy: 1e-3) }
        for (a, b) in zip(changed.chroma, image.chroma) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }

    func testColorMatchingGivesTheReferencesMeanAndCovariance() {
        let recoloured = Self.starry.matchingColors(of: Self.content)
        let (mean, covariance) = recoloured.colorStatistics()
        let (targetMean, targetCovariance) = Self.content.colorStatistics()
        for (a, b) in zip(mean, targetMean) { XCTAssertEqual(a, b, accuracy: 1e-2) }
        for (a, b) in zip(covariance, targetCovariance) { XCTAssertEqual(a, b, accuracy: 1e-3 * targetCovariance[0]) }
        XCTAssertNotEqual(Self.starry.colorStatistics().mean.map { Int($0) }, targetMean.map { Int($0) })
    }

    func testMatchTransfersTowardsTheRecolouredStyle() throws {
        let settings = settings(iterations: 0) { $0.preserveColors = .match }
        let matched = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.tensor, styles: [StyleImage(Self.starry)], settings: settings)
        let recoloured = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.tensor,
                                           styles: [StyleImage(Self.starry.matchingColors(of: Self.content))],
                                           settings: self.settings(iterations: 0))
        let plain = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.tensor, styles: [StyleImage(Self.starry)],
                                      settings: self.settings(iterations: 0))
        let x = VGG19.preprocess(Self.content.tensor)
        let (a, b, c) = (try matched.objective.evaluate(x).terms.style, try recoloured.objective.evaluate(x).terms.style,
                         try plain.objective.evaluate(x).terms.style)
        XCTAssertEqual(a, b, accuracy: 1e-9 * b)
        XCTAssertLessThan(a, c, "the photo is closer in style to the style recoloured to its own colours")
    }

    // MARK: start images

    func testBlurredStartIsTheBlurredPhoto() throws {
        let transfer = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.tensor, styles: [StyleImage(Self.starry)],
                                         settings: settings(iterations: 0) { $0.start = .blurred(sigma: 3) })
        let start = try transfer.run()
        let expected = Self.content.gaussianBlurred(sigma: 3).tensor
        XCTAssertLessThan(zip(start.scalars, expected.scalars).map { abs($0 - $1) }.max()!, 1e-3)
        XCTAssertGreaterThan(zip(start.scalars, Self.content.tensor.scalars).map { abs($0 - $1) }.max()!, 10)
    }

    func testImageStartMustHaveTheOutputsSize() throws {
        let transfer = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.tensor, styles: [StyleImage(Self.starry)],
                                         settings: settings(iterations: 0) { $0.start = .image(Self.starry.tensor) })
        XCTAssertThrowsError(try transfer.run())
    }

    // MARK: style scale and coarse to fine

    func stages(size: Int, scales: Int, iterations: Int, scaleIterations: [Int]? = nil) throws -> [CoarseToFine.Stage] {
        try settings(iterations: iterations) {
            $0.size = size
            $0.scales = scales
            $0.scaleIterations = scaleIterations
        }.stages()
    }

    func testPlanSplitsIterationsCoarseToFine() throws {
        XCTAssertEqual(try stages(size: 1024, scales: 3, iterations: 700),
                       [.init(longSide: 256, iterations: 400), .init(longSide: 512, iterations: 200), .init(longSide: 1024, iterations: 100)])
        XCTAssertEqual(try stages(size: 500, scales: 1, iterations: 500), [.init(longSide: 500, iterations: 500)])
        XCTAssertEqual(try stages(size: 400, scales: 2, iterations: 0, scaleIterations: [7, 3]).map(\.iterations), [7, 3])
        XCTAssertThrowsError(try stages(size: 400, scales: 2, iterations: 10, scaleIterations: [7]))
        XCTAssertThrowsError(try stages(size: 64, scales: 3, iterations: 10)) {
            XCTAssertEqual(($0 as? InvalidInput)?.setting, "scales", "the first stage would be 16 px")
        }
    }

    /// The second stage starts from the first's result, upsampled: already lower in objective than the photo.
    func testSecondStageStartsFromTheFirstsResult() throws {
        let content = Self.example("chelsea-cat.png", longSide: 96)
        var stageStarts: [Int: Double] = [:]
        let twoStages = settings {
            $0.size = 96
            $0.scales = 2
            $0.scaleIterations = [10, 1]
        }
        let result = try CoarseToFine(vgg: TestData.vgg(), content: content, styles: [StyleImage(Self.starry)], settings: twoStages).run { stage, progress in
            if progress.iteration == 0 { stageStarts[stage] = progress.terms.total }
            return true
        }
        XCTAssertEqual(result.shape, [3, content.height, content.width])
        var fromPhoto: Double = 0
        _ = try CoarseToFine(vgg: TestData.vgg(), content: content, styles: [StyleImage(Self.starry)],
                             settings: settings(iterations: 0) { $0.size = 96 }).run { _, progress in
            fromPhoto = progress.terms.total
            return true
        }
        XCTAssertLessThan(stageStarts[1]!, 0.8 * fromPhoto)
    }

    /// --style-scale 0.5 takes the style's Gram matrices from the style image at half the output's size.
    func testStyleScaleResizesTheStyleRelativeToTheOutput() throws {
        func styleAtStart(scale: Float) throws -> Double {
            var style = 0.0
            let scaled = settings(iterations: 0) {
                $0.size = 64
                $0.styleScale = scale
            }
            _ = try CoarseToFine(vgg: TestData.vgg(), content: Self.content, styles: [StyleImage(Self.example("starry-night.jpg", longSide: 200))],
                                 settings: scaled).run { _, p in
                style = p.terms.style
                return true
            }
            return style
        }
        let halfSize = try StyleTransfer(vgg: TestData.vgg(), content: Self.content.resized(longSide: 64).tensor,
                                         styles: [StyleImage(Self.example("starry-night.jpg", longSide: 200).resized(longSide: 32))],
                                         settings: settings(iterations: 0))
        let expected = try halfSize.objective.evaluate(VGG19.preprocess(Self.content.resized(longSide: 64).tensor)).terms.style
        let half = try styleAtStart(scale: 0.5)
        XCTAssertEqual(half, expected, accuracy: 1e-6 * expected)
        XCTAssertNotEqual(half, try styleAtStart(scale: 1), accuracy: 1e-3 * expected)
    }

    func testMasksOfAnotherSizeAreResizedToEachStage() throws {
        let mask = StyleMask(height: 10, width: 10, values: (0..<100).map { $0 % 10 < 5 ? 1 : 0 })
        let result = try CoarseToFine(vgg: TestData.vgg(), content: Self.content, styles: [StyleImage(Self.starry, mask: mask)],
                                      settings: settings(iterations: 1) { $0.size = 48 }).run()
        XCTAssertEqual(result.shape, [3, Self.content.height, Self.content.width])
    }

    // MARK: memory

    func testMemoryEstimateGrowsWithSizeAndHistory() {
        var settings = TransferSettings()
        let small = MemoryEstimate.peakBytes(height: 512, width: 512, styleSizes: [(512, 512)], settings: settings)
        let large = MemoryEstimate.peakBytes(height: 1024, width: 1024, styleSizes: [(1024, 1024)], settings: settings)
        XCTAssertGreaterThan(Double(large - MemoryEstimate.fixedBytes), 3.9 * Double(small - MemoryEstimate.fixedBytes))
        settings.lbfgsHistory = 5
        let shortHistory = MemoryEstimate.peakBytes(height: 1024, width: 1024, styleSizes: [(1024, 1024)], settings: settings)
        // 95 fewer pairs of 3·1024² floats.
        XCTAssertEqual(Double(large - shortHistory), 95 * 2 * 3 * 1024 * 1024 * 4 * MemoryEstimate.calibration, accuracy: 1e6)
        XCTAssertEqual(MemoryEstimate.largestFittingLongSide(upTo: 4096, bytes: large) { side in
            MemoryEstimate.peakBytes(height: side, width: side, styleSizes: [(side, side)], settings: TransferSettings())
        }, 1024)
    }

    /// The memory policy: a history left to the library shrinks until the run fits; a run that cannot fit says
    /// which size would.
    func testMemoryFitShortensTheHistoryThenSuggestsASize() throws {
        var settings = TransferSettings()
        settings.size = 1024
        let photo = (width: 1024, height: 1024)
        let full = try MemoryEstimate.peakBytes(content: photo, styles: [photo], settings: settings)
        let (fitted, needed) = try MemoryEstimate.fit(settings, content: photo, styles: [photo], availableBytes: full - 1)
        XCTAssertEqual(fitted.lbfgsHistory, 95)
        XCTAssertLessThan(needed, full)
        XCTAssertEqual(try MemoryEstimate.fit(settings, content: photo, styles: [photo], availableBytes: full).settings.lbfgsHistory, 100)
        settings.lbfgsHistory = 100
        XCTAssertThrowsError(try MemoryEstimate.fit(settings, content: photo, styles: [photo], availableBytes: full - 1)) { error in
            let tooLarge = error as? MemoryEstimate.TooLarge
            XCTAssertNotNil(tooLarge?.fittingSize)
            XCTAssertLessThan(tooLarge?.fittingSize ?? .max, 1024)
            XCTAssertNil(tooLarge?.fittingSizeWithShortestHistory, "the history was given, so it is not the library's to shorten")
        }
    }
}
