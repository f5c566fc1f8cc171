import AphexCore
import KubeClient
import Foundation
import TestSupport

/// The simulated cluster, in-process face:
///
///     let sim = try SimCluster(scenario: "happy-kind")          // VirtualClock by default
///     let ctx = HostContext(runner: sim.runner, reporter: SilentReporter(), clock: sim.clock,
///                           environment: sim.environment, homeDirectory: sim.home,
///                           makeTransport: { _ in sim.transport })
///
/// `runner` interprets kubectl / kind / k3s / systemctl / docker / nvidia-* argv against the
/// world exactly like the black-box stand-ins; `transport` serves the Kubernetes API paths
/// (base URL `sim.baseURL`); `record` holds every argv, stdin hash and request.
public final class SimCluster: @unchecked Sendable {
    public let world: SimWorld
    public let api: SimAPI
    public let clock: any TimeSource
    /// The virtual clock, when the sim runs on one (the default).
    public let virtualClock: VirtualClock?
    public let baseURL: String
    /// The loopback face of this world, for the real kubectl.
    public let server: SimAPIServer
    /// A temporary HOME for the simulated host (kubeconfigs land here).
    public let home: String
    /// APHEX_HOST_ROOT for k3s files (etc/rancher/k3s/k3s.yaml, usr/local/bin/k3s-uninstall.sh).
    public let hostRoot: String
    /// The uid the simulated tools see (k3s install needs 0).
    public var uid: UInt32
    private let ownsHome: Bool

    public var record: SimRecord { world.record }
    public var scenario: Scenario { world.scenario }
    public var faults: FaultInjector { world.faults }

    public init(scenario: Scenario, clock: (any TimeSource)? = nil, home: String? = nil, uid: UInt32 = 0) throws {
        let c = clock ?? VirtualClock()
        self.clock = c
        self.virtualClock = c as? VirtualClock
        self.world = SimWorld(scenario: scenario, clock: c)
        self.api = SimAPI(world: world)
        // The real kubectl needs a socket: the same world is served on loopback, and every
        // kubeconfig points there (the in-process transport ignores the host).
        self.server = SimAPIServer(api: api)
        try server.start()
        self.baseURL = "http://127.0.0.1:\(server.port)"
        let dir = home ?? (NSTemporaryDirectory() + "aphex-sim-" + UUID().uuidString.prefix(8).lowercased())
        self.home = dir
        self.ownsHome = home == nil
        self.hostRoot = dir + "/hostroot"
        self.uid = uid
        try FileManager.default.createDirectory(atPath: dir + "/.kube", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: hostRoot, withIntermediateDirectories: true)
        if scenario.cluster.exists {
            let kc = simKubeconfig(
                server: baseURL,
                contextName: scenario.cluster.flavor == "k3s" ? "default" : "kind-\(scenario.cluster.name)")
            FileManager.default.createFile(
                atPath: kubeconfigPath, contents: Data(yamlText(kc).utf8), attributes: [.posixPermissions: 0o600])
        }
    }

    /// Loads a bundled scenario by name (or a path to a scenario file).
    public convenience init(scenario name: String, clock: (any TimeSource)? = nil, home: String? = nil, uid: UInt32 = 0)
        throws
    {
        try self.init(scenario: Scenario.load(name), clock: clock, home: home, uid: uid)
    }

    deinit {
        server.stop()
        if ownsHome { try? FileManager.default.removeItem(atPath: home) }
    }

    /// ~/.kube/config of the simulated host (exists when the scenario's cluster exists).
    public var kubeconfigPath: String { home + "/.kube/config" }

    /// The environment the simulated host tools see: HOME, APHEX_HOST_ROOT, PATH.
    public var environment: [String: String] {
        ["HOME": home, "APHEX_HOST_ROOT": hostRoot, "PATH": "/usr/local/bin:/usr/bin:/bin"]
    }

    public var runner: any CommandRunner { SimRunner(sim: self) }
    public var transport: any HTTPTransport { SimTransport(api: api, baseURL: baseURL) }

    /// Moves virtual time forward (and lets the controllers act). No-op on a real clock.
    public func advance(by d: Duration) {
        virtualClock?.advance(by: d)
        world.tick()
    }

    /// Advances virtual time in steps until `condition` holds or `limit` passes. Returns whether it held.
    @discardableResult
    public func run(
        until limit: Duration = .seconds(600), step: Duration = .milliseconds(500),
        _ condition: (SimWorld) -> Bool
    ) -> Bool {
        let end = world.now + limit
        while world.now < end {
            world.tick()
            if condition(world) { return true }
            advance(by: step)
        }
        return condition(world)
    }

    /// Whether every scenario Application is Synced and Healthy.
    public func converged() -> Bool {
        world.scenario.apps.allSatisfy { app in
            guard let a = world.get(ResourceRef.applications, namespace: "argocd", name: app.name) else { return false }
            return a[path: "status", "sync", "status"] == "Synced" && a[path: "status", "health", "status"] == "Healthy"
        }
    }

