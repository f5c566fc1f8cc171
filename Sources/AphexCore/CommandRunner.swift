import Foundation
import Subprocess
#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// One external command to run. Secrets travel in `stdin`, never in `argv`.
public struct Command: Sendable, Equatable {
    public var argv: [String]
    public var stdin: [UInt8]?
    /// Variables added to (or overriding) the inherited environment.
    public var environment: [String: String]
    public var workingDirectory: String?
    public var timeout: Duration?
    /// When false, a non-zero exit is returned instead of thrown.
    public var checkExit: Bool

    public init(
        _ argv: [String], stdin: [UInt8]? = nil, environment: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Duration? = nil, checkExit: Bool = true
    ) {
        self.argv = argv
        self.stdin = stdin
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.checkExit = checkExit
    }

    public init(
        _ argv: [String], stdinText: String, environment: [String: String] = [:],
        timeout: Duration? = nil, checkExit: Bool = true
    ) {
        self.init(
            argv, stdin: Array(stdinText.utf8), environment: environment, timeout: timeout,
            checkExit: checkExit)
    }

    /// The argv as a shell would show it. Never includes stdin.
    public var display: String { Shell.quote(argv) }
}

public struct CommandOutput: Sendable, Equatable {
    /// Exit code; for a signal death, 128 + signal number (as a shell reports it).
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]

    public init(status: Int32, stdout: [UInt8] = [], stderr: [UInt8] = []) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
    public init(status: Int32, stdout: String, stderr: String = "") {
        self.init(status: status, stdout: Array(stdout.utf8), stderr: Array(stderr.utf8))
    }

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    public var succeeded: Bool { status == 0 }
}

/// A command that failed. Its text is paste-able (shell-quoted argv), carries the exit
/// status and the captured stderr — and never the stdin, which may hold secrets.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case exited(Int32)
        case notFound
        case timedOut(Duration)
        case launchFailed(String)
        case outputTooLarge(Int)
    }
    public var argv: [String]
    public var reason: Reason
    public var stdout: String
    public var stderr: String

    public init(argv: [String], reason: Reason, stdout: String = "", stderr: String = "") {
        self.argv = argv
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
    }

    /// The argv as a shell would show it.
    public var display: String { Shell.quote(argv) }

    public var isTimeout: Bool { if case .timedOut = reason { return true } else { return false } }

    public var description: String {
        var text = "command \"\(Shell.quote(argv))\" "
        switch reason {
        case .exited(let code): text += "failed with exit status \(code)"
        case .notFound: text += "could not be run: \(argv.first ?? "") was not found on PATH"
        case .timedOut(let d): text += "timed out after \(formatDuration(d)) and was stopped"
        case .launchFailed(let why): text += "could not be started: \(why)"
        case .outputTooLarge(let limit): text += "produced more than \(limit) bytes of output"
        }
        let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if !err.isEmpty {
            text +=
                "\nstderr:\n"
                + err.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "  " + $0 }.joined(separator: "\n")
        }
        return text
    }
}

/// The process seam. Everything aphex runs goes through one of these; tests use a
/// recording fake (SimCluster's `RecordingRunner`) or the simulated cluster.
public protocol CommandRunner: Sendable {
    func run(_ command: Command) async throws -> CommandOutput
}

extension CommandRunner {
    /// Runs and returns stdout as text, throwing `CommandError` on a non-zero exit.
    public func output(_ argv: [String], stdin: String? = nil, timeout: Duration? = nil) async throws -> String {
        try await run(Command(argv, stdin: stdin.map { Array($0.utf8) }, timeout: timeout)).stdoutText
    }
}

/// The process groups of the children aphex is running. Every child starts as the leader of
/// its own group, so the children it spawns in turn (kind's docker, an installer's curl) can be
/// signalled with it; an exit that cannot wait for the structured teardown (a second Ctrl-C,
/// the watchdog) stops them all with `terminateAll` first, instead of leaving them running.
public final class ChildProcessGroups: @unchecked Sendable {
    public static let shared = ChildProcessGroups()

    private let lock = NSLock()
    private var groups: Set<pid_t> = []

    public init() {}

    func add(_ pgid: pid_t) { lock.withLock { _ = groups.insert(pgid) } }
    func remove(_ pgid: pid_t) { lock.withLock { _ = groups.remove(pgid) } }
    public var live: Set<pid_t> { lock.withLock { groups } }

    /// SIGTERM to every group, SIGKILL to those still there after `grace`, then waits (at
    /// most `reapTimeout`) until each group is done: its leader — aphex's own child — reaped
    /// (by swift-subprocess's monitor) and no other member alive. Orphaned grandchildren that
    /// died are init's to reap, so their zombies do not count. Returns the groups that were
    /// not done at the end (none, normally).
    @discardableResult
    public func terminateAll(grace: Duration = .seconds(2), reapTimeout: Duration = .seconds(3)) -> Set<pid_t> {
        let groups = live
        guard !groups.isEmpty else { return [] }
        for g in groups { _ = kill(-g, SIGTERM) }
        var left = Self.waitUntilGone(groups, for: grace)
        for g in left { _ = kill(-g, SIGKILL) }
        left = Self.waitUntilGone(left, for: reapTimeout)
        lock.withLock { groups.subtracting(left).forEach { self.groups.remove($0) } }
        return left
    }

