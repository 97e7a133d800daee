import Foundation

/// How much memory a transfer will need at its peak, estimated before starting so that a run that cannot fit
/// is refused at once rather than killed by the kernel an hour in.
///
/// The estimate counts what the code allocates, in floats, from the image size and the layers used:
/// - `VGG19Features` keeps one buffer for each layer's input, output and scratchpad in turn: at its largest,
///   relu1_1 and relu1_2 side by side (128 floats per pixel) or, with Winograd, relu2_1 and relu2_2 at half
///   size with their transformed tiles (3.25 times the two: 208 floats per pixel); plus a bit per ReLU output and
///   max pooling's workspace for the backward pass, and the image;
/// - the loss layers' outputs kept for the backward pass in oneDNN's layout, except relu1_1, which is made again
///   (66 floats per pixel for the default layers); the losses read them a small band at a time;
/// - the optimiser: L-BFGS keeps 2 vectors of 3·H·W per remembered step (at most `iterations` of them) and
///   about 12 more of the image's size with the objective's own (x, gradients, the content, the start); Adam 2;
/// - the style images' own forward pass through VGG19, which runs first and is freed before the main one;
/// - a fixed part: the weights as loaded and in oneDNN's layouts, oneDNN's kernels and the process.
///
/// About 1.4 KB per output pixel in all, with the default layers. Checked against the peak RSS that GNU time
/// reports (`/usr/bin/time -v`, "Maximum resident set size") of `stylize transfer examples/cincinnati-bridge.jpg
/// examples/starry-night.jpg --iterations 2` (Winograd where measured faster): 458 MiB at 512 px, 1168 MiB at
/// 1024 px (1024x768; 1203 MiB when the convolutions were measured in that run), 4244 MiB at 2048 px
/// (2048x1536), against 554 MiB, 1318 MiB and 4370 MiB estimated.
public enum MemoryEstimate {
    static let calibration = 1.0
    static let fixedBytes = 300 << 20

    /// Floats at the peak for VGG19 at height x width down to `deepest`, with the `used` layers kept for the
    /// backward pass when `training`, and `masked` styles' masks at each layer's size.
    static func networkFloats(height: Int, width: Int, deepest: String, used: Set<String>, masked: Int,
                              training: Bool, winograd: Bool = true) -> Double {
        guard let depth = VGG19.reluLayers.firstIndex(of: deepest) else { return 0 }
        // The image and its gradient, in a 16-channel blocked layout at worst.
        var stages = [(input: 16 * height * width * 4, scratchpad: 0, output: 16 * height * width * 4)]
        var reluOutputs = 0.0, poolOutputs = 0.0, kept = 0.0, maskFloats = 0.0
        var (input, inputChannels) = (16 * height * width, 3)
        for (layer, h, w) in VGG19.plan(height: height, width: width, depth: depth) {
            let output = layer.outputChannels * h * w
            // oneDNN's Winograd keeps whole-layer transformed tiles for layers of 128 input channels or more.
            let scratchpad = winograd && inputChannels >= 128 ? Int(2.25 * Double(input + output)) : 0
            stages.append((4 * input, 4 * scratchpad, 4 * output))
            reluOutputs += Double(output)
            if used.contains(layer.relu) {
                if training && layer.relu != "relu1_1" { kept += Double(output) }
                maskFloats += Double(masked * h * w)
            }
            (input, inputChannels) = (output, layer.outputChannels)
            if layer.endsBlock && layer.relu != deepest {
                input = layer.outputChannels * (h / 2) * (w / 2)
                poolOutputs += Double(input)
            }
        }
        let arena = Double(Arena.byteCount(stages)) / 4
        return arena + reluOutputs / 32 + poolOutputs / 4 + Double(3 * height * width) + kept + maskFloats
    }

    /// Peak bytes for a stage whose output is `height` x `width`, with style images of the given sizes.
    public static func peakBytes(height: Int, width: Int, styleSizes: [(height: Int, width: Int)], maskedStyles: Int = 0,
                                 settings: TransferSettings) -> Int {
        let objective = settings.objective
        let used = Set((objective.contentLayers + objective.styleLayers).map(\.name))
        let styleDeepest = VGG19.deepest(of: objective.styleLayers.map(\.name))
        let winograd = objective.algorithm != .direct
        let styleFloats = styleSizes.map {
            networkFloats(height: $0.height, width: $0.width, deepest: styleDeepest,
                          used: Set(objective.styleLayers.map(\.name)), masked: 0, training: false, winograd: winograd)
        }.max() ?? 0
        let image = Double(3 * height * width)
        let remembered = settings.optimizer == .lbfgs ? 2 * Double(min(settings.effectiveLBFGSHistory, settings.iterations)) : 2
        let mainFloats = networkFloats(height: height, width: width, deepest: objective.deepestLayer, used: used,
                                       masked: maskedStyles, training: true, winograd: winograd)
            + image * (remembered + 12)
        // The content and style images stay in memory, at their sizes, through the whole run.
        let floats = max(styleFloats, mainFloats) + image + Double(styleSizes.reduce(0) { $0 + 3 * $1.height * $1.width })
        return Int(floats * 4 * calibration) + fixedBytes
    }

