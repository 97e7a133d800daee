import Foundation
import XCTest

@testable import Stylize

final class ImageQualityTests: XCTestCase {
    /// An image from a formula, `value(channel, y, x)`, rounded to Float as the Python references do.
    private func formula(width: Int, height: Int, _ value: (Double, Double, Double) -> Double) -> Image {
        var image = Image(width: width, height: height, repeating: 0)
        for c in 0..<3 { for y in 0..<height { for x in 0..<width {
            image[c, y, x] = Float(value(Double(c), Double(y), Double(x)))
        }}}
        return image
    }

    /// The pair the scikit-image references were computed for. `b` strays below 0 and above 255 in
    /// about 8% of its values, so the references also check that the images are clamped.
    private func referencePair(width: Int, height: Int) -> (a: Image, b: Image) {
        func a(_ c: Double, _ y: Double, _ x: Double) -> Double {
            127.5 + 110 * sin(0.21 * x * (c + 1) + 0.13 * y) + 15 * cos(0.7 * (x + y) - c)
        }
        return (
            formula(width: width, height: height, a),
            formula(width: width, height: height) { c, y, x in a(c, y, x) + 30 * sin(0.37 * x - 0.29 * y * (c + 1)) - 8 }
        )
    }

    /// Integers in 0...200, so that adding small integers is exact and stays within 0...255.
    private func patterned(width: Int, height: Int) -> Image {
        var generator = SeededGenerator(seed: 7)
        let pixels = (0..<(3 * width * height)).map { _ in Float(generator.next() % 201) }
        return Image(width: width, height: height, pixels: pixels)
    }

    // MARK: - Luma

    func testLumaIsBT601OfTheClampedImage() {
        // Columns: black, white, red, green, blue, and red again as 300, -20 and NaN clamp to it.
        let red: [Float] = [0, 255, 255, 0, 0, 300]
        let green: [Float] = [0, 255, 0, 255, 0, -20]
        let blue: [Float] = [0, 255, 0, 0, 255, .nan]
        let luma = Image(width: 6, height: 1, pixels: red + green + blue).lumaBT601
        let expected: [Float] = [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966, 16 + 65.481]
        XCTAssertEqual(luma.count, expected.count)
        for (actual, wanted) in zip(luma, expected) { XCTAssertEqual(actual, wanted, accuracy: 1e-4) }
    }

    func testLumaIsRowMajor() {
        var image = Image(width: 3, height: 2, repeating: 0)
        for c in 0..<3 { image[c, 1, 2] = 255 }
        XCTAssertEqual(image.lumaBT601, [16, 16, 16, 16, 16, 235])
    }

    // MARK: - PSNR

    func testPSNROfAConstantOffset() {
        // +5 in every channel moves Y by 5 (65.481 + 128.553 + 24.966) / 255 = 1095 / 255 everywhere,
        // so PSNR = 10 log10(255² / (1095 / 255)²) = 20 log10(255² / 1095) = 35.47332483383546 dB.
        let original = formula(width: 17, height: 13) { c, y, x in (125 + 100 * sin(0.3 * x + 0.2 * y + c)).rounded() }
        let brighter = Image(width: 17, height: 13, pixels: original.pixels.map { $0 + 5 })
        XCTAssertEqual(ImageQuality.psnr(original, brighter, border: 0), 35.47332483383546, accuracy: 1e-9)
        XCTAssertEqual(ImageQuality.psnr(brighter, original, border: 3), 35.47332483383546, accuracy: 1e-9)
    }

    func testIdenticalImagesScoreInfinityAndOne() {
        let image = referencePair(width: 32, height: 32).b
        XCTAssertEqual(ImageQuality.psnr(image, image, border: 0), .infinity)
        XCTAssertEqual(ImageQuality.ssim(image, image, border: 0), 1, accuracy: 1e-12)
        XCTAssertEqual(ImageQuality.ssim(image, image, border: 4), 1, accuracy: 1e-12)
    }

    func testValuesBeyondTheByteRangeAreClampedFirst() {
        // Both clamp to the same image, as they would if written to files.
        var over = patterned(width: 16, height: 16), further = over
        over[0, 5, 5] = 300
        further[0, 5, 5] = 1000
        over[2, 9, 3] = -1
        further[2, 9, 3] = -50
        XCTAssertEqual(ImageQuality.psnr(over, further, border: 0), .infinity)
        XCTAssertEqual(ImageQuality.ssim(over, further, border: 0), 1, accuracy: 1e-12)
    }

