/// A VGG19 layer and how much its term counts.
public struct WeightedLayer: Sendable, Equatable {
    public let name: String
    public let weight: Float

    public init(_ name: String, weight: Float = 1) {
        self.name = name
        self.weight = weight
    }
}

/// The knobs of the Gatys objective, with jcjohnson/neural-style's defaults.
public struct ObjectiveSettings: Sendable {
    public var contentWeight: Float = 5
    public var styleWeight: Float = 100
    public var tvWeight: Float = 1e-3
    public var contentLayers: [WeightedLayer] = [WeightedLayer("relu4_2")]
    public var styleLayers: [WeightedLayer] = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"].map { WeightedLayer($0) }
    public var pooling: PoolingKind = .max
    public var algorithm: ConvolutionAlgorithm = .auto

    public init() {}

    /// The deepest layer any term needs: VGG19 is run no further.
    var deepestLayer: String {
        let used = Set((contentLayers + styleLayers).map(\.name))
        return VGG19.reluLayers.last { used.contains($0) } ?? "relu1_1"
    }

    public func validate() throws {
        for layer in contentLayers + styleLayers where !VGG19.reluLayers.contains(layer.name) {
            throw EngineError(description: "unknown layer '\(layer.name)'; VGG19's are \(VGG19.reluLayers.joined(separator: ", "))")
        }
        for layer in contentLayers + styleLayers where !(layer.weight >= 0 && layer.weight.isFinite) {
            throw EngineError(description: "layer weight for \(layer.name) must be a non-negative number")
        }
        for (name, w) in [("content", contentWeight), ("style", styleWeight), ("tv", tvWeight)] where !(w >= 0 && w.isFinite) {
            throw EngineError(description: "the \(name) weight must be a non-negative number, not \(w)")
        }
    }
}

/// The parts of the objective at one image.
public struct ObjectiveTerms: Sendable {
    public var content: Double = 0
    public var style: Double = 0
    public var tv: Double = 0
    public var styleByLayer: [String: Double] = [:]
    public var total: Double { content + style + tv }
}

/// Gatys, Ecker & Bethge's objective for one content photo and one style image:
/// content + style + total variation, each weighted, as a function of the preprocessed image x.
public final class GatysObjective {
    public let settings: ObjectiveSettings
    public let height: Int
    public let width: Int
    private let network: VGG19Features
    private let contentLosses: [String: ContentLoss]
    private let styleLosses: [String: StyleLoss]
    private let totalVariation: TotalVariation

    /// - Parameters:
    ///   - content: the content photo, preprocessed, [3, H, W]; the output has its size.
    ///   - styleGrams: the style image's Gram matrices per style layer (`styleTargets`).
    public init(vgg: VGG19, content: Tensor, styleGrams: [String: Tensor], settings: ObjectiveSettings) throws {
        try settings.validate()
        self.settings = settings
        (height, width) = (content.shape[1], content.shape[2])
        network = try VGG19Features(vgg, height: height, width: width, deepest: settings.deepestLayer,
                                    pooling: settings.pooling, algorithm: settings.algorithm)
        let targets = try network.forward(content, returning: Set(settings.contentLayers.map(\.name)))
        var contentLosses: [String: ContentLoss] = [:]
        for layer in settings.contentLayers {
            contentLosses[layer.name] = ContentLoss(target: targets[layer.name]!, weight: settings.contentWeight * layer.weight)
        }
        var styleLosses: [String: StyleLoss] = [:]
        for layer in settings.styleLayers {
            styleLosses[layer.name] = StyleLoss(target: styleGrams[layer.name]!, weight: settings.styleWeight * layer.weight)
        }
        self.contentLosses = contentLosses
        self.styleLosses = styleLosses
        totalVariation = TotalVariation(weight: settings.tvWeight)
    }

    /// The style image's Gram matrices at the style layers (the style image, preprocessed, may have any size).
    public static func styleTargets(vgg: VGG19, style: Tensor, settings: ObjectiveSettings) throws -> [String: Tensor] {
        try settings.validate()
        let deepest = VGG19.reluLayers.last { settings.styleLayers.map(\.name).contains($0) } ?? "relu1_1"
        let network = try VGG19Features(vgg, height: style.shape[1], width: style.shape[2], deepest: deepest,
                                        pooling: settings.pooling, algorithm: settings.algorithm)
        let features = try network.forward(style, returning: Set(settings.styleLayers.map(\.name)))
        return features.mapValues(GramMatrix.of)
    }

    public var implementations: [String] { network.implementations }

    /// The objective and its gradient with respect to x (preprocessed, [3, H, W]): one forward and one
    /// backward pass through VGG19.
    public func evaluate(_ x: Tensor) throws -> (terms: ObjectiveTerms, gradient: Tensor) {
        let names = Set(contentLosses.keys).union(styleLosses.keys)
        var features = try network.forward(x, returning: names)
        var terms = ObjectiveTerms()
        // Each layer's loss gradient is made when the backward pass reaches the layer, and its features are
        // dropped then: at large sizes these plain copies are a good part of the memory.
        var gradient = try network.backward { name -> Tensor? in
            guard let feature = features.removeValue(forKey: name) else { return nil }
            var gradient: Tensor? = nil
            if let loss = contentLosses[name] {
                let (value, g) = loss(feature)
                terms.content += value
                gradient = g
            }
            if let loss = styleLosses[name] {
                let (value, g) = loss(feature)
                terms.style += value
                terms.styleByLayer[name] = value
                if var sum = gradient {
                    for i in 0..<sum.count { sum.scalars[i] += g.scalars[i] }
                    gradient = sum
                } else {
                    gradient = g
                }
            }
            return gradient
        }
        let (tv, tvGradient) = totalVariation(x)
        terms.tv = tv
        for i in 0..<gradient.count { gradient.scalars[i] += tvGradient.scalars[i] }
        return (terms, gradient)
    }
}
