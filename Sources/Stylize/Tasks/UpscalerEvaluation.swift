/// An upscaler against bicubic on held-back photos, as super-resolution papers measure it: each photo is halved (as
/// the training photos are), cropped to a multiple of the scale, degraded, upscaled back both ways and compared with
/// itself on the Y channel with `scale` pixels cropped from every border. Besides PSNR and SSIM, two measures relative
/// to the original that PSNR misses: sharpness (mean absolute gradient) and hatching (power at the harmonics of the
/// sub-pixel grid's period, the scale).
public struct UpscalerEvaluation: Sendable {
    public struct Scores: Sendable {
        public let psnr: Double
        public let ssim: Double
        /// `ImageQuality.meanAbsoluteGradient` and `periodicPower` (period: the scale), over the original's.
        public let sharpness: Double
        public let periodic: Double
    }

    public struct Row: Sendable {
        public let name: String
        public let network: Scores
        public let bicubic: Scores
        /// The original's mean absolute gradient and periodic power, which the ratios divide by.
        let truth: (gradient: Double, periodic: Double)
    }

    public let rows: [Row]
    /// Photos too small to measure (a few pixels after halving and shrinking), with why.
    public let skipped: [(name: String, reason: String)]

    /// PSNR and SSIM averaged over the photos; sharpness and periodic power summed over them before dividing by the
    /// originals' sums, so that a smooth photo with next to no power of its own cannot dominate the ratio.
    public var meanNetwork: Scores { mean(\.network) }
    public var meanBicubic: Scores { mean(\.bicubic) }

    /// - Parameter photos: (name, image) pairs, full size; each is halved first.
    /// - Parameter each: called with every photo's result as it is done (progress, saving pictures).
    public init(upscaler: Upscaler, photos: [(name: String, image: Image)],
                each: (Row, _ truth: Image, _ upscaled: Image, _ bicubic: Image) throws -> Void = { _, _, _, _ in }) throws {
        let scale = upscaler.scale
        var rows: [Row] = []
        var skipped: [(name: String, reason: String)] = []
        for (name, photo) in photos {
            // The low-resolution image at least 8 pixels a side, and the truth larger than SSIM's window and the border.
            guard min(photo.width, photo.height) / 2 >= Self.smallestSide(scale: scale) else {
                skipped.append((name, "\(photo.width)x\(photo.height) is too small: its short side should be at least \(2 * Self.smallestSide(scale: scale)) px"))
                continue
            }
            let truth = Self.groundTruth(photo, scale: scale)
            let low = Upscaler.degrade(truth, scale: scale)
            let upscaled = try upscaler.upscale(low), bicubic = Upscaler.bicubic(low, scale: scale)
            let original = (gradient: ImageQuality.meanAbsoluteGradient(truth, border: scale),
                            periodic: ImageQuality.periodicPower(truth, period: scale, border: scale))
            func scores(_ image: Image) -> Scores {
                Scores(psnr: ImageQuality.psnr(image, truth, border: scale), ssim: ImageQuality.ssim(image, truth, border: scale),
                       sharpness: ImageQuality.meanAbsoluteGradient(image, border: scale) / original.gradient,
                       periodic: ImageQuality.periodicPower(image, period: scale, border: scale) / original.periodic)
            }
            let row = Row(name: name, network: scores(upscaled), bicubic: scores(bicubic), truth: original)
            try each(row, truth, upscaled, bicubic)
            rows.append(row)
        }
        guard !rows.isEmpty else {
            throw InvalidInput("photos", "has no photo large enough to measure: \(skipped.prefix(3).map { "\($0.name) \($0.reason)" }.joined(separator: "; "))")
        }
        self.rows = rows
        self.skipped = skipped
    }

    /// The smallest side of a halved photo that can be measured at `scale`.
    static func smallestSide(scale: Int) -> Int { 16 * scale }

    /// The photo halved, then cropped (top left kept) to sides that are multiples of `scale`.
    public static func groundTruth(_ photo: Image, scale: Int) -> Image {
        let halved = photo.halved()
        return halved.cropped(top: 0, left: 0, height: halved.height / scale * scale, width: halved.width / scale * scale)
    }

    private func mean(_ scores: KeyPath<Row, Scores>) -> Scores {
        let n = Double(max(rows.count, 1))
        func total(_ value: (Row) -> Double) -> Double { rows.map(value).reduce(0, +) }
        return Scores(psnr: total { $0[keyPath: scores].psnr } / n, ssim: total { $0[keyPath: scores].ssim } / n,
                      sharpness: total { $0[keyPath: scores].sharpness * $0.truth.gradient } / total(\.truth.gradient),
                      periodic: total { $0[keyPath: scores].periodic * $0.truth.periodic } / total(\.truth.periodic))
    }
}
