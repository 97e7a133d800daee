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

/// The checks every settings type makes of its numbers, each throwing `InvalidInput` for the setting named.
enum Check {
    static func that(_ condition: Bool, _ setting: String, _ problem: @autoclosure () -> String) throws {
        guard condition else { throw InvalidInput(setting, problem()) }
    }

    static func positive(_ value: Int, _ setting: String) throws {
        try that(value > 0, setting, "must be positive, not \(value)")
    }

    static func nonNegative(_ value: Int, _ setting: String) throws {
        try that(value >= 0, setting, "must be >= 0, not \(value)")
    }

    static func positive(_ value: Float, _ setting: String) throws {
        try that(value > 0 && value.isFinite, setting, "must be a positive number, not \(value)")
    }

    static func nonNegative(_ value: Float, _ setting: String) throws {
        try that(value >= 0 && value.isFinite, setting, "must be a non-negative number, not \(value)")
    }
}
