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

    private static let defaults = TransferSettings()

    @Option(help: "Long side of the output in pixels; the style images are resized to the same long side times --style-scale.")
    var size = defaults.size

    @Option(help: ArgumentHelp("Each style image's long side relative to the output's: below 1 for finer brush strokes, above for bigger ones.",
                               valueName: "factor"))
    var styleScale = defaults.styleScale

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
    var scales = defaults.scales

    @Option(help: ArgumentHelp("Comma-separated iterations per stage, coarsest first (default: --iterations split 4:2:1, each stage twice the next).",
                               valueName: "n1,n2,..."))
    var scaleIterations: String?

    @Flag(help: "Run even when the estimated peak memory is over what the machine has available.")
    var ignoreMemoryEstimate = false

    @Flag(help: "Print the estimated peak memory of this run and exit, without running it.")
    var estimateMemory = false

    @Option(help: "Optimisation steps (in all, over all --scales).")
    var iterations = defaults.iterations

    @Option(help: "lbfgs or adam.")
    var optimizer = defaults.optimizer

    @Option(help: "Adam's learning rate (default 10) or L-BFGS's step length (default 1).")
    var learningRate: Float?

    @Option(help: "How many past steps L-BFGS remembers (default \(TransferSettings.defaultLBFGSHistory), or fewer, down to \(MemoryEstimate.shortestHistory), when that would not fit in memory: each costs 2 copies of the image).")
    var lbfgsHistory: Int?

    @OptionGroup var objective: ObjectiveOptions

    @Option(name: .customLong("init"), help: ArgumentHelp("Start from the content photo, noise, the photo blurred (--init-blur), or an image file.",
                                                          valueName: "content|noise|blurred|file"))
    var start = "content"

    @Option(help: ArgumentHelp("The blur of --init blurred: a Gaussian's standard deviation in pixels of the output.", valueName: "sigma"))
    var initBlur = TransferSettings.Start.defaultBlur

    @Option(help: "Seed for the noise start.")
    var seed = defaults.seed

    @Option(help: "Convolution algorithm: direct, winograd (faster, about 1e-4 relative error), or auto: measure both once per layer shape on this machine, keep the faster, and remember it in the cache directory.")
    var convolution = ConvolutionAlgorithm.auto

    @Option(help: "Also write OUT-<iteration>.png every N iterations (0: never).")
    var saveEvery = 0

    @Option(help: "Write one JSON object per iteration to this file.")
    var log: String?

    @Option(help: "The VGG19 weights file (default: installed by `stylize weights`).")
    var weights: String?

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = defaults.maxPixels

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be >= 0") }
        guard !styles.isEmpty else { throw ValidationError("give at least one style image after the content photo") }
    }

    /// The options as the library's settings (`--init` as an image file is read in `run`).
    func settings() throws -> TransferSettings {
        var settings = TransferSettings()
        settings.objective = try objective.settings()
        settings.objective.algorithm = convolution
        settings.objective.precision = machine.precision
        settings.size = size
        settings.styleScale = styleScale
        settings.iterations = iterations
        settings.optimizer = optimizer
        settings.learningRate = learningRate
        settings.lbfgsHistory = lbfgsHistory
        settings.seed = seed
        settings.preserveColors = preserveColors
        settings.scales = scales
        settings.scaleIterations = try scaleIterations.map { try parseCounts($0, setting: "scaleIterations") }
        settings.maxPixels = maxPixels
        settings.start = TransferSettings.Start(keyword: start, blur: initBlur) ?? .content
        try settings.validate()
        return settings
    }

    func run() throws {
        try runReportingErrors(flags: ["maxPixels": "max-pixels"]) {
            machine.configure()
            var settings = try self.settings()
            let blend = try TransferSettings.blendWeights(styleBlend, count: styles.count)

            // Fail before minutes of work, not after them; and never write over an input.
            let maskPaths = styleMask.compactMap { item in item.firstIndex(of: "=").map { String(item[item.index(after: $0)...]) } }
            let startPath = TransferSettings.Start(keyword: start) == nil ? [start] : []
            try OutputPaths.checkDistinct(outputs: [("-o", output)] + (log.map { [("--log", $0)] } ?? []),
                                          inputs: [content] + styles + maskPaths + startPath)
            try ImageIO.checkWritable(output)
            let contentImage = try ImageIO.read(content, maxPixels: maxPixels)
            if TransferSettings.Start(keyword: start) == nil { settings.start = try startImage(start, content: contentImage) }
            let masks = try parseMasks(content: contentImage)
            let styleImages = try styles.enumerated().map { index, path in
                StyleImage(try ImageIO.read(path, maxPixels: maxPixels), weight: blend[index], mask: masks[index])
            }
            // --estimate-memory prints the estimate and stops here.
            guard let settings = try fitInMemory(settings, content: contentImage, styles: styleImages) else { return }
            let transfer = try CoarseToFine(vgg: try loadVGG19(weights), content: contentImage, styles: styleImages, settings: settings)
            var display = TransferDisplay(stages: transfer.stages, quiet: machine.quiet, log: try log.map(JSONLinesLog.init),
                                          saveEvery: saveEvery, output: output)
            let result = try transfer.run { stage, progress in
                display.show(stage: stage, progress)
                return !interrupted.load(ordering: .relaxed)
            }
            let stoppedEarly = interrupted.load(ordering: .relaxed)
            display.bar.finish()
            try ImageIO.write(Image(result), to: output)
            if stoppedEarly { throw Interrupted(message: "saved the current image to \(output)") }
            if !machine.quiet { stderr("wrote \(output)") }
        }
    }

    /// The settings to run with, the L-BFGS history shortened if need be to fit in memory (`MemoryEstimate.fit`), or
    /// nil after printing the estimate for --estimate-memory.
    func fitInMemory(_ settings: TransferSettings, content: Image, styles: [StyleImage]) throws -> TransferSettings? {
        try settings.checkImageSizes(content: (content.width, content.height), styles: styles.map { ($0.image.width, $0.image.height) })
        let available = ignoreMemoryEstimate ? nil : MemoryEstimate.availableBytes()
        let plan: (settings: TransferSettings, peakBytes: Int)
        do {
            plan = try MemoryEstimate.fit(settings, content: (content.width, content.height), styles: styles.map { ($0.image.width, $0.image.height) },
                                          maskedStyles: styles.filter { $0.mask != nil }.count, availableBytes: available)
        } catch let tooLarge as MemoryEstimate.TooLarge {
            if estimateMemory { print("estimated peak memory: \(tooLarge.neededBytes) bytes (\(formatBytes(tooLarge.neededBytes))); available: \(formatBytes(tooLarge.availableBytes))") }
            throw ValidationError(Self.message(tooLarge))
        }
        if estimateMemory {
            print("estimated peak memory: \(plan.peakBytes) bytes (\(formatBytes(plan.peakBytes))) with an L-BFGS history of \(plan.settings.effectiveLBFGSHistory); available: \(MemoryEstimate.availableBytes().map(formatBytes) ?? "unknown")")
            return nil
        }
        if plan.settings.lbfgsHistory != settings.effectiveLBFGSHistory && !machine.quiet {
            stderr("stylize: note: L-BFGS remembers \(plan.settings.effectiveLBFGSHistory) steps instead of \(settings.effectiveLBFGSHistory), so that the run fits in memory (about \(formatBytes(plan.peakBytes)) of \(available.map(formatBytes) ?? "?"))")
        }
        return plan.settings
    }

    /// The library's refusal in this command's flags.
    static func message(_ error: MemoryEstimate.TooLarge) -> String {
        let shorter = error.fittingSizeWithShortestHistory.map {
            $0 == error.size ? " or --lbfgs-history \(MemoryEstimate.shortestHistory)" : " or --size \($0) --lbfgs-history \(MemoryEstimate.shortestHistory)"
        } ?? ""
        let suggestion = error.fittingSize.map { "try --size \($0)\(shorter)" } ?? "it does not fit at any size"
        return "a \(error.size) px output needs about \(formatBytes(error.neededBytes)) of memory at its peak, and \(formatBytes(error.availableBytes)) is available: \(suggestion) (or --ignore-memory-estimate)"
    }

    /// --init as the path of an image (resized to the output, with a warning when its proportions differ from the
    /// photo's).
    func startImage(_ path: String, content: Image) throws -> TransferSettings.Start {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("--init '\(path)' is neither content, noise, blurred nor an existing image file")
        }
        let image: Image
        do { image = try ImageIO.read(path, maxPixels: maxPixels) } catch { throw ValidationError("--init: \(error)") }
        if abs(Double(image.width) / Double(image.height) - Double(content.width) / Double(content.height)) > 0.01 {
            stderr("stylize: warning: the --init image is \(image.width)x\(image.height), the photo \(content.width)x\(content.height): it is stretched to fit")
        }
        return .image(image.tensor)
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

}

