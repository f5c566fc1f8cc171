import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The API client for the cluster the user selected, and its server URL for messages.
public struct ClusterConnection: Sendable {
    public var api: any KubeAPI
    public var server: String?
}

extension AppContext {
    /// Connects to the selected cluster (--kubeconfig, aphex's own, $KUBECONFIG,
    /// ~/.kube/config) through `makeKubeAPI`; a missing or broken kubeconfig is an error that
    /// says what to pass instead.
    public func connectCluster() async throws -> ClusterConnection {
        let path = resolvedKubeconfig()
        guard Kubeconfig.exists(path) else {
            throw AphexError(
                .failed,
                """
                No kubeconfig at \(path): aphex cannot reach a cluster. Create one with `aphex bootstrap`, or \
                pass --kubeconfig PATH (and --context NAME) for an existing cluster.
                """
            )
        }
        do {
            let endpoint = try Kubeconfig.load(path: path).resolve(context: target.context)
            return ClusterConnection(api: try makeKubeAPI(host, endpoint), server: endpoint.server)
        } catch let e as AphexError {
            throw e
        } catch let e as SeamNotSetUp {
            throw e
        } catch {
            throw AphexError(
                .failed,
                """
                Cannot use the kubeconfig \(path): \(error). Fix the file, or pass --kubeconfig PATH (and \
                --context NAME) for another cluster.
                """
            )
        }
    }
}
