import ClusterDrivers
import Foundation

/// The bootstrap pipeline's "cluster" step: pick the driver for the options, ensure the
/// cluster (create, reuse or verify), and hand back the kubeconfig/context every later step
/// uses.
///
///     let access = try await ClusterStep.run(ctx, options)
///     // access.kubeconfig, access.context
public enum ClusterStep {
    /// kind flags -> the driver's spec.
    public static func kindSpec(name: String, _ o: KindOptions, timeout: Duration) -> KindClusterSpec {
        var oidc: OIDCSettings? = nil
        if o.oidc {
            oidc = OIDCSettings(issuerURL: o.oidcIssuer ?? OIDCSettings.defaultIssuer)
        }
        return KindClusterSpec(name: name, workers: o.workers, nodeImage: o.nodeImage, registryMirrors: o.registryMirrors,
                               oidc: oidc, mergeKubeconfig: o.mergeKubeconfig, recreate: o.recreate, retain: o.retain,
                               waitTimeout: timeout)
    }

    /// k3s flags -> the driver's spec.
    public static func k3sSpec(name: String, _ o: K3sOptions, timeout: Duration) -> K3sInstallSpec {
        K3sInstallSpec(name: name, version: o.version, disableTraefik: o.disableTraefik, gpu: o.gpu, waitTimeout: timeout)
    }

    /// The driver bootstrap would use: existing (--use-existing), kind or k3s.
    public static func driver(_ ctx: AppContext, _ options: BootstrapOptions) -> any ClusterDriver {
        let name = ctx.target.clusterName
        if options.useExisting {
            return ExistingClusterDriver(host: ctx.host, clusterName: name, kubeconfig: ctx.resolvedKubeconfig(),
                                         context: ctx.target.context)
        }
        switch options.deployment {
        case .kind:
            return KindDriver(host: ctx.host, spec: kindSpec(name: name, options.kind, timeout: options.clusterTimeout))
        case .k3s:
            return K3sDriver(host: ctx.host, spec: k3sSpec(name: name, options.k3s, timeout: options.clusterTimeout))
        }
    }

    /// What the step would do (`--dry-run`); runs nothing.
    public static func plan(_ ctx: AppContext, _ options: BootstrapOptions) -> [PlannedAction] {
        driver(ctx, options).planEnsure()
    }

    /// Ensures the cluster and returns how to reach it. With `options.dryRun` runs nothing and
    /// returns the access the real run would produce (outcome `.planned`).
    public static func run(_ ctx: AppContext, _ options: BootstrapOptions) async throws -> ClusterAccess {
        let d = driver(ctx, options)
        if options.dryRun {
            return plannedAccess(ctx, options, driver: d)
        }
        return try await d.ensureCluster()
    }

    static func plannedAccess(_ ctx: AppContext, _ options: BootstrapOptions, driver: any ClusterDriver) -> ClusterAccess {
        let name = ctx.target.clusterName
        if options.useExisting {
            return ClusterAccess(driver: "existing", clusterName: name, kubeconfig: ctx.resolvedKubeconfig(),
                                 context: ctx.target.context, outcome: .planned)
        }
        let context: String? = options.deployment == .kind ? "kind-\(name)" : nil
        return ClusterAccess(driver: driver.driverName, clusterName: name,
                             kubeconfig: ctx.host.kubeconfigPath(forCluster: name), context: context, outcome: .planned)
    }

    /// The driver for a cluster aphex recorded under `--cluster-name` (for `destroy` and
    /// `status`), nil when aphex manages no cluster of that name.
    public static func recordedDriver(_ ctx: AppContext) -> (any ClusterDriver)? {
        let name = ctx.target.clusterName
        guard let record = ClusterRecord.load(ctx.host, name: name) else { return nil }
        switch record.deployment {
        case "kind": return KindDriver(host: ctx.host, spec: KindClusterSpec(name: name))
        case "k3s": return K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: name))
        default: return nil
        }
    }
}
