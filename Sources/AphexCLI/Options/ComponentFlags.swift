import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

/// Component versions, manifest sources and pinning (bootstrap).
struct ComponentFlags: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "ArgoCD version to install (default: the version the platform manages).", valueName: "version"))
    var argocdVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Pipelines version.", valueName: "version"))
    var tektonPipelinesVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Triggers version.", valueName: "version"))
    var tektonTriggersVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Core Interceptors version.", valueName: "version"))
    var tektonInterceptorsVersion: String?
    @Option(name: .long, help: ArgumentHelp("Tekton Dashboard version.", valueName: "version"))
    var tektonDashboardVersion: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Read release manifests (NAME-VERSION.yaml) from this directory instead of the network (air-gapped \
            hosts, CI caches).
            """,
            valueName: "dir"))
    var manifestsDir: String?

    @Option(
        name: .long, help: ArgumentHelp("Component config file (YAML: versions, URLs, sha256 pins).", valueName: "file")
    )
    var componentsFile: String?

    @Flag(
        name: .long,
        help:
            """
            Serve the ArgoCD UI without TLS (server.insecure: \"true\"), for homelabs behind a TLS-terminating \
            ingress.
            """
    )
    var argocdInsecure = false

    @Flag(
        name: .long,
        help:
            """
            Download nothing without a pinned digest from the catalog or --components-file (the Tekton manifests \
            and the k3s installer are otherwise trusted on first use). Also APHEX_REQUIRE_PINNED=1. For CI.
            """
    )
    var requirePinned = false

    func validate() throws {
        let versions = [
            ("--argocd-version", argocdVersion), ("--tekton-pipelines-version", tektonPipelinesVersion),
            ("--tekton-triggers-version", tektonTriggersVersion),
            ("--tekton-interceptors-version", tektonInterceptorsVersion),
            ("--tekton-dashboard-version", tektonDashboardVersion)
        ]
        for (flag, value) in versions {
            if let v = value,
                v.range(of: #"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"#, options: .regularExpression) == nil
            {
                throw ValidationError("\(flag) '\(v)' is not a release version: give one like v3.3.0.")
            }
        }
        if let dir = manifestsDir {
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: (dir as NSString).expandingTildeInPath, isDirectory: &isDir)
                || !isDir.boolValue
            {
                throw ValidationError(
                    """
                    --manifests-dir '\(dir)' is not a directory. Create it with the release manifests named \
                    NAME-VERSION.yaml (see docs/components.md), or drop the option to download them.
                    """
                )
            }
        }
        try Self.validateComponentsFile(componentsFile)
    }

    /// --components-file (bootstrap, k3s install): an existing, readable file.
    static func validateComponentsFile(_ file: String?) throws {
        if let f = file, !FileManager.default.isReadableFile(atPath: (f as NSString).expandingTildeInPath) {
            throw ValidationError(
                """
                --components-file '\(f)' does not exist or is not readable. Pass an existing YAML file (see \
                docs/components.md) or drop the option.
                """
            )
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
