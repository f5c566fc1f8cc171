import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import Yams
import TestSupport

/// A tiny kind world behind the fake runner, and its clusters' API servers behind the fake transport.
final class KindWorld: @unchecked Sendable {
    let lock = NSLock()
    var clusters: Set<String> = []
    var apiDown: Set<String> = []
    var nodesReady = true
    var createFails = false
    var nodeCount = 1
    var kindWritesKubeconfigLoosely = true

    func handle(_ c: Command) throws -> CommandOutput {
        lock.lock()
        defer { lock.unlock() }
        let a = c.argv
        switch Array(a.prefix(3)) {
        case ["kind", "version"]:
            return CommandOutput(status: 0, stdout: "kind v0.26.0 go1.23.4 linux/amd64\n")
        case ["kind", "get", "clusters"]:
            return clusters.isEmpty
                ? CommandOutput(status: 0, stdout: "", stderr: "No kind clusters found.\n")
                : CommandOutput(status: 0, stdout: clusters.sorted().joined(separator: "\n") + "\n")
        case ["kind", "create", "cluster"]:
            let name = a[a.firstIndex(of: "--name")! + 1]
            #expect(c.stdin != nil, "kind config must be on stdin")
            if let i = a.firstIndex(of: "--kubeconfig"), kindWritesKubeconfigLoosely {
                _ = FileManager.default.createFile(
                    atPath: a[i + 1], contents: Data("stale".utf8), attributes: [.posixPermissions: 0o644])
            }
            clusters.insert(name)
            if createFails {
                return CommandOutput(
                    status: 1, stdout: "", stderr: "ERROR: failed to create cluster: failed to init node with kubeadm\n"
                )
            }
            return CommandOutput(status: 0, stdout: "", stderr: " ✓ Ensuring node image\n")
        case ["kind", "get", "kubeconfig"]:
            let name = a[a.firstIndex(of: "--name")! + 1]
            guard clusters.contains(name) else {
                return CommandOutput(
                    status: 1, stdout: "",
                    stderr: "ERROR: could not locate any control plane nodes for cluster named '\(name)'")
            }
            return CommandOutput(status: 0, stdout: kubeconfigYAML(context: "kind-\(name)"))
        case ["kind", "delete", "cluster"]:
            let name = a[a.firstIndex(of: "--name")! + 1]
            clusters.remove(name)
            return CommandOutput(status: 0, stdout: "", stderr: "Deleting cluster \"\(name)\" ...\n")
        case ["kind", "export", "kubeconfig"]:
            return CommandOutput(status: 0, stdout: "", stderr: "Set kubectl context to \"kind-x\"\n")
        default:
            throw UnscriptedCommand(argv: a)
        }
    }
}

extension KindWorld {
    /// LIST /api/v1/nodes of the cluster whose kubeconfig server the request went to
    /// (`testServer(context: "kind-NAME")`).
    func serve(_ r: HTTPRequest) throws -> HTTPResponse {
        lock.lock()
        defer { lock.unlock() }
        let host = URLComponents(string: r.url)?.host ?? ""
        guard r.method == "GET", r.url.hasSuffix("/api/v1/nodes"), host.hasPrefix("kind-"),
            host.hasSuffix(".cluster.test")
        else { throw UnscriptedRequest(url: r.url) }
        let name = String(host.dropFirst("kind-".count).dropLast(".cluster.test".count))
        if apiDown.contains(name) || !clusters.contains(name) { throw apiServerRefused(r) }
        var nodes = [("\(name)-control-plane", nodesReady)]
        for i in 1..<max(nodeCount, 1) { nodes.append(("\(name)-worker\(i == 1 ? "" : String(i))", nodesReady)) }
        return nodesResponse(nodes)
    }
}

struct KindFixture {
    let scratch = Scratch()
    let world = KindWorld()
    let runner: RecordingRunner
    let transport: FakeTransport
    let clock = VirtualClock()
    let reporter = CollectingReporter()
    let host: HostContext

    init() {
        let w = world
        runner = RecordingRunner { try w.handle($0) }
        transport = FakeTransport { try w.serve($0) }
        host = makeHost(scratch, runner: runner, clock: clock, reporter: reporter, transport: transport)
    }

