import ArgumentParser
import Foundation
import Stylize

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the bundled style models and upscalers, which `apply` and `upscale` take by name.",
        discussion: "They are looked up in $STYLIZE_MODELS, then in the checkout's models/ folder."
    )

    func run() throws {
        try runReportingErrors {
            let models = BundledModels.all()
            let upscalers = BundledModels.all(.upscaler)
            guard !models.isEmpty || !upscalers.isEmpty else {
                print("no bundled models in \(BundledModels.directories().map(\.path).joined(separator: ", "))")
                return
            }
            list(models) { url in
                let model = try StyleModel(contentsOf: url)
                return "style \(model.settings.style), width \(model.network.width), \(model.steps) steps of \(model.settings.batch) at \(model.settings.size) px\(startedFrom(model.settings))"
                    + (model.settings.distilledFrom.map { ", distilled from \($0)" } ?? "")
            }
            list(upscalers) { url in
                let model = try UpscalerModel(contentsOf: url)
                return "upscaler \(model.network.description), \(model.settings.loss) loss, \(model.steps) steps of \(model.settings.batch) at \(model.settings.patch) px\(startedFrom(model.settings))"
            }
        }
    }

    private func startedFrom(_ settings: some RecordedSettings) -> String {
        settings.startedFrom.map { " from \($0)" } ?? ""
    }

    /// One line per model: its name, what `describe` says of its file (or why the file cannot be read), its path.
    private func list(_ models: [(name: String, url: URL)], describe: (URL) throws -> String) {
        for (name, url) in models {
            do {
                print("\(name)\t\(try describe(url))\t\(url.path)")
            } catch {
                print("\(name)\tunreadable: \(error)")
            }
        }
    }
}
