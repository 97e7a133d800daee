import ArgumentParser
import Foundation
import Stylize

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Paint a photo in the style of an image (Gatys et al. 2015), by optimisation.",
        discussion: """
            Minimises content_weight * content + style_weight * style + tv_weight * tv over the output's pixels, with VGG19 features (jcjohnson/neural-style's conventions). L-BFGS does one forward and one backward pass per iteration and keeps --lbfgs-history past steps; Adam's step is --learning-rate (default 10, in 0-255 pixel units). Ctrl-C stops early and saves the current image.

            Several style images are blended (--style-blend); --style-mask confines a style to a region; --preserve-colors keeps the photo's colours; --scales N paints coarse to fine for large images. The peak memory is estimated first, and a run that would not fit in the machine's memory is refused.
            """
    )

    @Argument(help: "The content photo (PNG or JPEG).")
    var content: String

    @Argument(help: "One or more style images (PNG or JPEG).")
    var styles: [String]

    @Option(name: .shortAndLong, help: "The output image (.png, .jpg).")
    var output: String

    @Option(help: "Long side of the output in pixels; the style images are resized to the same long side times --style-scale.")
    var size = 512

    @Option(help: ArgumentHelp("Each style image's long side relative to the output's: below 1 for finer brush strokes, above for bigger ones.",
                               valueName: "factor"))
    var styleScale: Float = 1

    @Option(help: ArgumentHelp("Comma-separated relative weights of the style images, one each (normalised to sum 1; equal by default).",
                               valueName: "w1,w2,..."))
    var styleBlend: String?

    @Option(help: ArgumentHelp("STYLE=MASK.png: apply STYLE (its path as given, or its number from 1) only where the grey MASK is white; repeat for each style. The mask is resized to the output.",
                               valueName: "style=mask"))
    var styleMask: [String] = []

    @Option(help: ArgumentHelp("Keep the photo's colours: luminance (transfer brightness only, put the photo's colours back) or match (recolour the styles to the photo's colours first).",
                               valueName: "luminance|match"))
    var preserveColors: ColorPreservation?

    @Option(help: "Paint in this many stages, coarse to fine, each half the size of the next and starting from the previous result (for large images).")
    var scales = 1

    @Option(help: ArgumentHelp("Comma-separated iterations per stage, coarsest first (default: --iterations split 4:2:1, each stage twice the next).",
                               valueName: "n1,n2,..."))
    var scaleIterations: String?

    @Flag(help: "Run even when the estimated peak memory is over what the machine has available.")
    var ignoreMemoryEstimate = false

    @Flag(help: "Print the estimated peak memory of this run and exit, without running it.")
    var estimateMemory = false

    @Option(help: "Optimisation steps (in all, over all --scales).")
    var iterations = 500

    @Option(help: "lbfgs or adam.")
    var optimizer = TransferSettings.Optimizer.lbfgs

    @Option(help: "Adam's learning rate (default 10) or L-BFGS's step length (default 1).")
    var learningRate: Float?

    @Option(help: "How many past steps L-BFGS remembers (default 100, or fewer, down to 5, when 100 would not fit in memory: each costs 2 copies of the image).")
    var lbfgsHistory: Int?

    @Option(help: "Weight of the content term.")
    var contentWeight: Float = 5

    @Option(help: "Weight of the style term.")
    var styleWeight: Float = 100

    @Option(help: "Weight of the total-variation (smoothness) term.")
    var tvWeight: Float = 1e-3

    @Option(name: .customLong("init"), help: ArgumentHelp("Start from the content photo, noise, the photo blurred (--init-blur), or an image file.",
                                                          valueName: "content|noise|blurred|file"))
    var start = "content"

    @Option(help: ArgumentHelp("The blur of --init blurred: a Gaussian's standard deviation in pixels of the output.", valueName: "sigma"))
    var initBlur: Float = 4

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

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = 50_000_000

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        guard size > 0 else { throw ValidationError("--size must be positive") }
        guard size * size <= maxPixels * 4 else { throw ValidationError("--size \(size) is beyond --max-pixels") }
        guard iterations >= 0 else { throw ValidationError("--iterations must be >= 0") }
        if let lbfgsHistory, lbfgsHistory <= 0 { throw ValidationError("--lbfgs-history must be positive") }
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be >= 0") }
        guard !styles.isEmpty else { throw ValidationError("give at least one style image after the content photo") }
        guard styleScale > 0 && styleScale.isFinite else { throw ValidationError("--style-scale must be a positive number") }
        guard initBlur >= 0 && initBlur.isFinite else { throw ValidationError("--init-blur must be >= 0") }
        guard scales >= 1 else { throw ValidationError("--scales must be at least 1") }
        if let learningRate, !(learningRate > 0) { throw ValidationError("--learning-rate must be positive") }
        for (name, value) in [("content", contentWeight), ("style", styleWeight), ("tv", tvWeight)] where !(value >= 0) {
            throw ValidationError("--\(name)-weight must be >= 0")
        }
    }

    func run() throws {
        try runReportingErrors {
            machine.configure()
            var settings = TransferSettings()
            settings.objective.contentWeight = contentWeight
            settings.objective.styleWeight = styleWeight
            settings.objective.tvWeight = tvWeight
            settings.objective.contentLayers = try parseLayers(contentLayers, flag: "--content-layers")
            settings.objective.styleLayers = try parseLayers(styleLayers, flag: "--style-layers")
            settings.objective.pooling = pooling
            settings.objective.algorithm = convolution
            settings.objective.precision = machine.precision
            try settings.objective.validate()
            settings.iterations = iterations
            settings.optimizer = optimizer
            settings.learningRate = learningRate
            settings.lbfgsHistory = lbfgsHistory ?? 100
            settings.seed = seed
            settings.preserveColors = preserveColors
            let blend = try parseBlend(styleBlend, count: styles.count)
            let stages = try CoarseToFine.plan(size: size, scales: scales, iterations: iterations,
                                               stageIterations: try scaleIterations.map { try parseCounts($0, flag: "--scale-iterations") })

            // Fail before minutes of work, not after them.
            try ImageIO.checkWritable(output)
            let contentImage = try ImageIO.read(content, maxPixels: maxPixels)
            settings.start = try parseStart(start, content: contentImage)
            let masks = try parseMasks(content: contentImage)
            let sources = try styles.enumerated().map { index, path in
                StyleSource(try ImageIO.read(path, maxPixels: maxPixels), weight: blend[index], mask: masks[index])
            }
            if estimateMemory {
                // As the run would go: with the history lowered to fit, if it would be.
                settings.lbfgsHistory = (try? checkMemory(content: contentImage, styles: sources, stages: stages, settings: settings))
                    ?? settings.lbfgsHistory
                let needed = MemoryEstimate.peakBytes(content: (contentImage.width, contentImage.height),
                                                      styles: sources.map { ($0.image.width, $0.image.height) },
                                                      maskedStyles: sources.filter { $0.mask != nil }.count, styleScale: styleScale,
                                                      stages: stages, settings: settings)
                print("estimated peak memory: \(needed) bytes (\(formatBytes(needed))) with an L-BFGS history of \(settings.lbfgsHistory); available: \(MemoryEstimate.availableBytes().map(formatBytes) ?? "unknown")")
                return
            }
            settings.lbfgsHistory = try checkMemory(content: contentImage, styles: sources, stages: stages, settings: settings)
            let vgg = try loadVGG19(weights)
            let transfer = try CoarseToFine(vgg: vgg, content: contentImage, styles: sources, styleScale: styleScale,
                                            stages: stages, settings: settings)
            let logFile = try log.map(JSONLinesLog.init)
            let total = stages.reduce(0) { $0 + $1.iterations }
            var bar = ProgressBar(total: total, quiet: machine.quiet)
            catchInterrupts()
            var stoppedEarly = false
            var done = 0, stageStartSeconds = 0.0, lastSeconds = 0.0
            let result = try transfer.run { stage, progress in
                let t = progress.terms
                if progress.iteration == 0 { stageStartSeconds += lastSeconds }
                lastSeconds = progress.seconds
                let seconds = stageStartSeconds + progress.seconds
                var fields: [(String, Any)] = [("iteration", progress.iteration), ("content", t.content), ("style", t.style),
                                               ("tv", t.tv), ("total", t.total), ("seconds", seconds)]
                if stages.count > 1 { fields.insert(("stage", stage + 1), at: 0) }
                if progress.iteration == 0 { fields.append(("precision", progress.precision.rawValue)) }
                logFile?.write(fields)
                if progress.iteration > 0 { done += 1 }
                let detail = String(format: "loss %.4g", t.total) + (stages.count > 1 ? " (stage \(stage + 1)/\(stages.count))" : "")
                bar.update(done, seconds: seconds, detail: detail)
                if saveEvery > 0 && progress.iteration > 0 && done % saveEvery == 0 && done < total {
                    try? ImageIO.write(Image(progress.image()), to: Self.intermediatePath(output, done))
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
            if !machine.quiet { stderr("wrote \(output)") }
        }
    }

    /// --init: a keyword, or else the path of an image (resized to the output, with a warning when its
    /// proportions differ from the photo's).
    func parseStart(_ value: String, content: Image) throws -> TransferSettings.Start {
        switch value {
        case "content": return .content
        case "noise": return .noise
        case "blurred": return .blurred(sigma: initBlur)
        default:
            guard FileManager.default.fileExists(atPath: value) else {
                throw ValidationError("--init '\(value)' is neither content, noise, blurred nor an existing image file")
            }
            let image: Image
            do { image = try ImageIO.read(value, maxPixels: maxPixels) } catch { throw ValidationError("--init: \(error)") }
            if abs(Double(image.width) / Double(image.height) - Double(content.width) / Double(content.height)) > 0.01 {
                stderr("stylize: warning: the --init image is \(image.width)x\(image.height), the photo \(content.width)x\(content.height): it is stretched to fit")
            }
            return .image(image.tensor)
        }
    }

    /// --style-mask STYLE=MASK, for each style its mask or nil.
    func parseMasks(content: Image) throws -> [StyleMask?] {
        var masks = [StyleMask?](repeating: nil, count: styles.count)
        for item in styleMask {
            guard let equals = item.firstIndex(of: "=") else {
                throw ValidationError("--style-mask '\(item)' should be STYLE=MASK.png")
            }
            let (key, path) = (String(item[..<equals]), String(item[item.index(after: equals)...]))
            let named = styles.firstIndex(of: key) ?? styles.firstIndex { URL(fileURLWithPath: $0).lastPathComponent == key }
            guard let index = named ?? Int(key).flatMap({ (1...styles.count).contains($0) ? $0 - 1 : nil }) else {
                throw ValidationError("--style-mask: '\(key)' is not one of the style images (\(styles.joined(separator: ", "))), their file names, nor a number from 1 to \(styles.count)")
            }
            guard masks[index] == nil else { throw ValidationError("--style-mask: two masks for \(styles[index])") }
            let mask: StyleMask
            do { mask = StyleMask(try ImageIO.read(path, maxPixels: maxPixels)) } catch { throw ValidationError("--style-mask: \(error)") }
            guard !mask.isEmpty else {
                throw ValidationError("--style-mask: '\(path)' is all black, so \(styles[index]) would apply nowhere")
            }
            if mask.width != content.width || mask.height != content.height {
                stderr("stylize: warning: the mask '\(path)' is \(mask.width)x\(mask.height), the photo \(content.width)x\(content.height): it is resized to fit")
            }
            masks[index] = mask
        }
        return masks
    }

    /// Refuses, with a size that would fit, a run whose estimated peak memory is over what the machine has; but
    /// first, unless --lbfgs-history was given, tries a shorter L-BFGS history. Returns the history to use.
    func checkMemory(content: Image, styles: [StyleSource], stages: [CoarseToFine.Stage], settings: TransferSettings) throws -> Int {
        guard !ignoreMemoryEstimate, let available = MemoryEstimate.availableBytes() else { return settings.lbfgsHistory }
        let sizes = styles.map { (width: $0.image.width, height: $0.image.height) }
        func estimate(_ stages: [CoarseToFine.Stage], _ settings: TransferSettings) -> Int {
            MemoryEstimate.peakBytes(content: (content.width, content.height), styles: sizes,
                                     maskedStyles: styles.filter { $0.mask != nil }.count, styleScale: styleScale,
                                     stages: stages, settings: settings)
        }
        let needed = estimate(stages, settings)
        guard needed > available else { return settings.lbfgsHistory }
        if lbfgsHistory == nil && settings.optimizer == .lbfgs {
            var shorter = settings
            for history in stride(from: settings.lbfgsHistory - 5, through: 5, by: -5) {
                shorter.lbfgsHistory = history
                let fewer = estimate(stages, shorter)
                if fewer <= available {
                    if !machine.quiet { stderr("stylize: note: L-BFGS remembers \(history) steps instead of \(settings.lbfgsHistory), so that the run fits in memory (about \(formatBytes(fewer)) of \(formatBytes(available)))") }
                    return history
                }
            }
        }
        func fittingSize(_ settings: TransferSettings) -> Int? {
            MemoryEstimate.largestFittingLongSide(upTo: size, bytes: available) { side in
                estimate(stages.map { CoarseToFine.Stage(longSide: max(1, $0.longSide * side / size), iterations: $0.iterations) }, settings)
            }
        }
        var shortHistory = settings
        shortHistory.lbfgsHistory = 5
        let withShortHistory = settings.optimizer == .lbfgs && settings.lbfgsHistory > 5
            ? fittingSize(shortHistory).map { $0 == size ? " or --lbfgs-history 5" : " or --size \($0) --lbfgs-history 5" } ?? ""
            : ""
        let suggestion = fittingSize(settings).map { "try --size \($0)\(withShortHistory)" } ?? "it does not fit at any size"
        throw ValidationError("a \(size) px output needs about \(formatBytes(needed)) of memory at its peak, and \(formatBytes(available)) is available: \(suggestion) (or --ignore-memory-estimate)")
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

/// --style-blend "3,1": one non-negative weight per style, not all zero; equal weights without the flag.
func parseBlend(_ list: String?, count: Int) throws -> [Float] {
    guard let list else { return [Float](repeating: 1, count: count) }
    let weights = list.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard weights.count == count else {
        throw ValidationError("--style-blend has \(weights.count) weight\(weights.count == 1 ? "" : "s") for \(count) style image\(count == 1 ? "" : "s")")
    }
    guard let values = weights as? [Float], values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw ValidationError("--style-blend '\(list)': weights must be non-negative numbers")
    }
    guard values.contains(where: { $0 > 0 }) else { throw ValidationError("--style-blend '\(list)': at least one weight must be positive") }
    return values
}

/// "300,150,50" -> [300, 150, 50]
func parseCounts(_ list: String, flag: String) throws -> [Int] {
    let counts = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard let values = counts as? [Int], values.allSatisfy({ $0 >= 0 }) else {
        throw ValidationError("\(flag) '\(list)': counts must be whole numbers >= 0")
    }
    return values
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
extension ColorPreservation: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
