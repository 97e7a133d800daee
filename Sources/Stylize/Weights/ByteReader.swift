/// Reads a byte buffer front to back. Every read checks that enough bytes remain, so a truncated file
/// becomes an error that says where it ended instead of a crash.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remainingCount: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func readByte() throws(TruncatedInput) -> UInt8 {
        try readBytes(1).first!
    }

    mutating func readBytes(_ count: Int) throws(TruncatedInput) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remainingCount else {
            throw TruncatedInput(offset: offset, needed: count, available: remainingCount)
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func readLittleEndian<Integer: FixedWidthInteger>(_: Integer.Type) throws(TruncatedInput) -> Integer {
        var value: Integer = 0
        for (position, byte) in try readBytes(Integer.bitWidth / 8).enumerated() {
            value |= Integer(truncatingIfNeeded: byte) << (8 * position)
        }
        return value
    }

    /// The bytes up to the next newline; the newline is consumed but not returned.
    mutating func readLine() throws(TruncatedInput) -> ArraySlice<UInt8> {
        guard let newline = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) else {
            throw TruncatedInput(offset: offset, needed: remainingCount + 1, available: remainingCount)
        }
        let line = try readBytes(newline - offset)
        offset += 1
        return line
    }
}

struct TruncatedInput: Error, CustomStringConvertible {
    let offset: Int
    let needed: Int
    let available: Int

    var description: String {
        "truncated: needed \(needed) byte(s) at offset \(offset) but only \(available) remain"
    }
}
