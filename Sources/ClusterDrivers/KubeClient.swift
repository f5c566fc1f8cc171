import Foundation

/// The Kubernetes API client over any `HTTPTransport` (libcurl in production, the simulated
/// cluster in tests). JSON only; every call is one HTTP request on the transport's kept-alive
/// connection.
public struct KubeClient: KubeAPI {
    /// API server base URL without a trailing slash.
    public let server: String
    public let transport: any HTTPTransport
    /// Whole-request timeout for get/list/request.
    public var requestTimeout: Duration

    public init(server: String, transport: any HTTPTransport, requestTimeout: Duration = .seconds(30)) {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        self.server = base
        self.transport = transport
        self.requestTimeout = requestTimeout
    }

    // MARK: KubeAPI

    public func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        let path = ref.path(namespace: namespace, name: Self.escapePathSegment(name))
        let response = try await send("GET", path: path)
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, body: response.body, context: "GET \(path)")
        }
        return try Self.decode(response.body, context: "GET \(path)")
    }

    public func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws -> JSON {
        var query: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        let path = ref.path(namespace: namespace) + Self.queryString(query)
        let response = try await send("GET", path: path)
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, body: response.body, context: "LIST \(ref)")
        }
        return try Self.decode(response.body, context: "LIST \(ref)")
    }

    public func request(_ method: String, path: String, body: [UInt8]?, contentType: String?) async throws -> HTTPResponse {
        var headers: [String: String] = [:]
        if let contentType { headers["Content-Type"] = contentType }
        return try await send(method, path: path, body: body, headers: headers)
    }

    public func watch(_ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
                      timeoutSeconds: Int?) -> AsyncThrowingStream<WatchEvent, any Error> {
        var query: [(String, String)] = [("watch", "true"), ("allowWatchBookmarks", "true")]
        if let resourceVersion, !resourceVersion.isEmpty { query.append(("resourceVersion", resourceVersion)) }
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let timeoutSeconds { query.append(("timeoutSeconds", String(timeoutSeconds))) }
        let path = ref.path(namespace: namespace) + Self.queryString(query)
        // The server ends the watch after timeoutSeconds; the client gives it a margin before
        // calling the connection dead.
        let timeout: Duration? = timeoutSeconds.map { .seconds($0 + 30) }
        let request = HTTPRequest(method: "GET", url: server + path, headers: ["Accept": "application/json"],
                                  timeout: timeout)
        let transport = self.transport
        let what = "WATCH \(ref)"

        return AsyncThrowingStream { continuation in
            let task = Task {
                let decoder = WatchStreamDecoder()
                do {
                    let status = try await transport.stream(request) { bytes in
                        let outcome = decoder.feed(bytes)
                        for event in outcome.events {
                            if case .terminated = continuation.yield(event) { return false }
                        }
                        if let failure = outcome.failure {
                            continuation.finish(throwing: failure)
                            return false
                        }
                        return true
                    }
                    if !(200..<300).contains(status) {
                        continuation.finish(throwing: Self.error(status: status, body: decoder.rawHead, context: what))
                    } else {
                        continuation.finish()
                    }
                } catch let e as TransportError {
                    continuation.finish(throwing: KubeAPIError.transport(e))
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: plumbing

    private func send(_ method: String, path: String, body: [UInt8]? = nil,
                      headers extra: [String: String] = [:]) async throws -> HTTPResponse {
        var headers = ["Accept": "application/json"]
        for (k, v) in extra { headers[k] = v }
        let request = HTTPRequest(method: method, url: server + path, headers: headers, body: body,
                                  timeout: requestTimeout)
        do {
            return try await transport.send(request)
        } catch let e as TransportError {
            throw KubeAPIError.transport(e)
        }
    }

    static func decode(_ body: [UInt8], context: String) throws -> JSON {
        do {
            return try JSON.parse(body)
        } catch {
            let head = String(decoding: body.prefix(120), as: UTF8.self)
            throw KubeAPIError.decoding("\(context): not JSON (\(body.count) bytes, starting \(head.debugDescription))")
        }
    }

    /// Maps a non-2xx status to the typed error, with the API's Status message when present.
    public static func error(status: Int, body: [UInt8], context: String) -> KubeAPIError {
        let message = statusMessage(body) ?? "\(context): HTTP \(status)"
        switch status {
        case 400, 422: return .invalid(message)
        case 401: return .unauthorized(message)
        case 403: return .forbidden(message)
        case 404: return .notFound(message)
        case 409: return .conflict(message)
        case 410: return .gone(message)
        default: return .server(status: status, message: message)
        }
    }

    /// The `message` of a metav1.Status body, else the body's first line (trimmed).
    static func statusMessage(_ body: [UInt8]) -> String? {
        if let json = try? JSON.parse(body), let message = json["message"]?.string, !message.isEmpty {
            return message
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let first = text.split(separator: "\n").first, !first.isEmpty else { return nil }
        return String(first)
    }

    /// RFC 3986 unreserved characters stay; everything else is percent-encoded.
    static let unreserved: CharacterSet = {
        var s = CharacterSet()
        s.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return s
    }()

    static func queryString(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        return "?" + items.map { k, v in
            (k.addingPercentEncoding(withAllowedCharacters: unreserved) ?? k) + "=" +
            (v.addingPercentEncoding(withAllowedCharacters: unreserved) ?? v)
        }.joined(separator: "&")
    }

    static func escapePathSegment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: ":@"))) ?? s
    }
}

