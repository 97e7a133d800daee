import Foundation

/// The one place that reinterprets raw bytes as floats and back. Weight files store float32 little-endian;
/// copying whole buffers keeps converting tens of millions of weights fast even in debug builds.
enum Float32LittleEndian {
    static func decode(_ bytes: some ContiguousBytes) -> [Float] {
        bytes.withUnsafeBytes { raw in
            precondition(raw.count.isMultiple(of: 4), "\(raw.count) bytes are not a whole number of float32s")
            var values = [Float](repeating: 0, count: raw.count / 4)
            values.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
            #if _endian(big)
            values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
            #endif
            return values
        }
    }

    static func append(_ values: [Float], to data: inout Data) {
        #if _endian(big)
        let values = values.map { Float(bitPattern: $0.bitPattern.littleEndian) }
        #endif
        values.withUnsafeBufferPointer { data.append($0) }
    }
}

/// The number of elements of a tensor of this shape, or nil if a size is negative or the product overflows
/// (as it can in a corrupt file).
func checkedElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for size in shape {
        guard size >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { return nil }
        count = product
    }
    return count
}
