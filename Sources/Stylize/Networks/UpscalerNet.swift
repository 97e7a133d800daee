/// A super-resolution network: convolutions at the low resolution, a last convolution with 3·r² channels, and a
/// periodic pixel shuffle to r times the size (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
/// Using an Efficient Sub-Pixel Convolutional Neural Network"). What the shuffle gives is added to the bicubic
/// upscaling of the input (a global residual, as in Kim et al.'s VDSR), so an untrained network already starts at
/// bicubic quality and training spends its steps on the detail bicubic misses.
///
/// The network sees the input as x/255 − 0.5 and its shuffled output is on the 0...1 scale, so that the output image
/// is bicubic(x) + 255 · shuffle(net(x/255 − 0.5)).
public struct UpscalerNet: Sendable {
    public enum Architecture: String, Sendable, Codable, CaseIterable {
        /// Shi et al.'s three hidden layers, as pytorch/examples' super_resolution builds them (5x5 64, 3x3 64,
        /// 3x3 32, all with ReLU), on RGB: fast enough for 2048x2048 outputs in about a second.
        case espcn
        /// A deeper network: a 3x3 64 convolution, `blocks` residual blocks of two 3x3 64 convolutions without
        /// normalisation (Lim et al.'s EDSR: batch or instance normalisation removes the contrast an upscaler must
        /// keep; their baseline has 16 blocks), and the sub-pixel convolution.
        case residual

        /// The value of the model file's "architecture" field.
        var fileName: String { "\(rawValue)-pixelshuffle-bicubic-residual" }
    }

    public static let scales = 2...4
    /// Residual blocks of the residual architecture when a model file does not say (files from before the number
    /// was a setting all had 6).
    public static let defaultBlocks = 6
    public static let blockRange = 1...32

    public let architecture: Architecture
    public let scale: Int
    /// The residual architecture's residual blocks (ESPCN has none and ignores it).
    public let blocks: Int
    /// "conv1.weight" [64, 3, 5, 5], ... "shuffle.bias" [3·r²]: each convolution's weight and bias.
    public private(set) var parameters: [String: Tensor]

    /// - Parameter blocks: the residual architecture's residual blocks; ESPCN has none and ignores it.
    public init(architecture: Architecture, scale: Int, blocks: Int = defaultBlocks, parameters: [String: Tensor]) throws {
        try Self.check(scale: scale, blocks: blocks)
        self.architecture = architecture
        self.scale = scale
        self.blocks = blocks
        try Self.layers(architecture, scale: scale, blocks: blocks).check(parameters, network: "\(architecture) x\(scale) upscaler")
        self.parameters = parameters
    }

    public static func checkScale(_ scale: Int) throws {
        try Check.that(scales.contains(scale), "scale", "must be 2, 3 or 4, not \(scale)")
    }

    /// The scales and depths a network can have; training settings are checked by the same rule.
    static func check(scale: Int, blocks: Int) throws {
        try checkScale(scale)
        try Check.range(blocks, blockRange, "blocks")
    }

    /// A fresh network, initialised as PyTorch does, except the sub-pixel convolution: its weights scaled down 10x
    /// and bias 0, so that the network starts close to plain bicubic instead of adding noise to it, and ICNR (Aitken
    /// et al. 2017, "Checkerboard artifact free sub-pixel convolution"): the r² output channels that the shuffle
    /// spreads over one r x r block start with the same kernel, so that all phases of the grid start equal and
    /// training does not begin from a pattern that repeats every r pixels.
    public init(architecture: Architecture, scale: Int, blocks: Int = defaultBlocks, seed: UInt64) throws {
        try Self.check(scale: scale, blocks: blocks)
        var parameters = Self.layers(architecture, scale: scale, blocks: blocks).initialParameters(seed: seed)
        var weight = parameters["shuffle.weight"]!
        let kernel = weight.count / weight.shape[0]  // one output channel's weights: [input, k, k]
        let phases = scale * scale
        for channel in 0..<3 {
            // Output channel channel·r² + phase lands at phase (i, j) of the block of colour `channel` (PixelShuffle).
            let first = channel * phases * kernel
            let shared = weight.scalars[first..<first + kernel].map { 0.1 * $0 }
            for phase in 0..<phases { weight.scalars.replaceSubrange(first + phase * kernel..<first + (phase + 1) * kernel, with: shared) }
        }
        parameters["shuffle.weight"] = weight
        parameters["shuffle.bias"]!.scalars = parameters["shuffle.bias"]!.scalars.map { _ in 0 }
        try self.init(architecture: architecture, scale: scale, blocks: blocks, parameters: parameters)
    }

    /// "x4 espcn", "x4 residual (16 blocks)": the network in a message or a listing.
    public static func describe(_ architecture: Architecture, scale: Int, blocks: Int) -> String {
        architecture == .residual ? "x\(scale) residual (\(blocks) blocks)" : "x\(scale) \(architecture)"
    }

    public var description: String { Self.describe(architecture, scale: scale, blocks: blocks) }

    public mutating func update(_ parameters: [String: Tensor]) throws {
        self = try UpscalerNet(architecture: architecture, scale: scale, blocks: blocks, parameters: parameters)
    }

    /// The network's convolutions in order, all at the input's resolution.
    static func layers(_ architecture: Architecture, scale: Int, blocks: Int) -> [ConvolutionSpec] {
        let shuffle = ConvolutionSpec(name: "shuffle", input: architecture == .espcn ? 32 : 64, output: 3 * scale * scale,
                                      kernel: 3, normalization: nil, relu: false)
        switch architecture {
        case .espcn:
            return [
                ConvolutionSpec(name: "conv1", input: 3, output: 64, kernel: 5, normalization: nil),
                ConvolutionSpec(name: "conv2", input: 64, output: 64, kernel: 3, normalization: nil),
                ConvolutionSpec(name: "conv3", input: 64, output: 32, kernel: 3, normalization: nil),
                shuffle,
            ]
        case .residual:
            var layers = [ConvolutionSpec(name: "head", input: 3, output: 64, kernel: 3, normalization: nil)]
            for block in 1...blocks {
                layers.append(ConvolutionSpec(name: "res\(block).conv1", input: 64, output: 64, kernel: 3,
                                              normalization: nil, residual: block))
                layers.append(ConvolutionSpec(name: "res\(block).conv2", input: 64, output: 64, kernel: 3,
                                              normalization: nil, relu: false, residual: block))
            }
            return layers + [shuffle]
        }
    }
}
