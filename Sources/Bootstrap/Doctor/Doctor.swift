import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// One prerequisite check and its verdict.
public struct DoctorCheck: Sendable, Equatable, Codable {
    public enum Verdict: String, Sendable, Codable { case pass, warn, fail, skip }
    public var id: String
    public var title: String
    /// A failed required check makes bootstrap impossible (exit 4); others only warn.
    public var required: Bool
    public var verdict: Verdict
    public var detail: String
    /// What to do about a warn/fail (empty on pass).
    public var fix: String

    public init(id: String, title: String, required: Bool, verdict: Verdict, detail: String, fix: String = "") {
        self.id = id
        self.title = title
        self.required = required
        self.verdict = verdict
        self.detail = detail
        self.fix = fix
    }
}

/// `aphex doctor`'s result: the text checklist, or as JSON `{deployment, ok, checks[]}`.
public struct DoctorReport: Sendable, Equatable, OutputData {
    public var deployment: String
    public var checks: [DoctorCheck]
    /// False when a required check failed.
    public var ok: Bool { !checks.contains { $0.required && $0.verdict == .fail } }
}

/// What `aphex doctor` (and bootstrap's prerequisites step) checks, for a deployment.
/// Every probe goes through the host seams (runner, procRoot, host root, statfs), so tests
/// run it against fake hosts.
public struct DoctorChecks: Sendable {
    public var host: HostContext
    /// Prefix for host paths other than /proc (/run/systemd/system, ...); "" in production.
    public var hostRoot: String
    /// Free bytes on the filesystem holding `path` (injectable).
    public var freeBytes: @Sendable (String) -> UInt64?

    /// kind/k3s run Kubernetes 1.32 by default; kubectl should be within one minor version.
    public static let targetKubernetesMinor = 32
    public static let minimumFreeBytes: UInt64 = 10 * 1024 * 1024 * 1024
    public static let recommendedInotifyWatches = 524_288
    public static let recommendedInotifyInstances = 512

    public init(
        host: HostContext, hostRoot: String? = nil,
        freeBytes: (@Sendable (String) -> UInt64?)? = nil
    ) {
        self.host = host
        self.hostRoot = hostRoot ?? TestHooks.value(TestHooks.hostRoot, host).map { $0 == "/" ? "" : $0 } ?? ""
        self.freeBytes =
            freeBytes ?? { path in
                var s = statvfs()
                guard statvfs(path, &s) == 0 else { return nil }
                return UInt64(s.f_bavail) * UInt64(s.f_frsize)
            }
    }

    public func run(_ options: DoctorOptions) async -> DoctorReport {
        var checks: [DoctorCheck] = []
        checks.append(await kubectlCheck())
        if !options.useExisting {
            switch options.deployment {
            case .kind:
                checks.append(await kindBinaryCheck())
                checks.append(await containerRuntimeCheck())
                checks.append(contentsOf: inotifyChecks())
                checks.append(hostPortsCheck())
            case .k3s:
                checks.append(rootCheck())
                checks.append(downloaderCheck())
                checks.append(systemdCheck())
            }
            checks.append(diskCheck())
        }
        if options.gpu {
            checks.append(contentsOf: gpuChecks())
        }
        return DoctorReport(deployment: options.deployment.rawValue, checks: checks)
    }

    // MARK: individual checks

    func kubectlCheck() async -> DoctorCheck {
        let title = "kubectl"
        guard
            let out = try? await host.runner.run(
                Command(
                    ["kubectl", "version", "--client", "-o", "json"],
                    timeout: .seconds(10), checkExit: false)),
            out.status == 0
        else {
            return DoctorCheck(
                id: "kubectl", title: title, required: true, verdict: .fail,
                detail: "kubectl was not found on PATH or did not run",
                fix:
                    """
                    Install kubectl 1.\(Self.targetKubernetesMinor - 1)-1.\(Self.targetKubernetesMinor + 1) \
                    (https://kubernetes.io/docs/tasks/tools/) and make sure it is on PATH.
                    """
            )
        }
        let json = try? JSON.parse(out.stdout)
        let git = json?[path: "clientVersion", "gitVersion"]?.string ?? "unknown"
        let minorText = json?[path: "clientVersion", "minor"]?.string ?? ""
        let minor = Int(minorText.filter(\.isNumber))
        guard let minor else {
            return DoctorCheck(
                id: "kubectl", title: title, required: true, verdict: .warn,
                detail: "kubectl \(git): could not read its version",
                fix: "Check `kubectl version --client`; aphex expects 1.\(Self.targetKubernetesMinor)±1.")
        }
        let skew = abs(minor - Self.targetKubernetesMinor)
        if skew > 1 {
            return DoctorCheck(
                id: "kubectl", title: title, required: false, verdict: .warn,
                detail:
                    """
                    kubectl \(git) is \(skew) minor versions from the cluster's Kubernetes \
                    1.\(Self.targetKubernetesMinor) (supported skew: ±1)
                    """,
                fix: "Install kubectl 1.\(Self.targetKubernetesMinor) to avoid version-skew surprises.")
        }
        return DoctorCheck(
            id: "kubectl", title: title, required: true, verdict: .pass,
            detail: "kubectl \(git) (within ±1 minor of Kubernetes 1.\(Self.targetKubernetesMinor))")
    }

