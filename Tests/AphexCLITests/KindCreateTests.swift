@testable import AphexCLI
import AphexCore
import ArgumentParser
import Bootstrap
import ClusterDrivers
import KubeClient
import Testing

/// kind's flags fill the driver's `KindClusterSpec` directly, validated once.
@Suite struct KindCreateTests {
    @Test func flagsMapOntoTheDriverSpec() throws {
        let cmd = try KindCreate.parse([
            "--cluster-name", "ci-1", "--workers", "2", "--node-image", "kindest/node:v1.32.2",
            "--registry-mirror", "docker.io=http://mirror:5000", "--oidc-issuer", "https://dex.example",
            "--merge-kubeconfig", "--recreate", "--retain", "--timeout", "90s"
        ])
        #expect(
            cmd.spec
                == KindClusterSpec(
                    name: "ci-1", workers: 2, nodeImage: "kindest/node:v1.32.2",
                    registryMirrors: ["docker.io": "http://mirror:5000"],
                    oidc: OIDCSettings(issuerURL: "https://dex.example"), mergeKubeconfig: true,
                    recreate: true, retain: true, waitTimeout: .seconds(90)))
    }

    @Test func defaultsAreTheDriverDefaults() throws {
        #expect(try KindCreate.parse([]).spec == KindClusterSpec(name: "platform-cluster"))
        #expect(try KindCreate.parse(["--no-oidc"]).spec.oidc == nil)
        // bootstrap fills the same spec from the same flags
        let b = try Bootstrap.parse(["--deployment", "kind", "--workers", "1", "--no-oidc", "--cluster-name", "lab"])
        #expect(b.library.kind == KindClusterSpec(name: "lab", workers: 1, oidc: nil))
    }

    @Test func invalidFlagsAreRefusedAtParse() {
        let invalid = [
            ["--workers", "11"], ["--registry-mirror", "docker.io"], ["--no-oidc", "--oidc-issuer", "https://x"],
            ["--oidc-issuer", "http://dex"], ["--node-image", ""], ["--timeout", "soon"],
            ["--kubeconfig", "/nonexistent"]
        ]
        for argv in invalid {
            #expect(throws: (any Error).self, "\(argv)") { try KindCreate.parse(argv) }
        }
    }

    @Test func dryRunPrintsThePlanAsJSON() async throws {
        let t = TestContext()
        let cmd = try KindCreate.parse(["--dry-run", "--output", "json", "--cluster-name", "ci-2", "--workers", "1"])
        try await cmd.run(cmd.context(t.ctx))
        let doc = try JSON.parse(t.out.text)
        #expect(doc["dryRun"] == .bool(true))
        #expect(doc["title"]?.string == "kind create: cluster ci-2")
        let actions = doc["actions"]?.array ?? []
        #expect(actions.contains { $0["command"]?.string?.contains("kind create cluster") == true })
    }
}

/// Bad input is exit 2 with nothing run, whichever layer refuses it.
@Suite struct UsageErrorTests {
    @Test func validationErrorsExit2() async {
        #expect(await Aphex.runCommandLine(["kind", "create", "--workers", "11"]) == 2)
        #expect(await Aphex.runCommandLine(["bootstrap", "--deployment", "k3s", "--workers", "2"]) == 2)
        #expect(await Aphex.runCommandLine(["status", "--interval", "0"]) == 2)
        #expect(await Aphex.runCommandLine(["status", "--wave", "1", "--app", "x"]) == 2)
        #expect(await Aphex.runCommandLine(["version", "--output", "env"]) == 2)
        #expect(await Aphex.runCommandLine(["no-such-command"]) == 2)
    }

    @Test func anUnknownCredentialIsExit2BeforeTheClusterIsRead() async throws {
        let t = TestContext()  // no API factory: reading the cluster would fail the test
        let cmd = try ShowSecrets.parse(["--name", "argocd-pasword"])
        do {
            try await cmd.run(cmd.context(t.ctx))
            Issue.record("an unknown name must fail")
        } catch let e as AphexError {
            #expect(e.status == .usage && e.message.contains("argocd-admin-password"))
        }
    }
}
