/// The parts of the objective at one image.
public struct ObjectiveTerms: Sendable {
    public var content: Double = 0
    public var style: Double = 0
    public var tv: Double = 0
    public var styleByLayer: [String: Double] = [:]
    public var total: Double { content + style + tv }
}

/// One style's part in the objective: its Gram matrices, how much it counts, and where it applies.
public struct StyleTarget: Sendable {
    /// The style image's Gram matrices per style layer (`GatysObjective.styleTargets`).
    public var grams: [String: Tensor]
    /// Multiplies this style's term; `StyleTransfer` normalises the weights of all styles to sum 1.
    public var weight: Float
    /// Where in the output the style applies, at the output's size; nil for everywhere.
    public var mask: StyleMask?

    public init(grams: [String: Tensor], weight: Float = 1, mask: StyleMask? = nil) {
        self.grams = grams
        self.weight = weight
        self.mask = mask
    }
}

/// Gatys, Ecker & Bethge's objective for one content photo and one or more style images:
/// content + style + total variation, each weighted, as a function of the preprocessed image x.
public final class GatysObjective {
    public let settings: ObjectiveSettings
    public let height: Int
    public let width: Int
    private let network: VGG19Features
    private var contentLosses: [String: ContentLoss] = [:]
    private let styleLosses: [String: [StyleLoss]]
    private let totalVariation: TotalVariation

    /// - Parameters:
    ///   - content: the content photo, preprocessed, [3, H, W]; the output has its size.
    ///   - styleGrams: the style image's Gram matrices per style layer (`styleTargets`).
    public convenience init(vgg: VGG19, content: Tensor, styleGrams: [String: Tensor], settings: ObjectiveSettings) throws {
        try self.init(vgg: vgg, content: content, styles: [StyleTarget(grams: styleGrams)], settings: settings)
    }

    /// Several styles. Those without a mask are blended as jcjohnson/neural-style does, into one target Gram
    /// matrix Σ wᵢAᵢ / Σ wᵢ weighted by Σ wᵢ: the same gradient as the sum of their weighted losses, for one
    /// Gram matrix of the output instead of one each. Each masked style is a term of its own over its region.
    ///   - sharedBackwardWeights: as `VGG19Features`'; training passes false.
    public init(vgg: VGG19, content: Tensor, styles: [StyleTarget], settings: ObjectiveSettings,
                sharedBackwardWeights: Bool = true) throws {
        try settings.validate()
        self.settings = settings
        (height, width) = (content.shape[1], content.shape[2])
        for style in styles {
            guard style.weight >= 0 && style.weight.isFinite else {
                throw InvalidInput("a style weight must be a non-negative number, not \(style.weight)")
            }
            if let mask = style.mask, mask.height != height || mask.width != width {
                throw InvalidInput("a \(mask.width)x\(mask.height) style mask for a \(width)x\(height) image")
            }
            for layer in settings.styleLayers where style.grams[layer.name] == nil {
                throw InvalidInput("no style Gram matrix for \(layer.name)")
            }
        }
        network = try VGG19Features(vgg, height: height, width: width, deepest: settings.deepestLayer,
                                    pooling: settings.pooling, algorithm: settings.algorithm,
                                    precision: settings.precision, sharedBackwardWeights: sharedBackwardWeights)
        let unmasked = styles.filter { $0.mask == nil && $0.weight > 0 }
        let masked = styles.filter { $0.mask != nil && $0.weight > 0 }
        let unmaskedWeight = unmasked.reduce(Float(0)) { $0 + $1.weight }
        var styleLosses: [String: [StyleLoss]] = [:]
        for layer in settings.styleLayers {
            let weight = settings.styleWeight * layer.weight
            var losses: [StyleLoss] = []
            if let first = unmasked.first {
                var blend = [Float](repeating: 0, count: first.grams[layer.name]!.count)
                for style in unmasked {
                    let share = style.weight / unmaskedWeight
                    for (i, value) in style.grams[layer.name]!.scalars.enumerated() { blend[i] += share * value }
                }
                losses.append(StyleLoss(target: Tensor(shape: first.grams[layer.name]!.shape, scalars: blend),
                                        weight: weight * unmaskedWeight))
            }
            // The masks follow the features down the network, to each style layer's size.
            let shape = try network.outputShape(of: layer.name)
            for style in masked {
                losses.append(StyleLoss(target: style.grams[layer.name]!, weight: weight * style.weight,
                                        mask: style.mask!.following(toHeight: shape[1], width: shape[2])))
            }
            styleLosses[layer.name] = losses
        }
        self.styleLosses = styleLosses
        totalVariation = TotalVariation(weight: settings.tvWeight)
        try setContent(content)
    }

