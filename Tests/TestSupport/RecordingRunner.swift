import AphexCore
import Foundation
#if canImport(Testing)
    import Testing
#endif

/// The one fake `CommandRunner`: records every `Command` (argv, stdin, environment) and answers
/// from scripted rules chosen by the longest matching argv prefix (the first one added wins a
/// tie). A command no rule matches fails loudly: the test gets an issue naming the argv and
/// the code under test an `UnscriptedCommand` error, so nothing silently succeeds and no real
/// process ever runs. Exit statuses follow the real runner: non-zero with `checkExit` throws
/// `CommandError`.
///
///     let runner = RecordingRunner()
///     runner.on(["kind", "get", "clusters"], stdout: "platform-cluster\n")
///     runner.on(["kubectl", "apply"], status: 1, stderr: "boom")
///     runner.notFound(["podman"])
///     ... run the code under test ...
///     #expect(runner.argvs == [["kind", "get", "clusters"]])
///
/// `RecordingRunner { command in ... }` answers every command with the closure (a fake
/// cluster's kubectl); the closure throws for what it does not know.
public final class RecordingRunner: CommandRunner, @unchecked Sendable {
    public typealias Handler = @Sendable (Command) async throws -> CommandOutput
    private enum Answer {
        case output(CommandOutput)
        case handler(Handler)
    }

    private let lock = NSLock()
    private var rules: [(prefix: [String], answer: Answer)] = []
    private var recorded: [Command] = []

    public init() {}

    /// Answers every command with `handler` (its rule has the empty prefix).
    public init(_ handler: @escaping Handler) { rules = [([], .handler(handler))] }

    /// Canned output for argv starting with `prefix`.
    public func on(_ prefix: [String], status: Int32 = 0, stdout: String = "", stderr: String = "") {
        let output = CommandOutput(status: status, stdout: stdout, stderr: stderr)
        lock.withLock { rules.append((prefix, .output(output))) }
    }

    /// Computed output for argv starting with `prefix` (may throw, e.g. a CommandError).
    public func on(_ prefix: [String], _ handler: @escaping Handler) {
        lock.withLock { rules.append((prefix, .handler(handler))) }
    }

    /// argv starting with `prefix` names a program that is not installed (CommandError .notFound).
    public func notFound(_ prefix: [String]) {
        on(prefix) { throw CommandError(argv: $0.argv, reason: .notFound) }
    }

    public var commands: [Command] { lock.withLock { recorded } }
    public var argvs: [[String]] { commands.map(\.argv) }

    public func run(_ command: Command) async throws -> CommandOutput {
        let answer: Answer? = lock.withLock {
            recorded.append(command)
            let matching = rules.filter { command.argv.starts(with: $0.prefix) }
            return matching.max { $0.prefix.count < $1.prefix.count }?.answer
        }
        let out: CommandOutput
        switch answer {
        case .output(let o): out = o
        case .handler(let handler): out = try await handler(command)
        case nil:
            recordTestIssue("RecordingRunner: unscripted command: \(command.display)")
            throw UnscriptedCommand(argv: command.argv)
        }
        if command.checkExit && out.status != 0 {
            throw CommandError(
                argv: command.argv, reason: .exited(out.status), stdout: out.stdoutText,
                stderr: out.stderrText)
        }
        return out
    }
}

/// What a fake throws for a call the test did not set up (after recording a test issue).
public struct UnscriptedCommand: Error, CustomStringConvertible {
    public let argv: [String]
    public init(argv: [String]) { self.argv = argv }
    public var description: String { "unscripted command: \(Shell.quote(argv))" }
}

/// An HTTP transport for tests that must not talk HTTP: every request records a test issue and
/// throws, so a test that reaches for a server it did not set up fails loudly.
public struct RefusingTransport: HTTPTransport {
    public init() {}

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw refuse(request)
    }

    public func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        throw refuse(request)
    }

    private func refuse(_ request: HTTPRequest) -> UnscriptedCommand {
        recordTestIssue("RefusingTransport: unexpected request: \(request.method) \(request.url)")
        return UnscriptedCommand(argv: [request.method, request.url])
    }
}

/// Records a test issue when Swift Testing is linked (test builds), so a fake's refusal fails the
/// test even if the code under test swallows the error it throws. In a build without Testing
/// (the release `aphex-sim` the benchmarks run) the thrown error is the only signal.
func recordTestIssue(_ message: String) {
    #if canImport(Testing)
        Issue.record(Comment(rawValue: message))
    #endif
}
