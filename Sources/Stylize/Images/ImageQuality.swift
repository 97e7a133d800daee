#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Image {
    /// Y of YCbCr per ITU-R BT.601, as MATLAB's `rgb2ycbcr` gives it for 0...255 inputs:
    /// Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, in 16...235, row-major.
    ///
    /// Super-resolution results are conventionally scored on this channel alone (SRCNN, ESPCN and the
    /// MATLAB evaluation code that followed them), so figures computed here can be set beside published
    /// ones. The RGB values are clamped to 0...255 first, as writing a file would, but not rounded:
    /// to score exactly what was written, pass the images as read back from their files.
    public var lumaBT601: [Float] {
        clamped().lumaBT601(cropping: 0).map { Float($0) }
    }

    /// `lumaBT601` in double precision, with `border` pixels removed from every side, of an image
    /// that is already clamped.
    fileprivate func lumaBT601(cropping border: Int) -> [Double] {
        let (croppedWidth, croppedHeight) = (width - 2 * border, height - 2 * border)
        let plane = width * height
        var luma = [Double](repeating: 0, count: croppedWidth * croppedHeight)
        for y in 0..<croppedHeight {
            for x in 0..<croppedWidth {
                let source = (y + border) * width + x + border
                let (r, g, b) = (Double(pixels[source]), Double(pixels[plane + source]), Double(pixels[2 * plane + source]))
                luma[y * croppedWidth + x] = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
            }
        }
        return luma
    }
}

/// Full-reference image quality, as super-resolution papers report it: both measures compare the
/// BT.601 luma (`Image.lumaBT601`) of the two images, clamped to 0...255 but not rounded, after
/// cropping `border` pixels off every side. The crop is conventionally the upscaling factor, because
/// the outermost pixels of an upscaled image depend on how its producer padded, which says nothing
/// of its quality.
public enum ImageQuality {
    /// Peak signal-to-noise ratio in decibels, 10 log10(255² / MSE), with the mean squared error
    /// taken over the cropped luma. Identical images give `.infinity`.
    public static func psnr(_ a: Image, _ b: Image, border: Int) -> Double {
        let (lumaA, lumaB) = croppedLuma(a, b, border: border, minimumSide: 1)
        var squaredError = 0.0
        for i in lumaA.indices {
            let difference = lumaA[i] - lumaB[i]
            squaredError += difference * difference
        }
        guard squaredError > 0 else { return .infinity }
        return 10 * log10(255 * 255 / (squaredError / Double(lumaA.count)))
    }

    /// Structural similarity (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to
    /// Structural Similarity"), defined to equal scikit-image's
    ///
    ///     structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5,
    ///                           use_sample_covariance=False, data_range=255)
    ///
    /// where `ya` and `yb` are the cropped luma planes, so that anyone can check a figure. That is:
    /// local means, variances and covariance under an 11x11 Gaussian window of sigma 1.5 (truncated
    /// at radius 5 and normalised to sum 1), population rather than sample statistics,
    /// C1 = (0.01 × 255)² and C2 = (0.03 × 255)², and the mean of the SSIM map over the pixels at
    /// least 5 from every edge of the cropped plane. Those are exactly the pixels whose window lies
    /// inside it, so how scikit-image pads beyond the edge never reaches the result.
    ///
    /// The cropped size must be at least 11x11, the window's, so that the map is not empty.
    public static func ssim(_ a: Image, _ b: Image, border: Int) -> Double {
        let (lumaA, lumaB) = croppedLuma(a, b, border: border, minimumSide: ssimWindow.count)
        return meanStructuralSimilarity(lumaA, lumaB, width: a.width - 2 * border, height: a.height - 2 * border)
    }

    /// The power of the luma's component that repeats every `period` pixels along rows, plus along columns: what a
    /// sub-pixel convolution's grid leaves when its output phases disagree (a fine hatching). For each row, the means
    /// of its pixels at each phase x mod period; their variance is the power of the row's period-periodic part (by
    /// Parseval, the row's spectrum at the harmonics k·W/period, k = 1...period−1, as Σ|F|² / W²). Averaged over rows,
    /// plus the same over columns. Natural photos have some power there too: compare an upscaler's output with the
    /// original (near 1x is clean; well above is a pattern). The cropped sides must be multiples of `period`.
    public static func periodicPower(_ image: Image, period: Int, border: Int) -> Double {
        let (luma, width, height) = croppedLuma(image, border: border, minimumSide: period)
        precondition(width % period == 0 && height % period == 0,
                     "the cropped \(width)x\(height) is not a multiple of the period \(period)")
        var rows = 0.0, columns = 0.0
        var means = [Double](repeating: 0, count: period)
        for y in 0..<height {
            for p in 0..<period { means[p] = 0 }
            for x in 0..<width { means[x % period] += luma[y * width + x] }
            rows += variance(means.map { $0 * Double(period) / Double(width) })
        }
        for x in 0..<width {
            for p in 0..<period { means[p] = 0 }
            for y in 0..<height { means[y % period] += luma[y * width + x] }
            columns += variance(means.map { $0 * Double(period) / Double(height) })
        }
        return rows / Double(height) + columns / Double(width)
    }

