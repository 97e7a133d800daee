/// VGG19's convolutional part (Simonyan & Zisserman 2014), the ImageNet-trained network whose ReLU outputs
/// serve as the perceptual features of every objective here. Inputs are preprocessed images: BGR, 0...255,
/// minus the ImageNet mean (see `VGG19.preprocess`).
public struct VGG19: Sendable {
    /// One 3x3 convolution (with its ReLU) of VGG19, named as in the literature: `conv2_1` is the first of block 2.
    public struct Layer: Sendable, Hashable {
        public let block: Int
        public let index: Int
        public let inputChannels: Int
        public let outputChannels: Int
        /// A 2x2 pooling follows the last convolution of each block.
        public let endsBlock: Bool

        public var name: String { "conv\(block)_\(index)" }
        /// The ReLU after it, whose output the objectives read: `relu2_1`.
        public var relu: String { "relu\(block)_\(index)" }
        public var weightName: String { name + ".weight" }
        public var biasName: String { name + ".bias" }
        public var weightShape: [Int] { [outputChannels, inputChannels, 3, 3] }
        public var biasShape: [Int] { [outputChannels] }
    }

    /// The network, the one table everything about VGG19 derives from: five blocks of 2, 2, 4, 4 and 4
    /// convolutions with 64, 128, 256, 512 and 512 channels, each block followed by a 2x2 pooling.
    public static let layers: [Layer] = {
        var layers: [Layer] = []
        var inputChannels = 3  // RGB
        for (block, (count, channels)) in [(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)].enumerated() {
            for index in 1...count {
                layers.append(Layer(block: block + 1, index: index, inputChannels: inputChannels, outputChannels: channels,
                                    endsBlock: index == count))
                inputChannels = channels
            }
        }
        return layers
    }()

    /// The ReLU layers in network order: relu1_1, relu1_2, relu2_1, ... relu5_4.
    public static let reluLayers: [String] = layers.map(\.relu)

    /// The deepest of some ReLU layers (relu1_1 for none): how far a network serving them must run.
    public static func deepest(of names: some Sequence<String>) -> String {
        let names = Set(names)
        return reluLayers.last { names.contains($0) } ?? "relu1_1"
    }

    /// Multiply-adds of the convolutions down to `deepest` for one image, as direct convolution counts them: the cost
    /// of a forward pass (a backward pass to the image costs the same again), for benchmarks' FLOP rates.
    public static func multiplyAdds(height: Int, width: Int, deepest: String) -> Int {
        guard let depth = reluLayers.firstIndex(of: deepest) else { return 0 }
        return plan(height: height, width: width, depth: depth).reduce(0) { total, stage in
            total + 9 * stage.layer.inputChannels * stage.layer.outputChannels * stage.height * stage.width
        }
    }

    /// The layers down to `deepest` (an index into `layers`), each with its input's height and width for an image
    /// of `height` x `width`: the plan that `VGG19Features` builds, `auto` precision measures and `MemoryEstimate`
    /// counts.
    static func plan(height: Int, width: Int, depth: Int) -> [(layer: Layer, height: Int, width: Int)] {
        var (h, w) = (height, width)
        return layers[...depth].map { layer in
            defer { if layer.endsBlock { (h, w) = (h / 2, w / 2) } }
            return (layer, h, w)
        }
    }

    /// The Caffe mean in BGR order, subtracted from BGR pixels in 0...255.
    public static let meanBGR: [Float] = [103.939, 116.779, 123.68]

    /// conv1_1.weight [64, 3, 3, 3], conv1_1.bias [64], ... conv5_4.bias.
    public let parameters: [String: Tensor]

