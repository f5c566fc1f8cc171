import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

@Suite struct ExistingClusterDriverTests {
    func fixture(denied: Set<String> = [], unreachable: Bool = false) -> (Scratch, RecordingRunner, HostContext, String) {
        let scratch = Scratch()
        let kc = scratch.root + "/lab.yaml"
        scratch.write(kc, kubeconfigYAML(context: "lab"), mode: 0o600)
        let runner = RecordingRunner { c in
            let a = c.argv
            #expect(Array(a.prefix(5)) == ["kubectl", "--kubeconfig", kc, "--context", "lab"])
            #expect(a.suffix(2) == ["--request-timeout", "10s"])
            let args = kubectlArgs(a)
            if args.starts(with: ["version", "-o", "json"]) {
                return unreachable
                    ? CommandOutput(status: 1, stdout: "{\"clientVersion\":{}}", stderr: "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout\n")
                    : CommandOutput(status: 0, stdout: "{\"serverVersion\":{\"gitVersion\":\"v1.31.2\"}}")
            }
            if args.starts(with: ["auth", "can-i", "create"]) {
                return denied.contains(args[3]) ? CommandOutput(status: 1, stdout: "no\n") : CommandOutput(status: 0, stdout: "yes\n")
            }
            throw UnscriptedCommand(argv: a)
        }
        let host = makeHost(scratch, runner: runner)
        return (scratch, runner, host, kc)
    }

    @Test func verifiesReachabilityAndEveryPermission() async throws {
        let (scratch, runner, host, kc) = fixture()
        let access = try await ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "lab").ensureCluster()
        #expect(access.outcome == .existing)
        #expect(access.kubeconfig == kc && access.context == "lab")
        let head = ["kubectl", "--kubeconfig", kc, "--context", "lab"]
        let tail = ["--request-timeout", "10s"]
        #expect(runner.argvs == [
            head + ["version", "-o", "json"] + tail,
            head + ["auth", "can-i", "create", "namespaces"] + tail,
            head + ["auth", "can-i", "create", "customresourcedefinitions.apiextensions.k8s.io"] + tail,
            head + ["auth", "can-i", "create", "clusterroles.rbac.authorization.k8s.io"] + tail,
            head + ["auth", "can-i", "create", "clusterrolebindings.rbac.authorization.k8s.io"] + tail,
            head + ["auth", "can-i", "create", "secrets", "--all-namespaces"] + tail,
        ])
        withExtendedLifetime(scratch) {}
    }

    @Test func missingPermissionsAreNamedWithExit4() async throws {
        let (scratch, runner, host, kc) = fixture(denied: ["customresourcedefinitions.apiextensions.k8s.io", "clusterroles.rbac.authorization.k8s.io"])
        let e = await #expect(throws: AphexError.self) {
            _ = try await ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "lab").ensureCluster()
        }
        #expect(e?.status == .prerequisite)
        #expect(e?.message.contains("create customresourcedefinitions.apiextensions.k8s.io, create clusterroles.rbac.authorization.k8s.io") == true)
        #expect(e?.message.contains("Nothing was changed") == true)
        // every permission was checked (all missing ones reported at once), nothing else ran
        #expect(runner.argvs.count == 6)
        withExtendedLifetime(scratch) {}
    }

    @Test func unreachableClusterIsExit4WithTheError() async throws {
        let (scratch, runner, host, kc) = fixture(unreachable: true)
        let e = await #expect(throws: AphexError.self) {
            _ = try await ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "lab").ensureCluster()
        }
        #expect(e?.status == .prerequisite)
        #expect(e?.detail?.contains("i/o timeout") == true)
        #expect(runner.argvs.count == 1)
        withExtendedLifetime(scratch) {}
    }

    @Test func neverDeletesAndPlansOnlyChecks() async throws {
        let (scratch, runner, host, kc) = fixture()
        let d = ExistingClusterDriver(host: host, clusterName: "lab", kubeconfig: kc, context: "lab")
        let e = await #expect(throws: AphexError.self) { try await d.delete() }
        #expect(e?.status == .usage)
        #expect(d.planEnsure().count == 6)
        #expect(runner.argvs.isEmpty)
        withExtendedLifetime(scratch) {}
    }
}

@Suite struct NodeWaitDriverTests {
    @Test func apiNeverAnsweringTimesOutWithTheLastError() async throws {
        let scratch = Scratch()
        let runner = RecordingRunner { _ in CommandOutput(status: 1, stdout: "", stderr: "The connection to the server 127.0.0.1:6443 was refused\n") }
        let clock = VirtualClock()
        let host = makeHost(scratch, runner: runner, clock: clock)
        let e = await #expect(throws: AphexError.self) {
            _ = try await NodeWaiter(host: host).waitUntilReady(kubeconfig: "/k", context: nil, timeout: .seconds(10))
        }
        #expect(e?.status == .timeout)
        #expect(e?.detail?.contains("never answered") == true)
        #expect(e?.detail?.contains("was refused") == true)
        #expect(clock.now() == .seconds(10))
    }

    @Test func waitsForAllExpectedNodesAndReportsTime() async throws {
        let scratch = Scratch()
        let clock = VirtualClock()
        let runner = RecordingRunner { _ in
            // a worker registers at t=4s, everything Ready from t=6s
            let t = clock.now()
            var nodes = [("cp", t >= .seconds(6))]
            if t >= .seconds(4) { nodes.append(("w1", t >= .seconds(6))) }
            return CommandOutput(status: 0, stdout: nodesJSON(nodes))
        }
        let host = makeHost(scratch, runner: runner, clock: clock)
        let r = try await NodeWaiter(host: host).waitUntilReady(kubeconfig: "/k", context: "c", timeout: .seconds(60), expectedNodes: 2)
        #expect(r.seconds == 6)
        #expect(r.nodes.map(\.name) == ["cp", "w1"])
        #expect(runner.argvs.count == 4)
    }
}
