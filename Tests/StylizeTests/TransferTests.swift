import XCTest
@testable import Stylize

/// Small end-to-end runs on the bundled photo and painting.
final class TransferTests: XCTestCase {
    static let examples = TestData.examples

    func images(size: Int) throws -> (content: Tensor, style: Tensor) {
        let content = try ImageIO.read(Self.examples.appendingPathComponent("chelsea-cat.png").path).resized(longSide: size)
        let style = try ImageIO.read(Self.examples.appendingPathComponent("starry-night.jpg").path).resized(longSide: size)
        return (content.tensor, style.tensor)
    }

    func run(_ settings: TransferSettings, size: Int = 64) throws -> (first: Double, last: Double, image: Tensor) {
        let (content, style) = try images(size: size)
        let transfer = try StyleTransfer(vgg: TestData.vgg(), content: content, style: style, settings: settings)
        var totals: [Double] = []
        let image = try transfer.run { progress in
            totals.append(progress.terms.total)
            return true
        }
        XCTAssertEqual(totals.count, settings.iterations + 1, "iteration 0 and one evaluation per iteration")
        XCTAssertEqual(image.shape, content.shape)
        return (totals.first!, totals.last!, image)
    }

    func testLBFGSLowersTheObjectiveSeveralFold() throws {
        var settings = TransferSettings()
        settings.iterations = 20
        let (first, last, _) = try run(settings)
        XCTAssertLessThan(last, first / 3)
    }

    func testAdamFromNoiseLowersTheObjective() throws {
        var settings = TransferSettings()
        settings.iterations = 20
        settings.optimizer = .adam
        settings.start = .noise
        let (first, last, _) = try run(settings)
        XCTAssertLessThan(last, first * 0.8)
    }

    func testZeroIterationsReturnsTheStartImage() throws {
        var settings = TransferSettings()
        settings.iterations = 0
        let (_, _, image) = try run(settings)
        let (content, _) = try images(size: 64)
        XCTAssertEqual(image.scalars.map { $0.rounded() }, content.scalars.map { $0.rounded() })
    }

    func testObserverCanStopEarly() throws {
        let (content, style) = try images(size: 48)
        var settings = TransferSettings()
        settings.iterations = 50
        let transfer = try StyleTransfer(vgg: TestData.vgg(), content: content, style: style, settings: settings)
        var seen = 0
        _ = try transfer.run { progress in
            seen += 1
            return progress.iteration < 3
        }
        XCTAssertEqual(seen, 4)
    }

    func testDivergenceIsReportedNotReturned() throws {
        let (content, style) = try images(size: 48)
        var settings = TransferSettings()
        settings.iterations = 5
        settings.optimizer = .adam
        settings.learningRate = 1e30
        let transfer = try StyleTransfer(vgg: TestData.vgg(), content: content, style: style, settings: settings)
        XCTAssertThrowsError(try transfer.run()) { error in
            XCTAssertTrue("\(error)".contains("objective became"), "\(error)")
        }
    }

    /// Resuming from a partly painted image (a stopped job, a coarser stage, `--init result.png`) in bf16: L-BFGS's
    /// first, L1-scaled step is too small to change the bf16 gradient, and the step after it used to blow the objective
    /// up to 1e25 (then inf). The too-long step is now shortened until the objective is sane.
    func testBF16RunFromAPartlyPaintedImageDoesNotBlowUp() throws {
        try TestData.requireKernel(.direct, in: .bf16)
        let (content, style) = try images(size: 128)
        var settings = TransferSettings()
        settings.iterations = 30
        settings.objective.precision = .bf16
        let first = try StyleTransfer(vgg: TestData.vgg(), content: content, style: style, settings: settings).run()
        settings.start = .image(Image(first).clamped().tensor.rounded())  // as a PNG would keep it
        var totals: [Double] = []
        _ = try StyleTransfer(vgg: TestData.vgg(), content: content, style: style, settings: settings).run { progress in
            totals.append(progress.terms.total)
            return true
        }
        XCTAssertEqual(totals.count, 31)
        XCTAssertTrue(totals.allSatisfy { $0.isFinite && $0 <= 10 * totals[0] }, "\(totals)")
        XCTAssertLessThan(totals.last!, totals[0])
    }
}

private extension Tensor {
    func rounded() -> Tensor { Tensor(shape: shape, scalars: scalars.map { $0.rounded() }) }
}