    /// Makes `content` (preprocessed, [3, H, W] at the objective's size) the photo whose features the content loss
    /// compares with: a feed-forward network's training takes each crop as its own content.
    public func setContent(_ content: Tensor) throws {
        // The content targets in the order the feature maps give their bands.
        var targets: [String: Tensor] = [:]
        try network.forward(content, visiting: Set(settings.contentLayers.map(\.name))) { targets[$0] = try $1.positionMajor() }
        for layer in settings.contentLayers {
            contentLosses[layer.name] = ContentLoss(target: targets[layer.name]!, weight: settings.contentWeight * layer.weight)
        }
    }

    /// The style image's Gram matrices at the style layers (the style image, preprocessed, may have any size).
    public static func styleTargets(vgg: VGG19, style: Tensor, settings: ObjectiveSettings) throws -> [String: Tensor] {
        try styleTargets(vgg: vgg, styles: [style], settings: settings)[0]
    }

    /// Each style image's Gram matrices. Images of the same size share one network, which is costly to build;
    /// only one network is alive at a time, as each takes as much memory as the main one would at that size.
    public static func styleTargets(vgg: VGG19, styles: [Tensor], settings: ObjectiveSettings) throws -> [[String: Tensor]] {
        try settings.validate()
        let deepest = VGG19.deepest(of: settings.styleLayers.map(\.name))
        var grams = [[String: Tensor]](repeating: [:], count: styles.count)
        let bySize = Dictionary(grouping: styles.indices) { [styles[$0].shape[1], styles[$0].shape[2]] }
        for (size, indices) in bySize {
            let network = try VGG19Features(vgg, height: size[0], width: size[1], deepest: deepest,
                                            pooling: settings.pooling, algorithm: settings.algorithm,
                                            precision: settings.precision)
            for index in indices {
                try network.forward(styles[index], visiting: Set(settings.styleLayers.map(\.name))) {
                    grams[index][$0] = try GramMatrix.of($1)
                }
            }
        }
        return grams
    }

    public var implementations: [String] { network.implementations }

    /// The format VGG19 runs in (`auto` resolved).
    public var precision: Precision { network.precision }

    /// The objective and its gradient with respect to x (preprocessed, [3, H, W]): one forward and one
    /// backward pass through VGG19.
    public func evaluate(_ x: Tensor) throws -> (terms: ObjectiveTerms, gradient: Tensor) {
        let names = Set(contentLosses.keys).union(styleLosses.keys)
        try network.forward(x, keeping: names)
        var terms = ObjectiveTerms()
        // Each layer's losses are taken when the backward pass reaches the layer, their gradients added into
        // the gradient coming down from the layers above.
        var gradient = try network.backward(from: names) { name, gradient, features in
            guard let features else { preconditionFailure("\(name) was kept by the forward pass") }
            if let loss = contentLosses[name] {
                terms.content += try loss(features, addingGradientTo: gradient)
            }
            for loss in styleLosses[name] ?? [] {
                let value = try loss(features, addingGradientTo: gradient)
                terms.style += value
                terms.styleByLayer[name, default: 0] += value
            }
        }
        let (tv, tvGradient) = totalVariation(x)
        terms.tv = tv
        for i in 0..<gradient.count { gradient.scalars[i] += tvGradient.scalars[i] }
        return (terms, gradient)
    }
}
