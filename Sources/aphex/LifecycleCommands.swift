import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
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
        lost with the cluster. A kind cluster or k3s install that aphex did not create (it \
        only adopted it) is refused unless --force is given.

        With --use-existing, aphex deletes exactly the objects it recorded creating \
        (ConfigMap kube-system/aphex-ownership) and nothing else: platform-root first \
        (ArgoCD deletes its Applications), ArgoCD's controller last. Every wait is bounded by \
        --timeout; on a timeout (exit 3) aphex names what is still there, its finalizers and \
        the state of ArgoCD's application controller.

        Examples:
          aphex destroy
          aphex destroy --cluster-name ci-123 --yes
          aphex destroy --use-existing --kubeconfig ~/.kube/lab --yes
          aphex destroy --use-existing --kubeconfig ~/.kube/lab --yes --remove-finalizers
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Option(name: .long, help: ArgumentHelp("kind or k3s (default: what aphex recorded when it created the cluster).", valueName: "kind|k3s"))
    var deployment: Deployment?

    @Flag(name: .long, help: "The cluster was not created by aphex: remove only platform-root, ArgoCD, Tekton and aphex's namespaces, never the cluster.")
    var useExisting = false

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Delete the kind cluster / k3s install even though aphex did not create it (it only adopted it).")
    var force = false

    @Option(name: .long, help: ArgumentHelp("With --use-existing: how long to wait for ArgoCD and for deletions to finish before giving up (exit 3).", valueName: "duration"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "With --use-existing: do not wait for ArgoCD; remove its finalizer from the Applications aphex created (their child Applications and resources are LEFT in the cluster).")
    var removeFinalizers = false

    @Flag(name: .long, help: "Print what would be removed, remove nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "destroy")
        if (global.kubeconfig != nil || global.context != nil) && !useExisting {
            throw ValidationError("--kubeconfig/--context select an existing cluster: add --use-existing to remove only aphex's objects from it (aphex never deletes a cluster it did not create).")
        }
        if removeFinalizers && !useExisting {
            throw ValidationError("--remove-finalizers applies to --use-existing (a kind or k3s destroy deletes the whole cluster, finalizers and all): add --use-existing, or drop --remove-finalizers.")
        }
        if force && useExisting {
            throw ValidationError("--force deletes a kind cluster or k3s install that aphex did not create; --use-existing never deletes the cluster. Drop one of them.")
        }
        _ = try validateTimeout(timeout)
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var o = DestroyOptions()
        o.deployment = deployment
        o.useExisting = useExisting
        o.yes = yes
        o.dryRun = dryRun
        o.force = force
        o.timeout = parseDuration(timeout)!
        o.removeFinalizers = removeFinalizers
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