    /// Applies a YAML stream as a client would (server-side apply), outside the record's argv.
    @discardableResult
    public func apply(_ yaml: String, namespace: String? = nil) throws -> [JSON] {
        try SimJSON.documents(yaml).map { try world.apply($0, namespace: namespace, by: "test").object }
    }

    /// Runs a simulated tool invocation (what the runner and the stand-ins call). kubectl (and
    /// `k3s kubectl`) is the real kubectl against this world's loopback API.
    public func execute(_ command: Command, via: String = "in-process", toolEnv: ToolEnv? = nil) async -> ToolResult {
        let env =
            toolEnv
            ?? ToolEnv(
                environment: environment.merging(command.environment) { _, b in b }, uid: uid,
                workingDirectory: command.workingDirectory ?? home, serverURL: baseURL, binDir: nil)
        if let args = SimTools.kubectlArguments(command.argv, env: env) {
            let result = await KubectlPassthrough.runAsync(
                args: args, stdin: command.stdin, environment: env.environment,
                workingDirectory: env.workingDirectory, timeout: command.timeout?.seconds)
            world.record.addCommand(
                time: world.nowSeconds, argv: command.argv, stdin: command.stdin, output: result.output,
                via: "real-kubectl", mutating: SimTools.isMutating(command.argv))
            return result
        }
        let result = await SimTools.dispatch(world: world, api: api, env: env, argv: command.argv, stdin: command.stdin)
        world.record.addCommand(
            time: world.nowSeconds, argv: command.argv, stdin: command.stdin, output: result.output, via: via,
            mutating: SimTools.isMutating(command.argv))
        return result
    }
}

/// The in-process `CommandRunner`: dispatches argv[0] (by basename) to the simulated tools.
/// Unknown programs fail as "not found" — a test never runs a real process by accident.
struct SimRunner: CommandRunner {
    let sim: SimCluster

    func run(_ command: Command) async throws -> CommandOutput {
        guard let exe = command.argv.first else {
            throw CommandError(argv: command.argv, reason: .launchFailed("empty argv"))
        }
        let name = (exe as NSString).lastPathComponent
        var command = command
        if name == "sh" || name == "bash", command.stdin == nil, command.argv.count == 2,
            let script = FileManager.default.contents(atPath: command.argv[1]),
            SimTools.isInstallerStdin([UInt8](script))
        {
            // `sh FILE` with the simulated installer in FILE: the shell reads it as `sh -s` would.
            command.stdin = [UInt8](script)
        }
        guard SimTools.known(name, stdin: command.stdin) else {
            sim.record.addCommand(
                time: sim.world.nowSeconds, argv: command.argv, stdin: command.stdin,
                output: CommandOutput(status: 127, stdout: "", stderr: "\(name): not simulated"), via: "in-process",
                mutating: false)
            throw CommandError(argv: command.argv, reason: .notFound)
        }
        if name == "nvidia-smi" || name == "nvidia-container-runtime" || name == "nvidia-ctk",
            sim.scenario.host.gpu == "none"
        {
            throw CommandError(argv: command.argv, reason: .notFound)
        }
        if name == "k3s" && !sim.world.k3sInstalledLocked {
            throw CommandError(argv: command.argv, reason: .notFound)
        }
        let work: @Sendable () async -> ToolResult = { await sim.execute(command) }
        let result: ToolResult
        if SimTools.runsKubectl(command.argv) {
            // The real kubectl: its timeout is real time, enforced by the process runner.
            result = await work()
            if result.status == 137, let timeout = command.timeout {
                throw CommandError(argv: command.argv, reason: .timedOut(timeout))
            }
        } else if let timeout = command.timeout, sim.virtualClock?.mode != .autoAdvance {
            // A simulated tool takes no virtual time. With an auto-advancing clock a race
            // against `sleep(timeout)` would be lost whenever the sleeping task ran first (it
            // jumps the clock by the whole timeout at once): seen under load as an installer
            // "not finished within 2m" after a few real milliseconds.
            result = try await withThrowingTaskGroup(of: ToolResult?.self) { group in
                group.addTask { await work() }
                group.addTask {
                    try await sim.clock.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                guard let first else { throw CommandError(argv: command.argv, reason: .timedOut(timeout)) }
                return first
            }
        } else {
            result = await work()
        }
        result.applyFiles()
        let out = result.output
        if command.checkExit && out.status != 0 {
            throw CommandError(
                argv: command.argv, reason: .exited(out.status), stdout: out.stdoutText, stderr: out.stderrText)
        }
        return out
    }
}

extension SimWorld {
    var k3sInstalledLocked: Bool {
        lock.lock()
        defer { lock.unlock() }
        return k3sInstalled
    }
}

/// Dispatch of simulated host tools (shared by the in-process runner and the stand-ins).
public enum SimTools {
    static let names: Set<String> = [
        "kubectl", "kind", "k3s", "systemctl", "docker", "nvidia-smi", "nvidia-container-runtime",
        "nvidia-ctk", "k3s-install", "k3s-uninstall.sh", "k3s-uninstall",
        "k3s-agent-uninstall.sh", "k3s-agent-uninstall"
    ]

