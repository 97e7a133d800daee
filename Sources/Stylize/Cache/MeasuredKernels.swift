import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the measurements found, by layer shape, for the life of the process, and between runs in a small JSON
/// file once `keep(in:)` names one (measuring costs a few iterations' time). Each entry is only valid for the
/// CPU, instruction set and thread count that measured it, which are part of its key, so a file copied to
/// another machine is not trusted.
public enum MeasuredKernels {
    /// A convolution's float32 direct or Winograd kernel, or its bf16 one; for a whole network (`CompiledNetwork`),
    /// fp32 or bf16.
    enum Kernel: String, CaseIterable { case direct, winograd, bf16, fp32 }

    private static let state = Mutex<(file: URL?, seconds: [String: [String: Double]])>((nil, [:]))

    /// The file `stylize` keeps the measurements in, under the cache directory.
    public static let fileName = "convolution-timings.json"

    /// Loads earlier measurements from `file` (if it is there) and saves new ones to it.
    public static func keep(in file: URL) {
        let saved = (try? Data(contentsOf: file)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: [String: Double]] }
        state.withLock { $0 = (file, (saved ?? [:]).merging($0.seconds) { _, new in new }) }
    }

    private static func context(_ key: String) -> String {
        "\(key) t\(DNNL.threads) \(Precision.dispatchedISA) \(Precision.cpuModel)"
    }

    static func lookup(_ key: String) -> [Kernel: Double] {
        let saved = state.withLock { $0.seconds[context(key)] } ?? [:]
        // JSON has no infinity: a kernel that cannot run is saved as a negative time.
        return Dictionary(uniqueKeysWithValues: saved.compactMap { name, value in
            Kernel(rawValue: name).map { ($0, value < 0 ? .infinity : value) }
        })
    }

    static func record(_ key: String, _ seconds: [Kernel: Double]) {
        let entry = Dictionary(uniqueKeysWithValues: seconds.map { ($0.key.rawValue, $0.value.isFinite ? $0.value : -1) })
        let (file, all, changed) = state.withLock { state -> (URL?, [String: [String: Double]], Bool) in
            let changed = state.seconds[context(key)] != entry
            state.seconds[context(key)] = entry
            return (state.file, state.seconds, changed)
        }
        guard changed, let file,
              let data = try? JSONSerialization.data(withJSONObject: all, options: [.sortedKeys, .prettyPrinted]) else { return }
        // A lost race between two processes only costs a measurement; a half-written file is never read.
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid()).tmp")
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if (try? data.write(to: temporary)) == nil || rename(temporary.path, file.path) != 0 { unlink(temporary.path) }
    }
}
