import ArgumentParser
import Foundation
import Stylize

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Paint a photo in the style of an image (Gatys et al. 2015), by optimisation.",
        discussion: """
            Minimises content_weight * content + style_weight * style + tv_weight * tv over the output's pixels, with VGG19 features (jcjohnson/neural-style's conventions). L-BFGS does one forward and one backward pass per iteration and keeps --lbfgs-history past steps; Adam's step is --learning-rate (default 10, in 0-255 pixel units). Ctrl-C stops early and saves the current image.
            """
    )

    @Argument(help: "The content photo (PNG or JPEG).")
    var content: String

    @Argument(help: "The style image (PNG or JPEG).")
    var style: String

    @Option(name: .shortAndLong, help: "The output image (.png, .jpg).")
    var output: String

    @Option(help: "Long side of the output in pixels; the style image is resized to the same long side.")
    var size = 512

    @Option(help: "Optimisation steps.")
    var iterations = 500

    @Option(help: "lbfgs or adam.")
    var optimizer = TransferSettings.Optimizer.lbfgs

    @Option(help: "Adam's learning rate (default 10) or L-BFGS's step length (default 1).")
    var learningRate: Float?

    @Option(help: "How many past steps L-BFGS remembers.")
    var lbfgsHistory = 100

    @Option(help: "Weight of the content term.")
    var contentWeight: Float = 5

    @Option(help: "Weight of the style term.")
    var styleWeight: Float = 100

    @Option(help: "Weight of the total-variation (smoothness) term.")
    var tvWeight: Float = 1e-3

    @Option(name: .customLong("init"), help: "Start from the content photo or from noise.")
    var start = StartOption.content

    @Option(help: "Seed for the noise start.")
    var seed: UInt64 = 0

    @Option(help: "Comma-separated content layers, each optionally layer:weight.")
    var contentLayers = "relu4_2"

    @Option(help: "Comma-separated style layers, each optionally layer:weight (e.g. relu3_1:0.5).")
    var styleLayers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"

    @Option(help: "VGG19's pooling: max (as trained) or avg.")
    var pooling = PoolingKind.max

    @Option(help: "Convolution algorithm: direct, winograd (faster, about 1e-4 relative error), or auto: measure both once per layer shape on this machine, keep the faster, and remember it in the cache directory.")
    var convolution = ConvolutionAlgorithm.auto

    @Option(help: "Also write OUT-<iteration>.png every N iterations (0: never).")
    var saveEvery = 0

    @Option(help: "Write one JSON object per iteration to this file.")
    var log: String?

    @Option(help: "Threads for the math (default: all cores).")
    var threads: Int?

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    @Flag(help: "No progress bar.")
    var quiet = false

    enum StartOption: String, ExpressibleByArgument, CaseIterable { case content, noise }

    func validate() throws {
        guard size > 0 else { throw ValidationError("--size must be positive") }
        guard size * size <= maxPixels * 4 else { throw ValidationError("--size \(size) is beyond --max-pixels") }
        guard iterations >= 0 else { throw ValidationError("--iterations must be >= 0") }
        guard lbfgsHistory > 0 else { throw ValidationError("--lbfgs-history must be positive") }
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be >= 0") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
        if let learningRate, !(learningRate > 0) { throw ValidationError("--learning-rate must be positive") }
        for (name, value) in [("content", contentWeight), ("style", styleWeight), ("tv", tvWeight)] where !(value >= 0) {
            throw ValidationError("--\(name)-weight must be >= 0")
        }
    }

    func run() throws {
        try runReportingErrors {
            if let threads { DNNL.setThreads(threads) }
            DNNL.keepFreedMemory()
            MeasuredAlgorithms.keep(in: VGG19Weights.cacheDirectory().appendingPathComponent("convolution-choices.json"))
            var settings = TransferSettings()
            settings.objective.contentWeight = contentWeight
            settings.objective.styleWeight = styleWeight
            settings.objective.tvWeight = tvWeight
            settings.objective.contentLayers = try parseLayers(contentLayers, flag: "--content-layers")
            settings.objective.styleLayers = try parseLayers(styleLayers, flag: "--style-layers")
            settings.objective.pooling = pooling
            settings.objective.algorithm = convolution
            try settings.objective.validate()
            settings.iterations = iterations
            settings.optimizer = optimizer
            settings.learningRate = learningRate
            settings.lbfgsHistory = lbfgsHistory
            settings.start = start == .noise ? .noise : .content
            settings.seed = seed

            // Fail before minutes of work, not after them.
            try ImageIO.checkWritable(output)
            let contentImage = try ImageIO.read(content, maxPixels: maxPixels).resized(longSide: size)
            let styleImage = try ImageIO.read(style, maxPixels: maxPixels).resized(longSide: size)
            // The plain VGG19 weights are a temporary: once the network is compiled they would be 80 MB of nothing.
            let transfer = try StyleTransfer(vgg: loadVGG19(weights), content: contentImage.tensor,
                                             style: styleImage.tensor, settings: settings)
            let logFile = try log.map(JSONLinesLog.init)
            var bar = ProgressBar(total: iterations, quiet: quiet)
            catchInterrupts()
            var stoppedEarly = false
            let result = try transfer.run { progress in
                let t = progress.terms
                logFile?.write([("iteration", progress.iteration), ("content", t.content), ("style", t.style),
                                ("tv", t.tv), ("total", t.total), ("seconds", progress.seconds)])
                bar.update(progress.iteration, seconds: progress.seconds, detail: String(format: "loss %.4g", t.total))
                if saveEvery > 0 && progress.iteration > 0 && progress.iteration % saveEvery == 0 && progress.iteration < iterations {
                    try? ImageIO.write(Image(progress.image()), to: Self.intermediatePath(output, progress.iteration))
                }
                if interrupted.load(ordering: .relaxed) {
                    stoppedEarly = true
                    return false
                }
                return true
            }
            bar.finish()
            try ImageIO.write(Image(result), to: output)
            if stoppedEarly {
                stderr("stylize: interrupted; saved the current image to \(output)")
                throw ExitCode(130)
            }
            if quiet == false { stderr("wrote \(output)") }
        }
    }

    /// out.png, 100 -> out-100.png
    static func intermediatePath(_ output: String, _ iteration: Int) -> String {
        let url = URL(fileURLWithPath: output)
        let ext = url.pathExtension
        return url.deletingPathExtension().path + "-\(iteration)" + (ext.isEmpty ? "" : ".\(ext)")
    }
}

