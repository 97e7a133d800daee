/// Stylizes photos of any size with a trained network in one forward pass. The network needs sides that are
/// multiples of 4, so the photo is extended by mirroring its last rows and columns, and the result cropped back.
public final class FeedForwardStylizer {
    public let network: TransformerNet
    /// The network compiled for the last padded size; a folder of same-sized photos compiles it once.
    private var compiled: CompiledTransformerNet?

    public init(network: TransformerNet) {
        self.network = network
    }

    public func stylize(_ image: Image) throws -> Image {
        let multiple = TransformerNet.sizeMultiple
        let height = (image.height + multiple - 1) / multiple * multiple
        let width = (image.width + multiple - 1) / multiple * multiple
        if compiled?.height != height || compiled?.width != width {
            compiled = nil  // free the previous size's buffers first
            compiled = try CompiledTransformerNet(network, height: height, width: width)
        }
        let output = compiled!.forward(Self.mirrorPadded(image.tensor, height: height, width: width))
        return Image(Self.cropped(output, height: image.height, width: image.width))
    }

    /// [3, h, w] -> [3, height, width], the new rows and columns mirroring the last ones (without repeating the edge).
    static func mirrorPadded(_ tensor: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = (tensor.shape[1], tensor.shape[2])
        if h == height && w == width { return tensor }
        func mirror(_ i: Int, _ n: Int) -> Int { i < n ? i : max(0, 2 * (n - 1) - i) }
        var out = [Float](repeating: 0, count: 3 * height * width)
        for c in 0..<3 {
            for y in 0..<height {
                let source = (c * h + mirror(y, h)) * w
                for x in 0..<width { out[(c * height + y) * width + x] = tensor.scalars[source + mirror(x, w)] }
            }
        }
        return Tensor(shape: [3, height, width], scalars: out)
    }

    /// The top-left [3, height, width] of a [3, H, W] tensor.
    static func cropped(_ tensor: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = (tensor.shape[1], tensor.shape[2])
        if h == height && w == width { return tensor }
        var out = [Float]()
        out.reserveCapacity(3 * height * width)
        for c in 0..<3 {
            for y in 0..<height { out += tensor.scalars[((c * h + y) * w)..<((c * h + y) * w + width)] }
        }
        return Tensor(shape: [3, height, width], scalars: out)
    }
}
