import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `aphex bootstrap`: the ordered, resumable pipeline, and its result on stdout.
public enum BootstrapRun {
    public static func run(_ ctx: AppContext, _ options: BootstrapOptions) async throws -> ExitStatus {
        // Inputs that can be checked before anything changes (a malformed --secrets-from file
        // is exit 2 before a cluster exists).
        try SecretsPipeline.validateInputs(options, environment: ctx.host.environment)
        try InstallSteps.validateInputs(ctx, options.components)
        let steps = BootstrapSteps.standard(options)
        // --junit/--timeline: a recorder sees every step (through the reporter) and the wait.
        var ctx = ctx
        let recorder = RunReports.recorder(options.report, command: "bootstrap", ctx: ctx, stepIDs: steps.map(\.id))
        if let recorder { ctx.host.reporter = recorder.wrap(ctx.host.reporter) }
        let state = PipelineState(app: ctx, options: options)
        state.convergenceObserver = recorder
        let pipeline = Pipeline(steps: steps)
        defer { state.lock?.release() }  // taken by the cluster step (one run per cluster)
        var failure: (any Error)?
        do {
            try await pipeline.run(state)
        } catch let interrupted as PipelineInterrupted {
            writeTimings(state)
            RunReports.finish(recorder, options.report, ctx: ctx, error: interrupted)
            throw AphexError(
                .interrupted,
                """
                Interrupted during \"\(interrupted.step)\". Nothing stored was lost: re-run \
                `\(resumeCommand(ctx, options))` to resume where it stopped (finished steps are skipped, stored \
                secrets are kept).
                """
            )
        } catch {
            failure = error
        }
        writeTimings(state)
        if failure == nil {
            recorder?.ended(
                state.converged == true
                    ? "converged" : (options.noWait || options.dryRun ? "installed" : "not-converged"))
        }
        RunReports.finish(recorder, options.report, ctx: ctx, error: failure)
        if let failure {
            if ctx.format == .json { ctx.output(BootstrapResult(state, argocdURL: nil, join: nil, error: failure)) }
            throw failure
        }
        let url = !options.dryRun ? await argocdURL(state) : nil
        let join = await K3sJoinHint.make(state)
        ctx.output(BootstrapResult(state, argocdURL: url, join: join, error: nil))
        if options.showSecrets && !options.dryRun {
            try await BootstrapSteps.showSecretsAtEnd(state)
        }
        return .ok
    }

    static func writeTimings(_ state: PipelineState) {
        guard let file = state.options.timingsFile else { return }
        let text = AppContext.json(BootstrapTimings(state), pretty: true) + "\n"
        do {
            try PrivateFiles.write(Array(text.utf8), to: file, mode: 0o644)
        } catch {
            state.reporter.warn("could not write the timings file \(file): \(error)")
        }
    }

    /// The command line that resumes this run.
    static func resumeCommand(_ ctx: AppContext, _ o: BootstrapOptions) -> String {
        var argv = ["aphex", "bootstrap", "--deployment", o.deployment.rawValue]
        if ctx.target.clusterName != "platform-cluster" { argv += ["--cluster-name", ctx.target.clusterName] }
        if o.useExisting { argv.append("--use-existing") }
        if let k = ctx.target.kubeconfig { argv += ["--kubeconfig", k] }
        if let c = ctx.target.context { argv += ["--context", c] }
        if let f = o.secretsFrom { argv += ["--secrets-from", f] }
        return Shell.quote(argv)
    }

    /// The ArgoCD URL when an Ingress for argocd-server exists.
    static func argocdURL(_ state: PipelineState) async -> String? {
        guard let api = try? state.api() else { return nil }
        let ingresses = ResourceRef(group: "networking.k8s.io", version: "v1", resource: "ingresses", kind: "Ingress")
        guard let items = try? await api.list(ingresses, namespace: "argocd") else { return nil }
        for ing in items {
            guard let rule = ing[path: "spec", "rules"]?[0], let host = rule["host"]?.string else { continue }
            let tls = !(ing[path: "spec", "tls"]?.array ?? []).isEmpty
            return (tls ? "https://" : "http://") + host
        }
        return nil
    }
}
