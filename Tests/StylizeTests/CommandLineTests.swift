import Foundation
import XCTest
@testable import Stylize

/// The `stylize` binary as a user runs it: each bad input gets one clear line on stderr, a non-zero exit and
/// no output file; a good run writes its image and its log.
final class CommandLineTests: XCTestCase {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("stylize").path
    static let examples = TestData.examples
    static let content = TestData.example("chelsea-cat.png")
    static let style = TestData.example("starry-night.jpg")

    var directory: URL!

    override func setUpWithError() throws {
        // Without installed weights the commands would download them: the suite downloads nothing.
        _ = try TestData.vgg()
        directory = try temporaryDirectory()
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "build the stylize product first")
    }

    struct Result {
        let status: Int32
        let stderr: String
        let stdout: String
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func stylize(_ arguments: [String], whileRunning: ((Process) -> Void)? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        // Standard output into a file outside the test's folder: a second pipe could fill while this reads the first.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("stylize-test-stdout-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        process.standardOutput = try FileHandle(forWritingTo: output)
        try process.run()
        whileRunning?(process)
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stderr: text,
                      stdout: String(decoding: try Data(contentsOf: output), as: UTF8.self))
    }

    /// Runs `transfer` with the given changes to a small valid command and expects a clean refusal.
    func assertRefused(_ arguments: [String], mentions expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try stylize(arguments)
        XCTAssertNotEqual(result.status, 0, "should fail: \(arguments)", file: file, line: line)
        XCTAssertTrue(result.stderr.lowercased().contains(expected.lowercased()),
                      "stderr should mention '\(expected)': \(result.stderr)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("crashed"), result.stderr, file: file, line: line)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix("input") }
        XCTAssertEqual(leftovers, [], "no output may be left behind", file: file, line: line)
    }

    func transfer(_ content: String = content, _ style: String = style, output: String? = nil, extra: [String] = []) -> [String] {
        ["transfer", content, style, "-o", output ?? path("out.png"), "--size", "48", "--iterations", "2", "--quiet"] + extra
    }

    func testSmallTransferWritesImageAndLog() throws {
        let result = try stylize(transfer(extra: ["--log", path("log.jsonl"), "--save-every", "1"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("out.png")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("out-1.png")), "--save-every writes intermediate images")
        let lines = try String(contentsOfFile: path("log.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "iterations 0, 1 and 2")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["iteration"] as? Int, 0)
        for key in ["content", "style", "tv", "total", "seconds"] { XCTAssertNotNil(first[key] as? Double, key) }
    }

    func testMissingImage() throws {
        try assertRefused(transfer(path("nowhere.png")), mentions: "nowhere.png")
    }

    func testCorruptAndNonImageFiles() throws {
        try Data("this is not an image".utf8).write(to: URL(fileURLWithPath: path("input-text.png")))
        try assertRefused(transfer(path("input-text.png")), mentions: "not")
        let png = try Data(contentsOf: URL(fileURLWithPath: Self.content))
        try png.prefix(png.count / 3).write(to: URL(fileURLWithPath: path("input-cut.png")))
        try assertRefused(transfer(Self.content, path("input-cut.png")), mentions: "input-cut.png")
    }

    func testUnwritableOutput() throws {
        try assertRefused(transfer(output: path("no/such/dir/out.png")), mentions: "does not exist")
        try assertRefused(transfer(output: path("out.gif")), mentions: "out.gif")
    }

    func testBadSettings() throws {
        try assertRefused(transfer(extra: ["--style-layers", "relu9_9"]), mentions: "relu9_9")
        try assertRefused(transfer(extra: ["--content-layers", "relu4_2:-1"]), mentions: "relu4_2:-1")
        try assertRefused(transfer(extra: ["--size", "0"]), mentions: "--size")
        try assertRefused(transfer(extra: ["--style-weight", "-3"]), mentions: "--style-weight")
        try assertRefused(transfer(extra: ["--max-pixels", "1000"]), mentions: "--max-pixels")
    }

    func testBadControls() throws {
        let notAnImage = path("input-text.png")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: notAnImage))
        let black = path("input-black.png")
        XCTAssertEqual(try stylize(["mask", Self.content, "--threshold", "1", "-o", black]).status, 0)
        let wave = Self.examples.appendingPathComponent("great-wave.png").path
        try assertRefused(transfer(extra: ["--style-blend", "1,2"]), mentions: "--style-blend has 2 weights for 1 style")
        try assertRefused(transfer(extra: [wave, "--style-blend", "1,-1"]), mentions: "non-negative")
        try assertRefused(transfer(extra: [wave, "--style-blend", "0,0"]), mentions: "positive")
        try assertRefused(transfer(extra: ["--style-mask", "3=\(black)"]), mentions: "--style-mask")
        try assertRefused(transfer(extra: ["--style-mask", "1=\(notAnImage)"]), mentions: "not an image")
        try assertRefused(transfer(extra: ["--style-mask", "starry-night.jpg=\(black)"]), mentions: "all black")
        try assertRefused(transfer(extra: ["--init", "blured"]), mentions: "--init 'blured'")
        try assertRefused(transfer(extra: ["--init", notAnImage]), mentions: "--init: ")
        try assertRefused(transfer(extra: ["--scales", "0"]), mentions: "--scales")
        try assertRefused(transfer(extra: ["--size", "64", "--scales", "2", "--scale-iterations", "5"]), mentions: "--scale-iterations must have one count per scale (2), not 1")
        try assertRefused(transfer(extra: ["--style-scale", "0.1"]), mentions: "too small")
        try assertRefused(transfer(extra: ["--size", "30000", "--max-pixels", "900000000"]), mentions: "of memory at its peak")
    }

    func testControlsRunEndToEnd() throws {
        let wave = Self.examples.appendingPathComponent("great-wave.png").path
        let mask = path("mask.png")
        // A mask drawn at another size than the photo is resized, with a warning.
        XCTAssertEqual(try stylize(["mask", wave, "--split", "left", "-o", mask]).status, 0)
        let result = try stylize(transfer(extra: [wave, "--style-blend", "3,1", "--style-mask", "2=\(mask)", "--preserve-colors",
                                                  "luminance", "--init", "blurred", "--scales", "2", "--size", "64",
                                                  "--pooling", "avg"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("resized to fit"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("out.png")))
    }

    func testBadWeightsFile() throws {
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: path("input-weights.safetensors")))
        try assertRefused(transfer(extra: ["--weights", path("input-weights.safetensors")]), mentions: "input-weights.safetensors")
        try assertRefused(transfer(extra: ["--weights", path("input-missing.safetensors")]), mentions: "input-missing.safetensors")
    }

    func testInterruptSavesTheCurrentImage() throws {
        let log = path("log.jsonl")
        let result = try stylize(transfer(extra: ["--iterations", "100000", "--log", log])) { process in
            // Wait until the optimisation runs (the log has its first lines), then press Ctrl-C.
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, ((try? String(contentsOfFile: log, encoding: .utf8))?.count ?? 0) < 200 {
                Thread.sleep(forTimeInterval: 0.05)
            }
            kill(process.processIdentifier, SIGINT)
        }
        XCTAssertEqual(result.status, 130, result.stderr)
        XCTAssertTrue(result.stderr.contains("interrupted"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("out.png")))
    }

    func testModelsListsEveryBundledModel() throws {
        let result = try stylize(["models"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let styles = BundledModels.all(), upscalers = BundledModels.all(.upscaler)
        XCTAssertFalse(styles.isEmpty || upscalers.isEmpty, "the checkout ships both kinds")
        var fineTuned = 0
        for (kind, models) in [("style", styles), ("upscaler", upscalers)] {
            for (name, url) in models {
                let line = try XCTUnwrap(lines.first { $0.hasPrefix(name + "\t") }, "\(name) missing: \(result.stdout)")
                XCTAssertTrue(line.contains("\t\(kind) ") && line.hasSuffix(url.path), line)
                if kind == "upscaler", let start = try UpscalerModel(contentsOf: url).settings.startedFrom {
                    XCTAssertTrue(line.contains(" from \(start)\t"), "a fine-tuned upscaler names its start: \(line)")
                    fineTuned += 1
                }
            }
        }
        XCTAssertGreaterThan(fineTuned, 0, "x4 and x4-perceptual are fine-tuned from other models")
    }

    func testDistillWritesAModelThatRecordsItsTeacher() throws {
        let model = path("small.safetensors")
        let result = try stylize(["distill", "starry-night", "--photos", Self.examples.path, "--size", "32", "--batch", "1",
                                  "--steps", "2", "--width", "0.125", "-o", model, "--log", path("small.jsonl"), "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let distilled = try StyleModel(contentsOf: URL(fileURLWithPath: model))
        let teacher = try StyleModel(contentsOf: BundledModels.locate("starry-night"))
        XCTAssertEqual(distilled.settings.distilledFrom, "starry-night.safetensors")
        XCTAssertEqual(distilled.settings.style, teacher.settings.style)
        XCTAssertEqual(distilled.settings.objective, teacher.settings.objective)
        XCTAssertEqual(distilled.network.width, 0.125)
        XCTAssertEqual(distilled.steps, 2)
        let lines = try String(contentsOfFile: path("small.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let applied = try stylize(["apply", model, Self.content, "-o", path("out.png"), "--size", "64", "--quiet"])
        XCTAssertEqual(applied.status, 0, applied.stderr)
    }

    func testUpscalerCommands() throws {
        let model = path("x2.safetensors")
        let training = try stylize(["train-upscaler", "--photos", Self.examples.path, "--scale", "2", "--patch", "32",
                                    "--batch", "2", "--steps", "3", "-o", model, "--log", path("x2.jsonl"), "--quiet"])
        XCTAssertEqual(training.status, 0, training.stderr)
        let lines = try String(contentsOfFile: path("x2.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let last = try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as! [String: Any]
        for key in ["pixel", "psnr", "bicubic_psnr", "seconds", "images_per_second"] { XCTAssertNotNil(last[key] as? Double, key) }

        let small = path("input-small.png")
        for (arguments, side) in [(["--model", model], 2), (["--model", model, "--self-ensemble"], 2),
                                  (["--method", "bicubic", "--scale", "3"], 3)] {
            let result = try stylize(["upscale", Self.content, "-o", small, "--quiet"] + arguments)
            XCTAssertEqual(result.status, 0, result.stderr)
            let header = try Data(contentsOf: URL(fileURLWithPath: small))
            // PNG's IHDR: width and height, big-endian, at bytes 16 and 20. The cat is 451x300.
            let width = header[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = header[20..<24].reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual([width, height], [451 * side, 300 * side], "\(arguments)")
        }
        let evaluation = try stylize(["evaluate-upscaler", "--photos", Self.examples.path, "--model", model, "--limit", "1"])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        // A header, the photo and the mean, each with PSNR, SSIM, sharpness and periodic power for both methods.
        let rows = evaluation.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 3, evaluation.stdout)
        XCTAssertEqual(Set(rows.map { $0.split(separator: "\t").count }), [10], evaluation.stdout)
        try FileManager.default.removeItem(atPath: small)
        for file in ["x2.safetensors", "x2.checkpoint.safetensors", "x2.jsonl"] {
            try FileManager.default.moveItem(atPath: path(file), toPath: path("input-" + file))
        }

        let input = path("input-x2.safetensors")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--model", input, "--scale", "4"], mentions: "--scale is 4, but the model")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--scale", "5"], mentions: "--scale")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--method", "bicubic", "--self-ensemble"],
                          mentions: "--self-ensemble is for --method net")
        try assertRefused(["upscale", path("nowhere.png"), "-o", path("out.png"), "--model", input], mentions: "nowhere.png")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--model", path("input-x2.checkpoint.safetensors")],
                          mentions: "not a usable upscaler")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--model", "no-such-model"], mentions: "no-such-model")
        try assertRefused(["upscale", Self.content, "-o", path("out.png"), "--model", input, "--max-pixels", "200000"], mentions: "--max-pixels")
        try assertRefused(["train-upscaler", "--photos", Self.examples.path, "--scale", "4", "--patch", "30", "-o", path("m.safetensors")],
                          mentions: "multiple of the scale")
        try assertRefused(["train-upscaler", "--photos", path("nowhere"), "-o", path("m.safetensors")], mentions: "nowhere")
        try assertRefused(["evaluate-upscaler", "--photos", Self.examples.path, "--model", input, "--scale", "3"], mentions: "--scale is 3, but the model")
    }
}
