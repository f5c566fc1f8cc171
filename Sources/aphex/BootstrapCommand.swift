import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

struct PlatformSourceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Git repository of the platform (a fork, say). Default: the Aphex platform repository.", valueName: "url"))
    var repoURL: String?

    @Option(name: .long, help: ArgumentHelp("Git revision (branch, tag or commit) platform-root tracks. Default: HEAD.", valueName: "rev"))
    var revision: String?

    @Option(name: .long, help: ArgumentHelp("Path of the Applications directory in the repository. Default: per --deployment (kind: platform/base/argocd/apps, k3s: platform/deployments/k3s/argocd/apps).", valueName: "path"))
    var path: String?

    func validate() throws {
        if let url = repoURL, !Validate.isRepoURL(url) {
            throw ValidationError("'\(url)' is not a Git repository URL ArgoCD can clone. Use an https://, ssh:// or git@host:path URL, for example --repo-url https://github.com/you/AphexPlatformInfrastructure.git.")
        }
        if let rev = revision, rev.trimmingCharacters(in: .whitespaces).isEmpty || rev.contains(" ") {
            throw ValidationError("--revision needs a branch, tag or commit without spaces (for example --revision main), or drop it to track HEAD.")
        }
        if let p = path, p.isEmpty || p.hasPrefix("/") || p.contains("..") {
            throw ValidationError("--path '\(p)' must be a relative path inside the repository without '..' (for example platform/base/argocd/apps).")
        }
    }

    var library: RootAppOptions {
        var o = RootAppOptions()
        o.repoURL = repoURL
        o.revision = revision
        o.path = path
        return o
    }
}

struct KindCreateFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Worker nodes besides the control plane (0-10).", valueName: "n"))
    var workers: Int = 0

    @Option(name: .long, help: ArgumentHelp("kind node image. Default: the image pinned by this aphex release.", valueName: "image"))
    var nodeImage: String?

    @Option(name: .long, help: ArgumentHelp("Containerd registry mirror, e.g. docker.io=http://registry.local:5000 (repeatable); lets CI use a pull-through cache.", valueName: "host=url"))
    var registryMirror: [String] = []

    @Flag(name: .long, help: "Do not configure the API server's OIDC flags (issuer https://dex.home.local).")
    var noOidc = false

    @Option(name: .long, help: ArgumentHelp("OIDC issuer URL for the API server.", valueName: "url"))
    var oidcIssuer: String?

    @Flag(name: .long, help: "Also merge the cluster into ~/.kube/config and switch its current context (default: leave it untouched).")
    var mergeKubeconfig = false

    @Flag(name: .long, help: "Delete and re-create a cluster of this name that exists but is broken.")
    var recreate = false

    @Flag(name: .long, help: "Keep a half-made cluster after a failed create (for debugging).")
    var retain = false

    func validate() throws {
        if !(0...10).contains(workers) {
            throw ValidationError("--workers \(workers) is out of range: give 0 to 10 worker nodes (the control plane always exists).")
        }
        for m in registryMirror where Validate.parseRegistryMirror(m) == nil {
            throw ValidationError("--registry-mirror '\(m)' is not of the form host=url: give for example --registry-mirror docker.io=http://registry.local:5000.")
        }
        if noOidc && oidcIssuer != nil {
            throw ValidationError("'--no-oidc' and '--oidc-issuer' are mutually exclusive: drop one of them.")
        }
        if let issuer = oidcIssuer, !issuer.hasPrefix("https://") {
            throw ValidationError("--oidc-issuer '\(issuer)' must be an https:// URL (the API server refuses other issuers), for example https://dex.home.local.")
        }
        if let image = nodeImage, image.isEmpty || image.contains(" ") {
            throw ValidationError("--node-image needs an image reference such as kindest/node:v1.32.2.")
        }
    }

    var isDefault: Bool {
        workers == 0 && nodeImage == nil && registryMirror.isEmpty && !noOidc && oidcIssuer == nil
            && !mergeKubeconfig && !recreate && !retain
    }

    var library: KindOptions {
        var o = KindOptions()
        o.workers = workers
        o.nodeImage = nodeImage
        for m in registryMirror { if let p = Validate.parseRegistryMirror(m) { o.registryMirrors[p.host] = p.url } }
        o.oidc = !noOidc
        o.oidcIssuer = oidcIssuer
        o.mergeKubeconfig = mergeKubeconfig
        o.recreate = recreate
        o.retain = retain
        return o
    }
}