    /// The peak over the stages of a coarse-to-fine run (the last, largest one, in practice), for a content photo
    /// and style images of these sizes, `maskedStyles` of them with a mask.
    public static func peakBytes(content: (width: Int, height: Int), styles: [(width: Int, height: Int)], maskedStyles: Int = 0,
                                 settings: TransferSettings) throws -> Int {
        try settings.stages().map { stage -> Int in
            let (w, h) = fitted(content, longSide: stage.longSide)
            let styleSide = max(1, Int((Float(stage.longSide) * settings.styleScale).rounded()))
            var stageSettings = settings
            stageSettings.iterations = stage.iterations
            return peakBytes(height: h, width: w, styleSizes: styles.map { let s = fitted($0, longSide: styleSide); return (s.height, s.width) },
                             maskedStyles: maskedStyles, settings: stageSettings)
        }.max() ?? 0
    }

    /// A run that would not fit in memory, even with the shortest L-BFGS history where that was for the library to
    /// choose; with the sizes that would fit (nil: none).
    public struct TooLarge: Error, CustomStringConvertible {
        public let size: Int
        public let neededBytes: Int
        public let availableBytes: Int
        /// The largest size that fits as the run is set up, and the largest with an L-BFGS history of `shortestHistory`
        /// (only where the history was the library's to choose).
        public let fittingSize: Int?
        public let fittingSizeWithShortestHistory: Int?

        public var description: String {
            let shorter = fittingSizeWithShortestHistory.map { " or size \($0) with lbfgs history \(MemoryEstimate.shortestHistory)" } ?? ""
            let suggestion = fittingSize.map { "try size \($0)\(shorter)" } ?? "it does not fit at any size"
            return "a \(size) px output needs about \(formatBytes(neededBytes)) of memory at its peak, and \(formatBytes(availableBytes)) is available: \(suggestion)"
        }
    }

    /// The shortest L-BFGS history `fit` will choose.
    public static let shortestHistory = 5

    /// The memory policy of a transfer: when the estimated peak is over `availableBytes`, an L-BFGS history left to the
    /// library (`lbfgsHistory` nil) is shortened, 5 steps at a time down to `shortestHistory`, until the run fits;
    /// a run that still does not fit is refused with `TooLarge`, which says what size would. Returns the settings to
    /// run (the history made explicit) and their estimate; `availableBytes` nil (unknown) accepts every run.
    public static func fit(_ settings: TransferSettings, content: (width: Int, height: Int), styles: [(width: Int, height: Int)],
                           maskedStyles: Int = 0, availableBytes: Int? = MemoryEstimate.availableBytes()) throws
        -> (settings: TransferSettings, peakBytes: Int) {
        func estimate(_ settings: TransferSettings) throws -> Int {
            try peakBytes(content: content, styles: styles, maskedStyles: maskedStyles, settings: settings)
        }
        var fitted = settings
        fitted.lbfgsHistory = settings.effectiveLBFGSHistory
        let needed = try estimate(fitted)
        guard let available = availableBytes, needed > available else { return (fitted, needed) }
        let historyIsOurs = settings.lbfgsHistory == nil && settings.optimizer == .lbfgs
        if historyIsOurs {
            for history in stride(from: TransferSettings.defaultLBFGSHistory - 5, through: shortestHistory, by: -5) {
                fitted.lbfgsHistory = history
                let fewer = try estimate(fitted)
                if fewer <= available { return (fitted, fewer) }
            }
        }
        func fittingSize(history: Int?) -> Int? {
            var smaller = settings
            smaller.lbfgsHistory = history ?? settings.effectiveLBFGSHistory
            return largestFittingLongSide(upTo: settings.size, bytes: available) { side in
                smaller.size = side
                return try? estimate(smaller)
            }
        }
        let shortest = historyIsOurs ? fittingSize(history: shortestHistory) : nil
        throw TooLarge(size: settings.size, neededBytes: needed, availableBytes: available,
                       fittingSize: fittingSize(history: nil), fittingSizeWithShortestHistory: shortest)
    }

    /// (width, height) resized to a long side, as `Image.resized(longSide:)` does.
    public static func fitted(_ size: (width: Int, height: Int), longSide: Int) -> (width: Int, height: Int) {
        let scale = Double(longSide) / Double(max(size.width, size.height))
        func scaled(_ side: Int) -> Int { max(1, Int((Double(side) * scale).rounded())) }
        return size.width >= size.height ? (longSide, scaled(size.height)) : (scaled(size.width), longSide)
    }

    /// The memory the kernel says it can give without swapping (MemAvailable), or nil where it does not say.
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kibibytes = Int(fields[1]) { return kibibytes * 1024 }
        }
        return nil
    }

    /// The largest output long side (`size` itself or a multiple of 16 below it) whose estimate fits in `bytes`;
    /// `estimate` gives nil for sides too small to run at all.
    static func largestFittingLongSide(upTo size: Int, bytes: Int, estimate: (Int) -> Int?) -> Int? {
        if let needed = estimate(size), needed <= bytes { return size }
        var best: Int? = nil
        for side in stride(from: 16, to: size, by: 16) {
            guard let needed = estimate(side) else { continue }
            if needed <= bytes { best = side } else { break }
        }
        return best
    }
}

/// "1.5 GiB"
public func formatBytes(_ bytes: Int) -> String {
    let gib = Double(bytes) / Double(1 << 30)
    return gib >= 1 ? String(format: "%.1f GiB", gib) : String(format: "%.0f MiB", Double(bytes) / Double(1 << 20))
}
