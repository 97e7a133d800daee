import Foundation

/// The models that ship with stylize, in the repository's `models/` folder, found by name: style models at its top
/// (`starry-night` is `models/starry-night.safetensors`), upscalers in `models/upscalers/` (`x4` is
/// `models/upscalers/x4.safetensors`).
public enum BundledModels {
    public enum Kind: String, Sendable {
        case style, upscaler

        var subfolder: String? { self == .upscaler ? "upscalers" : nil }
    }

    /// Where to look, in order: $STYLIZE_MODELS, the `models/` of the checkout the executable was built in (the
    /// nearest folder above it holding a Package.swift), `share/stylize/models` beside an installed `bin/`, and
    /// `./models`.
    public static func directories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        var directories: [URL] = []
        if let custom = environment["STYLIZE_MODELS"], !custom.isEmpty { directories.append(URL(fileURLWithPath: custom)) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var folder = executable
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
                directories.append(folder.appendingPathComponent("models"))
                break
            }
            folder = folder.deletingLastPathComponent()
        }
        directories.append(executable.appendingPathComponent("../share/stylize/models").standardized)
        directories.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models"))
        return directories
    }

    /// Every bundled model's name and file, sorted by name; the first directory holding a name wins.
    public static func all(_ kind: Kind = .style) -> [(name: String, url: URL)] {
        var found: [String: URL] = [:]
        for directory in directories().map({ kind.subfolder.map($0.appendingPathComponent) ?? $0 }) {
            let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
            for file in files where file.pathExtension == "safetensors" && !file.lastPathComponent.contains(".checkpoint.") {
                let name = file.deletingPathExtension().lastPathComponent
                if found[name] == nil { found[name] = file }
            }
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// A model file path as given, or a bundled model's name.
    public static func locate(_ nameOrPath: String, _ kind: Kind = .style) throws -> URL {
        if FileManager.default.fileExists(atPath: nameOrPath) { return URL(fileURLWithPath: nameOrPath) }
        if let bundled = all(kind).first(where: { $0.name == nameOrPath }) { return bundled.url }
        let names = all(kind).map(\.name)
        throw InvalidInput("no model file or bundled \(kind) model named '\(nameOrPath)'" +
                          (names.isEmpty ? " (no bundled models found)" : "; bundled: \(names.joined(separator: ", "))"))
    }
}
