/// Stylizes photos of any size with a trained network in one forward pass. The photo is extended on every side by
/// mirroring it: by `margin` pixels, because the network's zero padding draws a frame along the borders of what it
/// sees, and by up to 3 more at the bottom and right, because the network takes sides that are multiples of 4.
/// The result is cropped back to the photo.
public final class FeedForwardStylizer {
    public let network: TransformerNet
    public let margin: Int
    public let precision: Precision
    /// The network compiled for the last padded size; a folder of same-sized photos compiles it once.
    private var compiled: CompiledTransformerNet?

    /// Wide enough to keep the frame out: a width-1 network trained for 6,000 steps (starry-night) changes the
    /// pixels along the cropped edge 3 to 5 times more than those inside with 16 px of margin, about 1.8 times with
    /// 32, and no more than inside with 48 (measured against a 128 px margin on the two example photos at 512 px).
    public static let defaultMargin = 48
    /// Images (with their margins) with more pixels than this are refused.
    public let maxPixels: Int

    public init(network: TransformerNet, margin: Int = defaultMargin, maxPixels: Int = Limits.defaultMaxPixels,
                precision: Precision = .auto) throws {
        try Check.range(margin, 0...1024, "margin")
        try Limits.checkMaxPixels(maxPixels)
        self.network = network
        self.margin = margin
        self.maxPixels = maxPixels
        self.precision = precision
    }

    public func stylize(_ image: Image) throws -> Image {
        let multiple = TransformerNet.sizeMultiple
        let height = (image.height + 2 * margin + multiple - 1) / multiple * multiple
        let width = (image.width + 2 * margin + multiple - 1) / multiple * multiple
        try Limits.checkPixels(width: width, height: height, maxPixels: maxPixels, setting: "maxPixels", what: "the photo with its margins")
        if compiled?.height != height || compiled?.width != width {
            compiled = nil  // free the previous size's buffers first
            compiled = try CompiledTransformerNet(network, height: height, width: width, precision: precision)
        }
        let output = compiled!.forward(Self.mirrorPadded(image.tensor, top: margin, left: margin, height: height, width: width))
        return Image(output).cropped(top: margin, left: margin, height: image.height, width: image.width)
    }

    /// [3, h, w] -> [3, height, width] with the image at (top, left) and mirrored around it (the edge not repeated).
    static func mirrorPadded(_ tensor: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        let (h, w) = (tensor.shape[1], tensor.shape[2])
        if h == height && w == width { return tensor }
        /// Position i of the padded line, in a line of n pixels reflected back and forth.
        func mirror(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            let period = 2 * (n - 1)
            let folded = ((i % period) + period) % period
            return folded < n ? folded : period - folded
        }
        let columns = (0..<width).map { mirror($0 - left, w) }
        var out = [Float](repeating: 0, count: 3 * height * width)
        for c in 0..<3 {
            for y in 0..<height {
                let source = (c * h + mirror(y - top, h)) * w
                for x in 0..<width { out[(c * height + y) * width + x] = tensor.scalars[source + columns[x]] }
            }
        }
        return Tensor(shape: [3, height, width], scalars: out)
    }
}
