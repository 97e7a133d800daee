import CDNNL

// The few loops stylize runs outside oneDNN, on the OpenMP threads its primitives use (`DNNL.threads`).

/// Splits 0..<count into one contiguous range per thread; a thread gets at least `least` of them (elementwise loops:
/// enough values to be worth waking it).
func inParallel(_ count: Int, least: Int = 4096, _ body: (Range<Int>) -> Void) {
    let threads = max(1, min(DNNL.threads, count / least))
    guard threads > 1 else { return body(0..<count) }
    // The loops only touch disjoint ranges of buffers that outlive the call.
    withoutActuallyEscaping(body) { body in
        var work = ParallelWork(count: count, body: body)
        GOMP_parallel({ work in
            let work = work!.assumingMemoryBound(to: ParallelWork.self).pointee
            let (thread, threads) = (Int(omp_get_thread_num()), Int(omp_get_num_threads()))
            work.body((work.count * thread / threads)..<(work.count * (thread + 1) / threads))
        }, &work, UInt32(threads), 0)
    }
}

/// What each OpenMP thread of `inParallel` is handed.
private struct ParallelWork {
    let count: Int
    let body: (Range<Int>) -> Void
}

/// `items.map(transform)`, the items shared out between the threads: for independent pieces of work each worth
/// a thread's wake-up (a training batch's images).
func parallelMap<Item, Result>(_ items: [Item], _ transform: (Item) -> Result) -> [Result] {
    [Result](unsafeUninitializedCapacity: items.count) { buffer, initialized in
        // Each index is written once, by the one thread whose range holds it.
        nonisolated(unsafe) let buffer = buffer
        inParallel(items.count, least: 1) { range in
            for index in range { (buffer.baseAddress! + index).initialize(to: transform(items[index])) }
        }
        initialized = items.count
    }
}
