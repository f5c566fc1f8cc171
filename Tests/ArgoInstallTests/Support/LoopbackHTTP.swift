import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 (POSIX sockets, one thread, Connection: close) for
/// fetch tests: each request is answered by `handler`, which may also cut the body short.
final class LoopbackServer: @unchecked Sendable {
    struct Reply: Sendable {
        var status: Int
        var headers: [String: String] = [:]
        var body: [UInt8] = []
        /// Send only this many body bytes while announcing the full Content-Length.
        var truncateTo: Int? = nil

        static func ok(_ body: [UInt8]) -> Reply { Reply(status: 200, body: body) }
        static func status(_ code: Int) -> Reply { Reply(status: code, body: Array("status \(code)\n".utf8)) }
        static func redirect(_ location: String, _ code: Int = 302) -> Reply { Reply(status: code, headers: ["Location": location]) }
    }

    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var _requests: [String] = []
    private let handler: @Sendable (String, Int) -> Reply
    private var thread: Thread?

    /// `handler(path, nthRequestForThisPath)` (n from 1).
    init(handler: @escaping @Sendable (String, Int) -> Reply) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw TransportError.other("loopback server: bind/listen failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [weak self] in self?.serve() }
        thread = t
        t.start()
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var requests: [String] { lock.lock(); defer { lock.unlock() }; return _requests }
    func count(_ path: String) -> Int { requests.filter { $0 == path }.count }

    /// Wakes the accept loop; the serving thread closes the socket itself, so its descriptor
    /// number cannot be reused by another server while this thread still uses it.
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { close(fd); return }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while !(data.count >= 4 && data.suffix(4) == [13, 10, 13, 10]) {
            let n = read(client, &buf, buf.count)
            if n <= 0 { return }
            data += buf[0..<n]
            if let r = String(decoding: data, as: UTF8.self).range(of: "\r\n\r\n") { _ = r; break }
        }
        let head = String(decoding: data, as: UTF8.self)
        let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : "/"
        lock.lock()
        _requests.append(path)
        let n = _requests.filter { $0 == path }.count
        lock.unlock()
        let reply = handler(path, n)
        var headers = reply.headers
        headers["Content-Length"] = String(reply.body.count)
        headers["Connection"] = "close"
        var out = "HTTP/1.1 \(reply.status) \(reply.status == 200 ? "OK" : "Status")\r\n"
        for (k, v) in headers { out += "\(k): \(v)\r\n" }
        out += "\r\n"
        var bytes = Array(out.utf8)
        bytes += reply.truncateTo.map { Array(reply.body.prefix($0)) } ?? reply.body
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let w = send(client, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if w <= 0 { break }
                off += w
            }
        }
    }
}

/// A minimal HTTP/1.1 client transport over POSIX sockets (plain http to 127.0.0.1 only),
/// standing in for libcurl in fetch tests. It does NOT check Content-Length (the fetcher
/// must) nor follow redirects (libcurl does, the fetcher does not) nor cap the body.
struct SocketTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let url = URL(string: request.url), url.scheme == "http", let host = url.host, let port = url.port else {
            throw TransportError.other("SocketTransport handles http://127.0.0.1:PORT only: \(request.url)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { throw TransportError.connectionRefused(request.url) }
        var path = url.path.isEmpty ? "/" : url.path
        if let q = url.query { path += "?" + q }
        let head = "\(request.method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n"
        _ = Array(head.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { throw TransportError.connectionReset(request.url) }
            if n == 0 { break }
            data += buf[0..<n]
        }
        guard let sep = findHeaderEnd(data) else { throw TransportError.connectionReset(request.url) }
        let headText = String(decoding: data[..<sep], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResponse(status: status, headers: headers, body: Array(data[(sep + 4)...]))
    }

    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        let r = try await send(request)
        _ = onData(r.body)
        return r.status
    }

    private func findHeaderEnd(_ d: [UInt8]) -> Int? {
        guard d.count >= 4 else { return nil }
        for i in 0...(d.count - 4) where d[i] == 13 && d[i + 1] == 10 && d[i + 2] == 13 && d[i + 3] == 10 { return i }
        return nil
    }
}

/// A transport that must not be used (cache hits, --manifests-dir): any call fails the test.
struct NoNetworkTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw TransportError.other("NO NETWORK: unexpected request to \(request.url)")
    }
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        throw TransportError.other("NO NETWORK: unexpected request to \(request.url)")
    }
}
