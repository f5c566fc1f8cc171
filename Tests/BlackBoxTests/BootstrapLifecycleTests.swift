import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// `aphex bootstrap` as users run it: the built binary against the simulated cluster's
/// stand-in kind/k3s/kubectl and loopback API (issue 8's acceptance).
enum Lifecycle {
    /// NAME-VERSION.yaml files for --manifests-dir: the real upstream manifests from
    /// ../shared/manifests, plus a small Tekton Dashboard (its release file is not in shared/).
    static let manifestsDir: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-manifests-\(UUID().uuidString)")
            .path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let shared = BuiltAphex.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/manifests").path
        let links = [
            "argocd-v3.3.0.yaml": "argocd-v3.3.0-install.yaml",
            "tekton-pipelines-v0.65.0.yaml": "tekton-pipelines-v0.65.0-assembled.yaml",
            "tekton-triggers-v0.34.0.yaml": "tekton-triggers-v0.34.0-assembled.yaml",
            "tekton-interceptors-v0.34.0.yaml": "tekton-interceptors-v0.34.0-assembled.yaml"
        ]
        for (name, source) in links {
            try! FileManager.default.createSymbolicLink(
                atPath: dir + "/" + name, withDestinationPath: shared + "/" + source)
        }
        let dashboard = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: tekton-dashboard
              namespace: tekton-pipelines
              labels: {app.kubernetes.io/part-of: tekton-dashboard}
            spec:
              replicas: 1
              selector: {matchLabels: {app.kubernetes.io/name: dashboard}}
              template:
                metadata: {labels: {app.kubernetes.io/name: dashboard}}
                spec:
                  containers:
                  - name: tekton-dashboard
                    image: gcr.io/tekton-releases/github.com/tektoncd/dashboard/cmd/dashboard:v0.64.0