    /// The node reads (LIST /api/v1/nodes) sent to the API server of kind cluster `name`.
    func nodeReads(name: String = "dev") -> Int {
        transport.requested.filter { $0 == nodesURL(name: name) }.count
    }

    func driver(_ spec: KindClusterSpec) -> KindDriver { KindDriver(host: host, spec: spec) }
    var kubeconfig: String { scratch.home + "/.aphex/clusters/dev/kubeconfig" }
    var userKubeconfig: String { scratch.home + "/.kube/config" }
}

func createArgv(_ f: KindFixture, name: String = "dev", extra: [String] = []) -> [String] {
    [
        "kind", "create", "cluster", "--name", name, "--config", "-", "--image", KindClusterSpec.defaultNodeImage,
        "--wait", "0s", "--kubeconfig", f.scratch.home + "/.aphex/clusters/\(name)/kubeconfig"
    ] + extra
}

/// LIST /api/v1/nodes at the API server of kind cluster `name` (its kubeconfig's server).
func nodesURL(name: String = "dev") -> String { testServer(context: "kind-\(name)") + "/api/v1/nodes" }

@Suite struct KindConfigTests {
    func parse(_ spec: KindClusterSpec) throws -> [String: Any] {
        try #require(try Yams.load(yaml: spec.renderConfig()) as? [String: Any])
    }

    @Test func defaultConfigHasIngressLabelPortsAndOIDC() throws {
        let y = try parse(KindClusterSpec(name: "platform-cluster"))
        #expect(y["kind"] as? String == "Cluster")
        #expect(y["apiVersion"] as? String == "kind.x-k8s.io/v1alpha4")
        #expect(y["name"] as? String == "platform-cluster")
        let nodes = try #require(y["nodes"] as? [[String: Any]])
        #expect(nodes.count == 1)
        #expect(nodes[0]["role"] as? String == "control-plane")
        let patch = try #require((nodes[0]["kubeadmConfigPatches"] as? [String])?.first)
        let init_ = try #require(try Yams.load(yaml: patch) as? [String: Any])
        #expect(init_["kind"] as? String == "InitConfiguration")
        let labels =
            ((init_["nodeRegistration"] as? [String: Any])?["kubeletExtraArgs"] as? [String: Any])?["node-labels"]
            as? String
        #expect(labels == "ingress-ready=true")
        let ports = try #require(nodes[0]["extraPortMappings"] as? [[String: Any]])
        #expect(ports.map { $0["containerPort"] as? Int } == [80, 443])
        #expect(ports.map { $0["hostPort"] as? Int } == [80, 443])
        #expect(ports.allSatisfy { $0["protocol"] as? String == "TCP" })

        let cluster = try #require((y["kubeadmConfigPatches"] as? [String])?.first)
        let cc = try #require(try Yams.load(yaml: cluster) as? [String: Any])
        #expect(cc["kind"] as? String == "ClusterConfiguration")
        let args = try #require((cc["apiServer"] as? [String: Any])?["extraArgs"] as? [String: String])
        #expect(
            args == [
                "oidc-issuer-url": "https://dex.home.local", "oidc-client-id": "kubernetes",
                "oidc-username-claim": "email", "oidc-groups-claim": "groups"
            ])
        #expect(y["containerdConfigPatches"] == nil)
    }

    @Test func workersMirrorsIssuerOverrideAndNoOIDC() throws {
        let spec = KindClusterSpec(
            name: "ci", workers: 2,
            registryMirrors: ["docker.io": "http://mirror.local:5000", "ghcr.io": "https://ghcr-cache.local"],
            oidc: OIDCSettings(issuerURL: "https://sso.example.com/dex"))
        let y = try parse(spec)
        let nodes = try #require(y["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["role"] as? String } == ["control-plane", "worker", "worker"])
        let cc = try #require(try Yams.load(yaml: (y["kubeadmConfigPatches"] as! [String])[0]) as? [String: Any])
        #expect(
            ((cc["apiServer"] as? [String: Any])?["extraArgs"] as? [String: String])?["oidc-issuer-url"]
                == "https://sso.example.com/dex")
        let patches = try #require(y["containerdConfigPatches"] as? [String])
        #expect(
            patches == [
                """
                [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = \
                [\"http://mirror.local:5000\"]
                """,
                """
                [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"ghcr.io\"]\n  endpoint = \
                [\"https://ghcr-cache.local\"]
                """
            ])

        let off = try parse(KindClusterSpec(name: "ci", oidc: nil))
        #expect(off["kubeadmConfigPatches"] == nil)
        #expect(!KindClusterSpec(name: "ci", oidc: nil).renderConfig().contains("oidc"))
    }
}