    func testOnlyTheInteriorCounts() {
        let original = patterned(width: 20, height: 20)
        var changed = original
        // Wild values in the outer two rows and columns: they are cropped away.
        for c in 0..<3 {
            for i in 0..<20 {
                for edge in [0, 1, 18, 19] {
                    changed[c, edge, i] = 255 - changed[c, edge, i]
                    changed[c, i, edge] = 0
                }
            }
        }
        XCTAssertEqual(ImageQuality.psnr(original, changed, border: 2), .infinity)
        XCTAssertEqual(ImageQuality.ssim(original, changed, border: 2), 1, accuracy: 1e-12)
        XCTAssertLessThan(ImageQuality.psnr(original, changed, border: 1), 30)
        // Hardly lower: SSIM averages only where its window fits inside the crop, so row and column 1
        // reach the average only through the window's outermost taps.
        XCTAssertLessThan(ImageQuality.ssim(original, changed, border: 1), 1)

        // One interior pixel 10 brighter in every channel: Y differs by 10 · 219 / 255 at one of the
        // 16 × 16 pixels left, so MSE = (2190 / 255)² / 256 and PSNR = 53.53512457367434 dB.
        for c in 0..<3 { changed[c, 9, 12] += 10 }
        XCTAssertEqual(ImageQuality.psnr(original, changed, border: 2), 53.53512457367434, accuracy: 1e-9)
    }

    // MARK: - SSIM

    /// References from scikit-image 0.26.0 (scipy 1.17.1, numpy 2.4.6), the pair rebuilt from the same
    /// formulas:
    ///
    ///     import numpy as np
    ///     from skimage.metrics import structural_similarity, peak_signal_noise_ratio
    ///     c, y, x = np.meshgrid(np.arange(3.0), np.arange(h * 1.0), np.arange(w * 1.0), indexing="ij")
    ///     a = 127.5 + 110 * np.sin(0.21 * x * (c + 1) + 0.13 * y) + 15 * np.cos(0.7 * (x + y) - c)
    ///     b = a + 30 * np.sin(0.37 * x - 0.29 * y * (c + 1)) - 8
    ///     def luma(rgb):  # float32 like Image, then clamped, then BT.601 in float64
    ///         r, g, bl = np.clip(rgb.astype(np.float32).astype(np.float64), 0, 255)
    ///         return 16 + (65.481 * r + 128.553 * g + 24.966 * bl) / 255
    ///     ya, yb = luma(a), luma(b)
    ///     if border: ya, yb = ya[border:-border, border:-border], yb[border:-border, border:-border]
    ///     structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5,
    ///                           use_sample_covariance=False, data_range=255)
    ///     peak_signal_noise_ratio(ya, yb, data_range=255)
    func testMatchesScikitImage() {
        let cases: [(width: Int, height: Int, border: Int, ssim: Double, psnr: Double)] = [
            (32, 32, 0, 0.8805601847690441, 25.47912313101818),
            (40, 32, 4, 0.8895973250467504, 25.80816709529476),  // not square, to catch a transposition
        ]
        for test in cases {
            let (a, b) = referencePair(width: test.width, height: test.height)
            let context = "\(test.width)x\(test.height), border \(test.border)"
            XCTAssertEqual(ImageQuality.ssim(a, b, border: test.border), test.ssim, accuracy: 1e-9, context)
            XCTAssertEqual(ImageQuality.ssim(b, a, border: test.border), test.ssim, accuracy: 1e-9, context)
            XCTAssertEqual(ImageQuality.psnr(a, b, border: test.border), test.psnr, accuracy: 1e-9, context)
        }
    }

    func testMoreBlurScoresLower() {
        let original = Image(FormulaImage.image.tensor(height: 48, width: 64))
        let light = original.gaussianBlurred(sigma: 0.7)
        let heavy = original.gaussianBlurred(sigma: 1.5)
        let (lightSSIM, heavySSIM) = (ImageQuality.ssim(original, light, border: 4), ImageQuality.ssim(original, heavy, border: 4))
        XCTAssertLessThan(lightSSIM, 1)
        XCTAssertLessThan(heavySSIM, lightSSIM)
        XCTAssertLessThan(ImageQuality.psnr(original, heavy, border: 4), ImageQuality.psnr(original, light, border: 4))
    }

