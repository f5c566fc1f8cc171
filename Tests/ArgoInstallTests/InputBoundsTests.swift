import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import SimCluster
import Testing
import TestSupport

let aliasBomb = AliasBomb.manifest

func elapsed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Item 6: YAML anchors and aliases in manifests and the components file are bad input (exit
/// 2) found before anything is composed.
@Suite struct YAMLBombTests {
    @Test func manifestAliasBombIsAUsageErrorWithTheFileLine() async throws {
        // Behind two documents: the line is the file's, not the document's.
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n" + aliasBomb
        var error: AphexError?
        let took = await elapsed {
            error = #expect(throws: AphexError.self) { _ = try Manifests.parse(text, origin: "the test manifest") }
        }
        #expect(took < 0.5, "took \(took)s")
        #expect(error?.status == .usage)
        #expect(
            error?.message.contains(
                "Document 2 of the test manifest contains a YAML anchor (&name) at line 10, column 6 of the file")
                == true,
            "\(error?.message ?? "")")
        #expect(throws: AphexError.self) { try Manifests.checkYAML(text, origin: "x") }
    }

    @Test func realManifestsPassTheGate() throws {
        for file in Fixtures.sharedFiles.values {
            try Manifests.checkYAML(String(decoding: try Fixtures.shared(file), as: UTF8.self), origin: file)
        }
    }

    @Test func componentsFileWithAliasesIsAUsageError() async throws {
        let text = "versions: &v {argocd: v3.3.0}\nurls: *v\n"
        let error = #expect(throws: AphexError.self) { _ = try ComponentsFile.parse(text, origin: "c.yaml") }
        #expect(error?.status == .usage)
        #expect(
            error?.message.contains("'c.yaml' contains a YAML anchor (&name) at line 1, column 11") == true,
            "\(error?.message ?? "")")
        let took = await elapsed {
            #expect(throws: AphexError.self) {
                _ = try ComponentsFile.parse(
                    "x:\n" + aliasBomb.replacingOccurrences(of: "\n", with: "\n  "), origin: "c.yaml")
            }
        }
        #expect(took < 0.5, "took \(took)s")
    }

    /// Before: the dry run swallowed the parse of a --manifests-dir copy (`try?`), spent 27 s
    /// and 378 MB expanding it, and reported success.
    @Test func dryRunRefusesABombInTheManifestsDir() async throws {
        let h = try Harness()
        h.dir.write("tekton-dashboard-v0.64.0.yaml", Array(aliasBomb.utf8))
        var error: AphexError?
        let took = await elapsed {
            error = await #expect(throws: AphexError.self) { try await h.install(["tekton-dashboard"], dryRun: true) }
        }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("Tekton Dashboard v0.64.0 manifest") == true)
        #expect(took < 2, "took \(took)s")
        #expect(h.cluster.applies.isEmpty)
    }
}

/// Item 7: --require-pinned / APHEX_REQUIRE_PINNED=1.
@Suite struct RequirePinnedTests {
    let home = Fixtures.TempDir()

    func fetcher(requirePinned: Bool, manifestsDir: String? = nil) -> ManifestFetcher {
        var s = FetchSettings(
            cacheDirectory: home.path + "/cache", lockPath: home.path + "/manifests.lock", manifestsDir: manifestsDir)
        s.requirePinned = requirePinned
        return ManifestFetcher(
            transport: NoNetworkTransport(), clock: VirtualClock(), reporter: CollectingReporter(), settings: s)
    }

    @Test func unpinnedComponentsAreRefusedBeforeAnythingIsRead() async throws {
        let dir = try Fixtures.manifestsDir()
        let tekton = try resolveComponents(["tekton-pipelines"])[0]
        let error = await #expect(throws: AphexError.self) {
            _ = try await fetcher(requirePinned: true, manifestsDir: dir.path).fetch(tekton)
        }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("Tekton Pipelines v0.65.0") == true)
        #expect(error?.message.contains("sha256: {tekton-pipelines:") == true)
        #expect(!FileManager.default.fileExists(atPath: home.path + "/manifests.lock"), "nothing was recorded")
        // Without the flag the same copy is trusted on first use ...
        _ = try await fetcher(requirePinned: false, manifestsDir: dir.path).fetch(tekton)
        #expect(
            try ManifestLock.load(path: home.path + "/manifests.lock").entries["tekton-pipelines-v0.65.0"]?.source
                == "first-use")
        // ... and that recorded digest does not count as a pin.
        await #expect(throws: AphexError.self) {
            _ = try await fetcher(requirePinned: true, manifestsDir: dir.path).fetch(tekton)
        }
    }

    @Test func catalogAndComponentsFilePinsAreAccepted() async throws {
        let dir = try Fixtures.manifestsDir()
        let argocd = try resolveComponents(["argocd"])[0]
        #expect(argocd.pinSource == "catalog")
        _ = try await fetcher(requirePinned: true, manifestsDir: dir.path).fetch(argocd)

        let bytes = try Fixtures.shared(Fixtures.sharedFiles["tekton-pipelines"]!)
        let file = try ComponentsFile.parse("sha256:\n  tekton-pipelines: \(Digest.sha256Hex(bytes))\n")
        let tekton = try resolveComponents(["tekton-pipelines"], file: file)[0]
        let m = try await fetcher(requirePinned: true, manifestsDir: dir.path).fetch(tekton)
        #expect(m.sha256 == Digest.sha256Hex(bytes))
    }

    @Test func requirePinsNamesEveryUnpinnedComponentAtOnce() throws {
        let error = #expect(throws: AphexError.self) {
            try ManifestFetcher.requirePins(try resolveComponents(Catalog.names))
        }
        #expect(error?.status == .usage)
        for label in ["Tekton Pipelines", "Tekton Triggers", "Tekton Core Interceptors", "Tekton Dashboard"] {
            #expect(error?.message.contains(label) == true, "\(label)")
        }
        #expect(error?.message.contains("ArgoCD v3.3.0") == false)
    }

    @Test func componentsFileCarriesTheK3sInstallerPinAndURL() throws {
        let digest = String(repeating: "ab", count: 32)
        let file = try ComponentsFile.parse(
            """
            urls:
              k3s-installer: https://mirror.example/k3s/{version}/install.sh
            sha256:
              k3s-installer:
                v1.31.4+k3s1: \(digest.uppercased())

            """)
        #expect(file.k3sInstallerURL == "https://mirror.example/k3s/{version}/install.sh")
        #expect(file.k3sInstallerSHA256(version: "v1.31.4+k3s1") == digest)
        #expect(file.k3sInstallerSHA256(version: "v1.32.0+k3s1") == nil)
        #expect(
            try ComponentsFile.parse("urls: {k3s-installer: 'file:///srv/install.sh'}\n").k3sInstallerURL
                == "file:///srv/install.sh")
        // It runs as root: no http://, and its version is --k3s-version's.
        let http = #expect(throws: AphexError.self) {
            _ = try ComponentsFile.parse("urls: {k3s-installer: 'http://mirror/install.sh'}\n")
        }
        #expect(http?.message.contains("https:// or file:///") == true)
        let version = #expect(throws: AphexError.self) {
            _ = try ComponentsFile.parse("versions: {k3s-installer: v1.31.4}\n")
        }
        #expect(version?.message.contains("--k3s-version") == true)
    }
}
