import ClusterDrivers
import Foundation
import SimCluster
import Testing

/// `aphex status` as a user or CI runs it: the built binary against `aphex-sim serve`.
@Suite(.serialized) struct StatusBlackBoxTests {
    /// bench-25 plus what bootstrap leaves besides platform-root (ArgoCD's workloads, the
    /// generated Secrets), applied with the real kubectl; waited until converged.
    func convergedBench() async throws -> SimHarness {
        let h = try await SimHarness.start(scenario: "bench-25")
        let apply = try h.runProgram(["/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "apply", "--validate=false", "-f", "-"], stdin: Self.bootstrappedObjects().serialized())
        #expect(apply.status == 0, "\(apply.stderr)")
        let w = try h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "60s"], timeout: 90)
        #expect(w.status == 0, "\(w.stderr)")
        return h
    }

    static func bootstrappedObjects() -> JSON {
        func rnd() -> String { (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }
        func secret(_ ns: String, _ name: String, _ data: [String: String], labelled: Bool = true) -> JSON {
            var o: JSON = ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string(name), "namespace": .string(ns)],
                           "data": .object(data.mapValues { .string(Data($0.utf8).base64EncodedString()) })]
            if labelled { o.set(["metadata", "labels"], to: ["app.kubernetes.io/managed-by": "aphex"]) }
            return o
        }
        var items: [JSON] = ["auth-system", "tekton-pipelines", "platform-system"].map {
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string($0)]]
        }
        for (kind, name) in [("Deployment", "argocd-server"), ("Deployment", "argocd-repo-server"),
                             ("Deployment", "argocd-applicationset-controller"), ("StatefulSet", "argocd-application-controller")] {
            var spec: JSON = ["replicas": 1, "selector": ["matchLabels": ["app.kubernetes.io/name": .string(name)]],
                              "template": ["metadata": ["labels": ["app.kubernetes.io/name": .string(name)]],
                                           "spec": ["containers": [["name": "main", "image": "quay.io/argoproj/argocd:v3.3.0"]]]]]
            if kind == "StatefulSet" { spec["serviceName"] = .string(name) }
            items.append(["apiVersion": "apps/v1", "kind": .string(kind),
                          "metadata": ["name": .string(name), "namespace": "argocd",
                                       "labels": ["app.kubernetes.io/part-of": "argocd", "app.kubernetes.io/name": .string(name)]],
                          "spec": spec])
        }
        let dexClient = rnd(), argoClient = rnd(), tektonClient = rnd()
        items += [
            secret("auth-system", "authentik-postgresql", ["postgresql-password": rnd(), "postgresql-postgres-password": rnd()]),
            secret("auth-system", "authentik-secrets", ["secret-key": rnd(), "admin-password": rnd(), "bootstrap-token": rnd()]),
            secret("auth-system", "dex-secrets", ["client-secret": dexClient, "authentik-client-secret": dexClient,
                                                  "argocd-client-secret": argoClient, "tekton-client-secret": tektonClient,
                                                  "kubernetes-client-secret": rnd()]),
            secret("argocd", "argocd-secret", ["oidc.dex.clientSecret": argoClient], labelled: false),
            secret("tekton-pipelines", "tekton-dashboard-oidc", ["client-secret": tektonClient]),
            secret("platform-system", "cloudflare-api-token", ["token": "cf-token"]),
        ]
        return ["apiVersion": "v1", "kind": "List", "items": .array(items)]
    }

    @Test func convergedPlatformExitsZeroWithSixRequestsAndNoProcess() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        try h.resetRecord()
        let r = try h.run(["status", "--kubeconfig", h.kubeconfigPath])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("Converged: 25 Applications"))
        let rec = try h.record()
        #expect(rec.requests.count <= 6, "\(rec.requests.map { "\($0.method) \($0.path)?\($0.query) via \($0.via)" })")
        #expect(rec.commands.isEmpty, "no child process: \(rec.commands.map(\.argv))")
    }

    @Test func jsonDocumentAndFocus() async throws {
        let h = try await convergedBench()
        defer { h.stop() }
        let r = try h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json"])
        #expect(r.status == 0)
        let doc = try JSON.parse(r.stdout)
        #expect(doc["schemaVersion"]?.int == 1)
        #expect(doc["converged"]?.bool == true)
        #expect(doc[path: "cluster", "reachable"]?.bool == true)
        let w = try h.run(["status", "--kubeconfig", h.kubeconfigPath, "--output", "json", "--wave", "10"])
        #expect(w.status == 0)
        #expect(try JSON.parse(w.stdout)["waves"]?.array?.map { $0["wave"]?.int } == [10])
        let bad = try h.run(["status", "--kubeconfig", h.kubeconfigPath, "--app", "no-such-app"])
        #expect(bad.status == 2, "\(bad.stderr)")
    }

    @Test func notConvergedExitsOne() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        _ = try h.run(["wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "8s"], timeout: 60)
        let r = try h.run(["status", "--kubeconfig", h.kubeconfigPath])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("CA bundle not injected"), "\(r.stdout)")
    }

    @Test func unreachableClusterExitsOneNamingTheKubeconfig() async throws {
        let h = try await SimHarness.start(scenario: "bench-25")
        defer { h.stop() }
        // The same kubeconfig, pointing at a port where nothing listens.
        let text = try String(contentsOfFile: h.kubeconfigPath, encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:\(h.port)", with: "127.0.0.1:1")
        let copy = NSTemporaryDirectory() + "aphex-unreachable-\(UUID().uuidString.prefix(6)).yaml"
        try text.write(toFile: copy, atomically: true, encoding: .utf8)
        let r = try h.run(["status", "--kubeconfig", copy])
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
        let simContext = try #require(try JSON.parse(try h.runProgram(["/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "config", "view", "-o", "json"]).stdout)["current-context"]?.string)
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

        let kubectlServer = try h.runProgram(["/usr/bin/kubectl", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"], extraEnv: env)
        #expect(kubectlServer.stdout == "http://127.0.0.1:\(h.port)", "\(kubectlServer.stderr)")
        let r = try h.run(["status", "--output", "json"], extraEnv: env)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try JSON.parse(r.stdout)
        #expect(doc[path: "cluster", "server"]?.string == kubectlServer.stdout)
        #expect(doc[path: "cluster", "kubeconfig"]?.string == list)
        // The decoy's own context is there too (merged), and points at the dead port.
        let decoyRun = try h.run(["status", "--context", "decoy-only"], extraEnv: env)
        #expect(decoyRun.status == 1, "\(decoyRun.stderr)")
        #expect(decoyRun.stderr.contains("127.0.0.1:1"), "\(decoyRun.stderr)")
    }
}
