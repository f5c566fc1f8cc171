import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

/// The kind cluster aphex creates (bootstrap --deployment kind, kind create): the flags fill
/// the driver's `KindClusterSpec`, validated here once.
struct KindClusterFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Worker nodes besides the control plane (0-10).", valueName: "n"))
    var workers: Int = 0

    @Option(
        name: .long,
        help: ArgumentHelp("kind node image. Default: the image pinned by this aphex release.", valueName: "image"))
    var nodeImage: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Containerd registry mirror, e.g. docker.io=http://registry.local:5000 (repeatable); lets CI use a \
            pull-through cache.
            """,
            valueName: "host=url"))
    var registryMirror: [String] = []

    @Flag(name: .long, help: "Do not configure the API server's OIDC flags (issuer https://dex.home.local).")
    var noOidc = false

    @Option(name: .long, help: ArgumentHelp("OIDC issuer URL for the API server.", valueName: "url"))
    var oidcIssuer: String?

    @Flag(
        name: .long,
        help: "Also merge the cluster into ~/.kube/config and switch its current context (default: leave it untouched)."
    )
    var mergeKubeconfig = false

    @Flag(name: .long, help: "Delete and re-create a cluster of this name that exists but is broken.")
    var recreate = false

    @Flag(name: .long, help: "Keep a half-made cluster after a failed create (for debugging).")
    var retain = false

    func validate() throws {
        if !(0...10).contains(workers) {
            throw ValidationError(
                "--workers \(workers) is out of range: give 0 to 10 worker nodes (the control plane always exists).")
        }
        for m in registryMirror where Validate.parseRegistryMirror(m) == nil {
            throw ValidationError(
                """
                --registry-mirror '\(m)' is not of the form host=url: give for example --registry-mirror \
                docker.io=http://registry.local:5000.
                """
            )
        }
        if noOidc && oidcIssuer != nil {
            throw ValidationError("'--no-oidc' and '--oidc-issuer' are mutually exclusive: drop one of them.")
        }
        if let issuer = oidcIssuer, !issuer.hasPrefix("https://") {
            throw ValidationError(
                """
                --oidc-issuer '\(issuer)' must be an https:// URL (the API server refuses other issuers), for \
                example https://dex.home.local.
                """
            )
        }
        if let image = nodeImage, image.isEmpty || image.contains(" ") {
            throw ValidationError("--node-image needs an image reference such as kindest/node:v1.32.2.")
        }
    }

    var isDefault: Bool {
        workers == 0 && nodeImage == nil && registryMirror.isEmpty && !noOidc && oidcIssuer == nil
            && !mergeKubeconfig && !recreate && !retain
    }

    /// The driver's spec for the cluster `name`.
    func spec(name: String, waitTimeout: Duration = .seconds(300)) -> KindClusterSpec {
        var mirrors: [String: String] = [:]
        for m in registryMirror { if let p = Validate.parseRegistryMirror(m) { mirrors[p.host] = p.url } }
        return KindClusterSpec(
            name: name, workers: workers, nodeImage: nodeImage, registryMirrors: mirrors,
            oidc: noOidc ? nil : OIDCSettings(issuerURL: oidcIssuer ?? OIDCSettings.defaultIssuer),
            mergeKubeconfig: mergeKubeconfig, recreate: recreate, retain: retain,
            waitTimeout: waitTimeout)
    }
}
