import Foundation

/// A VGG19 layer and how much its term counts.
public struct WeightedLayer: Sendable, Equatable {
    public let name: String
    public let weight: Float

    public init(_ name: String, weight: Float = 1) {
        self.name = name
        self.weight = weight
    }

    /// "relu3_1:0.5,relu4_1" -> layers with weights; `setting` names the list in the error.
    public static func parseList(_ list: String, setting: String) throws -> [WeightedLayer] {
        let layers = try list.split(separator: ",").map { item -> WeightedLayer in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            try Check.that(VGG19.reluLayers.contains(parts[0]), setting,
                           "names an unknown layer '\(parts[0])'; VGG19's are \(VGG19.reluLayers.joined(separator: ","))")
            guard parts.count <= 2, let weight = parts.count == 2 ? Float(parts[1]) : 1, weight >= 0, weight.isFinite else {
                throw InvalidInput(setting, "has '\(item)', which should be layer or layer:weight with a weight >= 0")
            }
            return WeightedLayer(parts[0], weight: weight)
        }
        try Check.that(!layers.isEmpty, setting, "names no layer")
        return layers
    }

    /// The inverse of `parseList`: "relu3_1:0.5,relu4_1".
    public static func listText(_ layers: [WeightedLayer]) -> String {
        layers.map { $0.weight == 1 ? $0.name : "\($0.name):\($0.weight)" }.joined(separator: ",")
    }
}

/// The knobs of the Gatys objective, with jcjohnson/neural-style's defaults: what `transfer` minimises and what
/// `train` teaches a network to minimise. The terms' weights, layers and pooling are recorded in trained models
/// (`Codable`); the convolution algorithm and the precision say how it is computed, not what, and are not.
public struct ObjectiveSettings: Sendable, Equatable {
    public var contentWeight: Float = 5
    public var styleWeight: Float = 100
    public var tvWeight: Float = 1e-3
    public var contentLayers: [WeightedLayer] = [WeightedLayer("relu4_2")]
    public var styleLayers: [WeightedLayer] = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"].map { WeightedLayer($0) }
    public var pooling: PoolingKind = .max
    public var algorithm: ConvolutionAlgorithm = .auto
    /// bf16 where this CPU runs it natively and faster (`auto`), or always float32 / bf16.
    public var precision: Precision = .auto

    public init() {}

    /// The deepest layer any term needs: VGG19 is run no further.
    public var deepestLayer: String { VGG19.deepest(of: (contentLayers + styleLayers).map(\.name)) }

    public func validate() throws {
        for (setting, layers) in [("contentLayers", contentLayers), ("styleLayers", styleLayers)] {
            for layer in layers {
                try Check.that(VGG19.reluLayers.contains(layer.name), setting,
                               "names an unknown layer '\(layer.name)'; VGG19's are \(VGG19.reluLayers.joined(separator: ","))")
                try Check.nonNegative(layer.weight, setting)
            }
        }
        try Check.nonNegative(contentWeight, "contentWeight")
        try Check.nonNegative(styleWeight, "styleWeight")
        try Check.nonNegative(tvWeight, "tvWeight")
    }
}

extension ObjectiveSettings: Codable {
    private enum CodingKeys: String, CodingKey { case contentWeight, styleWeight, tvWeight, contentLayers, styleLayers, pooling }

    /// Every field is optional, so that a file written before a setting existed still loads (with the default,
    /// which is what it was made with); the layers are kept as the command line writes them.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ObjectiveSettings()
        contentWeight = try container.decode(.contentWeight, or: defaults.contentWeight)
        styleWeight = try container.decode(.styleWeight, or: defaults.styleWeight)
        tvWeight = try container.decode(.tvWeight, or: defaults.tvWeight)
        contentLayers = try container.decodeIfPresent(String.self, forKey: .contentLayers)
            .map { try WeightedLayer.parseList($0, setting: "contentLayers") } ?? defaults.contentLayers
        styleLayers = try container.decodeIfPresent(String.self, forKey: .styleLayers)
            .map { try WeightedLayer.parseList($0, setting: "styleLayers") } ?? defaults.styleLayers
        pooling = try container.decode(.pooling, or: defaults.pooling)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(contentWeight, forKey: .contentWeight)
        try container.encode(styleWeight, forKey: .styleWeight)
        try container.encode(tvWeight, forKey: .tvWeight)
        try container.encode(WeightedLayer.listText(contentLayers), forKey: .contentLayers)
        try container.encode(WeightedLayer.listText(styleLayers), forKey: .styleLayers)
        try container.encode(pooling, forKey: .pooling)
    }
}

extension PoolingKind: Codable {}

extension KeyedDecodingContainer {
    /// The value for `key`, or `fallback` when the file has none: settings files stay readable after a setting is
    /// added, with the default that was in force before it existed.
    func decode<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}
