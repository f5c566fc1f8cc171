import AphexCore
import KubeClient
import Foundation
import TestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// A blocking-bridge for running async work on a plain thread.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
    init() {}
}
func runBlocking<T>(_ work: @escaping @Sendable () async -> T) -> T {
    let sem = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    // On the server's own threads, not Swift's cooperative pool: an in-process test that blocks
    // a pool thread (waiting for the real kubectl, which talks to this server) must not starve
    // the server that kubectl is waiting for.
    Task(executorPreference: ServerExecutor.shared) {
        box.value = await work()
        sem.signal()
    }
    sem.wait()
    return box.value!
}

/// A task executor on dispatch threads (not the cooperative pool's fixed width of one thread
/// per core) for the loopback server's request handlers.
final class ServerExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = ServerExecutor()
    private let queue = DispatchQueue(label: "aphex-sim.server", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        queue.async { unowned.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The black-box face: a loopback HTTP/1.1 server (POSIX sockets, keep-alive, chunked watch
/// streams) over a `SimAPI`. The API port honours faults (down windows close the listening
/// socket: connection refused; resets send RST; timeouts hold the connection). A second
/// control port serves /_sim/* (record, exec for the stand-ins) and is never faulted.
public final class SimAPIServer: @unchecked Sendable {
    public let api: SimAPI
    public private(set) var port: UInt16 = 0
    public private(set) var controlPort: UInt16 = 0
    private var apiFD: Int32 = -1
    private var controlFD: Int32 = -1
    private let lock = NSLock()
    private var stopped = false

    public init(api: SimAPI) { self.api = api }

    static func listenSocket(port: UInt16) throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SimError("socket() failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw SimError("bind(127.0.0.1:\(port)) failed: errno \(errno)")
        }
        guard listen(fd, 128) == 0 else {
            close(fd)
            throw SimError("listen() failed: errno \(errno)")
        }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, UInt16(bigEndian: bound.sin_port))
    }

    /// Starts both listeners (port 0 = any free port) and the availability monitor.
    public func start(port requested: UInt16 = 0, controlPort requestedControl: UInt16 = 0) throws {
        let (fd, p) = try Self.listenSocket(port: requested)
        apiFD = fd
        port = p
        let (cfd, cp) = try Self.listenSocket(port: requestedControl)
        controlFD = cfd
        controlPort = cp
        startAcceptLoop(fd: fd, faults: true)
        startAcceptLoop(fd: cfd, faults: false)
        let monitor = Thread { [weak self] in self?.monitorLoop() }
        monitor.start()
    }

    public func stop() {
        lock.lock()
        stopped = true
        let a = apiFD, c = controlFD
        apiFD = -1
        controlFD = -1
        lock.unlock()
        if a >= 0 {
            shutdown(a, Int32(SHUT_RDWR))
            close(a)
        }
        if c >= 0 {
            shutdown(c, Int32(SHUT_RDWR))
            close(c)
        }
    }

    private func startAcceptLoop(fd: Int32, faults: Bool) {
        let t = Thread { [weak self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return  // listener closed
                }
                var one: Int32 = 1
                setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                let conn = Thread { self?.serve(client, faults: faults) }
                conn.stackSize = 1 << 20
                conn.start()
            }
        }
        t.start()
    }

    /// Closes the API listener while the API is unreachable (no cluster, down window): clients
    /// get "connection refused"; reopens it on the same port afterwards.
    private func monitorLoop() {
        while true {
            usleep(25_000)
            lock.lock()
            if stopped {
                lock.unlock()
                return
            }
            let up = api.world.apiReachable
            if !up && apiFD >= 0 {
                let fd = apiFD
                apiFD = -1
                lock.unlock()
                shutdown(fd, Int32(SHUT_RDWR))
                close(fd)
                continue
            }
            if up && apiFD < 0 {
                if let (fd, _) = try? Self.listenSocket(port: port) {
                    apiFD = fd
                    lock.unlock()
                    startAcceptLoop(fd: fd, faults: true)
                    continue
                }
            }
            lock.unlock()
        }
    }

    // MARK: connection

    private func serve(_ fd: Int32, faults: Bool) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        while true {
            guard let (method, target, headers, body) = readRequest(fd, &buffer) else { return }
            if target.contains("watch=true") || target.contains("watch=1") {
                serveWatch(fd, target: target, headers: headers)
                return
            }
            let result = runBlocking { [api] in
                await api.handle(
                    method: method, target: target, headers: headers, body: body, via: faults ? "loopback" : "control")
            }
            switch result {
            case .fault(.reset):
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
                return
            case .fault(.timeout):
                Thread.sleep(forTimeInterval: api.world.faults.timeoutHold.seconds)
                return
            case .fault:
                return
            case .response(let r):
                guard writeAll(fd, Self.wire(r, faults: faults)) else { return }
                if headers["connection"]?.lowercased() == "close" { return }
            }
        }
    }

    /// An HTTP/1.1 response as Go's net/http writes one for the API server: a body of at most
    /// 2048 bytes (its response buffer) gets Content-Length, a larger one chunked transfer
    /// encoding, unless the handler set Content-Length itself (OpenAPI documents). The API port
    /// adds the headers the API server sends on every response.
    static func wire(_ r: HTTPResponse, faults: Bool) -> [UInt8] {
        var hs = r.headers
        if hs["content-type"] == nil && !r.body.isEmpty { hs["content-type"] = "application/json" }
        hs["date"] = httpDate()
        if faults { for (k, v) in serverHeaders() where hs[k] == nil { hs[k] = v } }
        let chunked = hs["content-length"] == nil && r.body.count > 2048 && r.status != 304
        if chunked {
            hs["transfer-encoding"] = "chunked"
        } else if r.status != 304 {
            hs["content-length"] = String(r.body.count)
        }
        var head = "HTTP/1.1 \(r.status) \(reason(r.status))\r\n"
        for (k, v) in hs.sorted(by: { $0.key < $1.key }) { head += "\(canonical(k)): \(v)\r\n" }
        head += "\r\n"
        guard chunked else { return Array(head.utf8) + r.body }
        // The API server writes a response body in one Write, which bypasses the empty 2048-byte
        // buffer: one chunk.
        return Array(head.utf8) + chunk(r.body) + Array("0\r\n\r\n".utf8)
    }

    static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
    }

    /// Audit-Id and the API Priority and Fairness headers every API server response carries.
    static func serverHeaders() -> [String: String] {
        [
            "audit-id": UUID().uuidString.lowercased(),
            "x-kubernetes-pf-flowschema-uid": "6a6e2c2a-4d1e-4c4b-9d4f-1b2f6c0e7a11",
            "x-kubernetes-pf-prioritylevel-uid": "0f1f7a3c-9e2d-4f5b-8c6a-2d3e4f5a6b70"
        ]
    }

    /// Go's canonical header form (Content-Type, X-Kubernetes-Pf-Flowschema-Uid).
    static func canonical(_ k: String) -> String {
        k.split(separator: "-", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst() }
            .joined(separator: "-")
    }

    /// A watch: 200 with chunked newline-delimited events, written through a 2048-byte buffer
    /// that is flushed whenever no further event is pending (Go's bufio.Writer under the API
    /// server's watch encoder: events that arrive together share chunks, an event larger than
    /// the empty buffer goes out as one chunk, a lone event is flushed at once). An error
    /// before the stream starts (422 sendInitialEvents) is a plain response.
    private func serveWatch(_ fd: Int32, target: String, headers: [String: String]) {
        var hs = Self.serverHeaders()
        hs["content-type"] = "application/json"
        hs["cache-control"] = "no-cache, private"
        hs["date"] = httpDate()
        hs["transfer-encoding"] = "chunked"
        let headText =
            "HTTP/1.1 200 OK\r\n"
            + hs.sorted { $0.key < $1.key }.map { "\(Self.canonical($0.key)): \($0.value)\r\n" }.joined() + "\r\n"
        let fdCopy = fd
        let started = ResultBox<Bool>()
        let buffer = ResultBox<[UInt8]>()
        buffer.value = []
        func startIfNeeded() -> Bool {
            if started.value == nil {
                started.value = true
                return writeAll(fdCopy, Array(headText.utf8))
            }
            return true
        }
        let outcome = runBlocking { [api] () -> Result<HTTPResponse?, Error> in
            do {
                let r = try await api.watchStream(
                    target: target, headers: headers, via: "loopback", poll: .milliseconds(50)
                ) { event in
                    guard startIfNeeded() else { return false }
                    var buf = buffer.value ?? []
                    defer { buffer.value = buf }
                    if event.isEmpty {  // nothing more pending: flush
                        if !buf.isEmpty {
                            let b = buf
                            buf = []
                            return writeAll(fdCopy, Self.chunk(b))
                        }
                        return true
                    }
                    var p = event[...]
                    while p.count > 2048 - buf.count {
                        if buf.isEmpty {
                            let whole = Array(p)
                            p = []
                            if !writeAll(fdCopy, Self.chunk(whole)) { return false }
                        } else {
                            let n = 2048 - buf.count
                            buf += p.prefix(n)
                            p = p.dropFirst(n)
                            let b = buf
                            buf = []
                            if !writeAll(fdCopy, Self.chunk(b)) { return false }
                        }
                    }
                    buf += p
                    return true
                }
                return .success(r)
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .failure: return
        case .success(let plain?) where started.value == nil:
            _ = writeAll(fd, Self.wire(plain, faults: true))
            return
        case .success:
            guard startIfNeeded() else { return }
            if let b = buffer.value, !b.isEmpty { _ = writeAll(fd, Self.chunk(b)) }
            _ = writeAll(fd, Array("0\r\n\r\n".utf8))
        }
    }

    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> (String, String, [String: String], [UInt8])? {
        func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        var headerEnd: Int? = nil
        while headerEnd == nil {
            if let r = findCRLFCRLF(buffer) {
                headerEnd = r
                break
            }
            if !fill() { return nil }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        buffer.removeFirst(headerEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if let len = Int(headers["content-length"] ?? "") {
            while buffer.count < len { if !fill() { return nil } }
            body = Array(buffer[0..<len])
            buffer.removeFirst(len)
        } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                var lineEnd: Int? = nil
                while lineEnd == nil {
                    if let i = findCRLF(buffer) { lineEnd = i } else if !fill() { return nil }
                }
                let size =
                    Int(
                        String(decoding: buffer[0..<lineEnd!], as: UTF8.self).split(separator: ";")[0]
                            .trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
                buffer.removeFirst(lineEnd! + 2)
                while buffer.count < size + 2 { if !fill() { return nil } }
                body += buffer[0..<size]
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
        }
        return (String(requestLine[0]), String(requestLine[1]), headers, body)
    }

    static func reason(_ s: Int) -> String {
        [
            200: "OK", 201: "Created", 202: "Accepted", 301: "Moved Permanently", 304: "Not Modified",
            400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
            409: "Conflict",
            410: "Gone", 415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"
        ][s] ?? "Status"
    }
}

func findCRLFCRLF(_ b: [UInt8]) -> Int? {
    guard b.count >= 4 else { return nil }
    for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
    return nil
}
func findCRLF(_ b: [UInt8]) -> Int? {
    guard b.count >= 2 else { return nil }
    for i in 0...(b.count - 2) where b[i] == 13 && b[i + 1] == 10 { return i }
    return nil
}

@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 {
            if errno == EINTR { continue }
            return false
        }
        off += n
    }
    return true
}