    static func waitUntilGone(_ groups: Set<pid_t>, for limit: Duration) -> Set<pid_t> {
        let deadline = ContinuousClock.now + limit
        var left = groups
        while true {
            left = left.filter { !isDone($0) }
            if left.isEmpty || ContinuousClock.now >= deadline { return left }
            usleep(20_000)
        }
    }

    /// The leader (pid == pgid) is reaped and no member of the group is alive.
    static func isDone(_ pgid: pid_t) -> Bool {
        if kill(-pgid, 0) == -1 && errno == ESRCH { return true }
        if kill(pgid, 0) == 0 || errno != ESRCH { return false }
        return !hasLiveMember(pgid)
    }

    /// A process of group `pgid` that is not a zombie, from /proc/PID/stat (pgrp is the 5th
    /// field; the state the 3rd, after the parenthesised command name).
    static func hasLiveMember(_ pgid: pid_t) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return true }
        for e in entries where e.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, pid_t(fields[3]) == pgid else { continue }
            if fields[0] != "Z" && fields[0] != "X" { return true }
        }
        return false
    }
}

/// The real runner, over swift-subprocess.
public struct SubprocessRunner: CommandRunner {
    /// Output limit per stream. `kubectl get -o json` of a big cluster is tens of MB.
    public var outputLimit: Int
    /// How a cancelled or timed-out child is stopped: SIGTERM to its process group, then
    /// SIGKILL to the group after the grace.
    public var terminationGrace: Duration
    /// Where live children's process groups are registered (for `terminateAll` at exit).
    public var groups: ChildProcessGroups

    public init(
        outputLimit: Int = 256 * 1024 * 1024, terminationGrace: Duration = .seconds(5),
        groups: ChildProcessGroups = .shared
    ) {
        self.outputLimit = outputLimit
        self.terminationGrace = terminationGrace
        self.groups = groups
    }

    public func run(_ command: Command) async throws -> CommandOutput {
        guard let exe = command.argv.first else {
            throw CommandError(argv: command.argv, reason: .launchFailed("empty argv"))
        }
        if exe.contains("/") {
            if !FileManager.default.isExecutableFile(atPath: exe) {
                throw CommandError(argv: command.argv, reason: .notFound)
            }
        } else if Self.which(exe) == nil {
            throw CommandError(argv: command.argv, reason: .notFound)
        }
        var platformOptions = PlatformOptions()
        // Its own process group (setpgid(0, 0)): a stop reaches the child's children too, and
        // a terminal's Ctrl-C reaches only aphex, which stops its children itself.
        platformOptions.processGroupID = 0
        platformOptions.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGrace)
        ]
        let options = platformOptions
        let groups = self.groups
        let env: Environment =
            command.environment.isEmpty
            ? .inherit
            : .inherit.updating(
                Dictionary(
                    uniqueKeysWithValues: command.environment.map {
                        (Environment.Key(rawValue: $0.key)!, Optional($0.value))
                    }))
        let executable: Executable = exe.contains("/") ? .path(FilePath(exe)) : .name(exe)
        let args = Arguments(Array(command.argv.dropFirst()))
        let wd = command.workingDirectory.map { FilePath($0) }
        let limit = outputLimit
        let stdinBytes = command.stdin ?? []

        let work: @Sendable () async throws -> CommandOutput = {
            let registered = LockedPID()
            defer { if let pgid = registered.value { groups.remove(pgid) } }
            let result = try await Subprocess.run(
                executable, arguments: args, environment: env, workingDirectory: wd,
                platformOptions: options, input: .array(stdinBytes),
                output: .bytes(limit: limit), error: .bytes(limit: limit)
            ) { execution in
                // Registered while it runs, so an abrupt exit can still stop it.
                let pgid = execution.processIdentifier.value
                registered.value = pgid
                groups.add(pgid)
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = Int32(code)
            case .signaled(let sig): status = 128 + Int32(sig)
            }
            return CommandOutput(status: status, stdout: result.standardOutput, stderr: result.standardError)
        }

        let out: CommandOutput
        do {
            if let timeout = command.timeout {
                out = try await withThrowingTaskGroup(of: CommandOutput?.self) { group in
                    group.addTask { try await work() }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return nil
                    }
                    let first = try await group.next()!
                    group.cancelAll()
                    guard let first else {
                        throw CommandError(argv: command.argv, reason: .timedOut(timeout))
                    }
                    return first
                }
            } else {
                out = try await work()
            }
        } catch let e as CommandError {
            throw e
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            let text = String(describing: error)
            if text.lowercased().contains("limit") {
                throw CommandError(argv: command.argv, reason: .outputTooLarge(limit))
            }
            throw CommandError(argv: command.argv, reason: .launchFailed(text))
        }
        if command.checkExit && out.status != 0 {
            throw CommandError(
                argv: command.argv, reason: .exited(out.status),
                stdout: out.stdoutText, stderr: out.stderrText)
        }
        return out
    }

    /// PATH lookup, as the shell would do it.
    public static func which(_ name: String, path: String? = nil) -> String? {
        let search = path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in search.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

private final class LockedPID: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    var value: pid_t? {
        get { lock.withLock { pid } }
        set { lock.withLock { pid = newValue } }
    }
}
