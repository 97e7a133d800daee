import Foundation
import XCTest
@testable import Stylize

/// Bad input, as a new user gives it: every command refuses it with one line, a non-zero exit and no signal, and
/// leaves no output or temporary file behind and its inputs untouched; and the file readers survive thousands of
/// damaged files (each loads or throws: a trap would end the test process, a hang the run).
final class RobustnessTests: XCTestCase {
    static let binary = CommandLineTests.binary
    var directory: URL!

    override func setUpWithError() throws {
        _ = try TestData.vgg()  // the commands would download missing weights: the suite downloads nothing
        directory = try temporaryDirectory()
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    // MARK: the commands

    /// The inputs the bad commands are given: good ones, and damaged ones of every kind a reader meets.
    func makeInputs() throws {
        let fm = FileManager.default
        try fm.copyItem(atPath: TestData.example("chelsea-cat.png"), toPath: path("photo.png"))
        try fm.copyItem(atPath: TestData.example("starry-night.jpg"), toPath: path("style.jpg"))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: path("text.png")))
        let png = try Data(contentsOf: URL(fileURLWithPath: path("photo.png")))
        try png.prefix(png.count / 2).write(to: URL(fileURLWithPath: path("cut.png")))
        try fm.createDirectory(atPath: path("folder"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: path("tiny"), withIntermediateDirectories: true)
        try ImageIO.write(Image(width: 1, height: 1, repeating: 128), to: path("tiny/dot.png"))
        try ImageIO.write(Image(width: 4000, height: 8, repeating: 90), to: path("tiny/thin.png"))
        try fm.createDirectory(atPath: path("photos"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: TestData.example("cincinnati-bridge.jpg"), toPath: path("photos/bridge.jpg"))

        // Models: NaN weights, a good one of width 0.125, an absurd width, a checkpoint with a negative step or a negative second moment.
        let network = try TransformerNet(width: 0.125, seed: 1)
        var nan = network.parameters
        nan["conv1.conv2d.weight"]!.scalars[0] = .nan
        try SafetensorsFile(tensors: nan, metadata: StyleModel(network: network, settings: TrainingSettings(), steps: 1).file.metadata)
            .write(to: URL(fileURLWithPath: path("nan.safetensors")))
        try StyleModel(network: network, settings: TrainingSettings(), steps: 1).file.write(to: URL(fileURLWithPath: path("narrow.safetensors")))
        var wide = StyleModel(network: network, settings: TrainingSettings(), steps: 1).file
        wide.metadata["width"] = "1e30"
        try wide.write(to: URL(fileURLWithPath: path("wide.safetensors")))
        let checkpoint = TrainingCheckpoint(model: StyleModel(network: network, settings: TrainingSettings(), steps: 3),
                                            optimizer: Adam(learningRate: 1e-3, iteration: 3,
                                                            firstMoment: [Float](repeating: 0, count: StyleModel(network: network, settings: TrainingSettings(), steps: 0).parameterCount),
                                                            secondMoment: [Float](repeating: -1, count: StyleModel(network: network, settings: TrainingSettings(), steps: 0).parameterCount)))
        try checkpoint.write(to: URL(fileURLWithPath: path("negative-moment.checkpoint.safetensors")))
        var negativeStep = checkpoint.file
        negativeStep.metadata["steps"] = "-5"
        try negativeStep.write(to: URL(fileURLWithPath: path("negative-step.checkpoint.safetensors")))
        try TrainingCheckpoint(model: StyleModel(network: network, settings: TrainingSettings(), steps: 0), optimizer: Adam(learningRate: 1e-3))
            .write(to: URL(fileURLWithPath: path("earlier.checkpoint.safetensors")))
    }

    /// Each row: a command line (`@` stands for the scratch folder) that must be refused cleanly.
    static let badCommands: [String] = [
        // transfer: files
        "transfer @/missing.png @/style.jpg -o @/out.png",
        "transfer @/text.png @/style.jpg -o @/out.png",
        "transfer @/photo.png @/cut.png -o @/out.png",
        "transfer @/folder @/style.jpg -o @/out.png",
        "transfer @/photo.png @/style.jpg -o @/out.gif",
        "transfer @/photo.png @/style.jpg -o @/no/such/out.png",
        "transfer @/photo.png @/style.jpg -o @/photo.png",
        "transfer @/photo.png @/style.jpg -o @/out.png --log @/style.jpg",
        "transfer @/photo.png @/style.jpg -o @/out.png --weights @/folder",
        "transfer @/photo.png @/style.jpg -o @/out.png --weights @/text.png",
        "transfer @/photo.png @/style.jpg -o @/out.png --init @/text.png",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-mask 1=@/cut.png",
        // transfer: numbers
        "transfer @/photo.png @/style.jpg -o @/out.png --size 0",
        "transfer @/photo.png @/style.jpg -o @/out.png --size 4000000000",
        "transfer @/photo.png @/style.jpg -o @/out.png --size 9223372036854775807",
        "transfer @/photo.png @/style.jpg -o @/out.png --max-pixels 9223372036854775807",
        "transfer @/photo.png @/style.jpg -o @/out.png --max-pixels 0",
        "transfer @/photo.png @/style.jpg -o @/out.png --max-pixels 1000",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-scale 1e10",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-scale nan",
        "transfer @/photo.png @/style.jpg -o @/out.png --init blurred --init-blur 1e30",
        "transfer @/photo.png @/style.jpg -o @/out.png --iterations=-1",
        "transfer @/photo.png @/style.jpg -o @/out.png --iterations 1000000000000",
        "transfer @/photo.png @/style.jpg -o @/out.png --lbfgs-history 0",
        "transfer @/photo.png @/style.jpg -o @/out.png --scales 40",
        "transfer @/photo.png @/style.jpg -o @/out.png --scales 2 --scale-iterations 1,2,3",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-weight nan",
        "transfer @/photo.png @/style.jpg -o @/out.png --tv-weight inf",
        "transfer @/photo.png @/style.jpg -o @/out.png --content-layers relu9_9",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-layers relu1_1:-2",
        "transfer @/photo.png @/style.jpg -o @/out.png --style-blend 1,2",
        "transfer @/photo.png @/style.jpg -o @/out.png --learning-rate 0",
        "transfer @/photo.png @/style.jpg -o @/out.png --threads 1000",
        "transfer @/photo.png @/style.jpg -o @/out.png --threads 0",
        "transfer @/photo.png @/style.jpg -o @/out.png --precision fp16",
        // train
        "train @/style.jpg --photos @/photo.png -o @/m.safetensors",
        "train @/style.jpg --photos @/empty -o @/m.safetensors",
        "train @/style.jpg --photos @/tiny -o @/m.safetensors --size 256",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --style-size 1000000000",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --preview-size 1000000000 --preview @/photo.png",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --batch 1000000000",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --size 30",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --width 1e30",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --steps 0",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --checkpoint @/m.safetensors",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --log @/style.jpg",
        "train @/style.jpg --photos @/photos -o @/m.txt",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --resume",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --resume --checkpoint @/negative-step.checkpoint.safetensors",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --resume --checkpoint @/negative-moment.checkpoint.safetensors",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --checkpoint @/earlier.checkpoint.safetensors",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --resume --force",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --start-from @/nan.safetensors",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --start-from no-such-model",
        "train @/style.jpg --photos @/photos -o @/m.safetensors --start-from @/narrow.safetensors",
        "train @/style.jpg --photos @/photos -o @/narrow.safetensors --start-from @/narrow.safetensors --width 0.125",
        // distill
        "distill no-such-model --photos @/photos -o @/m.safetensors",
        "distill @/nan.safetensors --photos @/photos -o @/m.safetensors",
        "distill @/narrow.safetensors --photos @/photos -o @/narrow.safetensors",
        "distill @/narrow.safetensors --photos @/tiny -o @/m.safetensors",
        "distill @/narrow.safetensors --photos @/photos -o @/m.safetensors --width 1e30",
        "distill @/narrow.safetensors --photos @/photos -o @/m.safetensors --size 30",
        "distill @/narrow.safetensors --photos @/photos -o @/m.safetensors --resume",
        // train-upscaler
        "train-upscaler --photos @/photos -o @/u.safetensors --scale 5",
        "train-upscaler --photos @/photos -o @/u.safetensors --patch 30",
        "train-upscaler --photos @/photos -o @/u.safetensors --start-from @/nan.safetensors",
        "train-upscaler --photos @/photos -o @/u.safetensors --start-from no-such-model",
        "train-upscaler --photos @/tiny -o @/u.safetensors",
        // apply
        "apply @/nan.safetensors @/photo.png -o @/out.png",
        "apply @/wide.safetensors @/photo.png -o @/out.png",
        "apply @/folder @/photo.png -o @/out.png",
        "apply no-such-model @/photo.png -o @/out.png",
        "apply @/earlier.checkpoint.safetensors @/photo.png -o @/out.png",
        "apply starry-night @/photo.png -o @/out.png --size 100000",
        "apply starry-night @/photo.png -o @/out.png --margin 9223372036854775807",
        "apply starry-night @/photo.png -o @/out.png --margin=-1",
        "apply starry-night @/photo.png -o @/photo.png",
        "apply starry-night @/tiny --output-dir @/tiny",
        "apply starry-night @/photo.png @/style.jpg -o @/out.png",
        "apply starry-night @/photo.png -o @/out.png --max-pixels 0",
        // upscale
        "upscale @/photo.png -o @/big.png --scale 5",
        "upscale @/photo.png -o @/big.png --tile 0",
        "upscale @/photo.png -o @/big.png --model @/nan.safetensors",
        "upscale @/photo.png -o @/big.png --model @/wide.safetensors",
        "upscale @/photo.png -o @/big.png --max-pixels 1000",
        "upscale @/tiny --output-dir @/tiny --scale 2",
        // evaluate-upscaler
        "evaluate-upscaler --photos @/tiny --model x2",
        "evaluate-upscaler --photos @/photo.png --model x2",
        "evaluate-upscaler --photos @/photos --model x2 --limit 0",
        // grid and mask
        "grid @/photo.png -o @/grid.png --columns 1000000000",
        "grid @/photo.png -o @/grid.png --gap 9223372036854775807",
        "grid @/photo.png -o @/grid.png --cell 100000",
        "grid @/missing.png -o @/grid.png",
        "mask @/photo.png -o @/mask.png --threshold 0.5 --smooth 1e30",
        "mask @/photo.png -o @/mask.png --threshold 0.5 --smooth 1e6",
        "mask @/photo.png -o @/mask.png --threshold 2",
        "mask @/photo.png -o @/mask.png --split left --threshold 0.5",
        "bogus-command",
    ]

    func testBadInputsAreRefusedCleanly() throws {
        try makeInputs()
        let before = try snapshot()
        for line in Self.badCommands {
            let arguments = line.split(separator: " ").map { $0.replacingOccurrences(of: "@", with: directory.path) }
            let result = try run(arguments)
            // Progress notes may come first ("reading 4 photos..."); the refusal is one line, the last.
            let errors = result.stderr.split(separator: "\n").filter { $0.contains("error") }
            XCTAssertEqual(result.reason, .exit, "\(line): ended by a signal")
            XCTAssertNotEqual(result.status, 0, "\(line): should be refused")
            XCTAssertEqual(errors.count, 1, "\(line): one error line on stderr, not \(result.stderr)")
            XCTAssertTrue(result.stderr.split(separator: "\n").last?.hasPrefix("stylize: error: ") == true, "\(line): \(result.stderr)")
            let after = try snapshot()
            XCTAssertEqual(after, before, "\(line): no file may be written, changed or left behind")
            for file in after.keys where before[file] == nil {  // so that the next row starts clean
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
        }
        XCTAssertGreaterThan(Self.badCommands.count, 80)
    }

    /// The files in the scratch folder (recursively, hidden ones too) with their sizes and contents' hashes.
    func snapshot() throws -> [String: Int] {
        var files: [String: Int] = [:]
        let root = directory.path
        for case let file as String in FileManager.default.enumerator(atPath: root)! {
            let url = URL(fileURLWithPath: root).appendingPathComponent(file)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                files[file] = -1
                continue
            }
            files[file] = try Data(contentsOf: url).hashValue
        }
        return files
    }

    struct Result {
        let status: Int32
        let reason: Process.TerminationReason
        let stderr: String
    }

    func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // A refusal takes a second or two; a command still running after a minute has accepted its bad input.
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("\(arguments.joined(separator: " ")): still running after a minute")
        }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, reason: process.terminationReason, stderr: text)
    }

    /// A learning rate that makes the weights blow up: the run stops with one line, and what it leaves is the last
    /// good state, finite, where it says.
    func testDivergingTrainingKeepsTheLastGoodModel() throws {
        try makeInputs()
        let result = try run(["train", path("style.jpg"), "--photos", path("photos"), "-o", path("m.safetensors"), "--lr", "1000",
                              "--steps", "5", "--size", "32", "--batch", "1", "--width", "0.125", "--quiet"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("last good step"), result.stderr)
        let model = try StyleModel(contentsOf: URL(fileURLWithPath: path("m.safetensors")))
        XCTAssertTrue(model.network.parameters.values.allSatisfy(\.isFinite))
    }

    /// Resuming a run that has already done --steps trains nothing and leaves the model file as it was.
    func testResumingAFinishedRunLeavesTheModel() throws {
        try makeInputs()
        let arguments = ["train-upscaler", "--photos", path("photos"), "-o", path("up.safetensors"), "--patch", "32",
                         "--batch", "1", "--checkpoint-every", "1"]
        XCTAssertEqual(try run(arguments + ["--steps", "2", "--quiet"]).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path("up.safetensors")))
        let result = try run(arguments + ["--steps", "1", "--lr", "1e-5", "--resume"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("nothing to train"), result.stderr)
        XCTAssertFalse(result.stderr.contains("training the"), "no line about training it does not do: \(result.stderr)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("up.safetensors"))), before)
    }

    /// A fine-tuning run resumes from its checkpoint even when the model it started from has gone since; the model
    /// file still names it.
    func testResumingAFineTuningRunNeedsNotItsStartModel() throws {
        try makeInputs()
        try FileManager.default.copyItem(atPath: path("narrow.safetensors"), toPath: path("start.safetensors"))
        let arguments = ["train", path("style.jpg"), "--photos", path("photos"), "-o", path("m.safetensors"),
                         "--start-from", path("start.safetensors"), "--width", "0.125", "--size", "32", "--batch", "1", "--quiet"]
        XCTAssertEqual(try run(arguments + ["--steps", "1"]).status, 0)
        try FileManager.default.removeItem(atPath: path("start.safetensors"))
        let result = try run(arguments + ["--steps", "2", "--resume"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let model = try StyleModel(contentsOf: URL(fileURLWithPath: path("m.safetensors")))
        XCTAssertEqual(model.steps, 2)
        XCTAssertEqual(model.settings.startedFrom, "start.safetensors")
        // A new run needs the file.
        XCTAssertEqual(try run(arguments + ["--steps", "1", "--force"]).status, 1)
    }

    /// SIGTERM stops training as Ctrl-C does: the model and checkpoint saved, exit 130, resumable.
    func testSigtermSavesTraining() throws {
        try makeInputs()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["train", path("style.jpg"), "--photos", path("photos"), "-o", path("m.safetensors"),
                             "--steps", "100000", "--size", "32", "--batch", "1", "--width", "0.125", "--log", path("log.jsonl"), "--quiet"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // Wait for the first logged step, then send SIGTERM.
        let deadline = Date().addingTimeInterval(120)
        while (try? String(contentsOfFile: path("log.jsonl"), encoding: .utf8))?.contains("step") != true && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, text)
        XCTAssertEqual(process.terminationStatus, 130, text)
        XCTAssertTrue(text.contains("--resume"), text)
        XCTAssertNoThrow(try TrainingCheckpoint(contentsOf: URL(fileURLWithPath: path("m.checkpoint.safetensors"))))
    }

    /// A model file with a damaged width in `stylize models`' folder is listed as unreadable; the others still are.
    func testModelsListSurvivesADamagedFile() throws {
        try makeInputs()
        let models = path("models")
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: path("wide.safetensors"), toPath: models + "/wide.safetensors")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["models"]
        process.environment = ProcessInfo.processInfo.environment.merging(["STYLIZE_MODELS": models]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("wide\tunreadable"), text)
    }

    // MARK: the file readers

    /// Damaged copies of valid files: random bytes changed, the file cut short, or both, from a fixed seed.
    func mutations(of bytes: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            var damaged = bytes
            let kind = random.next() % 3
            if kind != 1 {
                for _ in 0..<(1 + Int(random.next() % 8)) {
                    damaged[Int(random.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            if kind != 0 { damaged = Array(damaged.prefix(Int(random.next() % UInt64(damaged.count)))) }
            return damaged
        }
    }

    func testImageReadersSurviveDamagedFiles() throws {
        let picture = Image(width: 24, height: 16, pixels: (0..<(3 * 24 * 16)).map { Float($0 % 251) })
        for name in ["valid.png", "valid.jpg"] {
            try ImageIO.write(picture, to: path(name))
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
            var loaded = 0, refused = 0
            for (index, damaged) in mutations(of: bytes, count: 1500, seed: name.hasSuffix("png") ? 1 : 2).enumerated() {
                let file = path("damaged-\(index % 8)" + (name.hasSuffix("png") ? ".png" : ".jpg"))
                try Data(damaged).write(to: URL(fileURLWithPath: file))
                do {
                    let image = try ImageIO.read(file, maxPixels: 1 << 20)
                    XCTAssertGreaterThan(image.width * image.height, 0)
                    loaded += 1
                } catch {
                    refused += 1
                }
            }
            XCTAssertEqual(loaded + refused, 1500)
            XCTAssertGreaterThan(refused, 100, "\(name): most damage should be noticed")
        }
    }

    func testSafetensorsAndModelReadersSurviveDamagedFiles() throws {
        let network = try TransformerNet(width: 0.0625, seed: 3)
        let bytes = [UInt8](try StyleModel(network: network, settings: TrainingSettings(), steps: 2).file.serialized())
        var refused = 0
        for damaged in mutations(of: bytes, count: 1500, seed: 3) {
            do {
                let file = try SafetensorsFile(serialized: Data(damaged))
                _ = try StyleModel(file, expecting: TransformerNet.modelFormat)
            } catch {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 100)
    }

    func testPickleAndTorchReadersSurviveDamagedFiles() throws {
        var refused = 0
        for damaged in mutations(of: WeightsTests.pickledValues, count: 2000, seed: 4) {
            var reader = ByteReader(damaged)
            do { _ = try PickleReader.read(from: &reader) } catch { refused += 1 }
        }
        for damaged in mutations(of: WeightsTests.legacyFile, count: 2000, seed: 5) {
            do { _ = try TorchLegacyFile(bytes: damaged) } catch { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 200)
    }
}
