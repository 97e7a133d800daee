#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Image {
    /// The image blurred by a Gaussian of standard deviation `sigma` pixels, rows then columns.
    /// Pixels beyond the border take the value of the nearest border pixel, so edges do not darken.
    /// A sigma of 0 returns the image unchanged.
    public func gaussianBlurred(sigma: Float) -> Image {
        precondition(sigma >= 0, "blur sigma \(sigma) is negative")
        guard sigma > 0, width > 0, height > 0 else { return self }
        let kernel = gaussianKernel(sigma: sigma)
        return blurringRows(with: kernel).blurringColumns(with: kernel)
    }

    private func blurringRows(with kernel: [Float]) -> Image {
        let radius = kernel.count / 2
        var output = [Float](repeating: 0, count: pixels.count)
        // One row at a time, padded with copies of its end pixels, so the inner loop needs no
        // bounds logic.
        var padded = [Float](repeating: 0, count: width + 2 * radius)
        for row in 0..<(Image.channelCount * height) {
            let start = row * width
            for x in 0..<padded.count {
                padded[x] = pixels[start + min(max(x - radius, 0), width - 1)]
            }
            for x in 0..<width {
                var sum: Float = 0
                for tap in 0..<kernel.count {
                    sum += kernel[tap] * padded[x + tap]
                }
                output[start + x] = sum
            }
        }
        return Image(width: width, height: height, pixels: output)
    }

    /// Weighted sums of whole rows, so that the inner loop runs along contiguous memory.
    private func blurringColumns(with kernel: [Float]) -> Image {
        let radius = kernel.count / 2
        var output = [Float](repeating: 0, count: pixels.count)
        for channel in 0..<Image.channelCount {
            for y in 0..<height {
                let outputRow = (channel * height + y) * width
                for tap in 0..<kernel.count {
                    let sourceY = min(max(y + tap - radius, 0), height - 1)
                    let inputRow = (channel * height + sourceY) * width
                    let weight = kernel[tap]
                    for x in 0..<width {
                        output[outputRow + x] += weight * pixels[inputRow + x]
                    }
                }
            }
        }
        return Image(width: width, height: height, pixels: output)
    }
}

/// A sampled Gaussian of 2 * ceil(3 sigma) + 1 taps, normalised to sum to 1 so that blurring
/// keeps the mean brightness; three sigmas hold all but 0.3% of the weight.
func gaussianKernel(sigma: Float) -> [Float] {
    let radius = Int((3 * sigma).rounded(.up))
    let raw = (-radius...radius).map { offset in
        exp(-Double(offset * offset) / (2 * Double(sigma) * Double(sigma)))
    }
    let total = raw.reduce(0, +)
    return raw.map { Float($0 / total) }
}