struct K3sFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("k3s version for the installer (INSTALL_K3S_VERSION). Default: the version pinned by this aphex release.", valueName: "version"))
    var k3sVersion: String?

    @Flag(name: .long, help: "Install k3s with --disable traefik.")
    var disableTraefik = false

    @Flag(name: .long, help: "GPU host: verify nvidia-smi and nvidia-container-runtime and configure the NVIDIA containerd runtime.")
    var gpu = false

    func validate() throws {
        if let v = k3sVersion, v.range(of: #"^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$"#, options: .regularExpression) == nil {
            throw ValidationError("--k3s-version '\(v)' is not a k3s release name: give it as the installer expects, for example --k3s-version v1.31.4+k3s1.")
        }
    }

    var isDefault: Bool { k3sVersion == nil && !disableTraefik && !gpu }

    var library: K3sOptions {
        var o = K3sOptions()
        o.version = k3sVersion
        o.disableTraefik = disableTraefik
        o.gpu = gpu
        return o
    }
}

struct ComponentFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("ArgoCD version to install (default: the version the platform manages).", valueName: "version"))
    var argocdVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Pipelines version.", valueName: "version"))
    var tektonPipelinesVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Triggers version.", valueName: "version"))
    var tektonTriggersVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Core Interceptors version.", valueName: "version"))
    var tektonInterceptorsVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Dashboard version.", valueName: "version"))
    var tektonDashboardVersion: String?

    @Option(name: .long, help: ArgumentHelp("Read release manifests (NAME-VERSION.yaml) from this directory instead of the network (air-gapped hosts, CI caches).", valueName: "dir"))
    var manifestsDir: String?

    @Option(name: .long, help: ArgumentHelp("Component config file (YAML: versions, URLs, sha256 pins).", valueName: "file"))
    var componentsFile: String?

    @Flag(name: .long, help: "Serve the ArgoCD UI without TLS (server.insecure: \"true\"), for homelabs behind a TLS-terminating ingress.")
    var argocdInsecure = false

    @Flag(name: .long, help: "Download nothing without a pinned digest from the catalog or --components-file (the Tekton manifests and the k3s installer are otherwise trusted on first use). Also APHEX_REQUIRE_PINNED=1. For CI.")
    var requirePinned = false

    func validate() throws {
        let versions = [("--argocd-version", argocdVersion), ("--tekton-pipelines-version", tektonPipelinesVersion),
                        ("--tekton-triggers-version", tektonTriggersVersion),
                        ("--tekton-interceptors-version", tektonInterceptorsVersion),
                        ("--tekton-dashboard-version", tektonDashboardVersion)]
        for (flag, value) in versions {
            if let v = value, v.range(of: #"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"#, options: .regularExpression) == nil {
                throw ValidationError("\(flag) '\(v)' is not a release version: give one like v3.3.0.")
            }
        }
        if let dir = manifestsDir {
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: (dir as NSString).expandingTildeInPath, isDirectory: &isDir) || !isDir.boolValue {
                throw ValidationError("--manifests-dir '\(dir)' is not a directory. Create it with the release manifests named NAME-VERSION.yaml (see docs/components.md), or drop the option to download them.")
            }
        }
        if let f = componentsFile, !FileManager.default.isReadableFile(atPath: (f as NSString).expandingTildeInPath) {
            throw ValidationError("--components-file '\(f)' does not exist or is not readable. Pass an existing YAML file (see docs/components.md) or drop the option.")
        }
    }

    var library: ComponentOptions {
        var o = ComponentOptions()
        if let v = argocdVersion { o.versions["argocd"] = v }
        if let v = tektonPipelinesVersion { o.versions["tekton-pipelines"] = v }
        if let v = tektonTriggersVersion { o.versions["tekton-triggers"] = v }
        if let v = tektonInterceptorsVersion { o.versions["tekton-interceptors"] = v }
        if let v = tektonDashboardVersion { o.versions["tekton-dashboard"] = v }
        o.manifestsDir = manifestsDir.map { ($0 as NSString).expandingTildeInPath }
        o.configFile = componentsFile.map { ($0 as NSString).expandingTildeInPath }
        o.argocdInsecure = argocdInsecure
        o.requirePinned = requirePinned
        return o
    }
}

struct BootstrapCommand: AsyncParsableCommand {
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

