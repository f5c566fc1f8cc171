import AphexCore
import KubeClient
import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import SimCluster
import Testing

/// A second machine joins the k3s server as an agent: `aphex bootstrap --deployment k3s`
/// (which prints the join command and writes --junit/--timeline), then `aphex k3s join` on
/// "another machine" (its own APHEX_HOST_ROOT, the same simulated cluster) with the stand-in
/// installer in agent mode: join, re-run no-op, wrong server, token never in argv, uninstall.
@Suite(.serialized) struct K3sJoinBlackBoxTests {
    static let server = "https://192.0.2.10:6443"

    func machine() throws -> String {
        let root = NSTemporaryDirectory() + "aphex-agent-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: root + "/run/systemd/system", withIntermediateDirectories: true)
        return root
    }

    func node(_ h: SimHarness, _ name: String) throws -> JSON? {
        try h.objects().first { $0.kind == "Node" && $0.name == name }
    }

    func ready(_ n: JSON?) -> String? {
        (n?[path: "status", "conditions"]?.array ?? []).first { $0["type"]?.string == "Ready" }?["status"]?.string
    }

    func installerRuns(_ h: SimHarness) throws -> Int {
        try h.record().commands.filter { $0.argv.first == "k3s-install" }.count
    }

    @Test func bootstrapPrintsTheJoinCommandThenAMachineJoinsOnceAndLeaves() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-k3s")
        defer { h.stop() }
        let dir = try Reports.tempDir()
        let b = try await Lifecycle.bootstrap(
            h, ["--junit", dir + "/junit.xml", "--timeline", dir + "/timeline.svg"], deployment: "k3s")
        #expect(b.status == 0, "\(Lifecycle.describe(b))")

