import ClusterDrivers

extension Commands {
    public static func manifestsPin(_ ctx: AppContext) async throws -> ExitStatus {
        throw notYetAvailable("manifests pin")
    }
}

/// name -> default version of every component aphex installs (for `aphex version`).
public func defaultComponentVersions() -> [String: String] {
    ["argocd": "v3.3.0", "tekton-pipelines": "v0.65.0", "tekton-triggers": "v0.34.0",
     "tekton-interceptors": "v0.34.0", "tekton-dashboard": "v0.64.0"]
}
