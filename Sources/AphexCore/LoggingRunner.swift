/// Wraps a runner and logs each command (argv only — never stdin) at debug level.
public struct LoggingRunner: CommandRunner {
    public let base: any CommandRunner
    public let reporter: any Reporter

    public init(base: any CommandRunner, reporter: any Reporter) {
        self.base = base
        self.reporter = reporter
    }

    public func run(_ command: Command) async throws -> CommandOutput {
        var line = "$ " + command.display
        if let stdin = command.stdin { line += "  (stdin: \(stdin.count) bytes)" }
        reporter.debug(line)
        return try await base.run(command)
    }
}