@Suite struct KindDriverTests {
    @Test func createFreshRunsExactArgvAndIsolatesKubeconfig() async throws {
        let f = KindFixture()
        f.scratch.write(f.userKubeconfig, "user's own kubeconfig\n", mode: 0o600)
        let before = try FileManager.default.attributesOfItem(atPath: f.userKubeconfig)
        let spec = KindClusterSpec(name: "dev")
        let access = try await f.driver(spec).ensureCluster()

        #expect(
            f.runner.argvs == [
                ["kind", "version"],
                ["kind", "get", "clusters"],
                createArgv(f),
                ["kind", "get", "kubeconfig", "--name", "dev"]
            ])
        // one node read, at the API server of the new cluster's kubeconfig (context kind-dev)
        #expect(f.transport.requested == [nodesURL()])
        let create = f.runner.commands[2]
        #expect(create.stdinText == spec.renderConfig())
        #expect(access.outcome == .created)
        #expect(access.kubeconfig == f.kubeconfig)
        #expect(access.context == "kind-dev")
        #expect(access.nodes.map(\.name) == ["dev-control-plane"])
        // kubeconfig: kind's content, mode 0600 (kind's looser file was replaced, not chmod'ed)
        #expect(PrivateFiles.mode(f.kubeconfig) == 0o600)
        #expect(
            String(decoding: FileManager.default.contents(atPath: f.kubeconfig)!, as: UTF8.self)
                == kubeconfigYAML(context: "kind-dev"))
        #expect(PrivateFiles.mode(f.scratch.home + "/.aphex/clusters/dev") == 0o700)
        // the user's kubeconfig is untouched
        #expect(
            String(decoding: FileManager.default.contents(atPath: f.userKubeconfig)!, as: UTF8.self)
                == "user's own kubeconfig\n")
        let after = try FileManager.default.attributesOfItem(atPath: f.userKubeconfig)
        #expect(before[.modificationDate] as? Date == after[.modificationDate] as? Date)
        // the record
        let record = try #require(ClusterRecord.load(f.host, name: "dev"))
        #expect(record.deployment == "kind")
        #expect(record.createdByAphex)
        #expect(record.kubeconfig == f.kubeconfig)
        #expect(PrivateFiles.mode(ClusterRecord.path(f.host, name: "dev")) == 0o600)
        // no secret in any argv: the kubeconfig's token never appears
        #expect(!f.runner.argvs.joined().joined().contains("test-token"))
    }

    @Test func workersAreWaitedForAndMergeExportsKubeconfig() async throws {
        let f = KindFixture()
        f.world.nodeCount = 3
        let access = try await f.driver(KindClusterSpec(name: "dev", workers: 2, mergeKubeconfig: true)).ensureCluster()
        #expect(access.nodes.count == 3)
        #expect(f.runner.argvs.contains(["kind", "export", "kubeconfig", "--name", "dev"]))
        #expect(ClusterRecord.load(f.host, name: "dev")?.mergedKubeconfig == true)
        // delete of a merged cluster lets kind clean the user's kubeconfig (no --kubeconfig)
        try await f.driver(KindClusterSpec(name: "dev")).delete()
        #expect(f.runner.argvs.last == ["kind", "delete", "cluster", "--name", "dev"])
    }

    @Test func reusesHealthyClusterWithoutCreating() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        let access = try await f.driver(KindClusterSpec(name: "dev")).ensureCluster()
        #expect(access.outcome == .reused)
        #expect(!f.runner.argvs.contains { $0.starts(with: ["kind", "create"]) })
        #expect(!f.runner.argvs.contains { $0.starts(with: ["kind", "delete"]) })
        #expect(PrivateFiles.mode(f.kubeconfig) == 0o600)
        #expect(ClusterRecord.load(f.host, name: "dev")?.createdByAphex == false)
        // a second run changes nothing on disk
        let recordBytes = FileManager.default.contents(atPath: ClusterRecord.path(f.host, name: "dev"))
        let again = try await f.driver(KindClusterSpec(name: "dev")).ensureCluster()
        #expect(again.outcome == .reused)
        #expect(FileManager.default.contents(atPath: ClusterRecord.path(f.host, name: "dev")) == recordBytes)
    }

    @Test func refusesBrokenClusterNamingRecreateAndChangesNothing() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        f.world.apiDown = ["dev"]
        let error = await #expect(throws: AphexError.self) {
            _ = try await f.driver(KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("--recreate") == true)
        #expect(error?.message.contains("refused") == true)
        #expect(!f.runner.argvs.contains { $0.starts(with: ["kind", "create"]) || $0.starts(with: ["kind", "delete"]) })
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex"))
        // the probe's throwaway kubeconfig is gone (and was never in TMPDIR)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.scratch.tmp).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/tmp"))
    }

    @Test func recreateDeletesBrokenClusterThenCreates() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        f.world.apiDown = ["dev"]
        let world = f.world
        // the new cluster's API answers
        let runner = RecordingRunner { c in
            if c.argv.starts(with: ["kind", "delete"]) {
                world.lock.lock()
                world.apiDown = []
                world.lock.unlock()
            }
            return try world.handle(c)
        }
        let host = makeHost(f.scratch, runner: runner, clock: f.clock, transport: f.transport)
        let access = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev", recreate: true))
            .ensureCluster()
        #expect(access.outcome == .created)
        let kinds = runner.argvs.filter { $0.first == "kind" }
        #expect(
            kinds == [
                ["kind", "version"], ["kind", "get", "clusters"], ["kind", "get", "kubeconfig", "--name", "dev"],
                ["kind", "delete", "cluster", "--name", "dev", "--kubeconfig", f.kubeconfig],
                createArgv(f), ["kind", "get", "kubeconfig", "--name", "dev"]
            ])
    }

    @Test func failedCreateIsDeletedUnlessRetained() async throws {
        let f = KindFixture()
        f.world.createFails = true
        let error = await #expect(throws: AphexError.self) {
            _ = try await f.driver(KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("was deleted") == true)
        #expect(error?.detail?.contains("failed to init node with kubeadm") == true)
        #expect(
            f.runner.argvs.suffix(2) == [
                createArgv(f), ["kind", "delete", "cluster", "--name", "dev", "--kubeconfig", f.kubeconfig]
            ])
        #expect(f.world.clusters.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/clusters/dev"))

        let g = KindFixture()
        g.world.createFails = true
        let kept = await #expect(throws: AphexError.self) {
            _ = try await g.driver(KindClusterSpec(name: "dev", retain: true)).ensureCluster()
        }
        #expect(kept?.message.contains("--retain") == true)
        #expect(g.runner.argvs.last == createArgv(g, extra: ["--retain"]))
        #expect(!g.runner.argvs.contains { $0.starts(with: ["kind", "delete"]) })
        #expect(g.world.clusters == ["dev"])
    }

    @Test func nodeWaitTimeoutIsExit3WithDiagnosisOnVirtualClock() async throws {
        let f = KindFixture()
        f.world.nodesReady = false
        let error = await #expect(throws: AphexError.self) {
            _ = try await f.driver(KindClusterSpec(name: "dev", waitTimeout: .seconds(60))).ensureCluster()
        }
        #expect(error?.status == .timeout)
        #expect(exitStatus(for: error!).rawValue == 3)
        #expect(error?.message.contains("dev-control-plane") == true)
        #expect(error?.detail?.contains("Ready=False (KubeletNotReady: container runtime network not ready") == true)
        #expect(f.clock.now() == .seconds(60))
        // polled every 2 s: 31 reads in 60 s of virtual time
        #expect(f.nodeReads() == 31)
        // the cluster is kept for inspection (not a failed create)
        #expect(f.world.clusters == ["dev"])
    }

    @Test func kindMissingIsAPrerequisite() async throws {
        let scratch = Scratch()
        let runner = RecordingRunner { c in throw CommandError(argv: c.argv, reason: .notFound) }
        let host = makeHost(scratch, runner: runner)
        let error = await #expect(throws: AphexError.self) {
            _ = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(error?.status == .prerequisite)
        #expect(error?.message.contains("kind was not found") == true)
        #expect(runner.argvs == [["kind", "version"]])
    }

    @Test func deleteRemovesClusterAndDirectory() async throws {
        let f = KindFixture()
        _ = try await f.driver(KindClusterSpec(name: "dev")).ensureCluster()
        let n = f.runner.argvs.count
        let existed = try await f.driver(KindClusterSpec(name: "dev")).delete()
        #expect(existed)
        #expect(
            Array(f.runner.argvs[n...]) == [
                ["kind", "version"], ["kind", "get", "clusters"],
                ["kind", "delete", "cluster", "--name", "dev", "--kubeconfig", f.kubeconfig]
            ])
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/clusters/dev"))
        // again: nothing to delete, no kind delete
        let again = try await f.driver(KindClusterSpec(name: "dev")).delete()
        #expect(!again)
        #expect(f.runner.argvs.filter { $0.starts(with: ["kind", "delete"]) }.count == 1)
    }

    @Test func planRunsNothingAndShowsConfig() async throws {
        let f = KindFixture()
        let spec = KindClusterSpec(name: "dev", registryMirrors: ["docker.io": "http://m:5000"])
        let plan = f.driver(spec).planEnsure()
        #expect(f.runner.argvs.isEmpty)
        let create = try #require(plan.first { $0.command?.argv.starts(with: ["kind", "create"]) == true })
        #expect(create.command?.argv == createArgv(f))
        #expect(create.text.contains("kind: Cluster"))
        #expect(create.text.contains("oidc-issuer-url"))
        #expect(try JSON.parse(JSONEncoder().encode(create))["stdin"]?.string == spec.renderConfig())
        #expect(
            f.driver(spec).planDelete().contains {
                $0.command?.argv == ["kind", "delete", "cluster", "--name", "dev", "--kubeconfig", f.kubeconfig]
            })
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex"))
    }

    @Test func describeReportsHealth() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        var d = try await f.driver(KindClusterSpec(name: "dev")).describe()
        #expect(d.healthy && d.exists && !d.managed)
        f.world.apiDown = ["dev"]
        d = try await f.driver(KindClusterSpec(name: "dev")).describe()
        #expect(!d.healthy && !d.apiReachable)
        #expect(d.problem?.contains("refused") == true)
    }
}

