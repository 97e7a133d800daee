/// A value decoded from a Python pickle.
///
/// Nothing is executed while reading: a global is only its name, and a call (the REDUCE opcode) is kept as
/// the callable and its arguments for the caller to interpret. The one exception is `collections.OrderedDict()`,
/// which becomes a plain dict because PyTorch saves state dicts that way and then fills them with SETITEMS.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for `Int` (LONG1 with more than 8 bytes), as Python wrote it:
    /// little-endian two's complement.
    case bigInt(littleEndianBytes: [UInt8])
    case float(Double)
    case string(String)
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    case call(callable: PickleValue, arguments: [PickleValue])
    /// A reference to an object stored outside the pickle; PyTorch uses these for tensor storages.
    case persistentID(PickleValue)

    var string: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    var int: Int? {
        if case .int(let int) = self { return int }
        return nil
    }

    /// The elements of a tuple or a list.
    var elements: [PickleValue]? {
        switch self {
        case .tuple(let elements): return elements
        case .list(let list): return list.elements
        default: return nil
        }
    }

    /// The value as a tuple or list of ints, as PyTorch stores shapes and strides.
    var ints: [Int]? {
        guard let elements else { return nil }
        let ints = elements.compactMap(\.int)
        return ints.count == elements.count ? ints : nil
    }
}

extension PickleValue: CustomStringConvertible {
    /// Python's notation, for error messages and tests. (A list that contains itself would recurse forever;
    /// pickles from PyTorch do not have any.)
    var description: String {
        func commaSeparated(_ values: [PickleValue]) -> String { values.map(\.description).joined(separator: ", ") }
        switch self {
        case .none: return "None"
        case .bool(let bool): return bool ? "True" : "False"
        case .int(let int): return String(int)
        case .bigInt(let bytes):
            return "0x" + bytes.reversed().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                + " (two's complement)"
        case .float(let double): return String(double)
        case .string(let string): return "'\(string)'"
        case .tuple(let elements): return elements.count == 1 ? "(\(elements[0]),)" : "(\(commaSeparated(elements)))"
        case .list(let list): return "[\(commaSeparated(list.elements))]"
        case .dict(let dict): return "{" + dict.items.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .global(let module, let name): return "\(module).\(name)"
        case .call(let callable, let arguments): return "\(callable)(\(commaSeparated(arguments)))"
        case .persistentID(let id): return "persistent_id\(id)"
        }
    }
}

// Lists and dicts are classes because a pickle builds them in place: it creates an empty one, memoizes it,
// then fills it with APPENDS or SETITEMS. A later BINGET must see the filled container, as in Python.
final class PickleList {
    var elements: [PickleValue] = []
}

final class PickleDict {
    /// In the order the pickle set them; keys are rarely anything but strings.
    var items: [(key: PickleValue, value: PickleValue)] = []

    subscript(key: String) -> PickleValue? {
        items.first { $0.key.string == key }?.value
    }
}

enum PickleError: Error, CustomStringConvertible {
    case unsupportedOpcode(UInt8, offset: Int)
    case unsupportedProtocol(Int, offset: Int)
    case malformed(String, offset: Int)
    case truncated(TruncatedInput)

    var description: String {
        switch self {
        case .unsupportedOpcode(let byte, let offset):
            let character = (0x21...0x7e).contains(byte) ? " '\(Character(Unicode.Scalar(byte)))'" : ""
            let hex = "0x" + String(byte, radix: 16)
            return "pickle opcode \(hex)\(character) at offset \(offset) is not supported by this reader"
        case .unsupportedProtocol(let version, let offset):
            return "pickle protocol \(version) at offset \(offset) is not supported (only protocol 2 and older)"
        case .malformed(let problem, let offset):
            return "malformed pickle at offset \(offset): \(problem)"
        case .truncated(let truncation):
            return "pickle \(truncation)"
        }
    }
}

/// Reads pickles written with protocol 2, the protocol of PyTorch's legacy `torch.save` format, supporting the
/// opcodes that Python's `pickle.dumps(..., protocol=2)` writes for None, bools, ints, floats, strings, tuples,
/// lists, dicts, globals, calls and persistent ids.
enum PickleReader {
    /// The supported opcodes, named as Python's `pickletools` names them (PROTO, BININT1, ...).
    private enum Opcode: UInt8 {
        case proto = 0x80, stop = 0x2e, mark = 0x28
        case none = 0x4e, newTrue = 0x88, newFalse = 0x89
        case binInt = 0x4a, binInt1 = 0x4b, binInt2 = 0x4d, long1 = 0x8a
        case binFloat = 0x47, binUnicode = 0x58
        case emptyTuple = 0x29, tuple = 0x74, tuple1 = 0x85, tuple2 = 0x86, tuple3 = 0x87
        case emptyList = 0x5d, append = 0x61, appends = 0x65
        case emptyDict = 0x7d, setItem = 0x73, setItems = 0x75
        case global = 0x63, reduce = 0x52, binPersID = 0x51
        case binPut = 0x71, longBinPut = 0x72, binGet = 0x68, longBinGet = 0x6a
    }

    /// Reads one pickle starting at the reader's offset and leaves the reader just after its STOP opcode,
    /// so files made of several pickles in a row can be read one after the other.
    static func read(from reader: inout ByteReader) throws(PickleError) -> PickleValue {
        do {
            return try readOpcodes(from: &reader)
        } catch let error as PickleError {
            throw error
        } catch let truncation as TruncatedInput {
            throw .truncated(truncation)
        } catch {
            throw .malformed("\(error)", offset: reader.offset)
        }
    }

