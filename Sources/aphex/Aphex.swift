import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

let aphexVersion = "0.1.0"

struct Aphex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
            BootstrapCommand.self, StatusCommand.self, WaitCommand.self, ShowSecretsCommand.self,
            SecretsCommand.self, DoctorCommand.self, DestroyCommand.self, KindCommand.self,
            K3sCommand.self, ManifestsCommand.self, VersionCommand.self,
        ])
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print aphex's version and the component versions it installs by default.",
        discussion: "Example:\n  aphex version --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "version") }

    func run() throws {
        let components = Bootstrap.defaultComponentVersions()
        if global.output == .json {
            var obj: JSON = ["aphex": .string(aphexVersion)]
            obj["components"] = .object(components.mapValues { .string($0) })
            obj["testBuild"] = .bool(TestHooks.compiledIn)
            print(obj.serialized(pretty: true))
        } else {
            // A test build honours the test hooks (APHEX_HOST_ROOT, APHEX_K3S_INSTALL_URL) as root.
            print("aphex \(aphexVersion)" + (TestHooks.compiledIn ? " (test build: debug, test hooks honoured)" : ""))
            for (name, version) in components.sorted(by: { $0.key < $1.key }) {
                print("  \(name) \(version)")
            }
        }
    }
}
