import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// "tekton": the Tekton release (InstallSteps.swift has what the install steps share). It
    /// starts early, alongside ArgoCD's install (ArgoCDStep.swift).
    static let tekton = PipelineStep("tekton", "Installing Tekton") { state in
        StepResult(
            try await InstallSteps.tekton(
                state.app, api: stepAPI(state), kubeconfig: stepKubeconfig(state),
                context: state.kubeContext, components: state.options.components,
                dryRun: state.dryRun, ownership: try state.ownership()))
    }
}
