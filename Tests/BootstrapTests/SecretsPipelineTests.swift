import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport
@testable import Bootstrap

@Suite struct SecretsPipelineTests {
    func state(
        _ cluster: FakeSecretCluster, reporter: CollectingReporter = CollectingReporter(), dryRun: Bool = false,
        deployment: Deployment = .kind, secretsFrom: String? = nil, env: [String: String] = [:]
    ) -> PipelineState {
        var o = BootstrapOptions(deployment: deployment)
        o.dryRun = dryRun
        o.secretsFrom = secretsFrom
        let s = PipelineState(
            app: secretsTestContext(cluster, reporter: reporter, environment: env), options: o,
            makeAPI: { _, _, _ in cluster })
        s.kubeconfig = "/home/u/.aphex/clusters/platform-cluster/kubeconfig"
        s.kubeContext = "kind-platform-cluster"
        return s
    }

    @Test func stepThenDeferredKeyThenRerunIsUnchanged() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let st = state(cluster, reporter: reporter)
        try await Pipeline(steps: [SecretsPipeline.step]).run(st)
        let rec = try #require(st.records.first)
        #expect(rec.id == "secrets" && rec.outcome == .done)
        #expect(
            rec.detail == "created 11 keys, 1 deferred until argocd/argocd-secret exists, skipped 1 (optional, not set)"
        )
        #expect(rec.changes.contains("secret auth-system/dex-secrets key client-secret (create, generated)"))
        #expect(
            rec.commands == [
                """
                POST /api/v1/namespaces/auth-system/secrets (creates Secret authentik-postgresql; values in the \
                request body)
                """,
                """
                POST /api/v1/namespaces/auth-system/secrets (creates Secret authentik-secrets; values in the \
                request body)
                """,
                "POST /api/v1/namespaces/auth-system/secrets (creates Secret dex-secrets; values in the request body)",
                """
                POST /api/v1/namespaces/tekton-pipelines/secrets (creates Secret tekton-dashboard-oidc; values in \
                the request body)
                """
            ])
        #expect(cluster.argvs.isEmpty, "new Secrets are created, never applied")
        // Each created Secret is in aphex's ownership record, with its uid (issue 14.1).
        let record = try #require(cluster.configMaps["kube-system/aphex-ownership"])
        let owned = try JSON.parse(record["data"]?["objects.json"]?.string ?? "").array ?? []
        #expect(
            owned.map {
                "\($0["namespace"]?.string ?? "")/\($0["name"]?.string ?? "") \($0["uid"]?.string ?? "pending")"
            }.sorted() == [
                "auth-system/authentik-postgresql uid-auth-system-authentik-postgresql",
                "auth-system/authentik-secrets uid-auth-system-authentik-secrets",
                "auth-system/dex-secrets uid-auth-system-dex-secrets",
                "tekton-pipelines/tekton-dashboard-oidc uid-tekton-pipelines-tekton-dashboard-oidc"
            ])
        // The CLOUDFLARE_API_TOKEN warning is given once (by the pipeline), not once per key.
        #expect(reporter.warnings.filter { $0.contains("CLOUDFLARE_API_TOKEN") }.count == 1)

        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "k"])  // ArgoCD installed
        let deferred = try await SecretsPipeline.completeDeferred(st)
        #expect(deferred.outcome == .done)
        #expect(
            deferred.commands == [
                "PATCH /api/v1/namespaces/argocd/secrets/argocd-secret (JSON merge patch of the added keys)"
            ])
        #expect(
            cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret")
                == cluster.value("auth-system", "dex-secrets", "argocd-client-secret"))

        let again = state(cluster)
        try await Pipeline(steps: [SecretsPipeline.step]).run(again)
        #expect(again.records.first?.outcome == .unchanged)
        #expect(again.records.first?.changes == [])
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func completeDeferredFailsWhenArgoCDSecretNeverAppears() async throws {
        let cluster = FakeSecretCluster()
        let st = state(cluster)
        _ = try await SecretsPipeline.run(st)
        await #expect(throws: AphexError.self) { _ = try await SecretsPipeline.completeDeferred(st) }
    }

    @Test func dryRunStepListsNamesAndWritesNothing() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let st = state(cluster, reporter: reporter, dryRun: true)
        try await Pipeline(steps: [SecretsPipeline.step]).run(st)
        #expect(st.records.first?.outcome == .planned)
        #expect(st.records.first?.changes.count == 11)
        #expect(cluster.commands.isEmpty && cluster.requests.allSatisfy { $0.method == "GET" })
        #expect(
            reporter.lines.contains(
                "info:      + secret auth-system/authentik-secrets key bootstrap-token (create, generated)"))
    }

    @Test func showSecretsAtEndPrintsTheTable() async throws {
        let cluster = try await bootstrappedCluster()
        let out = BufferWriter()
        var o = BootstrapOptions(deployment: .kind)
        o.showSecrets = true
        let st = PipelineState(
            app: secretsTestContext(cluster, output: out), options: o, makeAPI: { _, _, _ in cluster })
        st.kubeconfig = "/tmp/kc"
        try await SecretsPipeline.showSecretsAtEnd(st)
        #expect(out.text.hasPrefix("NAME"))
        #expect(out.text.contains(cluster.value("auth-system", "authentik-secrets", "admin-password")!))
    }
}

@Suite struct SecretsInputValidationTests {
    @Test func malformedInputsAreUsageErrorsBeforeAnythingRuns() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json").path
        FileManager.default.createFile(atPath: bad, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o600])
        var o = BootstrapOptions(deployment: .kind)
        o.secretsFrom = bad
        #expect(throws: AphexError.self) { try SecretsPipeline.validateInputs(o, environment: [:]) }
        do { try SecretsPipeline.validateInputs(o, environment: [:]) } catch let e as AphexError {
            #expect(e.status == .usage)
        }

        let empty = dir.appendingPathComponent("token").path
        FileManager.default.createFile(atPath: empty, contents: Data("\n".utf8), attributes: [.posixPermissions: 0o600])
        var t = BootstrapOptions(deployment: .kind)
        t.cloudflareTokenFile = empty
        #expect(throws: AphexError.self) { try SecretsPipeline.validateInputs(t, environment: [:]) }
        #expect(throws: Never.self) {
            try SecretsPipeline.validateInputs(BootstrapOptions(deployment: .kind), environment: [:])
        }
    }
}
