import ArgumentParser

/// The root command: `aphex` and its subcommands (one file each, named after the command).
public struct Aphex: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "aphex",
        abstract: "Bootstrap the Aphex GitOps platform and tell whether it is healthy.",
        discussion: """
            aphex takes a machine from nothing to a converged platform (a kind or k3s cluster, \
            generated secrets, ArgoCD, Tekton and the platform-root Application), re-runnably, and \
            answers "is it healthy?" in a fraction of a second.

            QUICK START
              aphex doctor --deployment kind      check this host first
              aphex bootstrap --deployment kind   create it all, wait for convergence
              aphex status                        wave-by-wave health (0 = converged)
              aphex show-secrets                  credentials, read from the cluster

            EXIT CODES
              0    success; for status/wait: the platform is converged
              1    failed (an operation failed, or the platform is not converged)
              2    usage error or bad input; nothing was changed
              3    timed out before convergence; a diagnosis is printed
              4    a prerequisite is missing (tool, root, daemon); see `aphex doctor`
              130  interrupted (Ctrl-C); re-run the same command to resume

            Progress and logs go to stderr, results to stdout. See docs/ for usage, the status \
            JSON schema and troubleshooting.
            """,
        version: aphexVersion,
        subcommands: [
            Bootstrap.self, Status.self, Wait.self, ShowSecrets.self, Secrets.self, Doctor.self, Destroy.self,
            Kind.self, K3s.self, Manifests.self, Version.self
        ])
}
