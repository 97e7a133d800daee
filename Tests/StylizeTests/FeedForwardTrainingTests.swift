import Foundation
import XCTest
@testable import Stylize

/// Training, checkpoints, model files and `apply`, on tiny networks and images so that each test takes seconds.
final class FeedForwardTrainingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory()
    }

    /// A smooth colourful picture, w x h.
    func picture(width: Int, height: Int, phase: Double) -> Image {
        var pixels = [Float](repeating: 0, count: 3 * width * height)
        for c in 0..<3 { for y in 0..<height { for x in 0..<width {
            pixels[(c * height + y) * width + x] = Float(127.5 + 120 * sin(phase + 0.3 * Double(x) * Double(c + 1) / 3 + 0.2 * Double(y) * Double(3 - c)))
        }}}
        return Image(width: width, height: height, pixels: pixels)
    }

    func tinySettings() -> TrainingSettings {
        var settings = TrainingSettings()
        settings.size = 32
        settings.batch = 2
        settings.width = 0.125
        settings.learningRate = 1e-2
        settings.styleSize = 32
        settings.objective.styleLayers = ["relu1_1", "relu2_1", "relu3_1"].map { WeightedLayer($0) }
        settings.objective.contentLayers = [WeightedLayer("relu2_2")]
        settings.steps = 20
        settings.seed = 4
        return settings
    }

    func makeTraining(_ settings: TrainingSettings, checkpoint: TrainingCheckpoint? = nil, start: TransformerNet? = nil) throws -> FeedForwardTraining {
        let photos = directory.appendingPathComponent("photos")
        if !FileManager.default.fileExists(atPath: photos.path) {
            try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
            for i in 0..<3 { try ImageIO.write(picture(width: 40 + 4 * i, height: 36, phase: Double(i)), to: photos.appendingPathComponent("p\(i).png").path) }
        }
        let style = picture(width: 32, height: 32, phase: 2).tensor.scalars.enumerated().map { i, v in (i / 4) % 2 == 0 ? v : 255 - v }
        return try FeedForwardTraining(settings: settings, vgg: TestData.vgg(), style: Tensor(shape: [3, 32, 32], scalars: style),
                                       photos: try PhotoCrops(directory: photos.path, size: settings.size), checkpoint: checkpoint, start: start)
    }

    func testAFewStepsLowerTheLoss() throws {
        let training = try makeTraining(tinySettings())
        var losses: [Double] = []
        for _ in 0..<10 { losses.append(try training.trainStep().total) }
        let first = losses.prefix(3).reduce(0, +) / 3, last = losses.suffix(3).reduce(0, +) / 3
        XCTAssertLessThan(last, 0.95 * first, "losses \(losses)")
        XCTAssertEqual(training.step, 10)
    }

    func testResumedRunContinuesFromTheSameStepAndState() throws {
        let settings = tinySettings()
        let straight = try makeTraining(settings)
        for _ in 0..<3 { _ = try straight.trainStep() }

        let stopped = try makeTraining(settings)
        for _ in 0..<2 { _ = try stopped.trainStep() }
        let file = directory.appendingPathComponent("run.checkpoint.safetensors")
        try stopped.checkpoint.write(to: file)
        let saved = try TrainingCheckpoint(contentsOf: file)
        XCTAssertEqual(saved.model.steps, 2)
        XCTAssertEqual(saved.optimizer.iteration, 2)
        XCTAssertEqual(saved.optimizer.firstMoment, stopped.checkpoint.optimizer.firstMoment)
        var longer = settings
        longer.steps = 50  // only the number of steps may change
        let resumed = try makeTraining(longer, checkpoint: saved)
        XCTAssertEqual(resumed.step, 2)
        _ = try resumed.trainStep()
        XCTAssertEqual(resumed.step, 3)
        XCTAssertEqual(resumed.network.parameters, straight.network.parameters)
        XCTAssertEqual(resumed.checkpoint.optimizer.secondMoment, straight.checkpoint.optimizer.secondMoment)

        var other = settings
        other.objective.styleWeight = 1
        // The refusal names what differs.
        XCTAssertThrowsError(try makeTraining(other, checkpoint: saved)) {
            XCTAssert("\($0)".contains("(styleWeight was 100, now 1)"), "\($0)")
        }
    }

    func testFineTuningStartsFromTheGivenWeights() throws {
        let settings = tinySettings()
        let trained = try makeTraining(settings)
        for _ in 0..<2 { _ = try trained.trainStep() }
        let tuned = try makeTraining(settings, start: trained.network)
        XCTAssertEqual(tuned.step, 0)
        XCTAssertEqual(tuned.network.parameters, trained.network.parameters)
        XCTAssertNotEqual(try makeTraining(settings).network.parameters, trained.network.parameters, "a new run starts afresh")
        var wider = settings
        wider.width *= 2
        XCTAssertThrowsError(try makeTraining(wider, start: trained.network)) { XCTAssert("\($0)".contains("width"), "\($0)") }
    }

    func testModelFileRoundTripAndBadFiles() throws {
        let network = try TransformerNet(width: 0.25, seed: 9)
        var settings = tinySettings()
        settings.style = "waves.png"
        let file = directory.appendingPathComponent("m.safetensors")
        try StyleModel(network: network, settings: settings, steps: 17).write(to: file)
        let loaded = try StyleModel(contentsOf: file)
        XCTAssertEqual(loaded.network.parameters, network.parameters)
        XCTAssertEqual(loaded.network.width, 0.25)
        XCTAssertEqual(loaded.settings, settings)
        XCTAssertEqual(loaded.steps, 17)

        let data = try Data(contentsOf: file)
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try data.prefix(data.count / 2).write(to: truncated)
        XCTAssertThrowsError(try StyleModel(contentsOf: truncated)) { XCTAssert("\($0)".contains("truncated"), "\($0)") }
        let vggLike = directory.appendingPathComponent("other.safetensors")
        try SafetensorsFile(tensors: ["conv1_1.weight": Tensor(zeros: [2])]).write(to: vggLike)
        XCTAssertThrowsError(try StyleModel(contentsOf: vggLike)) { XCTAssert("\($0)".contains("not a usable style model"), "\($0)") }
        // A checkpoint is not a model, and a model cannot be resumed from.
        XCTAssertThrowsError(try TrainingCheckpoint(contentsOf: file))
    }

    /// Distillation on real photos (the example folder): the student's difference from the teacher falls, also on a
    /// batch of crops no step trained on (by 43% in 40 steps when this was written).
    func testDistillationLearnsTheTeachersOutput() throws {
        let teacherFile = try BundledModels.locate("starry-night")
        let teacher = try StyleModel(contentsOf: teacherFile)
        var settings = teacher.settings
        settings.size = 64
        settings.batch = 2
        settings.width = 0.25
        settings.learningRate = 3e-3
        settings.seed = 3
        settings.distilledFrom = teacherFile.lastPathComponent
        let training = try Distillation(settings: settings, teacher: teacher.network, vgg: TestData.vgg(),
                                        photos: try PhotoCrops(directory: TestData.examples.path, size: settings.size))
        let unseen = 1_000
        let before = try training.loss(onBatchOf: unseen).total
        for _ in 0..<40 { _ = try training.trainStep() }
        let after = try training.loss(onBatchOf: unseen).total
        XCTAssertLessThan(after, 0.75 * before, "loss \(before) -> \(after)")
        XCTAssertEqual(training.model.settings.objective, teacher.settings.objective, "the model records the teacher's objective")
    }

    /// The student and the teacher see the same crops: a student that starts as the teacher's copy (same width and
    /// seed) has nothing to learn, and one with other weights has. In float32: in bf16 the teacher's forward-only
    /// network and the student's training one round differently, and a copy's loss is small but not zero.
    func testADistilledCopyOfTheTeacherHasNoLoss() throws {
        var settings = TrainingSettings()
        settings.size = 32
        settings.batch = 2
        settings.width = 0.25
        settings.seed = 5
        let teacher = try TransformerNet(width: settings.width, seed: settings.seed)
        let photos = try PhotoCrops(directory: TestData.examples.path, size: settings.size)
        let copy = try Distillation(settings: settings, teacher: teacher, vgg: TestData.vgg(), photos: photos, precision: .fp32)
        XCTAssertEqual(copy.network.parameters, teacher.parameters)
        XCTAssertLessThan(try copy.loss(onBatchOf: 0).total, 1e-6)
        settings.seed = 6
        XCTAssertGreaterThan(try Distillation(settings: settings, teacher: teacher, vgg: TestData.vgg(), photos: photos,
                                              precision: .fp32).loss(onBatchOf: 0).total, 1)
    }

    func testApplyKeepsOddSizes() throws {
        let stylizer = try FeedForwardStylizer(network: try TransformerNet(width: 0.125, seed: 2))
        for (width, height) in [(13, 7), (16, 16), (1, 5), (30, 17)] {
            let result = try stylizer.stylize(picture(width: width, height: height, phase: 0))
            XCTAssertEqual([result.width, result.height], [width, height])
        }
        // Mirroring without repeating the edge: columns 0 1 2 with 2 on the left and 3 on the right -> 2 1 0 1 2 1 0 1.
        let line = Tensor(shape: [3, 1, 3], scalars: [0, 1, 2, 10, 11, 12, 20, 21, 22])
        let padded = FeedForwardStylizer.mirrorPadded(line, top: 0, left: 2, height: 1, width: 8)
        XCTAssertEqual(padded.scalars, [2, 1, 0, 1, 2, 1, 0, 1, 12, 11, 10, 11, 12, 11, 10, 11, 22, 21, 20, 21, 22, 21, 20, 21])
        XCTAssertEqual(Image(padded).cropped(top: 0, left: 2, height: 1, width: 3).tensor, line)
    }
}
