import AphexCore
import KubeClient
import Foundation

/// Everything that shapes a k3s install.
public struct K3sInstallSpec: Sendable, Equatable {
    /// The k3s release this aphex release pins (INSTALL_K3S_VERSION).
    public static let defaultVersion = "v1.31.4+k3s1"
    /// Test hook: where to fetch the installer instead (`TestHooks`: test builds, or not root).
    public static let installerURLVariable = TestHooks.k3sInstallURL
    /// The lock / components-file name of the installer: lock entries are `k3s-installer-VERSION`.
    public static let installerComponent = ManifestLock.k3sInstallerComponent
    /// SHA-256 of each release's install.sh that this aphex release vouches for (version ->
    /// digest). Empty: no digest could be verified when this release was made, so the installer
    /// is trusted on first use unless a components file pins it (sha256: {k3s-installer: ...}).
    public static let installerDigests: [String: String] = [:]

    /// The installer of the k3s release itself (the tag's install.sh), not get.k3s.io's latest:
    /// the script then matches the version it installs, and a digest can be pinned per version.
    public static func tagInstallerURL(version: String) -> String {
        "https://raw.githubusercontent.com/k3s-io/k3s/\(version.replacingOccurrences(of: "+", with: "%2B"))/install.sh"
    }

    /// The aphex cluster name the kubeconfig copy and record are filed under.
    public var name: String
    /// nil = the pinned default.
    public var version: String?
    public var disableTraefik: Bool
    public var gpu: Bool
    public var waitTimeout: Duration
    /// The installer's URL from a components file (urls.k3s-installer: https:// or file://,
    /// `{version}` replaced); nil: the tag's install.sh.
    public var installerURL: String?
    /// The installer's digest from a components file (sha256.k3s-installer); nil: the
    /// catalog's (`installerDigests`), else trust on first use.
    public var installerSHA256: String?
    /// --require-pinned / APHEX_REQUIRE_PINNED=1: refuse an installer without a pin.
    public var requirePinned: Bool

    public init(
        name: String, version: String? = nil, disableTraefik: Bool = false, gpu: Bool = false,
        waitTimeout: Duration = .seconds(300), installerURL: String? = nil, installerSHA256: String? = nil,
        requirePinned: Bool = false
    ) {
        self.name = name
        self.version = version
        self.disableTraefik = disableTraefik
        self.gpu = gpu
        self.waitTimeout = waitTimeout
        self.installerURL = installerURL
        self.installerSHA256 = installerSHA256
        self.requirePinned = requirePinned
    }

    public var resolvedVersion: String { version ?? Self.defaultVersion }

    /// The installer's pin and where it comes from ("components file" or "catalog"), if any.
    public var installerPin: (sha256: String, source: String)? {
        if let d = installerSHA256 { return (d.lowercased(), "components file") }
        if let d = Self.installerDigests[resolvedVersion] { return (d, "catalog") }
        return nil
    }

    /// INSTALL_K3S_EXEC: the k3s server flags.
    public var installExec: String {
        var flags = ["--write-kubeconfig-mode", "0600"]
        if disableTraefik { flags += ["--disable", "traefik"] }
        return flags.joined(separator: " ")
    }

    /// The environment the installer runs with.
    public var installerEnvironment: [String: String] {
        ["INSTALL_K3S_VERSION": resolvedVersion, "INSTALL_K3S_EXEC": installExec]
    }
}

/// k3s on this host (`aphex k3s install|uninstall|status`, bootstrap --deployment k3s).
///
/// Installs with the official installer of the release (the tag's install.sh), downloaded
/// through the HTTP transport (libcurl) over https, checked against a pin or the digest
/// recorded at first use, written to a private temp file (mode 0700) and run with `sh` —
/// never `curl | sh`. Re-runnable: a healthy install is reused without running the installer.
public struct K3sDriver: ClusterDriver {
    public let host: HostContext
    public let spec: K3sInstallSpec
    public let paths: HostPaths

