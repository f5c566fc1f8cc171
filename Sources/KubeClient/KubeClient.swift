import AphexCore
import Foundation

/// The Kubernetes API client over any `HTTPTransport` (libcurl in production, the simulated
/// cluster in tests). JSON only; every call is one HTTP request on the transport's kept-alive
/// connection, tried again within `retry` when it failed transiently (docs/kube-client.md,
/// "Retries").
public struct KubeClient: KubeAPI {
    /// API server base URL without a trailing slash.
    public let server: String
    public let transport: any HTTPTransport
    /// Whole-request timeout for get/list/request.
    public var requestTimeout: Duration
    /// Which failures are tried again, how often and after how long.
    public var retry: KubeRetryPolicy
    /// Backoffs sleep on it (a virtual clock in tests).
    public var clock: any TimeSource
    /// Told each retry, one line without header values (`--verbose` shows them).
    public var onRetry: (@Sendable (String) -> Void)?

    /// The largest API response read (a LIST of every object of a kind included): past it the
    /// request fails with a clear error instead of growing without bound.
    public static let maxResponseBytes = 32 << 20
    /// The largest single watch event (etcd stores objects of at most 1.5 MiB).
    public static let maxWatchEventBytes = 4 << 20

    public init(
        server: String, transport: any HTTPTransport, requestTimeout: Duration = .seconds(30),
        retry: KubeRetryPolicy = .standard, clock: any TimeSource = SystemClock(),
        onRetry: (@Sendable (String) -> Void)? = nil
    ) {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        self.server = base
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.clock = clock
        self.onRetry = onRetry
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

    public func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?)
        async throws -> JSON
    {
        var query: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        let path = ref.path(namespace: namespace) + Self.queryString(query)
        let response = try await send("GET", path: path)
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, body: response.body, context: "LIST \(ref)")
        }
        return ref.typedItems(try Self.decode(response.body, context: "LIST \(ref)"))
    }

    /// Header values are never logged or put in errors.
    public func request(
        _ method: String, path: String, body: [UInt8]?, contentType: String?,
        headers extra: [String: String]
    ) async throws -> HTTPResponse {
        var headers = extra
        if let contentType { headers["Content-Type"] = contentType }
        return try await send(method, path: path, body: body, headers: headers)
    }

    public func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        var query: [(String, String)] = [("watch", "true"), ("allowWatchBookmarks", "true")]
        if let resourceVersion, !resourceVersion.isEmpty { query.append(("resourceVersion", resourceVersion)) }
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let timeoutSeconds { query.append(("timeoutSeconds", String(timeoutSeconds))) }
        let path = ref.path(namespace: namespace) + Self.queryString(query)
        // The server ends the watch after timeoutSeconds; the client gives it a margin before
        // calling the connection dead.
        let timeout: Duration? = timeoutSeconds.map { .seconds($0 + 30) }
        let request = HTTPRequest(
            method: "GET", url: server + path, headers: ["Accept": "application/json"],
            timeout: timeout)
        let transport = self.transport
        let what = "WATCH \(ref)"

        return AsyncThrowingStream { continuation in
            let task = Task {
                let decoder = WatchStreamDecoder(maxEventBytes: Self.maxWatchEventBytes)
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

    /// One request, tried again as `retry` allows: a connection refused (nothing was sent),
    /// a 429 (the API server's flow control turned it away unprocessed), and for requests that
    /// are safe to send twice (`KubeRetryPolicy.isReplayable`) also a reset or EOF (during the
    /// TLS handshake too) and 502/503/504, or any 5xx that carries `Retry-After`.
    private func send(
        _ method: String, path: String, body: [UInt8]? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> HTTPResponse {
        var headers = ["Accept": "application/json"]
        for (k, v) in extra { headers[k] = v }
        let request = HTTPRequest(
            method: method, url: server + path, headers: headers, body: body,
            timeout: requestTimeout, maxResponseBytes: Self.maxResponseBytes)
        let replayable = KubeRetryPolicy.isReplayable(
            method: method, path: path,
            contentType: headers.first { $0.key.lowercased() == "content-type" }?.value)
        let what = "\(method.uppercased()) \(path.split(separator: "?", maxSplits: 1).first ?? "")"
        var attempt = 1
        while true {
            let delay: Duration
            let reason: String
            do {
                let response = try await transport.send(request)
                guard attempt < retry.attempts,
                    let wait = retry.delay(
                        after: response, attempt: attempt, replayable: replayable, now: clock.wallNow())
                else {
                    return response
                }
                (delay, reason) = (wait, "HTTP \(response.status)")
            } catch let e as TransportError {
                guard attempt < retry.attempts, e.isRetryable, replayable || Self.isRefused(e) else {
                    throw KubeAPIError.transport(attempt > 1 ? Self.annotate(e, attempts: attempt) : e)
                }
                (delay, reason) = (retry.backoff(attempt: attempt), e.description)
            }
            onRetry?(
                """
                \(what): \(reason); trying again in \(Self.milliseconds(delay)) ms (attempt \(attempt + 1) of \
                \(retry.attempts))
                """
            )
            try await clock.sleep(for: delay)
            attempt += 1
        }
    }

    private static func isRefused(_ e: TransportError) -> Bool {
        if case .connectionRefused = e { return true }
        return false
    }

    private static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// The last failure, saying how many tries it took.
    static func annotate(_ e: TransportError, attempts: Int) -> TransportError {
        let note = " (\(attempts) attempts)"
        switch e {
        case .connectionRefused(let m): return .connectionRefused(m + note)
        case .connectionReset(let m): return .connectionReset(m + note)
        case .timedOut(let m): return .timedOut(m + note)
        case .tls(let m): return .tls(m + note)
        case .dns(let m): return .dns(m + note)
        case .tooLarge(let m): return .tooLarge(m)
        case .other(let m): return .other(m + note)
        }
    }

    static func decode(_ body: [UInt8], context: String) throws -> JSON {
        do {
            return try KubeJSON.parse(body)
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
        if let json = try? KubeJSON.parse(body), let message = json["message"]?.string, !message.isEmpty {
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
        return "?"
            + items.map { k, v in
                (k.addingPercentEncoding(withAllowedCharacters: unreserved) ?? k) + "="
                    + (v.addingPercentEncoding(withAllowedCharacters: unreserved) ?? v)
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
    private var scanned = 0  // bytes of `buffer` already scanned
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var objectStart: Int? = nil
    /// The first bytes of the body, for the error message of a non-2xx response.
    private(set) var rawHead: [UInt8] = []
    private let lock = NSLock()
    /// An event (a partial object) may grow to this many bytes; past it the stream fails.
    let maxEventBytes: Int

    init(maxEventBytes: Int = KubeClient.maxWatchEventBytes) { self.maxEventBytes = maxEventBytes }

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
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") {
                if depth == 0 { objectStart = i }
                depth += 1
            } else if c == UInt8(ascii: "}") {
                depth -= 1
                if depth < 0 {
                    depth = 0
                    i += 1
                    continue
                }  // stray brace outside an object
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
            if buffer.count > maxEventBytes {
                buffer.removeAll()
                scanned = 0
                out.failure = .transport(
                    .tooLarge(
                        """
                        watch stream: an event is larger than \(formatBytes(maxEventBytes)), the most aphex reads \
                        in one event; the watch was stopped
                        """
                    ))
            }
        } else {
            buffer.removeAll(keepingCapacity: true)
            scanned = 0
        }
        return out
    }

    /// Returns an error that ends the stream (ERROR event), else appends the event.
    private func handle(_ bytes: [UInt8], into out: inout Outcome) -> KubeAPIError? {
        guard let json = try? KubeJSON.parse(bytes) else {
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
            return KubeClient.error(
                status: code, body: Array(JSON.object(["message": .string(message)]).serialized().utf8),
                context: "watch")
        default:
            break  // unknown event types are ignored
        }
        return nil
    }
}

/// A direct bytes -> `JSON` parser for API responses. On Linux, JSONSerialization plus the
/// NSNumber bridging in `JSON(any:)` dominates a status run (~37 ms of a 56 KiB LIST in a
/// debug build); this single pass is several times faster. Numbers without a fraction or
/// exponent that fit Int64 are `.int`, others `.double`. Strict RFC 8259 otherwise.
public enum KubeJSON {
    public struct SyntaxError: Error, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(p: buffer)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.i == buffer.count else {
                throw SyntaxError(offset: parser.i, reason: "unexpected content after the JSON value")
            }
            return value
        }
    }

    /// A stream of JSON values with only whitespace (or nothing) between them, as kubectl reads
    /// stdin that starts with `{` (Go's json.Decoder): `{A}\n{B}` and `{A}{B}` are two values;
    /// anything else between them (a YAML `---`) is a syntax error at its offset.
    public static func parseStream(_ bytes: [UInt8]) throws -> [JSON] {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(p: buffer)
            var values: [JSON] = []
            parser.skipWhitespace()
            while parser.i < buffer.count {
                values.append(try parser.value(depth: 0))
                parser.skipWhitespace()
            }
            return values
        }
    }

    private struct Parser {
        let p: UnsafeBufferPointer<UInt8>
        var i = 0

        init(p: UnsafeBufferPointer<UInt8>) { self.p = p }

        mutating func skipWhitespace() {
            while i < p.count {
                switch p[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        func fail(_ reason: String) -> SyntaxError { SyntaxError(offset: i, reason: reason) }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < 512 else { throw fail("nesting too deep") }
            guard i < p.count else { throw fail("unexpected end of input") }
            switch p[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let n = word.utf8CodeUnitCount
            guard i + n <= p.count else { throw fail("unexpected end of input") }
            let w = word.utf8Start
            for k in 0..<n where p[i + k] != w[k] { throw fail("invalid literal") }
            i += n
        }

        mutating func object(depth: Int) throws -> JSON {
            i += 1
            var out: [String: JSON] = [:]
            skipWhitespace()
            if i < p.count, p[i] == UInt8(ascii: "}") {
                i += 1
                return .object(out)
            }
            while true {
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWhitespace()
                out[key] = try value(depth: depth + 1)
                skipWhitespace()
                guard i < p.count else { throw fail("unexpected end of input") }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(out)
                }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws -> JSON {
            i += 1
            var out: [JSON] = []
            skipWhitespace()
            if i < p.count, p[i] == UInt8(ascii: "]") {
                i += 1
                return .array(out)
            }
            while true {
                skipWhitespace()
                out.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < p.count else { throw fail("unexpected end of input") }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(out)
                }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            let start = i
            // Fast path: no escapes.
            while i < p.count {
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in string") }
                i += 1
            }
            var bytes = Array(UnsafeBufferPointer(rebasing: p[start..<i]))
            while i < p.count {
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return String(decoding: bytes, as: UTF8.self)
                }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") {
                    bytes.append(c)
                    i += 1
                    continue
                }
                i += 1
                guard i < p.count else { break }
                let e = p[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A high surrogate must be followed by \uDC00-\uDFFF.
                        if i + 1 < p.count, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") {
                            i += 2
                            let low = try hex4()
                            if (0xDC00...0xDFFF).contains(low) {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                appendScalar(0xFFFD, to: &bytes)
                                scalar = low
                            }
                        } else {
                            scalar = 0xFFFD
                        }
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        scalar = 0xFFFD
                    }
                    appendScalar(scalar, to: &bytes)
                default:
                    throw fail("invalid escape")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= p.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = p[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        func appendScalar(_ v: UInt32, to bytes: inout [UInt8]) {
            let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
            bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
        }

        mutating func number() throws -> JSON {
            let start = i
            var isInteger = true
            if p[i] == UInt8(ascii: "-") { i += 1 }
            guard i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) else {
                throw fail("invalid number")
            }
            if p[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) { i += 1 }
            }
            if i < p.count, p[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                guard i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) else {
                    throw fail("invalid number")
                }
                while i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) { i += 1 }
            }
            if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
                isInteger = false
                i += 1
                if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
                guard i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) else {
                    throw fail("invalid number")
                }
                while i < p.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p[i]) { i += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            if isInteger, let v = Int64(text) { return .int(v) }
            guard let d = Double(text) else { throw fail("invalid number") }
            return .double(d)
        }
    }
}
