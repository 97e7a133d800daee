import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Every error as `{"error": "one line"}` with its status: the library's refusals (400, or 422 for images and
/// memory), a full queue (429), a body over the limit (413), unknown routes and ids (404).
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let refusal as Refusal {
            return Responses.error(refusal.kind == .badRequest ? .badRequest : .unprocessableContent, refusal.message)
        } catch let full as JobIntake.QueueFull {
            return Responses.error(.tooManyRequests, full.description)
        } catch let error as HTTPError {
            return Responses.error(error.status, error.body ?? error.status.reasonPhrase.lowercased())
        } catch let error as any HTTPResponseError {
            let message = error.status == .contentTooLarge ? "the upload is larger than the limit (--max-upload-mb)" : error.status.reasonPhrase.lowercased()
            return Responses.error(error.status, message)
        } catch {
            return Responses.error(.internalServerError, "\(error)")
        }
    }
}

/// With a token set, every request must carry it: `Authorization: Bearer TOKEN`, the `token` query parameter, or the
/// cookie the page gets when it is opened with `?token=`. (An event stream or an image cannot send a header; the
/// cookie covers them.)
struct TokenCheck<Context: RequestContext>: RouterMiddleware {
    static var cookieName: String { "stylize-token" }
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let query = request.uri.queryParameters.get("token")
        let cookie = request.cookies[Self.cookieName]?.value
        guard [bearer, query, cookie].contains(where: { $0.map { Self.same($0, token) } ?? false }) else {
            throw HTTPError(.unauthorized, message: "this server needs its token: open the page as /?token=TOKEN, or send Authorization: Bearer TOKEN")
        }
        var response = try await next(request, context)
        if query != nil && cookie == nil {
            response.setCookie(Cookie(name: Self.cookieName, value: token, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    /// Compares in time independent of where the texts differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The page may run only its own scripts and styles, load images only from this server (and the photos the user
/// drops in, as blob: URLs), be framed by nobody, and leak no address in a Referer.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    static var policy: String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

enum Responses {
    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let line = message.split(separator: "\n").first.map(String.init) ?? message
        return json(["error": line], status: status)
    }

    static func bytes(_ bytes: some Sequence<UInt8>, type: String, cache: String = "no-store") -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: cache], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func file(_ path: String, type: String, missing: String) throws -> Response {
        guard let data = FileManager.default.contents(atPath: path) else { throw HTTPError(.notFound, message: missing) }
        return bytes(data, type: type)
    }
}
