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
        throw notYetAvailable("bootstrap (cluster step)")
    }
    static let secrets = PipelineStep("secrets", "Generating and storing secrets") { state in
        throw notYetAvailable("bootstrap (secrets step)")
    }
    static let argocd = PipelineStep("argocd", "Installing ArgoCD") { state in
        throw notYetAvailable("bootstrap (ArgoCD step)")
    }
    static let tekton = PipelineStep("tekton", "Installing Tekton") { state in
        throw notYetAvailable("bootstrap (Tekton step)")
    }
    static let argocdConfig = PipelineStep("argocd-config", "Configuring ArgoCD") { state in
        throw notYetAvailable("bootstrap (ArgoCD config step)")
    }
    static let platformRoot = PipelineStep("platform-root", "Applying platform-root") { state in
        throw notYetAvailable("bootstrap (platform-root step)")
    }
    static let wait = PipelineStep("wait", "Waiting for convergence") { state in
        throw notYetAvailable("bootstrap (wait step)")
    }

    static func showSecretsAtEnd(_ state: PipelineState) async throws {
        throw notYetAvailable("bootstrap --show-secrets")
    }
}

/// The production API factory (libcurl KubeClient; kubectl --raw for exec-plugin kubeconfigs).
let defaultMakeAPI: @Sendable (HostContext, String, String?) throws -> any KubeAPI = { host, kubeconfig, context in
    throw notYetAvailable("the Kubernetes API client")
}
