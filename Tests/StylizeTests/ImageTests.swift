import Foundation
import XCTest

@testable import Stylize

final class ImageTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try temporaryDirectory()
    }

    private func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    private func filesInFolder() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// A test image whose values are arbitrary but fixed, integers in 0...255.
    private func patterned(width: Int, height: Int) -> Image {
        var generator = SeededGenerator(seed: 42)
        let pixels = (0..<(3 * width * height)).map { _ in Float(generator.next() % 256) }
        return Image(width: width, height: height, pixels: pixels)
    }

    /// A smooth image, the kind JPEG is made for.
    private func gradient(width: Int, height: Int) -> Image {
        var image = Image(width: width, height: height, repeating: 0)
        for y in 0..<height {
            for x in 0..<width {
                image[0, y, x] = Float(x * 255 / (width - 1))
                image[1, y, x] = Float(y * 255 / (height - 1))
                image[2, y, x] = 128
            }
        }
        return image
    }

    private func assertThrows(
        _ expected: ImageError, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? ImageError, expected, file: file, line: line)
        }
    }

    private func assertEqual(
        _ actual: [Float], _ expected: [Float], accuracy: Float, _ context: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, "\(context): count", file: file, line: line)
        for (index, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > accuracy {
            XCTFail("\(context): value \(index): \(a) is not \(e) within \(accuracy)", file: file, line: line)
            return
        }
    }

    // MARK: - Image

    func testSubscriptIsPlanarChannelMajor() {
        var image = Image(width: 3, height: 2, repeating: 0)
        image[2, 1, 0] = 7
        XCTAssertEqual(image.pixels[2 * 6 + 1 * 3 + 0], 7)
        XCTAssertEqual(image.pixels.filter { $0 != 0 }.count, 1)
    }

    /// The eight symmetries of a 3x2 image are eight different images, each undone by its inverse, and the transposed
    /// upside-down one is the quarter turn clockwise.
    func testSymmetriesAreTheMirrorsAndQuarterTurnsAndAreUndone() {
        let image = Image(width: 3, height: 2, pixels: (0..<18).map(Float.init))
        XCTAssertEqual(Set(Symmetry.all).count, 8)
        XCTAssertEqual(Set(Symmetry.all.map { image.transformed(by: $0).pixels }).count, 8)
        for symmetry in Symmetry.all {
            let transformed = image.transformed(by: symmetry)
            XCTAssertEqual([transformed.width, transformed.height], symmetry.transposed ? [2, 3] : [3, 2], "\(symmetry)")
            XCTAssertEqual(transformed.transformed(by: symmetry.inverse), image, "\(symmetry)")
        }
        // Rows 0 1 2 / 3 4 5 turned clockwise: 3 0 / 4 1 / 5 2 (the first channel).
        let turned = image.transformed(by: Symmetry(transposed: true, upsideDown: true))
        XCTAssertEqual(Array(turned.pixels[0..<6]), [3, 0, 4, 1, 5, 2])
        XCTAssertEqual(Array(turned.pixels[6..<12]), [9, 6, 10, 7, 11, 8])
        XCTAssertEqual(image.transformed(by: .identity), image)
    }

    func testClampedLimitsToByteRangeAndZeroesNaN() {
        let image = Image(width: 4, height: 1, pixels: [-3, 300, .nan, 12.5] + [Float](repeating: 1, count: 8))
        XCTAssertEqual(Array(image.clamped().pixels.prefix(4)), [0, 255, 0, 12.5])
    }

    // MARK: - Writing and reading back

    func testPNGRoundTripIsExact() throws {
        let image = patterned(width: 17, height: 11)
        try ImageIO.write(image, to: path("out.png"))
        XCTAssertEqual(try ImageIO.read(path("out.png")), image)
        XCTAssertEqual(try filesInFolder(), ["out.png"], "no temporary file is left behind")
    }

    func testWritingClampsAndRoundsTo8Bits() throws {
        let image = Image(width: 2, height: 1, pixels: [-3, 300, 10.4, 10.6, 254.5, 0.49])
        try ImageIO.write(image, to: path("out.png"))
        XCTAssertEqual(try ImageIO.read(path("out.png")).pixels, [0, 255, 10, 11, 255, 0])
    }

    func testJPEGRoundTripIsClose() throws {
        let image = gradient(width: 48, height: 32)
        for name in ["out.jpg", "out.JPEG"] {
            try ImageIO.write(image, to: path(name), quality: 95)
            let back = try ImageIO.read(path(name))
            XCTAssertEqual(back.width, 48)
            XCTAssertEqual(back.height, 32)
            let meanError = zip(back.pixels, image.pixels).map { abs($0 - $1) }.reduce(0, +) / Float(image.pixels.count)
            XCTAssertLessThan(meanError, 1.5)
            XCTAssertGreaterThan(meanError, 0, "JPEG is lossy; an exact match means it was not JPEG")
        }
    }

    func testFormatComesFromContentNotName() throws {
        let image = patterned(width: 5, height: 4)
        try ImageIO.write(image, to: path("actually-png.png"))
        try FileManager.default.moveItem(atPath: path("actually-png.png"), toPath: path("named.jpg"))
        XCTAssertEqual(try ImageIO.read(path("named.jpg")), image)
    }

    func testWritingReplacesAnExistingFile() throws {
        try ImageIO.write(Image(width: 3, height: 3, repeating: 10), to: path("out.png"))
        try ImageIO.write(Image(width: 2, height: 5, repeating: 20), to: path("out.png"))
        XCTAssertEqual(try ImageIO.read(path("out.png")), Image(width: 2, height: 5, repeating: 20))
        XCTAssertEqual(try filesInFolder(), ["out.png"])
    }

    // MARK: - Decoding the kinds of file there are

    func testDecodesEachKindOfPNGAndGreyJPEG() throws {
        for (name, fixture) in Fixture.all {
            let file = path(name)
            try fixture.data.write(to: URL(fileURLWithPath: file))
            let image = try ImageIO.read(file)
            XCTAssertEqual(image.width, fixture.width, name)
            XCTAssertEqual(image.height, fixture.height, name)
            assertEqual(image.pixels, fixture.pixels, accuracy: 1e-3, name)
        }
    }

    func testCMYKJPEGIsRefused() throws {
        try Data(base64Encoded: Fixture.cmykJPEG)!.write(to: URL(fileURLWithPath: path("cmyk.jpg")))
        XCTAssertThrowsError(try ImageIO.read(path("cmyk.jpg"))) { error in
            guard case .unsupportedImage(_, let reason) = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("CMYK"), reason)
        }
    }

    func testReadsTheSharedTestImages() throws {
        let content = try sharedImagesFolder().appendingPathComponent("content")
        // Every file's size, from its header alone: a limit of one pixel refuses each before decoding.
        let sizes = [
            "chelsea-cat.png": (451, 300), "astronaut.png": (512, 512), "coffee.png": (600, 400),
            "cincinnati-bridge.jpg": (1302, 953), "canyon.jpg": (1440, 720),
        ]
        for (name, (width, height)) in sizes {
            let file = content.appendingPathComponent(name).path
            assertThrows(.tooLarge(path: file, width: width, height: height, maxPixels: 1)) {
                _ = try ImageIO.read(file, maxPixels: 1)
            }
        }
        // Two decoded in full, against Pillow 13.0's numbers for the same files:
        // a = np.asarray(Image.open(f).convert("RGB")); a.mean(axis=(0, 1)), a[123, 45].
        let expected: [(name: String, means: [Double], pixel: [Float])] = [
            ("chelsea-cat.png", [147.67308943, 111.44447894, 86.79785661], [104, 60, 31]),
            ("cincinnati-bridge.jpg", [92.0688907, 59.3242739, 45.61430957], [30, 30, 58]),
        ]
        for (name, means, pixel) in expected {
            let image = try ImageIO.read(content.appendingPathComponent(name).path)
            XCTAssertEqual([image.width, image.height], [sizes[name]!.0, sizes[name]!.1], name)
            let plane = image.width * image.height
            for channel in 0..<3 {
                let values = image.pixels[(channel * plane)..<((channel + 1) * plane)]
                let mean = values.reduce(0.0) { $0 + Double($1) } / Double(plane)
                XCTAssertEqual(mean, means[channel], accuracy: 1e-6, name)
                XCTAssertEqual(image[channel, 123, 45], pixel[channel], name)
            }
        }
    }

    /// shared/ lies beside the repository: /work/shared for a work tree in /work, and beside CI's clone.
    private func sharedImagesFolder() throws -> URL {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let folder = repository.deletingLastPathComponent().appendingPathComponent("shared/images")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw XCTSkip("no shared/images beside the repository at \(folder.path)")
        }
        return folder
    }

    // MARK: - Reading errors

    func testMissingFile() {
        assertThrows(.fileNotFound(path: path("nothing.png"))) { _ = try ImageIO.read(path("nothing.png")) }
    }

    func testDirectoryIsNotReadable() {
        XCTAssertThrowsError(try ImageIO.read(folder.path)) { error in
            guard case .cannotRead = error as? ImageError else { return XCTFail("\(error)") }
        }
    }

    func testTextFileNamedPNGIsNotAnImage() throws {
        try "hello, this is not a picture\n".write(toFile: path("text.png"), atomically: false, encoding: .utf8)
        assertThrows(.notAnImage(path: path("text.png"))) { _ = try ImageIO.read(path("text.png")) }
        try Data().write(to: URL(fileURLWithPath: path("empty.png")))
        assertThrows(.notAnImage(path: path("empty.png"))) { _ = try ImageIO.read(path("empty.png")) }
    }

    func testTruncatedFilesAreCorruptNotCrashes() throws {
        for name in ["whole.png", "whole.jpg"] {
            try ImageIO.write(patterned(width: 64, height: 48), to: path(name))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path(name)))
            let truncated = path("half-" + name)
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
            XCTAssertThrowsError(try ImageIO.read(truncated)) { error in
                guard case .corrupt(let file, let reason) = error as? ImageError else { return XCTFail("\(error)") }
                XCTAssertEqual(file, truncated)
                XCTAssertFalse(reason.isEmpty)
                XCTAssertTrue("\(error)".contains(truncated), "the message names the file")
            }
        }
    }

    func testDamagedPNGDataIsCorrupt() throws {
        try ImageIO.write(patterned(width: 16, height: 16), to: path("whole.png"))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("whole.png"))))
        bytes[bytes.count / 2] ^= 0xFF  // inside the image data, whose checksum then fails
        try Data(bytes).write(to: URL(fileURLWithPath: path("damaged.png")))
        XCTAssertThrowsError(try ImageIO.read(path("damaged.png"))) { error in
            guard case .corrupt = error as? ImageError else { return XCTFail("\(error)") }
        }
    }

    func testTooLargeIsRefusedFromTheHeader() throws {
        try ImageIO.write(patterned(width: 10, height: 10), to: path("ten.png"))
        try ImageIO.write(patterned(width: 10, height: 10), to: path("ten.jpg"))
        for name in ["ten.png", "ten.jpg"] {
            assertThrows(.tooLarge(path: path(name), width: 10, height: 10, maxPixels: 99)) {
                _ = try ImageIO.read(path(name), maxPixels: 99)
            }
            XCTAssertNoThrow(try ImageIO.read(path(name), maxPixels: 100))
        }
        let message = "\(ImageError.tooLarge(path: "big.png", width: 10, height: 10, maxPixels: 99))"
        XCTAssertTrue(message.contains("99") && message.contains("pixel limit"), message)
    }

    func testZeroSizeFilesAreRefused() throws {
        // A PNG signature and a header chunk saying 0 x 5; the reader must not get further.
        let header: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 5, 8, 2, 0, 0, 0, 0, 0, 0, 0]
        try Data(header).write(to: URL(fileURLWithPath: path("empty.png")))
        assertThrows(.zeroSize(path: path("empty.png"))) { _ = try ImageIO.read(path("empty.png")) }

        // A real JPEG with the height in its frame header set to 0.
        try ImageIO.write(patterned(width: 8, height: 8), to: path("real.jpg"))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("real.jpg"))))
        let frame = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes[frame + 5] = 0  // marker (2), length (2), precision (1), then the height's two bytes
        bytes[frame + 6] = 0
        try Data(bytes).write(to: URL(fileURLWithPath: path("empty.jpg")))
        assertThrows(.zeroSize(path: path("empty.jpg"))) { _ = try ImageIO.read(path("empty.jpg")) }

        assertThrows(.zeroSize(path: path("out.png"))) {
            try ImageIO.write(Image(width: 0, height: 3, pixels: []), to: path("out.png"))
        }
    }

    // MARK: - Writing errors

    func testWritingIntoAMissingDirectoryLeavesNothing() throws {
        let target = path("no/such/folder/out.png")
        XCTAssertThrowsError(try ImageIO.write(patterned(width: 4, height: 4), to: target)) { error in
            guard case .cannotWrite(let file, let reason) = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, target)
            XCTAssertTrue(reason.contains("does not exist"), reason)
        }
        XCTAssertEqual(try filesInFolder(), [])
    }

    func testFailedRenameRemovesTheTemporaryFile() throws {
        // rename(2) cannot put a file where a non-empty directory is.
        try FileManager.default.createDirectory(atPath: path("taken.png/inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageIO.write(patterned(width: 4, height: 4), to: path("taken.png"))) { error in
            guard case .cannotWrite = error as? ImageError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try filesInFolder(), ["taken.png"])
    }

    func testUnsupportedExtension() throws {
        for name in ["out.bmp", "out", "out.png.txt"] {
            assertThrows(.unsupportedExtension(path: path(name))) {
                try ImageIO.write(patterned(width: 2, height: 2), to: path(name))
            }
        }
        XCTAssertEqual(try filesInFolder(), [])
        XCTAssertTrue("\(ImageError.unsupportedExtension(path: "a.bmp"))".contains(".png, .jpg or .jpeg"))
    }

    func testTemporaryFileIsAHiddenSibling() {
        XCTAssertTrue(ImageIO.temporarySibling(of: "out/picture.png").hasPrefix("out/.picture.png."))
        XCTAssertTrue(ImageIO.temporarySibling(of: "picture.png").hasPrefix(".picture.png."))
        XCTAssertNotEqual(ImageIO.temporarySibling(of: "a.png"), ImageIO.temporarySibling(of: "a.png"))
    }

    // MARK: - Resizing

    func testConstantImageStaysConstant() {
        let image = Image(width: 13, height: 7, repeating: 77)
        for filter in Image.Filter.allCases {
            for (width, height) in [(5, 11), (26, 3), (1, 1)] {
                let resized = image.resized(width: width, height: height, filter: filter)
                XCTAssertEqual(resized.width, width)
                XCTAssertEqual(resized.height, height)
                assertEqual(resized.pixels, [Float](repeating: 77, count: 3 * width * height), accuracy: 1e-3)
            }
        }
    }

    func testSameSizeIsIdentity() {
        let image = patterned(width: 9, height: 6)
        for filter in Image.Filter.allCases {
            assertEqual(image.resized(width: 9, height: 6, filter: filter).pixels, image.pixels, accuracy: 1e-4)
            // The weights themselves, which resized(width:height:) skips when a side does not change.
            let weights = ResamplingWeights(from: 7, to: 7, filter: filter)
            for output in 0..<7 {
                for tap in 0..<weights.tapCount[output] {
                    let input = weights.firstInput[output] + tap
                    let weight = weights.weights[output * weights.stride + tap]
                    XCTAssertEqual(weight, input == output ? 1 : 0, accuracy: 1e-6)
                }
            }
        }
    }

    /// Channel c, row y, column x holds x² + 100 y + 10 c: 8 x 2 halved to 4 x 1.
    private func squaresPattern() -> Image {
        var image = Image(width: 8, height: 2, repeating: 0)
        for c in 0..<3 { for y in 0..<2 { for x in 0..<8 { image[c, y, x] = Float(x * x + 100 * y + 10 * c) } } }
        return image
    }

    func testBoxHalvingAveragesPairs() {
        // Columns (0, 1), (4, 9), (16, 25), (36, 49) averaged, then the rows 0 and 100.
        let expected: [Float] = [50.5, 56.5, 70.5, 92.5]
        let resized = squaresPattern().resized(width: 4, height: 1, filter: .box)
        assertEqual(resized.pixels, expected + expected.map { $0 + 10 } + expected.map { $0 + 20 }, accuracy: 1e-4)
    }

    func testBilinearHalvingUsesAStretchedTriangle() {
        // Downscaling by 2 stretches the triangle to 2 px either side: weights 1/8, 3/8, 3/8, 1/8
        // inside, cut to .75, .75, .25 (then / 1.75) at the borders. Columns:
        //   (0·.75 + 1·.75 + 4·.25) / 1.75 = 1,  (1 + 3·4 + 3·9 + 16) / 8 = 7,
        //   (9 + 3·16 + 3·25 + 36) / 8 = 21,     (25·.25 + 36·.75 + 49·.75) / 1.75 = 40;
        // the two rows (0 and 100) get equal weight. Pillow's BILINEAR gives the same.
        let expected: [Float] = [51, 57, 71, 90]
        let resized = squaresPattern().resized(width: 4, height: 1, filter: .bilinear)
        assertEqual(resized.pixels, expected + expected.map { $0 + 10 } + expected.map { $0 + 20 }, accuracy: 1e-4)
    }

    func testBicubicUpscaleMatchesPillow() {
        // numpy + Pillow 13.0: Image.fromarray(a.astype(float32), "F").resize((7, 5), Image.Resampling.BICUBIC)
        // for a = [[0, 255, 40, 90], [120, 30, 200, 10], [60, 180, 75, 240]]. Mode "F" has no
        // 8-bit rounding between the passes, so it is the filter alone.
        let input: [Float] = [0, 255, 40, 90, 120, 30, 200, 10, 60, 180, 75, 240]
        let expected: [Float] = [
            -31.350462, 85.15007, 266.75793, 163.26062, 23.509808, 66.14562, 101.44095,
            34.89281, 84.991714, 165.80449, 146.45755, 97.37152, 64.18409, 47.669525,
            127.13942, 86.324455, 28.851118, 121.25, 196.62244, 73.880875, -5.072115,
            83.967064, 95.41806, 115.647865, 121.73274, 127.620674, 147.09552, 158.10536,
            44.695213, 101.30678, 189.03502, 124.94694, 70.38403, 194.62553, 272.57278,
        ]
        let image = Image(width: 4, height: 3, pixels: input + input + input)
        let resized = image.resized(width: 7, height: 5, filter: .bicubic)
        assertEqual(resized.pixels, expected + expected + expected, accuracy: 2e-3)
    }

    func testLanczosDownscaleMatchesPillow() {
        // Pillow 13.0: Image.fromarray(np.arange(42, dtype=float32).reshape(6, 7) ** 1.5, "F")
        //     .resize((3, 2), Image.Resampling.LANCZOS)
        let input = (0..<42).map { Float(pow(Double($0), 1.5)) }
        let expected: [Float] = [26.046146, 36.146854, 47.8193, 150.12018, 169.3625, 189.29799]
        let resized = Image(width: 7, height: 6, pixels: input + input + input).resized(width: 3, height: 2)
        assertEqual(resized.pixels, expected + expected + expected, accuracy: 2e-3)
    }

    func testLongSideKeepsAspectRatio() {
        let wide = Image(width: 9, height: 4, repeating: 1).resized(longSide: 5)
        XCTAssertEqual([wide.width, wide.height], [5, 2])  // 4 · 5/9 = 2.2
        let tall = Image(width: 3, height: 10, repeating: 1).resized(longSide: 4)
        XCTAssertEqual([tall.width, tall.height], [1, 4])  // 3 · 4/10 = 1.2
        let thin = Image(width: 1, height: 100, repeating: 1).resized(longSide: 10)
        XCTAssertEqual([thin.width, thin.height], [1, 10])  // 0.1 px rounds up to the 1 px minimum
        let cat = Image(width: 451, height: 300, repeating: 1)
        XCTAssertEqual(cat.resized(longSide: 451), cat)
    }

    // MARK: - Gaussian blur

    func testGaussianKernelIsNormalisedAndThreeSigmasWide() {
        for (sigma, taps) in [(Float(0.4), 5), (1, 7), (1.5, 11), (4, 25)] {
            let kernel = gaussianKernel(sigma: sigma)
            XCTAssertEqual(kernel.count, taps)
            XCTAssertEqual(kernel.reduce(0, +), 1, accuracy: 1e-6)
            XCTAssertEqual(kernel, kernel.reversed())
            XCTAssertEqual(kernel.max(), kernel[taps / 2])
        }
    }

    func testBlurKeepsAConstantImage() {
        let image = Image(width: 13, height: 9, repeating: 123)
        assertEqual(image.gaussianBlurred(sigma: 1.5).pixels, image.pixels, accuracy: 1e-3)
        XCTAssertEqual(image.gaussianBlurred(sigma: 0), image)
    }

    func testBlurSpreadsAnImpulseAsTheKernel() {
        var image = Image(width: 15, height: 15, repeating: 0)
        image[1, 7, 7] = 1
        let blurred = image.gaussianBlurred(sigma: 1)
        let kernel = gaussianKernel(sigma: 1)
        for y in 0..<15 {
            for x in 0..<15 {
                let expected = abs(y - 7) <= 3 && abs(x - 7) <= 3 ? kernel[y - 4] * kernel[x - 4] : 0
                XCTAssertEqual(blurred[1, y, x], expected, accuracy: 1e-7)
                XCTAssertEqual(blurred[0, y, x], 0)
            }
        }
    }

    func testBlurRepeatsTheBorderPixels() {
        // A bright left column: beyond the edge it repeats, so column 0 gets the kernel's centre
        // and its whole left half.
        var image = Image(width: 9, height: 3, repeating: 0)
        for c in 0..<3 { for y in 0..<3 { image[c, y, 0] = 100 } }
        let kernel = gaussianKernel(sigma: 1)
        let blurred = image.gaussianBlurred(sigma: 1)
        XCTAssertEqual(blurred[0, 1, 0], 100 * kernel[0...3].reduce(0, +), accuracy: 1e-4)
        XCTAssertEqual(blurred[0, 1, 1], 100 * kernel[0...2].reduce(0, +), accuracy: 1e-4)
        XCTAssertEqual(blurred[0, 1, 4], 0, accuracy: 1e-6)
    }
}
