import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct Destroy: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract:
            """
            Remove what bootstrap created: the kind cluster, the k3s install, or (with --use-existing) only \
            aphex's objects.
            """,
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

    @Option(
        name: .long,
        help: ArgumentHelp(
            "kind or k3s (default: what aphex recorded when it created the cluster).", valueName: "kind|k3s"))
    var deployment: Deployment?

    @Flag(
        name: .long,
        help:
            """
            The cluster was not created by aphex: remove only platform-root, ArgoCD, Tekton and aphex's \
            namespaces, never the cluster.
            """
    )
    var useExisting = false

    @Flag(name: [.short, .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(
        name: .long,
        help: "Delete the kind cluster / k3s install even though aphex did not create it (it only adopted it).")
    var force = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --use-existing: how long to wait for ArgoCD and for deletions to finish before giving up (exit 3).",
            valueName: "duration"))
    var timeout: String = "5m"

    @Flag(
        name: .long,
        help:
            """
            With --use-existing: do not wait for ArgoCD; remove its finalizer from the Applications aphex created \
            (their child Applications and resources are LEFT in the cluster).
            """
    )
    var removeFinalizers = false

    @Flag(name: .long, help: "Print what would be removed, remove nothing.")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "destroy")
        if (global.kubeconfig != nil || global.context != nil) && !useExisting {
            throw ValidationError(
                """
                --kubeconfig/--context select an existing cluster: add --use-existing to remove only aphex's \
                objects from it (aphex never deletes a cluster it did not create).
                """
            )
        }
        if removeFinalizers && !useExisting {
            throw ValidationError(
                """
                --remove-finalizers applies to --use-existing (a kind or k3s destroy deletes the whole cluster, \
                finalizers and all): add --use-existing, or drop --remove-finalizers.
                """
            )
        }
        if force && useExisting {
            throw ValidationError(
                """
                --force deletes a kind cluster or k3s install that aphex did not create; --use-existing never \
                deletes the cluster. Drop one of them.
                """
            )
        }
        _ = try validateTimeout(timeout)
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        var o = DestroyOptions()
        o.deployment = deployment
        o.useExisting = useExisting
        o.yes = yes
        o.dryRun = dryRun
        o.force = force
        o.timeout = parseDuration(timeout)!
        o.removeFinalizers = removeFinalizers
        try finish(try await ClusterTeardown.destroy(ctx, o))
    }
}
