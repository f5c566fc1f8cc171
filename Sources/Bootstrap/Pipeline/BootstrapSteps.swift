import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The bootstrap steps, in order: prerequisites -> cluster -> namespaces -> secrets ->
/// ArgoCD -> Tekton -> ArgoCD config -> platform-root -> wait (summary follows).
enum BootstrapSteps {
    static func standard(_ options: BootstrapOptions) -> [PipelineStep] {
        var steps: [PipelineStep] = [
            CoreSteps.prerequisites,
            cluster,
            CoreSteps.namespaces,
            secrets,
            argocd,
            tekton,
            argocdConfig,
            platformRoot,
        ]
        if !options.noWait { steps.append(wait) }
        return steps
    }

    static let cluster = PipelineStep("cluster", "Preparing the cluster") { state in
        // One run per cluster name: a second bootstrap (or destroy, kind delete ...) waits here
        // until this one ends, so two runs never create, clean up or fill the same cluster at once.
        if !state.dryRun && state.lock == nil {
            state.lock = try await ClusterLock.acquire(state.app.host, name: state.app.target.clusterName,
                                                       command: "aphex bootstrap")
        }
        return try await ClusterStep.perform(state)
    }

    static let secrets = SecretsPipeline.step

    /// ArgoCD's install, then the secret keys that live in Secrets ArgoCD creates
    /// (argocd-secret's oidc.dex.clientSecret, copied from the stored dex-secrets value).
    static let argocd = PipelineStep("argocd", "Installing ArgoCD") { state in
        // Tekton needs nothing of ArgoCD's: its apply runs alongside (the Tekton step then waits
        // for what is left), which takes the apply phase from the sum of both to the longer one.
        if !state.dryRun && !InstallSteps.sequential(state.app) { state.startEarly(tekton) }
        let install = try await InstallSteps.argocdStep.body(state)
        let deferred = try await SecretsPipeline.completeDeferred(state)
        var result = install
        // Only the keys that waited for ArgoCD belong here (a dry run against a cluster that does
        // not exist yet would otherwise list every secret a second time).
        result.changes += deferred.changes.filter { $0.contains("argocd/argocd-secret") }
        result.commands += deferred.commands
        if result.outcome == .unchanged && deferred.outcome == .done { result.outcome = .done }
        if !deferred.changes.isEmpty && !deferred.detail.isEmpty { result.detail += "; " + deferred.detail }
        return result
    }

    static let tekton = InstallSteps.tektonStep
    static let argocdConfig = InstallSteps.argocdConfigStep
    static let platformRoot = InstallSteps.platformRootStep
    static let wait = PipelineStep("wait", "Waiting for convergence") { try await ConvergenceStep.run($0) }

    static func showSecretsAtEnd(_ state: PipelineState) async throws {
        try await SecretsPipeline.showSecretsAtEnd(state)
    }
}
