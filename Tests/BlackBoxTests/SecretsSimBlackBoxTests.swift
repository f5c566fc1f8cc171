import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing

/// The built `aphex bootstrap` against the simulator (stand-in kind/kubectl, loopback API):
/// the secrets step's promises seen from outside. Each run goes as far as this machine allows
/// (offline, the ArgoCD/Tekton manifests may be unavailable: the run then stops after the
/// secrets step); the assertions are about the stored Secrets and the record only.
@Suite(.serialized) struct SecretsSimBlackBoxTests {
    static let catalogSecrets = [
        "auth-system/authentik-postgresql", "auth-system/authentik-secrets", "auth-system/dex-secrets",
        "tekton-pipelines/tekton-dashboard-oidc", "platform-system/cloudflare-api-token"
    ]
    static let token = "cf-token-blackbox-1234"

    /// "ns/name[key]" -> plain value, for the catalog Secrets in the simulated world.
    func storedSecrets(_ h: SimHarness) throws -> [String: String] {
        var out: [String: String] = [:]
        for o in try h.objects() where o.kind == "Secret" {
            let id = "\(o.namespace ?? "")/\(o.name ?? "")"
            guard Self.catalogSecrets.contains(id) || id == "argocd/argocd-secret" else { continue }
            for (k, v) in o["data"]?.stringMap ?? [:] {
                if id == "argocd/argocd-secret" && k != "oidc.dex.clientSecret" { continue }
                out["\(id)[\(k)]"] = Data(base64Encoded: v).map { String(decoding: $0, as: UTF8.self) } ?? v
            }
        }
        return out
    }

    func bootstrap(_ h: SimHarness, _ extra: [String] = [], killAtRequest: String? = nil, nth: Int = 1) async throws
        -> SimHarness.RunResult
    {
        // An empty offline directory: no download is attempted; the run stops at the ArgoCD
        // install unless manifests are there, after the secrets step.
        let offline = h.home + "/offline-manifests"
        try FileManager.default.createDirectory(atPath: offline, withIntermediateDirectories: true)
        return try await h.run(
            ["bootstrap", "--deployment", "kind", "--no-wait", "--manifests-dir", offline] + extra,
            timeout: 120, extraEnv: ["CLOUDFLARE_API_TOKEN": Self.token], killAtRequest: killAtRequest, killAtNth: nth)
    }

