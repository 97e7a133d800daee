import ArgumentParser
import Stylize

/// The objective's knobs, shared by `transfer` (which minimises it) and `train` (which teaches a network to): each
/// option's default is the library's (`ObjectiveSettings`).
struct ObjectiveOptions: ParsableArguments {
    private static let defaults = ObjectiveSettings()

    @Option(help: "Weight of the content term.")
    var contentWeight = defaults.contentWeight

    @Option(help: "Weight of the style term.")
    var styleWeight = defaults.styleWeight

    @Option(help: "Weight of the total-variation (smoothness) term.")
    var tvWeight = defaults.tvWeight

    @Option(help: "Comma-separated content layers, each optionally layer:weight.")
    var contentLayers = WeightedLayer.listText(defaults.contentLayers)

    @Option(help: "Comma-separated style layers, each optionally layer:weight (e.g. relu3_1:0.5).")
    var styleLayers = WeightedLayer.listText(defaults.styleLayers)

    @Option(help: "VGG19's pooling: max (as trained) or avg.")
    var pooling = defaults.pooling

    func settings() throws -> ObjectiveSettings {
        var settings = ObjectiveSettings()
        settings.contentWeight = contentWeight
        settings.styleWeight = styleWeight
        settings.tvWeight = tvWeight
        settings.contentLayers = try WeightedLayer.parseList(contentLayers, setting: "contentLayers")
        settings.styleLayers = try WeightedLayer.parseList(styleLayers, setting: "styleLayers")
        settings.pooling = pooling
        return settings
    }
}
