import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct KindDelete: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a kind cluster aphex created, and aphex's kubeconfig for it.",
        discussion: """
            Asks for confirmation (skip it with --yes; without a terminal --yes is required). \
            Refuses a cluster aphex did not create (one it only adopted) unless --force is given.

            Examples:
              aphex kind delete --cluster-name ci-123 --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Delete the cluster even though aphex did not create it.")
    var force = false

    @Flag(name: .long, help: "Print the commands, run nothing.")
    var dryRun = false

    /// Asks before deleting (stdin in production).
    var confirm: any Confirmer = StdinConfirmer()

    enum CodingKeys: CodingKey { case global, cluster, yes, force, dryRun }

    func validate() throws { try global.rejectEnvOutput(command: "kind delete") }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let driver = KindDriver(host: ctx.host, spec: KindClusterSpec(name: ctx.target.clusterName))
        if dryRun {
            var plan = driver.planDelete()
            if let note = ClusterTeardown.adoptedNote(ctx, deployment: .kind) {
                plan.insert(PlannedAction(note), at: 0)
            }
            ctx.output(PlanOutput(title: "kind delete: cluster \(driver.clusterName)", plan: plan))
            return
        }
        // Refuses (exit 2) a cluster aphex did not create unless --force.
        try await ClusterTeardown.requireCreatedByAphex(ctx, deployment: .kind, force: force, command: "kind delete")
        if !yes {
            try await driver.requireAvailablePublic()
            if try await driver.listClusters().contains(driver.clusterName) {
                try confirm.require(
                    """
                    Delete the kind cluster '\(driver.clusterName)' and everything in it (workloads, volumes, the \
                    platform's generated credentials)? Type 'yes' to continue: 
                    """,
                    nonInteractive:
                        """
                        `aphex kind delete` deletes the kind cluster '\(driver.clusterName)' and everything in \
                        it. Nothing was changed. Confirm with --yes (stdin is not a terminal, so aphex cannot ask).
                        """
                )
            }
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex kind delete")
        defer { lock.release() }
        let existed = try await driver.delete()
        ctx.output(
            DeletionOutput(
                driver: "kind", clusterName: driver.clusterName, deleted: existed,
                removedDirectory: ctx.host.clusterDirectory(driver.clusterName)))
    }
}