        // --junit/--timeline on bootstrap: the steps, then one suite per wave, all passing.
        try Reports.validate(dir + "/junit.xml")
        let doc = try Reports.xml(dir + "/junit.xml")
        let suites = try Reports.nodes(doc, "/testsuites/testsuite").map { Reports.attr($0, "name") }
        #expect(
            suites.first == "bootstrap steps" && suites.dropFirst().allSatisfy { $0.hasPrefix("wave ") }
                && suites.count > 5, "\(suites)")
        #expect(
            try Reports.nodes(doc, "//testsuite[@name='bootstrap steps']/testcase").map {
                Reports.attr($0, "classname")
            }.allSatisfy { $0 == "aphex.bootstrap" })
        #expect(try Reports.nodes(doc, "//failure | //error").isEmpty)
        let svg = try String(contentsOfFile: dir + "/timeline.svg", encoding: .utf8)
        try Reports.checkPlainSVG(svg)
        #expect(
            svg.contains(">Bootstrap steps</text>") && svg.contains(">Installing ArgoCD</text>")
                && svg.contains(">Wave 20 converged in "))

        // The exact join command, naming the token file, never its value.
        let tokenFile = h.hostRoot + "/var/lib/rancher/k3s/server/node-token"
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("K10"))
        let command = Shell.quote(["sudo", "aphex", "k3s", "join", "--server", Self.server, "--token-file", tokenFile])
        #expect(b.stdout.contains(command), "\(b.stdout)")
        #expect(!b.stdout.contains(token) && !b.stderr.contains(token))

        // On another machine: the printed command (without sudo: the tests run as root).
        let agent = try machine()
        let env = ["APHEX_HOST_ROOT": agent]
        try h.resetRecord()
        let joinArgs = [
            "k3s", "join", "--server", Self.server, "--token-file", tokenFile, "--node-name", "agent-1", "--timeout",
            "60s"
        ]
        let j = try await h.run(joinArgs, timeout: 90, extraEnv: env)
        #expect(j.status == 0, "\(j.stderr)")
        #expect(j.stdout.contains("Joined \(Self.server) as node agent-1 (Ready)"), "\(j.stdout)")
        #expect(ready(try node(h, "agent-1")) == "True", "the second Node is Ready in the server's API")
        #expect(try h.objects().filter { $0.kind == "Node" }.count == 2)
        #expect(try installerRuns(h) == 1)
        let installer = try #require(try h.record().commands.first { $0.argv.first == "k3s-install" })
        #expect(installer.status == 0)
        // The installer stored the token as the real one does: in the service's env file, 0600.
        let envFile = agent + "/etc/systemd/system/k3s-agent.service.env"
        #expect(PrivateFiles.mode(envFile) == 0o600)
        #expect(try String(contentsOfFile: envFile, encoding: .utf8).contains("K3S_URL='\(Self.server)'"))

        // Re-run, token on stdin this time: a no-op (no installer, nothing mutating).
        try h.resetRecord()
        let again = try await h.run(
            ["k3s", "join", "--server", Self.server, "--node-name", "agent-1"], stdin: token + "\n", timeout: 60,
            extraEnv: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("already joined"), "\(again.stdout)")
        let rerun = try h.record().commands
        #expect(rerun.filter(\.mutating).isEmpty, "\(rerun.map(\.argv))")

        // Joined to this server, asked to join another: exit 2, nothing run.
        try h.resetRecord()
        let other = try await h.run(
            ["k3s", "join", "--server", "https://192.0.2.99:6443", "--token-file", tokenFile, "--node-name", "agent-1"],
            timeout: 60, extraEnv: env)
        #expect(other.status == 2, "\(other.stderr)")
        #expect(other.stderr.contains("already a k3s agent of \(Self.server)"), "\(other.stderr)")
        #expect(try h.record().commands.isEmpty)

        // A fresh machine pointed at a wrong server: the agent never registers; exit 3 naming why.
        let lost = try machine()
        let wrong = try await h.run(
            [
                "k3s", "join", "--server", "https://192.0.2.99:6443", "--token-file", tokenFile, "--node-name",
                "agent-2",
                "--timeout", "3s"
            ], timeout: 60, extraEnv: ["APHEX_HOST_ROOT": lost])
        #expect(wrong.status == 3, "\(wrong.stderr)")
        #expect(wrong.stderr.contains("has not registered with https://192.0.2.99:6443"), "\(wrong.stderr)")
        #expect(try node(h, "agent-2") == nil)

        // Never a token in any argv, output or request the simulator saw (it records every argv).
        let all = try h.record()
        #expect(
            all.leaks(of: [token], extra: [j.stdout, j.stderr, again.stdout, again.stderr, other.stderr, wrong.stderr])
                .isEmpty)
        #expect(!all.commands.contains { $0.argv.joined(separator: " ").contains(token) })

        // `aphex k3s uninstall` removes the agent the same way; its Node stays, NotReady.
        let u = try await h.run(["k3s", "uninstall", "--yes"], timeout: 60, extraEnv: env)
        #expect(u.status == 0, "\(u.stderr)")
        #expect(u.stdout.contains("kubectl delete node agent-1"), "\(u.stdout)")
        #expect(!FileManager.default.fileExists(atPath: agent + "/usr/local/bin/k3s-agent-uninstall.sh"))
        #expect(ready(try node(h, "agent-1")) == "Unknown")
        // The server is untouched.
        #expect(FileManager.default.fileExists(atPath: h.hostRoot + "/usr/local/bin/k3s-uninstall.sh"))
    }

    @Test func joinRefusesBadInputBeforeAnythingRuns() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-k3s")
        defer { h.stop() }
        for (args, stdin, text) in [
            (
                ["k3s", "join", "--server", "http://192.0.2.10:6443", "--token-file", "/etc/hostname"], nil as String?,
                "https://HOST:6443"
            ),
            (["k3s", "join", "--server", Self.server, "--token-file", "/nonexistent/token"], nil, "does not exist"),
            (["k3s", "join", "--server", Self.server], "", "token is empty"),
            (["k3s", "join", "--server", Self.server, "--token", "K10abc"], nil, "Unknown option '--token'")
        ] {
            let r = try await h.run(args, stdin: stdin, timeout: 30)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(text), "\(args): \(r.stderr)")
            #expect(try h.record().commands.isEmpty)
        }
    }
}