    public init(host: HostContext, spec: K3sInstallSpec, paths: HostPaths? = nil) {
        self.host = host
        self.spec = spec
        self.paths = paths ?? HostPaths(host: host)
    }

    public var driverName: String { "k3s" }
    public var clusterName: String { spec.name }
    var kubeconfigPath: String { userHost.kubeconfigPath(forCluster: spec.name) }

    /// ~/.aphex/clusters/NAME (the sudo user's home under sudo).
    public var clusterDirectory: String { userHost.clusterDirectory(spec.name) }

    /// The host context whose home holds ~/.aphex: under `sudo`, the invoking user's home (so
    /// their `aphex status` finds the kubeconfig without sudo), else this process's home.
    var userHost: HostContext {
        guard let owner = PrivateFiles.invokingUser(host.environment), let pw = getpwuid(owner.uid),
            let dir = pw.pointee.pw_dir.map({ String(cString: $0) }), !dir.isEmpty, dir != host.homeDirectory
        else { return host }
        var h = host
        h.homeDirectory = dir
        return h
    }
    var waiter: NodeWaiter { NodeWaiter(host: host) }
    /// The test hook (when `TestHooks` honours it), else the components file's URL, else the
    /// tag's install.sh.
    public var installerURL: String {
        TestHooks.value(TestHooks.k3sInstallURL, host)
            ?? spec.installerURL?.replacingOccurrences(of: "{version}", with: spec.resolvedVersion)
            ?? K3sInstallSpec.tagInstallerURL(version: spec.resolvedVersion)
    }
    var installerFromHook: Bool { TestHooks.value(TestHooks.k3sInstallURL, host) != nil }
    /// The lock entry the installer's digest is recorded under.
    var installerLockKey: String { "\(K3sInstallSpec.installerComponent)-\(spec.resolvedVersion)" }
    var lockPath: String { ManifestLock.defaultPath(home: host.homeDirectory) }

    /// Refuses (exit 2) test hooks a release build does not honour as root.
    func checkTestHooks() throws {
        try TestHooks.refuseIgnored([TestHooks.hostRoot, TestHooks.k3sInstallURL], host)
    }

    // MARK: argv

    public func installerCommand(scriptPath: String) -> Command {
        Command(
            ["sh", scriptPath], environment: spec.installerEnvironment, timeout: .seconds(15 * 60), checkExit: false)
    }
    public var uninstallCommand: Command {
        Command([paths.k3sUninstallScript], timeout: .seconds(10 * 60), checkExit: false)
    }
    public var restartCommand: Command { Command(["systemctl", "restart", "k3s"], timeout: .seconds(120)) }
    /// `/usr/local/bin/k3s --version` (or `k3s` from PATH when installed elsewhere, INSTALL_K3S_BIN_DIR).
    public var versionCommand: Command {
        Command(
            [FileManager.default.fileExists(atPath: paths.k3sBinary) ? paths.k3sBinary : "k3s", "--version"],
            timeout: .seconds(30))
    }

    // MARK: probes

    /// The installer always writes both the binary and k3s-uninstall.sh; either one present
    /// means an install exists (the binary may live elsewhere with INSTALL_K3S_BIN_DIR).
    public var isInstalled: Bool {
        FileManager.default.fileExists(atPath: paths.k3sBinary)
            || FileManager.default.fileExists(atPath: paths.k3sUninstallScript)
    }

    public func isAvailable() async -> DriverAvailability {
        if host.effectiveUID != 0 {
            return DriverAvailability(available: false, reason: Self.rootMessage)
        }
        if spec.gpu, let missing = missingGPUTools(), !missing.isEmpty {
            return DriverAvailability(available: false, reason: Self.gpuMessage(missing))
        }
        return .ok
    }