    static func known(_ name: String, stdin: [UInt8]?) -> Bool {
        if names.contains(name) { return true }
        if name == "sh" || name == "bash" { return isInstallerStdin(stdin) }
        return false
    }

    static func isInstallerStdin(_ stdin: [UInt8]?) -> Bool {
        guard let s = stdin else { return false }
        return String(decoding: s, as: UTF8.self).contains(K3sInstaller.marker)
    }

    public static func isMutating(_ argv: [String]) -> Bool {
        let name = (argv.first.map { ($0 as NSString).lastPathComponent }) ?? ""
        let rest = Array(argv.dropFirst())
        let dryRun = rest.contains { $0.hasPrefix("--dry-run") && $0 != "--dry-run=none" }
        switch name {
        case "kubectl":
            let verbs: Set<String> = [
                "apply", "create", "patch", "annotate", "label", "delete", "replace", "edit", "scale"
            ]
            if let v = rest.first(where: { verbs.contains($0) }) { return !dryRun || v == "delete" && !dryRun }
            if rest.contains("rollout") && rest.contains("restart") { return true }
            if rest.contains("config") && rest.contains("use-context") { return true }
            return false
        case "k3s":
            if rest.first == "kubectl" { return isMutating(["kubectl"] + rest.dropFirst()) }
            return false
        case "kind":
            return rest.first == "create" || rest.first == "delete" || rest.first == "export"
        case "systemctl":
            return ["restart", "start", "stop", "enable", "disable"].contains(rest.first ?? "")
        case "sh", "bash", "k3s-install", "k3s-uninstall.sh", "k3s-uninstall", "k3s-agent-uninstall.sh",
            "k3s-agent-uninstall", "nvidia-ctk":
            return true
        default:
            return false
        }
    }

    /// The real kubectl's arguments when argv runs kubectl: `kubectl ARGS`, or `k3s kubectl ARGS`
    /// (k3s's embedded kubectl, which reads /etc/rancher/k3s/k3s.yaml unless told otherwise).
    public static func kubectlArguments(_ argv: [String], env: ToolEnv) -> [String]? {
        guard runsKubectl(argv) else { return nil }
        if argv.count > 1, argv[1] == "kubectl", (argv[0] as NSString).lastPathComponent == "k3s" {
            var args = Array(argv.dropFirst(2))
            if !args.contains(where: { $0 == "--kubeconfig" || $0.hasPrefix("--kubeconfig=") })
                && env.environment["KUBECONFIG"] == nil
            {
                args.insert(contentsOf: ["--kubeconfig", env.hostRoot + "/etc/rancher/k3s/k3s.yaml"], at: 0)
            }
            return args
        }
        return Array(argv.dropFirst())
    }

    public static func runsKubectl(_ argv: [String]) -> Bool {
        let name = (argv.first.map { ($0 as NSString).lastPathComponent }) ?? ""
        return name == "kubectl" || (name == "k3s" && argv.count > 1 && argv[1] == "kubectl")
    }

    static func dispatch(world: SimWorld, api: SimAPI, env: ToolEnv, argv: [String], stdin: [UInt8]?) async
        -> ToolResult
    {
        let name = (argv.first.map { ($0 as NSString).lastPathComponent }) ?? ""
        let host = HostTools(world: world, api: api, env: env)
        if let args = kubectlArguments(argv, env: env) {
            return await KubectlPassthrough.runAsync(
                args: args, stdin: stdin, environment: env.environment,
                workingDirectory: env.workingDirectory, timeout: nil)
        }
        switch name {
        case "kind": return host.kind(argv, stdin: stdin)
        case "k3s": return await host.k3s(argv, stdin: stdin)
        case "systemctl": return host.systemctl(argv)
        case "docker": return host.docker(argv)
        case "nvidia-smi", "nvidia-container-runtime", "nvidia-ctk": return host.nvidia(argv)
        case "k3s-install": return host.k3sInstall(Array(argv.dropFirst()))
        case "k3s-uninstall.sh", "k3s-uninstall": return host.k3sUninstall()
        case "k3s-agent-uninstall.sh", "k3s-agent-uninstall": return host.k3sAgentUninstall()
        case "sh", "bash":
            // `sh -s - ARGS` with the simulated installer on stdin.
            var args = Array(argv.dropFirst())
            if let i = args.firstIndex(of: "-s") { args.remove(at: i) }
            args.removeAll { $0 == "-" || ($0.hasSuffix(".sh") && FileManager.default.fileExists(atPath: $0)) }
            return host.k3sInstall(args)
        default:
            return .fail("\(name): command not found", status: 127)
        }
    }
}
