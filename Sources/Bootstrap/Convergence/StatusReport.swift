import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `aphex status`: one snapshot (or `--watch`: one per interval), written to stdout, and the
/// verdict (exit 0 converged, 1 not).
public enum StatusReport {
    /// Against a given API (the command connects first; tests pass a fake).
    public static func run(
        _ ctx: AppContext, _ options: StatusOptions, api: any KubeAPI, server: String?,
        catalog: ConvergenceCatalog = .default
    ) async throws -> ExitStatus {
        let focus: PlatformStatus.Focus? =
            options.wave != nil || options.app != nil
            ? PlatformStatus.Focus(wave: options.wave, app: options.app) : nil
        let kubeconfig = ctx.resolvedKubeconfig()
        let stdoutTTY = isatty(1) == 1
        var last: PlatformStatus?
        repeat {
            let snapshot = await StatusSnapshot.take(
                api: api, kubeconfig: kubeconfig, context: ctx.target.context,
                server: server, focus: focus, catalog: catalog)
            last = snapshot
            if !options.watch {
                ctx.output(snapshot)
            } else if ctx.format == .json {
                // One document per refresh, one per line (JSON Lines).
                ctx.output.write(AppContext.json(snapshot, pretty: false) + "\n")
            } else {
                let clear = stdoutTTY ? "\u{1B}[H\u{1B}[2J" : ""
                let stamp =
                    "aphex status --watch (every \(formatDuration(options.interval)); Ctrl-C to stop)"
                    + "  \(snapshot.generatedAt)\n\n"
                ctx.output.write(clear + stamp + snapshot.description)
            }
            if !snapshot.cluster.reachable && !options.watch {
                RunReports.write(
                    RunReports.timeline(status: snapshot, diagnosis: nil, clusterName: ctx.target.clusterName),
                    options.report, reporter: ctx.reporter)
                throw AphexError(
                    .failed,
                    "Cannot reach the Kubernetes API" + (server.map { " at \($0)" } ?? "")
                        + """
                         (kubeconfig \(kubeconfig)): \(snapshot.cluster.error ?? "no answer"). Is the cluster \
                        running? Check `kind get clusters` or `systemctl status k3s`, or pass \
                        --kubeconfig/--context for another cluster.
                        """
                )
            }
            if let app = options.app, snapshot.cluster.reachable, snapshot.waves.isEmpty, snapshot.root.found,
                !options.watch
            {
                throw AphexError(
                    .usage,
                    """
                    Application '\(app)' is not a child of \(catalog.rootApplication). Run `aphex status` without \
                    --app to list the Applications, then pass one of their names.
                    """
                )
            }
            if options.watch {
                do { try await ctx.host.clock.sleep(for: options.interval) } catch { break }
            }
        } while options.watch && !Task.isCancelled
        if !options.report.isEmpty, let last {
            let diagnosis = await RunReports.statusDiagnosis(api: api, snapshot: last, catalog: catalog)
            RunReports.write(
                RunReports.timeline(status: last, diagnosis: diagnosis, clusterName: ctx.target.clusterName),
                options.report, reporter: ctx.reporter)
        }
        return last?.converged == true ? .ok : .failed
    }
}

/// The status document: `--output json` is the schema of docs/status-schema.md, the text the
/// wave-by-wave report.
extension PlatformStatus: OutputData {
    public var description: String { StatusSnapshot.renderText(self) }
}
