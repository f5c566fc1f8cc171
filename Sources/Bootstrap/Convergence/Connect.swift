import AphexCore
import KubeClient
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
    guard Kubeconfig.exists(path) else {
        throw AphexError(.failed, "No kubeconfig at \(path): aphex cannot reach a cluster. Create one with `aphex bootstrap`, or pass --kubeconfig PATH (and --context NAME) for an existing cluster.")
    }
    do {
        let endpoint = try Kubeconfig.load(path: path).resolve(context: ctx.target.context)
        return ClusterConnection(api: makeKubeAPI(host: ctx.host, endpoint: endpoint), server: endpoint.server)
    } catch let e as AphexError {
        throw e
    } catch {
        throw AphexError(.failed, "Cannot use the kubeconfig \(path): \(error). Fix the file, or pass --kubeconfig PATH (and --context NAME) for another cluster.")
    }
}