@Suite struct KindContainerEngineTests {
    @Test func dockerDownIsAPrerequisite() async throws {
        let scratch = Scratch()
        let runner = RecordingRunner { c in
            if c.argv == ["kind", "version"] { return CommandOutput(status: 0, stdout: "kind v0.26.0\n") }
            if c.argv == ["kind", "get", "clusters"] {
                return CommandOutput(
                    status: 1, stdout: "",
                    stderr:
                        """
                        ERROR: failed to list clusters: command \"docker ps -a --filter \
                        label=io.x-k8s.kind.cluster\" failed with error: exit status 1\nCommand Output: Cannot \
                        connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n
                        """
                )
            }
            throw UnscriptedCommand(argv: c.argv)
        }
        let host = makeHost(scratch, runner: runner)
        let e = await #expect(throws: AphexError.self) {
            _ = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(e?.status == .prerequisite)
        #expect(e?.message.contains("container engine") == true)
        #expect(e?.detail?.contains("Is the docker daemon running?") == true)
        withExtendedLifetime(scratch) {}
    }
}

@Suite struct KindResumeTests {
    @Test func existingClusterWithNodesComingUpIsWaitedForNotRefused() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        f.world.nodesReady = false
        let world = f.world, clock = f.clock
        let runner = RecordingRunner { try world.handle($0) }
        let transport = FakeTransport { r in
            if clock.now() >= .seconds(6) { world.lock.withLock { world.nodesReady = true } }
            return try world.serve(r)
        }
        let host = makeHost(f.scratch, runner: runner, clock: clock, transport: transport)
        let access = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        #expect(access.outcome == .reused)
        #expect(access.nodesReadySeconds == 6)
        #expect(!runner.argvs.contains { $0.starts(with: ["kind", "create"]) || $0.starts(with: ["kind", "delete"]) })
        #expect(PrivateFiles.mode(f.kubeconfig) == 0o600)
    }

    @Test func existingClusterWhoseNodesNeverComeUpTimesOutNamingRecreate() async throws {
        let f = KindFixture()
        f.world.clusters = ["dev"]
        f.world.nodesReady = false
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(KindClusterSpec(name: "dev", waitTimeout: .seconds(20))).ensureCluster()
        }
        #expect(e?.status == .timeout)
        #expect(e?.message.contains("--recreate") == true)
        #expect(!f.runner.argvs.contains { $0.starts(with: ["kind", "create"]) })
    }

    @Test func interruptedCreateRemovesTheHalfMadeCluster() async throws {
        let f = KindFixture()
        let world = f.world
        let runner = RecordingRunner { c in
            if c.argv.starts(with: ["kind", "create"]) {
                _ = try world.handle(c)  // nodes exist...
                throw CancellationError()  // ...and then Ctrl-C
            }
            return try world.handle(c)
        }
        let host = makeHost(f.scratch, runner: runner, clock: f.clock, transport: f.transport)
        await #expect(throws: CancellationError.self) {
            _ = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(runner.argvs.last == ["kind", "delete", "cluster", "--name", "dev", "--kubeconfig", f.kubeconfig])
        #expect(world.clusters.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/clusters/dev"))
    }
}

