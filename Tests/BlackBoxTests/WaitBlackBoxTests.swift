import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing

/// A bundled scenario rewritten for black-box waits: platform-root present at start (as after
/// `bootstrap --no-wait`) and time sped up. Returns the path of the rewritten file.
func waitScenario(_ name: String, timeScale: String = "0.05", edits: [(String, String)] = []) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    var text = try String(contentsOf: root.appendingPathComponent("SimCluster/Scenarios/\(name).yaml"), encoding: .utf8)
    if !text.contains("platformRoot: true") {
        text = text.replacingOccurrences(
            of: "\nargocd:\n", with: "\nstart:\n  namespaces: [argocd]\n  platformRoot: true\nargocd:\n")
    }
    text = text.replacingOccurrences(of: "timeScale: 1.0", with: "timeScale: \(timeScale)")
    for (a, b) in edits { text = text.replacingOccurrences(of: a, with: b) }
    text = quoteDescription(text)
    text = text.replacingOccurrences(of: "name: \(name)\n", with: "name: \(name)-wait\n")
    let path = NSTemporaryDirectory() + "aphex-wait-\(name)-\(UUID().uuidString.prefix(6)).yaml"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// `aphex wait` as a user or CI runs it: the built binary against `aphex-sim serve`.
@Suite(.serialized) struct WaitBlackBoxTests {
    func wait(_ h: SimHarness, _ extra: [String] = [], timeout: String = "60s") async throws -> SimHarness.RunResult {
        try await h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", timeout] + extra, timeout: 120)
    }

