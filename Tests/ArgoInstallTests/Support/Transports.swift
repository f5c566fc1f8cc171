import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

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
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
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
