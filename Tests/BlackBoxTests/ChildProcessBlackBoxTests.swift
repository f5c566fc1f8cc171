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
        try w.touch("hang-kubectl")
        let p = try start(w, ["kind", "create", "--cluster-name", "bb"])
        let kubectl = try #require(try await pid(w, "kubectl.pid"))
        defer { kill(kubectl, SIGKILL) }
        kill(p.processIdentifier, SIGKILL)
        await p.exited()
        let kubeconfig = try String(contentsOfFile: w.state + "/kubectl.kubeconfig", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Not in TMPDIR: in a private directory under ~/.aphex/tmp, named after the dead process.
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.tmp).isEmpty)
        #expect(kubeconfig.hasPrefix(w.home + "/.aphex/tmp/\(p.processIdentifier).kind-probe."), "\(kubeconfig)")
        let dir = (kubeconfig as NSString).deletingLastPathComponent
        #expect(PrivateFiles.mode(dir) == 0o700)
        #expect(PrivateFiles.mode(w.home + "/.aphex/tmp") == 0o700)
        #expect(PrivateFiles.mode(kubeconfig) == 0o600)
        // The next run (any command) removes it.
        try FileManager.default.removeItem(atPath: w.state + "/hang-kubectl")
        let list = try await w.aphex(["kind", "list"])
        #expect(list.status == 0, "\(list.stderrText)")
        #expect(!w.exists(dir), "the killed run's private directory is still there")
    }
}
