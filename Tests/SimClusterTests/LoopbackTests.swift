import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

/// The black-box face: aphex-sim serve, its stand-ins and the real kubectl.
@Suite(.serialized) struct Loopback {
    @Test func realKubectlReadsTheLoopbackAPI() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl"), "real kubectl missing")
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        // Wait for convergence through the real kubectl.
        var apps: JSON = [:]
        let deadline = Date().addingTimeInterval(30)
        repeat {
            let r = try await h.runProgram([
                "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "get", "applications", "-n", "argocd", "-o",
                "json"
            ])
            #expect(r.status == 0, "\(r.stderr)")
            apps = try JSON.parse(r.stdout)
            apps["items"] = .array(apps.items.filter { $0.name != "platform-root" })
            if apps.items.count == 9 && apps.items.allSatisfy({ $0[path: "status", "health", "status"] == "Healthy" }) {
                break
            }
            usleep(200_000)
        } while Date() < deadline
        #expect(apps.items.count == 9)
        #expect(
            apps.items.allSatisfy {
                $0[path: "status", "sync", "status"] == "Synced" && $0[path: "status", "health", "status"] == "Healthy"
            })
        let pods = try await h.runProgram(["/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "get", "pods", "-A"])
        #expect(pods.status == 0, "\(pods.stderr)")
        #expect(pods.stdout.hasPrefix("NAMESPACE"))
        #expect(pods.stdout.contains("cert-manager-webhook-"))
        #expect(pods.stdout.contains("Running"))
        // The PATH's kubectl is the real one behind a recording wrapper: same answer, and recorded.
        let wrapped = try await h.runProgram([
            h.binDir + "/kubectl", "get", "applications", "-n", "argocd", "-o", "json"
        ])
        #expect(
            try JSON.parse(wrapped.stdout).items.compactMap(\.name).filter { $0 != "platform-root" }.sorted()
                == apps.items.compactMap(\.name).sorted())
        let rec = try h.record()
        #expect(
            rec.requests.contains {
                $0.path == "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications" && $0.status == 200
            })
        #expect(rec.commands.contains { $0.via == "real-kubectl" && $0.argv.first == "kubectl" && $0.status == 0 })
    }

    @Test func standInsRejectUnknownFlagsAndWatchStreams() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let bad = try await h.runProgram([h.binDir + "/kubectl", "get", "pods", "--namespce", "x"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unknown flag: --namespce"))  // the real kubectl's own message
        let kind = try await h.runProgram([h.binDir + "/kind", "get", "clusters", "--verbose"])
        #expect(kind.status == 1 && kind.stderr.contains("unknown flag: --verbose"))
        // A watch over the loopback API delivers chunked events (real kubectl --watch is not
        // needed: read the raw stream).
        let t = SimTransportOverHTTP(port: h.port)
        let events = try t.watchLines(
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications?watch=true&timeoutSeconds=1")
        #expect(events.count >= 9)
        #expect(events.first?.hasPrefix("{\"type\":\"ADDED\",\"object\":") == true)  // Go's WatchEvent field order
    }

    @Test func downWindowRefusesConnectionsThenRecovers() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        // Long enough for the real kubectl to start on a loaded machine (1 s was not); the
        // window is then closed and the next request is answered.
        try h.setFaults(["downForSeconds": 30.0])
        let during = try await h.runProgram([
            "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "get", "ns", "--request-timeout=2s"
        ])
        #expect(during.status == 1)
        #expect(
            during.stderr.contains("connection refused") || during.stderr.contains("was refused"), "\(during.stderr)")
        try h.setFaults(["downForSeconds": 0.0])
        let after = try await h.runProgram([
            "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "get", "ns", "-o", "name"
        ])
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stdout.contains("namespace/argocd"))
    }
}

/// Reads a chunked watch stream from the loopback server with a raw socket.
struct SimTransportOverHTTP {
    let port: UInt16
    func watchLines(_ path: String) throws -> [String] {
        let (status, body) = try SimHTTPClient.request(port: port, method: "GET", path: path, timeout: 10)
        guard status == 200 else { throw SimError("watch status \(status)") }
        // SimHTTPClient has already decoded the chunked framing.
        let out = body
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
