/// Upscales images of any size with a trained `UpscalerNet`. The bicubic part is computed for the whole image; the
/// network's residual is computed in tiles, each read with a margin at least as wide as the network's receptive
/// radius, so that a tile's kept core sees exactly what it would see in one pass over the whole image: tiling bounds
/// the memory and leaves no seams. All tiles have one size (the last ones shift back inside the image), so the
/// network is compiled once.
public final class Upscaler {
    public let network: UpscalerNet
    /// Side of a tile's kept core, in input pixels.
    public let tile: Int
    public let precision: Precision
    /// Whether `upscale` averages the network's results over the image's eight mirrors and quarter turns, each turned
    /// back (EDSR's "self-ensemble", Lim et al. 2017): a little more faithful, eight times the work.
    public let selfEnsemble: Bool
    private var compiled: CompiledNetwork?

    /// Tile side (input pixels): a forward-only network keeps three activations of 64 channels whatever its depth
    /// (`ActivationSlots`), about 100 MB at this side in bf16, and the margins cost little (a sixteen-block network
    /// reads 34 more pixels on each side).
    public static let defaultTile = 512

    public init(network: UpscalerNet, tile: Int? = nil, precision: Precision = .auto, selfEnsemble: Bool = false) {
        self.network = network
        self.precision = precision
        self.selfEnsemble = selfEnsemble
        self.tile = tile ?? Self.defaultTile
        precondition(self.tile > 0, "the tile side must be positive")
    }

    public var scale: Int { network.scale }

    /// A model file or a bundled upscaler's name (`x4`), or the bundled xN for `scale` N (4 if neither is given); a
    /// model of another scale than `scale` is refused.
    public static func network(model: String?, scale: Int?) throws -> UpscalerNet {
        if let scale { try UpscalerNet.checkScale(scale) }
        let name = model ?? "x\(scale ?? 4)"
        let network = try UpscalerModel(contentsOf: try BundledModels.locate(name, .upscaler)).network
        if let scale, scale != network.scale {
            throw InvalidInput("scale", "is \(scale), but the model \(name) upscales x\(network.scale)")
        }
        return network
    }

    /// The low-resolution version of `image` that the networks learn to invert: a Gaussian blur of sigma 1 (the
    /// camera's and lens' softness), then bicubic downscaling by `scale` (antialiased, as Pillow and MATLAB's imresize
    /// do). The image's sides must be multiples of `scale`.
    public static func degrade(_ image: Image, scale: Int) -> Image {
        precondition(image.width % scale == 0 && image.height % scale == 0, "\(image.width)x\(image.height) is not a multiple of \(scale)")
        return image.gaussianBlurred(sigma: 1).resized(width: image.width / scale, height: image.height / scale, filter: .bicubic)
    }

    /// `image` upscaled by bicubic interpolation, the baseline the networks start from and are measured against.
    public static func bicubic(_ image: Image, scale: Int) -> Image {
        image.resized(width: image.width * scale, height: image.height * scale, filter: .bicubic)
    }

    /// `image` upscaled; `progress` is told how many tiles the network has done (of `tileCount(image)`) after each.
    public func upscale(_ image: Image, progress: (_ tilesDone: Int) -> Void = { _ in }) throws -> Image {
        // The network's part, averaged over the eight symmetries when asked (bicubic's part turns with the image, so
        // it is added once). Those that keep the width and height come first, so the network is compiled at most
        // twice per image.
        var done = 0
        var sum: [Float] = []
        for symmetry in symmetries {
            let turned = image.transformed(by: symmetry)
            var part = [Float](repeating: 0, count: image.pixels.count * scale * scale)
            try addNetworkOutput(of: turned, to: &part) {
                done += 1
                progress(done)
            }
            sum.add(Image(width: turned.width * scale, height: turned.height * scale, pixels: part)
                .transformed(by: symmetry.inverse).pixels)
        }
        var output = Self.bicubic(image, scale: scale).pixels
        output.add(sum.map { $0 / Float(symmetries.count) })
        return Image(width: image.width * scale, height: image.height * scale, pixels: output)
    }

    /// How many tiles the network works on to upscale `image` (a self-ensemble does each eight times, turned).
    public func tileCount(_ image: Image) -> Int {
        ((image.height + tile - 1) / tile) * ((image.width + tile - 1) / tile) * symmetries.count
    }

    private var symmetries: [Symmetry] { selfEnsemble ? Symmetry.all : [.identity] }

    /// Adds the network's output for `image` (its residual over bicubic, 0...255 scale) to `output`, a planar RGB
    /// image `scale` times its size.
    private func addNetworkOutput(of image: Image, to output: inout [Float], tileDone: () -> Void) throws {
        let margin = network.receptiveRadius
        let windowHeight = min(tile + 2 * margin, image.height), windowWidth = min(tile + 2 * margin, image.width)
        if compiled?.inputShape != [1, 3, windowHeight, windowWidth] {
            compiled = nil  // free the previous size's buffers first
            compiled = try CompiledNetwork.make(network.layers, parameters: network.parameters,
                                                inputShape: [1, 3, windowHeight, windowWidth], precision: precision,
                                                training: false)
        }
        for top in stride(from: 0, to: image.height, by: tile) {
            for left in stride(from: 0, to: image.width, by: tile) {
                let windowTop = min(max(top - margin, 0), image.height - windowHeight)
                let windowLeft = min(max(left - margin, 0), image.width - windowWidth)
                let window = image.cropped(top: windowTop, left: windowLeft, height: windowHeight, width: windowWidth)
                let residual = residual(of: window)
                Self.add(residual, times: 255, to: &output, width: image.width * scale, height: image.height * scale,
                           from: (y: (top - windowTop) * scale, x: (left - windowLeft) * scale),
                           to: (y: top * scale, x: left * scale),
                           size: (height: min(tile, image.height - top) * scale, width: min(tile, image.width - left) * scale))
                tileDone()
            }
        }
    }

    /// Adds `factor` times a region of `tensor` ([3, h, w]) at `from` to the region at `to` of a planar RGB image.
    private static func add(_ tensor: Tensor, times factor: Float, to pixels: inout [Float], width: Int, height: Int,
                            from: (y: Int, x: Int), to: (y: Int, x: Int), size: (height: Int, width: Int)) {
        let (h, w) = (tensor.shape[1], tensor.shape[2])
        pixels.withUnsafeMutableBufferPointer { pixels in
            tensor.scalars.withUnsafeBufferPointer { source in
                for c in 0..<3 {
                    for y in 0..<size.height {
                        let sourceRow = (c * h + from.y + y) * w + from.x
                        let targetRow = (c * height + to.y + y) * width + to.x
                        for x in 0..<size.width { pixels[targetRow + x] += factor * source[sourceRow + x] }
                    }
                }
            }
        }
    }

    /// The network's output for one window, shuffled to [3, h·r, w·r] on the 0...1 scale.
    private func residual(of window: Image) -> Tensor {
        let input = window.pixels.map { $0 / 255 - 0.5 }
        let output = compiled!.forward(input)
        return Tensor(shape: compiled!.outputShape, scalars: output).pixelShuffled(scale: scale)
            .reshaped([3, window.height * scale, window.width * scale])
    }
}

extension UpscalerNet {
    /// How far a pixel's influence reaches: the sum of the convolutions' half-widths.
    public var receptiveRadius: Int { layers.map { $0.kernel / 2 }.reduce(0, +) }

    var layers: [ConvolutionSpec] { Self.layers(architecture, scale: scale, blocks: blocks) }
}
