/// Luminance and chroma in the YIQ colour space, for transferring style on luminance alone
/// (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer", section 5).
extension Image {
    /// NTSC's weights; they sum to 1, which `withLuminance` relies on.
    static let luminanceWeights: [Float] = [0.299, 0.587, 0.114]

    /// Y = 0.299 R + 0.587 G + 0.114 B per pixel, row-major.
    public var luminance: [Float] {
        let plane = width * height
        let (r, g, b) = (Self.luminanceWeights[0], Self.luminanceWeights[1], Self.luminanceWeights[2])
        return (0..<plane).map { r * pixels[$0] + g * pixels[plane + $0] + b * pixels[2 * plane + $0] }
    }

    /// The two chroma planes I and Q of YIQ, row-major, I then Q: what `withLuminance` keeps.
    public var chroma: [Float] {
        let plane = width * height
        let i = (0..<plane).map { 0.596 * pixels[$0] - 0.274 * pixels[plane + $0] - 0.322 * pixels[2 * plane + $0] }
        let q = (0..<plane).map { 0.211 * pixels[$0] - 0.523 * pixels[plane + $0] + 0.312 * pixels[2 * plane + $0] }
        return i + q
    }

    /// A grey image whose three channels are the given luminance.
    public init(width: Int, height: Int, grey: [Float]) {
        precondition(grey.count == width * height, "\(grey.count) grey values for \(width)x\(height)")
        self.init(width: width, height: height, pixels: grey + grey + grey)
    }

    /// This image's chroma with another luminance. Adding the same amount to R, G and B moves Y by that
    /// amount, since the luminance weights sum to 1, and leaves I and Q where they were, since each of
    /// their rows sums to 0: so the change of luminance is simply added to every channel.
    public func withLuminance(_ newLuminance: [Float]) -> Image {
        let plane = width * height
        precondition(newLuminance.count == plane, "\(newLuminance.count) luminance values for \(width)x\(height)")
        let old = luminance
        var out = pixels
        for c in 0..<Image.channelCount {
            for i in 0..<plane { out[c * plane + i] += newLuminance[i] - old[i] }
        }
        return Image(width: width, height: height, pixels: out)
    }
}

/// Values shifted and scaled so that their mean and standard deviation are those of `reference`:
/// how the style's luminance is brought to the content's before a luminance-only transfer.
public func matchingMeanAndDeviation(_ values: [Float], to reference: [Float]) -> [Float] {
    func statistics(_ v: [Float]) -> (mean: Double, deviation: Double) {
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(max(v.count, 1))
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(max(v.count, 1))
        return (mean, variance.squareRoot())
    }
    let (mean, deviation) = statistics(values), (targetMean, targetDeviation) = statistics(reference)
    // A flat image has no deviation to scale; it keeps its flatness and only moves to the new mean.
    let scale = deviation > 1e-6 ? targetDeviation / deviation : 1
    return values.map { Float((Double($0) - mean) * scale + targetMean) }
}
