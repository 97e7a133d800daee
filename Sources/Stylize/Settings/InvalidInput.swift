/// Input the library cannot work with: a setting out of its range, a file that is not what it should be, images
/// that do not fit together. Every check of what a caller gives lives in the library and throws this, so that the
/// command line and the server refuse the same things with the same words.
///
/// A message about a setting names the setting as the settings types spell it (`styleScale`), and reads as a sentence
/// after it ("must be a positive number, not -1"); each front end puts the setting in its own words: the command
/// line as its flag (`--style-scale must be ...`), the server as its form field.
public struct InvalidInput: Error, CustomStringConvertible, Equatable {
    /// The setting at fault, as its property is named (`styleScale`), or nil when the input as a whole is.
    public let setting: String?
    public let problem: String

    /// A setting out of range: `problem` continues a sentence that starts with the setting.
    public init(_ setting: String, _ problem: String) {
        self.setting = setting
        self.problem = problem
    }

    /// Input that is wrong as a whole: `problem` is the whole sentence.
    public init(_ problem: String) {
        setting = nil
        self.problem = problem
    }

    /// "style scale must be a positive number, not -1"
    public var description: String { setting.map { "\(Self.words($0)) \(problem)" } ?? problem }

    /// The message as the command line and the server print it: the setting as its long option, `--style-scale must
    /// be ...` (the server's form fields have the same names without the dashes), or as `flags` names it where a
    /// front end spells it otherwise (`learningRate`: `lr`).
    public func message(flags: [String: String] = [:]) -> String {
        setting.map { "--\(flags[$0] ?? Self.kebab($0)) \(problem)" } ?? problem
    }

    /// `styleScale` -> "style scale"; `lbfgsHistory` -> "lbfgs history".
    public static func words(_ setting: String) -> String { split(setting).joined(separator: " ") }

    /// `styleScale` -> "style-scale": the command line's long option for a setting (swift-argument-parser's rule).
    public static func kebab(_ setting: String) -> String { split(setting).joined(separator: "-") }

    private static func split(_ name: String) -> [String] {
        var words: [String] = [""]
        for character in name {
            if character.isUppercase && !words[words.count - 1].isEmpty { words.append("") }
            words[words.count - 1].append(character.lowercased())
        }
        return words
    }
}

/// The checks every settings type (and a front end's own options) makes of its numbers, each throwing `InvalidInput`
/// for the setting named.
public enum Check {
    public static func that(_ condition: Bool, _ setting: String, _ problem: @autoclosure () -> String) throws {
        guard condition else { throw InvalidInput(setting, problem()) }
    }

    public static func positive(_ value: Int, _ setting: String) throws {
        try that(value > 0, setting, "must be positive, not \(value)")
    }

    public static func nonNegative(_ value: Int, _ setting: String) throws {
        try that(value >= 0, setting, "must be >= 0, not \(value)")
    }

    public static func positive(_ value: Float, _ setting: String) throws {
        try that(value > 0 && value.isFinite, setting, "must be a positive number, not \(value)")
    }

    public static func nonNegative(_ value: Float, _ setting: String) throws {
        try that(value >= 0 && value.isFinite, setting, "must be a non-negative number, not \(value)")
    }
}

/// The bounds every number from a user or a file is held to before any arithmetic is done with it, so that no size
/// overflows, no allocation aborts and nothing runs for days by mistake. Each is far beyond what a run on these
/// machines could use.
public enum Limits {
    /// Images with more pixels than this are refused unless the caller raises `maxPixels`.
    public static let defaultMaxPixels = 50_000_000
    /// The most `maxPixels` may be raised to: 2^32 pixels, 48 GiB as float32 RGB.
    public static let largestMaxPixels = 1 << 32
    /// No image side beyond this, whatever the pixel limit.
    public static let largestSide = 1 << 17
    /// Gaussian blurs: the kernel spans 6 sigma, so a wider one costs minutes and smooths any image to one colour.
    public static let largestBlur: Float = 1000
    /// Iterations, training steps and the like.
    public static let largestCount = 100_000_000
    /// Images per training step.
    public static let largestBatch = 1024

    /// Checks that a `width` x `height` image is within the pixel limit, in arithmetic that cannot overflow; `what`
    /// names the image in the message ("the output", "the padded photo"), `setting` what to change: "maxPixels" where
    /// the caller can raise the limit, else the setting that made the image so large.
    public static func checkPixels(width: Int, height: Int, maxPixels: Int, setting: String, what: String) throws {
        try Check.that(width > 0 && height > 0, setting, "makes \(what) \(width)x\(height)")
        try Check.that(width <= largestSide && height <= largestSide, setting,
                       "makes \(what) \(width)x\(height), beyond the largest side of \(largestSide) pixels")
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        // Blamed on the limit where the caller can raise it, else on the setting that made the image so large.
        try Check.that(!overflow && pixels <= maxPixels, setting, setting == "maxPixels"
                       ? "\(maxPixels) is below the \(width)x\(height) pixels of \(what)"
                       : "makes \(what) \(width)x\(height), more than the pixel limit of \(maxPixels)")
    }

    /// The pixel limit itself.
    public static func checkMaxPixels(_ maxPixels: Int) throws {
        try Check.that((1...largestMaxPixels).contains(maxPixels), "maxPixels", "must be between 1 and \(largestMaxPixels), not \(maxPixels)")
    }
}

extension Check {
    public static func range<T: Comparable>(_ value: T, _ bounds: ClosedRange<T>, _ setting: String) throws {
        try that(bounds.contains(value), setting, "must be between \(bounds.lowerBound) and \(bounds.upperBound), not \(value)")
    }

    public static func blur(_ sigma: Float, _ setting: String) throws {
        try that(sigma >= 0 && sigma <= Limits.largestBlur, setting, "must be between 0 and \(Limits.largestBlur) pixels, not \(sigma)")
    }
}
