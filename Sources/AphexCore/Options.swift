import Foundation

/// Which kind of cluster the platform runs on; selects the root Application path and the
/// driver.
public enum Deployment: String, Sendable, Codable, CaseIterable {
    case kind
    case k3s
}

/// `--output`: text for humans, json for tools, env (KEY=VALUE) where a command supports it.
public enum OutputFormat: String, Sendable, Codable, CaseIterable {
    case text
    case json
    case env
}

/// Input validation shared by the CLI and the libraries.
public enum Validate {
    /// A DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric,
    /// at most 63 characters (Kubernetes object names and kind cluster names).
    public static func isDNS1123Label(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 63 else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard s.allSatisfy({ allowed.contains($0) }) else { return false }
        return s.first != "-" && s.last != "-"
    }

    /// A Git repository URL ArgoCD can clone: https://, http://, ssh://, git:// or scp-like git@host:path.
    public static func isRepoURL(_ s: String) -> Bool {
        if s.range(of: #"^(https?|ssh|git)://[^\s/]+(/\S*)?$"#, options: .regularExpression) != nil { return true }
        return s.range(of: #"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+$"#, options: .regularExpression) != nil
    }

    /// `host=url` for `--registry-mirror`, e.g. docker.io=http://registry.local:5000
    public static func parseRegistryMirror(_ s: String) -> (host: String, url: String)? {
        let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains("/"),
            parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://")
        else { return nil }
        return (parts[0], parts[1])
    }
}
