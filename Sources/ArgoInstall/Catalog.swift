import AphexCore
import KubeClient
import Foundation

import Yams

/// One component aphex installs from an upstream release manifest.
public struct Component: Sendable, Equatable {
    /// Stable name: argocd, tekton-pipelines, tekton-triggers, tekton-interceptors, tekton-dashboard.
    public var name: String
    public var title: String
    public var defaultVersion: String
    /// URL with `{version}` standing for the version (with its leading "v").
    public var urlTemplate: String
    /// Known SHA-256 of the release manifest, per version. Versions not listed are trusted on
    /// first use (the digest is recorded in the lock file and enforced afterwards).
    public var digests: [String: String]
    /// Namespace for objects of the manifest that carry none (ArgoCD's install.yaml has none;
    /// it is meant for `kubectl apply -n argocd`). aphex creates it if the bundle does not.
    public var defaultNamespace: String?
    /// Where aphex keeps the bundle's version marker ConfigMap.
    public var markerNamespace: String
    /// Rewrite gcr.io/tekton-releases image references to ghcr.io/tektoncd.
    public var rewritesTektonImages: Bool
    /// Components that must be fully applied first (their CRDs are used here).
    public var after: [String]

    public init(
        name: String, title: String, defaultVersion: String, urlTemplate: String,
        digests: [String: String] = [:], defaultNamespace: String? = nil, markerNamespace: String,
        rewritesTektonImages: Bool = false, after: [String] = []
    ) {
        self.name = name
        self.title = title
        self.defaultVersion = defaultVersion
        self.urlTemplate = urlTemplate
        self.digests = digests
        self.defaultNamespace = defaultNamespace
        self.markerNamespace = markerNamespace
        self.rewritesTektonImages = rewritesTektonImages
        self.after = after
    }

    public func url(for version: String) -> String {
        urlTemplate.replacingOccurrences(of: "{version}", with: version)
    }
}

/// The component catalog: the ONE place that names what aphex installs, from where, and
/// which digests are known. A user's fork overrides it with a components file.
public enum Catalog {
    public static let argocd = Component(
        name: "argocd", title: "ArgoCD", defaultVersion: "v3.3.0",
        urlTemplate: "https://raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/install.yaml",
        digests: [
            "v3.3.0": "a6120f20bb0b8d458fa1753fefe7dd2c36eadfd8e09bbdf81ca61849ef6a2f6f",
            "v2.9.3": "0cf971b10e0a68bfaa2849a2f4503ba10f7ea4d85363737ead4d080f2f268abc"
        ],
        defaultNamespace: "argocd", markerNamespace: "argocd")
    public static let tektonPipelines = Component(
        name: "tekton-pipelines", title: "Tekton Pipelines", defaultVersion: "v0.65.0",
        urlTemplate: "https://github.com/tektoncd/pipeline/releases/download/{version}/release.yaml",
        markerNamespace: "tekton-pipelines", rewritesTektonImages: true)
    public static let tektonTriggers = Component(
        name: "tekton-triggers", title: "Tekton Triggers", defaultVersion: "v0.34.0",
        urlTemplate: "https://infra.tekton.dev/tekton-releases/triggers/previous/{version}/release.yaml",
        markerNamespace: "tekton-pipelines", rewritesTektonImages: true)
    public static let tektonInterceptors = Component(
        name: "tekton-interceptors", title: "Tekton Core Interceptors", defaultVersion: "v0.34.0",
        urlTemplate: "https://infra.tekton.dev/tekton-releases/triggers/previous/{version}/interceptors.yaml",
        markerNamespace: "tekton-pipelines", rewritesTektonImages: true, after: ["tekton-triggers"])
    public static let tektonDashboard = Component(
        name: "tekton-dashboard", title: "Tekton Dashboard", defaultVersion: "v0.64.0",
        urlTemplate: "https://github.com/tektoncd/dashboard/releases/download/{version}/release.yaml",
        markerNamespace: "tekton-pipelines", rewritesTektonImages: true)