    static let rootMessage =
        """
        k3s installs a system service and writes /etc/rancher, /var/lib/rancher and /usr/local/bin, so it must \
        run as root. Re-run with sudo, e.g. `sudo aphex k3s install` or `sudo -E aphex bootstrap --deployment k3s`.
        """

    static func gpuMessage(_ missing: [String]) -> String {
        """
        --gpu needs the NVIDIA driver and container toolkit, but \(missing.joined(separator: " and ")) \
        \(missing.count == 1 ? "was" : "were") not found on PATH. Install the NVIDIA driver (nvidia-smi) and the \
        NVIDIA Container Toolkit (nvidia-container-runtime), or drop --gpu.
        """
    }

    func missingGPUTools() -> [String]? {
        let path = host.environment["PATH"] ?? "/usr/bin:/bin"
        return ["nvidia-smi", "nvidia-container-runtime"].filter { SubprocessRunner.which($0, path: path) == nil }
    }

    public func requireRoot() throws {
        if host.effectiveUID != 0 { throw AphexError.prerequisite(Self.rootMessage) }
    }

    /// A health read through k3s's own kubeconfig (root-readable), else aphex's copy.
    func probe() async throws -> ClusterDescription {
        var d = ClusterDescription(
            driver: driverName, clusterName: spec.name, exists: isInstalled,
            managed: ClusterRecord.load(userHost, name: spec.name) != nil,
            kubeconfig: FileManager.default.fileExists(atPath: kubeconfigPath) ? kubeconfigPath : nil)
        guard d.exists else {
            d.problem = "k3s is not installed (neither \(paths.k3sBinary) nor \(paths.k3sUninstallScript) exists)"
            return d
        }
        let source: String
        if FileManager.default.isReadableFile(atPath: paths.k3sKubeconfig) {
            source = paths.k3sKubeconfig
        } else if FileManager.default.isReadableFile(atPath: kubeconfigPath) {
            source = kubeconfigPath
        } else {
            d.problem =
                FileManager.default.fileExists(atPath: paths.k3sKubeconfig)
                ? "\(paths.k3sKubeconfig) is readable by root only (run as root)"
                : "k3s has not written \(paths.k3sKubeconfig) (is the k3s service running? `systemctl status k3s`)"
            return d
        }
        do {
            d.recordNodes(try await waiter.readNodes(kubeconfig: source, context: nil))
        } catch {
            guard let failure = NodeWaiter.readFailure(error) else { throw error }
            d.problem =
                "the API server did not answer: " + (failure.split(separator: "\n").first.map(String.init) ?? "")
        }
        return d
    }

    // MARK: ensure

