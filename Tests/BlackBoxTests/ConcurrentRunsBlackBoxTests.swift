import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// Issue 14.3: two `aphex bootstrap` runs at once on one cluster name.
@Suite(.serialized) struct ConcurrentRunsBlackBoxTests {
    /// Starts `aphex bootstrap` in the background; returns the process and its stderr so far.
    static func start(_ h: SimHarness) throws -> (Process, LockedText, Pipe) {
        try Lifecycle.startAphex(
            h, ["bootstrap", "--deployment", "kind", "--manifests-dir", Lifecycle.manifestsDir, "--no-wait"])
    }

    @Test func twoBootstrapsAtOnceStoreOneSetOfValues() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let (a, errA, _) = try Self.start(h)
        let (b, errB, _) = try Self.start(h)
        let deadline = Date().addingTimeInterval(280)
        while (a.isRunning || b.isRunning) && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if a.isRunning { kill(a.processIdentifier, SIGKILL) }
        if b.isRunning { kill(b.processIdentifier, SIGKILL) }
        await a.exited()
        await b.exited()
        usleep(200_000)
        let stderrs = [errA.text, errB.text]
        #expect(a.terminationStatus == 0, "first: \(stderrs[0].suffix(1500))")
        #expect(b.terminationStatus == 0, "second: \(stderrs[1].suffix(1500))")
        // One of them waited for the other, and said so.
        #expect(
            stderrs.filter {
                $0.contains("Another aphex run (pid") && $0.contains("is working on cluster 'platform-cluster'")
            }.count == 1,
            "\(stderrs.map { $0.suffix(800) })")

        let rec = try h.record()
        // One cluster created, never deleted by the other run's cleanup.
        #expect(rec.commands(["kind", "create", "cluster"]).count == 1)
        #expect(rec.commands(["kind", "delete"]).isEmpty)
        // Each Secret created once: the second run kept what the first stored (no 409 even).
        let creates = rec.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/secrets") }
        #expect(
            creates.count == 4, "one POST per Secret (3 in auth-system, 1 in tekton-pipelines): \(creates.map(\.path))")
        #expect(creates.allSatisfy { $0.status == 201 }, "\(creates.map { "\($0.path) \($0.status)" })")
        // One consistent set: every copy equals its source, and a re-read gives the same values.
        let values = try await Lifecycle.credentials(h)
        #expect(values.count >= 10)
        #expect(values["DEX_AUTHENTIK_CLIENT_SECRET"] == values["DEX_CLIENT_SECRET"])
        #expect(values["TEKTON_DASHBOARD_CLIENT_SECRET"] == values["DEX_TEKTON_CLIENT_SECRET"])
        #expect(values["ARGOCD_OIDC_CLIENT_SECRET"] == values["DEX_ARGOCD_CLIENT_SECRET"])
        let status = try await h.run(["status", "--output", "json"])
        let secrets = try JSON.parse(status.stdout)["secrets"]
        #expect(secrets?["inconsistent"]?.array?.isEmpty ?? true, "\(secrets?.serialized() ?? "")")
    }
}
