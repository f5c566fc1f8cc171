import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing

/// docs/ci.md: its YAML parses, its jobs do what the doc promises, and every aphex flag its
/// shell lines use exists in the built aphex (ArgumentParser's dump of the command tree).
@Suite struct CIDocTests {
    static let doc = BuiltAphex.packageRoot.appendingPathComponent("docs/ci.md").path

    /// Fenced ```yaml blocks.
    static func yamlBlocks(_ text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("```yaml") {
                current = []
                continue
            }
            if current != nil, line.hasPrefix("```") {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
                continue
            }
            current?.append(line)
        }
        return blocks
    }

    /// The shell text of every step: GitHub's steps[].run, GitLab's (before_/after_)script.
    static func shellTexts(_ doc: JSON) -> [String] {
        var out: [String] = []
        func visit(_ j: JSON, key: String?) {
            switch j {
            case .object(let o):
                for (k, v) in o { visit(v, key: k) }
            case .array(let a):
                for v in a { visit(v, key: key) }
            case .string(let s):
                if ["run", "script", "before_script", "after_script"].contains(key ?? "") { out.append(s) }
            default: break
            }
        }
        visit(doc, key: nil)
        return out
    }

    /// Each `aphex SUB... --flag ...` in a shell text: the subcommand path and the flags.
    static func invocations(_ shell: String) -> [(path: [String], flags: [String])] {
        let joined = shell.replacingOccurrences(of: "\\\n", with: " ")
        var result: [(path: [String], flags: [String])] = []
        for line in joined.split(separator: "\n") {
            // Shell separators end a command.
            var segments: [String] = [String(line)]
            for sep in ["&&", "||", ";", "|", ">"] { segments = segments.flatMap { $0.components(separatedBy: sep) } }
            for seg in segments {
                let words = seg.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let i = words.firstIndex(where: { $0 == "aphex" || $0.hasSuffix("/aphex") }) else { continue }
                var path: [String] = []
                var j = i + 1
                while j < words.count, words[j].range(of: #"^[a-z][a-z0-9-]*$"#, options: .regularExpression) != nil {
                    path.append(words[j])
                    j += 1
                }
                let rest = words[j...].joined(separator: " ")
                let flags = rest.matches(of: #/(?:^|[\s+"'])(--[a-z][a-z0-9-]*)/#).map { String($0.1) }
                result.append((path, flags))
            }
        }
        return result
    }

    /// Long option names per subcommand path, from `aphex --experimental-dump-help`.
    static func optionTable() async throws -> [String: Set<String>] {
        let out = try await BuiltAphex.run(["--experimental-dump-help"])
        #expect(out.status == 0, "\(out.stderrText)")
        let root = try JSON.parse(out.stdout)
        var table: [String: Set<String>] = [:]
        func walk(_ cmd: JSON, path: [String]) {
            var names = Set<String>(["--help"])
            for arg in cmd["arguments"]?.array ?? [] {
                for n in arg["names"]?.array ?? [] where n["kind"]?.string == "long" {
                    if let name = n["name"]?.string { names.insert("--" + name) }
                }
            }
            table[path.joined(separator: " ")] = names
            for sub in cmd["subcommands"]?.array ?? [] {
                if let name = sub["commandName"]?.string { walk(sub, path: path + [name]) }
            }
        }
        walk(root["command"] ?? root, path: [])
        return table
    }

    @Test func yamlParsesAndEveryAphexFlagExists() async throws {
        let text = try String(contentsOfFile: Self.doc, encoding: .utf8)
        let blocks = Self.yamlBlocks(text)
        #expect(blocks.count == 2, "a GitHub Actions workflow and a GitLab CI job")
        let table = try await Self.optionTable()
        #expect(
            table["bootstrap"]?.contains("--junit") == true, "the dump has the new flags: \(table["bootstrap"] ?? [])")
        var used: [String: Set<String>] = [:]
        for (n, block) in blocks.enumerated() {
            let docs = try SimJSON.documents(block)
            #expect(docs.count == 1, "block \(n) is one YAML document")
            let doc = try #require(docs.first)
            if n == 0 {
                #expect(doc[path: "jobs", "smoke", "steps"]?.array?.isEmpty == false, "GitHub: jobs.smoke.steps")
            }
            if n == 1 {
                #expect(doc[path: "platform-smoke", "script"]?.array?.isEmpty == false, "GitLab: platform-smoke.script")
            }
            for shell in Self.shellTexts(doc) {
                // The shell itself parses (GitHub's ${{ }} expressions are filled in before bash runs).
                let script = shell.replacingOccurrences(of: #"\$\{\{[^}]*\}\}"#, with: "X", options: .regularExpression)
                let check = try await SubprocessRunner().run(
                    Command(["/bin/bash", "-n", "-c", script], checkExit: false))
                #expect(check.status == 0, "bash -n: \(check.stderrText)\n\(script)")
                for inv in Self.invocations(shell) {
                    let key = inv.path.joined(separator: " ")
                    let known = try #require(table[key], "`aphex \(key)` is not an aphex command (\(shell))")
                    for flag in inv.flags {
                        #expect(known.contains(flag), "`aphex \(key)` has no \(flag) (docs/ci.md block \(n))")
                    }
                    used[key, default: []].formUnion(inv.flags)
                }
            }
            // What the issue asks of both jobs.
            let all = Self.shellTexts(doc).joined(separator: "\n")
            for needed in [
                "--deployment kind", "--cluster-name \"$CLUSTER\"", "--timeout 20m", "--junit aphex-junit.xml",
                "--timeline aphex-timeline.svg", "--manifests-dir", "--registry-mirror",
                "status --cluster-name \"$CLUSTER\" --output json",
                "destroy --cluster-name \"$CLUSTER\" --yes"
            ] {
                #expect(all.contains(needed), "block \(n) lacks \(needed)")
            }
            #expect(block.contains("aphex-junit.xml") && block.contains("aphex-timeline.svg"))
        }
        #expect(
            used["bootstrap"]?.isSuperset(of: [
                "--junit", "--timeline", "--manifests-dir", "--registry-mirror", "--cluster-name", "--timeout"
            ]) == true)
        // GitHub: artifacts uploaded and destroy always; GitLab: after_script and artifacts when: always.
        let gh = try SimJSON.documents(blocks[0])[0]
        let steps = gh[path: "jobs", "smoke", "steps"]?.array ?? []
        #expect(
            steps.contains {
                ($0["uses"]?.string ?? "").hasPrefix("actions/upload-artifact") && $0["if"]?.string == "always()"
            })
        #expect(
            steps.contains { ($0["run"]?.string ?? "").contains("aphex destroy") && $0["if"]?.string == "always()" })
        let gl = try SimJSON.documents(blocks[1])[0]["platform-smoke"]
        #expect(gl?[path: "artifacts", "when"]?.string == "always")
        #expect(gl?[path: "artifacts", "reports", "junit"]?.string == "aphex-junit.xml")
        #expect((gl?["after_script"]?.array ?? []).contains { ($0.string ?? "").contains("aphex destroy") })
    }

    @Test func theFlagCheckCatchesATypo() async throws {
        let table = try await Self.optionTable()
        let inv = Self.invocations("aphex bootstrap --deployment kind --junitt x.xml")
        #expect(inv.count == 1 && inv[0].path == ["bootstrap"])
        #expect(inv[0].flags.contains { !(table["bootstrap"] ?? []).contains($0) })
    }
}
