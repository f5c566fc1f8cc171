import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The bootstrap pipeline's "cluster" step: pick the driver for the options, ensure the
/// cluster (create, reuse or verify), and hand back the kubeconfig/context every later step
/// uses.
///
///     let access = try await ClusterStep.run(ctx, options)
///     // access.kubeconfig, access.context
public enum ClusterStep {
    /// The k3s spec to run: `spec` (from the flags) for the cluster `name`, with the
    /// installer's URL and pin from the components file (`urls`/`sha256` of k3s-installer).
    public static func k3sSpec(
        _ spec: K3sInstallSpec, name: String, timeout: Duration,
        componentsFile: ComponentsFile? = nil, requirePinned: Bool = false
    ) -> K3sInstallSpec {
        var s = spec
        s.name = name
        s.waitTimeout = timeout
        s.installerURL = componentsFile?.k3sInstallerURL
        s.installerSHA256 = componentsFile?.k3sInstallerSHA256(version: spec.resolvedVersion)
        s.requirePinned = requirePinned || spec.requirePinned
        return s
    }

    /// The driver bootstrap would use: existing (--use-existing), kind or k3s.
    public static func driver(_ ctx: AppContext, _ options: BootstrapOptions) -> any ClusterDriver {
        let name = ctx.target.clusterName
        if options.useExisting {
            return ExistingClusterDriver(
                host: ctx.host, clusterName: name, kubeconfig: ctx.resolvedKubeconfig(),
                context: ctx.target.context)
        }
        switch options.deployment {
        case .kind:
            var spec = options.kind
            spec.name = name
            spec.waitTimeout = options.clusterTimeout
            return KindDriver(host: ctx.host, spec: spec)
        case .k3s:
            // Parsed before the pipeline starts (InstallSteps.validateInputs): errors were exit 2 then.
            let file = options.components.configFile.flatMap { try? ComponentsFile.load(path: $0) }
            return K3sDriver(
                host: ctx.host,
                spec: k3sSpec(
                    options.k3s, name: name, timeout: options.clusterTimeout, componentsFile: file,
                    requirePinned: InstallSteps.requirePinned(ctx, options.components)))
        }
    }

    /// What the step would do (`--dry-run`); runs nothing.
    public static func plan(_ ctx: AppContext, _ options: BootstrapOptions) -> [PlannedAction] {
        driver(ctx, options).planEnsure()
    }

    /// Ensures the cluster and returns how to reach it. With `options.dryRun` runs nothing and
    /// returns the access the real run would produce (outcome `.planned`).
    public static func run(_ ctx: AppContext, _ options: BootstrapOptions) async throws -> ClusterAccess {
        let d = driver(ctx, options)
        if options.dryRun {
            return plannedAccess(ctx, options, driver: d)
        }
        return try await d.ensureCluster()
    }

    static func plannedAccess(_ ctx: AppContext, _ options: BootstrapOptions, driver: any ClusterDriver)
        -> ClusterAccess
    {
        let name = ctx.target.clusterName
        if options.useExisting {
            return ClusterAccess(
                driver: "existing", clusterName: name, kubeconfig: ctx.resolvedKubeconfig(),
                context: ctx.target.context, outcome: .planned)
        }
        let context: String? = options.deployment == .kind ? "kind-\(name)" : nil
        return ClusterAccess(
            driver: driver.driverName, clusterName: name,
            kubeconfig: ctx.host.kubeconfigPath(forCluster: name), context: context, outcome: .planned)
    }

    /// The driver for a cluster aphex recorded under `--cluster-name` (for `destroy` and
    /// `status`), nil when aphex manages no cluster of that name.
    public static func recordedDriver(_ ctx: AppContext) -> (any ClusterDriver)? {
        let name = ctx.target.clusterName
        guard let record = ClusterRecord.load(ctx.host, name: name) else { return nil }
        switch record.deployment {
        case "kind": return KindDriver(host: ctx.host, spec: KindClusterSpec(name: name))
        case "k3s": return K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: name))
        default: return nil
        }
    }

    /// The pipeline's "cluster" step body: ensures the cluster (or plans it with --dry-run)
    /// and sets `state.kubeconfig`, `state.kubeContext` and `state.serverURL`.
    ///
    ///     static let cluster = PipelineStep("cluster", "Preparing the cluster") { try await ClusterStep.perform($0) }
    public static func perform(_ state: PipelineState) async throws -> StepResult {
        let ctx = state.app
        let options = state.options
        let d = driver(ctx, options)
        let access: ClusterAccess
        if options.dryRun {
            access = plannedAccess(ctx, options, driver: d)
        } else {
            access = try await d.ensureCluster()
        }
        state.kubeconfig = access.kubeconfig
        state.kubeContext = access.context
        state.serverURL = Kubeconfig.serverURL(path: access.kubeconfig, context: access.context)
        return stepResult(access, plan: options.dryRun ? d.planEnsure() : nil)
    }

    /// The StepResult for an access (and the plan on --dry-run).
    public static func stepResult(_ a: ClusterAccess, plan: [PlannedAction]?) -> StepResult {
        let ms = { (s: Double) in formatDuration(.milliseconds(Int64(s * 1000))) }
        switch a.outcome {
        case .planned:
            let p = plan ?? []
            return StepResult(
                .planned, "\(a.driver) cluster \(a.clusterName); kubeconfig \(a.kubeconfig)",
                changes: p.filter { $0.command == nil }.map(\.summary)
                    + p.compactMap { a in
                        a.command?.stdin.map {
                            "stdin of `\(a.command!.argv.prefix(3).joined(separator: " "))`:\n"
                                + String(decoding: $0, as: UTF8.self)
                        }
                    },
                commands: p.compactMap { $0.command?.display })
        case .created:
            return StepResult(
                .done,
                "\(a.driver) cluster \(a.clusterName) created"
                    + (a.nodesReadySeconds.map { ", nodes Ready after \(ms($0))" } ?? "")
                    + "; kubeconfig \(a.kubeconfig)",
                changes: ["\(a.driver) cluster \(a.clusterName)", "kubeconfig \(a.kubeconfig) (0600)"])
        case .reused:
            return StepResult(
                .unchanged, "\(a.driver) cluster \(a.clusterName) healthy, reused; kubeconfig \(a.kubeconfig)")
        case .existing:
            return StepResult(
                .unchanged,
                """
                existing cluster reachable, permissions verified \
                (\(a.kubeconfig)\(a.context.map { ", context \($0)" } ?? ""))
                """
            )
        }
    }

    /// `destroy`: delete the kind cluster or uninstall k3s, with aphex's directory for it.
    /// Returns false when there was nothing to remove.
    @discardableResult
    public static func destroy(_ ctx: AppContext, deployment: Deployment) async throws -> Bool {
        let name = ctx.target.clusterName
        switch deployment {
        case .kind: return try await KindDriver(host: ctx.host, spec: KindClusterSpec(name: name)).delete()
        case .k3s: return try await K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: name)).delete()
        }
    }
}

extension BootstrapSteps {
    static let cluster = PipelineStep("cluster", "Preparing the cluster") { state in
        // One run per cluster name: a second bootstrap (or destroy, kind delete ...) waits here
        // until this one ends, so two runs never create, clean up or fill the same cluster at once.
        if !state.dryRun && state.lock == nil {
            state.lock = try await ClusterLock.acquire(
                state.app.host, name: state.app.target.clusterName,
                command: "aphex bootstrap")
        }
        return try await ClusterStep.perform(state)
    }
}
