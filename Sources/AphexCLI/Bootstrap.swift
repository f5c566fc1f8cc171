import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

struct Bootstrap: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Create (or reuse) a cluster and install the platform, then wait for convergence.",
        discussion: """
            Steps: prerequisites -> cluster -> namespaces -> secrets -> ArgoCD -> Tekton -> \
            ArgoCD config -> platform-root -> wait -> summary. Every step checks before it acts: \
            a re-run after success changes nothing, a re-run after an interrupted run resumes, \
            and stored secrets are never regenerated.

            CLOUDFLARE_API_TOKEN is read from the environment (or --cloudflare-token-file), never \
            from a flag value.

            Examples:
              aphex bootstrap --deployment kind
              aphex bootstrap --deployment kind --cluster-name ci-123 --timeout 30m --output json
              aphex bootstrap --deployment k3s --gpu            (as root)
              aphex bootstrap --deployment kind --use-existing --kubeconfig ~/.kube/lab --context lab
              aphex bootstrap --deployment kind --dry-run       (print the plan, touch nothing)
              aphex bootstrap --deployment kind --secrets-from ~/aphex-secrets.json
              aphex bootstrap --deployment kind --cluster-name ci-42 --timeout 20m \\
                --junit aphex-junit.xml --timeline aphex-timeline.svg        (CI: docs/ci.md)
            """)

    @OptionGroup var global: GlobalOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where the platform runs: kind (a local kind cluster) or k3s (k3s on this host, as root).",
            valueName: "kind|k3s"))
    var deployment: Deployment

    @OptionGroup var cluster: ClusterSelection

    @Flag(
        name: .long,
        help:
            """
            Install onto an existing cluster (the current kubeconfig context, or --kubeconfig/--context) instead \
            of creating one.
            """
    )
    var useExisting = false

    @Flag(name: .long, help: "Print the generated credentials at the end (read back from the cluster).")
    var showSecrets = false

    @OptionGroup var source: PlatformSourceOptions

    @Option(
        name: .long,
        help: ArgumentHelp("How long to wait for convergence, e.g. 20m, 90s, 1h30m.", valueName: "duration"))
    var timeout: String?

    @Flag(name: .long, help: "Return once platform-root is applied; check later with `aphex wait` or `aphex status`.")
    var noWait = false

    @Flag(
        name: .long,
        help: "Print the plan (every step, what it would change, the commands it would run) and change nothing.")
    var dryRun = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Use the credentials in this file (from `aphex secrets export`) instead of generating new ones.",
            valueName: "file"))
    var secretsFrom: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Write step and wave timings as JSON to this file (for CI dashboards).", valueName: "file"))
    var timingsFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read the Cloudflare API token from this file instead of $CLOUDFLARE_API_TOKEN.", valueName: "file"))
    var cloudflareTokenFile: String?

    @OptionGroup(title: "CI reports") var reports: ReportFlags

    @OptionGroup(title: "kind cluster options") var kind: KindClusterFlags
    @OptionGroup(title: "k3s options") var k3s: K3sFlags
    @OptionGroup(title: "Component options") var components: ComponentFlags

    func validate() throws {
        try global.rejectEnvOutput(command: "bootstrap")
        let parsedTimeout = try validateTimeout(timeout)
        if noWait && parsedTimeout != nil {
            throw ValidationError(
                """
                '--no-wait' and '--timeout' are mutually exclusive: --timeout limits the wait that --no-wait \
                skips. Drop one of them.
                """
            )
        }
        if (global.kubeconfig != nil || global.context != nil) && !useExisting {
            throw ValidationError(
                """
                --kubeconfig/--context select an existing cluster: add --use-existing to install onto it, or drop \
                them to let aphex create the \(deployment.rawValue) cluster '\(cluster.clusterName)'.
                """
            )
        }
        if useExisting && !kind.isDefault {
            throw ValidationError(
                """
                kind cluster options (--workers, --node-image, --registry-mirror, --no-oidc, --oidc-issuer, \
                --merge-kubeconfig, --recreate, --retain) configure a cluster aphex creates; with --use-existing \
                no cluster is created. Drop them or drop --use-existing.
                """
            )
        }
        if useExisting && (k3s.k3sVersion != nil || k3s.disableTraefik) {
            throw ValidationError(
                """
                --k3s-version and --disable-traefik configure a k3s install; with --use-existing nothing is \
                installed. Drop them or drop --use-existing.
                """
            )
        }
        if deployment == .k3s && !kind.isDefault {
            throw ValidationError(
                """
                kind cluster options (--workers, --node-image, --registry-mirror, --no-oidc, --oidc-issuer, \
                --merge-kubeconfig, --recreate, --retain) do not apply to --deployment k3s. Drop them, or use \
                --deployment kind.
                """
            )
        }
        if deployment == .kind && !k3s.isDefault {
            throw ValidationError(
                """
                k3s options (--k3s-version, --disable-traefik, --gpu) do not apply to --deployment kind. Drop \
                them, or use --deployment k3s.
                """
            )
        }
        if let f = secretsFrom {
            let path = (f as NSString).expandingTildeInPath
            if !FileManager.default.isReadableFile(atPath: path) {
                throw ValidationError(
                    """
                    --secrets-from '\(f)' does not exist or is not readable. Pass a file written by `aphex \
                    secrets export --file FILE`, or drop the option to generate new credentials.
                    """
                )
            }
        }
        if let f = cloudflareTokenFile {
            do { _ = try readCloudflareTokenFile(f) } catch let e as AphexError { throw ValidationError(e.message) }
        }
        if let f = timingsFile {
            let dir = ((f as NSString).expandingTildeInPath as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty && (!FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue) {
                throw ValidationError(
                    """
                    --timings-file '\(f)': the directory '\(dir)' does not exist. Create it first or choose \
                    another path.
                    """
                )
            }
        }
    }

    var library: BootstrapOptions {
        var o = BootstrapOptions(deployment: deployment)
        o.useExisting = useExisting
        o.kind = kind.spec(name: cluster.clusterName)
        o.k3s = k3s.spec(name: cluster.clusterName)
        o.components = components.library
        o.root = source.library
        if let t = timeout.flatMap(parseDuration) { o.timeout = t }
        o.noWait = noWait
        o.dryRun = dryRun
        o.showSecrets = showSecrets
        o.secretsFrom = secretsFrom.map { ($0 as NSString).expandingTildeInPath }
        o.timingsFile = timingsFile.map { ($0 as NSString).expandingTildeInPath }
        o.cloudflareTokenFile = cloudflareTokenFile.map { ($0 as NSString).expandingTildeInPath }
        o.report = reports.library
        return o
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        try finish(try await BootstrapRun.run(ctx, library))
    }
}
