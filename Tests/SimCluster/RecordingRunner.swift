import AphexCore
import KubeClient
import Foundation

/// A simple fake `CommandRunner` for argv-level unit tests: records every `Command` and
/// returns canned outputs chosen by the longest matching argv prefix. Unmatched commands
/// fail closed (exit 127, "not mocked"), so a test never runs a real process.
///
///     let runner = RecordingRunner()
///     runner.on(["kind", "get", "clusters"], stdout: "platform-cluster\n")
///     runner.on(["kubectl", "apply"], status: 1, stderr: "boom")
///     ... run the code under test ...
///     #expect(runner.commands.map(\.argv) == [["kind", "get", "clusters"]])
public final class RecordingRunner: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var rules: [(prefix: [String], output: CommandOutput)] = []
    private var handlers: [(prefix: [String], handler: @Sendable (Command) throws -> CommandOutput)] = []
    private var recorded: [Command] = []
    /// Output for commands no rule matches (nil: exit 127 "not mocked").
    public var fallback: CommandOutput?

    public init(fallback: CommandOutput? = nil) { self.fallback = fallback }

    /// Canned output for argv starting with `prefix`.
    public func on(_ prefix: [String], status: Int32 = 0, stdout: String = "", stderr: String = "") {
        lock.lock(); rules.append((prefix, CommandOutput(status: status, stdout: stdout, stderr: stderr))); lock.unlock()
    }

    /// Computed output for argv starting with `prefix` (may throw, e.g. a CommandError).
    public func on(_ prefix: [String], _ handler: @escaping @Sendable (Command) throws -> CommandOutput) {
        lock.lock(); handlers.append((prefix, handler)); lock.unlock()
    }

    public var commands: [Command] { lock.lock(); defer { lock.unlock() }; return recorded }
    public var argvs: [[String]] { commands.map(\.argv) }
    /// SHA-256 of each stdin payload (nil when none), in order.
    public var stdinHashes: [String?] { commands.map { $0.stdin.map { sha256Hex($0) } } }
    public func reset() { lock.lock(); recorded = []; lock.unlock() }

    private func lookup(_ command: Command) -> ((@Sendable (Command) throws -> CommandOutput)?, CommandOutput?, CommandOutput?) {
        lock.lock(); defer { lock.unlock() }
        recorded.append(command)
        func matches(_ p: [String]) -> Bool {
            command.argv.count >= p.count && Array(command.argv.prefix(p.count)) == p
        }
        let handler = handlers.filter { matches($0.prefix) }.max { $0.prefix.count < $1.prefix.count }?.handler
        let rule = rules.filter { matches($0.prefix) }.max { $0.prefix.count < $1.prefix.count }?.output
        return (handler, rule, fallback)
    }

    public func run(_ command: Command) async throws -> CommandOutput {
        let (handler, rule, fb) = lookup(command)
        let out: CommandOutput
        if let handler { out = try handler(command) }
        else if let rule { out = rule }
        else if let fb { out = fb }
        else { out = CommandOutput(status: 127, stdout: "", stderr: "RecordingRunner: not mocked: \(command.display)") }
        if command.checkExit && out.status != 0 {
            throw CommandError(argv: command.argv, reason: out.status == 127 && rule == nil && handler == nil ? .notFound : .exited(out.status),
                               stdout: out.stdoutText, stderr: out.stderrText)
        }
        return out
    }
}
