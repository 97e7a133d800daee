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
            for (name, url) in models {
                do {
                    let model = try StyleModel(contentsOf: url)
                    print("\(name)\tstyle \(model.settings.style), width \(model.network.width), \(model.steps) steps of \(model.settings.batch) at \(model.settings.size) px\t\(url.path)")
                } catch {
                    print("\(name)\tunreadable: \(error)")
                }
            }
            for (name, url) in upscalers {
                do {
                    let model = try UpscalerModel(contentsOf: url)
                    print("\(name)\tupscaler x\(model.network.scale), \(model.network.architecture), \(model.settings.loss) loss, \(model.steps) steps of \(model.settings.batch) at \(model.settings.patch) px\t\(url.path)")
                } catch {
                    print("\(name)\tunreadable: \(error)")
                }
            }
        }
    }
}
