/// An RGB image as floats, the form the networks read and write.
///
/// Pixels are planar (all red, then all green, then all blue), so that channel `c`, row `y`,
/// column `x` is at `c * height * width + y * width + x`, the layout of a [3, H, W] tensor.
/// Values are on the 0...255 scale but are not rounded, and may stray outside it after filtering;
/// `clamped()` brings them back, and writing a file clamps and rounds.
public struct Image: Sendable, Equatable {
    public static let channelCount = 3

    public let width: Int
    public let height: Int
    public private(set) var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0, "image size \(width)x\(height) is negative")
        precondition(
            pixels.count == Image.channelCount * width * height,
            "\(pixels.count) values do not make a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, repeating value: Float) {
        self.init(
            width: width, height: height,
            pixels: [Float](repeating: value, count: Image.channelCount * width * height))
    }

    public subscript(channel: Int, y: Int, x: Int) -> Float {
        get { pixels[index(channel, y, x)] }
        set { pixels[index(channel, y, x)] = newValue }
    }

    private func index(_ channel: Int, _ y: Int, _ x: Int) -> Int {
        precondition(
            (0..<Image.channelCount).contains(channel) && (0..<height).contains(y) && (0..<width).contains(x),
            "pixel (\(channel), \(y), \(x)) is outside a \(width)x\(height) image")
        return (channel * height + y) * width + x
    }

    /// Values limited to 0...255. NaN becomes 0, so that a diverged optimisation still gives an
    /// image that can be written and looked at.
    public func clamped() -> Image {
        Image(width: width, height: height, pixels: pixels.map { $0.isNaN ? 0 : Swift.min(Swift.max($0, 0), 255) })
    }

    /// The image as 8-bit interleaved RGB (R, G, B of the first pixel, then the next), clamped
    /// and rounded to the nearest integer: what the file encoders take.
    func interleavedBytes() -> [UInt8] {
        let plane = width * height
        let values = clamped().pixels
        var bytes = [UInt8](repeating: 0, count: values.count)
        for channel in 0..<Image.channelCount {
            for position in 0..<plane {
                bytes[position * Image.channelCount + channel] = UInt8(values[channel * plane + position].rounded())
            }
        }
        return bytes
    }
}

extension Image {
    /// The image as a tensor [3, H, W], RGB 0...255: what the networks take.
    public var tensor: Tensor { Tensor(shape: [Image.channelCount, height, width], scalars: pixels) }

    /// An RGB tensor [3, H, W] as an image (values are clamped only when written).
    public init(_ tensor: Tensor) {
        precondition(tensor.shape.count == 3 && tensor.shape[0] == Image.channelCount, "an image tensor is [3, H, W], not \(tensor.shape)")
        self.init(width: tensor.shape[2], height: tensor.shape[1], pixels: tensor.scalars)
    }
}

extension Image {
    /// The `height` x `width` part of the image at (top, left).
    public func cropped(top: Int, left: Int, height: Int, width: Int) -> Image {
        precondition(top >= 0 && left >= 0 && top + height <= self.height && left + width <= self.width,
                     "crop \(width)x\(height) at (\(left), \(top)) of a \(self.width)x\(self.height) image")
        var out = [Float]()
        out.reserveCapacity(3 * height * width)
        for c in 0..<3 {
            for y in 0..<height {
                let start = (c * self.height + top + y) * self.width + left
                out += pixels[start..<start + width]
            }
        }
        return Image(width: width, height: height, pixels: out)
    }
}