    @Option(name: .long, help: ArgumentHelp("Where the platform runs: kind (a local kind cluster) or k3s (k3s on this host, as root).", valueName: "kind|k3s"))
    var deployment: Deployment

    @OptionGroup var cluster: ClusterSelection

    @Flag(name: .long, help: "Install onto an existing cluster (the current kubeconfig context, or --kubeconfig/--context) instead of creating one.")
    var useExisting = false

    @Flag(name: .long, help: "Print the generated credentials at the end (read back from the cluster).")
    var showSecrets = false

    @OptionGroup var source: PlatformSourceOptions

    @Option(name: .long, help: ArgumentHelp("How long to wait for convergence, e.g. 20m, 90s, 1h30m.", valueName: "duration"))
    var timeout: String?

    @Flag(name: .long, help: "Return once platform-root is applied; check later with `aphex wait` or `aphex status`.")
    var noWait = false

    @Flag(name: .long, help: "Print the plan (every step, what it would change, the commands it would run) and change nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Use the credentials in this file (from `aphex secrets export`) instead of generating new ones.", valueName: "file"))
    var secretsFrom: String?

    @Option(name: .long, help: ArgumentHelp("Write step and wave timings as JSON to this file (for CI dashboards).", valueName: "file"))
    var timingsFile: String?

    @Option(name: .long, help: ArgumentHelp("Read the Cloudflare API token from this file instead of $CLOUDFLARE_API_TOKEN.", valueName: "file"))
    var cloudflareTokenFile: String?

    @OptionGroup(title: "CI reports") var reports: ReportFlags

    @OptionGroup(title: "kind cluster options") var kind: KindCreateFlags
    @OptionGroup(title: "k3s options") var k3s: K3sFlags
    @OptionGroup(title: "Component options") var components: ComponentFlags

    func validate() throws {
        try global.rejectEnvOutput(command: "bootstrap")
        let parsedTimeout = try validateTimeout(timeout)
        if noWait && parsedTimeout != nil {
            throw ValidationError("'--no-wait' and '--timeout' are mutually exclusive: --timeout limits the wait that --no-wait skips. Drop one of them.")
        }
        if (global.kubeconfig != nil || global.context != nil) && !useExisting {
            throw ValidationError("--kubeconfig/--context select an existing cluster: add --use-existing to install onto it, or drop them to let aphex create the \(deployment.rawValue) cluster '\(cluster.clusterName)'.")
        }
        if useExisting && !kind.isDefault {
            throw ValidationError("kind cluster options (--workers, --node-image, --registry-mirror, --no-oidc, --oidc-issuer, --merge-kubeconfig, --recreate, --retain) configure a cluster aphex creates; with --use-existing no cluster is created. Drop them or drop --use-existing.")
        }
        if useExisting && (k3s.k3sVersion != nil || k3s.disableTraefik) {
            throw ValidationError("--k3s-version and --disable-traefik configure a k3s install; with --use-existing nothing is installed. Drop them or drop --use-existing.")
        }
        if deployment == .k3s && !kind.isDefault {
            throw ValidationError("kind cluster options (--workers, --node-image, --registry-mirror, --no-oidc, --oidc-issuer, --merge-kubeconfig, --recreate, --retain) do not apply to --deployment k3s. Drop them, or use --deployment kind.")
        }
        if deployment == .kind && !k3s.isDefault {
            throw ValidationError("k3s options (--k3s-version, --disable-traefik, --gpu) do not apply to --deployment kind. Drop them, or use --deployment k3s.")
        }
        if let f = secretsFrom {
            let path = (f as NSString).expandingTildeInPath
            if !FileManager.default.isReadableFile(atPath: path) {
                throw ValidationError("--secrets-from '\(f)' does not exist or is not readable. Pass a file written by `aphex secrets export --file FILE`, or drop the option to generate new credentials.")
            }
        }
        if let f = cloudflareTokenFile {
            do { _ = try readCloudflareTokenFile(f) } catch let e as AphexError { throw ValidationError(e.message) }
        }
        if let f = timingsFile {
            let dir = ((f as NSString).expandingTildeInPath as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty && (!FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue) {
                throw ValidationError("--timings-file '\(f)': the directory '\(dir)' does not exist. Create it first or choose another path.")
            }
        }
    }

    var library: BootstrapOptions {
        var o = BootstrapOptions(deployment: deployment)
        o.useExisting = useExisting
        o.kind = kind.library
        o.k3s = k3s.library
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

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.bootstrap(ctx, library))
    }
}
