import CDNNL
import Foundation

// The thin layer over oneDNN's C API, by idea: this file has the process-wide part (errors, the engine and
// its stream, threads, the allocator policy); Memory.swift the buffers and their layouts; Primitive.swift compiled
// primitives, reorders, attributes and the shared scratchpad; one file per kind of layer after that. Every call into
// oneDNN and every C pointer it takes lives in this folder; the networks and objectives above it see `Tensor`s and
// `Memory` objects only. (Above it, a few plain loops over Swift arrays use unsafe buffer pointers for speed:
// Adam, total variation, image quality, the upscaler's tiles; none of them calls C.)

public struct EngineError: Error, CustomStringConvertible {
    public let description: String
}

/// Turns a oneDNN status into a Swift error naming the call that failed.
@inline(__always)
func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    guard status == dnnl_success else {
        throw EngineError(description: "oneDNN \(what()) failed with status \(status.rawValue)")
    }
}

/// The process-wide CPU engine and its in-order stream. oneDNN primitives are executed one after another on
/// this stream; parallelism happens inside each primitive (OpenMP).
public enum DNNL {
    nonisolated(unsafe) static let engine: dnnl_engine_t = {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        precondition(status == dnnl_success, "cannot create oneDNN's CPU engine")
        return engine!
    }()

    nonisolated(unsafe) static let stream: dnnl_stream_t = {
        var stream: dnnl_stream_t?
        let status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue)
        precondition(status == dnnl_success, "cannot create oneDNN's stream")
        return stream!
    }()

    /// Sets the number of threads every primitive (and `gemm`) uses.
    public static func setThreads(_ count: Int) {
        omp_set_num_threads(Int32(max(1, count)))
    }

    public static var threads: Int { Int(omp_get_max_threads()) }

    /// Hands the heap's free pages back to the kernel: what setting up freed (the weights as loaded, the files
    /// read) before the long loop, which would otherwise count in the process's memory to the end.
    public static func returnFreedMemory() {
        #if os(Linux)
        malloc_trim(0)
        #endif
    }

    /// glibc hands blocks over 32 MB back to the kernel when they are freed, so large arrays made every
    /// iteration (the image-sized vectors, from about 1700 px) would be faulted in and zeroed anew each time.
    /// Keeping freed memory in the process saves that time; the large, long-lived buffers (`Buffer`) are mapped
    /// on their own and go back to the kernel when freed, so they never leave holes that a later, equal buffer
    /// cannot reuse.
    public static func keepFreedMemory() {
        #if os(Linux)
        mallopt(M_MMAP_THRESHOLD, 1 << 30)
        mallopt(M_TRIM_THRESHOLD, Int32.max)
        #endif
    }
}
