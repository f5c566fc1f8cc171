import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

/// Issue 14.3: one aphex run per cluster name (`~/.aphex/clusters/NAME.lock`).
@Suite struct ClusterLockTests {
    func host(_ home: String, _ reporter: CollectingReporter = CollectingReporter()) -> HostContext {
        HostContext(
            runner: RecordingRunner(), reporter: reporter, environment: ["HOME": home], homeDirectory: home,
            makeTransport: { _ in fatalError("no HTTP in this test") })
    }

    func tempHome() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-lock-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func secondRunWaitsThenGivesUpNamingTheHolder() async throws {
        let home = try tempHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let first = try await ClusterLock.acquire(host(home), name: "lab", command: "aphex bootstrap")
        #expect(first.path == home + "/.aphex/clusters/lab.lock")
        #expect(PrivateFiles.mode(first.path) == 0o600)
        let reporter = CollectingReporter()
        do {
            _ = try await ClusterLock.acquire(
                host(home, reporter), name: "lab", command: "aphex destroy", wait: .milliseconds(400))
            Issue.record("a second run must not get the lock while the first holds it")
        } catch let e as AphexError {
            #expect(e.status == .timeout)
            #expect(e.message.contains("pid \(getpid()): aphex bootstrap"), "\(e.message)")
            #expect(e.message.contains("changed nothing"))
        }
        #expect(reporter.text.contains("Another aphex run (pid \(getpid()): aphex bootstrap"), "\(reporter.text)")
        // Another cluster name is not blocked.
        let other = try await ClusterLock.acquire(
            host(home), name: "ci-1", command: "aphex bootstrap", wait: .milliseconds(100))
        other.release()
        first.release()
    }

    @Test func secondRunProceedsOnceTheFirstEnds() async throws {
        let home = try tempHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let first = try await ClusterLock.acquire(host(home), name: "lab", command: "aphex bootstrap")
        let reporter = CollectingReporter()
        let h = host(home, reporter)
        let second = Task {
            try await ClusterLock.acquire(h, name: "lab", command: "aphex bootstrap", wait: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(reporter.text.contains("waiting for it to finish"))
        first.release()
        let got = try await second.value
        #expect(reporter.text.contains("finished; continuing"))
        got.release()
    }

    @Test func waitingEndsOnCtrlC() async throws {
        let home = try tempHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        let first = try await ClusterLock.acquire(host(home), name: "lab", command: "aphex bootstrap")
        defer { first.release() }
        let h = host(home)
        let second = Task {
            try await ClusterLock.acquire(h, name: "lab", command: "aphex bootstrap", wait: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(200))
        second.cancel()
        await #expect(throws: CancellationError.self) { _ = try await second.value }
    }
}
