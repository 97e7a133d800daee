import Foundation

/// Named float32 tensors in the safetensors format (https://huggingface.co/docs/safetensors), which stylize keeps
/// all its weights in. A file is: the header's length N (unsigned 64-bit little-endian), N bytes of JSON header,
/// then the tensors' bytes. The header maps each tensor's name to
/// `{"data_offsets":[begin,end],"dtype":"F32","shape":[...]}`, with offsets counted from the start of the data,
/// and may hold `"__metadata__"`, an object of strings.
///
/// Writing is deterministic, so equal tensors give byte-identical files and a checksum can be recorded: the JSON has
/// its keys sorted and no whitespace (it equals Python's `json.dumps(header, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)`), padded with spaces to a multiple of 8 bytes, and the data follows in name order.
public struct SafetensorsFile: Sendable, Equatable {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public init(contentsOf url: URL) throws {
        try self.init(serialized: try readFile(url))
    }

    /// Writes to a temporary file beside `url` and renames it, so a crash never leaves a half-written file.
    public func write(to url: URL) throws {
        let data = try serialized()
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw InvalidInput("cannot write \(url.path): \(fileSystemReason(error))")
        }
    }

    static let metadataKey = "__metadata__"

    // MARK: Writing

    public func serialized() throws -> Data {
        let names = tensors.keys.sorted(by: Self.byUTF8)
        if names.contains(Self.metadataKey) { throw SafetensorsError.reservedName(Self.metadataKey) }

        var headerEntries: [(key: String, json: String)] = []
        var dataSize = 0
        for name in names {
            let tensor = tensors[name]!
            let end = dataSize + tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            headerEntries.append((name, #"{"data_offsets":[\#(dataSize),\#(end)],"dtype":"F32","shape":[\#(shape)]}"#))
            dataSize = end
        }
        if !metadata.isEmpty {
            let fields = metadata.sorted { Self.byUTF8($0.key, $1.key) }
                .map { Self.jsonString($0.key) + ":" + Self.jsonString($0.value) }
            headerEntries.append((Self.metadataKey, "{" + fields.joined(separator: ",") + "}"))
        }
        headerEntries.sort { Self.byUTF8($0.key, $1.key) }
        var header = "{" + headerEntries.map { Self.jsonString($0.key) + ":" + $0.json }.joined(separator: ",") + "}"
        // Padding keeps the data 8-byte aligned when the file is memory-mapped, as the reference implementation does.
        header += String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)

        var data = Data(capacity: 8 + header.utf8.count + dataSize)
        let headerLength = UInt64(header.utf8.count)
        data.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: headerLength >> (8 * $0)) })
        data.append(contentsOf: Array(header.utf8))
        for name in names {
            Float32LittleEndian.append(tensors[name]!.scalars, to: &data)
        }
        return data
    }

    /// Code point order, as Python's `sort_keys` sorts. Swift's `<` on strings compares them normalized,
    /// which orders some names differently.
    private static func byUTF8(_ first: String, _ second: String) -> Bool {
        first.utf8.lexicographicallyPrecedes(second.utf8)
    }

    private static func jsonString(_ string: String) -> String {
        var escaped = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case "\u{08}": escaped += "\\b"
            case "\u{0C}": escaped += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }

    // MARK: Reading

    public init(serialized data: Data) throws {
        guard data.count >= 8 else {
            throw SafetensorsError.truncated("the file has \(data.count) bytes, fewer than the 8 of the header's length")
        }
        let headerLength = data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw SafetensorsError.truncated("the header should have \(headerLength) bytes but only \(data.count - 8) follow")
        }
        let headerBytes = data.dropFirst(8).prefix(Int(headerLength))
        // A check the JSON decoder would make anyway, but this says plainly that the file is not safetensors.
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SafetensorsError.corruptHeader("it does not start with '{'")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch {
            throw SafetensorsError.corruptHeader(Self.describe(error))
        }

        let dataStart = data.startIndex + 8 + Int(headerLength)
        let dataSize = data.endIndex - dataStart
        let layout = try header.entries.map { name, entry in try TensorLayout(name: name, entry: entry) }
            .sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        if let farthest = layout.max(by: { $0.end < $1.end }), farthest.end > dataSize {
            throw SafetensorsError.truncated(
                "tensor '\(farthest.name)' ends at byte \(farthest.end) of the data but the file holds only \(dataSize)")
        }
        // The reference implementation also insists on this: data exactly tiled by the tensors, so no byte is
        // shared by two tensors or hidden between them.
        var expectedBegin = 0
        for tensor in layout {
            guard tensor.begin == expectedBegin else {
                throw SafetensorsError.inconsistentData(
                    "tensor '\(tensor.name)' starts at byte \(tensor.begin) of the data where byte \(expectedBegin) " +
                    "was expected: tensors must follow each other without gaps or overlaps")
            }
            expectedBegin = tensor.end
        }
        guard expectedBegin == dataSize else {
            throw SafetensorsError.inconsistentData("\(dataSize - expectedBegin) unused bytes after the last tensor")
        }

        var tensors: [String: Tensor] = [:]
        for tensor in layout {
            let bytes = data[dataStart + tensor.begin..<dataStart + tensor.end]
            tensors[tensor.name] = Tensor(shape: tensor.shape, scalars: Float32LittleEndian.decode(bytes))
        }
        self.init(tensors: tensors, metadata: header.metadata)
    }

    /// The header as JSON gives it; the names of the tensors are keys beside `__metadata__`.
    private struct Header: Decodable {
        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]

            enum CodingKeys: String, CodingKey {
                case dtype, shape
                case dataOffsets = "data_offsets"
            }
        }

        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == SafetensorsFile.metadataKey {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try container.decode(Entry.self, forKey: key)
                }
            }
        }
    }

    /// Where one tensor's bytes are in the data, once its header entry has been checked.
    private struct TensorLayout {
        let name: String
        let shape: [Int]
        let begin: Int
        let end: Int

        init(name: String, entry: Header.Entry) throws {
            guard entry.dtype == "F32" else { throw SafetensorsError.unsupportedDType(tensor: name, dtype: entry.dtype) }
            // Four bytes per float32, counted as one more dimension so that overflow is checked too.
            guard let byteCount = checkedElementCount(entry.shape + [4]) else {
                throw SafetensorsError.inconsistentData("tensor '\(name)' has an impossible shape \(entry.shape)")
            }
            guard entry.dataOffsets.count == 2, entry.dataOffsets[0] >= 0, entry.dataOffsets[0] <= entry.dataOffsets[1],
                  entry.dataOffsets[1] - entry.dataOffsets[0] == byteCount else {
                throw SafetensorsError.inconsistentData(
                    "tensor '\(name)' of shape \(entry.shape) needs \(byteCount) bytes but its data_offsets are \(entry.dataOffsets)")
            }
            self.name = name
            self.shape = entry.shape
            self.begin = entry.dataOffsets[0]
            self.end = entry.dataOffsets[1]
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
             DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at \(path): ") + context.debugDescription
        default:
            return "\(error)"
        }
    }
}

