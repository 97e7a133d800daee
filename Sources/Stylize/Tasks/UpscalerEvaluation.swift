/// PSNR and SSIM of an upscaler against bicubic on held-back photos, as super-resolution papers measure them: each
/// photo is halved (as the training photos are), cropped to a multiple of the scale, degraded, upscaled back both
/// ways and compared with itself on the Y channel with `scale` pixels cropped from every border.
public struct UpscalerEvaluation: Sendable {
    public struct Row: Sendable {
        public let name: String
        public let network: (psnr: Double, ssim: Double)
        public let bicubic: (psnr: Double, ssim: Double)
    }

    public let rows: [Row]
    /// Photos too small to measure (a few pixels after halving and shrinking), with why.
    public let skipped: [(name: String, reason: String)]

    public var meanNetwork: (psnr: Double, ssim: Double) { Self.mean(rows.map(\.network)) }
    public var meanBicubic: (psnr: Double, ssim: Double) { Self.mean(rows.map(\.bicubic)) }

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
            let row = Row(name: name,
                          network: (ImageQuality.psnr(upscaled, truth, border: scale), ImageQuality.ssim(upscaled, truth, border: scale)),
                          bicubic: (ImageQuality.psnr(bicubic, truth, border: scale), ImageQuality.ssim(bicubic, truth, border: scale)))
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

    private static func mean(_ values: [(psnr: Double, ssim: Double)]) -> (psnr: Double, ssim: Double) {
        let n = Double(max(values.count, 1))
        return (values.map(\.psnr).reduce(0, +) / n, values.map(\.ssim).reduce(0, +) / n)
    }
}
