import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing

/// `aphex k3s join`'s driver on the in-process simulated cluster (virtual clock): a k3s server
/// already runs (scenario happy-k3s with k3s installed); this host joins it as an agent through
/// the simulated installer, fetched from a file:// URL as on an air-gapped host.
@Suite struct K3sAgentSimTests {
    static func world() throws -> SimCluster {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        var text = try String(
            contentsOf: root.appendingPathComponent("SimCluster/Scenarios/happy-k3s.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "exists: false", with: "exists: true")
            .replacingOccurrences(of: "host:\n  gpu: present", with: "host:\n  gpu: present\n  k3sInstalled: true")
        return try SimCluster(scenario: Scenario.parse(text))
    }

    func agent(
        _ sim: SimCluster, server: String = SimWorld.k3sServerURL, node: String = "agent-1", gpu: Bool = false,
        timeout: Duration = .seconds(120), extraEnv: [String: String] = [:]
    ) throws -> K3sAgent {
        let installer = sim.home + "/install.sh"
        if !FileManager.default.fileExists(atPath: installer) {
            FileManager.default.createFile(atPath: installer, contents: Data(K3sInstaller.script.utf8))
        }
        var env = sim.environment
        env["APHEX_K3S_INSTALL_URL"] = "file://" + installer
        if gpu {
            // --gpu looks the NVIDIA tools up on PATH (the simulated host has them).
            let bin = sim.home + "/gpu-bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            for tool in ["nvidia-smi", "nvidia-container-runtime"] {
                FileManager.default.createFile(
                    atPath: bin + "/" + tool, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]
                )
            }
            env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        }
        env["TMPDIR"] = sim.home
        env.merge(extraEnv) { $1 }
        let host = HostContext(
            runner: sim.runner, reporter: SilentReporter(), clock: sim.clock, environment: env,
            homeDirectory: sim.home, effectiveUID: 0, makeTransport: { _ in sim.transport })
        return K3sAgent(host: host, spec: K3sJoinSpec(server: server, nodeName: node, gpu: gpu, timeout: timeout))
    }

    func nodeReady(_ sim: SimCluster, _ name: String) -> String? {
        (sim.world.get(ResourceRef.nodes, namespace: nil, name: name)?[path: "status", "conditions"]?.array ?? [])
            .first { $0["type"]?.string == "Ready" }?["status"]?.string
    }

    @Test func joinsOnceThenIsANoOp() async throws {
        let sim = try Self.world()
        let token = try #require(sim.world.k3sJoinToken)
        let r = try await agent(sim).join(token: token)
        #expect(r.outcome == .joined)
        #expect(r.node?.ready == true)
        #expect(nodeReady(sim, "agent-1") == "True")
        let install = sim.record.commands.filter { $0.argv.first == "sh" }
        #expect(install.count == 1 && install[0].argv.count == 2, "sh FILE, nothing else on the command line")
        #expect(sim.record.leaks(of: [token]).isEmpty, "the token is never in argv or output")

        sim.record.reset()
        let again = try await agent(sim).join(token: token)
        #expect(again.outcome == .alreadyJoined)
        #expect(sim.record.commands.allSatisfy { !$0.mutating }, "\(sim.record.commands.map(\.argv))")
    }

    /// The agent's installer is the server's: with APHEX_REQUIRE_PINNED=1 an unpinned one is
    /// refused before anything runs, and one that changed since its first use (the digest in
    /// the shared lock) is refused unrun.
    @Test func theInstallerIsCheckedAsTheServersIs() async throws {
        let sim = try Self.world()
        let token = try #require(sim.world.k3sJoinToken)
        do {
            _ = try await agent(sim, extraEnv: ["APHEX_REQUIRE_PINNED": "1"]).join(token: token)
            Issue.record("an unpinned installer ran under APHEX_REQUIRE_PINNED=1")
        } catch let e as AphexError {
            #expect(e.status == .usage && e.message.contains("has no pinned digest"), "\(e.message)")
        }
        #expect(!sim.record.commands.contains { $0.argv.first == "sh" })

        // A digest recorded at the server's first use that this download does not match: refused unrun.
        let lockPath = ManifestLock.defaultPath(home: sim.home)
        try FileManager.default.createDirectory(atPath: sim.home + "/.aphex", withIntermediateDirectories: true)
        let key = "\(K3sInstallSpec.installerComponent)-\(K3sInstallSpec.defaultVersion)"
        try ManifestLock(entries: [
            key: LockEntry(
                component: K3sInstallSpec.installerComponent, version: K3sInstallSpec.defaultVersion,
                url: "https://example.invalid/install.sh", sha256: String(repeating: "ab", count: 32),
                source: "first-use", recordedAt: "2026-01-01T00:00:00Z")
        ]).save(path: lockPath)
        sim.record.reset()
        do {
            _ = try await agent(sim).join(token: token)
            Issue.record("an installer that does not match its first-use digest ran")
        } catch let e as AphexError {
            #expect(
                e.status == .failed && e.message.contains("recorded " + String(repeating: "ab", count: 32)),
                "\(e.message)")
        }
        #expect(!sim.record.commands.contains { $0.argv.first == "sh" }, "the altered installer never ran")
    }

    @Test func anotherServerIsRefusedWithNothingChanged() async throws {
        let sim = try Self.world()
        let token = try #require(sim.world.k3sJoinToken)
        _ = try await agent(sim).join(token: token)
        sim.record.reset()
        await #expect(throws: AphexError.self) {
            try await agent(sim, server: "https://192.0.2.99:6443").join(token: token)
        }
        do { _ = try await agent(sim, server: "https://192.0.2.99:6443").join(token: token) } catch let e as AphexError
        {
            #expect(e.status == .usage)
            #expect(e.message.contains("already a k3s agent of \(SimWorld.k3sServerURL)"))
        }
        #expect(sim.record.commands.isEmpty)
    }

    @Test func aWrongTokenNeverRegistersAndTimesOutWithExitThree() async throws {
        let sim = try Self.world()
        do {
            _ = try await agent(sim, timeout: .seconds(90)).join(token: "K10notthisserverstoken::server:x")
            Issue.record("joined with a wrong token")
        } catch let e as AphexError {
            #expect(e.status == .timeout)
            #expect(e.message.contains("has not registered with \(SimWorld.k3sServerURL)"), "\(e.message)")
        }
        #expect(sim.world.get(ResourceRef.nodes, namespace: nil, name: "agent-1") == nil)

        // The same command with the server's token repairs it: the installer runs again.
        let token = try #require(sim.world.k3sJoinToken)
        let r = try await agent(sim).join(token: token)
        #expect(r.outcome == .joined && r.node?.ready == true)
        #expect(sim.record.commands.filter { $0.argv.first == "sh" }.count == 2)
    }

    @Test func gpuAgentChecksTheNvidiaRuntime() async throws {
        let sim = try Self.world()
        let token = try #require(sim.world.k3sJoinToken)
        let r = try await agent(sim, gpu: true).join(token: token)
        #expect(r.node?.ready == true)
        #expect(
            !sim.record.commands.contains { $0.argv.starts(with: ["systemctl", "restart"]) },
            "the runtime was there: no restart")
    }

    @Test func notRootIsAPrerequisite() async throws {
        let sim = try Self.world()
        var a = try agent(sim)
        var h = a.host
        h.effectiveUID = 1000
        a = K3sAgent(host: h, spec: a.spec)
        do {
            _ = try await a.join(token: "t")
            Issue.record("joined as non-root")
        } catch let e as AphexError {
            #expect(e.status == .prerequisite)
        }
        #expect(sim.record.commands.isEmpty)
    }
}