    public init(parameters: [String: Tensor]) throws {
        for layer in Self.layers {
            for (key, dims) in [(layer.weightName, layer.weightShape), (layer.biasName, layer.biasShape)] where parameters[key]?.shape != dims {
                throw InvalidInput("VGG19 weights: \(key) should be \(dims), found \(parameters[key].map { "\($0.shape)" } ?? "nothing")")
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
/// Memory is what limits image size, so activations are not kept per layer: each layer reads its input from one
/// end of a single buffer and writes its output at the other, remembering only what backward needs (a bit per
/// ReLU output for its mask, max pooling's small workspace, and the layers asked for, in oneDNN's layout); the
/// backward pass goes back through the same buffer with the gradients. Winograd's scratchpad, several times a
/// layer's activations, sits in the middle, between a layer's input and output: the early layers are large and
/// need little scratchpad, the later ones the reverse, so one buffer serves both, 70 MB smaller at 512 px than
/// two activation buffers and a separate scratchpad. relu1_1, the largest layer, is not kept but made again in
/// the backward pass from the image: one 3-channel convolution, under 1% of an iteration, for a quarter of the
/// kept memory. Primitives and buffers are made once and reused by every call.
public final class VGG19Features {
    private enum Stage {
        case convolution(Convolution, name: String)
        case pooling(Pooling, workspace: Memory?)
    }

    public let height: Int
    public let width: Int
    public let layers: [String]
    /// The format the convolutions run in: fp32 or bf16, never auto.
    public let precision: Precision
    private let stages: [Stage]
    /// Stage i's output (and, in backward, the gradient with respect to it) lives at the start of the network's
    /// one buffer (the arena) for odd i, at its end for even i; the image's gradient at the start.
    private let outputs: [Memory]
    /// Each convolution's forward and backward-data scratchpad, between its input and its output.
    private var scratchpads: [Int: (forward: Memory, backwardData: Memory)] = [:]
    /// The first convolution's output made again in the backward pass, at the arena's start.
    private let remadeFirstLayer: (output: Memory, scratchpad: Memory)
    private var masks: [Int: ReLUMask] = [:]
    private let input: Memory
    private let inputGradient: Memory
    private let toNetworkInput: Reorder
    private let fromNetworkInput: Reorder
    private var stageOfLayer: [String: Int] = [:]
    private var bandReorders: [Int: BandReorders] = [:]
    /// About how large a band of a feature map is (`FeatureMap`); the tests make it small, for many bands.
    var bandBytes = 2 << 20
    /// The outputs `forward(_:keeping:)` copied aside for the backward pass, by stage.
    private var kept: [Int: Memory] = [:]
    private var keptStages: Set<Int> = []

    /// - Parameters:
    ///   - deepest: the deepest ReLU layer anyone will ask for; the network stops there.
    ///   - algorithm: `.auto` measures direct and Winograd convolution once per layer shape and keeps the faster.
    ///   - precision: `.auto` measures the layers' float32 and bf16 kernels and runs the whole network in bf16 when
    ///     that is faster here (`Precision.choice`); the network has one format throughout, so that no layer
    ///     boundary needs a conversion.
    ///   - sharedBackwardWeights: where a backward kernel wants the weights in another order (bf16 on AMX), true
    ///     keeps one buffer for all layers, refilled layer by layer in each backward pass: it saves a copy of the
    ///     network's weights (26 MB in bf16) for about 4% of a 512 px Gatys iteration. Training, which runs a
    ///     backward pass per small crop, passes false: each layer orders its copy once.
    public init(_ network: VGG19, height: Int, width: Int, deepest: String, pooling: PoolingKind = .max,
                algorithm: ConvolutionAlgorithm = .direct, precision: Precision = .fp32,
                sharedBackwardWeights: Bool = true) throws {
        guard let depth = VGG19.reluLayers.firstIndex(of: deepest) else {
            throw InvalidInput("unknown VGG19 layer \(deepest)")
        }
        self.height = height
        self.width = width
        let precision = try Self.resolve(precision, network, height: height, width: width, depth: depth, algorithm: algorithm)
        self.precision = precision
        var stages: [Stage] = []
        var shape = [1, 3, height, width]
        var layout: MemoryDescriptor? = nil
        for (layer, _, _) in VGG19.plan(height: height, width: width, depth: depth) {
            let convolution = try Convolution.make(inputShape: shape, weights: network.parameters[layer.weightName]!,
                                                   bias: network.parameters[layer.biasName]!, padding: 1,
                                                   fusedReLU: true, algorithm: algorithm, precision: precision,
                                                   sourceLayout: layout)
            stages.append(.convolution(convolution, name: layer.relu))
            stageOfLayer[layer.relu] = stages.count - 1
            (shape, layout) = (convolution.outputShape, convolution.destinationLayout)
            guard layer.endsBlock && layer.relu != deepest else { continue }
            guard shape[2] >= 2 && shape[3] >= 2 else {
                throw InvalidInput("a \(width)x\(height) image is too small for VGG19 down to \(deepest)")
            }
            let pool = try Pooling(inputShape: shape, sourceLayout: layout!, kind: pooling)
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
                masks[index] = ReLUMask(capacity: convolution.destinationLayout.byteCount / convolution.destinationLayout.elementSize)
                if index > 0, try !convolution.inputGradientLayout().sameLayout(as: layouts[layouts.count - 2]) {
                    throw EngineError(description: "oneDNN chose different layouts below \(name) forward and backward")
                }
            case .pooling(let pool, _):
                layouts.append(pool.destinationLayout)
            }
        }
        if sharedBackwardWeights {
            // One buffer for every layer's backward-ordered weights, instead of a second copy of the network.
            var convolutions: [Convolution] = []
            for case .convolution(let convolution, _) in stages { convolutions.append(convolution) }
            let backwardWeights = Buffer(byteCount: try convolutions.map { try $0.backwardWeightsByteCount() }.max() ?? 0)
            for convolution in convolutions { try convolution.shareBackwardWeights(backwardWeights) }
        }

        // The arena: for each stage, its input (or input gradient) at one end, its output at the other and its
        // scratchpad between them.
        let aligned = Arena.aligned
        var scratchLayouts: [Int: (forward: MemoryDescriptor, backwardData: MemoryDescriptor)] = [:]
        for (index, stage) in stages.enumerated() {
            if case .convolution(let convolution, _) = stage { scratchLayouts[index] = try convolution.scratchpadLayouts() }
        }
        func scratchBytes(_ index: Int) -> Int {
            scratchLayouts[index].map { max($0.forward.byteCount, $0.backwardData.byteCount) } ?? 0
        }
        let uses = stages.indices.map { (layouts[$0 + 1].byteCount, scratchBytes($0), layouts[$0 + 2].byteCount) }
        let remaking = (layouts[2].byteCount, scratchLayouts[0]!.forward.byteCount, layouts[2].byteCount)
        let arena = Buffer(byteCount: Arena.byteCount(uses + [remaking]))
        func atStart(_ layout: MemoryDescriptor) throws -> Memory { try Memory(layout, in: arena) }
        func atEnd(_ layout: MemoryDescriptor) throws -> Memory {
            try Memory(layout, in: arena, byteOffset: arena.byteCount - aligned(layout.byteCount))
        }
        outputs = try stages.indices.map { $0 % 2 == 0 ? try atEnd(layouts[$0 + 2]) : try atStart(layouts[$0 + 2]) }
        inputGradient = try atStart(layouts[1])
        for (index, scratch) in scratchLayouts {
            // Whichever of the stage's input and output is at the start, the scratchpad follows it.
            let offset = aligned(layouts[index % 2 == 0 ? index + 1 : index + 2].byteCount)
            scratchpads[index] = (try Memory(scratch.forward, in: arena, byteOffset: offset),
                                  try Memory(scratch.backwardData, in: arena, byteOffset: offset))
        }
        remadeFirstLayer = (try atStart(layouts[2]),
                            try Memory(scratchLayouts[0]!.forward, in: arena, byteOffset: aligned(layouts[2].byteCount)))
        // The image has memory of its own: relu1_1 is made from it again in the backward pass.
        input = try Memory(first.sourceLayout)
        let plainInput = MemoryDescriptor.plain([1, 3, height, width])
        toNetworkInput = try Reorder(from: plainInput, to: first.sourceLayout)
        fromNetworkInput = try Reorder(from: inputGradient.descriptor, to: plainInput)
    }

    /// `auto` made concrete: float32 or bf16 for the whole network, from each layer's measured kernels.
    private static func resolve(_ precision: Precision, _ network: VGG19, height: Int, width: Int, depth: Int,
                                algorithm: ConvolutionAlgorithm) throws -> Precision {
        guard precision == .auto else { return precision }
        guard Precision.cpuHasNativeBF16 else { return .fp32 }
        var fp32 = 0.0, bf16 = 0.0
        for (layer, h, w) in VGG19.plan(height: height, width: width, depth: depth) {
            let seconds = try Convolution.secondsPerStep(inputShape: [1, layer.inputChannels, h, w],
                                                         weights: network.parameters[layer.weightName]!,
                                                         bias: network.parameters[layer.biasName]!, padding: 1,
                                                         fusedReLU: true, algorithm: algorithm)
            fp32 += seconds.fp32
            bf16 += seconds.bf16
        }
        // The kernels timed for the first time left their weight copies in the heap; the network is built next.
        DNNL.returnFreedMemory()
        return Precision.choice(nativeBF16: true, fp32Seconds: fp32, bf16Seconds: bf16)
    }

    /// Which oneDNN kernels run, for logs and benchmarks.
    public var implementations: [String] {
        stages.compactMap { if case .convolution(let c, let name) = $0 { "\(name): \(c.implementation)" } else { nil } }
    }

    /// Runs the network on a preprocessed image [3, H, W], calling `visit` with each of `layers`' outputs as the
    /// pass goes by it (the map is overwritten once `visit` returns).
    public func forward(_ image: Tensor, visiting layers: Set<String>, _ visit: (String, FeatureMap) throws -> Void) throws {
        try run(image, stopping: Set(layers.map(stage(of:)))) { index, name in try visit(name, featureMap(outputs[index], stage: index)) }
    }

    /// Runs the network on a preprocessed image [3, H, W] and keeps `layers`' outputs for `backward`'s
    /// `addGradient` (until the next forward pass).
    public func forward(_ image: Tensor, keeping layers: Set<String>) throws {
        let stages = Set(try layers.map(stage(of:)))
        if stages != keptStages {
            kept = try Dictionary(uniqueKeysWithValues: stages.subtracting([0]).map { ($0, try Memory(mapping: outputs[$0].descriptor)) })
            keptStages = stages
        }
        try run(image, stopping: stages) { index, _ in
            kept[index]?.copy(from: outputs[index])
        }
    }

    /// Runs the network on a preprocessed image [3, H, W] and returns the ReLU outputs asked for as plain
    /// tensors [C, h, w].
    public func forward(_ image: Tensor, returning layers: Set<String>) throws -> [String: Tensor] {
        var features: [String: Tensor] = [:]
        try forward(image, visiting: layers) { features[$0] = try $1.plain() }
        return features
    }

    /// Runs the stages up to the deepest of `stopping` (a content target at relu4_2 needs no relu5_1).
    private func run(_ image: Tensor, stopping: Set<Int>, _ stop: (Int, String) throws -> Void) throws {
        precondition(image.shape == [3, height, width], "VGG19Features built for 3x\(height)x\(width), given \(image.shape)")
        try Memory.viewing(image.scalars, as: [1, 3, height, width]) { toNetworkInput($0, into: input) }
        var source = input
        for (index, stage) in stages.enumerated() where index <= stopping.max() ?? -1 {
            switch stage {
            case .convolution(let convolution, let name):
                convolution.forward(source, into: outputs[index], scratchpad: scratchpads[index]!.forward)
                masks[index]!.record(outputs[index])
                if stopping.contains(index) { try stop(index, name) }
            case .pooling(let pool, let workspace):
                pool.forward(source, into: outputs[index], workspace: workspace)
            }
            source = outputs[index]
        }
    }

    /// A ReLU layer's output shape, [C, h, w].
    public func outputShape(of name: String) throws -> [Int] {
        Array(outputs[try stage(of: name)].descriptor.shape.dropFirst())
    }

    private func stage(of name: String) throws -> Int {
        guard let index = stageOfLayer[name] else {
            throw InvalidInput("layer \(name) is not computed (network built down to \(layers.last!))")
        }
        return index
    }

    private func featureMap(_ memory: Memory, stage: Int) throws -> FeatureMap {
        if bandReorders[stage] == nil { bandReorders[stage] = BandReorders(layout: memory.descriptor, bandBytes: bandBytes) }
        return FeatureMap(memory, reorders: bandReorders[stage]!)
    }

    /// Backpropagates through the last forward pass from gradients added at `layers` and returns the gradient
    /// with respect to the preprocessed image, [3, H, W]. When the pass reaches each of the layers, deepest
    /// first, `addGradient(layer, gradient, features)` adds the loss's gradient into `gradient` (the gradient
    /// from the layers above, or zeros at the deepest); `features` is the layer's output if `forward` kept it.
    public func backward(from layers: Set<String>,
                         addGradient: (_ layer: String, _ gradient: FeatureMap, _ features: FeatureMap?) throws -> Void) throws -> Tensor {
        let wanted = Set(try layers.map(stage(of:)))
        var gradient = [Float](repeating: 0, count: 3 * height * width)
        guard let top = wanted.max() else { return Tensor(shape: [3, height, width], scalars: gradient) }
        outputs[top].zero()
        for (index, stage) in stages.enumerated().reversed() where index <= top {
            let below = index == 0 ? inputGradient : outputs[index - 1]
            switch stage {
            case .convolution(let convolution, let name):
                if wanted.contains(index) {
                    try addGradient(name, featureMap(outputs[index], stage: index), keptFeatures(index, convolution))
                }
                masks[index]!.apply(to: outputs[index])
                try convolution.backwardData(outputs[index], into: below, scratchpad: scratchpads[index]!.backwardData)
            case .pooling(let pool, let workspace):
                try pool.backward(outputs[index], into: below, workspace: workspace)
            }
        }
        try Memory.viewing(&gradient, as: [1, 3, height, width]) { fromNetworkInput(inputGradient, into: $0) }
        return Tensor(shape: [3, height, width], scalars: gradient)
    }

    /// A kept layer's output; the first layer's is made again from the image, at the arena's start, which holds
    /// nothing once the backward pass is at the first layer (its gradient is at the end).
    private func keptFeatures(_ index: Int, _ convolution: Convolution) throws -> FeatureMap? {
        guard keptStages.contains(index) else { return nil }
        if let memory = kept[index] { return try featureMap(memory, stage: index) }
        convolution.forward(input, into: remadeFirstLayer.output, scratchpad: remadeFirstLayer.scratchpad)
        return try featureMap(remadeFirstLayer.output, stage: 0)
    }

    /// Backpropagates plain gradients [C, h, w] given at some ReLU outputs.
    public func backward(_ featureGradients: [String: Tensor]) throws -> Tensor {
        try backward(from: Set(featureGradients.keys)) { name, gradient, _ in try gradient.add(plain: featureGradients[name]!) }
    }
}

/// The layout of `VGG19Features`' one buffer: each stage reads its input at one end and writes its output at the other,
/// with its scratchpad between them, so the buffer is as large as the largest stage's three together. The network
/// plans its buffer with it from oneDNN's layouts, and `MemoryEstimate` its estimate from modelled sizes.
enum Arena {
    /// Each part starts on a page.
    static func aligned(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }

    /// The buffer's size for stages using (input, scratchpad, output) bytes each.
    static func byteCount(_ stages: [(input: Int, scratchpad: Int, output: Int)]) -> Int {
        stages.map { aligned($0.input) + aligned($0.scratchpad) + aligned($0.output) }.max() ?? 0
    }
}
