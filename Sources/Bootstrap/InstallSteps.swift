import ArgoInstall
import ClusterDrivers
import Foundation

/// What an install step reports to the pipeline (changed / unchanged / planned, with commands).
public typealias InstallStepReport = InstallReport

/// The bootstrap pipeline's "ArgoCD", "Tekton", "ArgoCD config" and "platform-root" steps.
/// Each checks before it acts (a re-run changes nothing), supports a dry run (describes what
/// it would do and the commands, touches nothing) and throws `AphexError`s with the exit
/// status to use (1 failed or digest refused, 2 bad input, 3 timed out, 4 kubectl missing).
public enum InstallSteps {
    /// Set APHEX_APPLY_SEQUENTIAL=1 to apply bundles one after another (benchmark baseline).
    public static let sequentialEnvironmentKey = "APHEX_APPLY_SEQUENTIAL"

    public static func environment(_ ctx: AppContext, api: any KubeAPI, kubeconfig: String,
                                   context: String?) -> InstallEnvironment {
        InstallEnvironment(runner: ctx.runner, api: api, clock: ctx.host.clock, reporter: ctx.reporter,
                           kubectl: Kubectl(kubeconfig: kubeconfig, context: context))
    }

    public static func fetcher(_ ctx: AppContext, components: ComponentOptions) -> ManifestFetcher {
        ManifestFetcher(transport: ctx.host.makeTransport(TLSOptions()), clock: ctx.host.clock,
                        reporter: ctx.reporter,
                        settings: .standard(ctx.host, manifestsDir: components.manifestsDir))
    }

    /// "ArgoCD": the ArgoCD release manifest (namespace argocd, CRDs, the rest).
    public static func argocd(_ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
                              components: ComponentOptions, dryRun: Bool) async throws -> InstallStepReport {
        try await install(["argocd"], ctx, api: api, kubeconfig: kubeconfig, context: context,
                          components: components, dryRun: dryRun)
    }

    /// "Tekton": pipelines, triggers and dashboard concurrently, core interceptors after triggers.
    public static func tekton(_ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
                              components: ComponentOptions, dryRun: Bool) async throws -> InstallStepReport {
        try await install(Catalog.tektonNames, ctx, api: api, kubeconfig: kubeconfig, context: context,
                          components: components, dryRun: dryRun)
    }

    /// Any set of catalog components in one go (all five: ArgoCD and Tekton concurrently).
    public static func install(_ names: [String], _ ctx: AppContext, api: any KubeAPI, kubeconfig: String,
                               context: String?, components: ComponentOptions,
                               dryRun: Bool) async throws -> InstallStepReport {
        let request = ComponentRequest(names: names, versions: components.versions,
                                       componentsFile: components.configFile)
        let sequential = ["1", "true", "yes"].contains(ctx.host.environment[sequentialEnvironmentKey]?.lowercased() ?? "")
        return try await ComponentInstall.run(request, fetcher: fetcher(ctx, components: components),
                                              env: environment(ctx, api: api, kubeconfig: kubeconfig, context: context),
                                              dryRun: dryRun, sequential: sequential)
    }

    /// "ArgoCD config": the Application health check in argocd-cm, server.insecure with
    /// --argocd-insecure (and a restart of argocd-server when that changed), then wait for
    /// argocd-server, -repo-server, -applicationset-controller and -application-controller.
    public static func argocdConfig(_ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
                                    components: ComponentOptions, dryRun: Bool,
                                    readyTimeout: Duration = .seconds(300)) async throws -> InstallStepReport {
        try await ArgoCDConfig.configure(environment(ctx, api: api, kubeconfig: kubeconfig, context: context),
                                         insecure: components.argocdInsecure, dryRun: dryRun,
                                         readyTimeout: readyTimeout)
    }

    /// "platform-root": the root Application for the deployment, then a refresh request.
    public static func platformRoot(_ ctx: AppContext, api: any KubeAPI, kubeconfig: String, context: String?,
                                    deployment: Deployment, root: RootAppOptions,
                                    dryRun: Bool) async throws -> InstallStepReport {
        let app = RootApplication(deployment: deployment, repoURL: root.repoURL, revision: root.revision, path: root.path)
        return try await app.ensure(environment(ctx, api: api, kubeconfig: kubeconfig, context: context), dryRun: dryRun)
    }
}