    private static func readOpcodes(from reader: inout ByteReader) throws -> PickleValue {
        var stack: [PickleValue] = []
        var markHeights: [Int] = []  // the stack's height at each MARK, innermost last
        var memo: [Int: PickleValue] = [:]
        var opcodeOffset = reader.offset

        func malformed(_ problem: String) -> PickleError { .malformed(problem, offset: opcodeOffset) }

        func pop() throws -> PickleValue {
            guard let value = stack.popLast(), stack.count >= (markHeights.last ?? 0) else {
                throw malformed("stack underflow")
            }
            return value
        }

        func popLast(_ count: Int) throws -> [PickleValue] {
            let elements = try (0..<count).map { _ in try pop() }
            return elements.reversed()
        }

        func popToMark() throws -> [PickleValue] {
            guard let height = markHeights.popLast(), height <= stack.count else { throw malformed("no MARK") }
            defer { stack.removeSubrange(height...) }
            return Array(stack[height...])
        }

        func topList() throws -> PickleList {
            guard case .list(let list) = stack.last else { throw malformed("APPEND(S) without a list") }
            return list
        }

        func topDict() throws -> PickleDict {
            guard case .dict(let dict) = stack.last else { throw malformed("SETITEM(S) without a dict") }
            return dict
        }

        func memoGet(_ key: Int) throws -> PickleValue {
            guard let value = memo[key] else { throw malformed("memo key \(key) was never set") }
            return value
        }

        func memoPut(_ key: Int) throws {
            guard let top = stack.last else { throw malformed("PUT on an empty stack") }
            memo[key] = top
        }

        func utf8(_ bytes: ArraySlice<UInt8>) throws -> String {
            guard let string = String(validating: bytes, as: UTF8.self) else { throw malformed("invalid UTF-8") }
            return string
        }

        while true {
            opcodeOffset = reader.offset
            let byte = try reader.readByte()
            guard let opcode = Opcode(rawValue: byte) else {
                throw PickleError.unsupportedOpcode(byte, offset: opcodeOffset)
            }
            switch opcode {
            case .proto:
                let version = Int(try reader.readByte())
                guard version <= 2 else { throw PickleError.unsupportedProtocol(version, offset: opcodeOffset) }
            case .stop:
                guard stack.count == 1, markHeights.isEmpty else {
                    throw malformed("STOP with \(stack.count) values and \(markHeights.count) marks left")
                }
                return stack[0]
            case .mark:
                markHeights.append(stack.count)

            case .none: stack.append(.none)
            case .newTrue: stack.append(.bool(true))
            case .newFalse: stack.append(.bool(false))
            case .binInt: stack.append(.int(Int(try reader.readLittleEndian(Int32.self))))
            case .binInt1: stack.append(.int(Int(try reader.readByte())))
            case .binInt2: stack.append(.int(Int(try reader.readLittleEndian(UInt16.self))))
            case .long1:
                let bytes = try reader.readBytes(Int(try reader.readByte()))
                stack.append(integer(fromLittleEndianTwosComplement: bytes))
            case .binFloat:
                // The one big-endian field in the format.
                let bits = try reader.readBytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: bits)))
            case .binUnicode:
                let length = Int(try reader.readLittleEndian(UInt32.self))
                stack.append(.string(try utf8(try reader.readBytes(length))))

            case .emptyTuple: stack.append(.tuple([]))
            case .tuple: stack.append(.tuple(try popToMark()))
            case .tuple1: stack.append(.tuple(try popLast(1)))
            case .tuple2: stack.append(.tuple(try popLast(2)))
            case .tuple3: stack.append(.tuple(try popLast(3)))

            case .emptyList: stack.append(.list(PickleList()))
            case .append:
                let element = try pop()
                try topList().elements.append(element)
            case .appends:
                let elements = try popToMark()
                try topList().elements.append(contentsOf: elements)

            case .emptyDict: stack.append(.dict(PickleDict()))
            case .setItem:
                let value = try pop()
                let key = try pop()
                try topDict().items.append((key, value))
            case .setItems:
                let keysAndValues = try popToMark()
                guard keysAndValues.count.isMultiple(of: 2) else { throw malformed("SETITEMS with an odd count") }
                let dict = try topDict()
                for index in stride(from: 0, to: keysAndValues.count, by: 2) {
                    dict.items.append((keysAndValues[index], keysAndValues[index + 1]))
                }

            case .global:
                let module = try utf8(try reader.readLine())
                let name = try utf8(try reader.readLine())
                stack.append(.global(module: module, name: name))
            case .reduce:
                guard case .tuple(let arguments) = try pop() else { throw malformed("REDUCE arguments are not a tuple") }
                let callable = try pop()
                if case .global("collections", "OrderedDict") = callable, arguments.isEmpty {
                    stack.append(.dict(PickleDict()))
                } else {
                    stack.append(.call(callable: callable, arguments: arguments))
                }
            case .binPersID:
                stack.append(.persistentID(try pop()))

            case .binPut: try memoPut(Int(try reader.readByte()))
            case .longBinPut: try memoPut(Int(try reader.readLittleEndian(UInt32.self)))
            case .binGet: stack.append(try memoGet(Int(try reader.readByte())))
            case .longBinGet: stack.append(try memoGet(Int(try reader.readLittleEndian(UInt32.self))))
            }
        }
    }

    private static func integer(fromLittleEndianTwosComplement bytes: ArraySlice<UInt8>) -> PickleValue {
        guard bytes.count <= 8 else { return .bigInt(littleEndianBytes: Array(bytes)) }
        guard let last = bytes.last else { return .int(0) }
        // Start from all ones for a negative number so the bytes not given sign-extend it.
        var value: Int = last & 0x80 != 0 ? -1 : 0
        for byte in bytes.reversed() {
            value = value << 8 | Int(byte)
        }
        return .int(value)
    }
}