    public func ensureCluster() async throws -> ClusterAccess {
        let start = host.clock.now()
        try requireRoot()
        try checkTestHooks()
        if spec.gpu, let missing = missingGPUTools(), !missing.isEmpty {
            throw AphexError.prerequisite(Self.gpuMessage(missing))
        }
        let deadline = start + spec.waitTimeout
        var outcome = ClusterOutcome.reused
        let health = try await StepTimer(host, "cluster.k3s.check", "Checking for an existing k3s install").run {
            try await probe()
        }
        if health.healthy {
            host.reporter.info(
                """
                k3s is installed and healthy (\(health.nodes.count) node\(health.nodes.count == 1 ? "" : "s") \
                Ready): reusing it, the installer is not run.
                """
            )
            if spec.disableTraefik, let unit = FileManager.default.contents(atPath: paths.k3sServiceUnit),
                !String(decoding: unit, as: UTF8.self).contains("traefik")
            {
                host.reporter.warn(
                    """
                    --disable-traefik was asked for, but the installed k3s was started without it \
                    (\(paths.k3sServiceUnit)); aphex does not change a healthy install. To change it: `sudo aphex \
                    k3s uninstall --yes`, then install again.
                    """
                )
            }
            if let wanted = spec.version, let installed = await installedVersion(), installed != wanted {
                host.reporter.warn(
                    """
                    k3s \(installed) is installed but --k3s-version \(wanted) was asked for; aphex does not \
                    upgrade a healthy install. To change versions: `sudo aphex k3s uninstall --yes`, then install \
                    again.
                    """
                )
            }
        } else if health.exists && health.apiReachable {
            // k3s runs and answers; its node is still coming up (e.g. just after a reboot).
            host.reporter.info(
                """
                k3s is installed and its API server answers, but \(health.problem ?? "the node is not Ready"): \
                waiting for it (the installer is not run).
                """
            )
        } else {
            if health.exists {
                host.reporter.warn(
                    """
                    k3s is installed but not healthy (\(health.problem ?? "unknown")); re-running the installer \
                    to repair it.
                    """
                )
            }
            try await install()
            outcome = .created
        }

        try await waitForFile(paths.k3sKubeconfig, until: deadline)
        try await copyKubeconfig()
        let remaining = max(deadline - host.clock.now(), .milliseconds(1))
        var result = try await waitNodes(timeout: remaining)

        if spec.gpu {
            if try await configureGPU(deadline: deadline) {
                let left = max(deadline - host.clock.now(), .milliseconds(1))
                result = try await waitNodes(timeout: left)
            }
        }

        let previous = ClusterRecord.load(userHost, name: spec.name)
        let record = ClusterRecord(
            name: spec.name, deployment: "k3s", createdAt: previous?.createdAt ?? host.clock.wallNow(),
            createdByAphex: previous?.createdByAphex ?? (outcome == .created),
            kubeconfig: kubeconfigPath, context: nil,
            version: outcome == .created ? spec.resolvedVersion : (previous?.version ?? spec.version))
        if record != previous { try record.save(userHost) }
        return ClusterAccess(
            driver: driverName, clusterName: spec.name, kubeconfig: kubeconfigPath, context: nil,
            outcome: outcome, seconds: (host.clock.now() - start).seconds,
            nodesReadySeconds: result.seconds, nodes: result.nodes)
    }

    func waitNodes(timeout: Duration) async throws -> NodeWaitResult {
        let t = StepTimer(
            host, "cluster.k3s.wait", "Waiting ≤ \(formatDuration(timeout)) for the k3s API server and node to be Ready"
        )
        do {
            let r = try await waiter.waitUntilReady(
                kubeconfig: kubeconfigPath, context: nil, timeout: timeout,
                expectedNodes: 1, what: "k3s")
            t.finish(.done, "\(r.nodes.count) Ready after \(formatDuration(.milliseconds(Int64(r.seconds * 1000))))")
            return r
        } catch {
            t.finish(.failed, firstLine(of: error))
            throw error
        }
    }

    func installedVersion() async -> String? {
        guard let out = try? await host.runner.run(versionCommand) else { return nil }
        // "k3s version v1.31.4+k3s1 (a562d090)"
        let words = out.stdoutText.split(whereSeparator: { $0 == " " || $0 == "\n" })
        if let i = words.firstIndex(of: "version"), i + 1 < words.count { return String(words[i + 1]) }
        return nil
    }

    /// Download the installer (libcurl, or file:// for air-gapped hosts), verify it, write it
    /// to a private temp file and run it with the pinned version and flags.
    func install() async throws {
        try checkInstallerSource()
        let script = try await StepTimer(
            host, "cluster.k3s.download", "Downloading the k3s installer from \(installerURL)"
        ).run {
            try verifyInstaller(try await downloadInstaller())
        }
        let dir = try privateTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/install.sh"
        try PrivateFiles.write(script, to: path, mode: 0o700)
        let cmd = installerCommand(scriptPath: path)
        let t = StepTimer(host, "cluster.k3s.install", "Installing k3s \(spec.resolvedVersion) (\(spec.installExec))")
        let out: CommandOutput
        do { out = try await host.runner.run(cmd) } catch {
            t.finish(.failed, firstLine(of: error))
            throw error
        }
        guard out.succeeded else {
            t.finish(.failed, "the installer exited with status \(out.status)")
            throw AphexError.failed(
                """
                The k3s installer failed (exit status \(out.status)). A partial install may remain: remove it \
                with `sudo aphex k3s uninstall --yes` (runs \(paths.k3sUninstallScript) when present), check the \
                network and re-run.
                """,
                detail: tail(out.stderrText.isEmpty ? out.stdoutText : out.stderrText))
        }
        t.finish(.done)
    }

