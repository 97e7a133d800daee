import Foundation
import XCTest
@testable import Stylize

/// Super-resolution: the pixel shuffle, the networks' gradients, tiling, model files and a short training run on real
/// photos, each small enough to take seconds.
final class UpscalerTests: XCTestCase {
    static let examples = TestData.examples

    var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory()
    }

    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in generator.uniform(-1, 1) })
    }

    func testPixelShuffleMovesValuesAsPyTorchDoes() {
        // torch.nn.functional.pixel_shuffle(torch.arange(8.).reshape(1, 8, 1, 1), 2): two channels of 2x2, each
        // channel's four values in row-major order.
        let input = Tensor(shape: [1, 8, 1, 1], scalars: (0..<8).map(Float.init))
        XCTAssertEqual(input.pixelShuffled(scale: 2), Tensor(shape: [1, 2, 2, 2], scalars: (0..<8).map(Float.init)))
        // torch.arange(16.).reshape(1, 4, 2, 2) shuffled by 2 -> [[0, 4, 1, 5], [8, 12, 9, 13], [2, 6, 3, 7], [10, 14, 11, 15]]
        let square = Tensor(shape: [1, 4, 2, 2], scalars: (0..<16).map(Float.init))
        XCTAssertEqual(square.pixelShuffled(scale: 2).scalars, [0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15])
    }

    func testPixelShuffleBackwardIsItsAdjoint() {
        // The backward of y = S x is S^T; for a permutation that is the inverse, and <S x, g> = <x, S^T g>.
        for scale in 2...4 {
            let x = random([2, 3 * scale * scale, 5, 4], seed: UInt64(scale))
            let g = random([2, 3, 5 * scale, 4 * scale], seed: UInt64(10 + scale))
            let shuffled = x.pixelShuffled(scale: scale)
            XCTAssertEqual(shuffled.unshuffled(scale: scale), x)
            let left = zip(shuffled.scalars, g.scalars).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            let right = zip(x.scalars, g.unshuffled(scale: scale).scalars).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-9)
        }
    }

    /// Backward through a whole network (fused ReLUs, residual additions without normalisation, the sub-pixel
    /// convolution) against central differences of L = Σ w · shuffle(net(x)).
    func testNetworkGradientsMatchFiniteDifferences() throws {
        for architecture in UpscalerNet.Architecture.allCases {
            let network = try UpscalerNet(architecture: architecture, scale: 2, seed: 3)
            var parameters = network.parameters
            // Full-size last weights, so that the gradient reaching the deeper layers is not tiny.
            parameters["shuffle.weight"] = random(parameters["shuffle.weight"]!.shape, seed: 4).scalars.map { $0 * 0.05 }
                .withShape(parameters["shuffle.weight"]!.shape)
            let x = random([1, 3, 9, 7], seed: 5)
            let compiled = try CompiledNetwork(network.layers, parameters: parameters, inputShape: x.shape)
            let w = random([1, 3, 18, 14], seed: 6)
            func loss(_ parameters: [String: Tensor]) throws -> Double {
                try compiled.setParameters(parameters)
                let output = Tensor(shape: compiled.outputShape, scalars: compiled.forward(x.scalars)).pixelShuffled(scale: 2)
                return zip(output.scalars, w.scalars).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            }
            _ = try loss(parameters)
            let gradients = try compiled.backward(w.unshuffled(scale: 2).scalars)
            let first = architecture == .espcn ? "conv1" : "head"
            for (name, index) in [("\(first).weight", 7), ("\(first).bias", 11), ("shuffle.weight", 100), ("shuffle.bias", 5),
                                  (architecture == .espcn ? "conv2.weight" : "res2.conv1.weight", 321)] {
                // Small steps: a larger one moves some of the many ReLUs' inputs across zero.
                let step: Float = 1e-3
                var plus = parameters, minus = parameters
                plus[name]!.scalars[index] += step
                minus[name]!.scalars[index] -= step
                let numeric = (try loss(plus) - loss(minus)) / Double(2 * step)
                let analytic = Double(gradients[name]!.scalars[index])
                XCTAssertEqual(analytic, numeric, accuracy: 2e-3 * max(1, abs(numeric)), "\(architecture) \(name)[\(index)]")
            }
        }
    }

    /// ICNR: a fresh network's r² sub-pixel outputs for a colour start equal, so that what it adds to bicubic is the
    /// same over each r x r block (a nearest-neighbour upscaling) and no pattern repeats within the blocks.
    func testFreshNetworkAddsTheSameValueOverEachBlock() throws {
        for architecture in UpscalerNet.Architecture.allCases {
            for scale in UpscalerNet.scales {
                let network = try UpscalerNet(architecture: architecture, scale: scale, seed: 11)
                let x = random([1, 3, 6, 5], seed: 12)
                let compiled = try CompiledNetwork(network.layers, parameters: network.parameters, inputShape: x.shape)
                let added = Tensor(shape: compiled.outputShape, scalars: compiled.forward(x.scalars)).pixelShuffled(scale: scale)
                let (height, width) = (6 * scale, 5 * scale)
                var spread: Float = 0, size: Float = 0
                for c in 0..<3 { for y in 0..<height { for x in 0..<width {
                    let value = added.scalars[(c * height + y) * width + x]
                    let corner = added.scalars[(c * height + y / scale * scale) * width + x / scale * scale]
                    spread = max(spread, abs(value - corner))
                    size = max(size, abs(value))
                }}}
                XCTAssertGreaterThan(size, 1e-4, "\(architecture) x\(scale) adds something")
                XCTAssertLessThan(spread, 1e-6 * max(1, size), "\(architecture) x\(scale)")
            }
        }
    }

    func testTiledAndWholeUpscalingAgree() throws {
        let image = try ImageIO.read(Self.examples.appendingPathComponent("chelsea-cat.png").path).resized(width: 70, height: 45)
        for architecture in UpscalerNet.Architecture.allCases {
            var parameters = try UpscalerNet(architecture: architecture, scale: 3, seed: 7).parameters
            parameters["shuffle.weight"] = parameters["shuffle.weight"]!.scalars.map { $0 * 10 }.withShape(parameters["shuffle.weight"]!.shape)
            let network = try UpscalerNet(architecture: architecture, scale: 3, parameters: parameters)
            // float32 for both: under `auto` the two tile sizes are timed apart and may run in different formats.
            let whole = try Upscaler(network: network, tile: 1000, precision: .fp32).upscale(image)
            let tiler = Upscaler(network: network, tile: 16, precision: .fp32)
            var reported: [Int] = []
            let tiled = try tiler.upscale(image) { reported.append($0) }
            XCTAssertEqual(tiler.tileCount(image), 15, "5 columns of tiles (70 px) by 3 rows (45 px)")
            XCTAssertEqual(reported, Array(1...15), "\(architecture): progress after every tile")
            XCTAssertEqual([whole.width, whole.height], [210, 135])
            let bicubic = Upscaler.bicubic(image, scale: 3)
            let largest = zip(whole.pixels, tiled.pixels).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(largest, 1e-2, "\(architecture): tiles must not show")
            // The network does change the picture.
            XCTAssertGreaterThan(zip(whole.pixels, bicubic.pixels).map { abs($0 - $1) }.max()!, 1, "\(architecture)")
        }
    }

    /// Averaged over the eight mirrors and quarter turns, the shipped x4 turns with the image (a quarter turn of the
    /// input gives the quarter-turned output) and is more faithful on a photo than one pass.
    func testSelfEnsembleTurnsWithTheImageAndIsMoreFaithful() throws {
        let network = try Upscaler.network(model: "x4", scale: nil)
        let photo = try ImageIO.read(Self.examples.appendingPathComponent("cincinnati-bridge.jpg").path).resized(width: 480, height: 320)
        let truth = UpscalerEvaluation.groundTruth(photo, scale: 4), low = Upscaler.degrade(truth, scale: 4)
        let single = Upscaler(network: network, precision: .fp32)
        let ensemble = Upscaler(network: network, precision: .fp32, selfEnsemble: true)
        let quarterTurn = Symmetry(transposed: true, upsideDown: true)
        var reported = 0
        let result = try ensemble.upscale(low) { reported = $0 }
        XCTAssertEqual(reported, ensemble.tileCount(low))
        XCTAssertEqual(ensemble.tileCount(low), 8, "a 120x80 px input is one tile, done in each of the eight turns")
        XCTAssertEqual([result.width, result.height], [truth.width, truth.height])
        let turned = try ensemble.upscale(low.transformed(by: quarterTurn))
        XCTAssertLessThan(zip(turned.pixels, result.transformed(by: quarterTurn).pixels).map { abs($0 - $1) }.max()!, 1e-2)
        let one = try single.upscale(low)
        XCTAssertGreaterThan(zip(one.pixels, result.pixels).map { abs($0 - $1) }.max()!, 1, "one pass is not the average")
        let psnr = ImageQuality.psnr(result, truth, border: 4)
        XCTAssertGreaterThan(psnr, ImageQuality.psnr(one, truth, border: 4), "the average is more faithful than one pass")
        XCTAssertGreaterThan(psnr, ImageQuality.psnr(Upscaler.bicubic(low, scale: 4), truth, border: 4) + 1)
    }

    func testDegradationIsBlurThenBicubic() {
        let image = Image(width: 8, height: 4, pixels: (0..<96).map { Float(($0 * 37) % 256) })
        let low = Upscaler.degrade(image, scale: 2)
        XCTAssertEqual([low.width, low.height], [4, 2])
        XCTAssertEqual(low, image.gaussianBlurred(sigma: 1).resized(width: 4, height: 2, filter: .bicubic))
    }

    func settings(scale: Int = 2, loss: UpscalerTrainingSettings.Loss = .pixel) -> UpscalerTrainingSettings {
        var settings = UpscalerTrainingSettings(scale: scale, loss: loss)
        settings.patch = 32
        settings.batch = 4
        settings.steps = 60
        settings.learningRate = 2e-3
        settings.seed = 9
        return settings
    }

    /// The photos the tests train on: the repository's two example photos.
    func photos(patch: Int) throws -> PhotoCrops {
        try PhotoCrops(directory: Self.examples.path, size: patch, preparation: .halved)
    }

    func testShortTrainingBeatsBicubicOnAPhoto() throws {
        let settings = settings()
        let training = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil)
        let photo = (name: "bridge", image: try ImageIO.read(Self.examples.appendingPathComponent("cincinnati-bridge.jpg").path).resized(longSide: 256))
        let before = try UpscalerEvaluation(upscaler: Upscaler(network: training.network), photos: [photo])
        while training.step < settings.steps { _ = try training.trainStep() }
        let after = try UpscalerEvaluation(upscaler: Upscaler(network: training.network), photos: [photo])
        // The fresh network is bicubic plus a little noise; trained, it is better than bicubic.
        XCTAssertEqual(before.meanNetwork.psnr, before.meanBicubic.psnr, accuracy: 0.5)
        XCTAssertGreaterThan(after.meanNetwork.psnr, after.meanBicubic.psnr + 0.1, "\(after.rows)")
        XCTAssertGreaterThan(after.meanNetwork.psnr, before.meanNetwork.psnr)
        // Bicubic of a blurred photo is blurrier than the photo; the trained network undoes some of that blur.
        XCTAssertLessThan(after.meanBicubic.sharpness, 0.8)
        XCTAssertGreaterThan(after.meanNetwork.sharpness, after.meanBicubic.sharpness)
        // ... and its output, like bicubic's, has less power at the grid's period than the photo has.
        XCTAssertLessThan(after.meanBicubic.periodic, 1)
        XCTAssertLessThan(after.meanNetwork.periodic, 1.5)
    }

    func testPerceptualTrainingLowersTheFeatureLoss() throws {
        let vgg = try TestData.vgg()
        var settings = settings(scale: 4, loss: .perceptual)
        settings.steps = 16
        settings.batch = 2
        settings.learningRate = 1e-4
        let training = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: vgg)
        let before = try training.loss(onBatchOf: 0)
        while training.step < settings.steps { _ = try training.trainStep() }
        let after = try training.loss(onBatchOf: 0)
        XCTAssertGreaterThan(before.feature, 0)
        XCTAssertLessThan(after.feature, before.feature, "\(before) \(after)")
    }

    func testModelFileRoundTripAndExactResume() throws {
        let settings = settings()
        let straight = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil)
        for _ in 0..<5 { _ = try straight.trainStep() }

        let first = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil)
        for _ in 0..<3 { _ = try first.trainStep() }
        let file = directory.appendingPathComponent("x2.checkpoint.safetensors")
        try first.checkpoint.write(to: file)
        let resumed = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil,
                                           checkpoint: try UpscalerCheckpoint(contentsOf: file))
        XCTAssertEqual(resumed.step, 3)
        for _ in 0..<2 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.network.parameters, straight.network.parameters)

        let model = directory.appendingPathComponent("x2.safetensors")
        try straight.model.write(to: model)
        let loaded = try UpscalerModel(contentsOf: model)
        XCTAssertEqual(loaded.network.parameters, straight.network.parameters)
        XCTAssertEqual([loaded.network.scale, loaded.steps], [2, 5])
        XCTAssertEqual(loaded.settings, settings)

        // Other settings cannot resume; a style model is not an upscaler; a checkpoint is not a model.
        var other = settings
        other.patch = 48
        XCTAssertThrowsError(try UpscalerTraining(settings: other, photos: try photos(patch: 48), vgg: nil,
                                                  checkpoint: try UpscalerCheckpoint(contentsOf: file)))
        let style = directory.appendingPathComponent("style.safetensors")
        try StyleModel(network: try TransformerNet(width: 0.125, seed: 1), settings: TrainingSettings(), steps: 0).write(to: style)
        XCTAssertThrowsError(try UpscalerModel(contentsOf: style)) { XCTAssert("\($0)".contains("not a usable upscaler"), "\($0)") }
        XCTAssertThrowsError(try UpscalerModel(contentsOf: file))
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try Data(try Data(contentsOf: model).prefix(1000)).write(to: truncated)
        XCTAssertThrowsError(try UpscalerModel(contentsOf: truncated))
    }

    func testSettingsAreChecked() {
        var settings = settings(scale: 4)
        settings.patch = 30
        XCTAssertThrowsError(try settings.validate())
        settings = self.settings(scale: 5)
        XCTAssertThrowsError(try settings.validate())
        settings = self.settings()
        settings.featureWeight = 1
        XCTAssertThrowsError(try settings.validate(), "a feature weight needs the perceptual loss")
        XCTAssertThrowsError(try UpscalerNet(architecture: .espcn, scale: 2, parameters: [:]))
    }

    /// The residual network's depth is a setting: a model file says how many blocks it has, and a file from before
    /// the setting (no "blocks" in its metadata) loads with the 6 they all had.
    func testTheResidualNetworksDepthTravelsWithTheModel() throws {
        var settings = settings()
        settings.architecture = .residual
        settings.blocks = 2
        settings.steps = 1
        let training = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil)
        _ = try training.trainStep()
        XCTAssertEqual(training.network.parameters.keys.filter { $0.hasSuffix(".conv1.weight") }.count, 2)
        let file = directory.appendingPathComponent("deep.safetensors")
        try training.model.write(to: file)
        let loaded = try UpscalerModel(contentsOf: file)
        XCTAssertEqual(loaded.network.blocks, 2)
        XCTAssertEqual(loaded.network.parameters, training.network.parameters)
        XCTAssertEqual(loaded.settings, settings)

        let six = try UpscalerNet(architecture: .residual, scale: 2, blocks: UpscalerNet.defaultBlocks, seed: 1)
        var sixSettings = settings
        sixSettings.blocks = UpscalerNet.defaultBlocks
        var old = UpscalerModel(network: six, settings: sixSettings, steps: 0).file
        old.metadata["blocks"] = nil
        let oldFile = directory.appendingPathComponent("old.safetensors")
        try old.write(to: oldFile)
        XCTAssertEqual(try UpscalerModel(contentsOf: oldFile).network.blocks, UpscalerNet.defaultBlocks)

        settings.blocks = 0
        XCTAssertThrowsError(try settings.validate())
        settings = self.settings()
        settings.blocks = 16
        XCTAssertThrowsError(try settings.validate(), "ESPCN has no residual blocks to set")
        XCTAssertThrowsError(try UpscalerTraining(settings: self.settings(), photos: try photos(patch: 32), vgg: nil,
                                                  start: training.network)) { XCTAssert("\($0)".contains("2 blocks"), "\($0)") }
    }

    func testSettingsMissingFromOlderModelFilesTakeTheirDefaults() throws {
        let old = try UpscalerTrainingSettings.fromJSON(#"{"scale":2,"loss":"pixel","steps":3000}"#)
        var expected = UpscalerTrainingSettings(scale: 2, loss: .pixel)
        expected.steps = 3000
        XCTAssertEqual(old, expected)
        XCTAssertEqual(try UpscalerTrainingSettings.fromJSON(expected.json()), expected)
    }

    /// Dihedral augmentation draws all eight mirrors and quarter turns of a crop, and nothing else; mirror only the
    /// crop and its left-right mirror. A square photo as large as the crop makes every crop a symmetry of it.
    func testAugmentationsDrawTheSquaresSymmetries() throws {
        let size = 32
        var generator = SeededGenerator(seed: 9)
        let photo = Image(width: size, height: size, pixels: (0..<3 * size * size).map { _ in Float(generator.next() % 256) })
        try ImageIO.write(photo, to: directory.appendingPathComponent("photo.png").path)
        func symmetries(of crop: [Float]) -> Set<[Float]> {
            func transform(_ pixels: [Float], _ source: (Int, Int) -> (Int, Int)) -> [Float] {
                (0..<3 * size * size).map { index in
                    let (c, row, column) = (index / (size * size), index / size % size, index % size)
                    let (sourceRow, sourceColumn) = source(row, column)
                    return pixels[(c * size + sourceRow) * size + sourceColumn]
                }
            }
            var all: Set<[Float]> = []
            for transposed in [false, true] {
                let turned = transposed ? transform(crop) { ($1, $0) } : crop
                for upsideDown in [false, true] {
                    for mirrored in [false, true] {
                        all.insert(transform(turned) { (upsideDown ? size - 1 - $0 : $0, mirrored ? size - 1 - $1 : $1) })
                    }
                }
            }
            return all
        }
        for (augmentation, expected) in [(PhotoCrops.Augmentation.mirror, 2), (.dihedral, 8)] {
            let crops = try PhotoCrops(directory: directory.path, size: size, augmentation: augmentation)
            let drawn = try Set((0..<20).flatMap { try crops.batch(step: $0, count: 4, seed: 3).map(\.scalars) })
            XCTAssertEqual(drawn.count, expected, "\(augmentation)")
            XCTAssertEqual(symmetries(of: drawn.first!).count, 8, "the test photo has no symmetry of its own")
            XCTAssertTrue(drawn.isSubset(of: symmetries(of: drawn.first!)), "\(augmentation): every crop is a symmetry of the others")
        }
    }

    func testFineTuningStartsFromTheGivenWeights() throws {
        let settings = settings()
        let trained = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil)
        for _ in 0..<2 { _ = try trained.trainStep() }
        let tuned = try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil,
                                         start: trained.network)
        XCTAssertEqual(tuned.step, 0)
        XCTAssertEqual(tuned.network.parameters, trained.network.parameters)
        let other = try UpscalerNet(architecture: .residual, scale: 2, seed: 1)
        XCTAssertThrowsError(try UpscalerTraining(settings: settings, photos: try photos(patch: settings.patch), vgg: nil,
                                                  start: other)) { XCTAssert("\($0)".contains("x2 residual"), "\($0)") }
    }
}

extension Array where Element == Float {
    func withShape(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: self) }
}
