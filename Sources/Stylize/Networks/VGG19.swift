/// VGG19's convolutional part (Simonyan & Zisserman 2014), the ImageNet-trained network whose ReLU outputs
/// serve as the perceptual features of every objective here. Inputs are preprocessed images: BGR, 0...255,
/// minus the ImageNet mean (see `VGG19.preprocess`).
public struct VGG19: Sendable {
    /// Convolutions per block and channels per block; a 2x2 pooling follows each block.
    static let blocks: [(convolutions: Int, channels: Int)] = [(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)]

    /// The ReLU layers in network order: relu1_1, relu1_2, relu2_1, ... relu5_4.
    public static let reluLayers: [String] = blocks.enumerated().flatMap { block, shape in
        (1...shape.convolutions).map { "relu\(block + 1)_\($0)" }
    }

    /// The Caffe mean in BGR order, subtracted from BGR pixels in 0...255.
    public static let meanBGR: [Float] = [103.939, 116.779, 123.68]

    /// conv1_1.weight [64, 3, 3, 3], conv1_1.bias [64], ... conv5_4.bias.
    public let parameters: [String: Tensor]

    public init(parameters: [String: Tensor]) throws {
        var inputChannels = 3
        for (block, shape) in Self.blocks.enumerated() {
            for index in 1...shape.convolutions {
                let name = "conv\(block + 1)_\(index)"
                let expected = ["\(name).weight": [shape.channels, inputChannels, 3, 3], "\(name).bias": [shape.channels]]
                for (key, dims) in expected where parameters[key]?.shape != dims {
                    throw EngineError(description: "VGG19 weights: \(key) should be \(dims), found \(parameters[key].map { "\($0.shape)" } ?? "nothing")")
                }
                inputChannels = shape.channels
            }
        }
        self.parameters = parameters
    }

    /// RGB 0...255 planar [3, H, W] -> the network's input [3, H, W]: BGR minus the mean.
    public static func preprocess(_ rgb: Tensor) -> Tensor {
        let plane = rgb.count / 3
        var out = [Float](repeating: 0, count: rgb.count)
        for c in 0..<3 {
            let source = 2 - c
            for i in 0..<plane { out[c * plane + i] = rgb.scalars[source * plane + i] - meanBGR[c] }
        }
        return Tensor(shape: rgb.shape, scalars: out)
    }

    /// The inverse of `preprocess` (no clamping).
    public static func deprocess(_ bgr: Tensor) -> Tensor {
        let plane = bgr.count / 3
        var out = [Float](repeating: 0, count: bgr.count)
        for c in 0..<3 {
            let source = 2 - c
            for i in 0..<plane { out[c * plane + i] = bgr.scalars[source * plane + i] + meanBGR[source] }
        }
        return Tensor(shape: bgr.shape, scalars: out)
    }

    /// A gradient with respect to the preprocessed image, expressed for RGB pixels (the channel swap only).
    public static func gradientToRGB(_ gradient: Tensor) -> Tensor {
        let plane = gradient.count / 3
        var out = [Float](repeating: 0, count: gradient.count)
        for c in 0..<3 { for i in 0..<plane { out[c * plane + i] = gradient.scalars[(2 - c) * plane + i] } }
        return Tensor(shape: gradient.shape, scalars: out)
    }
}

/// VGG19 compiled for one input size, pooling kind and depth. It keeps every activation of the last forward
/// pass, which its backward pass needs, and reuses all buffers and primitives from one call to the next.
public final class VGG19Features {
    private enum Stage {
        case convolution(Convolution, relu: ReLUBackward, name: String)
        case pooling(Pooling, workspace: Memory?)
    }

    public let height: Int
    public let width: Int
    public let layers: [String]
    private let stages: [Stage]
    private let outputs: [Memory]
    private let gradients: [Memory]
    private let input: Memory
    private let inputGradient: Memory
    private let toNetworkInput: Reorder
    private let fromNetworkInput: Reorder
    private var stageOfLayer: [String: Int] = [:]
    private var toPlain: [Int: (Reorder, Memory)] = [:]
    private var fromPlain: [Int: (Reorder, Memory, Memory)] = [:]

