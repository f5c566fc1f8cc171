import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct SecretsRepair: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract:
            """
            Make derived keys (ArgoCD's and the Tekton dashboard's OIDC client secrets) equal their source in \
            dex-secrets.
            """,
        discussion:
            """
            Only derived copies are changed; source values are never touched.\n\nExample:\n  aphex secrets repair \
            --dry-run
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Flag(name: .long, help: "Show what would be repaired, change nothing.")
    var dryRun = false

    func validate() throws { try global.rejectEnvOutput(command: "secrets repair") }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let lock =
            dryRun
            ? nil
            : try await ClusterLock.acquire(
                ctx.host, name: ctx.target.clusterName,
                command: "aphex secrets repair")
        defer { lock?.release() }
        let report = try await repairSecrets(
            ctx: ctx, api: try ctx.kubeAPI(), kubeconfig: ctx.resolvedKubeconfig(),
            dryRun: dryRun)
        ctx.output(SecretsRepairOutput(report: report, dryRun: dryRun))
        let unrepairable = report.entries.contains { $0.note?.contains("is not stored: nothing to copy") == true }
        try finish(unrepairable ? .failed : .ok)
    }
}
