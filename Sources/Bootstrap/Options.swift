import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Library-level options, filled by the CLI after parsing and validation.

public struct ComponentOptions: Sendable, Equatable {
    /// name -> version overrides (argocd, tekton-pipelines, tekton-triggers, tekton-interceptors, tekton-dashboard)
    public var versions: [String: String] = [:]
    public var manifestsDir: String?
    public var configFile: String?
    public var argocdInsecure = false
    /// --require-pinned (or APHEX_REQUIRE_PINNED=1, `PinPolicy`): nothing unpinned is downloaded.
    public var requirePinned = false
    public init() {}
}

public struct RootAppOptions: Sendable, Equatable {
    public var repoURL: String?
    public var revision: String?
    public var path: String?
    public init() {}
}

public struct BootstrapOptions: Sendable {
    public var deployment: Deployment
    public var useExisting = false
    /// The kind cluster to create (name and wait timeout are set from the run's cluster
    /// name and `clusterTimeout`).
    public var kind = KindClusterSpec(name: "platform-cluster")
    /// The k3s install (name, wait timeout and installer pin are set by the cluster step).
    public var k3s = K3sInstallSpec(name: "platform-cluster")
    public var components = ComponentOptions()
    public var root = RootAppOptions()
    public var timeout: Duration = .seconds(20 * 60)
    public var clusterTimeout: Duration = .seconds(5 * 60)
    public var noWait = false
    public var dryRun = false
    public var showSecrets = false
    public var secretsFrom: String?
    public var timingsFile: String?
    public var cloudflareTokenFile: String?
    /// --junit / --timeline
    public var report = RunReportOptions()
    public init(deployment: Deployment) { self.deployment = deployment }
}

public struct StatusOptions: Sendable {
    public var watch = false
    public var interval: Duration = .seconds(2)
    public var wave: Int?
    public var app: String?
    /// --junit / --timeline
    public var report = RunReportOptions()
    public init() {}
}

public struct WaitOptions: Sendable {
    public var timeout: Duration = .seconds(20 * 60)
    public var wave: Int?
    /// --junit / --timeline
    public var report = RunReportOptions()
    /// Told every evaluation and the outcome (the run recorder behind --junit/--timeline).
    public var observer: (any ConvergenceObserver)?
    public init() {}
}

public struct DoctorOptions: Sendable {
    public var deployment: Deployment = .kind
    public var useExisting = false
    public var gpu = false
    public init() {}
}

public struct DestroyOptions: Sendable {
    public var deployment: Deployment?
    public var useExisting = false
    public var yes = false
    public var dryRun = false
    /// Delete a kind cluster / k3s install that aphex did not create (adopted).
    public var force = false
    /// --use-existing: how long destroy may wait for ArgoCD and for deletions to finish (exit 3 after).
    public var timeout: Duration = .seconds(300)
    /// --use-existing: remove ArgoCD's finalizer from aphex's own Applications instead of
    /// waiting for ArgoCD (their child Applications and resources are left in the cluster).
    public var removeFinalizers = false
    public var stdinIsTTY = isatty(0) == 1
    public init() {}
}

public struct ShowSecretsOptions: Sendable {
    public var name: String?
    public var stdoutIsTTY = isatty(1) == 1
    public init() {}
}
