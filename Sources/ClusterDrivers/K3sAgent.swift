import AphexCore
import KubeClient
import Foundation

/// What shapes `aphex k3s join`: the server to join, this node's name, and the same pinned
/// installer version the server was installed with.
public struct K3sJoinSpec: Sendable, Equatable {
    /// https://HOST:6443 — the k3s server's supervisor/API address (K3S_URL).
    public var server: String
    /// The Node name this machine registers as (K3S_NODE_NAME; default: the host name).
    public var nodeName: String
    /// nil = the pinned default (the server's: K3sInstallSpec.defaultVersion).
    public var version: String?
    public var gpu: Bool
    public var timeout: Duration

    public init(
        server: String, nodeName: String, version: String? = nil, gpu: Bool = false, timeout: Duration = .seconds(300)
    ) {
        self.server = server
        self.nodeName = nodeName
        self.version = version
        self.gpu = gpu
        self.timeout = timeout
    }

    public var resolvedVersion: String { version ?? K3sInstallSpec.defaultVersion }

    /// The installer's environment. The token travels only here (never in argv); the
    /// installer stores it in k3s-agent.service.env, mode 0600.
    public func installerEnvironment(token: String) -> [String: String] {
        [
            "INSTALL_K3S_VERSION": resolvedVersion, "INSTALL_K3S_EXEC": "agent",
            "K3S_URL": server, "K3S_TOKEN": token, "K3S_NODE_NAME": nodeName
        ]
    }

    /// Checks `--server`: an https URL with a host (k3s agents only speak TLS to the server).
    public static func validateServer(_ url: String) -> String? {
        guard let u = URLComponents(string: url), u.scheme == "https", let host = u.host, !host.isEmpty,
            u.path.isEmpty || u.path == "/", u.query == nil
        else {
            return
                """
                --server '\(url)' is not the k3s server's address: give it as https://HOST:6443 (the server's IP \
                or name and port 6443), for example --server https://192.168.1.10:6443.
                """
        }
        return nil
    }

    /// The default node name: the host name, lowercased, as k3s registers it.
    public static func defaultNodeName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        let name = String(cString: buf).lowercased()
        return name.isEmpty ? "k3s-agent" : name
    }
}

/// A k3s agent on this machine, joined to a k3s server (`aphex k3s join`, and `aphex k3s
/// uninstall` when this machine is an agent). Same installer, same pinned version, same
/// re-runnable rules as the server driver.
public struct K3sAgent: Sendable {
    public let host: HostContext
    public let spec: K3sJoinSpec
    public let paths: HostPaths

    public init(host: HostContext, spec: K3sJoinSpec, paths: HostPaths? = nil) {
        self.host = host
        self.spec = spec
        self.paths = paths ?? HostPaths(environment: host.environment)
    }

    public enum Outcome: String, Sendable {
        case joined
        case alreadyJoined = "already-joined"
    }

    public struct Result: Sendable {
        public var outcome: Outcome
        public var server: String
        public var node: NodeState?
        public var seconds: Double
    }

    // MARK: host files

    /// /usr/local/bin/k3s-agent-uninstall.sh — the installer writes it in agent mode.
    public static func uninstallScript(_ p: HostPaths) -> String { p.resolve("/usr/local/bin/k3s-agent-uninstall.sh") }
    /// The agent service's environment file (K3S_URL, K3S_TOKEN; mode 0600).
    public static func serviceEnvFile(_ p: HostPaths) -> String {
        p.resolve("/etc/systemd/system/k3s-agent.service.env")
    }
    /// The kubelet's kubeconfig the agent writes once the server accepted it.
    public static func kubeletKubeconfig(_ p: HostPaths) -> String {
        p.resolve("/var/lib/rancher/k3s/agent/kubelet.kubeconfig")
    }
    /// The server's join token (on the server).
    public static func serverTokenFile(_ p: HostPaths) -> String { p.resolve("/var/lib/rancher/k3s/server/node-token") }

