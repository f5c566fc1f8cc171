import Foundation

/// Test PKI made with the `openssl` CLI at test time (a kind-like cluster CA, a server
/// certificate for 127.0.0.1, a client certificate in system:masters, and an unrelated CA),
/// plus an `openssl s_server -www -Verify 1` that REQUIRES a client certificate, as the
/// API server of a kind cluster does.
final class TestPKI: @unchecked Sendable {
    let dir: String

    /// Generates the PKI on its own thread: the openssl runs block, and the cooperative pool
    /// (two threads on a two-core machine) must stay free for the other tests.
    static func create() async throws -> TestPKI { try await offPool { try TestPKI() } }

    init() throws {
        dir = NSTemporaryDirectory() + "aphex-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try sh("""
            set -e
            cd '\(dir)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
            key ca.key
            openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=kubernetes \
              -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
            key other-ca.key
            openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca \
              -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
            key server.key
            openssl req -new -key server.key -out server.csr -subj /CN=kube-apiserver
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
            key client.key
            openssl req -new -key client.key -out client.csr -subj '/O=system:masters/CN=kubernetes-admin'
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext 2>/dev/null
            chmod 600 *.key
            """)
    }

    func path(_ name: String) -> String { "\(dir)/\(name)" }
    func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }
    func base64(_ name: String) throws -> String { Data(try bytes(name)).base64EncodedString() }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func sh(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        // One pipe, used once: stderr is folded into stdout by the shell. (Assigning the same
        // Pipe or FileHandle.nullDevice to two streams makes Foundation's Process close one fd
        // twice, which closes some other thread's descriptor — swift-subprocess traps on that.)
        p.arguments = ["-c", "exec 2>&1\n" + script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "TestPKI", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: text])
        }
        return text
    }
}

/// A TLS server on 127.0.0.1 demanding a client certificate signed by the PKI's CA: `openssl
/// s_server` (HTTP/1.0 status page), or nghttpx in front of a plain HTTP backend, offering
/// HTTP/2 through ALPN as the Kubernetes API server does.
final class TestTLSServer: @unchecked Sendable {
    let port: Int
    private let process: Process
    var url: String { "https://127.0.0.1:\(port)/" }

    /// Starts s_server from a dedicated thread (it polls until the port listens).
    static func start(pki: TestPKI) async throws -> TestTLSServer {
        try await offPool {
            try TestTLSServer { port in
                "exec openssl s_server -accept 127.0.0.1:\(port) -cert \(pki.path("server.crt")) "
                    + "-key \(pki.path("server.key")) -CAfile \(pki.path("ca.crt")) -Verify 1 -www -quiet >/dev/null 2>&1"
            }
        }
    }

    /// `openssl s_server -www` with the given certificate and key, no client certificate asked.
    static func start(cert: String, key: String) async throws -> TestTLSServer {
        try await offPool {
            try TestTLSServer { port in
                "exec openssl s_server -accept 127.0.0.1:\(port) -cert \(cert) -key \(key) -www -quiet >/dev/null 2>&1"
            }
        }
    }

    /// nghttpx (Debian's nghttp2-proxy; scripts/test.sh installs it) terminating mutual TLS with
    /// h2 and http/1.1 by ALPN, proxying to `backendPort` over plain HTTP/1.1.
    static func startHTTP2(pki: TestPKI, backendPort: Int) async throws -> TestTLSServer {
        try await offPool {
            try TestTLSServer { port in
                "exec nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp "
                    + "--frontend=127.0.0.1,\(port) --backend=127.0.0.1,\(backendPort) "
                    + "--verify-client --verify-client-cacert=\(pki.path("ca.crt")) "
                    + "\(pki.path("server.key")) \(pki.path("server.crt")) >/dev/null 2>&1"
            }
        }
    }

    init(command: (Int) -> String) throws {
        var lastError: (any Error)? = nil
        for _ in 0..<5 {
            let port = TestHTTPServer.closedPort()
            let p = Process()
            // Under `timeout`: if the test process dies before its defers run, the server
            // still goes away after two minutes. Output goes to /dev/null through the shell, not
            // FileHandle.nullDevice (see TestPKI.sh).
            p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            p.arguments = ["-s", "KILL", "120", "/bin/sh", "-c", command(port)]
            p.standardInput = Pipe()  // s_server exits when stdin closes? keep a pipe open
            do { try p.run() } catch { lastError = error; continue }
            if Self.waitListening(port: port, process: p) {
                self.port = port
                self.process = p
                return
            }
            if p.isRunning { Self.killTree(p.processIdentifier) }
            p.waitUntilExit()
            lastError = NSError(domain: "TestTLSServer", code: 1,
                                userInfo: [NSLocalizedDescriptionKey: "the TLS server (\(command(port).split(separator: " ").dropFirst().first ?? "")) did not listen on \(port)"])
        }
        throw lastError!
    }

    func stop() {
        // s_server may run with SIGTERM blocked (inherited mask): SIGKILL it.
        if process.isRunning {
            Self.killTree(process.processIdentifier)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    /// SIGKILL the `timeout` wrapper's children (openssl), then the wrapper.
    private static func killTree(_ pid: Int32) {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
    }

    /// Up to 30 s: nghttpx took more than 5 s to listen while the unit phase ran at full load.
    private static func waitListening(port: Int, process: Process) -> Bool {
        for _ in 0..<600 {
            if !process.isRunning { return false }
            // /proc/net/tcp lists listening sockets (state 0A) without connecting to them.
            if let text = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) {
                let hexPort = String(format: ":%04X", port)
                if text.split(separator: "\n").contains(where: { $0.contains("0100007F\(hexPort)") && $0.contains(" 0A ") }) {
                    return true
                }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}

/// Runs blocking test set-up on a fresh thread, off the Swift concurrency pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { cont in
        let t = Thread { cont.resume(with: Result { try body() }) }
        t.start()
    }
}
