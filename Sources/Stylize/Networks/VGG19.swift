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

/// VGG19 compiled for one input size, pooling kind and depth, built for the style-transfer loop: forward to the
/// deepest layer needed, then backward from gradients given at some ReLU outputs down to the image.
///
/// Memory is what limits image size, so activations are not kept per layer: the forward pass ping-pongs
/// between two buffers, remembering only what backward needs (a byte per ReLU output for its mask, max
/// pooling's small workspace, and the plain features asked for); the backward pass reuses the same two buffers
/// for the gradients. Primitives and buffers are made once and reused by every call.
public final class VGG19Features {
    private enum Stage {
        case convolution(Convolution, name: String)
        case pooling(Pooling, workspace: Memory?)
    }

    public let height: Int
    public let width: Int
    public let layers: [String]
    private let stages: [Stage]
    /// Stage i's output (and, in backward, the gradient with respect to it) lives in buffer (i + 1) % 2.
    private let outputs: [Memory]
    private var masks: [Int: ReLUMask] = [:]
    private let input: Memory
    private let inputGradient: Memory
    private let toNetworkInput: Reorder
    private let fromNetworkInput: Reorder
    private var stageOfLayer: [String: Int] = [:]
    private var toPlain: [Int: Reorder] = [:]
    private var addPlain: [Int: Reorder] = [:]

