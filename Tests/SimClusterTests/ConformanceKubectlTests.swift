import AphexCore
import KubeClient
import Foundation
@testable import SimCluster
import Testing

/// The REAL kubectl against the simulator, held to what the real kubectl did against a real API
/// server: how it splits stdin (kubectl-stdin-formats.md), what it prints (kubectl-messages.md)
/// and which requests it sends with which answers (kubectl-apply-serverside.txt).
@Suite(.serialized) struct ConformanceKubectl {
    /// Runs the real kubectl against the world's loopback socket, with its own HOME (discovery
    /// and HTTP cache: `cold` starts empty).
    static func kubectl(_ sim: SimCluster, _ args: [String], stdin: [UInt8]? = nil, home: String? = nil) -> ToolResult {
        KubectlPassthrough.run(
            args: ["--kubeconfig", sim.kubeconfigPath] + args, stdin: stdin,
            environment: ["HOME": home ?? sim.home, "PATH": "/usr/local/bin:/usr/bin:/bin"],
            workingDirectory: sim.home, timeout: 120)
    }

    static func input(_ name: String) throws -> [UInt8] {
        if name == "argocd-v3.3.0-install.yaml" {
            return [UInt8](FileManager.default.contents(atPath: Conformance.manifests + "/" + name) ?? Data())
        }
        return try RealAPI.bytes("kubectl-inputs/" + name)
    }

    /// Requests that reached the simulator, minus the Google Cloud SDK dispatcher's own
    /// `GET /version` and the HTTP cache's revalidations (304: kubectl logs them as cached).
    static func requests(_ sim: SimCluster, since seq: Int) -> [RecordedRequest] {
        sim.record.requests.filter { $0.seq > seq && $0.path != "/version" && $0.status != 304 }
    }

    // MARK: stdin formats

    struct StdinRow: CustomStringConvertible, Sendable {
        var file: String
        var exit: Int32
        var applied: [String]
        var stderr: String
        var description: String { file }
    }

