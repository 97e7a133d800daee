import ArgumentParser
import Foundation
import Stylize
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One line on standard error.
func stderr(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// "1 photo", "364 photos".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// Runs `body`, turning any error into one line on stderr and a non-zero exit, as a command-line tool should. The
/// library names a setting as its settings type does (`styleScale`); here it becomes the flag (`--style-scale`),
/// or the flag `flags` gives for it where a command spells it otherwise (`learningRate`: `lr`). Commands with a
/// --max-pixels option list it in `flags`, and an image over the limit then says to raise it.
func runReportingErrors(flags: [String: String] = [:], _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch VGG19WeightsError.cancelled {
        stderr("stylize: interrupted; the VGG19 weights were not installed")
        throw ExitCode(130)
    } catch let error as Interrupted {
        stderr("stylize: interrupted; \(error.message)")
        throw ExitCode(130)
    } catch let error as InvalidInput {
        stderr("stylize: error: \(error.message(flags: flags))")
        throw ExitCode.failure
    } catch {
        var hint = ""
        if case ImageError.tooLarge = error, flags["maxPixels"] != nil { hint = "; raise it with --max-pixels" }
        stderr("stylize: error: \(error)\(hint)")
        throw ExitCode.failure
    }
}

/// The library's checks in a command's `validate()`: their refusal as swift-argument-parser's, naming the flag.
func validating(flags: [String: String] = [:], _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as InvalidInput {
        throw ValidationError(error.message(flags: flags))
    }
}


/// The knobs every long-running command has: how many threads do the math, and whether to show progress.
struct MachineOptions: ParsableArguments {
    @Option(help: "Threads for the math (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress bar or notes; errors only.")
    var quiet = false

    @Option(help: "Number format of the networks' convolutions: fp32, bf16 (several times faster on CPUs with bf16 units such as Intel AMX; about 3 significant digits, sums kept in fp32), or auto: bf16 where this CPU runs it natively and it measures faster, else fp32.")
    var precision = Precision.auto

    func validate() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let threads, !(1...cores).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(cores), the cores of this machine, not \(threads)")
        }
    }

    /// Sets up oneDNN's threads, the allocator and the signals before any work.
    func configure() {
        catchInterrupts()
        if let threads { DNNL.setThreads(threads) }
        DNNL.keepFreedMemory()
        // `auto` algorithms and precisions measure kernels once per shape; remember them between runs.
        MeasuredKernels.keep(in: VGG19Weights.cacheDirectory().appendingPathComponent(MeasuredKernels.fileName))
    }
}

/// Set by Ctrl-C, SIGTERM or SIGHUP: long loops poll it and stop cleanly, saving what they have (a second signal
/// ends the process at once).
let interrupted = Atomic<Bool>(false)

func catchInterrupts() {
    for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
        signal(signalNumber) { _ in
            if interrupted.exchange(true, ordering: .relaxed) { _exit(130) }
        }
    }
}

/// Thrown where a command stops for a signal; `runReportingErrors` turns it into exit status 130 and its message.
struct Interrupted: Error {
    let message: String
}

/// A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal.
struct ProgressBar {
    let total: Int
    let enabled: Bool
    private var lastDraw = 0.0

    init(total: Int, quiet: Bool) {
        self.total = total
        enabled = !quiet && isatty(STDERR_FILENO) != 0
    }

    /// `detail` is only made when the bar is drawn (at most ten times a second), not on every step.
    mutating func update(_ done: Int, seconds: Double, detail: @autoclosure () -> String) {
        guard enabled, seconds - lastDraw >= 0.1 || done == total else { return }
        lastDraw = seconds
        let width = 24
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let perStep = done > 0 ? seconds / Double(done) : 0
        let left = done > 0 ? " ~\(Self.duration(perStep * Double(total - done))) left" : ""
        let line = "\r\(bar) \(done)/\(total) \(detail()) \(String(format: "%.2f", perStep)) s/it\(left)"
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}

/// Appends one JSON object per line, written through at once so that a crash or Ctrl-C keeps the log.
final class JSONLinesLog {
    private let handle: FileHandle

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) , let handle = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("cannot write the log file \(path)")
        }
        self.handle = handle
    }

    private init(handle: FileHandle) { self.handle = handle }

    /// Keeps what the file already holds and writes after it (a resumed run); creates it if it does not exist.
    static func appending(to path: String) throws -> JSONLinesLog {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write the log file \(path)") }
        handle.seekToEndOfFile()
        return JSONLinesLog(handle: handle)
    }

    func write(_ fields: [(String, Any)]) {
        let body = fields.map { key, value in
            let text: String
            switch value {
            case let d as Double: text = d.isFinite ? "\(d)" : "null"
            case let s as String: text = "\"\(s)\""
            default: text = "\(value)"
            }
            return "\"\(key)\":\(text)"
        }
        handle.write(Data(("{" + body.joined(separator: ",") + "}\n").utf8))
    }

    deinit { try? handle.close() }
}
