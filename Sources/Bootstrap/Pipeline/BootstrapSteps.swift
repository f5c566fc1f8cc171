import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The bootstrap steps, in order: prerequisites -> cluster -> namespaces -> secrets ->
/// ArgoCD -> Tekton -> ArgoCD config -> platform-root -> wait (summary follows). Each step
/// is in Steps/, a file named after it.
enum BootstrapSteps {
    static func standard(_ options: BootstrapOptions) -> [PipelineStep] {
        var steps: [PipelineStep] = [
            prerequisites,
            cluster,
            namespaces,
            secrets,
            argocd,
            tekton,
            argocdConfig,
            platformRoot
        ]
        if !options.noWait { steps.append(wait) }
        return steps
    }

    static func showSecretsAtEnd(_ state: PipelineState) async throws {
        try await SecretsPipeline.showSecretsAtEnd(state)
    }
}
