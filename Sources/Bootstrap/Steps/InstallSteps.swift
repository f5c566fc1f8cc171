import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// What an install step reports to the pipeline (changed / unchanged / planned, with commands).
public typealias InstallStepReport = InstallReport

/// What the bootstrap pipeline's "ArgoCD", "Tekton", "ArgoCD config" and "platform-root" steps
/// share (each step is in its own file: ArgoCDStep.swift, ...), and the installs themselves.
/// Each checks before it acts (a re-run changes nothing), supports a dry run (describes what
/// it would do and the commands, touches nothing) and throws `AphexError`s with the exit
/// status to use (1 failed or digest refused, 2 bad input, 3 timed out, 4 kubectl missing).
public enum InstallSteps {
    /// Set APHEX_APPLY_SEQUENTIAL=1 to apply bundles one after another (benchmark baseline).
    public static let sequentialEnvironmentKey = "APHEX_APPLY_SEQUENTIAL"

    /// APHEX_APPLY_SEQUENTIAL=1: one bundle, one kubectl process at a time, Tekton after ArgoCD.
    public static func sequential(_ ctx: AppContext) -> Bool {
        ["1", "true", "yes"].contains(ctx.host.environment[sequentialEnvironmentKey]?.lowercased() ?? "")
    }

    public static func environment(
        _ ctx: AppContext, api: any KubeAPI, kubeconfig: String,
        context: String?, ownership: OwnershipRecord? = nil
    ) -> InstallEnvironment {
        var env = InstallEnvironment(
            runner: ctx.runner, api: api, clock: ctx.host.clock, reporter: ctx.reporter,
            kubectl: Kubectl(kubeconfig: kubeconfig, context: context, runner: ctx.runner),
            ownership: ownership)
        if sequential(ctx) { env.maxApplyStreams = 1 }
        return env
    }

    public static func fetcher(_ ctx: AppContext, components: ComponentOptions) -> ManifestFetcher {
        var settings = FetchSettings.standard(ctx.host, manifestsDir: components.manifestsDir)
        settings.requirePinned = requirePinned(ctx, components)
        return ManifestFetcher(
            transport: ctx.host.makeTransport(TLSOptions()), clock: ctx.host.clock,
            reporter: ctx.reporter, settings: settings)
    }

    /// --require-pinned or APHEX_REQUIRE_PINNED=1.
    public static func requirePinned(_ ctx: AppContext, _ components: ComponentOptions) -> Bool {
        PinPolicy.required(flag: components.requirePinned, environment: ctx.host.environment)
    }

    /// The component inputs, checked before anything changes (exit 2, cluster untouched): the
    /// components file parses (no YAML anchors or aliases), every component has a pin when
    /// --require-pinned asks for it, and no manifest in --manifests-dir holds YAML anchors,
    /// aliases or runaway nesting (checked event by event: nothing is composed).
    public static func validateInputs(_ ctx: AppContext, _ components: ComponentOptions) throws {
        let resolved = try ComponentRequest(
            names: Catalog.names, versions: components.versions,
            componentsFile: components.configFile
        ).resolve()
        if requirePinned(ctx, components) { try ManifestFetcher.requirePins(resolved) }
        guard let dir = components.manifestsDir else { return }
        for c in resolved {
            let path = (dir as NSString).appendingPathComponent(c.fileName)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            try Manifests.checkYAML(String(decoding: data, as: UTF8.self), origin: "the \(c.label) manifest (\(path))")
        }
    }

    /// "ArgoCD": the ArgoCD release manifest (namespace argocd, CRDs, the rest).
    public static func argocd(
        _ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
        components: ComponentOptions, dryRun: Bool,
        ownership: OwnershipRecord? = nil
    ) async throws -> InstallStepReport {
        try await install(
            ["argocd"], ctx, api: api, kubeconfig: kubeconfig, context: context,
            components: components, dryRun: dryRun, ownership: ownership)
    }

