import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// Existing clusters whose kubeconfig needs kubectl to authenticate (issue 14, item 11).
@Suite(.serialized) struct ExecPluginBlackBoxTests {
    /// Issue 14, item 11: a cluster whose kubeconfig authenticates with an exec plugin (EKS, GKE,
    /// OIDC login). client-go runs plugins only for https servers, so the simulator sits behind
    /// nghttpx; the plugin is a script that prints an ExecCredential (the simulator accepts any
    /// bearer token) and logs each run. aphex reads and writes through `kubectl` (the fallback),
    /// and the WHOLE bootstrap converges: the argocd-secret merge patch goes through `kubectl
    /// patch` with the patch on stdin.
    @Test func bootstrapWithAnExecPluginKubeconfigConverges() async throws {
        // blackbox-fresh-kind with its cluster already there (an existing cluster: --use-existing).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(
            contentsOf: root.appendingPathComponent("SimCluster/Scenarios/blackbox-fresh-kind.yaml"), encoding: .utf8
        )
        .replacingOccurrences(of: "  exists: false", with: "  exists: true")
        .replacingOccurrences(of: "name: blackbox-fresh-kind\n", with: "name: blackbox-existing-kind\n")
        let scenario = NSTemporaryDirectory() + "aphex-existing-kind-\(UUID().uuidString.prefix(6)).yaml"
        try quoteDescription(text).write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        let h = try await SimHarness.start(scenario: scenario)
        defer { h.stop() }
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let front = try await HTTPTestServer.TLSFront.proxy(pki: pki, backendPort: Int(h.port), verifyClient: false)
        defer { front.stop() }
        let plugin = pki.path("exec-plugin.sh"), log = pki.path("exec-plugin.log")
        try """
        #!/bin/sh
        # An exec credential plugin, as aws/gke-gcloud-auth-plugin/kubelogin are: prints an ExecCredential.
        echo run >> '\(log)'
        printf '%s\\n' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'\
        '"status":{"token":"exec-plugin-token"}}'

        """.write(toFile: plugin, atomically: true, encoding: .utf8)
        chmod(plugin, 0o755)
        let kubeconfig = try testKubeconfig(
            server: front.baseURL, caData: try pki.base64("ca.crt"),
            user: """
                    exec:
                      apiVersion: client.authentication.k8s.io/v1
                      command: \(plugin)
                      interactiveMode: Never
                """)
        defer { try? FileManager.default.removeItem(atPath: kubeconfig) }

        let r = try await h.run(
            [
                "bootstrap", "--deployment", "kind", "--use-existing", "--kubeconfig", kubeconfig,
                "--manifests-dir", Lifecycle.manifestsDir, "--timeout", "4m", "--verbose"
            ], timeout: 300)
        #expect(r.status == 0, "\(Lifecycle.describe(r))")
        #expect(r.stdout.contains("The platform is converged."), "\(r.stdout)")
        #expect(r.stderr.contains("kubectl get --raw"), "the kubectl fallback was used: \(r.stderr.suffix(2000))")
        // The Authentik token check cannot present the token through kubectl, and says so.
        #expect(r.stderr.contains("the token cannot be presented to Authentik"), "\(r.stderr.suffix(1500))")
        let runs = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
        #expect(runs > 0, "kubectl never ran the exec plugin")

        let rec = try h.record()
        // The merge patch of argocd-secret (ArgoCD's Secret, aphex adds one key) went through
        // `kubectl patch` with the patch on stdin, and reached the API.
        let patches = rec.commands.filter { $0.argv.contains("patch") && $0.argv.contains("argocd-secret") }
        #expect(patches.contains { $0.status == 0 && $0.argv.contains("/dev/stdin") }, "\(patches.map(\.argv))")
        #expect(
            rec.requests.contains {
                $0.method == "PATCH" && $0.path == "/api/v1/namespaces/argocd/secrets/argocd-secret" && $0.status == 200
            })
        // No secret in any argv or stderr, nor in what aphex printed (a kubectl's stdout is an
        // API response body aphex reads from a pipe: a Secret's data is in it by nature).
        let stored = try await Lifecycle.credentials(h)
        #expect(stored.count >= 10, "\(stored.keys.sorted())")
        let secrets = stored.filter { !$0.key.hasSuffix("_USER") }.map(\.value).filter { $0.count >= 6 }
        for c in rec.commands {
            let text = c.argv.joined(separator: " ") + "\n" + c.stderr
            #expect(!secrets.contains { text.contains($0) }, "a secret in the argv or stderr of \(c.argv.prefix(8))")
        }
        #expect(!secrets.contains { r.stdout.contains($0) || r.stderr.contains($0) })

        // status through the same kubeconfig agrees.
        let s = try await h.run(["status", "--kubeconfig", kubeconfig])
        #expect(s.status == 0, "\(s.stdout)\n\(s.stderr)")
    }
}
