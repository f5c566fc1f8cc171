import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing

/// Parsing, splitting and transforming the real upstream manifests.
@Suite struct ManifestTests {
    func bundle(_ name: String) throws -> ManifestBundle {
        let c = try resolveComponents([name])[0]
        let bytes = try Fixtures.shared(Fixtures.sharedFiles[name]!)
        return try ManifestBundle(
            FetchedManifest(component: c, bytes: bytes, sha256: Digest.sha256Hex(bytes), origin: .cache(path: "x")))
    }

    @Test func argocdSplitsInto59ObjectsWith3CRDs() throws {
        let b = try bundle("argocd")
        let objects = try Manifests.parse(String(decoding: try Fixtures.shared(Fixtures.argocdFile), as: UTF8.self))
        #expect(objects.count == 59)
        #expect(b.crds.count == 3)
        #expect(
            Set(b.crdNames) == ["applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"])
        #expect(b.rest.count == 56)
        // install.yaml has no Namespace: aphex adds argocd and applies the rest with --namespace argocd.
        #expect(b.namespaces.map(\.name) == ["argocd"])
        #expect(b.rest.filter { $0.kind == "StatefulSet" }.map(\.name) == ["argocd-application-controller"])
        #expect(b.rest.filter { $0.kind == "Deployment" }.count == 6)
        let server = b.rest.first { $0.kind == "Deployment" && $0.name == "argocd-server" }!
        #expect(
            server[path: "spec", "template", "spec", "containers"]?[0]?["ports"]?[0]?["containerPort"] == .int(8080))
        #expect(b.rewrites.isEmpty)
        #expect(b.warnings.isEmpty)
        // The CRDs are why client-side apply cannot work: far beyond the 262,144-byte annotation limit.
        #expect(b.crds.map { $0.serialized().utf8.count }.max()! > 262_144)
    }

    @Test func tektonBundlesSplitAndRewriteImages() throws {
        let p = try bundle("tekton-pipelines")
        // 75 objects, each its own document (shared/manifests fixed the two places where a source
        // file's last line ran into the next '---').
        #expect((p.namespaces.count, p.crds.count, p.rest.count) == (2, 9, 64))
        #expect(Set(p.namespaces.compactMap(\.name)) == ["tekton-pipelines", "tekton-pipelines-resolvers"])
        #expect(p.rewrites.count == 8)  // 4 container images + 4 image flags of the controller
        #expect(
            p.rewrites.contains {
                $0.object == "Deployment/tekton-pipelines-controller" && $0.path.hasSuffix(".args[1]")
            })

        #expect(p.warnings.isEmpty)

        let t = try bundle("tekton-triggers")
        #expect(t.warnings.isEmpty)
        #expect((t.namespaces.count, t.crds.count, t.rest.count) == (0, 7, 35))
        #expect(t.rewrites.count == 3)

        let i = try bundle("tekton-interceptors")
        #expect((i.namespaces.count, i.crds.count, i.rest.count) == (0, 0, 8))
        #expect(i.rest.filter { $0.kind == "ClusterInterceptor" }.count == 5)
        #expect(i.rewrites.map(\.to) == ["ghcr.io/tektoncd/github.com/tektoncd/triggers/cmd/interceptors:v0.34.0"])

        for b in [p, t, i] {
            let text = Manifests.stream(b.namespaces + b.crds + b.rest)
            #expect(!text.contains("gcr.io/tekton-releases"))
            #expect(text.components(separatedBy: "ghcr.io/tektoncd/").count - 1 == b.rewrites.count)
        }
    }

    @Test func rewriteTouchesNothingElse() throws {
        let text = String(decoding: try Fixtures.shared(Fixtures.sharedFiles["tekton-pipelines"]!), as: UTF8.self)
        let original = try Manifests.parse(text)
        var rewritten = original
        let rewrites = Manifests.rewriteTektonImages(&rewritten)
        // Undo exactly the reported rewrites: the result is the original, so nothing else changed.
        var undone = Manifests.stream(rewritten)
        for r in rewrites {
            undone = undone.replacingOccurrences(
                of: JSON.string(r.to).serialized(), with: JSON.string(r.from).serialized())
        }
        #expect(undone == Manifests.stream(original))
        #expect(rewritten != original)
    }

    @Test func streamRoundTripsExactly() throws {
        for file in Fixtures.sharedFiles.values {
            let objects = try Manifests.parse(String(decoding: try Fixtures.shared(file), as: UTF8.self))
            #expect(try Manifests.parse(Manifests.stream(objects)) == objects, "\(file)")
        }
    }

    @Test func scalarsResolveLikeKubernetes() throws {
        let objects = try Manifests.parse(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: x, namespace: y}
            data:
              quoted: "true"
              port: "8080"
              date: 2024-01-01
            spec: {replicas: 2, enabled: true, ratio: 0.5, none: null, octal: "0755"}
            ---
            ---
            apiVersion: v1
            kind: List
            items:
              - {apiVersion: v1, kind: Namespace, metadata: {name: a}}
            """)
        #expect(objects.count == 2)
        #expect(objects[0][path: "data", "quoted"] == .string("true"))
        #expect(objects[0][path: "data", "port"] == .string("8080"))
        #expect(objects[0][path: "data", "date"] == .string("2024-01-01"))
        #expect(objects[0][path: "spec", "replicas"] == .int(2))
        #expect(objects[0][path: "spec", "enabled"] == .bool(true))
        #expect(objects[0][path: "spec", "ratio"] == .double(0.5))
        #expect(objects[0][path: "spec", "none"] == .null)
        #expect(objects[0][path: "spec", "octal"] == .string("0755"))
        #expect(objects[1].name == "a")
    }

    /// A source file whose last line runs into the next `---` glues two objects into one
    /// document. Read as kubectl reads it (the last value of each repeated key wins), and said so.
    @Test func twoObjectsRunTogetherAreReadAsKubectlReadsThemAndReported() throws {
        var warnings: [String] = []
        let objects = try Manifests.parse(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: first
            data:
              a: one---
            apiVersion: v1
            kind: Secret
            metadata:
              name: second
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: third
            """, origin: "fixture.yaml", warnings: { warnings.append($0) })
        #expect(objects.map { "\($0.kind ?? "")/\($0.name ?? "")" } == ["Secret/second", "ConfigMap/third"])
        #expect(warnings.count == 1)
        #expect(
            warnings.first?.contains(
                "Document 1 of fixture.yaml repeats the top-level key(s) apiVersion, kind, metadata") == true)
        #expect(warnings.first?.contains("only Secret/second is applied") == true)
    }

    /// A JSON stream (first non-blank byte `{`) is read as kubectl reads it: values separated
    /// by whitespace, and a `---` between them is an error, not a document separator.
    @Test func jsonStreamsAreReadAsKubectlReadsThem() throws {
        let two = try Manifests.parse(
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n"
                + "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}")
        #expect(two.map(\.name) == ["a", "b"])
        #expect(throws: AphexError.self) {
            try Manifests.parse(
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n---\n"
                    + "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}")
        }
    }

    @Test func notAManifestIsRefused() {
        #expect(throws: AphexError.self) { try Manifests.parse("<html>404</html>") }
        #expect(throws: AphexError.self) { try Manifests.parse("a: [unclosed") }
    }
}