    /// Before anything is downloaded: the installer runs as root, so it comes over https (or
    /// from a file), and with --require-pinned only with a pin. http:// is accepted only from
    /// the test hook in a test build, and only from this machine (the simulator's installer).
    func checkInstallerSource() throws {
        let url = installerURL
        let from = installerFromHook ? "\(K3sInstallSpec.installerURLVariable)=\(url)" : "the k3s installer URL \(url)"
        if url.hasPrefix("http://") {
            let host = URL(string: url)?.host ?? ""
            guard installerFromHook && self.host.testBuild && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
            else {
                throw AphexError.usage(
                    """
                    Refusing \(from): the k3s installer runs as root, so aphex fetches it only over https:// (or \
                    from a file:// path). Use an https:// mirror or a saved copy (urls: {k3s-installer: \
                    file:///path/install.sh} in a components file).
                    """
                )
            }
        } else if !url.hasPrefix("https://") && !url.hasPrefix("file://") {
            throw AphexError.usage(
                """
                Refusing \(from): it is not an https:// or file:// URL. Give the installer as https://... or \
                file:///path/install.sh.
                """
            )
        }
        if spec.requirePinned && spec.installerPin == nil {
            throw AphexError.usage(
                """
                --require-pinned (or APHEX_REQUIRE_PINNED=1): the k3s \(spec.resolvedVersion) installer (\(url)) \
                has no pinned digest, and a digest recorded at first use does not count. Nothing was changed. Pin \
                it in a components file (sha256: {k3s-installer: {\(spec.resolvedVersion): <sha256 of \
                install.sh>}}; `aphex manifests pin` shows the digest after one trusted install) and pass \
                --components-file, or drop --require-pinned.
                """
            )
        }
    }

    /// The installer must start with `#!` and match its pin, else the digest recorded in the
    /// lock at first use (recorded now when there is none): like the release manifests.
    func verifyInstaller(_ bytes: [UInt8]) throws -> [UInt8] {
        let url = installerURL
        guard bytes.starts(with: Array("#!".utf8)) else {
            throw AphexError.failed(
                """
                What was downloaded from \(url) is not a shell script (it does not start with #!); refusing to \
                run it. Check for a captive portal or proxy.
                """
            )
        }
        let digest = Digest.sha256Hex(bytes)
        var lock = try ManifestLock.load(path: lockPath)
        let recorded = lock.entries[installerLockKey]
        if let pin = spec.installerPin {
            guard digest == pin.sha256 else {
                throw AphexError.failed(
                    """
                    Refusing the k3s \(spec.resolvedVersion) installer from \(url): its SHA-256 is \(digest), but \
                    the \(pin.source) pins \(pin.sha256). Nothing was run. The download was altered (a proxy or \
                    mirror) or it is not the release's install.sh; fetch it from \
                    \(K3sInstallSpec.tagInstallerURL(version: spec.resolvedVersion)), or if you trust this copy, \
                    pin its digest in a components file (sha256: {k3s-installer: {\(spec.resolvedVersion): \
                    \(digest)}}).
                    """
                )
            }
        } else if let recorded, recorded.sha256 != digest {
            throw AphexError.failed(
                """
                Refusing the k3s \(spec.resolvedVersion) installer from \(url): its SHA-256 is \(digest), but \
                \(lockPath) recorded \(recorded.sha256) when it was first downloaded (\(recorded.recordedAt)). \
                Nothing was run. The upstream file changed or the copy was altered; if you trust the new file, \
                remove the entry \"\(installerLockKey)\" from \(lockPath) and run again.
                """
            )
        }
        if recorded?.sha256 != digest {
            lock.entries[installerLockKey] = LockEntry(
                component: K3sInstallSpec.installerComponent, version: spec.resolvedVersion,
                url: url, sha256: digest, source: spec.installerPin?.source ?? "first-use",
                recordedAt: RFC3339.format(host.clock.wallNow()))
            try lock.save(path: lockPath)
            if spec.installerPin == nil {
                host.reporter.info(
                    """
                    k3s \(spec.resolvedVersion) installer: no digest is pinned; recorded sha256 \(digest) in \
                    \(lockPath) (trust on first use)
                    """
                )
            }
        }
        return bytes
    }

