import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `aphex wait`: until every wave is converged. Exit 0, 1 at once on a failure, 3 on timeout.
public enum WaitReport {
    /// Against a given API (the command connects first; tests pass a fake).
    public static func run(
        _ ctx: AppContext, _ options: WaitOptions, api: any KubeAPI,
        catalog: ConvergenceCatalog = .default
    ) async throws -> ExitStatus {
        let scope = options.wave.map { "waves up to \($0)" } ?? "every wave"
        ctx.reporter.emit(
            .stepStarted(id: "wait", title: "Waiting ≤ \(formatDuration(options.timeout)) for \(scope) to converge"))
        var options = options
        let recorder = RunReports.recorder(options.report, command: "wait", ctx: ctx)
        if let recorder {
            options.observer = recorder
            recorder.waitBegins()
        }
        let outcome: WaitOutcome
        do {
            outcome = try await ConvergenceWaiter(ctx: ctx, api: api, options: options, catalog: catalog).run()
        } catch {
            RunReports.finish(recorder, options.report, ctx: ctx, error: error)
            throw error
        }
        RunReports.finish(recorder, options.report, ctx: ctx)
        switch outcome {
        case .converged(let r):
            ctx.reporter.emit(
                .stepFinished(id: "wait", title: "Platform converged", outcome: .done, seconds: r.seconds, detail: nil))
            ctx.output(WaitDocument(outcome: "converged", result: r, diagnosis: nil))
            return .ok
        case .failed(let d, let r), .timedOut(let d, let r):
            let timedOut: Bool
            if case .timedOut = outcome { timedOut = true } else { timedOut = false }
            ctx.reporter.emit(
                .stepFinished(
                    id: "wait", title: timedOut ? "Timed out" : "Convergence failed", outcome: .failed,
                    seconds: r.seconds, detail: nil))
            ctx.output(WaitDocument(outcome: timedOut ? "timeout" : "failed", result: r, diagnosis: d))
            throw d.error(timedOut: timedOut)
        }
    }

    /// "Converged in 3m2s. Waves: 0 12s, 10 1m40s, ..." (stdout).
    public static func renderTimings(_ r: ConvergenceResult) -> String {
        var out = "Converged in \(formatDuration(.milliseconds(Int64(r.seconds * 1000)))).\n"
        if !r.waves.isEmpty {
            out += renderTable(
                columns: ["WAVE", "APPS", "TOOK"],
                rows: r.waves.map {
                    [
                        String($0.wave), $0.apps.joined(separator: ","),
                        r.alreadyConverged.contains($0.wave)
                            ? "already converged" : formatDuration(.milliseconds(Int64($0.seconds * 1000)))
                    ]
                })
        }
        return out
    }
}

/// `aphex wait --output json` (stdout): the result, and the diagnosis when not converged. As
/// text: the timings when converged; nothing otherwise (the diagnosis is the error, on stderr).
public struct WaitDocument: Sendable, Codable, Equatable, OutputData {
    public var schemaVersion: Int
    /// converged | failed | timeout
    public var outcome: String
    public var result: ConvergenceResult
    public var diagnosis: Diagnosis?

    public init(
        schemaVersion: Int = PlatformStatus.currentSchemaVersion, outcome: String, result: ConvergenceResult,
        diagnosis: Diagnosis?
    ) {
        self.schemaVersion = schemaVersion
        self.outcome = outcome
        self.result = result
        self.diagnosis = diagnosis
    }

    public var description: String { outcome == "converged" ? WaitReport.renderTimings(result) : "" }
}
