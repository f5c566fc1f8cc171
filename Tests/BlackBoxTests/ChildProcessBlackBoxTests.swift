import AphexCore
import KubeClient
import Foundation
import Testing
import TestSupport

/// Item 8 of issue 14, with the built binary and DriverWorld's stand-ins: a second Ctrl-C
/// stops and reaps the children before aphex exits, and a killed run leaves no admin
/// kubeconfig in TMPDIR.
@Suite(.serialized) struct ChildProcessBlackBoxTests {
    /// Starts aphex in `w` (stdin/stdout/stderr to /dev/null) without waiting for it.
    func start(_ w: DriverWorld, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuiltAphex.path)
        p.arguments = args
        var env = w.env
        env["HOME"] = w.home
        env["NO_COLOR"] = "1"
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Generous: the black-box phase runs many suites at once, and on two loaded cores a shell
    /// stand-in took more than 30 s to start.
    func pid(_ w: DriverWorld, _ file: String, timeout: Double = 120) async throws -> pid_t? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: w.state + "/" + file, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return pid
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Not running: gone, or a zombie left for init to reap (an orphaned grandchild).
    static func running(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Before: the second Ctrl-C called exit() at once; `kind create` (which ignores SIGTERM
    /// here) and its `sleep` ran on after aphex was gone.
    @Test func secondCtrlCStopsAndReapsTheChildrenBeforeExiting() async throws {
        let w = try DriverWorld()
        try w.touch("hang-create")
        let p = try start(w, ["kind", "create", "--cluster-name", "bb"])
        let child = try #require(try await pid(w, "child.pid"))
        let grandchild = try #require(try await pid(w, "grandchild.pid"))
        defer {
            kill(child, SIGKILL)
            kill(grandchild, SIGKILL)
        }
        kill(p.processIdentifier, SIGINT)
        try await Task.sleep(for: .milliseconds(500))  // the teardown's SIGTERM is ignored
        #expect(Self.running(child), "the stand-in should still run after the first Ctrl-C")
        kill(p.processIdentifier, SIGINT)
        await p.exited()
        #expect(p.terminationStatus == 130)
        // At the moment aphex has exited, its child is reaped and the grandchild stopped.
        #expect(!Self.running(child), "kind (pid \(child)) still runs after aphex exited")
        #expect(kill(child, 0) == -1 && errno == ESRCH, "kind (pid \(child)) was not reaped")
        #expect(!Self.running(grandchild), "kind's child (pid \(grandchild)) still runs after aphex exited")
    }

    /// Before: the probe's admin kubeconfig sat in $TMPDIR/aphex-kind-XXXXXX after a kill.
    @Test func aKilledProbeLeavesNoKubeconfigInTmpAndTheNextRunCleansUp() async throws {
        let w = try DriverWorld()
        try w.touch("clusters/bb/.keep")
        try w.touch("hang-nodes")
        defer { try? FileManager.default.removeItem(atPath: w.state + "/hang-nodes") }
        let p = try start(w, ["kind", "create", "--cluster-name", "bb"])
        // the probe's node read has reached the API server (and hangs there)
        let deadline = Date().addingTimeInterval(120)
        while !w.exists(w.state + "/nodes.hung") && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(w.exists(w.state + "/nodes.hung"), "the probe never read the nodes")
        kill(p.processIdentifier, SIGKILL)
        await p.exited()
        // Not in TMPDIR: in a private directory under ~/.aphex/tmp, named after the dead process.
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.tmp).isEmpty)
        let tmp = w.home + "/.aphex/tmp"
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
        #expect(dirs.count == 1 && dirs[0].hasPrefix("\(p.processIdentifier).kind-probe."), "\(dirs)")
        let dir = tmp + "/" + (dirs.first ?? "")
        let kubeconfig = dir + "/kubeconfig"
        #expect(PrivateFiles.mode(dir) == 0o700)
        #expect(PrivateFiles.mode(tmp) == 0o700)
        #expect(PrivateFiles.mode(kubeconfig) == 0o600)
        // The next run (any command) removes it.
        try FileManager.default.removeItem(atPath: w.state + "/hang-nodes")
        let list = try await w.aphex(["kind", "list"])
        #expect(list.status == 0, "\(list.stderrText)")
        #expect(!w.exists(dir), "the killed run's private directory is still there")
    }
}
