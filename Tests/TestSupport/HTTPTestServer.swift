import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The one HTTP test server: HTTP/1.1 on 127.0.0.1 for transport, API-client and fetch tests,
/// with keep-alive, Content-Length bodies, chunked streaming with pauses, truncated bodies,
/// abrupt closes and stalls. One thread per connection; it counts connections and records every
/// request. `TLSFront` puts TLS in front of it (or of any plain port).
public final class HTTPTestServer: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var headers: [String: String]  // lower-cased names
        public var body: [UInt8]
        /// 1 for the first request with this target, 2 for the second, ...
        public var nth: Int = 1
        public var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }
        public var query: String? { target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) }
    }

    public enum Response: Sendable {
        case full(status: Int, headers: [String: String], body: [UInt8])
        /// Announces the whole body's Content-Length, sends only `sent` bytes, then closes.
        case truncated(status: Int, body: [UInt8], sent: Int)
        /// Transfer-Encoding: chunked; each part is written then the server pauses `gap`.
        case chunked(status: Int, parts: [[UInt8]], gap: Duration)
        /// Chunked parts forever (one per `gap`) until the client goes away.
        case endless(status: Int, part: [UInt8], gap: Duration)
        /// Close the connection without a response.
        case close
        /// Sleep, then answer.
        case stall(Duration, then: [UInt8])

        public static func text(_ status: Int, _ body: String, headers: [String: String] = [:]) -> Response {
            .full(status: status, headers: headers, body: Array(body.utf8))
        }
        public static func json(_ status: Int, _ body: String) -> Response {
            .full(status: status, headers: ["Content-Type": "application/json"], body: Array(body.utf8))
        }
        public static func ok(_ body: [UInt8]) -> Response { .full(status: 200, headers: [:], body: body) }
        /// `status CODE` as the body.
        public static func status(_ code: Int) -> Response { .text(code, "status \(code)\n") }
        public static func redirect(_ location: String, _ code: Int = 302) -> Response {
            .full(status: code, headers: ["Location": location], body: [])
        }
    }

    /// What a `dropping` server does to each connection once the client has sent something
    /// (a TLS ClientHello, a request): RST (SO_LINGER 0) or a plain close.
    public enum Drop: Sendable { case reset, close }

    public typealias Handler = @Sendable (Request) -> Response

    public let port: Int
    private let listenFD: Int32
    private let handler: Handler
    private let drop: Drop?
    private let lock = NSLock()
    private var _connections = 0
    private var _requests: [Request] = []
    private var _stopped = false
    private var openFDs: Set<Int32> = []

    public var connections: Int { lock.withLock { _connections } }
    /// Connections still open (a torn-down watch drops to 0).
    public var openConnections: Int { lock.withLock { openFDs.count } }
    public var requests: [Request] { lock.withLock { _requests } }
    /// Requests with this target (path and query).
    public func count(_ target: String) -> Int { requests.filter { $0.target == target }.count }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Waits (polling) until no connection is open; false after `limit`.
    public func waitUntilIdle(limit: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while openConnections > 0 {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Answers each request with `handler`.
    public convenience init(port: Int = 0, handler: @escaping Handler) throws {
        try self.init(port: port, handler: handler, drop: nil)
    }

    /// Accepts connections and drops each one (`Drop`) without answering.
    public convenience init(dropping drop: Drop) throws {
        try self.init(port: 0, handler: { _ in .close }, drop: drop)
    }

    private init(port requested: Int, handler: @escaping Handler, drop: Drop?) throws {
        self.handler = handler
        self.drop = drop
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopbackAddress(port: requested)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        self.port = Self.boundPort(fd)
        self.listenFD = fd
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    deinit { stop() }

    /// Stops accepting and drops open connections. Descriptors are shut down under the lock
    /// and closed only by the thread that owns them, so a number reused by another test's
    /// socket is never touched.
    public func stop() {
        lock.withLock {
            if _stopped { return }
            _stopped = true
            shutdown(listenFD, Int32(SHUT_RDWR))  // wakes accept(); the accept thread closes it
            for fd in openFDs { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// A port nothing listens on (bound, then closed).
    public static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopbackAddress(port: 0)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return boundPort(fd)
    }

    private static func boundPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    private func acceptLoop() {
        while true {
            let c = accept(listenFD, nil, nil)
            if c < 0 {
                if errno == EINTR && !lock.withLock({ _stopped }) { continue }
                close(listenFD)
                return
            }
            let stopped: Bool = lock.withLock {
                if _stopped { return true }
                _connections += 1
                openFDs.insert(c)
                return false
            }
            if stopped {
                close(c)
                close(listenFD)
                return
            }
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let t = Thread { [self] in
                if let drop { dropConnection(c, drop) } else { serve(c) }
                lock.withLock {
                    _ = openFDs.remove(c)
                    close(c)
                }
            }
            t.start()
        }
    }

    /// Waits for the client's first bytes (a ClientHello), then lets the connection go.
    private func dropConnection(_ fd: Int32, _ drop: Drop) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if drop == .reset {
            var l = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        }
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        while true {
            guard var request = readRequest(fd, &buffer) else { return }
            lock.withLock {
                request.nth = _requests.filter { $0.target == request.target }.count + 1
                _requests.append(request)
            }
            let keepAlive = request.headers["connection"]?.lowercased() != "close"
            switch handler(request) {
            case .close:
                return
            case .full(let status, let headers, let body):
                var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Length: \(body.count)\r\n"
                for (k, v) in headers { head += "\(k): \(v)\r\n" }
                if !keepAlive { head += "Connection: close\r\n" }
                head += "\r\n"
                guard write(fd, Array(head.utf8) + (request.method == "HEAD" ? [] : body)) else { return }
                if !keepAlive { return }
            case .truncated(let status, let body, let sent):
                let head =
                    "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Length: \(body.count)\r\n"
                    + "Connection: close\r\n\r\n"
                _ = write(fd, Array(head.utf8) + body.prefix(sent))
                return
            case .stall(let d, let body):
                Thread.sleep(forTimeInterval: d.seconds)
                let head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n"
                guard write(fd, Array(head.utf8) + body) else { return }
            case .chunked(let status, let parts, let gap):
                guard write(fd, Self.chunkedHead(status)) else { return }
                for part in parts {
                    guard write(fd, Self.chunk(part)) else { return }
                    Thread.sleep(forTimeInterval: gap.seconds)
                }
                guard write(fd, Array("0\r\n\r\n".utf8)) else { return }
            case .endless(let status, let part, let gap):
                guard write(fd, Self.chunkedHead(status)) else { return }
                while !lock.withLock({ _stopped }) {
                    guard write(fd, Self.chunk(part)) else { return }
                    Thread.sleep(forTimeInterval: gap.seconds)
                }
                return
            }
        }
    }

    private static func chunkedHead(_ status: Int) -> [UInt8] {
        Array(
            ("HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n").utf8)
    }

    private static func chunk(_ part: [UInt8]) -> [UInt8] {
        Array(String(part.count, radix: 16).utf8) + [13, 10] + part + [13, 10]
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> Request? {
        let terminator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int? = nil
        while true {
            if let r = find(terminator, in: buffer) {
                headEnd = r
                break
            }
            guard readMore(fd, &buffer) else { return nil }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count < length { guard readMore(fd, &buffer) else { return nil } }
        let body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: body)
    }

    private func readMore(_ fd: Int32, _ buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16384)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 422: return "Unprocessable Entity"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
