import ClusterDrivers

/// Every platform name the convergence engine relies on, in one place (PLATFORM.md). A fork
/// of the platform overrides a field instead of patching code.
public struct ConvergenceCatalog: Sendable, Equatable {
    /// Where ArgoCD and its Applications live.
    public var argocdNamespace = "argocd"
    /// The app-of-apps whose children define the waves.
    public var rootApplication = "platform-root"
    public var waveAnnotation = "argocd.argoproj.io/sync-wave"

    /// Component workloads reported by `aphex status`: Deployments and StatefulSets whose
    /// `app.kubernetes.io/part-of` label is one of these (read in one cluster-wide LIST each).
    public var componentPartOf = ["argocd", "tekton-pipelines", "tekton-triggers", "tekton-dashboard"]
    /// Components that must exist (namespace/name), so a missing one is reported, not ignored.
    public var requiredComponents = [
        "argocd/argocd-server", "argocd/argocd-repo-server", "argocd/argocd-applicationset-controller",
        "argocd/argocd-application-controller",
    ]

    // cert-manager (synced by ArgoCD; the webhook proof runs once its Application is converged)
    public var certManagerApplication = "cert-manager"
    public var certManagerNamespace = "cert-manager"
    public var certManagerWebhookService = "cert-manager-webhook"
    public var certManagerWebhookConfiguration = "cert-manager-webhook"
    public var certManagerCAInjectorSelector = "app.kubernetes.io/component=cainjector"
    public var certManagerIssuerCRD = "issuers.cert-manager.io"

    // Authentik (the bootstrap-token check once the auth Application is Healthy)
    public var authApplication = "auth"
    public var authNamespace = "auth-system"
    public var authSecret = "authentik-secrets"
    public var authTokenKey = "bootstrap-token"
    public var authService = "authentik-server"
    public var authServicePort = 9000
    public var authConfigSyncJob = "auth-config-sync"

    /// Secrets aphex generated carry this label (one cluster-wide LIST reads them all).
    public var managedSecretSelector = "app.kubernetes.io/managed-by=aphex"

    public init() {}

    public static let `default` = ConvergenceCatalog()

    /// `app.kubernetes.io/part-of in (argocd,tekton-pipelines,...)`
    public var componentSelector: String {
        "app.kubernetes.io/part-of in (\(componentPartOf.joined(separator: ",")))"
    }
}
