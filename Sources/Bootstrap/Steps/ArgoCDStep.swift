import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// ArgoCD's install, then the secret keys that live in Secrets ArgoCD creates
    /// (argocd-secret's oidc.dex.clientSecret, copied from the stored dex-secrets value).
    static let argocd = PipelineStep("argocd", "Installing ArgoCD") { state in
        // Tekton needs nothing of ArgoCD's: its apply runs alongside (the Tekton step then waits
        // for what is left), which takes the apply phase from the sum of both to the longer one.
        if !state.dryRun && !InstallSteps.sequential(state.app) { state.startEarly(tekton) }
        let install = StepResult(
            try await InstallSteps.argocd(
                state.app, api: stepAPI(state),
                kubeconfig: stepKubeconfig(state),
                context: state.kubeContext,
                components: state.options.components,
                dryRun: state.dryRun, ownership: try state.ownership()))
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
}
