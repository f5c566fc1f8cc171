import ArgumentParser
import AphexCore
import Bootstrap
import KubeClient
import ClusterDrivers
import Foundation

extension Deployment: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Kubeconfig file of an existing cluster.",
            discussion:
                """
                Default: the kubeconfig aphex wrote for --cluster-name (~/.aphex/clusters/NAME/kubeconfig), else \
                $KUBECONFIG, else ~/.kube/config.
                """,
            valueName: "path"))
    var kubeconfig: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Kubeconfig context to use (default: the file's current context).", valueName: "name"))
    var context: String?

    @Option(name: .long, help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var output: OutputFormat = .text

    @Flag(
        name: .long,
        help: "Never colour output (colour is also off when NO_COLOR is set, TERM=dumb, or stderr is not a terminal).")
    var noColor = false

    @Flag(name: [.short, .long], help: "Log every command aphex runs and every decision it makes (to stderr).")
    var verbose = false

    func validate() throws {
        if let path = kubeconfig {
            let expanded = (path as NSString).expandingTildeInPath
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: expanded, isDirectory: &isDir) || isDir.boolValue {
                throw ValidationError(
                    """
                    The kubeconfig file '\(path)' does not exist. Pass the path of an existing kubeconfig with \
                    --kubeconfig, or drop the option to use the cluster aphex created \
                    (~/.aphex/clusters/NAME/kubeconfig).
                    """
                )
            }
            if !FileManager.default.isReadableFile(atPath: expanded) {
                throw ValidationError(
                    """
                    The kubeconfig file '\(path)' is not readable by this user. Fix its permissions (chmod 600, \
                    owned by you) or pass another file with --kubeconfig.
                    """
                )
            }
        }
        if let c = context, c.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError(
                """
                --context needs a context name. List them with `kubectl config get-contexts`, or drop --context \
                to use the kubeconfig's current context.
                """
            )
        }
    }

    /// The production context for a command about the cluster `clusterName`.
    func makeContext(clusterName: String = "platform-cluster") -> AppContext {
        AppContext.live(
            format: output, noColor: noColor, verbose: verbose,
            target: ClusterTarget(clusterName: clusterName, kubeconfig: kubeconfig, context: context))
    }

    /// Commands that have no KEY=VALUE form call this from validate().
    func rejectEnvOutput(command: String) throws {
        if output == .env {
            throw ValidationError(
                """
                '--output env' is only supported by `aphex show-secrets` and `aphex secrets export`. Use \
                '--output text' or '--output json' with `aphex \(command)`.
                """
            )
        }
    }
}

func validateTimeout(_ text: String?, flag: String = "--timeout") throws -> Duration? {
    guard let text else { return nil }
    guard let d = parseDuration(text) else {
        throw ValidationError("'\(text)' is not a valid \(flag): give a positive duration such as 90s, 20m or 1h30m.")
    }
    if d > .seconds(24 * 3600) {
        throw ValidationError("\(flag) \(text) is longer than 24h: give a duration such as 20m or 2h.")
    }
    return d
}
