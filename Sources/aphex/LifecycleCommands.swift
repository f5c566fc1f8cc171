import ArgumentParser
import Bootstrap
import ClusterDrivers
import Foundation

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this host has what bootstrap needs, and print the fix for each failure.",
        discussion: """
        Checks: kubectl (and its version skew), for kind a kind binary and a Docker or Podman \
        daemon that answers, inotify limits and free host ports 80/443; for k3s root, curl \
        and systemd; free disk; with --gpu nvidia-smi and nvidia-container-runtime. \
        Exits 4 when a required check fails.

        Examples:
          aphex doctor
          aphex doctor --deployment k3s --gpu
          aphex doctor --output json
        """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The deployment to check for.", valueName: "kind|k3s"))
    var deployment: Deployment = .kind

    @Flag(name: .long, help: "Skip the checks for creating a cluster (kind/Docker, k3s installer needs).")
    var useExisting = false

    @Flag(name: .long, help: "Also check the NVIDIA GPU runtime (nvidia-smi, nvidia-container-runtime).")
    var gpu = false

    func validate() throws { try global.rejectEnvOutput(command: "doctor") }

    func run() async throws {
        let ctx = makeContext(global)
        var o = DoctorOptions()
        o.deployment = deployment
        o.useExisting = useExisting
        o.gpu = gpu
        try finish(try await Commands.doctor(ctx, o))
    }
}

struct DestroyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Remove what bootstrap created: the kind cluster, the k3s install, or (with --use-existing) only aphex's objects.",
        discussion: """
        Asks for confirmation (skip it with --yes; without a terminal --yes is required). \
        Consider `aphex secrets export --file FILE` first: the generated credentials are \
        lost with the cluster.

        Examples:
          aphex destroy
          aphex destroy --cluster-name ci-123 --yes
          aphex destroy --use-existing --kubeconfig ~/.kube/lab --yes
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Option(name: .long, help: ArgumentHelp("kind or k3s (default: what aphex recorded when it created the cluster).", valueName: "kind|k3s"))
    var deployment: Deployment?

    @Flag(name: .long, help: "The cluster was not created by aphex: remove only platform-root, ArgoCD, Tekton and aphex's namespaces, never the cluster.")
    var useExisting = false

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Print what would be removed, remove nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "destroy")
        if (global.kubeconfig != nil || global.context != nil) && !useExisting {
            throw ValidationError("--kubeconfig/--context select an existing cluster: add --use-existing to remove only aphex's objects from it (aphex never deletes a cluster it did not create).")
        }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var o = DestroyOptions()
        o.deployment = deployment
        o.useExisting = useExisting
        o.yes = yes
        o.dryRun = dryRun
        try finish(try await Commands.destroy(ctx, o))
    }
}

struct ManifestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifests",
        abstract: "Inspect the release manifests aphex installs.",
        subcommands: [ManifestsPin.self])
}

struct ManifestsPin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Print the lock of manifest digests (catalog pins and those recorded on first download).",
        discussion: "Example:\n  aphex manifests pin --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "manifests pin") }

    func run() async throws {
        let ctx = makeContext(global)
        try finish(try await Commands.manifestsPin(ctx))
    }
}
