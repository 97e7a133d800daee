import ArgumentParser
import Foundation
import Stylize
#if canImport(Glibc)
import Glibc
#endif

/// Benchmarks, kept out of the tests: timing belongs here, where the median of several runs is taken.
@main
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stylize-bench",
        abstract: "Time stylize's work; prints JSON.",
        subcommands: [TransferBenchmark.self, LBFGSBenchmark.self]
    )
}

struct TransferBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Seconds per Gatys iteration (VGG19 to relu5_1, forward and backward, L-BFGS) and peak memory.",
        discussion: """
            Uses the reference file's formula images at SIZE x SIZE, as scripts/reference/gatys.py's bench does, so that both measure the same work. The first evaluation (primitive creation, first touches of memory) is not timed. Run one size per process: peak RSS is a process-wide high-water mark.
            """
    )

    @Option(help: "Image side in pixels.")
    var size = 256

    @Option(help: "L-BFGS iterations per repeat (at least 3).")
    var iterations = 6

    @Option(help: "Repeats; the median is over all timed iterations.")
    var repeats = 2

    @Option(help: "Threads.")
    var threads = 2

    @Option(help: "Convolution algorithm: direct, winograd or auto (measured once per shape, as `transfer` does).")
    var convolution = "auto"

    @Option(help: "Precision: fp32, bf16 or auto (bf16 where native and measured faster, as `transfer` does).")
    var precision = "auto"

    @Option(help: "Comma-separated style layers (default: transfer's), to see what each costs.")
    var styleLayers: String?

    func run() throws {
        guard let algorithm = ConvolutionAlgorithm(rawValue: convolution) else { throw ValidationError("unknown --convolution") }
        guard let precision = Precision(rawValue: precision) else { throw ValidationError("unknown --precision") }
        DNNL.setThreads(threads)
        DNNL.keepFreedMemory()
        MeasuredKernels.keep(in: VGG19Weights.cacheDirectory().appendingPathComponent(MeasuredKernels.fileName))
        let weights = try VGG19Weights.ensureInstalled()
        var settings = TransferSettings()
        settings.iterations = iterations
        settings.objective.algorithm = algorithm
        settings.objective.precision = precision
        if let styleLayers { settings.objective.styleLayers = try WeightedLayer.parseList(styleLayers, setting: "styleLayers") }
        let content = FormulaImage.content.tensor(height: size, width: size)
        let style = FormulaImage.style.tensor(height: size, width: size)
        var steps: [Double] = []
        var implementations: [String] = []
        var ranIn = precision
        for _ in 0..<repeats {
            // Loaded per repeat and dropped once compiled, as `stylize transfer` does.
            let transfer = try StyleTransfer(vgg: VGG19(parameters: VGG19Weights.load(from: weights)), content: content,
                                             style: style, settings: settings)
            implementations = transfer.objective.implementations
            ranIn = transfer.objective.precision
            var marks: [Double] = []
            _ = try transfer.run { progress in
                marks.append(progress.seconds)
                return true
            }
            steps += zip(marks.dropFirst(), marks.dropFirst(2)).map { $1 - $0 }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let result: [String: Any] = [
            "tool": "stylize", "size": size, "threads": threads, "convolution": convolution,
            "precision": precision.rawValue, "ran_in": ranIn.rawValue, "cpu": Precision.cpuModel, "isa": Precision.dispatchedISA,
            "median_seconds_per_iteration": median(steps), "min_seconds_per_iteration": steps.min() ?? 0,
            "samples": steps.count, "peak_rss_mib": Double(usage.ru_maxrss) / 1024,
            "kernels": implementations,
            // Multiply and add, forward and backward to the image.
            "direct_convolution_flops": 2 * 2 * VGG19.multiplyAdds(height: size, width: size, deepest: settings.objective.deepestLayer),
        ]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

struct LBFGSBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lbfgs",
        abstract: "Seconds per L-BFGS step with a full history, on an image-sized vector (the optimiser's own cost)."
    )

    @Option(help: "Image side in pixels (the vector has 3 x size x size values).")
    var size = 512

    @Option(help: "History length.")
    var history = 100

    func run() throws {
        var random = SeededGenerator(seed: 1)
        let count = 3 * size * size
        var x = (0..<count).map { _ in random.uniform(-1, 1) }
        var optimizer = LBFGS(history: history)
        // A convex quadratic with varied curvature, so every pair is kept.
        let curvature = (0..<count).map { _ in random.uniform(0.5, 2) }
        var times: [Double] = []
        for step in 0..<(history + 5) {
            let gradient = zip(curvature, x).map { $0 * $1 }
            let start = ContinuousClock.now
            optimizer.step(&x, gradient: gradient)
            let elapsed = ContinuousClock.now - start
            if step >= history { times.append(elapsed.seconds) }
        }
        print("{\"tool\":\"stylize\",\"lbfgs_history\":\(history),\"size\":\(size),\"median_seconds_per_step\":\(median(times))}")
    }
}
