import Foundation
import Stylize

/// The example images that ship with stylize (the checkout's `examples/`, beside its `models/`): the page offers them
/// as styles to pick and a transfer job may name one (`style=starry-night`) instead of uploading it.
public enum Examples {
    public static func all() -> [(name: String, path: String)] {
        var found: [String: String] = [:]
        for models in BundledModels.directories() {
            let folder = models.deletingLastPathComponent().appendingPathComponent("examples")
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
                let url = folder.appendingPathComponent(file)
                guard PhotoCrops.extensions.contains(url.pathExtension.lowercased()) else { continue }
                let name = url.deletingPathExtension().lastPathComponent
                if found[name] == nil { found[name] = url.path }
            }
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public static func path(of name: String) -> String? {
        all().first { $0.name == name }?.path
    }
}