/// Incremental decoder of a watch response body: a stream of JSON objects (one per line on a
/// real API server; the decoder splits on object boundaries, so any framing works and an
/// event split across chunks is reassembled).
final class WatchStreamDecoder: @unchecked Sendable {
    struct Outcome {
        var events: [WatchEvent] = []
        var failure: KubeAPIError?
    }

    private var buffer: [UInt8] = []
    private var scanned = 0        // bytes of `buffer` already scanned
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var objectStart: Int? = nil
    /// The first bytes of the body, for the error message of a non-2xx response.
    private(set) var rawHead: [UInt8] = []
    private let lock = NSLock()

    func feed(_ bytes: [UInt8]) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        if rawHead.count < 4096 { rawHead.append(contentsOf: bytes.prefix(4096 - rawHead.count)) }
        buffer.append(contentsOf: bytes)
        var out = Outcome()
        var i = scanned
        while i < buffer.count {
            let c = buffer[i]
            if inString {
                if escaped { escaped = false }
                else if c == UInt8(ascii: "\\") { escaped = true }
                else if c == UInt8(ascii: "\"") { inString = false }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") {
                if depth == 0 { objectStart = i }
                depth += 1
            } else if c == UInt8(ascii: "}") {
                depth -= 1
                if depth < 0 { depth = 0; i += 1; continue }  // stray brace outside an object
                if depth == 0, let start = objectStart {
                    let slice = Array(buffer[start...i])
                    objectStart = nil
                    if let failure = handle(slice, into: &out) {
                        out.failure = failure
                        buffer.removeAll()
                        scanned = 0
                        return out
                    }
                }
            }
            i += 1
        }
        // Drop what is consumed; keep the partial object.
        if let start = objectStart {
            buffer.removeFirst(start)
            scanned = buffer.count
            objectStart = 0
        } else {
            buffer.removeAll(keepingCapacity: true)
            scanned = 0
        }
        return out
    }

    /// Returns an error that ends the stream (ERROR event), else appends the event.
    private func handle(_ bytes: [UInt8], into out: inout Outcome) -> KubeAPIError? {
        guard let json = try? JSON.parse(bytes) else {
            return .decoding("watch stream: an event is not valid JSON (\(bytes.count) bytes)")
        }
        guard let type = json["type"]?.string else {
            return nil  // a bare Status (non-2xx answer): reported from rawHead by the caller
        }
        let object = json["object"] ?? .null
        switch type {
        case "ADDED": out.events.append(.added(object))
        case "MODIFIED": out.events.append(.modified(object))
        case "DELETED": out.events.append(.deleted(object))
        case "BOOKMARK":
            out.events.append(.bookmark(resourceVersion: object[path: "metadata", "resourceVersion"]?.string ?? ""))
        case "ERROR":
            let code = Int(object["code"]?.int ?? 500)
            let message = object["message"]?.string ?? "watch error \(code)"
            return KubeClient.error(status: code, body: Array(JSON.object(["message": .string(message)]).serialized().utf8),
                                    context: "watch")
        default:
            break  // unknown event types are ignored
        }
        return nil
    }
}
