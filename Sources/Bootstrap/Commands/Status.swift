import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension Commands {
    /// `aphex status`: one snapshot (or `--watch`: one per interval). Exit 0 converged, 1 not.
    public static func status(_ ctx: AppContext, _ options: StatusOptions) async throws -> ExitStatus {
        let connection = try await connectCluster(ctx)
        return try await status(ctx, options, api: connection.api, server: connection.server)
    }

    /// `aphex wait`: until every wave is converged. Exit 0, 1 at once on a failure, 3 on timeout.
    public static func wait(_ ctx: AppContext, _ options: WaitOptions) async throws -> ExitStatus {
        let connection = try await connectCluster(ctx)
        return try await wait(ctx, options, api: connection.api)
    }

    /// `aphex status` against a given API (tests, bootstrap).
    public static func status(_ ctx: AppContext, _ options: StatusOptions, api: any KubeAPI, server: String?,
                              catalog: ConvergenceCatalog = .default) async throws -> ExitStatus {
        let focus: PlatformStatus.Focus? = options.wave != nil || options.app != nil
            ? PlatformStatus.Focus(wave: options.wave, app: options.app) : nil
        let kubeconfig = ctx.resolvedKubeconfig()
        let stdoutTTY = isatty(1) == 1
        var last: PlatformStatus?
        repeat {
            let snapshot = await StatusSnapshot.take(api: api, kubeconfig: kubeconfig, context: ctx.target.context, server: server,
                                                     focus: focus, catalog: catalog)
            last = snapshot
            switch ctx.format {
            case .json:
                ctx.output.write(encode(snapshot, pretty: !options.watch) + "\n")
            default:
                let clear = options.watch && stdoutTTY ? "\u{1B}[H\u{1B}[2J" : ""
                let stamp = options.watch ? "aphex status --watch (every \(formatDuration(options.interval)); Ctrl-C to stop)  \(snapshot.generatedAt)\n\n" : ""
                ctx.output.write(clear + stamp + StatusSnapshot.renderText(snapshot))
            }
            if !snapshot.cluster.reachable && !options.watch {
                RunReports.write(RunReports.timeline(status: snapshot, diagnosis: nil, clusterName: ctx.target.clusterName),
                                 options.report, reporter: ctx.reporter)
                throw AphexError(.failed, "Cannot reach the Kubernetes API" + (server.map { " at \($0)" } ?? "")
                                 + " (kubeconfig \(kubeconfig)): \(snapshot.cluster.error ?? "no answer"). Is the cluster running? Check `kind get clusters` or `systemctl status k3s`, or pass --kubeconfig/--context for another cluster.")
            }
            if let app = options.app, snapshot.cluster.reachable, snapshot.waves.isEmpty, snapshot.root.found, !options.watch {
                throw AphexError(.usage, "Application '\(app)' is not a child of \(catalog.rootApplication). Run `aphex status` without --app to list the Applications, then pass one of their names.")
            }
            if options.watch {
                do { try await ctx.host.clock.sleep(for: options.interval) } catch { break }
            }
        } while options.watch && !Task.isCancelled
        if !options.report.isEmpty, let last {
            let diagnosis = await RunReports.statusDiagnosis(api: api, snapshot: last, catalog: catalog)
            RunReports.write(RunReports.timeline(status: last, diagnosis: diagnosis, clusterName: ctx.target.clusterName),
                             options.report, reporter: ctx.reporter)
        }
        return last?.converged == true ? .ok : .failed
    }

    /// `aphex wait` against a given API (tests).
    public static func wait(_ ctx: AppContext, _ options: WaitOptions, api: any KubeAPI,
                            catalog: ConvergenceCatalog = .default) async throws -> ExitStatus {
        let scope = options.wave.map { "waves up to \($0)" } ?? "every wave"
        ctx.reporter.emit(.stepStarted(id: "wait", title: "Waiting ≤ \(formatDuration(options.timeout)) for \(scope) to converge"))
        var options = options
        let recorder = RunReports.recorder(options.report, command: "wait", ctx: ctx)
        if let recorder { options.observer = recorder; recorder.waitBegins() }
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
            ctx.reporter.emit(.stepFinished(id: "wait", title: "Platform converged", outcome: .done, seconds: r.seconds, detail: nil))
            if ctx.format == .json {
                ctx.output.write(encode(WaitDocument(schemaVersion: PlatformStatus.currentSchemaVersion, outcome: "converged", result: r, diagnosis: nil), pretty: true) + "\n")
            } else {
                ctx.output.write(renderTimings(r))
            }
            return .ok
        case .failed(let d, let r), .timedOut(let d, let r):
            let timedOut: Bool
            if case .timedOut = outcome { timedOut = true } else { timedOut = false }
            ctx.reporter.emit(.stepFinished(id: "wait", title: timedOut ? "Timed out" : "Convergence failed", outcome: .failed, seconds: r.seconds, detail: nil))
            if ctx.format == .json {
                ctx.output.write(encode(WaitDocument(schemaVersion: PlatformStatus.currentSchemaVersion, outcome: timedOut ? "timeout" : "failed",
                                                     result: r, diagnosis: d), pretty: true) + "\n")
            }
            throw d.error(timedOut: timedOut)
        }
    }

    /// "Converged in 3m2s. Waves: 0 12s, 10 1m40s, ..." (stdout).
    public static func renderTimings(_ r: ConvergenceResult) -> String {
        var out = "Converged in \(formatDuration(.milliseconds(Int64(r.seconds * 1000)))).\n"
        if !r.waves.isEmpty {
            out += renderTable(columns: ["WAVE", "APPS", "TOOK"], rows: r.waves.map {
                [String($0.wave), $0.apps.joined(separator: ","), r.alreadyConverged.contains($0.wave) ? "already converged" : formatDuration(.milliseconds(Int64($0.seconds * 1000)))]
            })
        }
        return out
    }

    static func encode<T: Encodable>(_ value: T, pretty: Bool) -> String {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// `aphex wait --output json` (stdout): the result, and the diagnosis when not converged.
public struct WaitDocument: Sendable, Codable, Equatable {
    public var schemaVersion: Int
    /// converged | failed | timeout
    public var outcome: String
    public var result: ConvergenceResult
    public var diagnosis: Diagnosis?
}