/// "relu3_1:0.5,relu4_1" -> layers with weights.
func parseLayers(_ list: String, flag: String) throws -> [WeightedLayer] {
    let layers = try list.split(separator: ",").map { item -> WeightedLayer in
        let parts = item.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard VGG19.reluLayers.contains(parts[0]) else {
            throw ValidationError("\(flag): unknown layer '\(parts[0])'; use \(VGG19.reluLayers.joined(separator: ","))")
        }
        guard parts.count <= 2, let weight = parts.count == 2 ? Float(parts[1]) : 1, weight >= 0, weight.isFinite else {
            throw ValidationError("\(flag): '\(item)' should be layer or layer:weight with a weight >= 0")
        }
        return WeightedLayer(parts[0], weight: weight)
    }
    guard !layers.isEmpty else { throw ValidationError("\(flag) names no layer") }
    return layers
}

/// The network from a given weights file, or the installed one (installing it on first use).
func loadVGG19(_ path: String?) throws -> VGG19 {
    let location: URL
    if let path {
        location = URL(fileURLWithPath: path)
    } else {
        location = try VGG19Weights.ensureInstalled { stderr($0) }
    }
    return try VGG19(parameters: try VGG19Weights.load(from: location))
}

extension TransferSettings.Optimizer: ExpressibleByArgument {}
extension PoolingKind: ExpressibleByArgument {}
extension ConvolutionAlgorithm: ExpressibleByArgument {}
