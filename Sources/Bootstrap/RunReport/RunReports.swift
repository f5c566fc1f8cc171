import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Writing `--junit` and `--timeline` files, and the status command's timeline.
public enum RunReports {
    /// Writes the requested files, each atomically (`PrivateFiles.write`, mode 0644: a temp file
    /// in the same directory renamed over the target, so a reader never sees half a file).
    /// Failures warn; they never change the command's exit code.
    public static func write(_ timeline: RunTimeline, _ options: RunReportOptions, reporter: any Reporter) {
        if let path = options.junit {
            do { try PrivateFiles.write(Array(JUnitReport.render(timeline).utf8), to: path, mode: 0o644) } catch {
                reporter.warn("could not write the JUnit report \(path): \(error)")
            }
        }
        if let path = options.timeline {
            let text = path.lowercased().hasSuffix(".json") ? json(timeline) : TimelineSVG.render(timeline)
            do { try PrivateFiles.write(Array(text.utf8), to: path, mode: 0o644) } catch {
                reporter.warn("could not write the timeline \(path): \(error)")
            }
        }
    }

    /// `--timeline FILE.json`: the timeline document, keys sorted.
    public static func json(_ t: RunTimeline) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? e.encode(t)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    // MARK: status

    /// The diagnosis `aphex wait` would print for what status sees (only asked for with
    /// --junit/--timeline on a platform that is not converged: one more LIST plus the reads
    /// of the diagnosis).
    public static func statusDiagnosis(
        api: any KubeAPI, snapshot s: PlatformStatus,
        catalog: ConvergenceCatalog = .default
    ) async -> Diagnosis? {
        guard s.cluster.reachable, !s.converged,
            let list = try? await api.list(
                .applications, namespace: catalog.argocdNamespace, labelSelector: nil, fieldSelector: nil)
        else { return nil }
        var eval = Waves.evaluate(list.items, catalog: catalog)
        // The snapshot's verdicts (the cert-manager webhook proof) win over ArgoCD's.
        let verdicts = Dictionary(s.waves.flatMap(\.apps).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for w in eval.waves.indices {
            for a in eval.waves[w].apps.indices {
                if let v = verdicts[eval.waves[w].apps[a].name] {
                    eval.waves[w].apps[a].phase = v.phase
                    eval.waves[w].apps[a].reason = v.reason
                }
            }
        }
        var objects: [String: JSON] = [:]
        for item in list.items { if let n = item.name { objects[n] = item } }
        let headline: String
        if let f = eval.failed.first {
            headline = "Application \(f.name) (wave \(f.wave)) failed: \(f.reason)."
        } else if let w = eval.firstUnconvergedWave {
            let stuck = w.apps.filter { !$0.converged }
            headline = "Not converged: wave \(w.wave) (\(stuck.map(\.name).joined(separator: ", ")))."
        } else {
            headline = "Not converged: " + (s.problems.first ?? "see `aphex status`")
        }
        return await Diagnoser.diagnose(
            api: api, evaluation: eval, objects: objects, headline: headline,
            webhook: s.certManager, authToken: nil, catalog: catalog)
    }

    /// A status snapshot on a time axis: each Application's last sync operation (ArgoCD's
    /// startedAt..finishedAt), from the earliest start to the snapshot.
    public static func timeline(status s: PlatformStatus, diagnosis: Diagnosis?, clusterName: String) -> RunTimeline {
        let generated = RFC3339.parse(s.generatedAt) ?? Date()
        let starts = s.waves.flatMap(\.apps).compactMap { $0.startedAt.flatMap(Readiness.parseTime) }
        let origin = starts.min() ?? s.timings.rootCreatedAt.flatMap(Readiness.parseTime) ?? generated
        func t(_ d: Date) -> Double { max(0, d.timeIntervalSince(origin)) }
        let total = t(generated)
        let byName = Dictionary((diagnosis?.apps ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let blocking = s.waves.first { !$0.converged }?.wave
        var waves: [RunTimeline.Wave] = []
        for w in s.waves {
            let started = blocking == nil || w.wave <= blocking!
            var apps: [RunTimeline.App] = []
            for a in w.apps {
                var phase = RunRecorder.phase(a.phase)
                if !started && phase != .converged { phase = .waiting }
                let st = a.startedAt.flatMap(Readiness.parseTime).map(t)
                let fin = a.finishedAt.flatMap(Readiness.parseTime).map(t)
                var segments: [RunTimeline.Segment] = []
                if phase == .converged, let st {
                    segments = [
                        .init(phase: .progressing, start: st, end: fin ?? st),
                        .init(phase: .converged, start: fin ?? st, end: total)
                    ]
                } else if phase != .waiting {
                    segments = [.init(phase: phase, start: st ?? total, end: total)]
                }
                var app = RunTimeline.App(
                    name: a.name, phase: phase, reason: a.reason, diagnosis: nil, summary: nil, segments: segments)
                if let d = byName[a.name], let diagnosis {
                    app.diagnosis = RunRecorder.appDiagnosisText(d, in: diagnosis, catalog: .default)
                    app.summary = RunRecorder.summary(d, in: diagnosis, catalog: .default)
                } else if phase != .converged && phase != .waiting {
                    app.summary = "\(a.name) (wave \(w.wave)): \(a.reason)"
                }
                apps.append(app)
            }
            let appStarts = w.apps.compactMap { $0.startedAt.flatMap(Readiness.parseTime).map(t) }
            let appEnds = w.apps.compactMap { $0.finishedAt.flatMap(Readiness.parseTime).map(t) }
            let start = started ? appStarts.min() : nil
            let end = w.converged ? appEnds.max() : nil
            let secs = w.seconds ?? start.map { (end ?? total) - $0 } ?? 0
            waves.append(
                RunTimeline.Wave(
                    wave: w.wave, start: start, end: end, converged: w.converged,
                    blockedBy: started ? nil : blocking,
                    seconds: (max(0, secs) * 1000).rounded() / 1000, apps: apps))
        }
        let error: String? =
            s.cluster.reachable ? (s.problems.first) : ("cluster not reachable: " + (s.cluster.error ?? "no answer"))
        return RunTimeline(
            schemaVersion: RunTimeline.currentSchemaVersion, command: "status", clusterName: clusterName,
            startedAt: RFC3339.format(origin), seconds: (total * 1000).rounded() / 1000,
            outcome: s.converged ? "converged" : "not-converged", timeoutAt: nil, interruptedAt: nil,
            headline: diagnosis?.headline, diagnosis: diagnosis.map(Diagnoser.render), error: s.converged ? nil : error,
            steps: [], waves: waves, waitStart: nil)
    }
}

extension RunReports {
    /// A recorder when --junit or --timeline was given.
    public static func recorder(_ options: RunReportOptions, command: String, ctx: AppContext, stepIDs: [String] = [])
        -> RunRecorder?
    {
        options.isEmpty
            ? nil
            : RunRecorder(
                command: command, clusterName: ctx.target.clusterName, clock: ctx.host.clock, stepIDs: stepIDs)
    }

    /// Ends the recording for a thrown error (Ctrl-C: interrupted, with what was known) and
    /// writes the files.
    public static func finish(
        _ recorder: RunRecorder?, _ options: RunReportOptions, ctx: AppContext, error: (any Error)? = nil
    ) {
        guard let recorder else { return }
        if let error {
            if error is CancellationError || error is PipelineInterrupted || Task.isCancelled {
                recorder.interrupted()
            } else {
                let text: String
                if let e = error as? AphexError {
                    text = e.message + (e.detail.map { "\n" + $0 } ?? "")
                } else {
                    text = String(describing: error)
                }
                recorder.ended("failed", error: text)
            }
        }
        write(recorder.timeline(), options, reporter: ctx.reporter)
    }
}
