import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing
import Yams

/// YAML alias bombs (issue 14, item 6): a few hundred bytes whose aliases expand exponentially.
enum YAMLBombs {
    static let laughs = AliasBomb.manifest

    /// The same tree used as mapping keys: Yams hashes keys to find duplicates while it
    /// composes, so this one is exponential inside `Yams.compose` itself.
    static let aliasKeys = laughs + "  keys: {? *g : 1, ? *f : 2}\n"

    /// A kubeconfig that smuggles the bomb in.
    static let kubeconfig = """
        apiVersion: v1
        kind: Config
        x: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        y: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        z: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        w: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        v: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        u: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        t: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", extra: *g}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c

        """
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start).seconds
}

@Suite struct YAMLGuardTests {
    @Test func aliasBombIsRefusedAtTheFirstAnchorInMilliseconds() throws {
        var refusal: YAMLGuard.Refusal?
        let took = seconds { refusal = YAMLGuard.check(YAMLBombs.laughs) }
        #expect(refusal == YAMLGuard.Refusal(kind: .anchor, line: 6, column: 6))
        #expect(took < 0.5, "took \(took)s")
        let thrown = #expect(throws: YAMLGuard.Refusal.self) { _ = try YAMLGuard.compose(YAMLBombs.laughs) }
        #expect(thrown?.description == "a YAML anchor (&name) at line 6, column 6")
        #expect(thrown?.advice.contains("explode") == true)
    }

    @Test func aliasKeysAreRefusedBeforeYamsHashesThem() throws {
        let took = try seconds {
            #expect(throws: YAMLGuard.Refusal.self) { _ = try YAMLGuard.compose(YAMLBombs.aliasKeys) }
            #expect(throws: YAMLGuard.Refusal.self) { _ = try YAMLGuard.load(YAMLBombs.aliasKeys) }
            _ = try #require(YAMLGuard.check(YAMLBombs.aliasKeys))
        }
        #expect(took < 0.5, "took \(took)s")
    }

    @Test func aliasWithoutAnchorAndAnchorWithoutAlias() {
        // An alias to nothing is still an alias event (libyaml reports it; Yams would fail on it).
        #expect(YAMLGuard.check("a: *nowhere\n")?.kind == .alias)
        #expect(YAMLGuard.check("a: &x 1\nb: 2\n") == YAMLGuard.Refusal(kind: .anchor, line: 1, column: 4))
        #expect(YAMLGuard.check("- &s [1]\n")?.kind == .anchor)
        #expect(YAMLGuard.check("- &m {a: 1}\n")?.kind == .anchor)
        #expect(YAMLGuard.check("base: {a: 1}\nother:\n  <<: *base\n")?.kind == .alias)
    }

    /// `&` and `*` that are not anchors or aliases (shell scripts, RBAC wildcards, globs) pass.
    @Test func lookalikesInScalarsAndCommentsPass() throws {
        let text = """
            rules:
            - apiGroups: ['*']
              resources: ["*"]
              verbs: [get, "&list"]
            script: |
              case "$1" in
                *) echo a && echo b ;;
              esac
              &not-an-anchor
            folded: >
              *still text
            plain: a&b *c d*
            glob: echo *.yaml
            # &comment *comment

            """
        #expect(YAMLGuard.check(text) == nil)
        let node = try #require(try YAMLGuard.compose(text))
        #expect(node["plain"]?.string == "a&b *c d*")
        #expect(node["script"]?.string?.contains("*) echo a && echo b ;;") == true)
    }

    @Test func nestingIsCappedAt512() {
        func nested(_ n: Int) -> String { String(repeating: "[", count: n) + String(repeating: "]", count: n) + "\n" }
        #expect(YAMLGuard.check(nested(YAMLGuard.maxDepth)) == nil)
        #expect(YAMLGuard.check(nested(YAMLGuard.maxDepth + 1))?.kind == .tooDeep)
        #expect(YAMLGuard.check(nested(1000)) == YAMLGuard.Refusal(kind: .tooDeep, line: 1, column: 513))
        // Beyond 1000 levels libyaml itself (Yams' copy) stops at the first event: a YAML error.
        let took = seconds { #expect(throws: YamlError.self) { _ = try YAMLGuard.compose(nested(200_000)) } }
        #expect(took < 0.5, "took \(took)s")
    }

    /// The one YAML quoting aphex renders with (kind's config, Secret manifests): whatever the
    /// value, it reads back as itself and cannot end the scalar.
    @Test func quotedScalarsReadBackAsThemselves() throws {
        let value = "a\"b\\c\nd\te\r\u{1}: &x *y # z"
        #expect(YAMLScalar.quoted(value) == #""a\"b\\c\nd\te\r\u0001: &x *y # z""#)
        let doc = try #require(try Yams.load(yaml: "k: \(YAMLScalar.quoted(value))\n") as? [String: Any])
        #expect(doc["k"] as? String == value)
    }

    @Test func syntaxErrorsAreLeftToYams() {
        #expect(YAMLGuard.check("a: [1, 2\n") == nil)
        #expect(YAMLGuard.check("") == nil)
        #expect(throws: YamlError.self) { _ = try YAMLGuard.compose("a: [1, 2\n") }
    }

    @Test func kubeconfigWithAnchorsIsAUsageErrorNamingTheFix() throws {
        let path = try KubeconfigFixtures.write(YAMLBombs.kubeconfig, name: "bomb")
        defer { KubeconfigFixtures.remove(path) }
        var error: AphexError?
        let took = seconds { error = #expect(throws: AphexError.self) { _ = try Kubeconfig.load(path: path) } }
        #expect(took < 0.5, "took \(took)s")
        #expect(error?.status == .usage)
        #expect(error?.message.contains("YAML anchor (&name) at line 3, column 4") == true)
        #expect(error?.message.contains("--kubeconfig") == true)
        // The small reader used for messages gives up instead of expanding.
        #expect(Kubeconfig.serverURL(path: path, context: nil) == nil)
    }

    /// CYamlEvents declares libyaml's functions and types with a copy of the yaml.h Yams
    /// compiles libyaml with; the two must stay identical (struct layouts are shared).
    @Test func libyamlHeaderMatchesTheOneYamsCompiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let ours = root.appendingPathComponent("Sources/CYamlEvents/libyaml.h").path
        let candidates = [
            ".build/checkouts/Yams/Sources/CYaml/include/yaml.h",
            ".build/repositories/Yams/Sources/CYaml/include/yaml.h"
        ].map { root.appendingPathComponent($0).path }
        guard let yams = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            Issue.record("Yams' checkout was not found under .build; cannot compare libyaml headers")
            return
        }
        #expect(
            FileManager.default.contents(atPath: ours) == FileManager.default.contents(atPath: yams),
            "Sources/CYamlEvents/libyaml.h differs from \(yams): copy it again")
    }
}