    /// In install order (dependencies before dependants).
    public static let all: [Component] = [argocd, tektonPipelines, tektonTriggers, tektonInterceptors, tektonDashboard]
    public static var names: [String] { all.map(\.name) }
    public static let tektonNames = ["tekton-pipelines", "tekton-triggers", "tekton-interceptors", "tekton-dashboard"]

    public static func component(named name: String) -> Component? { all.first { $0.name == name } }

    /// name -> default version.
    public static var defaultVersions: [String: String] {
        Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.defaultVersion) })
    }

    /// "3.3.0" -> "v3.3.0" (release tags carry the v).
    public static func normalizeVersion(_ v: String) -> String {
        let t = v.trimmingCharacters(in: .whitespaces)
        return t.hasPrefix("v") ? t : "v" + t
    }
}

/// A component with its version, URL and expected digest decided.
public struct ResolvedComponent: Sendable, Equatable {
    public var component: Component
    public var version: String
    public var url: String
    /// Digest from the catalog or the components file; nil = trust on first use.
    public var pinnedSHA256: String?
    /// Where the pin came from: "catalog" or "components file".
    public var pinSource: String?

    public init(
        component: Component, version: String, url: String, pinnedSHA256: String? = nil, pinSource: String? = nil
    ) {
        self.component = component
        self.version = version
        self.url = url
        self.pinnedSHA256 = pinnedSHA256
        self.pinSource = pinSource
    }

    public var name: String { component.name }
    /// NAME-VERSION, the cache / manifests-dir file stem and the lock key.
    public var key: String { "\(component.name)-\(version)" }
    public var fileName: String { key + ".yaml" }
    /// "ArgoCD v3.3.0"
    public var label: String { "\(component.title) \(version)" }
}

/// The components file (`--components-file`), YAML:
///
///     versions:            # name -> version
///       argocd: v3.3.0
///     urls:                # name -> URL; {version} is replaced by the version
///       argocd: https://mirror.example/argo-cd/{version}/install.yaml
///     sha256:              # name -> digest (for the resolved version), or name -> {version: digest}
///       tekton-pipelines: 0123...
///
/// `k3s-installer` (the k3s release's install.sh) may appear under urls (https:// or file://)
/// and sha256; its version is --k3s-version.
public struct ComponentsFile: Sendable, Equatable {
    public var versions: [String: String] = [:]
    public var urls: [String: String] = [:]
    /// name -> (version or "*") -> digest
    public var sha256: [String: [String: String]] = [:]

    public init() {}

    /// The k3s installer's URL (`{version}` kept) and digest for `version`, if the file gives them.
    public var k3sInstallerURL: String? { urls[ManifestLock.k3sInstallerComponent] }
    public func k3sInstallerSHA256(version: String) -> String? {
        sha256[ManifestLock.k3sInstallerComponent].flatMap { $0[version] ?? $0["*"] }
    }