    /// "Tekton": pipelines, triggers and dashboard concurrently, core interceptors after triggers.
    public static func tekton(
        _ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
        components: ComponentOptions, dryRun: Bool,
        ownership: OwnershipRecord? = nil
    ) async throws -> InstallStepReport {
        try await install(
            Catalog.tektonNames, ctx, api: api, kubeconfig: kubeconfig, context: context,
            components: components, dryRun: dryRun, ownership: ownership)
    }

    /// Any set of catalog components in one go (all five: ArgoCD and Tekton concurrently).
    public static func install(
        _ names: [String], _ ctx: AppContext, api: any KubeAPI, kubeconfig: String,
        context: String?, components: ComponentOptions,
        dryRun: Bool, ownership: OwnershipRecord? = nil
    ) async throws -> InstallStepReport {
        let request = ComponentRequest(
            names: names, versions: components.versions,
            componentsFile: components.configFile)
        return try await ComponentInstall.run(
            request, fetcher: fetcher(ctx, components: components),
            env: environment(
                ctx, api: api, kubeconfig: kubeconfig, context: context,
                ownership: ownership),
            dryRun: dryRun, sequential: sequential(ctx))
    }

    /// "ArgoCD config": the Application health check in argocd-cm, server.insecure with
    /// --argocd-insecure (and a restart of argocd-server when that changed), then wait for
    /// argocd-server, -repo-server, -applicationset-controller and -application-controller.
    public static func argocdConfig(
        _ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
        components: ComponentOptions, dryRun: Bool,
        readyTimeout: Duration = .seconds(300)
    ) async throws -> InstallStepReport {
        try await ArgoCDConfig.configure(
            environment(ctx, api: api, kubeconfig: kubeconfig, context: context),
            insecure: components.argocdInsecure, dryRun: dryRun,
            readyTimeout: readyTimeout)
    }

    /// "platform-root": the root Application for the deployment, then a refresh request.
    public static func platformRoot(
        _ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
        deployment: Deployment, root: RootAppOptions,
        dryRun: Bool, ownership: OwnershipRecord? = nil
    ) async throws -> InstallStepReport {
        let app = RootApplication(
            deployment: deployment, repoURL: root.repoURL, revision: root.revision, path: root.path)
        return try await app.ensure(
            environment(ctx, api: api, kubeconfig: kubeconfig, context: context, ownership: ownership),
            dryRun: dryRun)
    }
}

extension StepResult {
    /// A pipeline step result from an install report: changes = what changed (or would),
    /// commands = the dry run's commands.
    public init(_ report: InstallStepReport) {
        var commands: [String] = []
        var changes = report.changed
        for line in report.planned {
            if let r = line.range(of: ": $ ") {
                changes.append(String(line[..<r.lowerBound]))
                commands.append(String(line[r.upperBound...]))
            } else {
                changes.append(line)
            }
        }
        let detail: String
        switch report.outcome {
        case .unchanged: detail = report.unchanged.joined(separator: "; ")
        case .planned: detail = "would " + changes.joined(separator: "; ")
        default: detail = report.changed.joined(separator: "; ")
        }
        self.init(report.outcome, detail, changes: changes, commands: commands)
    }
}

/// A dry run may plan against a cluster that does not exist yet: then every read fails and
/// the steps plan a fresh install.
func stepAPI(_ state: PipelineState) throws -> any KubeAPI {
    try state.api()
}

func stepKubeconfig(_ state: PipelineState) throws -> String {
    if state.dryRun { return (try? state.requireKubeconfig()) ?? "KUBECONFIG" }
    return try state.requireKubeconfig()
}

struct NoClusterAPI: KubeAPI {
    let error = KubeAPIError.transport(.other("the cluster does not exist yet (dry run)"))
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? { throw error }
    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    { throw error }
    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    { throw error }
    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { $0.finish(throwing: error) }
    }
}