@Suite struct CatalogTests {
    @Test func defaultsAndURLs() throws {
        let all = try resolveComponents(Catalog.names)
        #expect(all.map(\.version) == ["v3.3.0", "v0.65.0", "v0.34.0", "v0.34.0", "v0.64.0"])
        #expect(all[0].url == "https://raw.githubusercontent.com/argoproj/argo-cd/v3.3.0/manifests/install.yaml")
        #expect(all[1].url == "https://github.com/tektoncd/pipeline/releases/download/v0.65.0/release.yaml")
        #expect(all[2].url == "https://infra.tekton.dev/tekton-releases/triggers/previous/v0.34.0/release.yaml")
        #expect(all[3].url == "https://infra.tekton.dev/tekton-releases/triggers/previous/v0.34.0/interceptors.yaml")
        #expect(all[4].url == "https://github.com/tektoncd/dashboard/releases/download/v0.64.0/release.yaml")
        #expect(all.map { $0.pinnedSHA256 != nil } == [true, false, false, false, false])
    }

    @Test func flagsOverrideTheFileWhichOverridesTheCatalog() throws {
        let file = try ComponentsFile.parse(
            """
            versions:
              argocd: 2.9.3
              tekton-dashboard: v0.65.0
            urls:
              tekton-dashboard: https://mirror.example/dashboard/{version}/release.yaml
            sha256:
              tekton-dashboard: \(String(repeating: "AB", count: 32))
            """)
        let r = try resolveComponents(
            ["argocd", "tekton-dashboard"], versions: ["tekton-dashboard": "0.66.1"], file: file)
        #expect(r[0].version == "v2.9.3")
        #expect(r[0].pinnedSHA256 == "0cf971b10e0a68bfaa2849a2f4503ba10f7ea4d85363737ead4d080f2f268abc")
        #expect(r[1].version == "v0.66.1")
        #expect(r[1].url == "https://mirror.example/dashboard/v0.66.1/release.yaml")
        #expect(r[1].pinnedSHA256 == String(repeating: "ab", count: 32))
        #expect(r[1].pinSource == "components file")
        // A version without a known digest is trusted on first use.
        #expect(try resolveComponents(["argocd"], versions: ["argocd": "v3.2.0"])[0].pinnedSHA256 == nil)
    }

    @Test func badComponentsFilesAreUsageErrors() {
        for text in [
            "versions: {argo: v1.0.0}", "versions: {argocd: latest}", "urls: {argocd: ftp://x}",
            "sha256: {argocd: abc}", "pins: {}", "- a list"
        ] {
            let error = #expect(throws: AphexError.self) { try ComponentsFile.parse(text) }
            #expect(error?.status == .usage, "\(text)")
        }
    }
}
