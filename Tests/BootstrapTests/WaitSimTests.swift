import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import SimCluster
import Testing
import TestSupport

/// The waiter and the status snapshot on the in-process simulated cluster (virtual clock):
/// the real KubeClient over the simulator's transport.
@Suite struct WaitSimTests {
    /// A bundled scenario with platform-root applied at start (as after `bootstrap --no-wait`).
    static func scenario(_ name: String, timeScale: String? = nil) throws -> Scenario {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        var text = try String(
            contentsOf: root.appendingPathComponent("SimCluster/Scenarios/\(name).yaml"), encoding: .utf8)
        if !text.contains("platformRoot: true") {
            text = text.replacingOccurrences(
                of: "\nargocd:\n", with: "\nstart:\n  namespaces: [argocd]\n  platformRoot: true\nargocd:\n")
        }
        if let timeScale { text = text.replacingOccurrences(of: "timeScale: 1.0", with: "timeScale: \(timeScale)") }
        text = quoteDescription(text)
        return try Scenario.parse(text)
    }

    struct Run {
        var status: AphexCore.ExitStatus?
        var error: AphexError?
        var output: String
        var sim: SimCluster
        var reporter: CollectingReporter
    }

    func wait(_ sim: SimCluster, timeout: Duration = .seconds(300), format: OutputFormat = .text) async throws -> Run {
        let reporter = CollectingReporter()
        let out = BufferWriter()
        let ctx = testContext(clock: sim.clock, reporter: reporter, format: format, output: out)
        var o = WaitOptions()
        o.timeout = timeout
        let api = KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock)
        do {
            return Run(
                status: try await WaitReport.run(ctx, o, api: api), error: nil, output: out.text, sim: sim,
                reporter: reporter)
        } catch let e as AphexError {
            return Run(status: nil, error: e, output: out.text, sim: sim, reporter: reporter)
        }
    }

    /// What bootstrap leaves besides platform-root: ArgoCD's workloads and the generated Secrets.
    static func seedBootstrapped(_ sim: SimCluster) throws {
        for ns in ["auth-system", "tekton-pipelines", "platform-system", "cert-manager", "external-secrets"] {
            _ = try? sim.world.create(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]])
        }
        // The workloads the ArgoCD and Tekton installs leave: those status requires.
        for c in ConvergenceCatalog.default.requiredComponents {
            let name = c.name
            var spec: JSON = [
                "replicas": 1, "selector": ["matchLabels": ["app.kubernetes.io/name": .string(name)]],
                "template": [
                    "metadata": ["labels": ["app.kubernetes.io/name": .string(name)]],
                    "spec": ["containers": [["name": "main", "image": .string("registry.example/\(name):v1")]]]
                ]
            ]
            if c.kind == "StatefulSet" { spec["serviceName"] = .string(name) }
            _ = try sim.world.create([
                "apiVersion": "apps/v1", "kind": .string(c.kind),
                "metadata": [
                    "name": .string(name), "namespace": .string(c.namespace),
                    "labels": ["app.kubernetes.io/part-of": .string(c.partOf), "app.kubernetes.io/name": .string(name)]
                ],
                "spec": spec
            ])
        }
        let plan = try planSecrets(
            SecretsPlanInput(deployment: "kind", existing: [:], environment: ["CLOUDFLARE_API_TOKEN": "cf"]))
        for w in plan.writes {
            var obj: JSON = [
                "apiVersion": "v1", "kind": "Secret",
                "metadata": ["name": .string(w.id.name), "namespace": .string(w.id.namespace)],
                "data": .object(w.data.mapValues { .string(Data($0.utf8).base64EncodedString()) })
            ]
            if w.method == .serverSideApply {
                obj.set(["metadata", "labels"], to: ["app.kubernetes.io/managed-by": "aphex"])
            }
            _ = try sim.world.create(obj)
        }
        let dex =
            sim.world.get(.secrets, namespace: "auth-system", name: "dex-secrets")?[
                path: "data", "argocd-client-secret"] ?? ""
        _ = try sim.world.create([
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "argocd-secret", "namespace": "argocd"],
            "data": ["oidc.dex.clientSecret": dex]
        ])
    }

    @Test func happyKindConverges() async throws {
        let r = try await wait(try SimCluster(scenario: Self.scenario("happy-kind")))
        #expect(r.error == nil, "\(r.error?.description ?? "")")
        #expect(r.status == .ok)
        #expect(r.output.contains("Converged in"))
        // Converged means every child converged: check against the world itself.
        let apps = r.sim.world.allObjects().filter { $0.kind == "Application" && $0.name != "platform-root" }
        #expect(!apps.isEmpty)
        for a in apps { #expect(Readiness.judgeApplication(a).phase == .converged, "\(a.name ?? "?")") }
    }

    @Test func degradedAfterHealthyExitsOne() async throws {
        let r = try await wait(try SimCluster(scenario: Self.scenario("degraded-app")))
        #expect(r.error?.status == .failed, "\(r.error?.description ?? "converged?")")
        #expect(r.error?.description.contains("external-secrets") == true)
        #expect(r.error?.description.contains("Degraded") == true)
    }

    @Test func stuckCABundleTimesOutNamingIt() async throws {
        let r = try await wait(try SimCluster(scenario: Self.scenario("stuck-cabundle")), timeout: .seconds(180))
        #expect(r.error?.status == .timeout, "\(r.error?.description ?? "converged?")")
        #expect(r.error?.description.contains("CA bundle not injected") == true, "\(r.error?.description ?? "")")
    }

    @Test func imagePullTimesOutNamingTheImage() async throws {
        let r = try await wait(try SimCluster(scenario: Self.scenario("image-pull")), timeout: .seconds(180))
        #expect(r.error?.status == .timeout, "\(r.error?.description ?? "converged?")")
        #expect(
            r.error?.description.contains("ghcr.io/bdchatham/organization-controller") == true,
            "\(r.error?.description ?? "")")
        #expect(
            r.error?.description.contains("ImagePullBackOff") == true
                || r.error?.description.contains("ErrImagePull") == true)
    }

    @Test func faultsAtTwentyPercentStillConverge() async throws {
        let sim = try SimCluster(scenario: Self.scenario("happy-kind"))
        sim.faults.configure {
            $0.errorRate = 0.2
            $0.kinds = ["http503", "reset", "timeout"]
        }
        let r = try await wait(sim)
        #expect(r.status == .ok, "\(r.error?.description ?? "")")
        #expect(sim.record.snapshot().requests.contains { $0.fault != nil }, "faults were injected")
    }

    @Test func apiDownForTwentySecondsRecovers() async throws {
        let sim = try SimCluster(scenario: Self.scenario("happy-kind"))
        sim.faults.down(from: 10, to: 30)
        let r = try await wait(sim)
        #expect(r.status == .ok, "\(r.error?.description ?? "")")
        #expect(r.reporter.logs.contains { $0.contains("answering again") })
    }

    /// Issue 13: the API server's flow control answers 429 with `Retry-After: 1` (the simulator's
    /// http429 fault, as k8s.io/apiserver writes it); status waits exactly that long on the
    /// virtual clock, tries again, and gives the converged verdict.
    @Test func statusUnderFlowControlHonoursRetryAfter() async throws {
        let sim = try SimCluster(scenario: Self.scenario("bench-25"))
        try Self.seedBootstrapped(sim)
        _ = try await wait(sim)
        sim.faults.configure {
            $0.errorRate = 0.3
            $0.kinds = ["http429"]
            $0.seed = 13
        }
        sim.record.reset()
        let clock = VirtualClock(sharing: try #require(sim.virtualClock))
        let out = BufferWriter()
        let ctx = testContext(clock: sim.clock, format: .json, output: out)
        // More tries than the standard 3, so that no request runs out of them whatever order the
        // concurrent requests draw their faults in: this test is about the waits, not the budget.
        let api = KubeClient(
            server: sim.baseURL, transport: sim.transport, retry: KubeRetryPolicy(attempts: 8), clock: clock)
        let s = try await StatusReport.run(ctx, StatusOptions(), api: api, server: sim.baseURL)
        #expect(s == .ok, "\(out.text.prefix(2000))")
        let throttled = sim.record.snapshot().requests.filter { $0.status == 429 }
        #expect(!throttled.isEmpty, "faults were injected")
        #expect(clock.sleeps.count == throttled.count, "one wait per 429: \(clock.sleeps)")
        #expect(clock.sleeps.allSatisfy { $0 == .seconds(1) }, "Retry-After: 1 honoured: \(clock.sleeps)")
    }

    @Test func statusOfAConvergedPlatformUsesAtMostSixRequests() async throws {
        let sim = try SimCluster(scenario: Self.scenario("bench-25"))
        try Self.seedBootstrapped(sim)
        _ = try await wait(sim)
        sim.record.reset()
        let out = BufferWriter()
        let ctx = testContext(clock: sim.clock, format: .json, output: out)
        let s = try await StatusReport.run(
            ctx, StatusOptions(), api: KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock),
            server: sim.baseURL)
        let requests = sim.record.snapshot().requests
        #expect(s == .ok, "\(out.text.prefix(3000))")
        #expect(requests.count <= 6, "\(requests.map { "\($0.method) \($0.path)?\($0.query)" })")
        let doc = try JSON.parse(out.text)
        #expect(doc["waves"]?.array?.reduce(0) { $0 + ($1["apps"]?.array?.count ?? 0) } == 25)
    }
}

/// Quotes the scenario's one-line description (some contain ": ", which plain YAML scalars cannot).
func quoteDescription(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        guard line.hasPrefix("description: "), !line.hasPrefix("description: \"") else { return String(line) }
        let value = line.dropFirst("description: ".count).replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
        return "description: \"\(value)\""
    }.joined(separator: "\n")
}
