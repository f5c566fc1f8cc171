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
    do {
        return ClusterConnection(api: try defaultMakeAPI(ctx.host, path, ctx.target.context), server: serverURL(kubeconfig: path, context: ctx.target.context))
    } catch let e as AphexError {
        throw e
    } catch {
        throw AphexError(.failed, "Cannot use the kubeconfig \(path): \(error). Fix the file, or pass --kubeconfig PATH (and --context NAME) for another cluster.")
    }
}

/// The server URL of the kubeconfig's selected (or current) context, for messages. Best effort:
/// a light line-based read of the YAML (the client does the real parsing).
func serverURL(kubeconfig path: String, context: String?) -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    var servers: [String] = []
    for line in text.split(separator: "\n") {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("server:") {
            servers.append(t.dropFirst("server:".count).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")))
        }
    }
    return servers.count == 1 ? servers[0] : nil
}
