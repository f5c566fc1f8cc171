import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// Whether this host lets a test give a child process its own mount namespace (root with
/// CAP_SYS_ADMIN, as in the CI container).
let canUnshareMounts: Bool = {
    (try? runShell("unshare --mount --propagation private true")) != nil
}()

@Suite(.serialized) struct TLSBlackBoxTests {
    /// Issue 14, item 4: a kubeconfig's CA is the only trust anchor. The API server's
    /// certificate comes from `other-ca`, which IS in libcurl's built-in store here (the built-
    /// in CA directory and file are bind-mounted over in a private mount namespace of the aphex
    /// process, so nothing on the host changes) but NOT the kubeconfig's CA: refused. Without
    /// a CA in the kubeconfig the same server is trusted through that store, which proves the
    /// store is the one libcurl reads.
    @Test(.enabled(if: canUnshareMounts, "needs a private mount namespace (unshare --mount, as root)"))
    func caPinningRefusesASystemTrustedServer() async throws {
        let builtIn = CurlTransport.builtInCALocations
        let directory = try #require(
            builtIn.directory ?? builtIn.file.map { ($0 as NSString).deletingLastPathComponent },
            "libcurl has no built-in CA store here")
        let h = try await SimHarness.start(scenario: "bench-25")
        defer { h.stop() }
        let pki = try await TestPKI.create(serverSigner: "other-ca")
        defer { pki.remove() }
        let front = try await HTTPTestServer.TLSFront.proxy(pki: pki, backendPort: Int(h.port), verifyClient: false)
        defer { front.stop() }
        // The stand-in system store: other-ca as the CA file (under the built-in name) and,
        // hashed, in the CA directory.
        let store = pki.path("store")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: pki.path("other-ca.crt"), toPath: store + "/public-ca.pem")
        var mounts = "mount --bind '\(store)' '\(directory)'"
        if let file = builtIn.file {
            if (file as NSString).deletingLastPathComponent == directory {
                try FileManager.default.copyItem(
                    atPath: pki.path("other-ca.crt"), toPath: store + "/" + (file as NSString).lastPathComponent)
            } else {
                mounts += " && mount --bind '\(store)/public-ca.pem' '\(file)'"
            }
        }
        try runShell("openssl rehash '\(store)'")
        let user = "    token: any-token"
        let pinned = try testKubeconfig(server: front.baseURL, caData: try pki.base64("ca.crt"), user: user)
        let unpinned = try testKubeconfig(server: front.baseURL, caData: nil, user: user)
        defer { for p in [pinned, unpinned] { try? FileManager.default.removeItem(atPath: p) } }
        func status(_ kubeconfig: String) async throws -> (SimHarness.RunResult, JSON?) {
            let r = try await h.runProgram([
                "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                mounts + " && exec \"$0\" \"$@\"", BuiltAphex.path, "status", "--kubeconfig", kubeconfig,
                "--output", "json"
            ])
            return (r, try? JSON.parse(r.stdout))
        }
        let (trusted, trustedDoc) = try await status(unpinned)
        #expect(
            trustedDoc?[path: "cluster", "reachable"]?.bool == true,
            "without a kubeconfig CA the system store must be used (else this test proves nothing): \(trusted.stderr)")
        let (refused, refusedDoc) = try await status(pinned)
        #expect(refused.status == 1)
        #expect(
            refusedDoc?[path: "cluster", "reachable"]?.bool == false,
            """
            a certificate from the system store was accepted although the kubeconfig pins another CA: \
            \(refused.stdout)
            """
        )
        #expect(refused.stderr.contains("TLS") && refused.stderr.contains("certificate"), "\(refused.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory), "the host's store is untouched")
    }
}
