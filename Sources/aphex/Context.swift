import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Builds the production context for a command: real runner, libcurl transport, system
/// clock, the reporter face that fits stderr and --output.
func makeContext(_ global: GlobalOptions, clusterName: String = "platform-cluster") -> AppContext {
    let env = ProcessInfo.processInfo.environment
    // Private scratch files (a kind admin kubeconfig) left by a run that was killed.
    PrivateFiles.removeStaleTemporaryDirectories(home: env["HOME"] ?? NSHomeDirectory())
    let terminal = Terminal.detect(fd: 2, environment: env, noColorFlag: global.noColor)
    let reporter = makeReporter(format: global.output, terminal: terminal, verbose: global.verbose)
    let runner: any CommandRunner = global.verbose
        ? LoggingRunner(base: SubprocessRunner(), reporter: reporter)
        : SubprocessRunner()
    let host = HostContext(runner: runner, reporter: reporter, environment: env,
                           makeTransport: { CurlTransport(tls: $0) }, verbose: global.verbose)
    return AppContext(host: host, output: StdoutWriter(), format: global.output,
                      target: ClusterTarget(clusterName: clusterName, kubeconfig: global.kubeconfig,
                                            context: global.context))
}

/// Runs a library entry point and turns its status into the process exit code.
func finish(_ status: ExitStatus) throws {
    if status != .ok { throw ExitCode(status.rawValue) }
}