    func kindBinaryCheck() async -> DoctorCheck {
        guard
            let out = try? await host.runner.run(Command(["kind", "version"], timeout: .seconds(10), checkExit: false)),
            out.status == 0
        else {
            return DoctorCheck(
                id: "kind", title: "kind", required: true, verdict: .fail,
                detail: "kind was not found on PATH",
                fix:
                    """
                    Install kind v0.26 or newer (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), \
                    or use --use-existing with a cluster you already have.
                    """
            )
        }
        return DoctorCheck(
            id: "kind", title: "kind", required: true, verdict: .pass,
            detail: out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func containerRuntimeCheck() async -> DoctorCheck {
        var notes: [String] = []
        for tool in ["docker", "podman"] {
            let argv = [tool, "info", "--format", "{{.ServerVersion}}"]
            let podmanArgv = [tool, "info", "--format", "{{.Version.Version}}"]
            guard
                let out = try? await host.runner.run(
                    Command(
                        tool == "docker" ? argv : podmanArgv,
                        timeout: .seconds(15), checkExit: false))
            else {
                notes.append("\(tool): not installed")
                continue
            }
            if out.status == 0 {
                let version = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                return DoctorCheck(
                    id: "container-runtime", title: "container runtime (for kind)", required: true,
                    verdict: .pass, detail: "\(tool) daemon answers (server \(version))")
            }
            let firstLine = out.stderrText.split(separator: "\n").first.map(String.init) ?? "exit \(out.status)"
            notes.append("\(tool): \(firstLine)")
        }
        return DoctorCheck(
            id: "container-runtime", title: "container runtime (for kind)", required: true, verdict: .fail,
            detail: notes.joined(separator: "; "),
            fix:
                """
                kind needs a running Docker (or Podman) daemon: install Docker Engine and start it (`sudo \
                systemctl start docker`), and make sure your user may use it (`docker info` must work).
                """
        )
    }

    func readProcInt(_ relative: String) -> Int? {
        guard let text = try? String(contentsOfFile: host.procRoot + "/" + relative, encoding: .utf8) else {
            return nil
        }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func inotifyChecks() -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let items: [(String, String, Int)] = [
            ("inotify-watches", "sys/fs/inotify/max_user_watches", Self.recommendedInotifyWatches),
            ("inotify-instances", "sys/fs/inotify/max_user_instances", Self.recommendedInotifyInstances)
        ]
        for (id, file, minimum) in items {
            let key = "fs.inotify." + (file as NSString).lastPathComponent
            guard let value = readProcInt(file) else {
                checks.append(
                    DoctorCheck(
                        id: id, title: key, required: false, verdict: .skip,
                        detail: "could not read \(host.procRoot)/\(file)"))
                continue
            }
            if value < minimum {
                checks.append(
                    DoctorCheck(
                        id: id, title: key, required: false, verdict: .warn,
                        detail:
                            """
                            \(key) = \(value), below \(minimum): kind with the full platform hits \"too many open \
                            files\"
                            """,
                        fix: "sudo sysctl -w \(key)=\(minimum) (persist it in /etc/sysctl.d/99-aphex.conf)"))
            } else {
                checks.append(
                    DoctorCheck(id: id, title: key, required: false, verdict: .pass, detail: "\(key) = \(value)"))
            }
        }
        return checks
    }

    /// Ports with a listening socket, from /proc/net/tcp and tcp6 (no privileges needed).
    func listeningPorts() -> Set<Int>? {
        var ports = Set<Int>()
        var readAny = false
        for file in ["net/tcp", "net/tcp6"] {
            guard let text = try? String(contentsOfFile: host.procRoot + "/" + file, encoding: .utf8) else { continue }
            readAny = true
            for line in text.split(separator: "\n").dropFirst() {
                let cols = line.split(separator: " ", omittingEmptySubsequences: true)
                guard cols.count > 3, cols[3] == "0A" else { continue }  // 0A = LISTEN
                if let portHex = cols[1].split(separator: ":").last, let port = Int(portHex, radix: 16) {
                    ports.insert(port)
                }
            }
        }
        return readAny ? ports : nil
    }

    func hostPortsCheck() -> DoctorCheck {
        let title = "host ports 80 and 443 (kind ingress mapping)"
        guard let listening = listeningPorts() else {
            return DoctorCheck(
                id: "host-ports", title: title, required: false, verdict: .skip,
                detail: "could not read \(host.procRoot)/net/tcp")
        }
        let busy = [80, 443].filter { listening.contains($0) }
        if busy.isEmpty {
            return DoctorCheck(
                id: "host-ports", title: title, required: true, verdict: .pass, detail: "80 and 443 are free")
        }
        return DoctorCheck(
            id: "host-ports", title: title, required: true, verdict: .fail,
            detail: "port(s) \(busy.map(String.init).joined(separator: ", ")) already have a listener on this host",
            fix:
                """
                Stop what listens there (`sudo ss -ltnp 'sport = :80 or sport = :443'` shows it), or run an \
                existing cluster with --use-existing.
                """
        )
    }

    func rootCheck() -> DoctorCheck {
        if host.effectiveUID == 0 {
            return DoctorCheck(
                id: "root", title: "running as root (k3s)", required: true, verdict: .pass, detail: "uid 0")
        }
        return DoctorCheck(
            id: "root", title: "running as root (k3s)", required: true, verdict: .fail,
            detail: "running as uid \(host.effectiveUID); installing k3s needs root",
            fix: "Re-run with sudo: `sudo aphex bootstrap --deployment k3s` (or `sudo aphex doctor --deployment k3s`).")
    }

    func downloaderCheck() -> DoctorCheck {
        let path = host.environment["PATH"]
        if let tool = ["curl", "wget"].first(where: { SubprocessRunner.which($0, path: path) != nil }) {
            return DoctorCheck(
                id: "downloader", title: "curl or wget (used by the k3s installer)", required: true,
                verdict: .pass, detail: "\(tool) found")
        }
        return DoctorCheck(
            id: "downloader", title: "curl or wget (used by the k3s installer)", required: true, verdict: .fail,
            detail: "neither curl nor wget is on PATH; the k3s installer downloads the k3s binary with one of them",
            fix: "Install curl (`sudo apt-get install -y curl`).")
    }

    func systemdCheck() -> DoctorCheck {
        if FileManager.default.fileExists(atPath: hostRoot + "/run/systemd/system") {
            return DoctorCheck(
                id: "systemd", title: "systemd (k3s runs as a service)", required: true, verdict: .pass,
                detail: "systemd is the init system")
        }
        return DoctorCheck(
            id: "systemd", title: "systemd (k3s runs as a service)", required: true, verdict: .fail,
            detail: "\(hostRoot)/run/systemd/system is missing: systemd is not running",
            fix: "Run k3s on a host booted with systemd (or OpenRC), or use --deployment kind.")
    }

    func diskCheck() -> DoctorCheck {
        let path = host.homeDirectory
        guard let free = freeBytes(path) else {
            return DoctorCheck(
                id: "disk", title: "free disk", required: false, verdict: .skip, detail: "could not stat \(path)")
        }
        let gib = Double(free) / 1_073_741_824
        let text = String(format: "%.1f GiB free under %@", gib, path)
        if free < Self.minimumFreeBytes {
            return DoctorCheck(
                id: "disk", title: "free disk", required: false, verdict: .warn,
                detail: text + " (the platform's images need about 10 GiB)",
                fix:
                    "Free disk space (`docker system prune`, old images), or point Docker's data-root at a larger disk."
            )
        }
        return DoctorCheck(id: "disk", title: "free disk", required: false, verdict: .pass, detail: text)
    }

    func gpuChecks() -> [DoctorCheck] {
        let path = host.environment["PATH"]
        return [
            (
                "nvidia-smi", "the NVIDIA driver (nvidia-smi)",
                "Install the NVIDIA driver for your GPU so `nvidia-smi` works."
            ),
            (
                "nvidia-container-runtime", "the NVIDIA container runtime",
                """
                Install the NVIDIA Container Toolkit (nvidia-container-toolkit package) so \
                nvidia-container-runtime is on PATH.
                """
            )
        ]
        .map { tool, title, fix in
            if SubprocessRunner.which(tool, path: path) != nil {
                return DoctorCheck(id: tool, title: title, required: true, verdict: .pass, detail: "\(tool) found")
            }
            return DoctorCheck(
                id: tool, title: title, required: true, verdict: .fail,
                detail: "\(tool) is not on PATH (asked for by --gpu)", fix: fix)
        }
    }
}

extension DoctorReport {
    enum CodingKeys: String, CodingKey { case deployment, ok, checks }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deployment, forKey: .deployment)
        try c.encode(ok, forKey: .ok)
        try c.encode(checks, forKey: .checks)
    }

    public var description: String { text }

    public var text: String {
        var out = "aphex doctor (deployment: \(deployment))\n"
        for c in checks {
            let mark: String
            switch c.verdict {
            case .pass: mark = "✓"
            case .warn: mark = "!"
            case .fail: mark = "✗"
            case .skip: mark = "-"
            }
            out += " \(mark) \(c.title): \(c.detail)\n"
            if !c.fix.isEmpty && (c.verdict == .fail || c.verdict == .warn) {
                out += "     fix: \(c.fix)\n"
            }
        }
        let failed = checks.filter { $0.required && $0.verdict == .fail }.count
        let warned = checks.filter { $0.verdict == .warn || (!$0.required && $0.verdict == .fail) }.count
        out +=
            failed == 0
            ? "Ready for `aphex bootstrap --deployment \(deployment)`" + (warned > 0 ? " (\(warned) warning(s))" : "")
                + ".\n"
            : "\(failed) required check(s) failed: fix them, then run `aphex doctor` again.\n"
        return out
    }
}