    /// No stored value (plain or base64) in any argv, any captured output, or aphex's own output.
    func expectNoLeak(_ h: SimHarness, values: [String: String], runs: [SimHarness.RunResult]) throws {
        let rec = try h.record()
        let texts = rec.commands.map { $0.argv.joined(separator: " ") } + runs.flatMap { [$0.stderr] }
        for (ref, v) in values where v.count >= 8 && v != Self.token {
            let b64 = Data(v.utf8).base64EncodedString()
            for t in texts {
                #expect(!t.contains(v) && !t.contains(b64), "\(ref) leaked into: \(t.prefix(200))")
            }
        }
        // The Cloudflare token is the user's: it must not be in any argv either.
        for c in rec.commands { #expect(!c.argv.joined(separator: " ").contains(Self.token)) }
    }

    @Test func threeRunsStoreIdenticalValuesAndNothingLeaks() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let r1 = try await bootstrap(h)
        #expect(r1.stderr.contains("Generating and storing secrets"), "\(r1.stderr)")
        let first = try storedSecrets(h)
        #expect(first.count >= 12, "\(first.keys.sorted())\n\(r1.stderr)")
        #expect(
            first["auth-system/dex-secrets[authentik-client-secret]"] == first["auth-system/dex-secrets[client-secret]"]
        )
        #expect(
            first["tekton-pipelines/tekton-dashboard-oidc[client-secret]"]
                == first["auth-system/dex-secrets[tekton-client-secret]"])
        #expect(first["auth-system/authentik-secrets[bootstrap-token]"]?.count == 64)
        #expect(first["platform-system/cloudflare-api-token[token]"] == Self.token)
        // New Secrets were created (POST, values in the request body, field manager aphex), never
        // applied over whatever might be there: a Secret another run stored first is kept (issue 14.3).
        let creates = try h.record().requests.filter { $0.method == "POST" && $0.path.hasSuffix("/secrets") }
        #expect(
            creates.count >= 5 && creates.allSatisfy { $0.query == "fieldManager=aphex" && $0.status == 201 },
            "\(creates.map { "\($0.path)?\($0.query) \($0.status)" })")

        let r2 = try await bootstrap(h)
        let r3 = try await bootstrap(h)
        #expect(try storedSecrets(h) == first)
        #expect(r3.status == r2.status, "\(r2.stderr)\n---\n\(r3.stderr)")
        try expectNoLeak(h, values: first, runs: [r1, r2, r3])
    }

    @Test func killedMidwayThenRerunCompletesAndKeepsValues() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        // The simulator SIGKILLs aphex inside the secrets step, after the apply stored them and
        // before the step finished: the step reads the three auth-system Secrets to plan, applies,
        // then reads them back; the kill lands on the first read-back GET (the 4th), unanswered.
        let killed = try await bootstrap(h, killAtRequest: "/namespaces/auth-system/secrets/", nth: 4)
        #expect(killed.killed, "the run ended before the secrets were written: \(killed.stderr)")
        #expect(
            !killed.stderr.contains("✓ Generating and storing secrets"), "killed inside the step: \(killed.stderr)")
        let partial = try storedSecrets(h)
        #expect(partial.count >= 12, "the apply landed before the kill: \(partial.keys.sorted())")
        let rerun = try await bootstrap(h)
        let after = try storedSecrets(h)
        for (k, v) in partial { #expect(after[k] == v, "\(k) changed after the re-run") }
        for id in Self.catalogSecrets {
            #expect(after.keys.contains { $0.hasPrefix(id + "[") }, "\(id) missing after re-run: \(rerun.stderr)")
        }
        #expect(
            after["tekton-pipelines/tekton-dashboard-oidc[client-secret]"]
                == after["auth-system/dex-secrets[tekton-client-secret]"])
        try expectNoLeak(h, values: after, runs: [killed, rerun])
    }

    @Test func dryRunShowsNamesOnlyAndWritesNoSecret() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        // A real cluster first (dry-run of the cluster step would stop before the secrets step).
        _ = try await bootstrap(h)
        let before = try storedSecrets(h)
        // Remove one key's Secret so the dry-run has something to plan.
        _ = try await h.runProgram([
            "/usr/bin/env", "kubectl", "--kubeconfig", h.home + "/.aphex/clusters/platform-cluster/kubeconfig",
            "delete", "secret", "-n", "tekton-pipelines", "tekton-dashboard-oidc"
        ])
        try h.resetRecord()
        let dry = try await bootstrap(h, ["--dry-run"])
        #expect(dry.stderr.contains("tekton-dashboard-oidc"), "\(dry.stderr)")
        let secretWrites = try h.record().commands.filter { $0.argv.contains("--field-manager=aphex") && $0.mutating }
        #expect(secretWrites.isEmpty, "\(secretWrites.map(\.argv))")
        #expect(try storedSecrets(h)["tekton-pipelines/tekton-dashboard-oidc[client-secret]"] == nil)
        try expectNoLeak(h, values: before, runs: [dry])
    }

    @Test func showSecretsAndExportReadBackFromTheCluster() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        _ = try await bootstrap(h)
        let stored = try storedSecrets(h)
        let env = try await h.run(["show-secrets", "--output", "env"])
        // ArgoCD is not installed in this offline run: its initial admin secret is missing (exit 1).
        #expect(env.status == 1, "\(env.stderr)")
        #expect(env.stderr.contains("stdout is not a terminal") && env.stderr.contains("argocd-admin-password"))
        let lines = Set(env.stdout.split(separator: "\n").map(String.init))
        #expect(
            lines.contains(
                "AUTHENTIK_BOOTSTRAP_TOKEN=\(stored["auth-system/authentik-secrets[bootstrap-token]"] ?? "?")"))
        #expect(lines.contains("AUTHENTIK_ADMIN_USER=akadmin"))

        let file = h.home + "/backup.json"
        let export = try await h.run(["secrets", "export", "--file", file])
        // argocd-secret does not exist without ArgoCD: the export holds the rest and says so (exit 1).
        #expect(
            export.status == 1 && export.stderr.contains("incomplete") && export.stderr.contains("argocd-secret"),
            "\(export.stderr)")
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains(stored["auth-system/dex-secrets[client-secret]"] ?? "?"))
        let again = try await h.run(["secrets", "export", "--file", file])
        #expect(again.status == 2 && again.stderr.contains("--force"))
    }
}