    func downloadInstaller() async throws -> [UInt8] {
        let url = installerURL
        if installerFromHook {
            host.reporter.warn(
                """
                \(K3sInstallSpec.installerURLVariable) is set: running the installer from \(url) (a test hook; \
                \(host.testBuild ? "this is a test build" : "honoured because aphex is not running as root")).
                """
            )
        }
        let bytes: [UInt8]
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AphexError.usage(
                    """
                    \(installerFromHook ? "\(K3sInstallSpec.installerURLVariable)=" : "The k3s installer URL ")\(url): \
                    the file \(path) does not exist or is not readable. Point it at a saved copy of \
                    \(K3sInstallSpec.tagInstallerURL(version: spec.resolvedVersion)).
                    """
                )
            }
            bytes = Array(data)
        } else {
            let transport = host.makeTransport(TLSOptions())
            let response: HTTPResponse
            do {
                response = try await transport.send(
                    HTTPRequest(url: url, headers: ["Accept": "text/plain, */*"], timeout: .seconds(120)))
            } catch {
                throw AphexError.failed(
                    """
                    Could not download the k3s installer from \(url): \(error). Check the network or proxy, or \
                    save the installer on a connected machine and give it in a components file (urls: \
                    {k3s-installer: file:///path/install.sh}).
                    """
                )
            }
            guard response.status == 200 else {
                throw AphexError.failed(
                    """
                    Downloading the k3s installer from \(url) returned HTTP \(response.status). Retry later, or \
                    give a saved copy in a components file (urls: {k3s-installer: file:///path/install.sh}).
                    """
                )
            }
            bytes = response.body
        }
        return bytes
    }

    func privateTempDirectory() throws -> String {
        let base = host.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/aphex-k3s-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw AphexError.failed(
                "Could not create a private temporary directory under \(base): \(String(cString: strerror(errno))).")
        }
        return String(cString: p)
    }

    func waitForFile(_ path: String, until deadline: Duration) async throws {
        while !FileManager.default.fileExists(atPath: path) {
            let now = host.clock.now()
            if now >= deadline {
                throw AphexError.timeout(
                    """
                    Timed out after \(formatDuration(spec.waitTimeout)) waiting for k3s to write \(path). Check \
                    the service with `systemctl status k3s` and `journalctl -u k3s`, then re-run with a longer \
                    --timeout.
                    """
                )
            }
            try await host.clock.sleep(for: min(.seconds(1), deadline - now))
        }
    }

    /// /etc/rancher/k3s/k3s.yaml -> ~/.aphex/clusters/NAME/kubeconfig (0600, owned by the
    /// sudo user when run through sudo). Rewritten only when it differs.
    func copyKubeconfig() async throws {
        guard let data = FileManager.default.contents(atPath: paths.k3sKubeconfig) else {
            throw AphexError.failed(
                "Could not read \(paths.k3sKubeconfig). Check that k3s is running (`systemctl status k3s`).")
        }
        let current = FileManager.default.contents(atPath: kubeconfigPath)
        if current != data || PrivateFiles.mode(kubeconfigPath) != 0o600 {
            let owner = PrivateFiles.invokingUser(host.environment)
            try PrivateFiles.makeDirectory(userHost.homeDirectory + "/.aphex/clusters", owner: owner)
            try PrivateFiles.write(Array(data), to: kubeconfigPath, owner: owner)
            host.reporter.info("Wrote the k3s kubeconfig to \(kubeconfigPath) (mode 0600)")
        }
    }

    /// k3s detects nvidia-container-runtime when it starts and adds an `nvidia` runtime (not
    /// the default) to the containerd config it generates. When that runtime is missing —
    /// k3s started before the toolkit was installed — restart k3s once so it re-detects.
    /// Returns true when k3s was restarted.
    func configureGPU(deadline: Duration, service: String = "k3s") async throws -> Bool {
        let t = StepTimer(host, "cluster.k3s.gpu", "Checking the NVIDIA containerd runtime")
        if Self.hasNvidiaRuntime(paths.k3sContainerdConfig) {
            t.finish(.unchanged, "runtime \"nvidia\" configured in \(paths.k3sContainerdConfig)")
            return false
        }
        host.reporter.info(
            """
            The nvidia runtime is not in \(paths.k3sContainerdConfig): restarting \(service) so it detects \
            nvidia-container-runtime
            """
        )
        do {
            _ = try await host.runner.run(
                service == "k3s" ? restartCommand : Command(["systemctl", "restart", service], timeout: .seconds(120)))
        } catch {
            t.finish(.failed, firstLine(of: error))
            throw AphexError.failed("Could not restart k3s to pick up the NVIDIA runtime: \(error)")
        }
        // k3s rewrites config.toml while starting; give it until the deadline.
        while !Self.hasNvidiaRuntime(paths.k3sContainerdConfig) {
            let now = host.clock.now()
            if now >= deadline {
                t.finish(.failed)
                throw AphexError.failed(
                    """
                    k3s restarted but did not add the nvidia runtime to \(paths.k3sContainerdConfig). Check that \
                    nvidia-container-runtime is in /usr/bin or /usr/local/nvidia/toolkit and works \
                    (`nvidia-container-runtime --version`), then `sudo systemctl restart k3s`.
                    """
                )
            }
            try await host.clock.sleep(for: min(.seconds(1), deadline - now))
        }
        t.finish(.done, "k3s restarted; runtime \"nvidia\" configured")
        return true
    }

    /// containerd v2 config (k3s <1.32: `plugins."io.containerd.grpc.v1.cri".containerd.runtimes."nvidia"`)
    /// or v3 (`plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia'`).
    static func hasNvidiaRuntime(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let text = String(decoding: data, as: UTF8.self)
        return text.range(of: #"runtimes\.["']nvidia["']\]"#, options: .regularExpression) != nil
    }

    // MARK: delete / kubeconfig / describe

    @discardableResult
    public func delete() async throws -> Bool {
        try requireRoot()
        try checkTestHooks()
        let installed = FileManager.default.fileExists(atPath: paths.k3sUninstallScript)
        if installed {
            let t = StepTimer(host, "cluster.k3s.uninstall", "Uninstalling k3s (\(paths.k3sUninstallScript))")
            let out = try await host.runner.run(uninstallCommand)
            guard out.succeeded else {
                t.finish(.failed, "exit status \(out.status)")
                throw AphexError.failed(
                    """
                    \(paths.k3sUninstallScript) failed (exit status \(out.status)). Run it by hand to see the \
                    full output.
                    """,
                    detail: tail(out.stderrText))
            }
            t.finish(.done)
        } else {
            host.reporter.info("k3s is not installed (\(paths.k3sUninstallScript) is missing); nothing to uninstall.")
        }
        let record = ClusterRecord.load(userHost, name: spec.name)
        if record == nil || record?.deployment == "k3s",
            FileManager.default.fileExists(atPath: userHost.clusterDirectory(spec.name))
        {
            try FileManager.default.removeItem(atPath: userHost.clusterDirectory(spec.name))
            host.reporter.info("Removed \(userHost.clusterDirectory(spec.name))")
        }
        return installed
    }

    public func kubeconfig() async throws -> ClusterAccess {
        if FileManager.default.fileExists(atPath: kubeconfigPath) {
            return ClusterAccess(
                driver: driverName, clusterName: spec.name, kubeconfig: kubeconfigPath, context: nil, outcome: .reused)
        }
        guard isInstalled else {
            throw AphexError.usage("k3s is not installed on this host. Install it with `sudo aphex k3s install`.")
        }
        try requireRoot()
        try checkTestHooks()
        try await copyKubeconfig()
        return ClusterAccess(
            driver: driverName, clusterName: spec.name, kubeconfig: kubeconfigPath, context: nil, outcome: .reused)
    }

    public func describe() async throws -> ClusterDescription {
        var d = try await probe()
        if d.exists, host.effectiveUID == 0 || FileManager.default.isExecutableFile(atPath: paths.k3sBinary),
            let v = await installedVersion()
        {
            d.details["version"] = v
        }
        d.details["binary"] = paths.k3sBinary
        d.details["k3sKubeconfig"] = paths.k3sKubeconfig
        return d
    }

    // MARK: plans

    public func planEnsure() -> [PlannedAction] {
        var plan: [PlannedAction] = [
            PlannedAction(
                "Require root (k3s installs a system service)"
                    + (host.effectiveUID == 0 ? "" : " — this user is not root: the real run will stop with exit 4"))
        ]
        if spec.gpu { plan.append(PlannedAction("Verify nvidia-smi and nvidia-container-runtime are on PATH")) }
        plan.append(
            PlannedAction(
                """
                If \(paths.k3sBinary) exists and the node is Ready (LIST /api/v1/nodes with \
                \(paths.k3sKubeconfig)): reuse it (the installer is not run)
                """
            ))
        let trust =
            spec.installerPin.map { "check it against the \($0.source) pin \($0.sha256)" }
            ?? (spec.requirePinned
                ? "refuse it (--require-pinned: no pin)"
                : "check it against the digest recorded at first use in \(lockPath) (trust on first use)")
        plan.append(
            PlannedAction(
                """
                Otherwise download the installer from \(installerURL), \(trust), write it to a private temp file \
                (mode 0700) and run it
                """,
                command: installerCommand(scriptPath: "$TMPDIR/aphex-k3s-XXXXXX/install.sh")))
        plan.append(
            PlannedAction(
                """
                Copy \(paths.k3sKubeconfig) to \(kubeconfigPath) (mode 0600) and write \
                \(ClusterRecord.path(userHost, name: spec.name))
                """
            ))
        plan.append(
            PlannedAction(
                """
                Wait ≤ \(formatDuration(spec.waitTimeout)) for the API server and the node to be Ready \
                (LIST /api/v1/nodes with \(kubeconfigPath))
                """
            ))
        if spec.gpu {
            plan.append(
                PlannedAction(
                    """
                    If \(paths.k3sContainerdConfig) lacks the nvidia runtime: restart k3s so it detects \
                    nvidia-container-runtime (not made the default runtime)
                    """,
                    command: restartCommand))
        }
        return plan
    }

    public func planDelete() -> [PlannedAction] {
        [
            PlannedAction(
                "Require root"
                    + (host.effectiveUID == 0 ? "" : " — this user is not root: the real run will stop with exit 4")),
            PlannedAction(
                """
                Run the uninstaller k3s installed (stops k3s, removes /etc/rancher/k3s, /var/lib/rancher/k3s, the \
                k3s binaries and service)
                """,
                command: uninstallCommand),
            PlannedAction("Remove \(userHost.clusterDirectory(spec.name)) (aphex's kubeconfig copy and record)")
        ]
    }
}