    public static func isAgent(_ p: HostPaths) -> Bool { FileManager.default.fileExists(atPath: uninstallScript(p)) }

    /// The server this machine's agent is joined to (K3S_URL in the service's env file).
    public static func joinedServer(_ p: HostPaths) -> String? {
        guard let data = FileManager.default.contents(atPath: serviceEnvFile(p)) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("K3S_URL=") {
                return String(l.dropFirst("K3S_URL=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            }
        }
        return nil
    }

    /// Same URL, ignoring a trailing slash and the host's case.
    static func sameServer(_ a: String, _ b: String) -> Bool {
        func norm(_ s: String) -> String { (s.hasSuffix("/") ? String(s.dropLast()) : s).lowercased() }
        return norm(a) == norm(b)
    }

    var serverDriver: K3sDriver {
        // The server's installer and its pin or first-use digest (the same lock entry);
        // APHEX_REQUIRE_PINNED=1 refuses it unpinned, as for the server.
        K3sDriver(
            host: host,
            spec: K3sInstallSpec(
                name: "k3s-agent", version: spec.version, gpu: spec.gpu, waitTimeout: spec.timeout,
                requirePinned: PinPolicy.required(flag: false, environment: host.environment)), paths: paths)
    }

    public func installerCommand(scriptPath: String, token: String) -> Command {
        Command(
            ["sh", scriptPath], environment: spec.installerEnvironment(token: token), timeout: spec.timeout,
            checkExit: false)
    }
    public var uninstallCommand: Command {
        Command([Self.uninstallScript(paths)], timeout: .seconds(10 * 60), checkExit: false)
    }

    // MARK: join

    /// Joins this machine to `spec.server`; a no-op when it already is joined and its node is
    /// Ready. Throws exit 4 (not root, GPU tools missing), 2 (this machine is a server, or an
    /// agent of another server: nothing changed), 1 (installer failed), 3 (not Ready in time).
    public func join(token: String) async throws -> Result {
        let start = host.clock.now()
        let deadline = start + spec.timeout
        // The same rules as the server's installer: test hooks only where honoured, https (or
        // file://) only, and with --require-pinned only a pinned installer.
        try serverDriver.checkTestHooks()
        if host.effectiveUID != 0 {
            throw AphexError.prerequisite(
                """
                Joining installs the k3s-agent system service and writes /etc/rancher, /var/lib/rancher and \
                /usr/local/bin, so it must run as root: re-run with sudo, e.g. `sudo aphex k3s join --server \
                \(spec.server) --token-file FILE`.
                """
            )
        }
        if spec.gpu, let missing = serverDriver.missingGPUTools(), !missing.isEmpty {
            throw AphexError.prerequisite(K3sDriver.gpuMessage(missing))
        }
        if FileManager.default.fileExists(atPath: paths.k3sUninstallScript) {
            throw AphexError.usage(
                """
                This machine runs the k3s server (\(paths.k3sUninstallScript) exists); a server cannot also join \
                another server as an agent. Nothing was changed. Run `aphex k3s join` on the machine you want to \
                add.
                """
            )
        }
        var outcome = Outcome.joined
        if Self.isAgent(paths) {
            let joined = Self.joinedServer(paths)
            if let joined, !Self.sameServer(joined, spec.server) {
                throw AphexError.usage(
                    """
                    This machine is already a k3s agent of \(joined), not of \(spec.server). Nothing was changed. \
                    To move it: `sudo aphex k3s uninstall --yes`, then join again (and on the old server, \
                    `kubectl delete node \(spec.nodeName)`).
                    """
                )
            }
            if let node = try? await readNode(), node.ready {
                host.reporter.info(
                    """
                    This machine is already joined to \(spec.server) as node \(node.name), Ready: nothing to do \
                    (the installer is not run).
                    """
                )
                return Result(
                    outcome: .alreadyJoined, server: spec.server, node: node,
                    seconds: (host.clock.now() - start).seconds)
            }
            if FileManager.default.fileExists(atPath: Self.kubeletKubeconfig(paths)) {
                host.reporter.info(
                    """
                    This machine is already a k3s agent of \(spec.server); its node \(spec.nodeName) is not Ready \
                    yet: waiting (the installer is not run).
                    """
                )
                outcome = .alreadyJoined
            } else {
                // Installed but never accepted by the server (a wrong token, the server down):
                // repaired by running the installer again with this token.
                host.reporter.warn(
                    """
                    This machine's k3s agent never registered with \(spec.server) (no kubelet credentials); \
                    running the installer again with the token given.
                    """
                )
                try await install(token: token, deadline: deadline)
            }
        } else {
            try await install(token: token, deadline: deadline)
        }
        var node = try await waitReady(deadline: deadline)
        if spec.gpu, try await serverDriver.configureGPU(deadline: deadline, service: "k3s-agent") {
            node = try await waitReady(deadline: deadline)
        }
        return Result(outcome: outcome, server: spec.server, node: node, seconds: (host.clock.now() - start).seconds)
    }

    func install(token: String, deadline: Duration) async throws {
        let driver = serverDriver
        try driver.checkInstallerSource()
        let script = try await StepTimer(
            host, "k3s.join.download", "Downloading the k3s installer from \(driver.installerURL)"
        ).run {
            try driver.verifyInstaller(try await driver.downloadInstaller())
        }
        let dir = try driver.privateTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/install.sh"
        try PrivateFiles.write(script, to: path, mode: 0o700)
        var cmd = installerCommand(scriptPath: path, token: token)
        cmd.timeout = max(deadline - host.clock.now(), .seconds(1))
        let t = StepTimer(
            host, "k3s.join.install",
            "Installing the k3s agent \(spec.resolvedVersion) (server \(spec.server), node \(spec.nodeName))")
        let out: CommandOutput
        do { out = try await host.runner.run(cmd) } catch {
            t.finish(.failed, firstLine(of: error))
            if let e = error as? CommandError, case .timedOut = e.reason {
                throw AphexError.timeout(
                    """
                    The k3s installer did not finish within \(formatDuration(spec.timeout)) (it waits for the \
                    agent to start, which needs the server at \(spec.server)). Check that this machine reaches \
                    the server on port 6443 and that the token is the server's, then re-run; `journalctl -u \
                    k3s-agent` shows what the agent is doing.
                    """
                )
            }
            throw error
        }
        guard out.succeeded else {
            t.finish(.failed, "the installer exited with status \(out.status)")
            throw AphexError.failed(
                """
                The k3s installer failed in agent mode (exit status \(out.status)). A partial install may remain: \
                remove it with `sudo aphex k3s uninstall --yes`, check the network and re-run.
                """,
                detail: tail(out.stderrText.isEmpty ? out.stdoutText : out.stderrText))
        }
        t.finish(.done)
    }

    /// This machine's Node as the server's API reports it, read with the kubelet's own
    /// credentials (a node may read Node objects).
    func readNode() async throws -> NodeState? {
        let kc = Self.kubeletKubeconfig(paths)
        guard FileManager.default.fileExists(atPath: kc) else { return nil }
        let nodes = try await NodeWaiter(host: host).readNodes(kubeconfig: kc, context: nil)
        return nodes.first { $0.name == spec.nodeName }
    }

    /// Until the node is Ready in the server's API; on the deadline exit 3 saying what was seen.
    func waitReady(deadline: Duration) async throws -> NodeState {
        let t = StepTimer(
            host, "k3s.join.wait",
            """
            Waiting ≤ \(formatDuration(max(deadline - host.clock.now(), .zero))) for node \(spec.nodeName) to be \
            Ready in the server's API
            """
        )
        var last: NodeState?
        var lastError: String?
        while true {
            try Task.checkCancellation()
            do {
                last = try await readNode()
                lastError = nil
                if let n = last, n.ready {
                    t.finish(.done, "Ready")
                    return n
                }
            } catch {
                lastError = firstLine(of: error)
            }
            let now = host.clock.now()
            if now >= deadline {
                t.finish(.failed, "timed out")
                let why: String
                if let n = last {
                    why = "node \(n.diagnosis)"
                } else if !FileManager.default.fileExists(atPath: Self.kubeletKubeconfig(paths)) {
                    why =
                        """
                        the agent has not registered with \(spec.server) (it never got its kubelet credentials \
                        from the server: the server URL is wrong or unreachable from here, or the token is not \
                        that server's)
                        """
                } else {
                    why =
                        "node \(spec.nodeName) is not in the server's node list" + (lastError.map { " (\($0))" } ?? "")
                }
                throw AphexError.timeout(
                    """
                    Timed out after \(formatDuration(spec.timeout)) waiting for this machine to join \
                    \(spec.server): \(why). Check `journalctl -u k3s-agent`, that port 6443 of the server is \
                    reachable from here, and that the token is the server's \
                    /var/lib/rancher/k3s/server/node-token; then re-run (it resumes) or remove the agent with \
                    `sudo aphex k3s uninstall --yes`.
                    """
                )
            }
            try await host.clock.sleep(for: min(.seconds(1), deadline - now))
        }
    }

    // MARK: uninstall / plan

    /// Runs k3s-agent-uninstall.sh. The Node object stays on the server (NotReady) until it
    /// is deleted there.
    public static func uninstall(host: HostContext, paths: HostPaths) async throws -> Bool {
        guard isAgent(paths) else { return false }
        let t = StepTimer(host, "k3s.agent.uninstall", "Uninstalling the k3s agent (\(uninstallScript(paths)))")
        let out = try await host.runner.run(
            Command([uninstallScript(paths)], timeout: .seconds(10 * 60), checkExit: false))
        guard out.succeeded else {
            t.finish(.failed, "exit status \(out.status)")
            throw AphexError.failed(
                "\(uninstallScript(paths)) failed (exit status \(out.status)). Run it by hand to see the full output.",
                detail: tail(out.stderrText))
        }
        t.finish(.done)
        return true
    }

    public func plan() -> [PlannedAction] {
        var plan = [
            PlannedAction(
                "Require root (the agent is a system service)"
                    + (host.effectiveUID == 0 ? "" : " — this user is not root: the real run will stop with exit 4"))
        ]
        if spec.gpu { plan.append(PlannedAction("Verify nvidia-smi and nvidia-container-runtime are on PATH")) }
        plan.append(
            PlannedAction(
                """
                If this machine is already an agent of \(spec.server) and node \(spec.nodeName) is Ready: nothing \
                to do; an agent of another server: refuse (exit 2)
                """
            ))
        var cmd = installerCommand(
            scriptPath: "$TMPDIR/aphex-k3s-XXXXXX/install.sh", token: "<the token from --token-file or stdin>")
        cmd.timeout = spec.timeout
        plan.append(
            PlannedAction(
                """
                Otherwise download the installer from \(serverDriver.installerURL) (the server's installer) to a \
                private temp file and run it in agent mode; the token goes in its environment only
                """,
                command: cmd))
        plan.append(
            PlannedAction(
                """
                Wait ≤ \(formatDuration(spec.timeout)) for node \(spec.nodeName) to be Ready in the server's API \
                (read with the kubelet's credentials, \(Self.kubeletKubeconfig(paths)))
                """
            ))
        if spec.gpu {
            plan.append(
                PlannedAction(
                    """
                    If \(paths.k3sContainerdConfig) lacks the nvidia runtime: restart k3s-agent so it detects \
                    nvidia-container-runtime
                    """,
                    command: Command(["systemctl", "restart", "k3s-agent"], timeout: .seconds(120))))
        }
        return plan
    }
}