    /// The table of kubectl-stdin-formats.md: input | shape | exit | applied | outcome | stderr.
    static let stdinRows: [StdinRow] = {
        let text = (try? RealAPI.bytes("kubectl-stdin-formats.md")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: "\n").compactMap { line -> StdinRow? in
            guard line.hasPrefix("| ["), let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")")
            else { return nil }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 7 else { return nil }
            let applied =
                cells[4] == "—" ? [] : cells[4].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            var stderr = cells[6]
            if stderr.hasPrefix("`") && stderr.hasSuffix("`") { stderr = String(stderr.dropFirst().dropLast()) }
            return StdinRow(
                file: String(line[line.index(after: open)..<close]), exit: Int32(cells[3]) ?? -1, applied: applied,
                stderr: stderr)
        }
    }()

    @Test func theStdinTableCoversEveryStdinFile() {
        let files = Conformance.allFiles.filter { Conformance.role($0) == .stdinFormat }
        #expect(Self.stdinRows.count == 19)
        #expect(Set(Self.stdinRows.map(\.file)) == Set(files))
    }

    @Test(arguments: ConformanceKubectl.stdinRows)
    func kubectlSplitsStdinAsRecorded(_ row: StdinRow) throws {
        let sim = try Conformance.world()
        let r = Self.kubectl(
            sim, ["apply", "--server-side", "--dry-run=server", "-f", "-"], stdin: try RealAPI.bytes(row.file))
        #expect(r.status == row.exit, "\(row.file): \(r.stderr)")
        let applied = r.stdout.split(separator: "\n").map(String.init)
        #expect(
            applied == row.applied.map { "configmap/\($0) serverside-applied (server dry run)" },
            "\(row.file): \(r.stderr)")
        #expect(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines) == row.stderr, "\(row.file)")
        // Nothing is stored by a dry run.
        #expect(sim.world.get(ResourceRef.configMaps, namespace: "default", name: "stdin-a") == nil)
    }

    // MARK: kubectl-messages.md

    static func messagesBlock(after heading: String) throws -> String {
        let text = String(decoding: try RealAPI.bytes("kubectl-messages.md"), as: UTF8.self)
        guard let h = text.range(of: heading), let open = text.range(of: "```\n", range: h.upperBound..<text.endIndex),
            let close = text.range(of: "```", range: open.upperBound..<text.endIndex)
        else {
            throw SimError("kubectl-messages.md has no block after \(heading)")
        }
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test func serverSideApplyConflictMessage() throws {
        let sim = try Conformance.world()
        // data.key co-owned by the Apply managers manager-b and manager-d (ssa-conflict/1..6).
        for f in Conformance.conflictFiles { try Conformance.run(.replay(Conformance.conflict + f), sim) }
        let r = Self.kubectl(
            sim, ["apply", "--server-side", "--field-manager=manager-x", "-f", "-"],
            stdin: try Self.input("conflict-x.yaml"))
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == (try Self.messagesBlock(after: "## Server-side apply conflict")), "\(r.stderr)")
    }

    @Test func customResourceWithoutItsCRD() throws {
        let sim = try Conformance.world()
        let block = try Self.messagesBlock(after: "## Custom resource whose CRD is not installed")
        for args in [
            ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-f", "-"], ["create", "-f", "-"]
        ] {
            let before = sim.record.requests.last?.seq ?? 0
            let r = Self.kubectl(sim, args, stdin: try Self.input("app.yaml"))
            #expect(r.status == 1)
            #expect(r.stderr == block, "\(args): \(r.stderr)")
            #expect(!Self.requests(sim, since: before).contains { $0.method != "GET" }, "no write request is sent")
        }
        let get = Self.kubectl(sim, ["get", "applications", "-n", "argocd", "-o", "json"])
        #expect(get.status == 1)
        #expect(get.stderr == "error: the server doesn't have a resource type \"applications\"\n")
    }

    @Test func clientSideApplyOfArgoCDIsTooLong() throws {
        let sim = try Conformance.world()
        try Conformance.run(.namespace("argocd"), sim)
        let r = Self.kubectl(
            sim, ["apply", "-n", "argocd", "--dry-run=server", "-f", "-"],
            stdin: try Self.input("argocd-v3.3.0-install.yaml"))
        #expect(r.status == 1)
        #expect(
            r.stdout.split(separator: "\n").filter { $0.hasSuffix(" created (server dry run)") }.count == 58,
            "\(r.stdout)")
        #expect(
            r.stderr.trimmingCharacters(in: .newlines)
                == #"""
                The CustomResourceDefinition "applicationsets.argoproj.io" is invalid: metadata.annotations: Too \#
                long: may not be more than 262144 bytes
                """#,
            "\(r.stderr)")
    }

    @Test func webhookWithAnEmptyCABundle() throws {
        let sim = try Conformance.world()
        try Conformance.run(.certManagerEmptyCABundle, sim)
        let block = try Self.messagesBlock(after: "## Webhook with an empty caBundle")
        let create = Self.kubectl(
            sim, ["create", "--dry-run=server", "-o", "name", "-f", "-"], stdin: try Self.input("issuer.yaml"))
        #expect(create.status == 1)
        // The recorded block uses PORT; the setup reused the recorded port.
        let port =
            try RealAPI.responseBody("errors/500-dryrun-create-issuer-webhook-x509.json")["message"]?.string?
            .components(separatedBy: "127.0.0.1:").dropFirst().first?.prefix { $0.isNumber } ?? ""
        #expect(create.stderr == block.replacingOccurrences(of: "PORT", with: String(port)), "\(create.stderr)")
        let apply = Self.kubectl(
            sim,
            ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "--dry-run=server", "-f", "-"],
            stdin: try Self.input("issuer.yaml"))
        #expect(apply.status == 1)
        #expect(
            apply.stderr
                == block.replacingOccurrences(of: "PORT", with: String(port)).replacingOccurrences(
                    of: "error when creating \"STDIN\": ", with: ""),
            "\(apply.stderr)")
    }

    @Test func dryRunOfANewNamespaceAndItsObjects() throws {
        let sim = try Conformance.world()
        let r = Self.kubectl(
            sim,
            ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "--dry-run=server", "-f", "-"],
            stdin: try Self.input("small2.yaml"))
        #expect(r.status == 1)
        #expect(r.stdout == "namespace/demo2 serverside-applied (server dry run)\n")
        #expect(
            r.stderr == String(repeating: "Error from server (NotFound): namespaces \"demo2\" not found\n", count: 2),
            "\(r.stderr)")
    }

    @Test func successfulApplyPrintsTheSameLinesWhenNothingChanged() throws {
        let sim = try Conformance.world()
        let lines =
            """
            namespace/demo serverside-applied\nconfigmap/demo-config serverside-applied\ndeployment.apps/demo-web \
            serverside-applied\n
            """
        for _ in 0..<2 {
            let r = Self.kubectl(
                sim, ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-f", "-"],
                stdin: try Self.input("small.yaml"))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == lines)
        }
    }

    @Test func createSecretDryRunClientSendsNothing() throws {
        let sim = try Conformance.world()
        let before = sim.record.requests.last?.seq ?? 0
        let r = Self.kubectl(
            sim, ["create", "secret", "generic", "x", "--from-file=k=/dev/stdin", "--dry-run=client", "-o", "yaml"],
            stdin: Array("s3cret".utf8))
        #expect(r.status == 0)
        #expect(r.stdout == (try Self.messagesBlock(after: "## kubectl create secret generic x")))
        #expect(Self.requests(sim, since: before).isEmpty)
    }

    @Test func getApplicationsJSONIsRewrappedAsAList() throws {
        let sim = try Conformance.world()
        try Conformance.run(.seedApplications, sim)
        let r = Self.kubectl(sim, ["get", "applications", "-n", "argocd", "-o", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let list = try JSON.parse(r.stdout)
        #expect(list["kind"] == "List" && list["apiVersion"] == "v1" && list[path: "metadata", "resourceVersion"] == "")
        #expect(list.items.count == 10)
        #expect(r.stdout.hasPrefix("{\n    \"apiVersion\": \"v1\",\n    \"items\": ["))
    }

    /// kubectl-inputs/dep.yaml is the body of ssa/4: applied by the real kubectl, the stored
    /// Deployment has the structure of the recorded response, and a second apply writes nothing.
    @Test func deploymentAppliedByKubectlIsStoredAsRecorded() throws {
        let sim = try Conformance.world()
        let args = ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-f", "-"]
        let first = Self.kubectl(sim, args, stdin: try Self.input("dep.yaml"))
        #expect(first.status == 0 && first.stdout == "deployment.apps/web serverside-applied\n", "\(first.stderr)")
        let stored = try #require(sim.world.get(ResourceRef.deployments, namespace: "default", name: "web"))
        let recorded = try RealAPI.responseBody("ssa/4-apply-deployment-create.json")
        #expect(Shape.diff(recorded, stored).isEmpty, "\(Shape.diff(recorded, stored))")
        #expect(
            stored[path: "metadata", "managedFields"]
                == recorded[path: "metadata", "managedFields"].map { entries in
                    .array(
                        (entries.array ?? []).map {
                            var e = $0
                            e["time"] = stored[path: "metadata", "managedFields"]?[0]?["time"]
                            return e
                        })
                })
        let second = Self.kubectl(sim, args, stdin: try Self.input("dep.yaml"))
        #expect(second.status == 0)
        #expect(
            sim.world.get(ResourceRef.deployments, namespace: "default", name: "web")?[
                path: "metadata", "resourceVersion"]
                == stored[path: "metadata", "resourceVersion"])
    }

    /// kubectl-inputs/argocd-cm-health.yaml, as aphex configures ArgoCD: a key added to argocd-cm
    /// under its own field manager survives a re-apply of ArgoCD's install.yaml by "aphex" (the
    /// release manifest's argocd-cm owns no data), because only its owner can remove it.
    @Test func aKeyAddedUnderItsOwnManagerSurvivesReapplyingTheRelease() throws {
        let sim = try Conformance.world()
        try Conformance.run(.namespace("argocd"), sim)
        let install = [
            "apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-n", "argocd", "-f", "-"
        ]
        #expect(Self.kubectl(sim, install, stdin: try Self.input("argocd-v3.3.0-install.yaml")).status == 0)
        let health = Self.kubectl(
            sim, ["apply", "--server-side", "--field-manager=aphex-health", "-f", "-"],
            stdin: try Self.input("argocd-cm-health.yaml"))
        #expect(health.status == 0 && health.stdout == "configmap/argocd-cm serverside-applied\n", "\(health.stderr)")
        let key = "resource.customizations.health.argoproj.io_Application"
        let again = Self.kubectl(sim, install, stdin: try Self.input("argocd-v3.3.0-install.yaml"))
        #expect(again.status == 0, "\(again.stderr)")
        let cm = try #require(sim.world.get(ResourceRef.configMaps, namespace: "argocd", name: "argocd-cm"))
        #expect(cm[path: "data", key]?.string?.contains("hs.status = \"Progressing\"") == true)
        let managers = (cm[path: "metadata", "managedFields"]?.array ?? []).compactMap { $0["manager"]?.string }
        #expect(Set(managers) == ["aphex", "aphex-health"])
    }

    // MARK: kubectl-apply-serverside.txt

    struct Section: CustomStringConvertible, Sendable {
        struct Request: Sendable {
            var method: String
            var path: String
            var query: [String: String]
            var status: Int
            var cached: Bool
        }
        var number: Int
        var title: String
        var args: [String]
        var input: String?
        var exit: Int32
        var stdout: [String]
        var stderr: [String]
        var requests: [Request]
        var description: String { "\(number). \(title)" }
    }

    static let sections: [Section] = {
        let text =
            (try? RealAPI.bytes("kubectl-apply-serverside.txt")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var out: [Section] = []
        for chunk in text.components(separatedBy: "\n## ").dropFirst() {
            let lines = chunk.components(separatedBy: "\n")
            let head = lines[0]
            guard let dot = head.firstIndex(of: "."), let n = Int(head[..<dot]) else { continue }
            var s = Section(
                number: n, title: String(head[head.index(after: dot)...]).trimmingCharacters(in: .whitespaces),
                args: [],
                input: nil, exit: -1, stdout: [], stderr: [], requests: [])
            var mode = ""
            for line in lines.dropFirst() {
                if line.hasPrefix("$ kubectl ") {
                    let cmd = line.dropFirst(2).components(separatedBy: "   < ")
                    s.args = Array(cmd[0].split(separator: " ").map(String.init).dropFirst())
                    if cmd.count > 1 { s.input = cmd[1].split(separator: " ").first.map(String.init) }
                } else if line.hasPrefix("# exit code ") {
                    s.exit = Int32(line.dropFirst("# exit code ".count).prefix { $0.isNumber }) ?? -1
                } else if line.hasPrefix("# stdout") {
                    mode = "out"
                } else if line.hasPrefix("# stderr") {
                    mode = "err"
                } else if line.hasPrefix("#   ") {
                    let v = String(line.dropFirst(4))
                    if mode == "out" { s.stdout.append(v) } else if mode == "err" { s.stderr.append(v) }
                } else if line.hasPrefix("# ") {
                    mode = ""
                } else if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                    let parts = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces).split(
                        separator: " ")
                    guard parts.count == 2 else { continue }
                    let url = parts[1].split(separator: "?", maxSplits: 1)
                    var q: [String: String] = [:]
                    for kv in (url.count > 1 ? url[1] : "").split(separator: "&") {
                        let p = kv.split(separator: "=", maxSplits: 1).map(String.init)
                        q[p[0]] = p.count > 1 ? p[1] : ""
                    }
                    s.requests.append(
                        .init(method: String(parts[0]), path: String(url[0]), query: q, status: 0, cached: false))
                } else if line.hasPrefix("    < "), var last = s.requests.last {
                    let v = line.dropFirst(6)
                    if last.status == 0, let code = Int(v.prefix(3)) { last.status = code }
                    if v.hasPrefix("X-From-Cache: 1") { last.cached = true }
                    s.requests[s.requests.count - 1] = last
                }
            }
            out.append(s)
        }
        return out
    }()

    /// Whether the capture ran with an empty kubectl cache (it fetched discovery itself): then
    /// every request is compared; after a warm cache only the requests that do not depend on
    /// what the cache held (writes, reads of objects) are.
    static func cold(_ s: Section) -> Bool {
        s.requests.contains { $0.method == "GET" && $0.path == "/api" && !$0.cached }
    }

    /// Each section's starting state (the capture ran them on one evolving cluster), prepared
    /// with a separate kubectl cache so that a cold section stays cold.
    static func prepare(_ n: Int, _ sim: SimCluster) throws {
        let scratch = sim.home + "/setup-kubectl"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        func run(_ k: Int) throws {
            let s = sections.first { $0.number == k }!
            _ = kubectl(sim, s.args, stdin: try s.input.map(input), home: scratch)
        }
        switch n {
        case 2, 3, 4, 5: try run(1)
        case 9, 10: try Conformance.run(.namespace("argocd"), sim)
        case 11:
            try Conformance.run(.namespace("argocd"), sim)
            try run(10)
        case 12, 13: try Conformance.run(.argoCRDs, sim)
        case 14, 15: try Conformance.run(.seedApplications, sim)
        case 16, 17: try Conformance.run(.certManagerEmptyCABundle, sim)
        default: break
        }
    }

    /// Requests whose presence depends on the kubectl cache: discovery and OpenAPI.
    static func cacheDependent(_ path: String) -> Bool {
        path == "/api" || path == "/apis" || path.hasPrefix("/openapi/") || path == "/openapi/v3"
    }

    @Test func theTranscriptHasItsEighteenSections() {
        #expect(Self.sections.map(\.number) == Array(1...18))
        #expect(Self.sections.allSatisfy { !$0.args.isEmpty && $0.exit >= 0 })
    }

    @Test(arguments: ConformanceKubectl.sections)
    func kubectlSendsTheRecordedRequests(_ section: Section) throws {
        let sim = try Conformance.world()
        let home = sim.home + "/kubectl-\(section.number)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try Self.prepare(section.number, sim)
        if !Self.cold(section) && section.number != 18 {
            // Warm this cache as the capture's was: the same command once (a dry run or a read),
            // or for a write, a read that fetches discovery.
            let readOnly = section.args.contains("--dry-run=server") || section.args.first == "get"
            _ = Self.kubectl(
                sim, readOnly ? section.args : ["get", "namespaces"], stdin: try section.input.map(Self.input),
                home: home)
        }
        let before = sim.record.requests.last?.seq ?? 0
        var stdin: [UInt8]? = nil
        if let name = section.input { stdin = name == "a" ? Array("s3cret".utf8) : try Self.input(name) }
        let r = Self.kubectl(sim, section.args, stdin: stdin, home: home)
        #expect(r.status == section.exit, "\(section): \(r.stderr.prefix(600))")
        // JSON output lines compare by key: values (uids, timestamps) are this world's.
        func masked(_ line: String) -> String {
            guard let r = line.range(of: #"^\s*"[^"]+": "#, options: .regularExpression) else { return line }
            return String(line[r])
        }
        let out = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            Array(out.prefix(section.stdout.count)).map(masked) == section.stdout.map(masked),
            "\(section) stdout: \(r.stdout.prefix(800))")
        let err = r.stderr.split(separator: "\n").map(String.init)
        for line in section.stderr {
            let port = line.components(separatedBy: "127.0.0.1:").dropFirst().first?.prefix { $0.isNumber }
            #expect(
                err.contains(port.map { _ in line } ?? line), "\(section) stderr lacks \(line): \(r.stderr.prefix(600))"
            )
        }
        // The same requests, in order, with the same answers (cached ones never reach a server).
        let cold = Self.cold(section)
        let want = section.requests.filter { !$0.cached && (cold || !Self.cacheDependent($0.path)) }
        let got = Self.requests(sim, since: before).filter { cold || !Self.cacheDependent($0.path) }
        func key(_ method: String, _ path: String, _ query: [String: String]) -> String {
            let q = query.filter { !["hash", "timeout"].contains($0.key) }.sorted { $0.key < $1.key }.map {
                "\($0.key)=\($0.value)"
            }
            return "\(method) \(path)" + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))
        }
        let wanted = want.map { "\(key($0.method, $0.path, $0.query)) -> \($0.status)" }
        let sent = got.map { req -> String in
            var q: [String: String] = [:]
            for kv in req.query.split(separator: "&") {
                let p = kv.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                q[p[0]] = p.count > 1 ? p[1] : ""
            }
            return "\(key(req.method, req.path, q)) -> \(req.status)"
        }
        #expect(
            sent == wanted,
            "\(section): requests differ.\n  recorded: \(wanted.prefix(12))\n  simulated: \(sent.prefix(12))")
    }
}
