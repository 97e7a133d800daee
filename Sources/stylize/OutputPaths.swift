import ArgumentParser
import Foundation
import Stylize

/// What keeps a command from destroying its own inputs or its earlier work: no output may be one of the inputs or
/// another output (after following links), whatever the flags name them.
enum OutputPaths {
    /// The file a path names, links resolved, for comparing.
    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Refuses when an output (flag, path) is one of `inputs` or names the same file as another output.
    static func checkDistinct(outputs: [(flag: String, path: String)], inputs: [String]) throws {
        let inputFiles = Set(inputs.map(canonical))
        var seen: [String: String] = [:]
        for (flag, path) in outputs {
            let file = canonical(path)
            guard !inputFiles.contains(file) else {
                throw ValidationError("\(flag) \(path) is one of the inputs; it would be overwritten")
            }
            if let other = seen[file] { throw ValidationError("\(flag) and \(other) name the same file, \(path)") }
            seen[file] = flag
        }
    }

    /// One output per input in `folder`, named after the input as PNG; inputs that share a name but not an
    /// extension (a.jpg, a.png) keep it apart (a-jpg.png, a-png.png), so that no result replaces another.
    static func inFolder(_ folder: String, for inputs: [String]) -> [String] {
        let stems = inputs.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        let counts = Dictionary(stems.map { ($0, 1) }, uniquingKeysWith: +)
        return zip(inputs, stems).map { input, stem in
            let ext = URL(fileURLWithPath: input).pathExtension
            let name = counts[stem]! > 1 && !ext.isEmpty ? "\(stem)-\(ext.lowercased())" : stem
            return URL(fileURLWithPath: folder).appendingPathComponent(name + ".png").path
        }
    }
}
