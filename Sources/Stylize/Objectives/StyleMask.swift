/// Where in the output one style applies: a weight in 0...1 per pixel (white, 1: this style; black, 0: not).
/// Gatys et al. 2017 ("Controlling Perceptual Factors in Neural Style Transfer") compute each style's Gram
/// matrices over the masked features only, with the mask shrunk along with the features at every layer.
public struct StyleMask: Sendable, Equatable {
    public let height: Int
    public let width: Int
    /// Row-major, height x width.
    public let values: [Float]

    public init(height: Int, width: Int, values: [Float]) {
        precondition(values.count == height * width, "\(values.count) mask values for \(width)x\(height)")
        self.height = height
        self.width = width
        self.values = values
    }

    /// A grey image as a mask: the mean of its channels, 0...255 mapped to 0...1.
    public init(_ image: Image) {
        let plane = image.width * image.height
        let values = (0..<plane).map { i in
            min(max((image.pixels[i] + image.pixels[plane + i] + image.pixels[2 * plane + i]) / (3 * 255), 0), 1)
        }
        self.init(height: image.height, width: image.width, values: values)
    }

    /// Resized with the image resampler (the mask as a grey image), for a mask drawn at another size.
    public func resized(width newWidth: Int, height newHeight: Int) -> StyleMask {
        let grey = Image(width: width, height: height, pixels: (values + values + values).map { $0 * 255 })
        return StyleMask(grey.resized(width: newWidth, height: newHeight, filter: .bilinear))
    }

    public var isEmpty: Bool { !values.contains { $0 > 0 } }

    /// Σm²: what a masked Gram matrix is divided by (with the channel count) to stay on an unmasked one's scale.
    var energy: Float { values.reduce(0) { $0 + $1 * $1 } }

    /// The mask at half the size, as VGG19's 2x2 pooling halves the features: each value the mean of its
    /// window; an odd last row or column is dropped, as the pooling drops it.
    func halved() -> StyleMask {
        let (h, w) = (height / 2, width / 2)
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                let top = 2 * y * width + 2 * x, bottom = top + width
                out[y * w + x] = 0.25 * (values[top] + values[top + 1] + values[bottom] + values[bottom + 1])
            }
        }
        return StyleMask(height: h, width: w, values: out)
    }

    /// The mask at a layer's size (h, w): halved as often as the features were pooled to get there.
    func following(toHeight h: Int, width w: Int) -> StyleMask {
        var mask = self
        while mask.height > h || mask.width > w { mask = mask.halved() }
        precondition(mask.height == h && mask.width == w, "a \(width)x\(height) mask cannot follow features to \(w)x\(h)")
        return mask
    }
}
