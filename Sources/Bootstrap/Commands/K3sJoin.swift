import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension Commands {
    /// `aphex k3s join`: this machine joins a k3s server as an agent (re-runnable).
    public static func k3sJoin(_ ctx: AppContext, _ spec: K3sJoinSpec, token: String?, dryRun: Bool) async throws -> ExitStatus {
        let agent = K3sAgent(host: ctx.host, spec: spec)
        if dryRun {
            writePlan(ctx, "k3s join \(spec.server) (node \(spec.nodeName))", agent.plan())
            return .ok
        }
        guard let token, !token.isEmpty else {
            throw AphexError.usage("No join token: pass --token-file FILE (a copy of the server's /var/lib/rancher/k3s/server/node-token, mode 0600) or pipe the token on stdin. Nothing was changed.")
        }
        let r = try await agent.join(token: token)
        if ctx.format == .json {
            ctx.writeJSON(r.json)
        } else if r.outcome == .alreadyJoined {
            ctx.output.write("This machine is already joined to \(r.server) as node \(r.node?.name ?? spec.nodeName) (Ready); nothing changed.\n")
        } else {
            ctx.output.write("Joined \(r.server) as node \(r.node?.name ?? spec.nodeName) (Ready) in \(formatDuration(.milliseconds(Int64(r.seconds * 1000)))).\n"
                             + "See it from the server: kubectl get nodes   (remove it: sudo aphex k3s uninstall --yes on this machine, then kubectl delete node \(spec.nodeName) there)\n")
        }
        return .ok
    }

    /// The agent's node name as the installer stored it (K3S_NODE_NAME in the service's env file).
    static func joinedNodeName(_ paths: HostPaths) -> String? {
        guard let data = FileManager.default.contents(atPath: K3sAgent.serviceEnvFile(paths)) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("K3S_NODE_NAME=") {
            return String(line.dropFirst("K3S_NODE_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        }
        return nil
    }

    /// `bootstrap --deployment k3s` ends with how to add a machine: the exact join command,
    /// naming the token file (never its value). The server address is the node's InternalIP.
    static func k3sJoinHint(_ state: PipelineState) async -> (command: String, tokenFile: String, server: String)? {
        guard state.options.deployment == .k3s, !state.options.useExisting, !state.options.dryRun else { return nil }
        let paths = HostPaths(environment: state.app.host.environment)
        let tokenFile = K3sAgent.serverTokenFile(paths)
        var address: String?
        if let api = try? state.api(), let nodes = try? await api.list(.nodes, namespace: nil) {
            let server = nodes.first { $0.labels["node-role.kubernetes.io/control-plane"] != nil } ?? nodes.first
            address = (server?[path: "status", "addresses"]?.array ?? []).first { $0["type"]?.string == "InternalIP" }?["address"]?.string
        }
        let host = address ?? K3sJoinSpec.defaultNodeName()
        let server = "https://\(host.contains(":") ? "[\(host)]" : host):6443"
        let command = Shell.quote(["sudo", "aphex", "k3s", "join", "--server", server, "--token-file", tokenFile])
        return (command, tokenFile, server)
    }

    static func k3sJoinText(_ hint: (command: String, tokenFile: String, server: String)) -> String {
        "\nAdd a machine (k3s agent)\n"
            + "  on the new machine, with this server's \(hint.tokenFile) copied to the same path (mode 0600):\n"
            + "    \(hint.command)\n"
            + "  or stream the token over ssh (stdin, never a command-line argument):\n"
            + "    ssh THIS-SERVER sudo cat \(Shell.quote(hint.tokenFile)) | sudo aphex k3s join --server \(hint.server)\n"
    }
}

extension Commands {
    /// `aphex k3s uninstall` on an agent: k3s-agent-uninstall.sh, with the server's rules
    /// (root, --yes or a terminal to ask). The Node object stays on the server, NotReady.
    static func k3sAgentUninstall(_ ctx: AppContext, paths: HostPaths, yes: Bool, dryRun: Bool, confirm: any Confirmer) async throws -> ExitStatus {
        let node = joinedNodeName(paths)
        let server = K3sAgent.joinedServer(paths) ?? "its server"
        if dryRun {
            writePlan(ctx, "k3s uninstall (agent of \(server))", [
                PlannedAction("Require root" + (ctx.host.effectiveUID == 0 ? "" : " — this user is not root: the real run will stop with exit 4")),
                PlannedAction("Run the uninstaller the installer wrote in agent mode (stops k3s-agent, removes its files, service and network setup)",
                              command: Command([K3sAgent.uninstallScript(paths)])),
                PlannedAction("The Node \(node ?? "object") stays on \(server), NotReady: delete it there with kubectl delete node"),
            ])
            return .ok
        }
        if ctx.host.effectiveUID != 0 {
            throw AphexError.prerequisite("Uninstalling the k3s agent removes a system service and /var/lib/rancher, so it must run as root: `sudo aphex k3s uninstall --yes`.")
        }
        if !yes {
            guard confirm.isInteractive else {
                throw AphexError.usage("`aphex k3s uninstall` removes this machine's k3s agent (joined to \(server)) and the pods running on it. Nothing was changed. Confirm with --yes (stdin is not a terminal, so aphex cannot ask).")
            }
            guard confirm.ask("Remove this machine's k3s agent (joined to \(server))? Type 'yes' to continue: ") else {
                throw AphexError.usage("Not confirmed; nothing was changed.")
            }
        }
        let removed = try await K3sAgent.uninstall(host: ctx.host, paths: paths)
        let deleteNode = "kubectl delete node \(node ?? "NODE")"
        if ctx.format == .json {
            ctx.writeJSON(.object(["driver": "k3s-agent", "server": .string(server), "node": node.map { .string($0) } ?? .null,
                                   "deleted": .bool(removed), "deleteNodeOnServer": .string(deleteNode)]))
        } else {
            ctx.output.write("k3s agent removed from this machine (it was joined to \(server)). Its Node stays on the server as NotReady: remove it there with `\(deleteNode)`.\n")
        }
        return .ok
    }
}