/// Item 8 of issue 14: kind commands have deadlines (Docker can hang).
@Suite struct KindDeadlineTests {
    @Test func everyKindCommandHasADeadline() {
        let d = KindFixture().driver(KindClusterSpec(name: "dev"))
        for c in [d.versionCommand, d.listCommand, d.getKubeconfigCommand, d.exportKubeconfigCommand] {
            #expect(c.timeout == .seconds(30), "\(c.display)")
        }
        for c in [d.createCommand, d.deleteCommand(mergedKubeconfig: false), d.deleteCommand(mergedKubeconfig: true)] {
            #expect(c.timeout == .seconds(600), "\(c.display)")
        }
    }

    @Test func aHungQueryIsExit3NamingDocker() async throws {
        let f = KindFixture()
        let w = f.world
        let runner = RecordingRunner { c in
            if c.argv.starts(with: ["kind", "get", "clusters"]) {
                throw CommandError(argv: c.argv, reason: .timedOut(c.timeout ?? .zero))
            }
            return try w.handle(c)
        }
        let host = makeHost(f.scratch, runner: runner, clock: f.clock, transport: f.transport)
        let e = await #expect(throws: AphexError.self) {
            _ = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(e?.status == .timeout)
        #expect(e?.message.contains("`kind get clusters` did not finish within 30s") == true)
        #expect(e?.message.contains("docker info") == true)
    }

    @Test func aCreateThatTimesOutIsCleanedUpAndExit3() async throws {
        let f = KindFixture()
        let w = f.world
        let runner = RecordingRunner { c in
            if c.argv.starts(with: ["kind", "create"]) {
                throw CommandError(argv: c.argv, reason: .timedOut(c.timeout ?? .zero))
            }
            return try w.handle(c)
        }
        let host = makeHost(f.scratch, runner: runner, clock: f.clock, transport: f.transport)
        let e = await #expect(throws: AphexError.self) {
            _ = try await KindDriver(host: host, spec: KindClusterSpec(name: "dev")).ensureCluster()
        }
        #expect(e?.status == .timeout)
        #expect(e?.message.contains("did not finish within 10m") == true)
        #expect(e?.message.contains("The half-made cluster was deleted.") == true)
        #expect(runner.argvs.last?.starts(with: ["kind", "delete", "cluster", "--name", "dev"]) == true)
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/clusters/dev"))
    }
}