    public static func load(path: String) throws -> ComponentsFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AphexError.usage(
                """
                The components file '\(path)' could not be read. Pass an existing YAML file with \
                --components-file (see docs/components.md), or drop the option.
                """
            )
        }
        return try parse(String(decoding: data, as: UTF8.self), origin: path)
    }

    public static func parse(_ text: String, origin: String = "components file") throws -> ComponentsFile {
        func bad(_ why: String) -> AphexError {
            AphexError.usage(
                """
                The components file '\(origin)' is invalid: \(why). It takes the keys versions, urls and sha256, \
                each mapping a component (\(Catalog.names.joined(separator: ", ")); urls and sha256 also \
                \(ManifestLock.k3sInstallerComponent)) to a value; see docs/components.md.
                """
            )
        }
        // Read as a node tree: every scalar keeps its text (a digest of digits stays a string,
        // version 1.10 stays "1.10").
        let root: Node?
        do { root = try YAMLGuard.compose(text) } catch let refusal as YAMLGuard.Refusal {
            throw AphexError.usage("The components file '\(origin)' contains \(refusal). \(refusal.advice)")
        } catch { throw bad("it is not YAML (\(error))") }
        guard let root else { return ComponentsFile() }
        guard case .mapping(let top) = root else { throw bad("the top level is not a mapping") }
        var file = ComponentsFile()
        for (k, value) in top {
            guard case .scalar(let ks) = k else { throw bad("a key is not text") }
            let key = ks.string
            guard ["versions", "urls", "sha256"].contains(key) else { throw bad("unknown key '\(key)'") }
            guard case .mapping(let map) = value else { throw bad("'\(key)' is not a mapping") }
            for (nk, v) in map {
                let installer = nk.string == ManifestLock.k3sInstallerComponent
                guard case .scalar(let ns) = nk,
                    Catalog.component(named: ns.string) != nil || (installer && key != "versions")
                else {
                    if installer {
                        throw bad(
                            """
                            versions.\(ManifestLock.k3sInstallerComponent) is not a setting: the installer's \
                            version is k3s's (--k3s-version)
                            """
                        )
                    }
                    throw bad("unknown component '\(nk.string ?? "?")' under '\(key)'")
                }
                let name = ns.string
                switch (key, v) {
                case ("versions", .scalar(let vs)):
                    let s = vs.string
                    guard s.range(of: #"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"#, options: .regularExpression) != nil
                    else {
                        throw bad("versions.\(name) '\(s)' is not a release version like v3.3.0")
                    }
                    file.versions[name] = Catalog.normalizeVersion(s)
                case ("urls", .scalar(let us)) where installer:
                    // It runs as root: https or a local file only.
                    let s = us.string
                    guard s.hasPrefix("https://") || s.hasPrefix("file:///") else {
                        throw bad("urls.\(name) is not an https:// or file:/// URL (the installer runs as root)")
                    }
                    file.urls[name] = s
                case ("urls", .scalar(let us)):
                    let s = us.string
                    guard s.hasPrefix("https://") || s.hasPrefix("http://") else {
                        throw bad("urls.\(name) is not an http(s) URL")
                    }
                    file.urls[name] = s
                case ("sha256", .scalar(let ds)):
                    guard Digest.isSHA256Hex(ds.string) else { throw bad("sha256.\(name) is not 64 hex characters") }
                    file.sha256[name, default: [:]]["*"] = ds.string.lowercased()
                case ("sha256", .mapping(let m)):
                    for (ver, d) in m {
                        guard case .scalar(let vs) = ver, case .scalar(let ds) = d, Digest.isSHA256Hex(ds.string) else {
                            throw bad("sha256.\(name).\(ver.string ?? "?") is not 64 hex characters")
                        }
                        file.sha256[name, default: [:]][Catalog.normalizeVersion(vs.string)] = ds.string.lowercased()
                    }
                default:
                    throw bad(
                        """
                        \(key).\(name) has the wrong shape (a single \
                        value\(key == "sha256" ? ", or a version -> digest mapping" : ""))
                        """
                    )
                }
            }
        }
        return file
    }
}

/// Resolves versions/URLs/digests: flags override the components file, which overrides the catalog.
public func resolveComponents(
    _ names: [String], versions: [String: String] = [:],
    file: ComponentsFile? = nil
) throws -> [ResolvedComponent] {
    try names.map { name in
        guard let c = Catalog.component(named: name) else {
            throw AphexError.usage(
                "Unknown component '\(name)'. Known components: \(Catalog.names.joined(separator: ", ")).")
        }
        let version = Catalog.normalizeVersion(versions[name] ?? file?.versions[name] ?? c.defaultVersion)
        let url = (file?.urls[name] ?? c.urlTemplate).replacingOccurrences(of: "{version}", with: version)
        var pin: String? = nil
        var source: String? = nil
        if let d = file?.sha256[name]?[version] ?? file?.sha256[name]?["*"] {
            pin = d
            source = "components file"
        } else if let d = c.digests[version] {
            pin = d
            source = "catalog"
        }
        return ResolvedComponent(component: c, version: version, url: url, pinnedSHA256: pin, pinSource: source)
    }
}
