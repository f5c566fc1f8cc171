import ArgoInstall
import ClusterDrivers
import Foundation
import SecretGen
import Testing

/// The seven-level alias bomb of issue 14 (the same as ClusterDriversTests' YAMLBombs.laughs).
let aliasBomb = """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: bomb
    data:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]

    """

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
        let took = await elapsed { error = #expect(throws: AphexError.self) { _ = try Manifests.parse(text, origin: "the test manifest") } }
        #expect(took < 0.5, "took \(took)s")
        #expect(error?.status == .usage)
        #expect(error?.message.contains("Document 2 of the test manifest contains a YAML anchor (&name) at line 10, column 6 of the file") == true,
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
        #expect(error?.message.contains("'c.yaml' contains a YAML anchor (&name) at line 1, column 11") == true, "\(error?.message ?? "")")
        let took = await elapsed { #expect(throws: AphexError.self) { _ = try ComponentsFile.parse("x:\n" + aliasBomb.replacingOccurrences(of: "\n", with: "\n  "), origin: "c.yaml") } }
        #expect(took < 0.5, "took \(took)s")
    }

    /// Before: the dry run swallowed the parse of a --manifests-dir copy (`try?`), spent 27 s
    /// and 378 MB expanding it, and reported success.
    @Test func dryRunRefusesABombInTheManifestsDir() async throws {
        let h = try Harness()
        h.dir.write("tekton-dashboard-v0.64.0.yaml", Array(aliasBomb.utf8))
        var error: AphexError?
        let took = await elapsed { error = await #expect(throws: AphexError.self) { try await h.install(dryRun: true) } }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("Tekton Dashboard v0.64.0 manifest") == true)
        #expect(took < 2, "took \(took)s")
        #expect(h.cluster.applies.isEmpty)
    }
}
