import AphexCore
import Bootstrap
import ClusterDrivers
import KubeClient

/// `--dry-run` of the driver commands: the numbered plan, or as JSON
/// `{"dryRun": true, "title", "actions": [...]}` (docs/drivers.md).
struct PlanOutput: OutputData {
    var title: String
    var plan: [PlannedAction]

    var description: String {
        var text = "Plan for \(title) (dry run: nothing was run or changed):\n"
        for (i, a) in plan.enumerated() {
            text += "  \(i + 1). " + a.text.replacingOccurrences(of: "\n", with: "\n   ") + "\n"
        }
        return text
    }

    enum CodingKeys: String, CodingKey { case dryRun, title, actions }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(true, forKey: .dryRun)
        try c.encode(title, forKey: .title)
        try c.encode(plan, forKey: .actions)
    }
}

/// A cluster created, reused or verified (`kind create`, `k3s install`): how to reach it.
struct AccessOutput: OutputData {
    var access: ClusterAccess

    var description: String {
        let a = access
        let what: String
        switch a.outcome {
        case .created:
            what =
                "created in \(formatDuration(.milliseconds(Int64(a.seconds * 1000))))"
                + (a.nodesReadySeconds.map { "; nodes Ready after \(formatDuration(.milliseconds(Int64($0 * 1000))))" }
                    ?? "")
        case .reused: what = "already existed and is healthy: reused (nothing changed)"
        case .existing: what = "reachable, permissions verified"
        case .planned: what = "planned"
        }
        var lines = ["\(a.driver) cluster \(a.clusterName) \(what)."]
        lines.append("  kubeconfig: \(a.kubeconfig)")
        if let c = a.context { lines.append("  context:    \(c)") }
        if !a.nodes.isEmpty {
            lines.append(
                "  nodes:      "
                    + a.nodes.map { "\($0.name) (\($0.ready ? "Ready" : "NotReady"))" }.joined(separator: ", "))
        }
        lines.append(
            "Use it: export KUBECONFIG=\(Shell.quote(a.kubeconfig))   or: aphex status --cluster-name \(a.clusterName)")
        return lines.joined(separator: "\n") + "\n"
    }

    func encode(to encoder: any Encoder) throws { try access.encode(to: encoder) }
}

/// A cluster deleted (`kind delete`, `k3s uninstall`), or there was none.
struct DeletionOutput: OutputData {
    var driver: String
    var clusterName: String
    var deleted: Bool
    var removedDirectory: String

    var description: String {
        deleted
            ? "\(driver) cluster \(clusterName) deleted; removed \(removedDirectory).\n"
            : "No \(driver) cluster \(clusterName) to delete; nothing changed in \(driver).\n"
    }
}
