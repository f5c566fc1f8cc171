import AphexCore
import KubeClient
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
    /// A workload bootstrap installs and `aphex status` requires.
    public struct Component: Sendable, Equatable {
        public var namespace: String
        public var name: String
        /// Deployment or StatefulSet.
        public var kind: String
        /// Its `app.kubernetes.io/part-of` label (one of `componentPartOf`).
        public var partOf: String
        public init(_ namespace: String, _ name: String, _ kind: String = "Deployment", partOf: String) {
            self.namespace = namespace
            self.name = name
            self.kind = kind
            self.partOf = partOf
        }
    }

    /// Components that must exist, so a missing one is reported, not ignored: ArgoCD's core and
    /// the Tekton controllers, webhooks, interceptors and dashboard that bootstrap installs
    /// (from their release manifests; the application controller is ArgoCD's StatefulSet).
    public var requiredComponents: [Component] = [
        Component("argocd", "argocd-server", partOf: "argocd"),
        Component("argocd", "argocd-repo-server", partOf: "argocd"),
        Component("argocd", "argocd-applicationset-controller", partOf: "argocd"),
        Component("argocd", "argocd-application-controller", "StatefulSet", partOf: "argocd"),
        Component("tekton-pipelines", "tekton-pipelines-controller", partOf: "tekton-pipelines"),
        Component("tekton-pipelines", "tekton-pipelines-webhook", partOf: "tekton-pipelines"),
        Component("tekton-pipelines", "tekton-triggers-controller", partOf: "tekton-triggers"),
        Component("tekton-pipelines", "tekton-triggers-webhook", partOf: "tekton-triggers"),
        Component("tekton-pipelines", "tekton-triggers-core-interceptors", partOf: "tekton-triggers"),
        Component("tekton-pipelines", "tekton-dashboard", partOf: "tekton-dashboard")
    ]

    // cert-manager (synced by ArgoCD; the webhook proof runs whenever its Application exists and the webhook is
    // unproven)
    public var certManagerApplication = "cert-manager"
    public var certManagerNamespace = "cert-manager"
    public var certManagerWebhookService = "cert-manager-webhook"
    public var certManagerWebhookConfiguration = "cert-manager-webhook"
    /// The webhooks' `name` in both configurations (the API server quotes it when a call fails).
    public var certManagerWebhookName = "webhook.cert-manager.io"
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
    public var managedSecretSelector = ManagedBy.selector

    public init() {}

    public static let `default` = ConvergenceCatalog()

    /// `app.kubernetes.io/part-of in (argocd,tekton-pipelines,...)`
    public var componentSelector: String {
        "app.kubernetes.io/part-of in (\(componentPartOf.joined(separator: ",")))"
    }
}
