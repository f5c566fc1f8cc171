@testable import AphexCLI
import AphexCore
import Bootstrap
import KubeClient
import Testing

@Suite struct VersionTests {
    @Test func jsonNamesTheVersionAndComponents() async throws {
        let t = TestContext()
        let cmd = try Version.parse(["--output", "json"])
        try await cmd.run(cmd.context(t.ctx))
        let doc = try JSON.parse(t.out.text)
        #expect(doc["aphex"]?.string == aphexVersion)
        #expect(doc["testBuild"]?.bool == TestHooks.compiledIn)
        #expect(doc[path: "components", "argocd"]?.string != nil)
        #expect(t.out.text.hasPrefix("{\n  \"aphex\": ") && t.out.text.hasSuffix("}\n"))
    }

    @Test func textListsComponentsSorted() async throws {
        let t = TestContext()
        let cmd = try Version.parse([])
        try await cmd.run(cmd.context(t.ctx))
        let lines = t.out.text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("aphex \(aphexVersion)") == true)
        let names = lines.dropFirst().map { String($0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) }
        #expect(!names.isEmpty && names == names.sorted())
    }
}
