import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

struct KindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kind",
        abstract: "Manage aphex's kind clusters (kubeconfig kept in ~/.aphex/clusters/NAME).",
        subcommands: [KindCreate.self, KindDelete.self, KindList.self])
}

struct KindCreate: AsyncParsableCommand {
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
    @OptionGroup var flags: KindCreateFlags

    @Option(name: .long, help: ArgumentHelp("How long to wait for the nodes to be Ready.", valueName: "duration"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "Print the kind config and the commands, run nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "kind create")
        _ = try validateTimeout(timeout)
        if global.kubeconfig != nil || global.context != nil {
            throw ValidationError("`aphex kind create` writes its own kubeconfig (~/.aphex/clusters/NAME/kubeconfig); drop --kubeconfig/--context.")
        }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.kindCreate(ctx, flags.library, timeout: parseDuration(timeout)!, dryRun: dryRun))
    }
}

struct KindDelete: AsyncParsableCommand {
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

    func validate() throws { try global.rejectEnvOutput(command: "kind delete") }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.kindDelete(ctx, dryRun: dryRun, yes: yes, force: force))
    }
}

struct KindList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List kind clusters, marking those aphex manages.",
        discussion: "Example:\n  aphex kind list --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "kind list") }

    func run() async throws {
        let ctx = makeContext(global)
        try finish(try await Commands.kindList(ctx))
    }
}

struct K3sCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k3s",
        abstract: "Manage k3s on this host (needs root).",
        subcommands: [K3sInstall.self, K3sJoin.self, K3sUninstall.self, K3sStatus.self])
}

struct K3sInstall: AsyncParsableCommand {
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

    @Option(name: .long, help: ArgumentHelp("Component config file (YAML): the installer's URL and sha256 pin under k3s-installer.", valueName: "file"))
    var componentsFile: String?

    @Flag(name: .long, help: "Refuse an installer without a pinned digest (catalog or --components-file). Also APHEX_REQUIRE_PINNED=1.")
    var requirePinned = false

    @Flag(name: .long, help: "Print what would run, run nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "k3s install")
        _ = try validateTimeout(timeout)
        if let f = componentsFile, !FileManager.default.isReadableFile(atPath: (f as NSString).expandingTildeInPath) {
            throw ValidationError("--components-file '\(f)' does not exist or is not readable. Pass an existing YAML file (see docs/components.md) or drop the option.")
        }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var options = flags.library
        options.componentsFile = componentsFile.map { ($0 as NSString).expandingTildeInPath }
        options.requirePinned = requirePinned
        try finish(try await Commands.k3sInstall(ctx, options, timeout: parseDuration(timeout)!, dryRun: dryRun))
    }
}

struct K3sUninstall: AsyncParsableCommand {
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

    func validate() throws { try global.rejectEnvOutput(command: "k3s uninstall") }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.k3sUninstall(ctx, yes: yes, dryRun: dryRun))
    }
}

struct K3sStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Report whether k3s is installed, running and its node Ready.",
        discussion: "Example:\n  aphex k3s status --output json")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    func validate() throws { try global.rejectEnvOutput(command: "k3s status") }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.k3sStatus(ctx))
    }
}
