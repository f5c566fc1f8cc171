import AphexCore
import KubeClient
import Foundation
import SimCluster
#if canImport(Glibc)
import Glibc
#endif

/// Test CAs and a server certificate for 127.0.0.1, made with the openssl CLI: `cluster-ca`
/// (what a kubeconfig pins) and `public-ca` (a publicly trusted CA, in the system store of
/// the pinning test).
final class BlackBoxPKI: @unchecked Sendable {
    let dir: String

    /// `signer`: which CA signs the server certificate.
    init(signer: String) throws {
        dir = NSTemporaryDirectory() + "aphex-bb-pki-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try shell("""
            set -e
            cd '\(dir)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
            for ca in cluster-ca public-ca; do
              key $ca.key
              openssl req -x509 -new -key $ca.key -out $ca.crt -days 2 -subj /CN=$ca \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
            done
            key server.key
            openssl req -new -key server.key -out server.csr -subj /CN=kube-apiserver
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA \(signer).crt -CAkey \(signer).key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
            """)
    }

    func path(_ name: String) -> String { "\(dir)/\(name)" }
    func base64(_ name: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: path(name))).base64EncodedString() }
    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

@discardableResult
func shell(_ script: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "exec 2>&1\n" + script]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw SimError("shell failed (\(p.terminationStatus)): \(text)") }
    return text
}

/// nghttpx terminating TLS (h2 and http/1.1 by ALPN, as the API server) in front of the
/// simulator's plain HTTP API. scripts/test.sh installs it (nghttp2-proxy).
final class TLSFront: @unchecked Sendable {
    let port: Int
    private let process: Process
    var url: String { "https://127.0.0.1:\(port)" }

    init(pki: BlackBoxPKI, backendPort: UInt16) throws {
        var started: (Int, Process)? = nil
        for _ in 0..<5 where started == nil {
            let port = Self.freePort()
            let p = Process()
            // Under `timeout`: gone after ten minutes even if the test process dies first.
            p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            p.arguments = ["-s", "KILL", "600", "/bin/sh", "-c",
                           "exec nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp --frontend=127.0.0.1,\(port) "
                           + "--backend=127.0.0.1,\(backendPort) --backend-read-timeout=10m --frontend-read-timeout=10m "
                           + "\(pki.path("server.key")) \(pki.path("server.crt")) >/dev/null 2>&1"]
            p.standardInput = Pipe()
            try p.run()
            if Self.waitListening(port: port, process: p) { started = (port, p) } else { Self.kill(p) }
        }
        guard let started else { throw SimError("nghttpx did not start (is nghttp2-proxy installed? scripts/test.sh installs it)") }
        (port, process) = started
    }

    func stop() { Self.kill(process) }
    deinit { stop() }

    private static func kill(_ p: Process) {
        guard p.isRunning else { return }
        let pid = p.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { Glibc.kill(child, SIGKILL) }
        Glibc.kill(pid, SIGKILL)
        p.waitUntilExit()
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    private static func waitListening(port: Int, process: Process) -> Bool {
        for _ in 0..<100 {
            if !process.isRunning { return false }
            if let text = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8),
               text.split(separator: "\n").contains(where: { $0.contains("0100007F" + String(format: ":%04X", port)) && $0.contains(" 0A ") }) {
                return true
            }
            usleep(50_000)
        }
        return false
    }
}

/// A kubeconfig for `server`: a token user (the simulator accepts any bearer token) or an
/// exec plugin, the cluster's CA as `certificate-authority-data` when given.
func testKubeconfig(server: String, caData: String?, user: String) throws -> String {
    let path = NSTemporaryDirectory() + "aphex-bb-kc-" + UUID().uuidString.prefix(8).lowercased()
    try """
    apiVersion: v1
    kind: Config
    clusters:
    - name: lab
      cluster:
        server: \(server)\(caData.map { "\n    certificate-authority-data: \($0)" } ?? "")
    users:
    - name: lab
      user:
    \(user)
    contexts:
    - name: lab
      context: {cluster: lab, user: lab}
    current-context: lab
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