    /// - Parameters:
    ///   - deepest: the deepest ReLU layer anyone will ask for; the network stops there.
    public init(_ network: VGG19, height: Int, width: Int, deepest: String, pooling: PoolingKind = .max,
                algorithm: ConvolutionAlgorithm = .direct) throws {
        guard let depth = VGG19.reluLayers.firstIndex(of: deepest) else {
            throw EngineError(description: "unknown VGG19 layer \(deepest)")
        }
        self.height = height
        self.width = width
        var stages: [Stage] = [], outputs: [Memory] = []
        var shape = [1, 3, height, width]
        var layout: MemoryDescriptor? = nil
        var built = 0
        blocks: for (block, spec) in VGG19.blocks.enumerated() {
            for index in 1...spec.convolutions {
                let name = "conv\(block + 1)_\(index)"
                let convolution = try Convolution(inputShape: shape, weights: network.parameters["\(name).weight"]!,
                                                  bias: network.parameters["\(name).bias"]!, padding: 1, fusedReLU: true,
                                                  algorithm: algorithm, sourceLayout: layout)
                let relu = "relu\(block + 1)_\(index)"
                stages.append(.convolution(convolution, relu: try ReLUBackward(layout: convolution.destinationLayout), name: relu))
                outputs.append(try convolution.makeOutput())
                stageOfLayer[relu] = stages.count - 1
                (shape, layout) = (convolution.outputShape, convolution.destinationLayout)
                built += 1
                if built > depth { break blocks }
            }
            guard shape[2] >= 2 && shape[3] >= 2 else {
                throw EngineError(description: "a \(width)x\(height) image is too small for VGG19 down to \(deepest)")
            }
            let pool = try Pooling(inputShape: shape, sourceLayout: layout!, kind: pooling.engineKind)
            stages.append(.pooling(pool, workspace: try pool.makeWorkspace()))
            outputs.append(try Memory(pool.destinationLayout))
            (shape, layout) = (pool.outputShape, pool.destinationLayout)
        }
        self.stages = stages
        self.outputs = outputs
        self.gradients = try outputs.map { try Memory($0.descriptor) }
        self.layers = Array(VGG19.reluLayers[...depth])
        for (index, stage) in stages.enumerated().dropFirst() {
            if case .convolution(let convolution, _, let name) = stage,
               try !convolution.inputGradientLayout().sameLayout(as: outputs[index - 1].descriptor) {
                throw EngineError(description: "oneDNN chose different layouts below \(name) forward and backward")
            }
        }
        guard case .convolution(let first, _, _) = stages[0] else { fatalError("VGG19 starts with a convolution") }
        let plainInput = MemoryDescriptor.plain([1, 3, height, width])
        input = try Memory(first.sourceLayout)
        inputGradient = try Memory(first.inputGradientLayout())
        toNetworkInput = try Reorder(from: plainInput, to: first.sourceLayout)
        fromNetworkInput = try Reorder(from: inputGradient.descriptor, to: plainInput)
    }

    /// Which oneDNN kernels run, for logs and benchmarks.
    public var implementations: [String] {
        stages.compactMap { if case .convolution(let c, _, let name) = $0 { "\(name): \(c.implementation)" } else { nil } }
    }

    /// Runs the network on a preprocessed image [3, H, W] and returns the ReLU outputs asked for, [C, h, w].
    public func forward(_ image: Tensor, returning names: Set<String>) throws -> [String: Tensor] {
        precondition(image.shape == [3, height, width], "VGG19Features built for 3x\(height)x\(width), given \(image.shape)")
        let plain = try Memory(.plain([1, 3, height, width]))
        plain.load(image.scalars)
        toNetworkInput(plain, into: input)
        var source = input
        for (index, stage) in stages.enumerated() {
            switch stage {
            case .convolution(let convolution, _, _): convolution.forward(source, into: outputs[index])
            case .pooling(let pool, let workspace): pool.forward(source, into: outputs[index], workspace: workspace)
            }
            source = outputs[index]
        }
        var features: [String: Tensor] = [:]
        for name in names { features[name] = try feature(name) }
        return features
    }

    private func stage(of name: String) throws -> Int {
        guard let index = stageOfLayer[name] else {
            throw EngineError(description: "layer \(name) is not computed (network built down to \(layers.last!))")
        }
        return index
    }

    private func feature(_ name: String) throws -> Tensor {
        let index = try stage(of: name)
        let dims = outputs[index].descriptor.shape
        if toPlain[index] == nil {
            toPlain[index] = (try Reorder(from: outputs[index].descriptor, to: .plain(dims)), try Memory(.plain(dims)))
        }
        let (reorder, plain) = toPlain[index]!
        reorder(outputs[index], into: plain)
        return Tensor(shape: Array(dims.dropFirst()), scalars: plain.scalars())
    }

    /// Backpropagates gradients given at some ReLU outputs (each [C, h, w]) through the last forward pass and
    /// returns the gradient with respect to the preprocessed image, [3, H, W].
    public func backward(_ featureGradients: [String: Tensor]) throws -> Tensor {
        var injected: [Int: Tensor] = [:]
        for (name, gradient) in featureGradients { injected[try stage(of: name)] = gradient }
        guard let top = injected.keys.max() else { return Tensor(zeros: [3, height, width]) }
        gradients[top].fill(0)
        for index in stride(from: top, through: 0, by: -1) {
            if let gradient = injected[index] { try add(gradient, toGradientOf: index) }
            let below = index == 0 ? inputGradient : gradients[index - 1]
            switch stages[index] {
            case .convolution(let convolution, let relu, _):
                relu(output: outputs[index], gradient: gradients[index])
                try convolution.backwardData(gradients[index], into: below)
            case .pooling(let pool, let workspace):
                try pool.backward(gradients[index], into: below, workspace: workspace)
            }
        }
        let plain = try Memory(.plain([1, 3, height, width]))
        fromNetworkInput(inputGradient, into: plain)
        return Tensor(shape: [3, height, width], scalars: plain.scalars())
    }

    private func add(_ gradient: Tensor, toGradientOf index: Int) throws {
        let layout = gradients[index].descriptor
        if fromPlain[index] == nil {
            let dims = layout.shape
            fromPlain[index] = (try Reorder(from: .plain(dims), to: layout), try Memory(.plain(dims)), try Memory(layout))
        }
        let (reorder, plain, converted) = fromPlain[index]!
        plain.load(gradient.scalars)
        reorder(plain, into: converted)
        gradients[index].add(converted)
    }
}

/// How VGG19 pools: max as trained, or average, which Gatys et al. found gives smoother images.
public enum PoolingKind: String, Sendable, CaseIterable {
    case max, avg

    var engineKind: Pooling.Kind { self == .max ? .max : .average }
}
