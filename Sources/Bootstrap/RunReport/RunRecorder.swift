import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Records a run for `--junit` and `--timeline`: the bootstrap steps (from the reporter's
/// events), each wave's and Application's phases as the convergence waiter saw them (it is
/// the waiter's `ConvergenceObserver`), and how the run ended, with the diagnosis. Everything
/// is on the host clock, in seconds from the recorder's creation. Whatever happens — success,
/// failure, timeout, Ctrl-C — `timeline()` returns what was known at that moment.
public final class RunRecorder: ConvergenceObserver, @unchecked Sendable {
    public let command: String
    public let clusterName: String
    let clock: any TimeSource
    let catalog: ConvergenceCatalog
    let origin: Duration
    let startedAt: Date
    let stepIDs: Set<String>

    private let lock = NSLock()
    private var steps: [RunTimeline.Step] = []
    private var waveOrder: [Int] = []
    private var waves: [Int: WaveTrack] = [:]
    private var waitStart: Double?
    private var observedOnce = false
    private var outcome = "running"
    private var endAt: Double?
    private var timeoutAt: Double?
    private var deadline: Double?
    private var interruptedAt: Double?
    private var diagnosis: Diagnosis?
    private var error: String?

    struct AppTrack {
        var segments: [RunTimeline.Segment] = []
        var phase: RunTimeline.Phase = .waiting
        var reason = ""
    }

    struct WaveTrack {
        /// When every earlier wave was converged (aphex's wave clock, as the waiter's).
        var start: Double?
        var end: Double?
        /// ArgoCD's view, for waves aphex has not started (an earlier wave is held back by
        /// aphex's own proofs): when an app of it first left pending, when all converged.
        var firstActive: Double?
        var allConverged: Double?
        var order: [String] = []
        var apps: [String: AppTrack] = [:]
    }

    /// `stepIDs`: the reporter's step ids that are shown as bootstrap steps (the pipeline's).
    public init(
        command: String, clusterName: String, clock: any TimeSource, stepIDs: [String] = [],
        catalog: ConvergenceCatalog = .default
    ) {
        self.command = command
        self.clusterName = clusterName
        self.clock = clock
        self.catalog = catalog
        self.stepIDs = Set(stepIDs)
        origin = clock.now()
        startedAt = clock.wallNow()
    }

    func seconds(_ d: Duration) -> Double { max(0, (d - origin).seconds) }
    var now: Double { seconds(clock.now()) }

    /// A reporter that forwards everything to `inner` and records the steps' start and end.
    public func wrap(_ inner: any Reporter) -> any Reporter { RecordingReporter(inner: inner, recorder: self) }

    func record(_ event: ReportEvent) {
        switch event {
        case .stepStarted(let id, let title) where stepIDs.contains(id):
            let t = now
            lock.lock()
            steps.append(RunTimeline.Step(id: id, title: title, start: t, end: nil, outcome: "running"))
            if id == "wait" && waitStart == nil { waitStart = t }
            lock.unlock()
        case .stepFinished(let id, _, let outcome, _, _) where stepIDs.contains(id):
            let t = now
            lock.lock()
            if let i = steps.lastIndex(where: { $0.id == id && ($0.end == nil || $0.outcome == "running") }) {
                if steps[i].end == nil { steps[i].end = t }
                steps[i].outcome = outcome.rawValue
            }
            lock.unlock()
        default: break
        }
    }

    /// A step started early: its bar spans the time it really ran. Call before its
    /// stepFinished event, which then keeps this end rather than the moment it was reported.
    public func stepRan(id: String, from start: Duration, to end: Duration) {
        lock.lock()
        defer { lock.unlock() }
        if let i = steps.lastIndex(where: { $0.id == id && $0.end == nil }) {
            steps[i].start = seconds(start)
            steps[i].end = seconds(end)
            steps[i].outcome = "running"
        }
    }

    /// The convergence wait begins now (`aphex wait`; bootstrap's wait step marks it itself).
    public func waitBegins() {
        let t = now
        lock.lock()
        defer { lock.unlock() }
        if waitStart == nil { waitStart = t }
    }

    // MARK: ConvergenceObserver

    public func waitStarted(at time: Duration, timeout: Duration) {
        let t = seconds(time)
        lock.lock()
        defer { lock.unlock() }
        if waitStart == nil { waitStart = t }
        deadline = t + timeout.seconds
    }

    public func observe(_ evaluation: PlatformEvaluation, at time: Duration) {
        let t = seconds(time)
        lock.lock()
        defer { lock.unlock() }
        let first = !observedOnce
        observedOnce = true
        if waitStart == nil { waitStart = t }
        var earlierDone = true
        for w in evaluation.waves {
            var track = waves[w.wave] ?? WaveTrack()
            if track.start == nil && !waveOrder.contains(w.wave) { waveOrder.append(w.wave) }
            if earlierDone && track.start == nil { track.start = first ? (waitStart ?? t) : t }
            let frozen = track.end != nil || track.allConverged != nil
            if w.converged && track.end == nil && earlierDone { track.end = t }
            if track.firstActive == nil && w.apps.contains(where: { !Self.untouched($0) }) { track.firstActive = t }
            if track.allConverged == nil && w.converged { track.allConverged = t }
            for app in w.apps {
                var a = track.apps[app.name] ?? AppTrack()
                if track.apps[app.name] == nil { track.order.append(app.name) }
                let phase: RunTimeline.Phase =
                    track.start == nil && Self.untouched(app) ? .waiting : Self.phase(app.phase)
                a.phase = phase
                a.reason = app.reason
                if !frozen {
                    if var last = a.segments.last {
                        // A change is drawn where it was seen: the previous phase lasted until now.
                        last.end = t
                        a.segments[a.segments.count - 1] = last
                        if last.phase != phase {
                            a.segments.append(RunTimeline.Segment(phase: phase, start: t, end: t))
                        }
                    } else {
                        let start = first ? (waitStart ?? t) : t
                        a.segments.append(RunTimeline.Segment(phase: phase, start: start, end: t))
                    }
                }
                track.apps[app.name] = a
            }
            waves[w.wave] = track
            earlierDone = earlierDone && w.converged
        }
        waveOrder.sort()
    }

    public func finished(_ result: WaitOutcome, at time: Duration) {
        let t = seconds(time)
        lock.lock()
        defer { lock.unlock() }
        endAt = t
        switch result {
        case .converged:
            outcome = "converged"
        case .failed(let d, _):
            outcome = "failed"
            diagnosis = d
            markEnd(t, stuck: false, diagnosis: d)
        case .timedOut(let d, _):
            outcome = "timeout"
            timeoutAt = deadline.map { min($0, t) } ?? t
            diagnosis = d
            markEnd(t, stuck: true, diagnosis: d)
        }
    }

    /// Ctrl-C: keep what was known, mark the moment.
    public func interrupted() {
        let t = now
        lock.lock()
        defer { lock.unlock() }
        guard outcome == "running" else { return }
        outcome = "interrupted"
        interruptedAt = t
        endAt = t
        extendOpenSegments(to: t)
    }

    /// The run ended without a wait outcome (a bootstrap step failed, `--no-wait`): `outcome`
    /// is `converged`, `failed` or `not-converged`.
    public func ended(_ outcome: String, error: String? = nil) {
        let t = now
        lock.lock()
        defer { lock.unlock() }
        if self.error == nil { self.error = error }
        guard self.outcome == "running" else { return }
        self.outcome = outcome
        endAt = t
        extendOpenSegments(to: t)
    }

    private func extendOpenSegments(to t: Double) {
        for (n, var track) in waves where track.end == nil && track.allConverged == nil {
            for name in track.order {
                guard var a = track.apps[name], var last = a.segments.last else { continue }
                last.end = max(last.end, t)
                a.segments[a.segments.count - 1] = last
                track.apps[name] = a
            }
            waves[n] = track
        }
    }

    /// Timeout or failure: the apps the diagnosis names get their final verdict.
    private func markEnd(_ t: Double, stuck: Bool, diagnosis d: Diagnosis) {
        extendOpenSegments(to: t)
        let named = Set(d.apps.map(\.name))
        let blocking = waveOrder.first { waves[$0]?.end == nil }
        for (n, var track) in waves {
            for name in track.order {
                guard var a = track.apps[name] else { continue }
                let final: RunTimeline.Phase?
                if a.phase == .failed || (d.apps.first { $0.name == name }?.phase == .failed) {
                    final = .failed
                } else if stuck && n == blocking && a.phase != .converged && a.phase != .waiting {
                    final = .stuck
                } else if stuck && named.contains(name) {
                    final = .stuck
                } else {
                    final = nil
                }
                if let final {
                    a.phase = final
                    if var last = a.segments.last, last.phase != .converged {
                        last.phase = final
                        a.segments[a.segments.count - 1] = last
                    }
                    track.apps[name] = a
                }
            }
            waves[n] = track
        }
    }

    /// Not synced yet, nothing converged: in a wave aphex has not started, it is waiting.
    static func untouched(_ a: AppState) -> Bool {
        a.phase == .pending || (a.phase == .progressing && a.sync != "Synced")
    }

    static func phase(_ p: AppPhase) -> RunTimeline.Phase {
        switch p {
        case .pending: return .pending
        case .progressing: return .progressing
        case .converged: return .converged
        case .failed: return .failed
        }
    }

    // MARK: snapshot

    /// What is known now (the run's end once `finished`, `interrupted` or `ended` was called).
    public func timeline() -> RunTimeline {
        let current = now
        lock.lock()
        defer { lock.unlock() }
        let end = endAt ?? current
        let byName = Dictionary((diagnosis?.apps ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let waveList = waveOrder.compactMap { n -> RunTimeline.Wave? in
            guard let track = waves[n] else { return nil }
            let apps = track.order.compactMap { name -> RunTimeline.App? in
                guard let a = track.apps[name] else { return nil }
                var app = RunTimeline.App(
                    name: name, phase: a.phase, reason: a.reason, diagnosis: nil, summary: nil, segments: a.segments)
                if let d = byName[name], let diagnosis, a.phase == .stuck || a.phase == .failed {
                    app.diagnosis = Self.appDiagnosisText(d, in: diagnosis, catalog: catalog)
                    app.summary = Self.summary(d, in: diagnosis, catalog: catalog)
                } else if a.phase == .stuck || a.phase == .failed {
                    app.summary = "\(name) (wave \(n)): \(a.reason)"
                    app.diagnosis = app.summary
                }
                return app
            }
            let seconds: Double
            let start = track.start ?? track.firstActive
            let finish = track.end ?? track.allConverged
            if let s = start { seconds = max(0, (finish ?? end) - s) } else { seconds = 0 }
            let blockedBy = track.start == nil ? waveOrder.first { $0 < n && waves[$0]?.end == nil } : nil
            return RunTimeline.Wave(
                wave: n, start: start, end: finish, converged: track.end != nil, blockedBy: blockedBy,
                seconds: (seconds * 1000).rounded() / 1000, apps: apps)
        }
        var finalSteps = steps
        for i in finalSteps.indices where finalSteps[i].end == nil && outcome != "running" {
            finalSteps[i].outcome =
                outcome == "interrupted" ? "interrupted" : (outcome == "timeout" ? "timeout" : "failed")
        }
        // The wait step ended by the timeout: it timed out (not a failure of its own).
        for i in finalSteps.indices
        where finalSteps[i].id == "wait" && finalSteps[i].outcome == "failed" && outcome == "timeout" {
            finalSteps[i].outcome = "timeout"
        }
        return RunTimeline(
            schemaVersion: RunTimeline.currentSchemaVersion, command: command, clusterName: clusterName,
            startedAt: RFC3339.format(startedAt), seconds: (end * 1000).rounded() / 1000, outcome: outcome,
            timeoutAt: timeoutAt, interruptedAt: interruptedAt, headline: diagnosis?.headline,
            diagnosis: diagnosis.map(Diagnoser.render), error: error, steps: finalSteps, waves: waveList,
            waitStart: waitStart)
    }

    /// The diagnosis of one Application as aphex prints it (its lines, the webhook proof when
    /// it is cert-manager, the Authentik check when it is auth, and what to do).
    static func appDiagnosisText(_ a: AppDiagnosis, in d: Diagnosis, catalog: ConvergenceCatalog) -> String {
        var one = Diagnosis(
            headline: d.headline, wave: a.wave, apps: [a],
            webhook: a.name == catalog.certManagerApplication ? d.webhook : nil,
            authToken: a.name == catalog.authApplication ? d.authToken : nil, problems: [], hints: [])
        one.hints = Diagnoser.hints(for: one)
        return Diagnoser.render(one)
    }

    /// One line: the app, its reason, the first unhealthy resource and pod, the webhook class.
    static func summary(_ a: AppDiagnosis, in d: Diagnosis, catalog: ConvergenceCatalog) -> String {
        var parts = ["\(a.name) (wave \(a.wave)): \(a.reason)"]
        if let r = a.resources.first {
            parts.append(
                "\(r.kind) \(r.namespace.isEmpty ? "" : r.namespace + "/")\(r.name): \(r.health)"
                    + (r.message.map { " — \($0)" } ?? ""))
            if let p = r.pods.first { parts.append(p.summary) }
        }
        if a.name == catalog.certManagerApplication, let w = d.webhook, let f = w.failure,
            !parts[0].contains(f.rawValue)
        {
            parts.append("webhook: \(w.summary)")
        }
        let line = parts.joined(separator: "; ")
        return line.count > 600 ? String(line.prefix(597)) + "..." : line
    }
}

/// Forwards to the real reporter; tells the recorder about steps.
struct RecordingReporter: Reporter {
    let inner: any Reporter
    let recorder: RunRecorder
    func emit(_ event: ReportEvent) {
        recorder.record(event)
        inner.emit(event)
    }
}
