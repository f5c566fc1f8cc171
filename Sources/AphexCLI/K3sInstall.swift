import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import ArgoInstall
import Foundation

struct K3sInstall: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install k3s with the official installer (pinned version), or reuse a healthy install.",
        discussion: """
            The installer (the k3s release's own install.sh) is downloaded with libcurl over \
            https, checked against its pin or the digest recorded at first use \
            (~/.aphex/manifests.lock), written to a private temp file (no `curl | sh`) and run \
            with INSTALL_K3S_VERSION and INSTALL_K3S_EXEC. The kubeconfig is copied to \
            ~/.aphex/clusters/NAME/kubeconfig (mode 0600).

            Examples:
              sudo aphex k3s install
              sudo aphex k3s install --k3s-version v1.31.4+k3s1 --disable-traefik --gpu
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection
    @OptionGroup var flags: K3sFlags

    @Option(name: .long, help: ArgumentHelp("How long to wait for the node to be Ready.", valueName: "duration"))
    var timeout: String = "5m"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Component config file (YAML): the installer's URL and sha256 pin under k3s-installer.", valueName: "file"))
    var componentsFile: String?

    @Flag(
        name: .long,
        help: "Refuse an installer without a pinned digest (catalog or --components-file). Also APHEX_REQUIRE_PINNED=1."
    )
    var requirePinned = false

    @Flag(name: .long, help: "Print what would run, run nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "k3s install")
        _ = try validateTimeout(timeout)
        try ComponentFlags.validateComponentsFile(componentsFile)
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        let file = try componentsFile.map { try ComponentsFile.load(path: ($0 as NSString).expandingTildeInPath) }
        let driver = K3sDriver(
            host: ctx.host,
            spec: ClusterStep.k3sSpec(
                flags.spec(), name: ctx.target.clusterName, timeout: parseDuration(timeout)!, componentsFile: file,
                requirePinned: PinPolicy.required(flag: requirePinned, environment: ctx.host.environment)))
        if dryRun {
            ctx.output(PlanOutput(title: "k3s install (cluster name \(driver.clusterName))", plan: driver.planEnsure()))
            return
        }
        try driver.requireRoot()  // exit 4 before anything is written, the lock file included
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex k3s install")
        defer { lock.release() }
        ctx.output(AccessOutput(access: try await driver.ensureCluster()))
    }
}
