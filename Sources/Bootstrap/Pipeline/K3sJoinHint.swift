import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `bootstrap --deployment k3s` ends with how to add a machine: the exact join command,
/// naming the token file (never its value). The server address is the node's InternalIP.
struct K3sJoinHint {
    var command, tokenFile, server: String

    static func make(_ state: PipelineState) async -> K3sJoinHint? {
        guard state.options.deployment == .k3s, !state.options.useExisting, !state.options.dryRun else { return nil }
        let paths = HostPaths(environment: state.app.host.environment)
        let tokenFile = K3sAgent.serverTokenFile(paths)
        var address: String?
        if let api = try? state.api(), let nodes = try? await api.list(.nodes, namespace: nil) {
            let server = nodes.first { $0.labels["node-role.kubernetes.io/control-plane"] != nil } ?? nodes.first
            address =
                (server?[path: "status", "addresses"]?.array ?? []).first { $0["type"]?.string == "InternalIP" }?[
                    "address"]?.string
        }
        let host = address ?? K3sJoinSpec.defaultNodeName()
        let server = "https://\(host.contains(":") ? "[\(host)]" : host):6443"
        let command = Shell.quote(["sudo", "aphex", "k3s", "join", "--server", server, "--token-file", tokenFile])
        return K3sJoinHint(command: command, tokenFile: tokenFile, server: server)
    }

    var text: String {
        "\nAdd a machine (k3s agent)\n"
            + "  on the new machine, with this server's \(tokenFile) copied to the same path (mode 0600):\n"
            + "    \(command)\n"
            + "  or stream the token over ssh (stdin, never a command-line argument):\n"
            + "    ssh THIS-SERVER sudo cat \(Shell.quote(tokenFile)) | sudo aphex k3s join --server \(server)\n"
    }
}
