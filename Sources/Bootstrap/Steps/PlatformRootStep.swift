import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// "platform-root": the root Application (InstallSteps.swift has what the install steps share).
    static let platformRoot = PipelineStep("platform-root", "Applying platform-root") { state in
        StepResult(
            try await InstallSteps.platformRoot(
                state.app, api: stepAPI(state),
                kubeconfig: stepKubeconfig(state), context: state.kubeContext,
                deployment: state.options.deployment,
                root: state.options.root, dryRun: state.dryRun,
                ownership: try state.ownership()))
    }
}
