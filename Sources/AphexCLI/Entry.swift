import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

// The process entry. Maps every outcome to aphex's documented exit codes (ArgumentParser would
// use 64 for validation errors; aphex promises 2), and turns Ctrl-C into a clean stop: the
// first SIGINT/SIGTERM/SIGHUP cancels the running command (each child's process group gets
// SIGTERM, then SIGKILL), the second exits at once — after stopping and reaping every child
// process group still running (children run in their own groups, so nothing else would stop them).

extension Aphex {
    /// Runs the command line and exits with its code (the `aphex` executable's whole main).
    public static func runAsMain() async -> Never {
        setvbuf(stdout, nil, _IOLBF, 0)
        let runTask = Task<Int32, Never> { await runCommandLine(Array(CommandLine.arguments.dropFirst())) }
        let signals = SignalHandling(runTask: runTask)
        signals.install()
        let code = await runTask.value
        Foundation.exit(runTask.isCancelled && code != 0 ? ExitStatus.interrupted.rawValue : code)
    }

    /// `aphex status` is the hot path (CI loops, prompts): its arguments are parsed by its own
    /// command, skipping the root's tree of every subcommand (ArgumentParser reflects each, and
    /// that was a fifth of a status run's start). Anything unusual — help, completion scripts,
    /// a parse error — takes the root's route, so every message stays the same.
    static func parseCommand(_ args: [String]) throws -> any ParsableCommand {
        let special: Set<String> = ["-h", "--help", "help", "--version", "--experimental-dump-help"]
        if args.first == "status",
            !args.contains(where: { special.contains($0) || $0.hasPrefix("--generate-completion") }),
            let command = try? Status.parse(Array(args.dropFirst()))
        {
            return command
        }
        return try Aphex.parseAsRoot(args)
    }

    /// Runs one command line (without the program name) and returns its exit code; messages
    /// go to stderr.
    static func runCommandLine(_ args: [String]) async -> Int32 {
        do {
            var command = try parseCommand(args)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as AphexError {
            var text = "error: " + error.message + "\n"
            if let detail = error.detail, !detail.isEmpty { text += detail + "\n" }
            if error.status == .interrupted { text = error.message + "\n" }
            FileHandle.standardError.write(Data(text.utf8))
            return error.status.rawValue
        } catch let error as CommandError {
            FileHandle.standardError.write(Data(("error: " + error.description + "\n").utf8))
            return exitStatus(for: error).rawValue
        } catch is CancellationError {
            FileHandle.standardError.write(Data((AphexError.interrupted.message + "\n").utf8))
            return ExitStatus.interrupted.rawValue
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            if Task.isCancelled {
                FileHandle.standardError.write(Data((AphexError.interrupted.message + "\n").utf8))
                return ExitStatus.interrupted.rawValue
            }
            let code = Aphex.exitCode(for: error)
            if code == .success {
                // --help, --version, completion scripts
                print(Aphex.fullMessage(for: error))
                return 0
            }
            let message = Aphex.fullMessage(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((message + "\n").utf8))
                return ExitStatus.usage.rawValue
            }
            FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
            return code.rawValue == 64 ? ExitStatus.usage.rawValue : ExitStatus.failed.rawValue
        }
    }
}

/// SIGINT/SIGTERM/SIGHUP: the first cancels the command (and, if it does not unwind within
/// 10 s, exits); the second exits at once.
private final class SignalHandling: @unchecked Sendable {
    let runTask: Task<Int32, Never>
    let queue = DispatchQueue(label: "aphex.signals")
    /// Touched only on `queue`.
    var interrupts = 0
    var sources: [any DispatchSourceSignal] = []

    init(runTask: Task<Int32, Never>) { self.runTask = runTask }

    func install() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [self] in
                interrupts += 1
                if interrupts == 1 {
                    FileHandle.standardError.write(
                        Data("\nInterrupted: stopping (press Ctrl-C again to exit at once)...\n".utf8))
                    runTask.cancel()
                    // If the command does not unwind promptly, do not hang the terminal.
                    queue.asyncAfter(deadline: .now() + 10) { Self.exitInterrupted() }
                } else {
                    Self.exitInterrupted()
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Exits at once (second Ctrl-C, watchdog), but never with children still running: their
    /// process groups get SIGTERM, SIGKILL after a short grace, and are waited for until reaped.
    static func exitInterrupted() -> Never {
        let left = ChildProcessGroups.shared.terminateAll(grace: .seconds(1), reapTimeout: .seconds(3))
        if !left.isEmpty {
            FileHandle.standardError.write(
                Data(
                    """
                    warning: child process group(s) \(left.sorted().map(String.init).joined(separator: ", ")) did \
                    not exit after SIGKILL\n
                    """
                    .utf8))
        }
        exit(ExitStatus.interrupted.rawValue)
    }
}
