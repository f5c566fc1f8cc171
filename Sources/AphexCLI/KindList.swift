import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation
import KubeClient

struct KindList: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List kind clusters, marking those aphex manages.",
        discussion: "Example:\n  aphex kind list --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "kind list") }

    func run(_ ctx: AppContext) async throws {
        let driver = KindDriver(host: ctx.host, spec: KindClusterSpec(name: ctx.target.clusterName))
        try await driver.requireAvailablePublic()
        let names = try await driver.listClusters()
        var rows: [KindClusterList.Row] = names.sorted().map { name in
            let r = ClusterRecord.load(ctx.host, name: name)
            return KindClusterList.Row(name: name, record: r?.deployment == "kind" ? r : nil, exists: true)
        }
        // aphex records whose kind cluster is gone (deleted with `kind delete` directly)
        let dir = ctx.host.homeDirectory + "/.aphex/clusters"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        where !names.contains(name) {
            if let r = ClusterRecord.load(ctx.host, name: name), r.deployment == "kind" {
                rows.append(KindClusterList.Row(name: name, record: r, exists: false))
            }
        }
        ctx.output(KindClusterList(clusters: rows))
    }
}

/// `kind get clusters`, each marked when aphex manages it (has ~/.aphex/clusters/NAME/cluster.json),
/// plus aphex's records whose cluster is gone.
struct KindClusterList: OutputData {
    struct Row: Encodable {
        var name: String
        var record: ClusterRecord?
        var exists: Bool

        enum CodingKeys: String, CodingKey { case name, exists, managed, kubeconfig, context, createdAt }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(exists, forKey: .exists)
            try c.encode(record != nil, forKey: .managed)
            try c.encode(record?.kubeconfig, forKey: .kubeconfig)  // null when not managed
            try c.encode("kind-\(name)", forKey: .context)
            try c.encode(record.map { RFC3339.format($0.createdAt) }, forKey: .createdAt)
        }
    }
    var clusters: [Row]

    var description: String {
        if clusters.isEmpty { return "No kind clusters found.\n" }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let width = max(4, clusters.map(\.name.count).max() ?? 0)
        var text = pad("NAME", width) + "  APHEX  KUBECONFIG\n"
        for row in clusters {
            text +=
                pad(row.name, width) + "  " + pad(row.record == nil ? "no" : "yes", 5) + "  "
                + (row.record?.kubeconfig ?? "-")
                + (row.exists
                    ? "" : "  (cluster gone: `aphex kind delete --cluster-name \(row.name)` removes the record)") + "\n"
        }
        return text
    }
}
