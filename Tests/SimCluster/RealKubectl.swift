import AphexCore
import KubeClient
import Foundation
import TestSupport

/// The real kubectl the tests drive (it talks to the simulator's loopback API): never a
/// stand-in. Found as `APHEX_REAL_KUBECTL`, else the first `kubectl` on PATH outside a
/// simulator's bin directory, else /usr/bin/kubectl. scripts/test.sh refuses to run without a
/// kubectl ≥ 1.29 (the server-side apply and OpenAPI v3 behaviour the simulator is held to).
public enum RealKubectl {
    public static let minimumMinor = 29

    public static let path: String? = {
        let env = ProcessInfo.processInfo.environment
        if let p = env["APHEX_REAL_KUBECTL"], !p.isEmpty {
            return FileManager.default.isExecutableFile(atPath: p) ? p : nil
        }
        for dir in (env["PATH"] ?? "").split(separator: ":").map(String.init) where !dir.hasSuffix("/sim/bin") {
            let candidate = dir + "/kubectl"
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            // A simulator stand-in is a symlink to aphex-sim: not kubectl.
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: candidate),
                target.hasSuffix("aphex-sim")
            {
                continue
            }
            return candidate
        }
        return FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl") ? "/usr/bin/kubectl" : nil
    }()

    /// The path, or an error that says how to get one.
    public static func require() throws -> String {
        guard let p = path else {
            throw SimError(
                """
                no kubectl found (PATH, /usr/bin/kubectl, or APHEX_REAL_KUBECTL): the tests drive the real \
                kubectl ≥ 1.\(minimumMinor) against the simulated cluster. Install it \
                (https://kubernetes.io/docs/tasks/tools/) and run again.
                """
            )
        }
        return p
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs the real kubectl with `args` and optional stdin; HOME (its discovery cache) and
    /// KUBECONFIG come from `environment` (default: none, so it cannot touch a real cluster).
    public static func run(
        _ args: [String], stdin: [UInt8]? = nil, environment: [String: String] = [:],
        timeout: Double = 60
    ) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try require())
        p.arguments = args
        var env = [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
            "KUBECONFIG": "/nonexistent/kubeconfig"
        ]
        env.merge(environment) { _, b in b }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        let drain = PipeDrain(stdout: out, stderr: err)
        try p.run()
        ignoreSIGPIPE
        if let stdin { try? inp.fileHandleForWriting.write(contentsOf: Data(stdin)) }
        try? inp.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(5_000) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        let (stdoutText, stderrText) = drain.wait()
        return Result(
            status: p.terminationStatus, stdout: stdoutText,
            stderr: stderrText)
    }

    /// How kubectl splits a stream it reads on stdin, without a server: `kubectl annotate
    /// --local --dry-run=client -o name -f -` decodes stdin with the same reader as `apply -f -`
    /// (JSON stream when the first non-blank byte is `{`, else YAML documents split on `---`)
    /// and prints `kind[.group]/name` for every object it decoded, in order.
    public static func objectsDecoded(from stream: [UInt8]) throws -> Result {
        try run(
            ["annotate", "--local", "--dry-run=client", "-o", "name", "-f", "-", "aphex.dev/stdin-check=1"],
            stdin: stream)
    }
}

/// The simulator's `kubectl` on a test's PATH and in the in-process runner: the REAL kubectl,
/// run with the caller's argv, stdin and environment against the simulator's loopback API.
/// Only the record is the simulator's: argv, stdin digest, exit status and output, so tests can
/// still assert "no secret in any argv" and "a re-run ran no mutating command".
/// Writing a child's stdin after it exited must fail with EPIPE, not kill the test process.
let ignoreSIGPIPE: Void = {
    signal(SIGPIPE, SIG_IGN)
    return ()
}()

public enum KubectlPassthrough {
    /// Whether argv makes kubectl read stdin (`-f -`, `--filename=-`, `--from-file=k=/dev/stdin`).
    public static func readsStdin(_ args: [String]) -> Bool {
        args.contains("-") || args.contains { $0.hasSuffix("=-") || $0.hasSuffix("/dev/stdin") }
    }

    /// Runs the real kubectl (blocking: call it off the cooperative pool). `timeout` is real time.
    public static func run(
        args: [String], stdin: [UInt8]?, environment: [String: String], workingDirectory: String?,
        timeout: Double?
    ) -> ToolResult {
        guard let kubectl = RealKubectl.path else {
            return .fail(
                """
                kubectl: the real kubectl was not found (PATH, /usr/bin/kubectl or APHEX_REAL_KUBECTL); the \
                simulator has no stand-in for it
                """,
                status: 127)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: kubectl)
        p.arguments = args
        p.environment = environment
        if let workingDirectory, FileManager.default.fileExists(atPath: workingDirectory) {
            p.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle(forReadingAtPath: "/dev/null") : inp
        let drain = PipeDrain(stdout: out, stderr: err)
        do { try p.run() } catch {
            return .fail("kubectl: cannot start \(kubectl): \(error)", status: 127)
        }
        if let stdin {
            let writer = inp.fileHandleForWriting
            // kubectl may exit before reading everything (a parse error): EPIPE, not SIGPIPE.
            ignoreSIGPIPE
            blockingThread {
                try? writer.write(contentsOf: Data(stdin))
                try? writer.close()
            }
        }
        var timedOut = false
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while p.isRunning {
                if Date() >= deadline {
                    timedOut = true
                    kill(p.processIdentifier, SIGKILL)
                    break
                }
                usleep(2_000)
            }
        }
        p.waitUntilExit()
        let (stdoutText, stderrText) = drain.wait()
        let status: Int32 =
            timedOut ? 137 : (p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus)
        return ToolResult(
            status: status, stdout: stdoutText,
            stderr: stderrText)
    }

    /// `run` without blocking a Swift concurrency thread.
    public static func runAsync(
        args: [String], stdin: [UInt8]?, environment: [String: String], workingDirectory: String?,
        timeout: Double?
    ) async -> ToolResult {
        await withCheckedContinuation { c in
            blockingThread {
                c.resume(
                    returning: run(
                        args: args, stdin: stdin, environment: environment, workingDirectory: workingDirectory,
                        timeout: timeout))
            }
        }
    }
}
