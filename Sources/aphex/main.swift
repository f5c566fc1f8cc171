import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

// Entry point. Maps every outcome to aphex's documented exit codes (ArgumentParser would use
// 64 for validation errors; aphex promises 2), and turns Ctrl-C into a clean stop: the first
// SIGINT/SIGTERM/SIGHUP cancels the running command (each child's process group gets SIGTERM,
// then SIGKILL), the second exits at once — after stopping and reaping every child process
// group still running (children run in their own groups, so nothing else would stop them).

setvbuf(stdout, nil, _IOLBF, 0)

func fail(_ message: String, _ status: ExitStatus) -> Never {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    exit(status.rawValue)
}

/// `aphex status` is the hot path (CI loops, prompts): its arguments are parsed by its own
/// command, skipping the root's tree of every subcommand (ArgumentParser reflects each, and
/// that was a fifth of a status run's start). Anything unusual — help, completion scripts, a
/// parse error — takes the root's route, so every message stays the same.
func parseCommand() throws -> any ParsableCommand {
    let args = Array(CommandLine.arguments.dropFirst())
    let special: Set<String> = ["-h", "--help", "help", "--version", "--experimental-dump-help"]
    if args.first == "status", !args.contains(where: { special.contains($0) || $0.hasPrefix("--generate-completion") }),
       let command = try? StatusCommand.parse(Array(args.dropFirst())) {
        return command
    }
    return try Aphex.parseAsRoot()
}

let runTask = Task<Int32, Never> {
    do {
        var command = try parseCommand()
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

/// Exits at once (second Ctrl-C, watchdog), but never with children still running: their
/// process groups get SIGTERM, SIGKILL after a short grace, and are waited for until reaped.
func exitInterrupted() -> Never {
    let left = ChildProcessGroups.shared.terminateAll(grace: .seconds(1), reapTimeout: .seconds(3))
    if !left.isEmpty {
        FileHandle.standardError.write(Data("warning: child process group(s) \(left.sorted().map(String.init).joined(separator: ", ")) did not exit after SIGKILL\n".utf8))
    }
    exit(ExitStatus.interrupted.rawValue)
}

let signalQueue = DispatchQueue(label: "aphex.signals")
nonisolated(unsafe) var interrupts = 0
var signalSources: [any DispatchSourceSignal] = []
for sig in [SIGINT, SIGTERM, SIGHUP] {
    signal(sig, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
    source.setEventHandler {
        interrupts += 1
        if interrupts == 1 {
            FileHandle.standardError.write(Data("\nInterrupted: stopping (press Ctrl-C again to exit at once)...\n".utf8))
            runTask.cancel()
            // If the command does not unwind promptly, do not hang the terminal.
            signalQueue.asyncAfter(deadline: .now() + 10) { exitInterrupted() }
        } else {
            exitInterrupted()
        }
    }
    source.resume()
    signalSources.append(source)
}

let code = await runTask.value
exit(runTask.isCancelled && code != 0 ? ExitStatus.interrupted.rawValue : code)
