import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing
import TestSupport

/// The existing-cluster driver against the simulated cluster: its reads (GET /version, a
/// SelfSubjectAccessReview per permission, the nodes) go through the Kubernetes API.
@Suite struct ExistingClusterDriverTests {
    static let review = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

    func fixture(denied: [String] = [], unreachable: Bool = false) throws -> (SimCluster, HostContext, String) {
        var scenario = try Scenario.load("blackbox-existing")
        scenario.host.deniedVerbs = denied
        let sim = try SimCluster(scenario: scenario)
        if unreachable { sim.faults.down(from: 0, to: 1_000_000) }
        sim.record.reset()
        let host = HostContext(
            runner: RecordingRunner(),
            reporter: CollectingReporter(), clock: sim.clock, environment: sim.environment, homeDirectory: sim.home,
            makeTransport: { _ in sim.transport })
        return (sim, host, sim.kubeconfigPath)
    }

    func driver(_ host: HostContext, _ kc: String) -> ExistingClusterDriver {
        ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "kind-platform-cluster")
    }

    @Test func verifiesReachabilityAndEveryPermission() async throws {
        let (sim, host, kc) = try fixture()
        let access = try await driver(host, kc).ensureCluster()
        #expect(access.outcome == .existing)
        #expect(access.kubeconfig == kc && access.context == "kind-platform-cluster")
        #expect(
            sim.record.requests.map { "\($0.method) \($0.path)" }
                == ["GET /version"] + Array(repeating: "POST \(Self.review)", count: 5))
    }

    /// What each check asks: `kubectl auth can-i`'s SelfSubjectAccessReview (resource and
    /// group split, the context's namespace or "default", every namespace for --all-namespaces).
    @Test func accessReviewsAskWhatKubectlAuthCanIAsks() throws {
        let (_, host, kc) = try fixture()
        let d = driver(host, kc)
        let crd = d.accessReview(
            RequiredPermission("create", "customresourcedefinitions.apiextensions.k8s.io"),
            namespace: nil)
        let attributes: JSON = [
            "namespace": "default", "verb": "create", "group": "apiextensions.k8s.io",
            "resource": "customresourcedefinitions"
        ]
        #expect(
            crd == [
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": ["resourceAttributes": attributes]
            ])
        let secrets = d.accessReview(RequiredPermission("create", "secrets", allNamespaces: true), namespace: "team")
        #expect(
            secrets[path: "spec", "resourceAttributes"]
                == ["namespace": "", "verb": "create", "group": "", "resource": "secrets"])
        let ns = d.accessReview(RequiredPermission("create", "namespaces"), namespace: "team")
        #expect(ns[path: "spec", "resourceAttributes", "namespace"] == "team")
    }

    @Test func missingPermissionsAreNamedWithExit4() async throws {
        let (sim, host, kc) = try fixture(denied: ["create customresourcedefinitions", "create clusterroles"])
        let e = await #expect(throws: AphexError.self) { _ = try await driver(host, kc).ensureCluster() }
        #expect(e?.status == .prerequisite)
        #expect(
            e?.message.contains(
                "create customresourcedefinitions.apiextensions.k8s.io, create clusterroles.rbac.authorization.k8s.io")
                == true)
        #expect(e?.message.contains("Nothing was changed") == true)
        // every permission was checked (all missing ones reported at once), nothing else ran
        #expect(sim.record.requests.count == 6)
        #expect(sim.record.changes.isEmpty)
    }

    @Test func unreachableClusterIsExit4WithTheError() async throws {
        let (sim, host, kc) = try fixture(unreachable: true)
        let e = await #expect(throws: AphexError.self) { _ = try await driver(host, kc).ensureCluster() }
        #expect(e?.status == .prerequisite)
        #expect(e?.detail?.contains("connection refused") == true, "\(e?.detail ?? "")")
        #expect(sim.record.requests.allSatisfy { $0.path == "/version" })
    }

    /// A context the kubeconfig does not have: the cluster cannot be reached (exit 4), and the
    /// detail names the contexts there are.
    @Test func unknownContextIsExit4NamingTheContexts() async throws {
        let (sim, host, kc) = try fixture()
        let d = ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "nope")
        let e = await #expect(throws: AphexError.self) { _ = try await d.ensureCluster() }
        #expect(e?.status == .prerequisite)
        #expect(e?.detail?.contains("kind-platform-cluster") == true, "\(e?.detail ?? "")")
        #expect(sim.record.requests.isEmpty)
    }

    @Test func neverDeletesAndPlansOnlyChecks() async throws {
        let (sim, host, kc) = try fixture()
        let d = driver(host, kc)
        let e = await #expect(throws: AphexError.self) { try await d.delete() }
        #expect(e?.status == .usage)
        #expect(d.planEnsure().count == 6)
        #expect(sim.record.requests.isEmpty)
    }
}

@Suite struct NodeWaitDriverTests {
    @Test func apiNeverAnsweringTimesOutWithTheLastError() async throws {
        let scratch = Scratch()
        let kubeconfig = scratch.root + "/kubeconfig"
        scratch.write(kubeconfig, kubeconfigYAML(context: "c"), mode: 0o600)
        let transport = FakeTransport.serving(nodes: { throw apiServerRefused($0) })
        let clock = VirtualClock()
        let host = makeHost(scratch, runner: RecordingRunner(), clock: clock, transport: transport)
        let e = await #expect(throws: AphexError.self) {
            _ = try await NodeWaiter(host: host).waitUntilReady(
                kubeconfig: kubeconfig, context: nil, timeout: .seconds(10))
        }
        #expect(e?.status == .timeout)
        #expect(e?.detail?.contains("never answered") == true)
        #expect(e?.detail?.contains("connection refused: \(testServer(context: "c"))/api/v1/nodes") == true)
        #expect(clock.now() == .seconds(10))
    }

    @Test func waitsForAllExpectedNodesAndReportsTime() async throws {
        let scratch = Scratch()
        let kubeconfig = scratch.root + "/kubeconfig"
        scratch.write(kubeconfig, kubeconfigYAML(context: "c"), mode: 0o600)
        let clock = VirtualClock()
        let transport = FakeTransport.serving(nodes: { _ in
            // a worker registers at t=4s, everything Ready from t=6s
            let t = clock.now()
            var nodes = [("cp", t >= .seconds(6))]
            if t >= .seconds(4) { nodes.append(("w1", t >= .seconds(6))) }
            return nodesResponse(nodes)
        })
        let runner = RecordingRunner()
        let host = makeHost(scratch, runner: runner, clock: clock, transport: transport)
        let r = try await NodeWaiter(host: host).waitUntilReady(
            kubeconfig: kubeconfig, context: "c", timeout: .seconds(60), expectedNodes: 2)
        #expect(r.seconds == 6)
        #expect(r.nodes.map(\.name) == ["cp", "w1"])
        #expect(transport.nodeReads.count == 4)
        #expect(runner.argvs.isEmpty)
    }
}