            """
        try! dashboard.write(toFile: dir + "/tekton-dashboard-v0.64.0.yaml", atomically: true, encoding: .utf8)
        return dir
    }()

    static func bootstrap(
        _ h: SimHarness, _ extra: [String] = [], deployment: String = "kind",
        killWhen: (@Sendable (SimRecordSnapshot) -> Bool)? = nil
    ) async throws -> SimHarness.RunResult {
        let limit = extra.contains("--no-wait") ? [] : ["--timeout", "4m"]
        return try await h.run(
            ["bootstrap", "--deployment", deployment, "--manifests-dir", manifestsDir] + limit + extra,
            timeout: 300, killWhen: killWhen)
    }

    /// Every stored credential, read back from the cluster (`show-secrets --output env`).
    static func credentials(_ h: SimHarness) async throws -> [String: String] {
        let r = try await h.run(["show-secrets", "--output", "env"])
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }

    /// Starts `aphex bootstrap` (kind) in the background; its stderr accumulates in the buffer
    /// as it is written, so a test can act on the step announcements.
    static func startBootstrap(_ h: SimHarness) throws -> (Process, LockedText) {
        let (p, buffer, _) = try startAphex(
            h, ["bootstrap", "--deployment", "kind", "--manifests-dir", manifestsDir, "--timeout", "4m"])
        return (p, buffer)
    }

    /// Starts the built aphex with `args` in the harness environment, in the background: its
    /// stderr accumulates in the buffer as it is written; its stdout is the pipe returned.
    static func startAphex(_ h: SimHarness, _ args: [String]) throws -> (Process, LockedText, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuiltAphex.path)
        p.arguments = args
        p.environment = h.env
        p.currentDirectoryURL = URL(fileURLWithPath: h.home)
        let err = Pipe(), out = Pipe()
        p.standardError = err
        p.standardOutput = out
        let buffer = LockedText()
        let reader = Thread {
            while true {
                let data = err.fileHandleForReading.availableData
                if data.isEmpty { return }
                buffer.append(String(decoding: data, as: UTF8.self))
            }
        }
        try p.run()
        reader.start()
        return (p, buffer, out)
    }

    static func describe(_ r: SimHarness.RunResult) -> String {
        "exit \(r.status) after \(Int(r.seconds))s\n--- stderr (tail)\n"
            + r.stderr.split(separator: "\n").suffix(25).joined(separator: "\n")
    }
}

@Suite(.serialized) struct BootstrapLifecycleTests {
    @Test func freshKindConvergesAndRerunsWriteNothing() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let first = try await Lifecycle.bootstrap(h)
        #expect(first.status == 0, "\(Lifecycle.describe(first))")
        #expect(first.stdout.contains("The platform is converged."))
        let stored = try await Lifecycle.credentials(h)
        #expect(stored.count >= 10, "credentials: \(stored.keys.sorted())")
        // Every kubectl aphex ran was the real one, and its server-side applies reached the API.
        let firstRecord = try h.record()
        let kubectlRuns = firstRecord.commands.filter { $0.argv.first == "kubectl" }
        #expect(
            kubectlRuns.contains { $0.argv.contains("apply") && $0.argv.contains("--server-side") && $0.status == 0 })
        #expect(kubectlRuns.allSatisfy { $0.via == "real-kubectl" }, "\(kubectlRuns.map(\.via))")
        let applies = firstRecord.requests.filter {
            $0.method == "PATCH" && $0.query.hasPrefix("fieldManager=aphex&fieldValidation=")
                && $0.query.hasSuffix("&force=true")
        }
        #expect(applies.count > 100)
        // The release bundles' objects go without kubectl's OpenAPI check (the server ignores
        // unknown fields); what aphex writes itself keeps strict validation.
        #expect(
            applies.filter { $0.path.contains("/customresourcedefinitions/") }.allSatisfy {
                $0.query.contains("fieldValidation=Ignore")
            })
        #expect(
            applies.filter { $0.path.contains("/configmaps/aphex-component-") }.allSatisfy {
                $0.query.contains("fieldValidation=Strict")
            })
        #expect(applies.contains { $0.path.contains("/configmaps/aphex-component-") })
        // Tekton's apply ran alongside ArgoCD's: its CRDs arrived before ArgoCD's version marker.
        let tektonCRD = firstRecord.requests.first {
            $0.method == "PATCH" && $0.path.hasSuffix("/customresourcedefinitions/pipelines.tekton.dev")
        }
        let argoMarker = firstRecord.requests.first {
            $0.method == "PATCH" && $0.path.hasSuffix("/configmaps/aphex-component-argocd")
        }
        #expect((tektonCRD?.seq ?? .max) < (argoMarker?.seq ?? 0))

        for run in 2...3 {
            try h.resetRecord()
            let again = try await Lifecycle.bootstrap(h)
            #expect(again.status == 0, "run \(run): \(Lifecycle.describe(again))")
            let rec = try h.record()
            #expect(rec.writes.isEmpty, "run \(run) wrote: \(rec.writes.prefix(10))")
            #expect(
                rec.changes.isEmpty, "run \(run) changed: \(rec.changes.prefix(10).map { "\($0.action) \($0.object)" })"
            )
            #expect(try await Lifecycle.credentials(h) == stored, "run \(run) changed a stored credential")
        }

        // No secret value in any argv, any captured output or any line aphex printed.
        let rec = try h.record()
        let secretValues = stored.filter { !$0.key.hasSuffix("_USER") }.map(\.value)  // user names are not secret
        let leaks = rec.leaks(of: secretValues, extra: [first.stdout, first.stderr])
        #expect(leaks.isEmpty, "\(leaks.prefix(5))")

        let status = try await h.run(["status", "--output", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(try JSON.parse(status.stdout)["converged"] == JSON.bool(true))
    }

    /// Runs bootstrap and SIGKILLs it `delay` seconds after it announces the step `title`
    /// on stderr (" • Title ..."). Returns whether it was killed, and what it printed.
    static func bootstrapKilled(_ h: SimHarness, atStep title: String, delay: Double) async throws -> (
        killed: Bool, stderr: String, status: Int32
    ) {
        let (p, buffer) = try Lifecycle.startBootstrap(h)
        var seenAt: Date? = nil
        var killed = false
        let deadline = Date().addingTimeInterval(240)
        while p.isRunning && Date() < deadline {
            if seenAt == nil && buffer.text.contains(" • \(title) ...") { seenAt = Date() }
            if let t = seenAt, Date().timeIntervalSince(t) >= delay {
                kill(p.processIdentifier, SIGKILL)
                killed = true
                break
            }
            usleep(20_000)
        }
        await p.exited()
        return (killed, buffer.text, p.terminationStatus)
    }

    @Test func killedAtEachStepResumesWithTheSameSecrets() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        // Each run is SIGKILLed while a step is at work; the next run must resume past it
        // (and so reach the next step). The last run is left to finish. The platform keeps
        // converging while the runs restart (about 3 s of wall clock from platform-root), so
        // the wait step is killed soon after it starts, before the last wave is done.
        let steps: [(String, Double)] = [
            ("Preparing the cluster", 0.3), ("Creating namespaces", 0.0),
            ("Generating and storing secrets", 0.02), ("Installing ArgoCD", 0.5),
            ("Installing Tekton", 0.3), ("Configuring ArgoCD", 0.1),
            ("Applying platform-root", 0.0), ("Waiting for convergence", 0.1)
        ]
        var firstSecrets: [String: String]? = nil
        for (step, delay) in steps {
            let run = try await Self.bootstrapKilled(h, atStep: step, delay: delay)
            // The wait may find the platform converged before the kill (it kept converging
            // while the runs restarted): then that run ended with exit 0, which is a resume too.
            let convergedFirst =
                step == "Waiting for convergence" && run.status == 0 && run.stderr.contains(" • \(step) ...")
            #expect(
                run.killed || convergedFirst,
                """
                bootstrap never reached \"\(step)\" after the previous kill (exit \(run.status)): \
                \(run.stderr.suffix(1200))
                """
            )
            let now = try await Lifecycle.credentials(h)
            if let firstSecrets {
                for (k, v) in firstSecrets { #expect(now[k] == v, "\(k) changed after the kill during \(step)") }
            } else if now.count >= 10 {
                firstSecrets = now
            }
        }
        let last = try await Lifecycle.bootstrap(h)
        #expect(last.status == 0, "\(Lifecycle.describe(last))")
        let final = try await Lifecycle.credentials(h)
        #expect(firstSecrets != nil)
        for (k, v) in firstSecrets ?? [:] { #expect(final[k] == v, "\(k) differs from the value first stored") }
    }

    @Test func dryRunPlanMatchesWhatTheRunDid() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let plan = try await Lifecycle.bootstrap(h, ["--dry-run", "--output", "json"])
        #expect(plan.status == 0, "\(Lifecycle.describe(plan))")
        let rec = try h.record()
        #expect(rec.writes.isEmpty, "the dry run wrote: \(rec.writes.prefix(5))")
        #expect(rec.commands.allSatisfy { !$0.argv.starts(with: ["kind", "create"]) })
        let planned = try JSON.parse(plan.stdout)
        #expect(planned["dryRun"] == JSON.bool(true))

        let real = try await Lifecycle.bootstrap(h, ["--output", "json", "--no-wait"])
        #expect(real.status == 0, "\(Lifecycle.describe(real))")
        let done = try JSON.parse(real.stdout)
        func steps(_ j: JSON) -> [String: (outcome: String, changes: [String])] {
            var out: [String: (String, [String])] = [:]
            for s in j["steps"]?.array ?? [] {
                out[s["id"]?.string ?? ""] = (
                    s["outcome"]?.string ?? "", (s["changes"]?.array ?? []).compactMap(\.string)
                )
            }
            return out
        }
        let p = steps(planned), d = steps(done)
        // Object-level steps: the planned changes are exactly the changes made.
        for id in ["namespaces", "secrets"] {
            let plannedChanges: Set<String> = Set(p[id]?.changes ?? [])
            let doneChanges: Set<String> = Set(d[id]?.changes ?? [])
            #expect(
                p[id]?.outcome == "planned" && d[id]?.outcome == "done",
                "\(id): \(p[id]?.outcome ?? "-") / \(d[id]?.outcome ?? "-")")
            #expect(
                !plannedChanges.isEmpty && plannedChanges == doneChanges,
                "\(id): planned \(plannedChanges.sorted()) but did \(doneChanges.sorted())")
        }
        // Bundle-level steps: the same components and versions were planned and installed.
        let components = [
            "ArgoCD v3.3.0", "Tekton Pipelines v0.65.0", "Tekton Triggers v0.34.0",
            "Tekton Core Interceptors v0.34.0", "Tekton Dashboard v0.64.0", "platform-root", "argocd-cm",
            "argocd/argocd-secret"
        ]
        for id in ["argocd", "tekton", "argocd-config", "platform-root"] {
            #expect(
                p[id]?.outcome == "planned" && d[id]?.outcome == "done",
                "\(id): \(p[id]?.outcome ?? "-") / \(d[id]?.outcome ?? "-")")
            let plannedText = (p[id]?.changes ?? []).joined(separator: "\n")
            let doneText = (d[id]?.changes ?? []).joined(separator: "\n")
            for c in components {
                #expect(
                    plannedText.contains(c) == doneText.contains(c),
                    "\(id): '\(c)' planned=\(plannedText.contains(c)) done=\(doneText.contains(c))")
            }
            #expect(!doneText.isEmpty)
        }
        // No secret value in the plan: it names secrets and keys only.
        let stored = try await Lifecycle.credentials(h)
        for v in stored.values where v.count >= 8 { #expect(!plan.stdout.contains(v) && !plan.stderr.contains(v)) }
    }

    @Test func destroyThenRebuildWithSecretsFromKeepsTheCredentials() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let first = try await Lifecycle.bootstrap(h, ["--no-wait"])
        #expect(first.status == 0, "\(Lifecycle.describe(first))")
        let before = try await Lifecycle.credentials(h)
        let file = h.home + "/aphex-secrets.json"
        let export = try await h.run(["secrets", "export", "--file", file])
        #expect(export.status == 0, "\(export.stderr)")
        let attrs = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)

        let refused = try await h.run(["destroy"])  // no terminal, no --yes
        #expect(refused.status == 2 && refused.stderr.contains("--yes"))
        let destroy = try await h.run(["destroy", "--yes"])
        #expect(destroy.status == 0, "\(destroy.stderr)")
        #expect(try h.record().commands.contains { $0.argv.starts(with: ["kind", "delete", "cluster"]) })

        let rebuilt = try await Lifecycle.bootstrap(h, ["--no-wait", "--secrets-from", file])
        #expect(rebuilt.status == 0, "\(Lifecycle.describe(rebuilt))")
        let after = try await Lifecycle.credentials(h)
        for (k, v) in before where k != "ARGOCD_ADMIN_PASSWORD" {  // ArgoCD generates its own
            #expect(after[k] == v, "\(k) changed across destroy + --secrets-from")
        }
    }

    @Test func destroyUseExistingRemovesOnlyWhatAphexCreated() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let first = try await Lifecycle.bootstrap(h, ["--no-wait"])
        #expect(first.status == 0, "\(Lifecycle.describe(first))")
        let kubeconfig = h.home + "/.aphex/clusters/platform-cluster/kubeconfig"
        try h.resetRecord()
        let r = try await h.run(["destroy", "--use-existing", "--kubeconfig", kubeconfig, "--yes"], timeout: 400)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("still present"), "platform-root was not seen deleted: \(r.stderr)")
        let rec = try h.record()
        #expect(!rec.commands.contains { $0.argv.starts(with: ["kind", "delete"]) }, "the cluster itself must be kept")
        let namespaces = try await h.runProgram([
            h.binDir + "/kubectl", "--kubeconfig", kubeconfig, "get", "namespaces", "-o", "name"
        ])
        #expect(namespaces.stdout.contains("namespace/default"))
        for ns in ["argocd", "auth-system", "tekton-pipelines", "platform-system", "external-secrets", "cert-manager"] {
            #expect(!namespaces.stdout.contains("namespace/\(ns)\n"), "\(ns) is still there")
        }
    }

    @Test func freshK3sAsRootConverges() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-k3s")
        defer { h.stop() }
        let r = try await Lifecycle.bootstrap(h, deployment: "k3s")
        #expect(r.status == 0, "\(Lifecycle.describe(r))")
        #expect(r.stdout.contains("The platform is converged."))
        let again = try await Lifecycle.bootstrap(h, deployment: "k3s")
        #expect(again.status == 0, "\(Lifecycle.describe(again))")
        #expect(
            try h.record().commands.filter { $0.argv.contains("k3s-install.sh") || $0.argv.first == "sh" }.count <= 1,
            "the installer ran again on a healthy k3s")
    }

    @Test func ctrlCStopsCleanlyWithExit130AndAResumeLine() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let (p, buffer) = try Lifecycle.startBootstrap(h)
        // Interrupt mid-pipeline, once bootstrap announces the ArgoCD install.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning, !buffer.text.contains(" • Installing ArgoCD ...") {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(p.processIdentifier, SIGINT)
        await p.exited()
        usleep(200_000)  // the reader thread drains the last lines
        let stderr = buffer.text
        #expect(p.terminationStatus == 130, "exit \(p.terminationStatus): \(stderr.suffix(500))")
        #expect(stderr.contains("to resume"), "\(stderr.suffix(500))")
        // No stand-in child left running, and a re-run finishes the job.
        let resumed = try await Lifecycle.bootstrap(h)
        #expect(resumed.status == 0, "\(Lifecycle.describe(resumed))")
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func append(_ s: String) { lock.withLock { value += s } }
    var text: String { lock.withLock { value } }
}