    /// The mean absolute difference between horizontally and between vertically adjacent luma values (each averaged
    /// over its pairs, then the two averaged): how much edge and texture an image has. An upscaler that only blurs
    /// scores well below the original; one that invents texture can score above it.
    public static func meanAbsoluteGradient(_ image: Image, border: Int) -> Double {
        let (luma, width, height) = croppedLuma(image, border: border, minimumSide: 2)
        var horizontal = 0.0, vertical = 0.0
        for y in 0..<height {
            for x in 0..<width {
                let value = luma[y * width + x]
                if x + 1 < width { horizontal += abs(luma[y * width + x + 1] - value) }
                if y + 1 < height { vertical += abs(luma[(y + 1) * width + x] - value) }
            }
        }
        return (horizontal / Double((width - 1) * height) + vertical / Double(width * (height - 1))) / 2
    }

    private static func variance(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }

    private static func croppedLuma(_ image: Image, border: Int, minimumSide: Int) -> (luma: [Double], width: Int, height: Int) {
        let (width, height) = (image.width - 2 * border, image.height - 2 * border)
        precondition(border >= 0 && width >= minimumSide && height >= minimumSide,
                     "a \(image.width)x\(image.height) image less a border of \(border) is smaller than \(minimumSide)x\(minimumSide)")
        return (image.clamped().lumaBT601(cropping: border), width, height)
    }

    private static func croppedLuma(_ a: Image, _ b: Image, border: Int, minimumSide: Int) -> ([Double], [Double]) {
        precondition(
            a.width == b.width && a.height == b.height,
            "images of \(a.width)x\(a.height) and \(b.width)x\(b.height) cannot be compared")
        return (croppedLuma(a, border: border, minimumSide: minimumSide).luma,
                croppedLuma(b, border: border, minimumSide: minimumSide).luma)
    }

    /// The 1-D factor of the SSIM window, as scipy's `gaussian_filter` builds it for sigma 1.5 and
    /// truncate 3.5: radius int(3.5 × 1.5 + 0.5) = 5, weights exp(-x² / 2σ²) normalised to sum 1.
    private static let ssimWindow: [Double] = {
        let sigma = 1.5, radius = 5
        let raw = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }()

    /// The mean SSIM over the map's valid region, filtering only where the window fits.
    ///
    /// The five local statistics (means of a, b, a², b² and ab) are filtered along rows as each input
    /// row arrives, and the filtered rows are kept in a ring of 11, from which each output row is a
    /// weighted sum of whole rows: every inner loop runs along contiguous memory, each input row is
    /// filtered once, and memory stays at a few rows whatever the image's size.
    private static func meanStructuralSimilarity(_ a: [Double], _ b: [Double], width: Int, height: Int) -> Double {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                meanStructuralSimilarity(a, b, width: width, height: height)
            }
        }
    }

    private static func meanStructuralSimilarity(
        _ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>, width: Int, height: Int
    ) -> Double {
        let window = ssimWindow
        let taps = window.count
        let (outputWidth, outputHeight) = (width - taps + 1, height - taps + 1)
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)

        // Statistic 0...4 is a, b, a², b², ab; ring[(statistic * taps + slot) * outputWidth + x] holds
        // input row `slot` (mod 11) filtered along the row.
        let products = UnsafeMutableBufferPointer<Double>.allocate(capacity: 5 * width)
        let ring = UnsafeMutableBufferPointer<Double>.allocate(capacity: 5 * taps * outputWidth)
        let filtered = UnsafeMutableBufferPointer<Double>.allocate(capacity: 5 * outputWidth)
        defer {
            products.deallocate()
            ring.deallocate()
            filtered.deallocate()
        }

        var total = 0.0
        for row in 0..<height {
            let input = row * width
            for x in 0..<width {
                let (p, q) = (a[input + x], b[input + x])
                products[x] = p
                products[width + x] = q
                products[2 * width + x] = p * p
                products[3 * width + x] = q * q
                products[4 * width + x] = p * q
            }
            let slot = row % taps
            for statistic in 0..<5 {
                let source = statistic * width
                let target = (statistic * taps + slot) * outputWidth
                for x in 0..<outputWidth { ring[target + x] = 0 }
                for tap in 0..<taps {
                    let (weight, start) = (window[tap], source + tap)
                    for x in 0..<outputWidth {
                        ring[target + x] += weight * products[start + x]
                    }
                }
            }

            // The window of output row `row - 10` is complete once this row is in.
            guard row >= taps - 1 else { continue }
            let top = row - taps + 1
            for statistic in 0..<5 {
                let target = statistic * outputWidth
                for x in 0..<outputWidth { filtered[target + x] = 0 }
                for tap in 0..<taps {
                    let weight = window[tap]
                    let source = (statistic * taps + (top + tap) % taps) * outputWidth
                    for x in 0..<outputWidth {
                        filtered[target + x] += weight * ring[source + x]
                    }
                }
            }
            for x in 0..<outputWidth {
                let meanA = filtered[x], meanB = filtered[outputWidth + x]
                let varianceA = filtered[2 * outputWidth + x] - meanA * meanA
                let varianceB = filtered[3 * outputWidth + x] - meanB * meanB
                let covariance = filtered[4 * outputWidth + x] - meanA * meanB
                total += (2 * meanA * meanB + c1) * (2 * covariance + c2)
                    / ((meanA * meanA + meanB * meanB + c1) * (varianceA + varianceB + c2))
            }
        }
        return total / Double(outputWidth * outputHeight)
    }
}
