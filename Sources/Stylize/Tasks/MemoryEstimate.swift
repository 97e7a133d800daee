import Foundation

/// How much memory a transfer will need at its peak, estimated before starting so that a run that cannot fit
/// is refused at once rather than killed by the kernel an hour in.
///
/// The estimate counts what the code allocates, in floats, from the image size and the layers used:
/// - `VGG19Features` keeps every stage's output and a gradient of the same size down to the deepest layer
///   used (2 x 320 floats per pixel down to relu5_1, 2/3 of them in block 1), plus max pooling's workspace;
/// - the objective's copies of each layer it reads (C·h·w each): the network's plain copy, the tensor handed
///   out, the loss's gradient and the network's conversion of it back, about 4 in all;
/// - the optimiser: L-BFGS keeps 2 vectors of 3·H·W per remembered step (at most `iterations` of them) and
///   about 10 more of the image's size; Adam 2;
/// - the style images' own pass through VGG19, which runs first and is freed before the main one;
/// - a fixed part: the weights, once as loaded and again in oneDNN's layouts, and the process.
///
/// Calibrated against the peak RSS that GNU time reports (`/usr/bin/time -v`, "Maximum resident set size") of
/// `stylize transfer examples/cincinnati-bridge.jpg examples/starry-night.jpg --iterations 2`, direct
/// convolutions: 525 MiB at 256 px (256x187), 1248 MiB at 512 px, 4234 MiB at 1024 px (1024x750), that is
/// about 5.4 KB per pixel and 270 MiB besides. The counts above give 4.9 KB per pixel; `calibration` covers
/// the rest (oneDNN's scratchpads, the allocator's slack) and the estimate is within 4% of all three.
public enum MemoryEstimate {
    static let calibration = 1.1
    static let fixedBytes = 300 << 20

    /// Floats per output position for the network's outputs and gradients (and pooling workspaces) down
    /// to `deepest`, and for the objective's copies of the `used` layers.
    static func networkFloats(height: Int, width: Int, deepest: String, used: Set<String>, training: Bool) -> Double {
        guard let depth = VGG19.reluLayers.firstIndex(of: deepest) else { return 0 }
        var (h, w) = (height, width)
        var floats = 0.0
        var built = 0
        blocks: for (block, spec) in VGG19.blocks.enumerated() {
            for index in 1...spec.convolutions {
                let size = Double(spec.channels * h * w)
                floats += 2 * size
                if used.contains("relu\(block + 1)_\(index)") { floats += (training ? 4 : 2) * size }
                built += 1
                if built > depth { break blocks }
            }
            (h, w) = (h / 2, w / 2)
            floats += 3 * Double(spec.channels * h * w)  // output, gradient, workspace
        }
        return floats
    }

    /// Peak bytes for a stage whose output is `height` x `width`, with style images of the given sizes.
    public static func peakBytes(height: Int, width: Int, styleSizes: [(height: Int, width: Int)],
                                 settings: TransferSettings) -> Int {
        let objective = settings.objective
        let used = Set((objective.contentLayers + objective.styleLayers).map(\.name))
        let styleDeepest = VGG19.reluLayers.last { objective.styleLayers.map(\.name).contains($0) } ?? "relu1_1"
        let styleFloats = styleSizes.map {
            networkFloats(height: $0.height, width: $0.width, deepest: styleDeepest,
                          used: Set(objective.styleLayers.map(\.name)), training: false)
        }.max() ?? 0
        let image = Double(3 * height * width)
        let remembered = settings.optimizer == .lbfgs ? 2 * Double(min(settings.lbfgsHistory, settings.iterations)) : 2
        let mainFloats = networkFloats(height: height, width: width, deepest: objective.deepestLayer, used: used, training: true)
            + image * (remembered + 10)
        // The content and style images stay in memory, at their sizes, through the whole run.
        let floats = max(styleFloats, mainFloats) + image + Double(styleSizes.reduce(0) { $0 + 3 * $1.height * $1.width })
        return Int(floats * 4 * calibration) + fixedBytes
    }

    /// The peak over the stages of a coarse-to-fine run (the last, largest one, in practice).
    public static func peakBytes(content: (width: Int, height: Int), styles: [(width: Int, height: Int)], styleScale: Float,
                                 stages: [CoarseToFine.Stage], settings: TransferSettings) -> Int {
        stages.map { stage -> Int in
            let (w, h) = fitted(content, longSide: stage.longSide)
            let styleSide = max(1, Int((Float(stage.longSide) * styleScale).rounded()))
            var stageSettings = settings
            stageSettings.iterations = stage.iterations
            return peakBytes(height: h, width: w, styleSizes: styles.map { let s = fitted($0, longSide: styleSide); return (s.height, s.width) },
                             settings: stageSettings)
        }.max() ?? 0
    }

    /// (width, height) resized to a long side, as `Image.resized(longSide:)` does.
    static func fitted(_ size: (width: Int, height: Int), longSide: Int) -> (width: Int, height: Int) {
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

    /// The largest output long side (`size` itself or a multiple of 16 below it) whose estimate fits in `bytes`.
    public static func largestFittingLongSide(upTo size: Int, bytes: Int, estimate: (Int) -> Int) -> Int? {
        if estimate(size) <= bytes { return size }
        var best: Int? = nil
        var side = 16
        while side < size {
            if estimate(side) <= bytes { best = side } else { break }
            side += 16
        }
        return best
    }
}

/// "1.5 GiB"
public func formatBytes(_ bytes: Int) -> String {
    let gib = Double(bytes) / Double(1 << 30)
    return gib >= 1 ? String(format: "%.1f GiB", gib) : String(format: "%.0f MiB", Double(bytes) / Double(1 << 20))
}
