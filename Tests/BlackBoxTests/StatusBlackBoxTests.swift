import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// `aphex status` as a user or CI runs it: the built binary against `aphex-sim serve`.
@Suite(.serialized) struct StatusBlackBoxTests {
    /// bench-25 plus what bootstrap leaves besides platform-root (ArgoCD's workloads, the
    /// generated Secrets), applied with the real kubectl; waited until converged.
    func convergedBench() async throws -> SimHarness {
        let h = try await seededBench()
        let w = try await h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "60s"], timeout: 90)
        #expect(w.status == 0, "\(w.stderr)")
        // The simulator records a watch when its stream ends: let it see the end of the wait's
        // watch (the wait has exited), so the watch does not land in a later test's record.
        for _ in 0..<100 {
            if try h.record().requests.contains(where: { $0.query.contains("watch=true") }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return h
    }

    /// bench-25 (or a copy of it) plus what bootstrap leaves, not yet converged (about 1.3 s
    /// to go at bench-25's own time scale).
    func seededBench(scenario: String = "bench-25") async throws -> SimHarness {
        let h = try await SimHarness.start(scenario: scenario)
        let apply = try await h.runProgram(
            ["/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "apply", "--validate=false", "-f", "-"],
            stdin: Self.bootstrappedObjects().serialized())
        #expect(apply.status == 0, "\(apply.stderr)")
        return h
    }

    static func bootstrappedObjects() -> JSON {
        func rnd() -> String { (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }
        func secret(_ ns: String, _ name: String, _ data: [String: String], labelled: Bool = true) -> JSON {
            var o: JSON = [
                "apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string(name), "namespace": .string(ns)],
                "data": .object(data.mapValues { .string(Data($0.utf8).base64EncodedString()) })
            ]
            if labelled { o.set(["metadata", "labels"], to: ["app.kubernetes.io/managed-by": "aphex"]) }
            return o
        }
        var items: [JSON] = ["auth-system", "tekton-pipelines", "platform-system"].map {
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string($0)]]
        }
        for (kind, name, ns, partOf) in [
            ("Deployment", "argocd-server", "argocd", "argocd"),
            ("Deployment", "argocd-repo-server", "argocd", "argocd"),
            ("Deployment", "argocd-applicationset-controller", "argocd", "argocd"),
            ("StatefulSet", "argocd-application-controller", "argocd", "argocd"),
            ("Deployment", "tekton-pipelines-controller", "tekton-pipelines", "tekton-pipelines"),
            ("Deployment", "tekton-pipelines-webhook", "tekton-pipelines", "tekton-pipelines"),
            ("Deployment", "tekton-triggers-controller", "tekton-pipelines", "tekton-triggers"),
            ("Deployment", "tekton-triggers-webhook", "tekton-pipelines", "tekton-triggers"),
            ("Deployment", "tekton-triggers-core-interceptors", "tekton-pipelines", "tekton-triggers"),
            ("Deployment", "tekton-dashboard", "tekton-pipelines", "tekton-dashboard")
        ] {
            var spec: JSON = [
                "replicas": 1, "selector": ["matchLabels": ["app.kubernetes.io/name": .string(name)]],
                "template": [
                    "metadata": ["labels": ["app.kubernetes.io/name": .string(name)]],
                    "spec": ["containers": [["name": "main", "image": "quay.io/argoproj/argocd:v3.3.0"]]]
                ]
            ]
            if kind == "StatefulSet" { spec["serviceName"] = .string(name) }
            items.append([
                "apiVersion": "apps/v1", "kind": .string(kind),
                "metadata": [
                    "name": .string(name), "namespace": .string(ns),
                    "labels": ["app.kubernetes.io/part-of": .string(partOf), "app.kubernetes.io/name": .string(name)]
                ],
                "spec": spec
            ])
        }
        let dexClient = rnd(), argoClient = rnd(), tektonClient = rnd()
        items += [
            secret(
                "auth-system", "authentik-postgresql",
                ["postgresql-password": rnd(), "postgresql-postgres-password": rnd()]),
            secret(
                "auth-system", "authentik-secrets",
                ["secret-key": rnd(), "admin-password": rnd(), "bootstrap-token": rnd()]),
            secret(
                "auth-system", "dex-secrets",
                [
                    "client-secret": dexClient, "authentik-client-secret": dexClient,
                    "argocd-client-secret": argoClient, "tekton-client-secret": tektonClient,
                    "kubernetes-client-secret": rnd()
                ]),
            secret("argocd", "argocd-secret", ["oidc.dex.clientSecret": argoClient], labelled: false),
            secret("tekton-pipelines", "tekton-dashboard-oidc", ["client-secret": tektonClient]),
            secret("platform-system", "cloudflare-api-token", ["token": "cf-token"])
        ]
        return ["apiVersion": "v1", "kind": "List", "items": .array(items)]
    }

    @Test func convergedPlatformExitsZeroWithSixRequestsAndNoProcess() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        try h.resetRecord()
        let r = try await h.run(["status", "--kubeconfig", h.kubeconfigPath])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Converged: 25 Applications"))
        let rec = try h.record()
        #expect(rec.requests.count <= 6, "\(rec.requests.map { "\($0.method) \($0.path)?\($0.query) via \($0.via)" })")
        #expect(rec.commands.isEmpty, "no child process: \(rec.commands.map(\.argv))")
    }

    /// Issue 13: transient faults must not fail `status`. 30 % of API requests are reset
    /// (RST after the request arrived, on a fresh or a kept-alive connection); 50 runs of the
    /// built binary all give the converged verdict. Prints the figures (docs/kube-client.md).
    @Test func fiftyRunsUnderThirtyPercentResetsAllSucceed() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        try h.setFaults(["errorRate": 0.3, "kinds": ["reset"], "seed": 13])
        try h.resetRecord()
        var failures: [String] = []
        var seconds: [Double] = []
        for i in 1...50 {
            let r = try await h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json"])
            seconds.append(r.seconds)
            if r.status != 0 { failures.append("run \(i): exit \(r.status): \(r.stderr.suffix(400))") }
        }
        let rec = try h.record()
        let resets = rec.requests.filter { $0.fault == "reset" }.count
        seconds.sort()
        let median = seconds[seconds.count / 2], p95 = seconds[Int((Double(seconds.count) * 0.95).rounded(.up)) - 1]
        print(
            """
            status under 30% resets: \(50 - failures.count)/50 succeeded; median \(Int(median * 1000)) ms, p95 \
            \(Int(p95 * 1000)) ms; 
            """
                + """
                \(rec.requests.count) requests (\(String(format: "%.1f", Double(rec.requests.count) / 50)) per \
                run), \(resets) reset
                """
        )
        #expect(failures.isEmpty, "\(failures.count) of 50 runs failed:\n\(failures.prefix(3).joined(separator: "\n"))")
        #expect(resets >= 50, "faults were injected: \(resets) resets")
    }

    @Test func jsonDocumentAndFocus() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        let r = try await h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json"])
        #expect(r.status == 0)
        let doc = try JSON.parse(r.stdout)
        #expect(doc["schemaVersion"]?.int == 1)
        #expect(doc["converged"]?.bool == true)
        #expect(doc[path: "cluster", "reachable"]?.bool == true)
        let w = try await h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json", "--wave", "10"])
        #expect(w.status == 0)
        #expect(try JSON.parse(w.stdout)["waves"]?.array?.map { $0["wave"]?.int } == [10])
        let bad = try await h.run(["status", "--kubeconfig", h.kubeconfigPath, "--app", "no-such-app"])
        #expect(bad.status == 2, "\(bad.stderr)")
    }

    @Test func notConvergedExitsOne() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        _ = try await h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "8s"], timeout: 60)
        let r = try await h.run(["status", "--kubeconfig", h.kubeconfigPath])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("CA bundle not injected"), "\(r.stdout)")
    }

    /// cert-manager NOT Healthy (Running behind its startupapicheck hook) while the caBundle is
    /// missing: text and JSON show the webhook proof, its failing step and class, and the
    /// cainjector pod's state; the verdict leads with the class.
    @Test func certManagerStuckShowsTheWebhookProofWithItsFailingStep() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("cabundle-hook"))
        defer { h.stop() }
        _ = try await h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "3s"], timeout: 60)
        let r = try await h.run(["status", "--kubeconfig", h.kubeconfigPath])
        let j = try await h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json"])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(
            r.stdout.contains(
                """
                \ncert-manager webhook: CA bundle not injected (step 2): ValidatingWebhookConfiguration \
                cert-manager-webhook
                """
            ), "\(r.stdout)")
        #expect(r.stdout.contains("cainjector: pod cert-manager/cert-manager-cainjector-"), "\(r.stdout)")
        #expect(
            r.stdout.contains(
                "Not converged: wave 10 (cert-manager): cert-manager's webhook: CA bundle not injected (step 2)."),
            "\(r.stdout)")

        #expect(j.status == 1)
        let doc = try JSON.parse(j.stdout)
        #expect(doc[path: "certManager", "ready"] == false)
        #expect(doc[path: "certManager", "failedStep"]?.int == 2)
        #expect(doc[path: "certManager", "failure"] == "CA bundle not injected")
        #expect(
            doc[path: "certManager", "cainjector"]?.string?.hasPrefix("pod cert-manager/cert-manager-cainjector-")
                == true, "\(j.stdout)")
        #expect(
            doc[path: "certManager", "steps"]?.array?.map { $0["result"]?.string ?? "" } == [
                "passed", "failed", "not-checked", "not-checked"
            ])
        let cm = doc["waves"]?.array?.flatMap { $0["apps"]?.array ?? [] }.first { $0["name"] == "cert-manager" }
        #expect(cm?["health"] == "Progressing", "cert-manager is not Healthy: \(cm ?? .null)")
        #expect(cm?["cause"] == "cert-manager's webhook: CA bundle not injected (step 2)")
    }

    @Test func unreachableClusterExitsOneNamingTheKubeconfig() async throws {
        let h = try await SimHarness.start(scenario: "bench-25")
        defer { h.stop() }
        // The same kubeconfig, pointing at a port where nothing listens.
        let text = try String(contentsOfFile: h.kubeconfigPath, encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:\(h.port)", with: "127.0.0.1:1")
        let copy = NSTemporaryDirectory() + "aphex-unreachable-\(UUID().uuidString.prefix(6)).yaml"
        try text.write(toFile: copy, atomically: true, encoding: .utf8)
        let r = try await h.run(["status", "--kubeconfig", copy])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains(copy), "\(r.stderr)")
        #expect(r.stderr.contains("127.0.0.1:1"), "\(r.stderr)")
    }

    /// KUBECONFIG with several files, as kubectl reads it: missing files skipped, the first file
    /// to name a context wins, current-context from the first file that sets one. aphex picks
    /// the same server the real kubectl picks.
    @Test func kubeconfigListIsMergedAsKubectlMergesIt() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        let simContext = try #require(
            try JSON.parse(
                try await h.runProgram([
                    "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "config", "view", "-o", "json"
                ]).stdout)["current-context"]?.string)
        // A decoy that defines the same names pointing nowhere, its own context and cluster,
        // and its own current-context: its duplicates lose to the earlier file.
        let dir = NSTemporaryDirectory() + "aphex-kclist-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        apiVersion: v1
        kind: Config
        clusters:
        - {name: \(simContext), cluster: {server: "http://127.0.0.1:1"}}
        - {name: decoy-cluster, cluster: {server: "http://127.0.0.1:1"}}
        users:
        - {name: \(simContext), user: {token: decoy}}
        contexts:
        - {name: \(simContext), context: {cluster: \(simContext), user: \(simContext)}}
        - {name: decoy-only, context: {cluster: decoy-cluster, user: \(simContext)}}
        current-context: decoy-only
        """.write(toFile: dir + "/decoy", atomically: true, encoding: .utf8)
        let list = "\(dir)/missing:\(h.kubeconfigPath):\(dir)/decoy"
        let env = ["KUBECONFIG": list]

        let kubectlServer = try await h.runProgram(
            ["/usr/bin/kubectl", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
            extraEnv: env)
        #expect(kubectlServer.stdout == "http://127.0.0.1:\(h.port)", "\(kubectlServer.stderr)")
        let r = try await h.run(["status", "--output", "json"], extraEnv: env)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try JSON.parse(r.stdout)
        #expect(doc[path: "cluster", "server"]?.string == kubectlServer.stdout)
        #expect(doc[path: "cluster", "kubeconfig"]?.string == list)
        // The decoy's own context is there too (merged), and points at the dead port.
        let decoyRun = try await h.run(["status", "--context", "decoy-only"], extraEnv: env)
        #expect(decoyRun.status == 1, "\(decoyRun.stderr)")
        #expect(decoyRun.stderr.contains("127.0.0.1:1"), "\(decoyRun.stderr)")
    }

    /// `status --watch --output json`: one compact document per refresh (JSON Lines) while the
    /// platform converges, over one API client; Ctrl-C ends it with the last verdict (0 once
    /// converged), and stdout holds nothing but the documents.
    @Test func watchPrintsOneDocumentPerRefreshUntilInterrupted() async throws {
        // Five times slower than bench-25 (about 6 s to converge): the first refreshes see it
        // unconverged even on a loaded machine.
        let h = try await seededBench(
            scenario: try waitScenario("bench-25", edits: [("timeScale: 0.02", "timeScale: 0.1")]))
        defer { h.stop() }
        let (p, stdout, stderr) = try Self.startWatch(h)
        func docs() -> [JSON] { stdout.text.split(separator: "\n").compactMap { try? JSON.parse(String($0)) } }
        let deadline = Date().addingTimeInterval(90)
        while p.isRunning && Date() < deadline && !(docs().last?["converged"]?.bool ?? false) { usleep(50_000) }
        #expect(p.isRunning, "the watch keeps running: \(stderr.text)")
        kill(p.processIdentifier, SIGINT)
        await p.exited()
        usleep(100_000)
        let lines = stdout.text.split(separator: "\n")
        #expect(lines.count >= 2, "\(stdout.text)")
        #expect(docs().count == lines.count, "every stdout line is one JSON document")
        #expect(docs().first?["converged"]?.bool == false, "the seeded bench-25 starts unconverged")
        #expect(docs().last?["converged"]?.bool == true)
        #expect(Set(docs().compactMap { $0["generatedAt"]?.string }).count >= 2, "a fresh snapshot each refresh")
        #expect(p.terminationStatus == 0, "Ctrl-C after convergence exits with the last verdict: \(stderr.text)")
    }

    /// Not converged when interrupted: Ctrl-C's own code, 130.
    @Test func watchInterruptedBeforeConvergenceExits130() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        let (p, stdout, stderr) = try Self.startWatch(h)
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline && !stdout.text.contains("\n") { usleep(50_000) }
        kill(p.processIdentifier, SIGINT)
        await p.exited()
        #expect(p.terminationStatus == 130, "\(stderr.text)")
        #expect((try? JSON.parse(String(stdout.text.split(separator: "\n").first ?? "")))?["converged"]?.bool == false)
    }

    /// `aphex status --watch --interval 1 --output json` in the background, stdout and stderr collected.
    static func startWatch(_ h: SimHarness) throws -> (Process, LockedText, LockedText) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuiltAphex.path)
        p.arguments = ["status", "--kubeconfig", h.kubeconfigPath, "--watch", "--interval", "1", "--output", "json"]
        p.environment = h.env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdout = LockedText(), stderr = LockedText()
        for (pipe, text) in [(out, stdout), (err, stderr)] {
            Thread {
                while true {
                    let data = pipe.fileHandleForReading.availableData
                    if data.isEmpty { return }
                    text.append(String(decoding: data, as: UTF8.self))
                }
            }.start()
        }
        try p.run()
        return (p, stdout, stderr)
    }
}