    // MARK: - No-reference measures of upscalers

    /// `periodicPower` against its Fourier definition, computed here by a direct DFT of every row and column at the
    /// harmonics of the period: Σ|F|² / N² per row (column), averaged over rows (columns), the two added.
    func testPeriodicPowerIsTheSpectrumAtThePeriodsHarmonics() {
        // Sides that stay multiples of each period after each border.
        let image = patterned(width: 36, height: 24)
        for (period, border) in [(4, 2), (2, 0), (3, 3)] {
            var luma: [[Double]] = []
            let (width, height) = (36 - 2 * border, 24 - 2 * border)
            let plane = image.clamped().lumaBT601
            for y in 0..<height { luma.append((0..<width).map { Double(plane[(y + border) * 36 + $0 + border]) }) }
            func harmonics(_ line: [Double]) -> Double {
                let n = line.count
                return (1..<period).reduce(0) { total, k in
                    let frequency = 2 * Double.pi * Double(k * n / period) / Double(n)
                    let re = line.indices.reduce(0) { $0 + line[$1] * cos(frequency * Double($1)) }
                    let im = line.indices.reduce(0) { $0 - line[$1] * sin(frequency * Double($1)) }
                    return total + (re * re + im * im) / Double(n * n)
                }
            }
            let rows = luma.reduce(0) { $0 + harmonics($1) } / Double(height)
            let columns = (0..<width).reduce(0) { total, x in total + harmonics(luma.map { $0[x] }) } / Double(width)
            XCTAssertEqual(ImageQuality.periodicPower(image, period: period, border: border), rows + columns,
                           accuracy: 1e-6 * (rows + columns), "period \(period), border \(border)")
        }
    }

    /// A pattern of ±3 alternating along rows on a grey image: its power at the periods 2 and 4 is the pattern's,
    /// at the period 3 none; the grey image has none. A ramp, being no periodic image, has some.
    func testPeriodicPowerFindsAHatching() {
        let grey = Image(width: 48, height: 48, repeating: 128)
        var hatched = grey
        for c in 0..<3 { for y in 0..<48 { for x in 0..<48 { hatched[c, y, x] += x % 2 == 0 ? 3 : -3 } } }
        // Luma weighs R, G and B by 219/255 in all.
        let amplitude = 3.0 * 219 / 255
        XCTAssertEqual(ImageQuality.periodicPower(grey, period: 4, border: 4), 0, accuracy: 1e-9)
        XCTAssertEqual(ImageQuality.periodicPower(hatched, period: 4, border: 4), amplitude * amplitude, accuracy: 1e-9)
        XCTAssertEqual(ImageQuality.periodicPower(hatched, period: 2, border: 4), amplitude * amplitude, accuracy: 1e-9)
        XCTAssertEqual(ImageQuality.periodicPower(hatched, period: 3, border: 3), 0, accuracy: 1e-9)
        var ramp = grey
        for c in 0..<3 { for y in 0..<48 { for x in 0..<48 { ramp[c, y, x] = Float(2 * x) } } }
        XCTAssertGreaterThan(ImageQuality.periodicPower(ramp, period: 4, border: 4), 0.1)
    }

    func testMeanAbsoluteGradientOfARampAndOfABlur() {
        // Luma rises by 219/255 per step of 1 in every channel: a ramp of 2 per pixel along x only.
        var ramp = Image(width: 20, height: 10, repeating: 0)
        for c in 0..<3 { for y in 0..<10 { for x in 0..<20 { ramp[c, y, x] = Float(2 * x) } } }
        XCTAssertEqual(ImageQuality.meanAbsoluteGradient(ramp, border: 2), (2.0 * 219 / 255 + 0) / 2, accuracy: 1e-4)
        let original = Image(FormulaImage.image.tensor(height: 48, width: 64))
        XCTAssertLessThan(ImageQuality.meanAbsoluteGradient(original.gaussianBlurred(sigma: 1.5), border: 4),
                          ImageQuality.meanAbsoluteGradient(original, border: 4))
    }
}
