import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct K3sStatus: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Report whether k3s is installed, running and its node Ready.",
        discussion: "Example:\n  aphex k3s status --output json")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    func validate() throws { try global.rejectEnvOutput(command: "k3s status") }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let d = try await K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: ctx.target.clusterName)).describe()
        ctx.output(K3sStatusOutput(description: d))
        // 0 when k3s is installed and its node is Ready, 1 otherwise.
        try finish(d.healthy ? .ok : .failed)
    }
}

/// `aphex k3s status`: installed / running / node Ready.
struct K3sStatusOutput: OutputData {
    var d: ClusterDescription
    init(description d: ClusterDescription) { self.d = d }

    var description: String {
        var lines = ["k3s:"]
        lines.append(
            "  installed:  " + (d.exists ? "yes (\(d.details["version"] ?? d.details["binary"] ?? ""))" : "no"))
        lines.append("  running:    " + (d.apiReachable ? "yes (API server answers)" : d.exists ? "no" : "-"))
        lines.append(
            "  node Ready: "
                + (d.nodes.isEmpty
                    ? "-" : d.nodes.map { "\($0.name) \($0.ready ? "Ready" : "NotReady")" }.joined(separator: ", ")))
        lines.append("  kubeconfig: " + (d.kubeconfig ?? "- (run `sudo aphex k3s install` to copy it)"))
        if let p = d.problem { lines.append("  problem:    " + p) }
        return lines.joined(separator: "\n") + "\n"
    }

    enum CodingKeys: String, CodingKey { case installed, running, ready }
    /// The cluster description plus installed / running / ready.
    func encode(to encoder: any Encoder) throws {
        try d.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(d.exists, forKey: .installed)
        try c.encode(d.apiReachable, forKey: .running)
        try c.encode(d.healthy, forKey: .ready)
    }
}