/// The Date header (RFC 7231 IMF-fixdate), formatted by hand: a DateFormatter per response
/// cost the simulator more than the request itself.
func httpDate(_ date: Date = Date()) -> String {
    let iso = Array(RFC3339.format(date).utf8)  // 2026-12-01T07:01:49Z
    func n(_ from: Int, _ len: Int) -> Int { iso[from..<(from + len)].reduce(0) { $0 * 10 + Int($1 - 48) } }
    let days = Int((date.timeIntervalSince1970 / 86400).rounded(.down))
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][n(5, 2) - 1]
    let day = String(decoding: iso[8..<10], as: UTF8.self), year = String(decoding: iso[0..<4], as: UTF8.self)
    return "\(weekday), \(day) \(month) \(year) \(String(decoding: iso[11..<19], as: UTF8.self)) GMT"
}

/// An IMF-fixdate (`Wed, 02 Dec 2026 01:39:23 GMT`) back to a date.
func parseHTTPDate(_ s: String) -> Date? {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "GMT")
    f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    return f.date(from: s)
}

/// A minimal blocking HTTP/1.1 client for the control port (stand-ins, harness).
public enum SimHTTPClient {
    public static func request(port: UInt16, method: String, path: String, body: [UInt8] = [], timeout: Double = 600)
        throws -> (Int, [UInt8])
    {
        guard let fd = try loopbackSocket(port: port, timeout: timeout) else {
            throw SimError(
                "cannot connect to the simulator at 127.0.0.1:\(port) (errno \(errno)); is `aphex-sim serve` running?")
        }
        defer { close(fd) }
        let head =
            """
            \(method) \(path) HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\nconnection: close\r\ncontent-type: \
            application/json\r\ncontent-length: \(body.count)\r\n\r\n
            """
        guard writeAll(fd, Array(head.utf8) + body) else { throw SimError("write to the simulator failed") }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        guard let end = findCRLFCRLF(data) else { throw SimError("malformed response from the simulator") }
        let head2 = String(decoding: data[0..<end], as: UTF8.self)
        let status = Int(head2.split(separator: " ").dropFirst().first ?? "0") ?? 0
        let raw = Array(data[(end + 4)...])
        if head2.lowercased().contains("transfer-encoding: chunked") { return (status, dechunk(raw)) }
        return (status, raw)
    }

    /// Decodes a chunked body (large responses, e.g. a long record, are streamed chunked).
    static func dechunk(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            var j = i
            while j + 1 < raw.count, !(raw[j] == 13 && raw[j + 1] == 10) { j += 1 }
            let sizeText =
                String(decoding: raw[i..<j], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = j + 2
            guard start + size <= raw.count else {
                out += raw[start...]
                break
            }
            out += raw[start..<(start + size)]
            i = start + size + 2
        }
        return out
    }
}
