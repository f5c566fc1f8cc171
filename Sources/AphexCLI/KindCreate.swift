import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct KindCreate: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create (or reuse, if healthy) a kind cluster configured for the platform.",
        discussion: """
            One control-plane node labelled ingress-ready=true with host ports 80 and 443 mapped, \
            the API server's OIDC flags, optional workers and registry mirrors. The kind config \
            goes to kind on stdin. Waits for the API server and every node to be Ready.

            Examples:
              aphex kind create
              aphex kind create --cluster-name ci-123 --workers 2 --registry-mirror docker.io=http://mirror:5000
              aphex kind create --dry-run
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection
    @OptionGroup var flags: KindClusterFlags

    @Option(name: .long, help: ArgumentHelp("How long to wait for the nodes to be Ready.", valueName: "duration"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "Print the kind config and the commands, run nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "kind create")
        _ = try validateTimeout(timeout)
        if global.kubeconfig != nil || global.context != nil {
            throw ValidationError(
                """
                `aphex kind create` writes its own kubeconfig (~/.aphex/clusters/NAME/kubeconfig); drop \
                --kubeconfig/--context.
                """
            )
        }
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let driver = KindDriver(host: ctx.host, spec: spec)
        if dryRun {
            ctx.output(PlanOutput(title: "kind create: cluster \(driver.clusterName)", plan: driver.planEnsure()))
            return
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex kind create")
        defer { lock.release() }
        ctx.output(AccessOutput(access: try await driver.ensureCluster()))
    }

    /// The driver's spec: the flags, the cluster name and --timeout.
    var spec: KindClusterSpec { flags.spec(name: cluster.clusterName, waitTimeout: parseDuration(timeout)!) }
}
