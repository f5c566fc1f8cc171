import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// "argocd-config": aphex's settings in ArgoCD's ConfigMaps (InstallSteps.swift has what the
    /// install steps share).
    static let argocdConfig = PipelineStep("argocd-config", "Configuring ArgoCD") { state in
        StepResult(
            try await InstallSteps.argocdConfig(
                state.app, api: stepAPI(state),
                kubeconfig: stepKubeconfig(state), context: state.kubeContext,
                components: state.options.components, dryRun: state.dryRun))
    }
}