    /// - Parameters:
    ///   - deepest: the deepest ReLU layer anyone will ask for; the network stops there.
    ///   - algorithm: `.auto` measures direct and Winograd convolution once per layer shape and keeps the faster.
    public init(_ network: VGG19, height: Int, width: Int, deepest: String, pooling: PoolingKind = .max,
                algorithm: ConvolutionAlgorithm = .direct) throws {
        guard let depth = VGG19.reluLayers.firstIndex(of: deepest) else {
            throw EngineError(description: "unknown VGG19 layer \(deepest)")
        }
        self.height = height
        self.width = width
        var stages: [Stage] = []
        var shape = [1, 3, height, width]
        var layout: MemoryDescriptor? = nil
        var built = 0
        blocks: for (block, spec) in VGG19.blocks.enumerated() {
            for index in 1...spec.convolutions {
                let name = "conv\(block + 1)_\(index)"
                let convolution = try Convolution.make(inputShape: shape, weights: network.parameters["\(name).weight"]!,
                                                       bias: network.parameters["\(name).bias"]!, padding: 1,
                                                       fusedReLU: true, algorithm: algorithm, sourceLayout: layout)
                let relu = "relu\(block + 1)_\(index)"
                stages.append(.convolution(convolution, name: relu))
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
            (shape, layout) = (pool.outputShape, pool.destinationLayout)
        }
        self.stages = stages
        self.layers = Array(VGG19.reluLayers[...depth])

        guard case .convolution(let first, _) = stages[0] else { fatalError("VGG19 starts with a convolution") }
        var layouts = [first.sourceLayout, try first.inputGradientLayout()]
        for (index, stage) in stages.enumerated() {
            switch stage {
            case .convolution(let convolution, let name):
                layouts.append(convolution.destinationLayout)
                masks[index] = ReLUMask(capacity: convolution.destinationLayout.byteCount / 4)
                if index > 0, try !convolution.inputGradientLayout().sameLayout(as: layouts[layouts.count - 2]) {
                    throw EngineError(description: "oneDNN chose different layouts below \(name) forward and backward")
                }
            case .pooling(let pool, _):
                layouts.append(pool.destinationLayout)
            }
        }
        let largest = layouts.map(\.byteCount).max()!
        let buffers = [Buffer(byteCount: largest), Buffer(byteCount: largest)]
        // One buffer for every layer's backward-ordered weights, instead of a second copy of the network.
        var convolutions: [Convolution] = []
        for case .convolution(let convolution, _) in stages { convolutions.append(convolution) }
        let backwardWeights = Buffer(byteCount: try convolutions.map { try $0.backwardWeightsByteCount() }.max() ?? 0)
        for convolution in convolutions { try convolution.shareBackwardWeights(backwardWeights) }
        outputs = try stages.indices.map { try Memory(layouts[$0 + 2], in: buffers[($0 + 1) % 2]) }
        input = try Memory(first.sourceLayout, in: buffers[0])
        inputGradient = try Memory(layouts[1], in: buffers[0])
        let plainInput = MemoryDescriptor.plain([1, 3, height, width])
        toNetworkInput = try Reorder(from: plainInput, to: first.sourceLayout)
        fromNetworkInput = try Reorder(from: inputGradient.descriptor, to: plainInput)
    }

    /// Which oneDNN kernels run, for logs and benchmarks.
    public var implementations: [String] {
        stages.compactMap { if case .convolution(let c, let name) = $0 { "\(name): \(c.implementation)" } else { nil } }
    }

    /// Runs the network on a preprocessed image [3, H, W] and returns the ReLU outputs asked for, [C, h, w].
    public func forward(_ image: Tensor, returning names: Set<String>) throws -> [String: Tensor] {
        precondition(image.shape == [3, height, width], "VGG19Features built for 3x\(height)x\(width), given \(image.shape)")
        try Memory.viewing(image.scalars, as: [1, 3, height, width]) { toNetworkInput($0, into: input) }
        let wanted = try Set(names.map(stage(of:)))
        var features: [String: Tensor] = [:]
        var source = input
        for (index, stage) in stages.enumerated() {
            switch stage {
            case .convolution(let convolution, let name):
                convolution.forward(source, into: outputs[index])
                masks[index]!.record(outputs[index])
                if wanted.contains(index) { features[name] = try plainCopy(of: index) }
            case .pooling(let pool, let workspace):
                pool.forward(source, into: outputs[index], workspace: workspace)
            }
            source = outputs[index]
        }
        return features
    }

    /// A ReLU layer's output shape, [C, h, w].
    public func outputShape(of name: String) throws -> [Int] {
        Array(outputs[try stage(of: name)].descriptor.shape.dropFirst())
    }

    private func stage(of name: String) throws -> Int {
        guard let index = stageOfLayer[name] else {
            throw EngineError(description: "layer \(name) is not computed (network built down to \(layers.last!))")
        }
        return index
    }

    private func plainCopy(of index: Int) throws -> Tensor {
        let dims = outputs[index].descriptor.shape
        if toPlain[index] == nil { toPlain[index] = try Reorder(from: outputs[index].descriptor, to: .plain(dims)) }
        var scalars = [Float](repeating: 0, count: dims.reduce(1, *))
        try Memory.viewing(&scalars, as: dims) { toPlain[index]!(outputs[index], into: $0) }
        return Tensor(shape: Array(dims.dropFirst()), scalars: scalars)
    }

    /// Backpropagates through the last forward pass and returns the gradient with respect to the preprocessed
    /// image, [3, H, W]. `gradientAt(layer)` gives the loss gradient at a ReLU output ([C, h, w]) or nil; it is
    /// asked for each layer when the backward pass reaches it, deepest first, so that only one is alive at a time.
    public func backward(gradientAt: (String) throws -> Tensor?) throws -> Tensor {
        var top: Int? = nil
        for (index, stage) in stages.enumerated().reversed() {
            if case .convolution(_, let name) = stage, let gradient = try gradientAt(name) {
                if top == nil {
                    top = index
                    outputs[index].fill(0)
                }
                try add(gradient, toGradientOf: index)
            }
            guard top != nil else { continue }
            let below = index == 0 ? inputGradient : outputs[index - 1]
            switch stage {
            case .convolution(let convolution, _):
                masks[index]!.apply(to: outputs[index])
                try convolution.backwardData(outputs[index], into: below)
            case .pooling(let pool, let workspace):
                try pool.backward(outputs[index], into: below, workspace: workspace)
            }
        }
        var gradient = [Float](repeating: 0, count: 3 * height * width)
        if top != nil {
            try Memory.viewing(&gradient, as: [1, 3, height, width]) { fromNetworkInput(inputGradient, into: $0) }
        }
        return Tensor(shape: [3, height, width], scalars: gradient)
    }

    /// Convenience for gradients known up front.
    public func backward(_ featureGradients: [String: Tensor]) throws -> Tensor {
        try backward { featureGradients[$0] }
    }

    private func add(_ gradient: Tensor, toGradientOf index: Int) throws {
        let layout = outputs[index].descriptor
        if addPlain[index] == nil { addPlain[index] = try Reorder(from: .plain(layout.shape), to: layout, accumulate: true) }
        try Memory.viewing(gradient.scalars, as: layout.shape) { addPlain[index]!($0, into: outputs[index]) }
    }
}

/// How VGG19 pools: max as trained, or average, which Gatys et al. found gives smoother images.
public enum PoolingKind: String, Sendable, CaseIterable {
    case max, avg

    var engineKind: Pooling.Kind { self == .max ? .max : .average }
}
