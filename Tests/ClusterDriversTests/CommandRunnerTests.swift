import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing

@Suite struct CommandRunnerTests {
    let runner = SubprocessRunner()

    @Test func capturesStdoutStderrAndStatus() async throws {
        let out = try await runner.run(Command(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], checkExit: false))
        #expect(out.status == 3)
        #expect(out.stdoutText == "out\n")
        #expect(out.stderrText == "err\n")
    }

    @Test func stdinBytesReachTheChild() async throws {
        let out = try await runner.run(Command(["/bin/cat"], stdin: Array("line one\nline two\n".utf8)))
        #expect(out.stdoutText == "line one\nline two\n")
    }

    @Test func environmentAndWorkingDirectory() async throws {
        let out = try await runner.run(
            Command(
                ["/bin/sh", "-c", "echo $APHEX_T; pwd"], environment: ["APHEX_T": "v1"],
                workingDirectory: "/tmp"))
        #expect(out.stdoutText == "v1\n/tmp\n")
    }

    @Test func errorTextIsPasteableAndNeverContainsStdin() async throws {
        let secret = "s3cr3t-\(UUID().uuidString)"
        let cmd = Command(
            ["/bin/sh", "-c", "cat >/dev/null; echo 'it broke: bad thing' >&2; exit 7", "arg with space", "it's"],
            stdin: Array(secret.utf8))
        do {
            _ = try await runner.run(cmd)
            Issue.record("expected a failure")
        } catch let error as CommandError {
            let text = error.description
            #expect(
                text.hasPrefix(
                    #"""
                    command "/bin/sh -c 'cat >/dev/null; echo '"'"'it broke: bad thing'"'"' >&2; exit 7' 'arg \#
                    with space' 'it'"'"'s'" failed with exit status 7
                    """#
                ))
            #expect(text.contains("it broke: bad thing"))
            #expect(!text.contains(secret))
            #expect(!String(describing: error).contains(secret))
            #expect(exitStatus(for: error) == .failed)
        }
    }

    @Test func shellQuoting() {
        #expect(
            Shell.quote(["kubectl", "get", "pods", "-n", "argo cd", "-o", "jsonpath={.items}"])
                == "kubectl get pods -n 'argo cd' -o 'jsonpath={.items}'")
        #expect(Shell.quote("") == "''")
        #expect(Shell.quote("a'b") == #"'a'"'"'b'"#)
    }

    @Test func missingExecutableIsNamed() async throws {
        do {
            _ = try await runner.run(Command(["aphex-no-such-tool-xyz", "--flag"]))
            Issue.record("expected notFound")
        } catch let error as CommandError {
            #expect(error.reason == .notFound)
            #expect(error.description.contains("aphex-no-such-tool-xyz was not found on PATH"))
        }
    }

    @Test func timeoutStopsTheChildAndSaysSo() async throws {
        do {
            _ = try await runner.run(Command(["/bin/sleep", "30"], timeout: .milliseconds(300)))
            Issue.record("expected a timeout")
        } catch let error as CommandError {
            #expect(error.isTimeout)
            #expect(error.description.contains("timed out after 300ms"))
            #expect(exitStatus(for: error) == .timeout)
        }
    }

    @Test func cancellationTerminatesTheChild() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-cancel-\(UUID().uuidString)")
            .path
        let task = Task {
            try await runner.run(Command(["/bin/sh", "-c", "echo $$ > \(marker); exec sleep 30"]))
        }
        // wait for the child to start
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: marker) {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))
        let pid = Int32(
            try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        task.cancel()
        _ = await task.result
        // the child is gone (kill(pid, 0) fails with ESRCH), allowing a moment for reaping
        var alive = true
        for _ in 0..<50 {
            if kill(pid, 0) != 0 {
                alive = false
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!alive, "child \(pid) still running after cancellation")
    }

    @Test func largeOutputIsCollected() async throws {
        // 20 MB, like `kubectl get -o json` of a big cluster
        let out = try await runner.run(Command(["/bin/sh", "-c", "head -c 20000000 /dev/zero"]))
        #expect(out.stdout.count == 20_000_000)
    }

    @Test func durationParsing() {
        #expect(parseDuration("20m") == .seconds(1200))
        #expect(parseDuration("90s") == .seconds(90))
        #expect(parseDuration("1h30m") == .seconds(5400))
        #expect(parseDuration("1m30s") == .seconds(90))
        #expect(parseDuration("500ms") == .milliseconds(500))
        #expect(parseDuration("90") == .seconds(90))
        for bad in ["", "5x", "-1m", "m", "0s", "1m30", "abc", "10 m"] { #expect(parseDuration(bad) == nil, "\(bad)") }
        #expect(formatDuration(.seconds(90)) == "1m30s")
        #expect(formatDuration(.milliseconds(350)) == "350ms")
    }
}

@Suite struct CommandRunnerStressTests {
    /// Many concurrent runs, a third of them timing out mid-output: the runner must neither
    /// crash nor leak (swift-subprocess traps on a double close).
    @Test func concurrentTimeoutsAndCancellations() async throws {
        let runner = SubprocessRunner(terminationGrace: .milliseconds(200))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<24 {
                group.addTask {
                    let slow = i % 3 == 0
                    let cmd = Command(
                        ["/bin/sh", "-c", slow ? "yes | head -c 100000; sleep 5" : "echo ok \(i)"],
                        timeout: slow ? .milliseconds(100) : .seconds(30))
                    do {
                        let out = try await runner.run(cmd)
                        #expect(!slow && out.stdoutText == "ok \(i)\n")
                    } catch let e as CommandError {
                        #expect(slow && e.isTimeout, "command \(i): \(e)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// Item 8 of issue 14: children run in their own process group, which is what a stop signals,
/// and an abrupt exit stops and reaps every group first.
@Suite struct ChildProcessGroupTests {
    /// Running (not gone and not a zombie waiting to be reaped).
    static func running(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        return state != "Z" && state != "X"
    }

    static func waitForPids(_ file: String, count: Int) async throws -> [pid_t] {
        for _ in 0..<200 {
            let pids = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                pid_t($0)
            }
            if pids.count >= count { return pids }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the child never wrote its pids")
        return []
    }

    /// Before: the timeout's SIGTERM reached the shell only; the `sleep` it started ran on.
    @Test func aTimeoutStopsTheChildsChildrenToo() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-pg-\(UUID().uuidString)").path
        defer { unlink(file) }
        let runner = SubprocessRunner(terminationGrace: .milliseconds(300), groups: ChildProcessGroups())
        let script = "sleep 60 & echo $! > \(file); echo $$ >> \(file); wait"
        await #expect(throws: CommandError.self) {
            _ = try await runner.run(Command(["/bin/sh", "-c", script], timeout: .milliseconds(500)))
        }
        let pids = try await Self.waitForPids(file, count: 2)
        var left = pids
        for _ in 0..<50 where !left.isEmpty {
            left = left.filter(Self.running)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(left.isEmpty, "still running after the timeout: \(left)")
    }

    @Test func eachChildLeadsItsOwnGroupWhileItRuns() async throws {
        let groups = ChildProcessGroups()
        let runner = SubprocessRunner(groups: groups)
        let out = try await runner.run(Command(["/bin/sh", "-c", "ps -o pid= -o pgid= -p $$"]))
        let cols = out.stdoutText.split(separator: " ", omittingEmptySubsequences: true).map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(cols.count == 2 && cols[0] == cols[1], "pid and pgid: \(cols)")
        #expect(Int32(cols[1]) != getpgrp())
        #expect(groups.live.isEmpty, "a finished child is no longer registered")
    }

    /// What a second Ctrl-C and the watchdog do before exit(): SIGTERM, SIGKILL after the
    /// grace (this child ignores SIGTERM), and wait until the group is gone (reaped).
    @Test func terminateAllStopsAndReapsEveryGroup() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-pg-\(UUID().uuidString)").path
        defer { unlink(file) }
        let groups = ChildProcessGroups()
        let runner = SubprocessRunner(terminationGrace: .seconds(30), groups: groups)
        let script = "trap '' TERM INT; sleep 60 & echo $! > \(file); echo $$ >> \(file); wait; wait"
        let task = Task { try await runner.run(Command(["/bin/sh", "-c", script], checkExit: false)) }
        let pids = try await Self.waitForPids(file, count: 2)
        // The runner registers the group once swift-subprocess hands it the running child, which
        // under load came after the shell had written its pids.
        for _ in 0..<500 where groups.live != [pids[1]] { try await Task.sleep(for: .milliseconds(20)) }
        #expect(groups.live == [pids[1]])
        let start = ContinuousClock.now
        // The reap is swift-subprocess's, on its own schedule: under a loaded test run it took
        // over 5 s. Without the SIGKILL the shell (it ignores SIGTERM) would run for 60 s.
        let left = groups.terminateAll(grace: .milliseconds(300), reapTimeout: .seconds(30))
        #expect(left.isEmpty)
        #expect(ContinuousClock.now - start < .seconds(30))
        // Reaped: the shell is gone entirely, not a zombie; its sleep does not run either (its
        // zombie, if init has not reaped it yet, is init's).
        #expect(kill(pids[1], 0) == -1 && errno == ESRCH)
        #expect(!Self.running(pids[0]))
        let out = try await task.value
        #expect(out.status == 128 + SIGKILL)
        #expect(groups.live.isEmpty)
    }
}
