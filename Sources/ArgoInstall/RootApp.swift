import AphexCore
import KubeClient
import Foundation

/// The root Application `platform-root` (app of apps) that ArgoCD syncs the platform from.
public struct RootApplication: Sendable, Equatable {
    public static let defaultRepoURL = "https://github.com/bdchatham/AphexPlatformInfrastructure.git"
    public static let defaultRevision = "HEAD"
    public static let name = "platform-root"
    public static let namespace = "argocd"
    public static let finalizer = "resources-finalizer.argocd.argoproj.io"
    public static let refreshAnnotation = "argocd.argoproj.io/refresh"

    /// The Applications directory per deployment (PLATFORM.md).
    public static func defaultPath(for deployment: Deployment) -> String {
        switch deployment {
        case .kind: return "platform/base/argocd/apps"
        case .k3s: return "platform/deployments/k3s/argocd/apps"
        }
    }

    public var repoURL: String
    public var revision: String
    public var path: String

    public init(deployment: Deployment, repoURL: String? = nil, revision: String? = nil, path: String? = nil) {
        self.repoURL = repoURL ?? Self.defaultRepoURL
        self.revision = revision ?? Self.defaultRevision
        self.path = path ?? Self.defaultPath(for: deployment)
    }

    /// The desired object.
    public var object: JSON {
        [
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": [
                "name": .string(Self.name), "namespace": .string(Self.namespace),
                "finalizers": [.string(Self.finalizer)],
                "labels": .object([ManagedBy.key: .string(ManagedBy.value)])
            ],
            "spec": [
                "project": "default",
                "source": ["repoURL": .string(repoURL), "targetRevision": .string(revision), "path": .string(path)],
                "destination": ["server": "https://kubernetes.default.svc", "namespace": "argocd"],
                "syncPolicy": [
                    "automated": ["prune": true, "selfHeal": true],
                    "retry": ["limit": 5, "backoff": ["duration": "5s", "factor": 2, "maxDuration": "3m"]]
                ]
            ]
        ]
    }

    /// Fields whose live value must equal ours for the Application to count as up to date.
    var comparable: JSON {
        var o = object
        o["apiVersion"] = nil
        o["kind"] = nil
        return o
    }

    /// True when the live Application already has every field we set.
    public func isUpToDate(_ live: JSON?) -> Bool {
        guard let live else { return false }
        return live.contains(comparable)
    }

    public var summary: String { "\(repoURL) @ \(revision), path \(path)" }

    /// Applies platform-root unless the live object already matches, then asks ArgoCD for an
    /// immediate refresh (rather than its multi-minute resync).
    public func ensure(_ env: InstallEnvironment, dryRun: Bool) async throws -> InstallReport {
        let live: JSON?
        do {
            live = try await env.api.get(.applications, namespace: Self.namespace, name: Self.name)
        } catch  where dryRun {
            live = nil
        }
        if isUpToDate(live) {
            return InstallReport(unchanged: ["platform-root (\(summary))"])
        }
        let verb = live == nil ? "create" : "update"
        let refresh = refreshArgv(env)
        if dryRun {
            return InstallReport(planned: [
                """
                \(verb) Application argocd/platform-root (\(summary)): $ \(Shell.quote(env.kubectl.applyArgv())) \
                < Application
                """,
                "request a refresh: $ \(Shell.quote(refresh))"
            ])
        }
        try await env.ownership?.prepare([object])
        try await env.apply([object], what: "\(verb) the root Application argocd/platform-root", record: true)
        try await env.ownership?.flush()
        try await env.run(Command(refresh, timeout: .seconds(60)), what: "request a refresh of argocd/platform-root")
        return InstallReport(changed: ["platform-root \(verb)d (\(summary)); refresh requested"])
    }

    func refreshArgv(_ env: InstallEnvironment) -> [String] {
        env.kubectl.argv([
            "annotate", "applications.argoproj.io", Self.name, "--namespace", Self.namespace,
            "--overwrite", "\(Self.refreshAnnotation)=normal"
        ])
    }
}
