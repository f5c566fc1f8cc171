import AphexCore
import KubeClient
import Foundation
import Testing

/// `aphex manifests pin` and `aphex version`, run as a user would: the catalog pins and the
/// trust-on-first-use lock in ~/.aphex/manifests.lock.
@Suite struct InstallPinTests {
    let home: String = {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-pin-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: p + "/.aphex", withIntermediateDirectories: true)
        return p
    }()

    static let argocdDigest = "a6120f20bb0b8d458fa1753fefe7dd2c36eadfd8e09bbdf81ca61849ef6a2f6f"

    func writeLock(_ text: String) {
        FileManager.default.createFile(atPath: home + "/.aphex/manifests.lock", contents: Data(text.utf8))
    }

    @Test func printsTheCatalogPinsWithoutALock() async throws {
        let out = try await BuiltAphex.run(["manifests", "pin"], home: home)
        #expect(out.status == 0, "\(out.stderrText)")
        let lines = out.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines[0].contains(home + "/.aphex/manifests.lock") && lines[0].contains("not written yet"))
        #expect(lines[1].hasPrefix("COMPONENT"))
        #expect(lines.count == 7)
        #expect(
            lines[2].hasPrefix("argocd") && lines[2].contains("v3.3.0") && lines[2].contains(Self.argocdDigest)
                && lines[2].hasSuffix("catalog"))
        for (line, name) in zip(
            lines[3...], ["tekton-pipelines", "tekton-triggers", "tekton-interceptors", "tekton-dashboard"])
        {
            #expect(line.hasPrefix(name) && line.contains("not recorded yet (trust on first use)"), "\(line)")
        }
    }

    @Test func jsonMergesTheLock() async throws {
        let recorded = String(repeating: "0123456789abcdef", count: 4)
        writeLock(
            """
            {"lockVersion": 1, "manifests": {
              "tekton-pipelines-v0.65.0": {"component": "tekton-pipelines", "version": "v0.65.0",
                "url": "https://github.com/tektoncd/pipeline/releases/download/v0.65.0/release.yaml",
                "sha256": "\(recorded)", "source": "first-use", "recordedAt": "2026-11-24T19:00:00Z"},
              "argocd-v2.9.3": {"component": "argocd", "version": "v2.9.3", "url": \
            "https://raw.githubusercontent.com/argoproj/argo-cd/v2.9.3/manifests/install.yaml",
                "sha256": "0cf971b10e0a68bfaa2849a2f4503ba10f7ea4d85363737ead4d080f2f268abc", "source": "catalog", \
            "recordedAt": "2026-11-24T19:00:00Z"}
            }}
            """)
        let out = try await BuiltAphex.run(["manifests", "pin", "--output", "json"], home: home)
        #expect(out.status == 0, "\(out.stderrText)")
        let doc = try JSON.parse(out.stdoutText)
        #expect(doc["lockFile"]?.string == home + "/.aphex/manifests.lock")
        let items = doc["manifests"]?.array ?? []
        #expect(
            items.map { "\($0["component"]!.string!)-\($0["version"]!.string!)" } == [
                "argocd-v2.9.3", "argocd-v3.3.0", "tekton-pipelines-v0.65.0", "tekton-triggers-v0.34.0",
                "tekton-interceptors-v0.34.0", "tekton-dashboard-v0.64.0"
            ])
        #expect(items[1]["sha256"]?.string == Self.argocdDigest)
        #expect(items[1]["source"]?.string == "catalog")
        #expect(items[1]["recordedAt"] == .null)
        #expect(items[2]["sha256"]?.string == recorded)
        #expect(items[2]["source"]?.string == "first-use")
        #expect(items[2]["recordedAt"]?.string == "2026-11-24T19:00:00Z")
        #expect(items[3]["sha256"] == .null)
        #expect(
            items[3]["url"]?.string == "https://infra.tekton.dev/tekton-releases/triggers/previous/v0.34.0/release.yaml"
        )
    }

    @Test func corruptLockFailsNamingTheFile() async throws {
        writeLock("{not json")
        let out = try await BuiltAphex.run(["manifests", "pin"], home: home)
        #expect(out.status == 1)
        #expect(out.stderrText.contains(home + "/.aphex/manifests.lock"))
        #expect(out.stdoutText.isEmpty)
    }

    @Test func versionReadsTheCatalog() async throws {
        let out = try await BuiltAphex.run(["version", "--output", "json"], home: home)
        #expect(out.status == 0)
        let components = try JSON.parse(out.stdoutText)["components"]
        let expected: JSON = [
            "argocd": "v3.3.0", "tekton-pipelines": "v0.65.0", "tekton-triggers": "v0.34.0",
            "tekton-interceptors": "v0.34.0", "tekton-dashboard": "v0.64.0"
        ]
        #expect(components == expected)
    }
}
