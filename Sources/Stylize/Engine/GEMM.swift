import CDNNL

/// Row-major single-precision matrix product through oneDNN's `dnnl_sgemm`:
/// c = alpha * op(a) * op(b) + beta * c, where op(a) is m x k and op(b) is k x n.
func gemm(_ a: [Float], transposed transposeA: Bool = false, _ b: [Float], transposed transposeB: Bool = false,
          m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0, into c: inout [Float]) {
    precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "gemm operand sizes")
    let lda = transposeA ? m : k
    let ldb = transposeB ? k : n
    let status = a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                dnnl_sgemm(CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")),
                           Int64(m), Int64(n), Int64(k), alpha, a.baseAddress, Int64(lda), b.baseAddress, Int64(ldb),
                           beta, c.baseAddress, Int64(n))
            }
        }
    }
    precondition(status == dnnl_success, "dnnl_sgemm failed: \(status.rawValue)")
}

/// op(a) * op(b) * alpha as a new row-major m x n matrix (its storage is not zeroed first: the product fills it).
func product(_ a: [Float], transposed transposeA: Bool = false, _ b: [Float], transposed transposeB: Bool = false,
             m: Int, n: Int, k: Int, alpha: Float = 1) -> [Float] {
    var c = [Float](unsafeUninitializedCapacity: m * n) { _, initialized in initialized = m * n }
    gemm(a, transposed: transposeA, b, transposed: transposeB, m: m, n: n, k: k, alpha: alpha, into: &c)
    return c
}
