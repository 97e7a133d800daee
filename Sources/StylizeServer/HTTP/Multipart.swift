import Foundation
import MultipartKit
import NIOCore

/// A `multipart/form-data` body as a `JobUpload`, by MultipartKit's parser. A part with a file name is a file; the
/// name itself is dropped (files are named by what they are, never by the client).
enum Multipart {
    static func boundary(of contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2 && pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    static func parse(_ body: ByteBuffer, boundary: String) throws -> JobUpload {
        let parser = MultipartParser(boundary: boundary)
        var upload = JobUpload()
        var disposition = "", bytes = ByteBuffer(), complete = false
        parser.onHeader = { name, value in
            if name.lowercased() == "content-disposition" { disposition = value }
        }
        parser.onBody = { chunk in bytes.writeBuffer(&chunk) }
        parser.onPartComplete = {
            complete = true
            let parameters = Self.parameters(disposition)
            if let name = parameters["name"] {
                let data = Data(bytes.readableBytesView)
                if parameters["filename"] != nil {
                    upload.files[name, default: []].append(data)
                } else {
                    upload.fields[name, default: []].append(String(decoding: data, as: UTF8.self))
                }
            }
            disposition = ""
            bytes.clear()
        }
        try parser.execute(body)
        guard complete else { throw Refusal(.badRequest, "the multipart body has no complete part") }
        return upload
    }

    /// `form-data; name="style"; filename="a.png"` -> ["name": "style", "filename": "a.png"]
    static func parameters(_ disposition: String) -> [String: String] {
        var result: [String: String] = [:]
        for item in disposition.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            result[pair[0].lowercased()] = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return result
    }
}
