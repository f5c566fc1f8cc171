import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Test PKI made with the `openssl` CLI at test time: a kind-like cluster CA (`ca`), an
/// unrelated CA (`other-ca`, e.g. a publicly trusted one), a server certificate for 127.0.0.1
/// signed by `serverSigner`, and a client certificate (from `ca`) in system:masters.
public final class TestPKI: @unchecked Sendable {
    public let dir: String

    /// Generates the PKI on its own thread: the openssl runs block, and the cooperative pool
    /// (two threads on a two-core machine) must stay free for the other tests.
    public static func create(serverSigner: String = "ca") async throws -> TestPKI {
        try await offThePool { try TestPKI(serverSigner: serverSigner) }
    }

    private init(serverSigner: String) throws {
        dir = NSTemporaryDirectory() + "aphex-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let caExtensions = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        try sh(
            """
            set -e
            cd '\(dir)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
            key ca.key
            openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=kubernetes \(caExtensions)
            key other-ca.key
            openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca \(caExtensions)
            key server.key
            openssl req -new -key server.key -out server.csr -subj /CN=kube-apiserver
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA \(serverSigner).crt -CAkey \(serverSigner).key -CAcreateserial \
              -out server.crt -days 2 -extfile server.ext 2>/dev/null
            key client.key
            openssl req -new -key client.key -out client.csr -subj '/O=system:masters/CN=kubernetes-admin'
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 \
              -extfile client.ext 2>/dev/null
            chmod 600 *.key
            """)
    }

    public func path(_ name: String) -> String { "\(dir)/\(name)" }
    public func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }
    public func base64(_ name: String) throws -> String { Data(try bytes(name)).base64EncodedString() }

    public func remove() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs `script` with /bin/sh (e.g. to make more certificates in `dir`).
    @discardableResult
    public func sh(_ script: String) throws -> String { try runShell(script) }
}

extension HTTPTestServer {
    /// The TLS mode: a TLS server process on 127.0.0.1. Either `openssl s_server -www` (its
    /// HTTP/1.0 status page), or nghttpx terminating TLS (h2 and http/1.1 by ALPN, as the
    /// Kubernetes API server) in front of a plain HTTP port: an `HTTPTestServer` or the
    /// simulator's API. nghttpx is Debian's nghttp2-proxy; scripts/test.sh installs it.
    public final class TLSFront: @unchecked Sendable {
        public let port: Int
        private let process: Process
        public var baseURL: String { "https://127.0.0.1:\(port)" }
        public var url: String { baseURL + "/" }

        /// s_server with the PKI's server certificate, demanding a client certificate signed by
        /// the PKI's CA, as the API server of a kind cluster does.
        public static func statusPage(pki: TestPKI) async throws -> TLSFront {
            try await statusPage(
                cert: pki.path("server.crt"), key: pki.path("server.key"),
                clientCA: pki.path("ca.crt"))
        }

        /// s_server with the given certificate and key; a client certificate signed by
        /// `clientCA` is required when one is given.
        public static func statusPage(cert: String, key: String, clientCA: String? = nil) async throws -> TLSFront {
            try await offThePool {
                try TLSFront { port in
                    "exec openssl s_server -accept 127.0.0.1:\(port) -cert \(cert) -key \(key) "
                        + (clientCA.map { "-CAfile \($0) -Verify 1 " } ?? "") + "-www -quiet >/dev/null 2>&1"
                }
            }
        }

        /// nghttpx in front of `backendPort` (plain HTTP/1.1), with the PKI's server
        /// certificate; `verifyClient`: a client certificate signed by the PKI's CA is required.
        public static func proxy(pki: TestPKI, backendPort: Int, verifyClient: Bool = true) async throws -> TLSFront {
            try await offThePool {
                try TLSFront { port in
                    "exec nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp "
                        + "--frontend=127.0.0.1,\(port) --backend=127.0.0.1,\(backendPort) "
                        + "--backend-read-timeout=10m --frontend-read-timeout=10m "
                        + (verifyClient ? "--verify-client --verify-client-cacert=\(pki.path("ca.crt")) " : "")
                        + "\(pki.path("server.key")) \(pki.path("server.crt")) >/dev/null 2>&1"
                }
            }
        }

        private init(command: (Int) -> String) throws {
            var lastError: (any Error)? = nil
            for _ in 0..<5 {
                let port = HTTPTestServer.closedPort()
                let p = Process()
                // Under `timeout`: if the test process dies before its defers run, the server
                // still goes away after ten minutes. Output goes to /dev/null through the shell,
                // not FileHandle.nullDevice (see runShell).
                p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
                p.arguments = ["-s", "KILL", "600", "/bin/sh", "-c", command(port)]
                p.standardInput = Pipe()  // s_server exits when its stdin closes: keep a pipe open
                do { try p.run() } catch {
                    lastError = error
                    continue
                }
                if Self.waitListening(port: port, process: p) {
                    self.port = port
                    self.process = p
                    return
                }
                if p.isRunning { Self.killTree(p.processIdentifier) }
                p.waitUntilExit()
                let program = command(port).split(separator: " ").dropFirst().first ?? ""
                lastError = TestSupportError(
                    "the TLS server (\(program)) did not listen on \(port) "
                        + "(is nghttp2-proxy installed? scripts/test.sh installs it)")
            }
            throw lastError!
        }

        public func stop() {
            // s_server may run with SIGTERM blocked (inherited mask): SIGKILL it.
            if process.isRunning {
                Self.killTree(process.processIdentifier)
                process.waitUntilExit()
            }
        }

        deinit { stop() }

        /// SIGKILL the `timeout` wrapper's children (openssl, nghttpx), then the wrapper.
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
                    let listening = text.split(separator: "\n").contains {
                        $0.contains("0100007F\(hexPort)") && $0.contains(" 0A ")
                    }
                    if listening { return true }
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return false
        }
    }
}
