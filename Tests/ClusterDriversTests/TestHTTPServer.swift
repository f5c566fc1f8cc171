import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for transport and API-client tests: keep-alive,
/// Content-Length bodies, chunked streaming with pauses, abrupt closes and stalls. One thread
/// per connection; it counts connections and records every request.
final class TestHTTPServer: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        var headers: [String: String]  // lower-cased names
        var body: [UInt8]
        var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }
        var query: String? { target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) }
    }

    enum Response: Sendable {
        case full(status: Int, headers: [String: String], body: [UInt8])
        /// Transfer-Encoding: chunked; each part is written then the server pauses `gap`.
        case chunked(status: Int, parts: [[UInt8]], gap: Duration)
        /// Chunked parts forever (one per `gap`) until the client goes away.
        case endless(status: Int, part: [UInt8], gap: Duration)
        /// Close the connection without a response.
        case close
        /// Sleep, then answer.
        case stall(Duration, then: [UInt8])

        static func text(_ status: Int, _ body: String, headers: [String: String] = [:]) -> Response {
            .full(status: status, headers: headers, body: Array(body.utf8))
        }
        static func json(_ status: Int, _ body: String) -> Response {
            .full(status: status, headers: ["Content-Type": "application/json"], body: Array(body.utf8))
        }
    }

    typealias Handler = @Sendable (Request) -> Response

    let port: Int
    private let listenFD: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var _connections = 0
    private var _requests: [Request] = []
    private var _stopped = false
    private var openFDs: Set<Int32> = []

    var connections: Int { lock.withLock { _connections } }
    /// Connections still open (a torn-down watch drops to 0).
    var openConnections: Int { lock.withLock { openFDs.count } }

    /// Waits (polling) until no connection is open; false after `limit`.
    func waitUntilIdle(limit: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while openConnections > 0 {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
    var requests: [Request] { lock.withLock { _requests } }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(port requested: Int = 0, handler: @escaping Handler) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(requested).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        self.listenFD = fd
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    deinit { stop() }

    /// Stops accepting and drops open connections. Descriptors are shut down under the lock
    /// and closed only by the thread that owns them, so a number reused by another test's
    /// socket is never touched.
    func stop() {
        lock.withLock {
            if _stopped { return }
            _stopped = true
            shutdown(listenFD, Int32(SHUT_RDWR))  // wakes accept(); the accept thread closes it
            for fd in openFDs { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// A port nothing listens on (bound, then closed).
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        close(fd)
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
            if stopped { close(c); close(listenFD); return }
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let t = Thread { [self] in
                serve(c)
                lock.withLock {
                    _ = openFDs.remove(c)
                    close(c)
                }
            }
            t.start()
        }
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        while true {
            guard let request = readRequest(fd, &buffer) else { return }
            lock.withLock { _requests.append(request) }
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
            case .stall(let d, let body):
                Thread.sleep(forTimeInterval: d.seconds)
                let head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n"
                guard write(fd, Array(head.utf8) + body) else { return }
            case .chunked(let status, let parts, let gap):
                let head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                guard write(fd, Array(head.utf8)) else { return }
                for part in parts {
                    guard write(fd, Self.chunk(part)) else { return }
                    Thread.sleep(forTimeInterval: gap.seconds)
                }
                guard write(fd, Array("0\r\n\r\n".utf8)) else { return }
            case .endless(let status, let part, let gap):
                let head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                guard write(fd, Array(head.utf8)) else { return }
                while !lock.withLock({ _stopped }) {
                    guard write(fd, Self.chunk(part)) else { return }
                    Thread.sleep(forTimeInterval: gap.seconds)
                }
                return
            }
        }
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
            if let r = find(terminator, in: buffer) { headEnd = r; break }
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
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
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

    static func reason(_ status: Int) -> String {
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
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
