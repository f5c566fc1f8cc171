import ClusterDrivers
import Foundation
import Testing
@testable import Bootstrap

/// A step started early (Tekton's apply alongside ArgoCD's) runs once, overlaps the step that
/// started it, reports in its own turn, and is cancelled when the pipeline fails first.
@Suite struct PipelineEarlyStartTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ s: String) { lock.withLock { lines.append(s) } }
        var all: [String] { lock.withLock { lines } }
    }

    func state() -> PipelineState {
        let s = PipelineState(app: secretsTestContext(FakeSecretCluster()), options: BootstrapOptions(deployment: .kind),
                              makeAPI: { _, _, _ in FakeSecretCluster() })
        s.kubeconfig = "/tmp/kc"
        return s
    }

    @Test func theLaterStepRunsOnceAlongsideAndReportsInItsTurn() async throws {
        let log = Log()
        let later = PipelineStep("later", "Later") { _ in
            log.add("later started")
            try await Task.sleep(for: .milliseconds(200))
            log.add("later done")
            return StepResult(.done, "later")
        }
        let first = PipelineStep("first", "First") { st in
            st.startEarly(later)
            try await Task.sleep(for: .milliseconds(50))
            log.add("first done")
            return StepResult(.done, "first")
        }
        let st = state()
        try await Pipeline(steps: [first, later]).run(st)
        #expect(log.all == ["later started", "first done", "later done"])
        #expect(st.records.map(\.id) == ["first", "later"])
        #expect(st.records.map(\.outcome) == [.done, .done])
    }

    @Test func aFailureCancelsWhatWasStartedEarly() async throws {
        let log = Log()
        let later = PipelineStep("later", "Later") { _ in
            do { try await Task.sleep(for: .seconds(30)) } catch { log.add("later cancelled"); throw error }
            log.add("later finished")
            return StepResult(.done, "")
        }
        let first = PipelineStep("first", "First") { st in
            st.startEarly(later)
            try await Task.sleep(for: .milliseconds(20))
            throw AphexError.failed("first failed")
        }
        await #expect(throws: AphexError.self) { try await Pipeline(steps: [first, later]).run(self.state()) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(log.all == ["later cancelled"])
    }
}