    @Test func happyKindConverges() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let r = try await wait(h)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Converged in"))
        let rec = try h.record()
        #expect(rec.commands.isEmpty, "aphex wait runs no process: \(rec.commands.map(\.argv))")
        // Start-up reads (list, watch, webhook proof, token check) plus at most 2 per second.
        #expect(Double(rec.requests.count) <= 15 + 2 * r.seconds, "\(rec.requests.count) requests in \(r.seconds)s")
    }

    /// On a terminal (a pty from util-linux `script`): the live per-wave table (wave, apps,
    /// sync, health, elapsed) is redrawn in place with cursor-up/erase-line, steps get coloured
    /// marks; in a pipe (CI) the same run prints plain lines without one escape code.
    @Test func liveTableOnATerminalPlainLinesInAPipe() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let aphex = SimHarness.binaryDirectory() + "/aphex"
        let line = Shell.quote([aphex, "wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "60s"])
        let tty = try await h.runProgram(
            ["/usr/bin/script", "--quiet", "--return", "--command", line, "/dev/null"],
            timeout: 120, extraEnv: ["TERM": "xterm-256color"])
        #expect(tty.status == 0, "\(tty.stdout)")
        let screen = tty.stdout
        for column in ["WAVE", "APPS", "SYNC", "HEALTH", "ELAPSED"] { #expect(screen.contains(column), "\(column)") }
        #expect(screen.contains("\u{1B}[1A\u{1B}[2K"), "the table is redrawn in place")
        #expect(screen.contains("\u{1B}[32m✓\u{1B}[0m"), "green check marks")
        #expect(screen.contains("Converged in"))

        let h2 = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h2.stop() }
        let piped = try await wait(h2)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(!piped.stderr.contains("\u{1B}"), "no escape codes in a pipe")
        #expect(piped.stderr.contains("wave=0 "), "\(piped.stderr)")
    }

    @Test func happyK3sConverges() async throws {
        let h = try await SimHarness.start(
            scenario: try waitScenario("happy-k3s", edits: [("exists: false", "exists: true")]))
        defer { h.stop() }
        let r = try await wait(h)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func jsonEventsAndDocument() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let r = try await wait(h, ["--output", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try JSON.parse(r.stdout)
        #expect(doc["outcome"]?.string == "converged")
        #expect((doc[path: "result", "waves"]?.array?.count ?? 0) > 0)
        let events = r.stderr.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
        #expect(events.contains { $0["event"]?.string == "table" })
        #expect(
            events.contains { $0["event"]?.string == "stepFinished" && ($0["step"]?.string ?? "").hasPrefix("wave-") })
    }

    @Test func stuckCABundleExitsThreeNamingIt() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        let r = try await wait(h, timeout: "15s")
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("CA bundle not injected"), "\(r.stderr)")
    }

    /// cert-manager NOT Healthy: its sync Running behind the chart's startupapicheck PostSync
    /// hook, health Progressing, while cainjector never injects the caBundle. The timeout
    /// leads with the webhook's class, the proof (with the cainjector pod) comes first.
    @Test func certManagerStuckBehindItsHookExitsThreeLeadingWithTheCABundle() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("cabundle-hook"))
        defer { h.stop() }
        let r = try await wait(h, timeout: "4s")
        // The case this is about, as the world stood right after the timeout.
        let cm = try h.objects().first { $0.kind == "Application" && $0.name == "cert-manager" }
        #expect(cm?[path: "status", "operationState", "phase"] == "Running", "the hook fails at 7.5 s of wall clock")
        #expect(cm?[path: "status", "health", "status"] == "Progressing")

        #expect(r.status == 3, "\(r.stderr)")
        #expect(
            r.stderr.contains(
                """
                error: Timed out after 4.0s: cert-manager's webhook: CA bundle not injected (step 2); wave 10 is \
                not converged (1 of 2 Applications stuck: cert-manager).
                """
            ),
            "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        let headline = try #require(lines.firstIndex { $0.hasPrefix("error: Timed out") })
        #expect(
            lines.dropFirst(headline + 1).first?.hasPrefix(
                """
                  cert-manager webhook: CA bundle not injected (step 2): ValidatingWebhookConfiguration \
                cert-manager-webhook
                """
            ) == true,
            "the proof right under the headline: \(r.stderr)")
        #expect(r.stderr.contains("cainjector: pod cert-manager/cert-manager-cainjector-"), "\(r.stderr)")
        #expect(r.stderr.contains("sync operation Running: one or more tasks are running"), "\(r.stderr)")
        let hook = "Job cert-manager/cert-manager-startupapicheck: Running — PostSync hook"
        #expect(r.stderr.contains(hook), "\(r.stderr)")
    }

    @Test func imageThatNeverPullsExitsThreeNamingTheImage() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("image-pull"))
        defer { h.stop() }
        let r = try await wait(h, timeout: "15s")
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("ghcr.io/bdchatham/organization-controller"), "\(r.stderr)")
    }

    @Test func degradedAfterHealthyExitsOne() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("degraded-app"))
        defer { h.stop() }
        let r = try await wait(h, timeout: "60s")
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("external-secrets"), "\(r.stderr)")
    }

    /// Seed 34 draws a reset for the first request (the LIST) and the fourth, 503s later: with the
    /// default seed the first fault was the 12th request, which a wait that starts late (the
    /// platform nearly converged) may never send, leaving "faults were injected" to timing.
    @Test func apiFaultsAtTwentyPercentStillConverge() async throws {
        let h = try await SimHarness.start(
            scenario: "blackbox-quick",
            extraArgs: ["--error-rate", "0.2", "--fault-kinds", "http503,reset", "--seed", "34"])
        defer { h.stop() }
        let r = try await wait(h)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try h.record().requests.contains { $0.fault != nil }, "faults were injected")
    }

    @Test func apiDownForTwentySecondsRecovers() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick", extraArgs: ["--down", "1-21"])
        defer { h.stop() }
        let r = try await wait(h, timeout: "90s")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.seconds >= 19, "waited through the outage (\(r.seconds)s)")
        #expect(r.stderr.contains("answering again"), "\(r.stderr)")
    }
}

/// Quotes the scenario's one-line description (some contain ": ", which plain YAML scalars cannot).
func quoteDescription(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        guard line.hasPrefix("description: "), !line.hasPrefix("description: \"") else { return String(line) }
        let value = line.dropFirst("description: ".count).replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
        return "description: \"\(value)\""
    }.joined(separator: "\n")
}
