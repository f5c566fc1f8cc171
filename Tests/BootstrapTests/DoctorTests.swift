import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport
@testable import Bootstrap

/// A fake host: scripted commands, a fake /proc tree, chosen uid and disk.
struct FakeHost {
    let root: URL
    let runner = RecordingRunner()

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-doctor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("proc/sys/fs/inotify"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("proc/net"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        setProc("sys/fs/inotify/max_user_watches", "524288\n")
        setProc("sys/fs/inotify/max_user_instances", "512\n")
        setProc("net/tcp", Self.tcpHeader)
        setProc("net/tcp6", Self.tcpHeader)
    }

    static let tcpHeader =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

    func setProc(_ relative: String, _ text: String) {
        try! text.write(to: root.appendingPathComponent("proc/" + relative), atomically: true, encoding: .utf8)
    }

    /// Puts an executable named `tool` on the fake PATH (for `which` checks).
    func installTool(_ tool: String) {
        let url = root.appendingPathComponent("bin/" + tool)
        FileManager.default.createFile(
            atPath: url.path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
    }

    func makeDoctor(uid: UInt32 = 1000, freeGiB: UInt64 = 100) -> DoctorChecks {
        let host = HostContext(
            runner: runner, reporter: SilentReporter(),
            environment: ["PATH": root.appendingPathComponent("bin").path, "HOME": root.path],
            homeDirectory: root.path, effectiveUID: uid, procRoot: root.appendingPathComponent("proc").path,
            makeTransport: { _ in fatalError("doctor must not use HTTP") })
        return DoctorChecks(host: host, hostRoot: root.path, freeBytes: { _ in freeGiB * 1_073_741_824 })
    }

    func healthyKindTools() {
        runner.on(
            ["kubectl", "version", "--client", "-o", "json"],
            stdout: #"{"clientVersion":{"major":"1","minor":"32","gitVersion":"v1.32.4"},"kustomizeVersion":"v5.5.0"}"#)
        runner.on(["kind", "version"], stdout: "kind v0.27.0 go1.23.6 linux/amd64\n")
        runner.on(["docker", "info"], stdout: "28.2.2\n")
    }
}

@Suite struct DoctorTests {
    func verdicts(_ r: DoctorReport) -> [String: DoctorCheck.Verdict] {
        Dictionary(uniqueKeysWithValues: r.checks.map { ($0.id, $0.verdict) })
    }

    @Test func healthyKindHostPasses() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        let report = await h.makeDoctor().run(DoctorOptions())
        #expect(report.ok)
        let v = verdicts(report)
        #expect(v["kubectl"] == .pass && v["kind"] == .pass && v["container-runtime"] == .pass)
        #expect(v["inotify-watches"] == .pass && v["inotify-instances"] == .pass)
        #expect(v["host-ports"] == .pass && v["disk"] == .pass)
        #expect(report.text.contains("Ready for `aphex bootstrap --deployment kind`"))
    }

    @Test func missingKindAndDeadDockerFailWithFixes() async throws {
        let h = try FakeHost()
        h.runner.on(["kubectl", "version"], stdout: #"{"clientVersion":{"minor":"32","gitVersion":"v1.32.4"}}"#)
        h.runner.on(
            ["docker", "info"], status: 1,
            stderr:
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
        h.runner.notFound(["kind"])
        h.runner.notFound(["podman"])
        let report = await h.makeDoctor().run(DoctorOptions())
        #expect(!report.ok)
        let failed = report.checks.filter { $0.verdict == .fail }
        #expect(Set(failed.map(\.id)) == ["kind", "container-runtime"])
        #expect(failed.allSatisfy { !$0.fix.isEmpty })
        #expect(failed.first { $0.id == "container-runtime" }!.detail.contains("Cannot connect to the Docker daemon"))
        // podman was probed as the alternative
        #expect(h.runner.commands.contains { $0.argv.first == "podman" })
    }

    @Test func lowInotifyLimitsWarnButDoNotFail() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        h.setProc("sys/fs/inotify/max_user_watches", "8192\n")
        h.setProc("sys/fs/inotify/max_user_instances", "128\n")
        let report = await h.makeDoctor().run(DoctorOptions())
        #expect(report.ok)
        let v = verdicts(report)
        #expect(v["inotify-watches"] == .warn && v["inotify-instances"] == .warn)
        #expect(report.text.contains("sysctl -w fs.inotify.max_user_watches=524288"))
    }

    @Test func busyHostPortFromProcNetTcp() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        // 0.0.0.0:80 LISTEN (0A); 127.0.0.1:8080 ESTABLISHED (01) must not count
        h.setProc(
            "net/tcp",
            FakeHost.tcpHeader
                + """
                   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 \
                0000000000000000 100 0 0 10 0\n
                """
                    + """
                       1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 \
                    0000000000000000 20 4 30 10 -1\n
                    """
        )
        h.setProc(
            "net/tcp6",
            FakeHost.tcpHeader
                + """
                   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A \
                00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0\n
                """
        )
        let report = await h.makeDoctor().run(DoctorOptions())
        #expect(!report.ok)
        let ports = report.checks.first { $0.id == "host-ports" }!
        #expect(ports.verdict == .fail)
        #expect(ports.detail.contains("80, 443"))
    }

    @Test func k3sNeedsRootDownloaderAndSystemd() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        var options = DoctorOptions()
        options.deployment = .k3s
        let report = await h.makeDoctor(uid: 1000).run(options)
        let v = verdicts(report)
        #expect(v["root"] == .fail && v["downloader"] == .fail && v["systemd"] == .fail)
        #expect(v["kind"] == nil && v["container-runtime"] == nil, "kind checks do not apply to k3s")
        #expect(report.checks.first { $0.id == "root" }!.fix.contains("sudo"))

        h.installTool("curl")
        try FileManager.default.createDirectory(
            at: h.root.appendingPathComponent("run/systemd/system"), withIntermediateDirectories: true)
        let asRoot = await h.makeDoctor(uid: 0).run(options)
        #expect(asRoot.ok)
    }

    @Test func gpuChecksOnlyWhenAsked() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        var options = DoctorOptions()
        #expect(verdicts(await h.makeDoctor().run(options))["nvidia-smi"] == nil)
        options.gpu = true
        h.installTool("nvidia-smi")
        let v = verdicts(await h.makeDoctor().run(options))
        #expect(v["nvidia-smi"] == .pass && v["nvidia-container-runtime"] == .fail)
    }