public enum SafetensorsError: Error, CustomStringConvertible {
    case truncated(String)
    case corruptHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case inconsistentData(String)
    case reservedName(String)

    public var description: String {
        switch self {
        case .truncated(let detail): "safetensors file is truncated: \(detail)"
        case .corruptHeader(let detail): "safetensors header is corrupt: \(detail)"
        case .unsupportedDType(let tensor, let dtype): "safetensors tensor '\(tensor)' has dtype \(dtype); only F32 is supported"
        case .inconsistentData(let detail): "safetensors file is inconsistent: \(detail)"
        case .reservedName(let name): "'\(name)' cannot name a tensor in a safetensors file"
        }
    }
}

/// A whole file's bytes, with a reason a person can act on when it cannot be had (not Foundation's error codes).
func readFile(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw InvalidInput("there is no file \(url.path)")
    }
    guard !isDirectory.boolValue else { throw InvalidInput("\(url.path) is a folder, not a file") }
    guard FileManager.default.isReadableFile(atPath: url.path), let data = try? Data(contentsOf: url, options: .mappedIfSafe) else {
        throw InvalidInput("\(url.path) cannot be read (permissions?)")
    }
    return data
}

/// What the file system said, in its own words ("No space left on device"), rather than Foundation's error codes.
public func fileSystemReason(_ error: Error) -> String {
    let error = error as NSError
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    return error.localizedDescription
}
