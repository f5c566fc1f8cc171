import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

@Suite struct StatusTests {
    func convergedWorld(apps: Int = 25) -> FakeKube {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 0, 3: 0, 10: 0, 15: 0, 20: 0, 30: 0], caBundleInjectedAt: 0)
        // Pad to `apps` children across the waves.
        var names = PlatformFixture.waves.map(\.0)
        for i in 0..<max(0, apps - names.count) {
            let name = "extra-\(i)"
            names.append(name)
            k.put(.applications, Obj.converged(name, wave: String([0, 10, 20][i % 3])))
        }
        k.put(.applications, Obj.root(children: names))
        k.clock.advance(by: .seconds(1))
        return k
    }

    func status(_ k: FakeKube, _ options: StatusOptions = StatusOptions(), format: OutputFormat = .text) async throws
        -> (AphexCore.ExitStatus, String)
    {
        let out = BufferWriter()
        let ctx = testContext(clock: k.clock, format: format, output: out)
        let s = try await StatusReport.run(ctx, options, api: k, server: "https://127.0.0.1:6443")
        return (s, out.text)
    }

    @Test func convergedPlatformExitsZeroWithinSixRequests() async throws {
        let k = convergedWorld()
        let before = k.requestCount
        let (s, text) = try await status(k)
        #expect(s == .ok, "\(text)")
        #expect(k.requestCount - before <= 6, "\(k.requests.suffix(k.requestCount - before))")
        #expect(text.contains("Cluster: reachable at https://127.0.0.1:6443"))
        #expect(text.contains("argocd-application-controller"))
        #expect(text.contains("tekton-pipelines-controller"))
        #expect(text.contains("cert-manager webhook: ready"))
        #expect(text.contains("Converged: 25 Applications in 6 waves"))
    }

    @Test func jsonSnapshotFollowsTheDocumentedSchema() async throws {
        let k = convergedWorld()
        let (s, text) = try await status(k, format: .json)
        #expect(s == .ok)
        let doc = try JSON.parse(text)
        #expect(doc["schemaVersion"]?.int == 1)
        #expect(doc["converged"]?.bool == true)
        for key in [
            "generatedAt", "tookMs", "cluster", "root", "components", "waves", "certManager", "secrets", "timings",
            "problems"
        ] {
            #expect(doc[key] != nil, "missing \(key)")
        }
        #expect(doc[path: "cluster", "reachable"]?.bool == true)
        #expect(doc[path: "cluster", "server"]?.string == "https://127.0.0.1:6443")
        #expect(doc["waves"]?.array?.count == 6)
        #expect(doc[path: "certManager", "ready"]?.bool == true)
        #expect(doc[path: "secrets", "checked"] != nil)
        let firstApp = doc["waves"]?[0]?["apps"]?[0]
        for key in ["name", "sync", "health", "phase", "reason"] { #expect(firstApp?[key] != nil, "app.\(key)") }
        // root created 09:59:00, last sync finished 10:01:00
        #expect(doc[path: "timings", "platformSeconds"]?.double == 120)
    }

    @Test func notConvergedExitsOneAndSaysWhere() async throws {
        let k = convergedWorld()
        k.put(.applications, Obj.app("catalog", wave: "20", sync: "Synced", health: "Progressing"))
        let (s, text) = try await status(k)
        #expect(s == .failed)
        #expect(text.contains("Not converged: wave 20 (catalog)"))
    }

    @Test func caBundleMissingMakesCertManagerNotConverged() async throws {
        let k = convergedWorld()
        k.put(.validatingWebhooks, Obj.webhookConfig(caBundle: ""))
        k.put(.mutatingWebhooks, Obj.webhookConfig(caBundle: ""))
        let (s, text) = try await status(k)
        #expect(s == .failed)
        #expect(text.contains("CA bundle not injected"))
        #expect(text.contains("Not converged: wave 10 (cert-manager)"))
    }

    /// "Secrets: present and consistent (5 secrets present and consistent ...)" said it twice.
    @Test func consistentSecretsAreSaidOnce() async throws {
        let (s, text) = try await status(convergedWorld())
        #expect(s == .ok)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Secrets: ") })
        #expect(line.components(separatedBy: "present and consistent").count == 2, "\(line)")
        #expect(line.hasPrefix("Secrets: 6 secrets present and consistent"), "\(line)")
    }

    /// ArgoCD stamps whole seconds: a wave whose syncs started and finished in the same second has
    /// no measurable duration. It reads "unknown", never "0ms"; the JSON leaves `seconds` out.
    @Test func waveTimingsWithinOneSecondAreUnknownNotZero() async throws {
        let k = convergedWorld(apps: 0)
        k.put(
            .applications,
            Obj.app(
                "ingress-controller", wave: "0", sync: "Synced", health: "Healthy", opPhase: "Succeeded",
                finishedAt: "2026-11-24T10:00:00Z", reconciledAt: "2026-11-24T10:00:05Z"))
        let (s, text) = try await status(k)
        #expect(s == .ok, "\(text)")
        #expect(!text.contains("wave 0 0ms"), "\(text)")
        #expect(text.contains("wave 3 1m"), "other waves keep their figure: \(text)")
        #expect(
            text.contains("wave 0 unknown (started and finished within one second; ArgoCD records whole seconds)"),
            "\(text)")
        let (_, json) = try await status(k, format: .json)
        let waves = try JSON.parse(json)["waves"]?.array ?? []
        #expect(waves.first?["wave"]?.int == 0)
        #expect(waves.first?["seconds"] == nil, "absent when unknown")
        #expect(waves.dropFirst().first?["seconds"]?.double == 60)
    }

    @Test func componentNotReadyIsNotConverged() async throws {
        let k = convergedWorld()
        k.put(.deployments, Obj.deployment("argocd", "argocd-repo-server", ready: 0, partOf: "argocd"))
        let (s, text) = try await status(k)
        #expect(s == .failed)
        #expect(text.contains("components not ready: argocd/argocd-repo-server"))
    }

    /// Every component bootstrap installs must exist: a missing Tekton controller or ArgoCD's
    /// application controller is named, with its real kind, and the platform is not converged.
    @Test func missingRequiredComponentsAreNamedWithTheirKind() async throws {
        let k = convergedWorld()
        k.remove(.deployments, "tekton-pipelines", "tekton-triggers-controller")
        k.remove(.statefulSets, "argocd", "argocd-application-controller")
        let (s, text) = try await status(k, format: .json)
        #expect(s == .failed)
        let components = try JSON.parse(text)["components"]?.array ?? []
        func entry(_ name: String) -> JSON? { components.first { $0["name"]?.string == name } }
        #expect(entry("tekton-triggers-controller")?["kind"] == "Deployment")
        #expect(entry("tekton-triggers-controller")?["summary"] == "missing")
        #expect(entry("argocd-application-controller")?["kind"] == "StatefulSet")
        #expect(entry("tekton-dashboard")?["ready"] == true)
        let (_, plain) = try await status(k)
        #expect(
            plain.contains(
                """
                components not ready: argocd/argocd-application-controller, \
                tekton-pipelines/tekton-triggers-controller
                """
            ), "\(plain)")
    }

    /// A cluster aphex never bootstrapped: the verdict leads with what explains the rest, the
    /// empty wave list says so, missing keys are grouped by Secret with the fix said once.
    @Test func neverBootstrappedClusterReadsClearly() async throws {
        let k = FakeKube(clock: VirtualClock())
        let (s, text) = try await status(k)
        #expect(s == .failed)
        #expect(text.contains("\nWaves: none\n"), "\(text)")
        #expect(!text.contains("WAVE  APPLICATION"))
        #expect(text.contains("Not converged: Application platform-root was not found"), "\(text)")
        #expect(!text.contains(".."), "\(text)")
        #expect(text.contains("10 components not ready or missing (see above)"), "\(text)")
        #expect(
            text.contains(
                """
                ! missing in auth-system/dex-secrets: client-secret, authentik-client-secret, \
                argocd-client-secret, tekton-client-secret, kubernetes-client-secret
                """
            ), "\(text)")
        #expect(text.components(separatedBy: "aphex secrets repair").count == 2, "the fix once: \(text)")
        let (_, json) = try await status(k, format: .json)
        let secrets = try JSON.parse(json)["secrets"]
        #expect(secrets?["missing"]?.array?.contains("auth-system/dex-secrets[client-secret]") == true)
        #expect(secrets?["inconsistent"]?.array == [])
    }

    @Test func inconsistentSecretsAreReportedAndNotConverged() async throws {
        let k = convergedWorld()
        k.update(.secrets, "argocd", "argocd-secret") { $0.set(["data", "oidc.dex.clientSecret"], to: "ZGlmZmVyZW50") }
        let (s, text) = try await status(k)
        #expect(s == .failed)
        #expect(text.contains("argocd/argocd-secret[oidc.dex.clientSecret]"))
        #expect(text.contains("aphex secrets repair"))
        #expect(text.contains("secrets missing or inconsistent"))
    }

    @Test func focusOnOneWaveOrApp() async throws {
        let k = convergedWorld()
        k.put(.applications, Obj.app("catalog", wave: "20", sync: "Synced", health: "Progressing"))
        var o = StatusOptions()
        o.wave = 10
        let (s10, text10) = try await status(k, o, format: .json)
        #expect(s10 == .ok, "wave 10 is converged even though wave 20 is not")
        let doc = try JSON.parse(text10)
        #expect(doc["waves"]?.array?.map { $0["wave"]?.int } == [10])
        #expect(doc[path: "focus", "wave"]?.int == 10)
        o = StatusOptions()
        o.app = "catalog"
        let (sApp, textApp) = try await status(k, o)
        #expect(sApp == .failed)
        #expect(textApp.contains("catalog") && !textApp.contains("ingress-controller"))
    }

    @Test func unknownAppIsAUsageError() async throws {
        let k = convergedWorld()
        var o = StatusOptions()
        o.app = "nope"
        await #expect(throws: AphexError.self) { _ = try await status(k, o) }
    }

    @Test func unreachableClusterExitsOneWithTheKubeconfigPath() async throws {
        let k = convergedWorld()
        k.fault = { _, _ in .transport(.connectionRefused("https://127.0.0.1:6443")) }
        do {
            _ = try await status(k)
            Issue.record("expected an error")
        } catch let e as AphexError {
            #expect(e.status == .failed)
            #expect(e.message.contains("/nonexistent/kubeconfig"))
            #expect(e.message.contains("connection refused"))
            #expect(e.message.contains("https://127.0.0.1:6443"))
        }
    }

    @Test func watchRedrawsUntilCancelledAsJSONLines() async throws {
        let k = convergedWorld()
        let out = BufferWriter()
        let ctx = testContext(clock: k.clock, format: .json, output: out)
        var o = StatusOptions()
        o.watch = true
        o.interval = .seconds(2)
        let task = Task { try await StatusReport.run(ctx, o, api: k, server: nil) }
        while out.text.split(separator: "\n").count < 3 { await Task.yield() }
        task.cancel()
        _ = try? await task.value
        let lines = out.text.split(separator: "\n")
        #expect(lines.count >= 3)
        for l in lines { #expect((try? JSON.parse(String(l)))?["schemaVersion"]?.int == 1) }
    }
}