/// What `transfer` shows and keeps as it runs: the progress bar over all stages, one log line per iteration, and
/// every --save-every iterations the image so far.
struct TransferDisplay {
    let stages: [CoarseToFine.Stage]
    var bar: ProgressBar
    let log: JSONLinesLog?
    let saveEvery: Int
    let output: String
    private let total: Int
    private var done = 0, stageStartSeconds = 0.0, lastSeconds = 0.0

    init(stages: [CoarseToFine.Stage], quiet: Bool, log: JSONLinesLog?, saveEvery: Int, output: String) {
        self.stages = stages
        total = stages.reduce(0) { $0 + $1.iterations }
        bar = ProgressBar(total: total, quiet: quiet)
        self.log = log
        self.saveEvery = saveEvery
        self.output = output
    }

    mutating func show(stage: Int, _ progress: TransferProgress) {
        let t = progress.terms
        if progress.iteration == 0 { stageStartSeconds += lastSeconds }
        lastSeconds = progress.seconds
        let seconds = stageStartSeconds + progress.seconds
        var fields: [(String, Any)] = [("iteration", progress.iteration), ("content", t.content), ("style", t.style),
                                       ("tv", t.tv), ("total", t.total), ("seconds", seconds)]
        if stages.count > 1 { fields.insert(("stage", stage + 1), at: 0) }
        if progress.iteration == 0 { fields.append(("precision", progress.precision.rawValue)) }
        log?.write(fields)
        if progress.iteration > 0 { done += 1 }
        let detail = String(format: "loss %.4g", t.total) + (stages.count > 1 ? " (stage \(stage + 1)/\(stages.count))" : "")
        bar.update(done, seconds: seconds, detail: detail)
        if saveEvery > 0 && progress.iteration > 0 && done % saveEvery == 0 && done < total {
            try? ImageIO.write(Image(progress.image()), to: Self.intermediatePath(output, done))
        }
    }

    /// out.png, 100 -> out-100.png
    static func intermediatePath(_ output: String, _ iteration: Int) -> String {
        let url = URL(fileURLWithPath: output)
        let ext = url.pathExtension
        return url.deletingPathExtension().path + "-\(iteration)" + (ext.isEmpty ? "" : ".\(ext)")
    }
}

/// "300,150,50" -> [300, 150, 50]
func parseCounts(_ list: String, setting: String) throws -> [Int] {
    let counts = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard let values = counts as? [Int] else { throw InvalidInput(setting, "'\(list)' should be whole numbers") }
    return values
}

/// The network from a given weights file, or the installed one (installing it on first use).
func loadVGG19(_ path: String?) throws -> VGG19 {
    let location: URL
    if let path {
        location = URL(fileURLWithPath: path)
    } else {
        location = try VGG19Weights.ensureInstalled(log: { stderr($0) }, isCancelled: { interrupted.load(ordering: .relaxed) })
    }
    return try VGG19(parameters: try VGG19Weights.load(from: location))
}

extension TransferSettings.Optimizer: ExpressibleByArgument {}
extension PoolingKind: ExpressibleByArgument {}
extension ConvolutionAlgorithm: ExpressibleByArgument {}
extension ColorPreservation: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
