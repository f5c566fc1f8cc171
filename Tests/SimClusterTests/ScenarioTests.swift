import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

@Suite struct Scenarios {
    @Test func everyBundledScenarioLoads() throws {
        let names = Scenario.available()
        for required in [
            "happy-kind", "happy-k3s", "stuck-cabundle", "degraded-app", "image-pull", "wave-stuck", "bench-25",
            "blackbox-quick"
        ] {
            #expect(names.contains(required), "missing scenario \(required)")
        }
        for n in names { _ = try Scenario.load(n) }
        let k3s = try Scenario.load("happy-k3s")
        #expect(k3s.waves.map(\.wave) == [0, 1, 3, 4, 5, 10, 20])
        #expect(try Scenario.load("bench-25").apps.count == 25)
        #expect(try Scenario.load("happy-kind").waves.map(\.wave) == [0, 3, 10, 15, 20, 30])
    }

    @Test func stuckCABundleNeverLetsTheWebhookAnswer() async throws {
        let sim = try SimCluster(scenario: "stuck-cabundle")
        try await applyRoot(sim)
        #expect(sim.run { _ in isReady(app(sim, "cert-manager")) })
        sim.advance(by: .seconds(120))
        let vwc = sim.world.get(ResourceRef.validatingWebhooks, namespace: nil, name: "cert-manager-webhook")!
        #expect(vwc["webhooks"]?[0]?[path: "clientConfig", "caBundle"] == nil)
        let out = try await sim.runner.run(
            Command(
                ["kubectl", "create", "--dry-run=server", "-f", "-"],
                stdinText: """
                    apiVersion: cert-manager.io/v1
                    kind: Issuer
                    metadata: {name: probe, namespace: cert-manager}
                    spec: {selfSigned: {}}
                    """, checkExit: false))
        #expect(out.status == 1)
        #expect(out.stderrText.contains("x509: certificate signed by unknown authority"))
    }

    @Test func degradedAppStaysDegradedAndLaterWavesProceed() async throws {
        let sim = try SimCluster(scenario: "degraded-app")
        try await applyRoot(sim)
        var wasHealthy = false
        #expect(
            sim.run(step: .seconds(1)) { _ in
                if isReady(app(sim, "external-secrets")) { wasHealthy = true }
                return app(sim, "external-secrets")?[path: "status", "health", "status"] == "Degraded"
            })
        #expect(wasHealthy)
        #expect(
            app(sim, "external-secrets")?[path: "status", "health", "message"]?.string?.contains("progress deadline")
                == true)
        #expect(sim.run { _ in isReady(app(sim, "ingress")) })
        sim.advance(by: .seconds(300))
        #expect(app(sim, "external-secrets")?[path: "status", "health", "status"] == "Degraded")
    }

    @Test func imagePullNeverCompletes() async throws {
        let sim = try SimCluster(scenario: "image-pull")
        try await applyRoot(sim)
        #expect(sim.run { _ in isReady(app(sim, "catalog")) })
        sim.advance(by: .seconds(300))
        let controllers = app(sim, "controllers")!
        #expect(controllers[path: "status", "health", "status"] == "Progressing")
        #expect(app(sim, "ingress")?[path: "status", "operationState"] == nil)
        let pods = try sim.world.list(
            ResourceRef.pods, namespace: "platform-system",
            labelSelector: "app.kubernetes.io/name=organization-controller")
        let waiting = pods.first?[path: "status", "containerStatuses"]?[0]?[path: "state", "waiting"]
        #expect(waiting?["reason"] == "ImagePullBackOff")
        #expect(waiting?["message"]?.string?.contains("ghcr.io/bdchatham/organization-controller:latest") == true)
        let events = try sim.world.list(ResourceRef.events, namespace: "platform-system", fieldSelector: "type=Warning")
        #expect(
            events.contains {
                $0["reason"] == "Failed" && ($0["message"]?.string ?? "").contains("Failed to pull image")
            })
        let get = try await sim.runner.run(Command(["kubectl", "get", "pods", "-n", "platform-system"]))
        #expect(get.stdoutText.contains("ImagePullBackOff"))
    }

    @Test func waveStuckBlocksLaterWaves() async throws {
        let sim = try SimCluster(scenario: "wave-stuck")
        try await applyRoot(sim)
        #expect(sim.run { _ in isReady(app(sim, "auth")) && isReady(app(sim, "cert-manager")) })
        sim.advance(by: .seconds(300))
        let es = app(sim, "external-secrets")!
        #expect(es[path: "status", "sync", "status"] == "OutOfSync")
        #expect(es[path: "status", "operationState", "phase"] == "Failed")
        #expect(es[path: "status", "conditions"]?[0]?["type"] == "SyncError")
        for later in ["catalog", "controllers", "cert-foundation", "ingress"] {
            #expect(app(sim, later)?[path: "status", "sync", "status"] == "OutOfSync")
            #expect(app(sim, later)?[path: "status", "operationState"] == nil)
        }
    }

    @Test func k3sInstallThroughTheSimulatedInstaller() async throws {
        let sim = try SimCluster(scenario: "happy-k3s")
        await #expect(throws: CommandError.self) { try await sim.runner.run(Command(["k3s", "--version"])) }
        let script = try await sim.transport.send(HTTPRequest(url: sim.baseURL + "/_sim/k3s-install.sh"))
        #expect(script.status == 200 && script.text.hasPrefix("#!/bin/sh"))
        sim.uid = 1000
        let asUser = try await sim.runner.run(Command(["sh", "-s", "-"], stdin: script.body, checkExit: false))
        #expect(asUser.stderrText.contains("You need to be root"))
        sim.uid = 0
        let out = try await sim.runner.run(
            Command(
                ["sh", "-s", "-", "--disable", "traefik"], stdin: script.body,
                environment: ["INSTALL_K3S_VERSION": "v1.31.4+k3s1"]))
        #expect(out.stdoutText.contains("[INFO]  systemd: Starting k3s"))
        let kc = sim.hostRoot + "/etc/rancher/k3s/k3s.yaml"
        #expect(FileManager.default.fileExists(atPath: kc))
        #expect(FileManager.default.fileExists(atPath: sim.hostRoot + "/usr/local/bin/k3s-uninstall.sh"))
        let active = try await sim.runner.run(Command(["systemctl", "is-active", "k3s"]))
        #expect(active.stdoutText == "active\n")
        let v = try await sim.runner.run(Command(["k3s", "--version"]))
        #expect(v.stdoutText.hasPrefix("k3s version v1.31.4+k3s1"))
        #expect(sim.run(until: .seconds(30)) { _ in true })
        let nodes = try await sim.runner.run(Command(["k3s", "kubectl", "get", "nodes", "-o", "name"]))
        #expect(nodes.stdoutText == "node/aphex-host\n")
        #expect(sim.record.writes.contains { $0.hasPrefix("sh -s -") })
    }

    @Test func bench25StartsBootstrapped() throws {
        let sim = try SimCluster(scenario: "bench-25")
        #expect(sim.run(until: .seconds(400), step: .seconds(1)) { _ in sim.converged() })
        #expect(try sim.world.list(ResourceRef.applications, namespace: "argocd").count == 26)
    }
}
