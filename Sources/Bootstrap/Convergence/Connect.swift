import ClusterDrivers
import Foundation

/// The API client for the cluster the user selected, and its server URL for messages.
struct ClusterConnection: Sendable {
    var api: any KubeAPI
    var server: String?
}

/// Builds the client from the kubeconfig (--kubeconfig, aphex's own, $KUBECONFIG, ~/.kube/config).
func connectCluster(_ ctx: AppContext) async throws -> ClusterConnection {
    let path = ctx.resolvedKubeconfig()
    guard FileManager.default.fileExists(atPath: path) else {
        throw AphexError(.failed, "No kubeconfig at \(path): aphex cannot reach a cluster. Create one with `aphex bootstrap`, or pass --kubeconfig PATH (and --context NAME) for an existing cluster.")
    }
    // The libcurl client lands with the kubeapi branch (makeKubeAPI(host:kubeconfigPath:context:)).
    throw AphexError(.failed, "The Kubernetes API client is not available in this build yet (kubeconfig \(path)).")
}
