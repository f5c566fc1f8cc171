import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport
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
        let s = PipelineState(
            app: secretsTestContext(FakeSecretCluster()), options: BootstrapOptions(deployment: .kind),
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

    /// A step started early reports the time it really ran (it overlapped the step before
    /// it), in its record and in the timeline, not the moment its turn collected the result.
    /// On a clock the steps move themselves: "later" runs 0.3 s from the start, "first" 0.4 s.
    @Test func anEarlyStepTakesTheTimeItReallyRan() async throws {
        let clock = VirtualClock()
        var host = secretsTestContext(FakeSecretCluster()).host
        host.clock = clock
        let recorder = RunRecorder(command: "bootstrap", clusterName: "c", clock: clock, stepIDs: ["first", "later"])
        host.reporter = recorder.wrap(host.reporter)
        var app = secretsTestContext(FakeSecretCluster())
        app.host = host
        let st = PipelineState(
            app: app, options: BootstrapOptions(deployment: .kind), makeAPI: { _, _, _ in FakeSecretCluster() })
        st.kubeconfig = "/tmp/kc"
        st.convergenceObserver = recorder
        let later = PipelineStep("later", "Later") { _ in
            clock.advance(by: .milliseconds(300))
            return StepResult(.done, "later")
        }
        let first = PipelineStep("first", "First") { st in
            st.startEarly(later)
            while !st.earlyFinished("later") { try await Task.sleep(for: .milliseconds(2)) }
            clock.advance(by: .milliseconds(100))
            return StepResult(.done, "first")
        }
        try await Pipeline(steps: [first, later]).run(st)
        // Before: "later" took 0 s (its result was ready when its turn came).
        #expect(st.records.map(\.seconds) == [0.4, 0.3])
        // The run's wall time is its span, less than the steps' seconds added up.
        let span = try #require(st.span)
        #expect(span.end - span.start == .milliseconds(400))
        #expect(BootstrapSummary.totalSeconds(st) == 0.4)
        let steps = recorder.timeline().steps
        let f = try #require(steps.first { $0.id == "first" }), l = try #require(steps.first { $0.id == "later" })
        #expect(l.start == f.start && l.end == 0.3 && f.end == 0.4, "\(steps)")
        #expect(l.outcome == "done")
    }

    @Test func aFailureCancelsWhatWasStartedEarly() async throws {
        let log = Log()
        let later = PipelineStep("later", "Later") { _ in
            do { try await Task.sleep(for: .seconds(30)) } catch {
                log.add("later cancelled")
                throw error
            }
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