    @Test func kubectlSkewWarnsAndMissingKubectlFails() async throws {
        let h = try FakeHost()
        h.runner.on(["kubectl", "version"], stdout: #"{"clientVersion":{"minor":"28","gitVersion":"v1.28.0"}}"#)
        var options = DoctorOptions()
        options.useExisting = true
        let report = await h.makeDoctor().run(options)
        #expect(report.checks.count == 1, "--use-existing checks only what an existing cluster needs")
        #expect(report.checks[0].verdict == .warn && report.checks[0].detail.contains("4 minor versions"))

        let bare = try FakeHost()
        bare.runner.notFound(["kubectl"])
        let missing = await bare.makeDoctor().run(options)
        #expect(!missing.ok && missing.checks[0].verdict == .fail)
    }

    @Test func lowDiskWarns() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        let report = await h.makeDoctor(freeGiB: 3).run(DoctorOptions())
        #expect(report.checks.first { $0.id == "disk" }!.verdict == .warn)
    }

    @Test func jsonHasStableFields() async throws {
        let h = try FakeHost()
        h.healthyKindTools()
        let json = try JSON.parse(AppContext.json(await h.makeDoctor().run(DoctorOptions()), pretty: false))
        #expect(json["ok"] == .bool(true))
        #expect(json["deployment"] == "kind")
        let first = json["checks"]?[0]
        for key in ["id", "title", "required", "verdict", "detail", "fix"] {
            #expect(first?[key] != nil, "missing \(key)")
        }
    }
}
