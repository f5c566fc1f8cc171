import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct K3sUninstall: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Uninstall k3s (k3s-uninstall.sh) and aphex's kubeconfig for it.",
        discussion: "Example:\n  sudo aphex k3s uninstall --yes")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Print what would run, run nothing.")
    var dryRun = false

    /// Asks before uninstalling (stdin in production).
    var confirm: any Confirmer = StdinConfirmer()

    enum CodingKeys: CodingKey { case global, cluster, yes, dryRun }

    func validate() throws { try global.rejectEnvOutput(command: "k3s uninstall") }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let driver = K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: ctx.target.clusterName))
        if !driver.isInstalledForUninstall, K3sAgent.isAgent(driver.paths) {
            // This machine is an agent (`aphex k3s join`): remove it the same way.
            return try await uninstallAgent(ctx, paths: driver.paths)
        }
        if dryRun {
            ctx.output(PlanOutput(title: "k3s uninstall", plan: driver.planDelete()))
            return
        }
        if ctx.host.effectiveUID != 0 {
            throw AphexError.prerequisite(
                """
                Uninstalling k3s removes a system service and /var/lib/rancher, so it must run as root: `sudo \
                aphex k3s uninstall --yes`.
                """
            )
        }
        if !yes && driver.isInstalledForUninstall {
            try confirm.require(
                "Uninstall k3s and delete every workload and volume on this host? Type 'yes' to continue: ",
                nonInteractive:
                    """
                    `aphex k3s uninstall` deletes k3s and every workload and volume on it. Nothing was changed. \
                    Confirm with --yes (stdin is not a terminal, so aphex cannot ask).
                    """
            )
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex k3s uninstall")
        defer { lock.release() }
        let existed = try await driver.delete()
        ctx.output(
            DeletionOutput(
                driver: "k3s", clusterName: driver.clusterName, deleted: existed,
                removedDirectory: driver.clusterDirectory))
    }

    /// On an agent: k3s-agent-uninstall.sh, with the server's rules (root, --yes or a terminal
    /// to ask). The Node object stays on the server, NotReady.
    func uninstallAgent(_ ctx: AppContext, paths: HostPaths) async throws {
        let node = K3sAgent.joinedNodeName(paths)
        let server = K3sAgent.joinedServer(paths) ?? "its server"
        if dryRun {
            ctx.output(
                PlanOutput(
                    title: "k3s uninstall (agent of \(server))",
                    plan: [
                        PlannedAction(
                            "Require root"
                                + (ctx.host.effectiveUID == 0
                                    ? "" : " — this user is not root: the real run will stop with exit 4")),
                        PlannedAction(
                            """
                            Run the uninstaller the installer wrote in agent mode (stops k3s-agent, removes its \
                            files, service and network setup)
                            """,
                            command: Command([K3sAgent.uninstallScript(paths)])),
                        PlannedAction(
                            """
                            The Node \(node ?? "object") stays on \(server), NotReady: delete it there with \
                            kubectl delete node
                            """
                        )
                    ]))
            return
        }
        if ctx.host.effectiveUID != 0 {
            throw AphexError.prerequisite(
                """
                Uninstalling the k3s agent removes a system service and /var/lib/rancher, so it must run as root: \
                `sudo aphex k3s uninstall --yes`.
                """
            )
        }
        if !yes {
            try confirm.require(
                "Remove this machine's k3s agent (joined to \(server))? Type 'yes' to continue: ",
                nonInteractive:
                    """
                    `aphex k3s uninstall` removes this machine's k3s agent (joined to \(server)) and the pods \
                    running on it. Nothing was changed. Confirm with --yes (stdin is not a terminal, so aphex \
                    cannot ask).
                    """
            )
        }
        let removed = try await K3sAgent.uninstall(host: ctx.host, paths: paths)
        ctx.output(AgentRemoval(server: server, node: node, deleted: removed))
    }
}

/// `k3s uninstall` on an agent: what was removed, and the Node left on the server.
struct AgentRemoval: OutputData {
    var driver = "k3s-agent"
    var server: String
    var node: String?
    var deleted: Bool
    var deleteNodeOnServer: String { "kubectl delete node \(node ?? "NODE")" }

    var description: String {
        """
        k3s agent removed from this machine (it was joined to \(server)). Its Node stays on the server as \
        NotReady: remove it there with `\(deleteNodeOnServer)`.\n
        """
    }

    enum CodingKeys: String, CodingKey { case driver, server, node, deleted, deleteNodeOnServer }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(driver, forKey: .driver)
        try c.encode(server, forKey: .server)
        try c.encode(node, forKey: .node)  // null when the installer's env file does not name it
        try c.encode(deleted, forKey: .deleted)
        try c.encode(deleteNodeOnServer, forKey: .deleteNodeOnServer)
    }
}

extension K3sAgent {
    /// The agent's node name as the installer stored it (K3S_NODE_NAME in the service's env file).
    static func joinedNodeName(_ paths: HostPaths) -> String? {
        guard let data = FileManager.default.contents(atPath: serviceEnvFile(paths)) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("K3S_NODE_NAME=")
        {
            return String(line.dropFirst("K3S_NODE_NAME=".count)).trimmingCharacters(
                in: CharacterSet(charactersIn: "'\" "))
        }
        return nil
    }
}
