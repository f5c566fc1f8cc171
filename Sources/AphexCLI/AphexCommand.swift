import ArgumentParser
import AphexCore
import Bootstrap

/// Every aphex command (swiftly's `SwiftlyCommand`): ArgumentParser parses and validates the
/// arguments, `run()` builds the real context and calls `run(_:)`. Tests parse argv the same
/// way and call `run(_:)` with a context of their own (fakes for the runner, the clock, the
/// API client factory).
protocol AphexCommand: AsyncParsableCommand {
    /// --output, --kubeconfig, --context, --no-color, --verbose.
    var global: GlobalOptions { get }
    /// The cluster the command is about (--cluster-name); platform-cluster for those without it.
    var clusterName: String { get }
    func run(_ ctx: AppContext) async throws
}

extension AphexCommand {
    var clusterName: String { "platform-cluster" }

    mutating func run() async throws {
        try await run(global.makeContext(clusterName: clusterName))
    }

    /// `base` (a test's fakes) with this command's --output and cluster selection, as
    /// `run()` would build them: `try await cmd.run(cmd.context(testContext))`.
    func context(_ base: AppContext) -> AppContext {
        var ctx = base
        ctx.format = global.output
        ctx.target = ClusterTarget(clusterName: clusterName, kubeconfig: global.kubeconfig, context: global.context)
        return ctx
    }

    /// Turns a domain entry point's status into the process exit code.
    func finish(_ status: ExitStatus) throws {
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
