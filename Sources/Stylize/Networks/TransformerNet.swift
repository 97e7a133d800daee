/// Johnson, Alahi & Fei-Fei's image transformation network (2016), as pytorch/examples' fast_neural_style builds it:
/// a 9x9 convolution, two stride-2 convolutions, five residual blocks, two nearest-neighbour upsamplings each followed
/// by a convolution, and a last 9x9 convolution, with instance normalisation (Ulyanov et al. 2016) and a ReLU after
/// every convolution but the residual blocks' second and the last. It maps an RGB photo (0...255, [3, H, W]) to its
/// stylized version on the same scale.
///
/// Padding is zero padding, fused into oneDNN's convolutions for free, where PyTorch's example uses reflection
/// padding: reflection would cost a copy of every activation per layer, and instance normalisation already removes
/// most of what zero borders add. The parameter names are PyTorch's, so a state dict loads one to one.
public struct TransformerNet: Sendable {
    /// The value of the model file's "architecture" field.
    public static let architecture = "johnson2016-instancenorm-nearest-zeropad"

    /// Multiplies the channel counts 32, 64 and 128: 1 is the paper's network; 0.5 has about a quarter of its work.
    public let width: Float
    /// Channels after the first convolution, after the first downsampling, and in the residual blocks.
    public let channels: [Int]
    /// "conv1.conv2d.weight" [c1, 3, 9, 9], "in1.weight" [c1], ... "deconv3.conv2d.bias" [3].
    public private(set) var parameters: [String: Tensor]

    public static let residualBlocks = 5

    /// The channel counts for a width, rounded to multiples of 16: oneDNN's AVX-512 kernels work on blocks of 16
    /// channels, and for other counts it falls back to reference loops a hundred times slower.
    public static func channels(width: Float) -> [Int] {
        [32, 64, 128].map { 16 * max(1, Int((Float($0) * width / 16).rounded())) }
    }

    /// Widths from 1/32 (16 channels throughout, the least oneDNN's blocks allow) to 4 (128-256-512 channels).
    public static func checkWidth(_ width: Float) throws {
        try Check.that(width >= 1 / 32 && width <= 4, "width", "must be between 1/32 and 4, not \(width)")
    }

    /// A network with given parameters, checked against the shapes the width implies.
    public init(width: Float, parameters: [String: Tensor]) throws {
        try Self.checkWidth(width)
        self.width = width
        channels = Self.channels(width: width)
        try Self.layers(channels: channels).check(parameters, network: "transformer network of width \(width)")
        self.parameters = parameters
    }

    /// A fresh network: PyTorch's default initialisation (weights and biases uniform in ±1/√fan-in; instance
    /// normalisation's scale 1 and shift 0), except the last bias, which starts at mid-grey (127.5): the output is on
    /// the 0...255 scale, and with Adam's small steps a network starting near black spends its first hundred steps
    /// learning the brightness of photos instead of the style.
    public init(width: Float, seed: UInt64) throws {
        var parameters = Self.layers(channels: Self.channels(width: width)).initialParameters(seed: seed)
        parameters["deconv3.conv2d.bias"]!.scalars = parameters["deconv3.conv2d.bias"]!.scalars.map { $0 + 127.5 }
        try self.init(width: width, parameters: parameters)
    }

    public mutating func update(_ parameters: [String: Tensor]) throws {
        self = try TransformerNet(width: width, parameters: parameters)
    }

    /// The network's convolutions in order; `residual` marks the two of each residual block.
    static func layers(channels c: [Int]) -> [ConvolutionSpec] {
        var layers = [
            ConvolutionSpec(name: "conv1.conv2d", input: 3, output: c[0], kernel: 9, stride: 1, normalization: "in1"),
            ConvolutionSpec(name: "conv2.conv2d", input: c[0], output: c[1], kernel: 3, stride: 2, normalization: "in2"),
            ConvolutionSpec(name: "conv3.conv2d", input: c[1], output: c[2], kernel: 3, stride: 2, normalization: "in3"),
        ]
        for block in 1...residualBlocks {
            layers.append(ConvolutionSpec(name: "res\(block).conv1.conv2d", input: c[2], output: c[2], kernel: 3,
                                          normalization: "res\(block).in1", residual: block))
            layers.append(ConvolutionSpec(name: "res\(block).conv2.conv2d", input: c[2], output: c[2], kernel: 3,
                                          normalization: "res\(block).in2", relu: false, residual: block))
        }
        layers += [
            ConvolutionSpec(name: "deconv1.conv2d", input: c[2], output: c[1], kernel: 3, upsample: true, normalization: "in4"),
            ConvolutionSpec(name: "deconv2.conv2d", input: c[1], output: c[0], kernel: 3, upsample: true, normalization: "in5"),
            ConvolutionSpec(name: "deconv3.conv2d", input: c[0], output: 3, kernel: 9, normalization: nil, relu: false),
        ]
        return layers
    }

    /// The network takes images whose sides are multiples of this (two stride-2 convolutions, two upsamplings).
    public static let sizeMultiple = 4
}

/// One convolution of the network and what surrounds it: [2x upsampling] → convolution → [instance norm [→ ReLU]].
struct ConvolutionSpec: Sendable {
    let name: String
    let input: Int
    let output: Int
    let kernel: Int
    var stride = 1
    var upsample = false
    /// The name of the instance normalisation after the convolution, or nil for none.
    let normalization: String?
    var relu = true
    /// Which residual block (1...) the convolution belongs to, or nil.
    var residual: Int? = nil
}
