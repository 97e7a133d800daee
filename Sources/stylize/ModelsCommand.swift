import ArgumentParser
import Foundation
import Stylize

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the bundled style models, which `apply` takes by name.",
        discussion: "They are looked up in $STYLIZE_MODELS, then in the checkout's models/ folder."
    )

    func run() throws {
        try runReportingErrors {
            let models = BundledModels.all()
            guard !models.isEmpty else {
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
        }
    }
}
