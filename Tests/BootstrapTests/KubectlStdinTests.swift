@testable import ArgoInstall
@testable import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import SimCluster
import Testing

/// Every stream aphex pipes into `kubectl apply -f -`, fed to the REAL kubectl's stdin reader.
/// The stand-in kubectl once accepted JSON objects separated by `---`; the real one reads a
/// stream starting with `{` as JSON and stops at the first `---` (issue 12), so bootstrap could
/// not install ArgoCD on any real cluster. kubectl must decode exactly the objects aphex meant,
/// in order.
@Suite struct KubectlStdinTests {
    static let manifests = (RealAPI.directory as NSString).deletingLastPathComponent + "/manifests"
    static let files = [
        "argocd": "argocd-v3.3.0-install.yaml",
        "tekton-pipelines": "tekton-pipelines-v0.65.0-assembled.yaml",
        "tekton-triggers": "tekton-triggers-v0.34.0-assembled.yaml",
        "tekton-interceptors": "tekton-interceptors-v0.34.0-assembled.yaml"
    ]

    func bundle(_ name: String) throws -> ManifestBundle {
        let c = try resolveComponents([name])[0]
        let bytes = [UInt8](FileManager.default.contents(atPath: Self.manifests + "/" + Self.files[name]!) ?? Data())
        return try ManifestBundle(
            FetchedManifest(component: c, bytes: bytes, sha256: Digest.sha256Hex(bytes), origin: .cache(path: "x")))
    }

    /// `kind[.group]/name`, as `kubectl -o name` prints it.
    func kubectlName(_ o: JSON) -> String {
        let group = (o.apiVersion ?? "").split(separator: "/").dropLast().first.map { ".\($0)" } ?? ""
        return "\((o.kind ?? "").lowercased())\(group)/\(o.name ?? "")"
    }

    /// kubectl decodes `stream` into exactly `expected` (by -o name), with exit 0.
    func expectKubectlReads(_ stream: String, as expected: [JSON], _ what: String) throws {
        let r = try RealKubectl.objectsDecoded(from: Array(stream.utf8))
        let names = r.stdout.split(separator: "\n").map(String.init)
        #expect(r.status == 0, "\(what): kubectl exited \(r.status): \(r.stderr)")
        #expect(
            names == expected.map(kubectlName),
            "\(what): kubectl decoded \(names.count) of \(expected.count) objects. stderr: \(r.stderr)")
    }

    @Test func releaseManifestsMarkersConfigAndRootApplicationReachKubectlWhole() throws {
        var bundles: [ManifestBundle] = []
        for name in Self.files.keys.sorted() { bundles.append(try bundle(name)) }
        let total: Int = bundles.map(\.objectCount).reduce(0, +)
        #expect(total == 59 + 75 + 42 + 8 + 1)  // + the argocd Namespace aphex adds
        for b in bundles {
            // Installer: namespaces, CRDs, the rest, then the version marker: each its own kubectl run.
            for (part, objects) in [("namespaces", b.namespaces), ("CRDs", b.crds), ("objects", b.rest)]
            where !objects.isEmpty {
                try expectKubectlReads(Manifests.stream(objects), as: objects, "\(b.name) \(part)")
            }
            let marker = VersionMarker.render(b, appliedAt: Date())
            try expectKubectlReads(Manifests.stream([marker]), as: [marker], "\(b.name) marker")
        }
        let cm = ArgoCDConfig.partialConfigMap("argocd-cm", data: [ArgoCDConfig.healthKey: ArgoCDConfig.healthLua])
        try expectKubectlReads(Manifests.stream([cm]), as: [cm], "argocd-cm")
        let root = RootApplication(deployment: .kind).object
        try expectKubectlReads(Manifests.stream([root]), as: [root], "platform-root")
    }

    @Test func namespacesAndSecretsReachKubectlWhole() throws {
        let ns = namespacesManifest(platformNamespaces)
        try expectKubectlReads(
            ns,
            as: platformNamespaces.map { ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string($0)]] },
            "namespaces")
        let writes = [
            SecretWrite(
                id: SecretID(namespace: "auth-system", name: "dex-secrets"), method: .serverSideApply, exists: false,
                data: ["client-secret": "a\"b\\c\nd", "argocd-client-secret": "x"], changedKeys: ["client-secret"]),
            SecretWrite(
                id: SecretID(namespace: "argocd", name: "argocd-secret"), method: .serverSideApply, exists: true,
                data: ["oidc.dex.clientSecret": "y"], changedKeys: ["oidc.dex.clientSecret"])
        ]
        let secrets = SecretManifest.yaml(writes, createdAt: "2026-12-02T00:00:00Z")
        try expectKubectlReads(
            secrets,
            as: writes.map { ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string($0.id.name)]] },
            "secrets")
    }

    /// The regression itself: the old separator loses every object after the first.
    @Test func jsonObjectsSeparatedByYAMLDashesLoseAllButTheFirst() throws {
        let objects: [JSON] = [
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "a"]],
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "b"]]
        ]
        let old = objects.map { $0.serialized() }.joined(separator: "\n---\n") + "\n"
        let r = try RealKubectl.objectsDecoded(from: Array(old.utf8))
        #expect(r.status == 1)
        #expect(r.stdout == "configmap/a\n")
        #expect(r.stderr.contains("invalid character '-' in numeric literal"))
        #expect(Manifests.stream(objects) != old)
        try expectKubectlReads(Manifests.stream(objects), as: objects, "two ConfigMaps")
    }
}
