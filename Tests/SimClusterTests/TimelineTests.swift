import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

let rootYAML = """
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata:
      name: platform-root
      namespace: argocd
      finalizers: [resources-finalizer.argocd.argoproj.io]
    spec:
      project: default
      source: {repoURL: "https://github.com/bdchatham/AphexPlatformInfrastructure.git", targetRevision: HEAD, path: \
    platform/base/argocd/apps}
      destination: {server: "https://kubernetes.default.svc", namespace: argocd}
      syncPolicy: {automated: {prune: true, selfHeal: true}}
    """

func app(_ sim: SimCluster, _ name: String) -> JSON? {
    sim.world.get(ResourceRef.applications, namespace: "argocd", name: name)
}

func isReady(_ a: JSON?) -> Bool {
    a?[path: "status", "sync", "status"] == "Synced" && a?[path: "status", "health", "status"] == "Healthy"
}

/// Installs the Application CRD and applies platform-root through the simulated kubectl.
func applyRoot(_ sim: SimCluster) async throws {
    sim.world.lock.lock()
    sim.world.installArgoCRDs()
    sim.world.ensureNamespace("argocd")
    sim.world.lock.unlock()
    let out = try await sim.runner.run(
        Command(["kubectl", "apply", "--server-side", "--field-manager=aphex", "-f", "-"], stdinText: rootYAML))
    #expect(out.stdoutText == "application.argoproj.io/platform-root serverside-applied\n")
}

@Suite struct Timeline {
    @Test func wavesConvergeInOrder() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        var readyAt: [String: Double] = [:]
        var sawProgressing: Set<String> = []
        var sawOutOfSync: Set<String> = []
        let done = sim.run(until: .seconds(600), step: .seconds(1)) { w in
            for a in w.scenario.apps {
                let o = w.get(ResourceRef.applications, namespace: "argocd", name: a.name)
                if o?[path: "status", "health", "status"] == "Progressing" { sawProgressing.insert(a.name) }
                if o?[path: "status", "sync", "status"] == "OutOfSync" { sawOutOfSync.insert(a.name) }
                if readyAt[a.name] == nil, isReady(o) { readyAt[a.name] = w.nowSeconds }
            }
            return readyAt.count == w.scenario.apps.count
        }
        #expect(done)
        #expect(sim.converged())
        // Every app went OutOfSync -> Progressing -> Synced/Healthy.
        #expect(sawOutOfSync.count == sim.scenario.apps.count)
        #expect(sawProgressing.count == sim.scenario.apps.count)
        // A wave is ready only after every app of the previous wave.
        let waves = sim.scenario.waves
        for i in 1..<waves.count {
            let prevDone = waves[i - 1].apps.map { readyAt[$0.name]! }.max()!
            for a in waves[i].apps {
                #expect(
                    readyAt[a.name]! > prevDone,
                    "\(a.name) (wave \(waves[i].wave)) ready before wave \(waves[i - 1].wave)")
            }
        }
        // Realistic status shape.
        let cm = app(sim, "cert-manager")!
        #expect(cm.annotations["argocd.argoproj.io/sync-wave"] == "10")
        #expect(cm[path: "status", "operationState", "phase"] == "Succeeded")
        #expect(cm[path: "status", "operationState", "finishedAt"]?.string != nil)
        #expect(cm[path: "status", "sync", "revision"]?.string?.count == 40)
        #expect(cm[path: "status", "reconciledAt"]?.string != nil)
        #expect(
            cm[path: "status", "resources"]?.array?.contains {
                $0["name"] == "cert-manager-webhook" && $0[path: "health", "status"] == "Healthy"
            } == true)
        let dep = sim.world.get(ResourceRef.deployments, namespace: "cert-manager", name: "cert-manager-webhook")!
        #expect(dep[path: "status", "availableReplicas"] == 1)
        #expect(dep[path: "status", "observedGeneration"] == dep[path: "metadata", "generation"])
    }

    @Test func certManagerWebhookGatesDryRunCreates() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        let issuer = """
            apiVersion: cert-manager.io/v1
            kind: Issuer
            metadata: {name: aphex-webhook-probe, namespace: cert-manager}
            spec: {selfSigned: {}}
            """
        let probe = Command(["kubectl", "create", "--dry-run=server", "-f", "-"], stdinText: issuer, checkExit: false)
        // Wait until cert-manager's app synced (CRDs and webhook configurations exist).
        #expect(
            sim.run { w in w.get(ResourceRef.validatingWebhooks, namespace: nil, name: "cert-manager-webhook") != nil })
        var messages: [String] = []
        var succeededAt: Double? = nil
        for _ in 0..<400 {
            let out = try await sim.runner.run(probe)
            if out.status == 0 {
                succeededAt = sim.world.nowSeconds
                break
            }
            let line = out.stderrText
            if messages.last != line { messages.append(line) }
            sim.advance(by: .milliseconds(250))
        }
        #expect(succeededAt != nil)
        #expect(messages.first?.contains("failed calling webhook \"webhook.cert-manager.io\"") == true)
        #expect(messages.first?.contains("connect: connection refused") == true)
        #expect(
            messages.first?.hasPrefix(
                "Error from server (InternalError): error when creating \"STDIN\": Internal error occurred:") == true)
        #expect(messages.contains { $0.contains("x509: certificate signed by unknown authority") })
        // The dry run created nothing.
        #expect(sim.world.get(ResourceRef.issuers, namespace: "cert-manager", name: "aphex-webhook-probe") == nil)
        let vwc = sim.world.get(ResourceRef.validatingWebhooks, namespace: nil, name: "cert-manager-webhook")!
        let ca = vwc["webhooks"]?[0]?[path: "clientConfig", "caBundle"]?.string ?? ""
        let pem = String(decoding: Data(base64Encoded: ca) ?? Data(), as: UTF8.self)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let slices = try sim.world.list(
            ResourceRef.endpointSlices, namespace: "cert-manager",
            labelSelector: "kubernetes.io/service-name=cert-manager-webhook")
        #expect(slices.first?["endpoints"]?[0]?[path: "conditions", "ready"] == true)
    }

    @Test func rootDeletionCascadesThroughTheFinalizer() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        #expect(sim.run { _ in app(sim, "ingress") != nil })
        _ = try await sim.runner.run(
            Command(["kubectl", "delete", "application", "platform-root", "-n", "argocd", "--wait=false"]))
        #expect(app(sim, "platform-root")?[path: "metadata", "deletionTimestamp"] != nil)
        #expect(sim.run(until: .seconds(60)) { _ in app(sim, "platform-root") == nil })
        #expect(try sim.world.list(ResourceRef.applications, namespace: "argocd").isEmpty)
    }

    /// Scenario knob `argocd.finalizers: ignore`: a broken ArgoCD never processes the finalizer.
    @Test func rootFinalizerIsNeverProcessedWhenArgoCDIgnoresFinalizers() async throws {
        let sim = try SimCluster(scenario: "blackbox-existing-stuck")
        try await applyRoot(sim)
        #expect(sim.run { _ in app(sim, "catalog") != nil })
        _ = try await sim.runner.run(
            Command(["kubectl", "delete", "application", "platform-root", "-n", "argocd", "--wait=false"]))
        sim.advance(by: .seconds(600))
        #expect(
            app(sim, "platform-root")?[path: "metadata", "finalizers"] == ["resources-finalizer.argocd.argoproj.io"])
        #expect(app(sim, "catalog")?[path: "metadata", "deletionTimestamp"] == nil, "no cascade either")
    }

    /// Once ArgoCD's application controller was installed, it must be running (present,
    /// replicas > 0, ready) for a deletion to be processed.
    @Test func rootDeletionWaitsForARunningApplicationController() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        func controller(replicas: Int) -> String {
            """
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: argocd-application-controller, namespace: argocd}
            spec:
              replicas: \(replicas)
              selector: {matchLabels: {app.kubernetes.io/name: argocd-application-controller}}
              template:
                metadata: {labels: {app.kubernetes.io/name: argocd-application-controller}}
                spec: {containers: [{name: c, image: "quay.io/argoproj/argocd:v3.3.0"}]}
            """
        }
        _ = try sim.apply(controller(replicas: 1))
        #expect(sim.run { _ in app(sim, "ingress") != nil })
        _ = try sim.apply(controller(replicas: 0))
        _ = try await sim.runner.run(
            Command(["kubectl", "delete", "application", "platform-root", "-n", "argocd", "--wait=false"]))
        sim.advance(by: .seconds(120))
        #expect(app(sim, "platform-root") != nil, "scaled to 0: nothing processes the finalizer")
        _ = try sim.apply(controller(replicas: 1))
        #expect(sim.run(until: .seconds(60)) { _ in app(sim, "platform-root") == nil }, "scaled back up: it finishes")
        // Deleted: missing, nothing processes.
        try await applyRoot(sim)
        #expect(sim.run { _ in app(sim, "ingress") != nil })
        _ = try await sim.runner.run(
            Command(["kubectl", "delete", "statefulset", "argocd-application-controller", "-n", "argocd"]))
        _ = try await sim.runner.run(
            Command(["kubectl", "delete", "application", "platform-root", "-n", "argocd", "--wait=false"]))
        sim.advance(by: .seconds(120))
        #expect(app(sim, "platform-root") != nil, "the controller is gone: the finalizer stays")
    }

    @Test func refreshAnnotationIsRemovedByArgoCD() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        #expect(sim.run { _ in app(sim, "gpu") != nil })
        _ = try await sim.runner.run(
            Command([
                "kubectl", "annotate", "application", "gpu", "-n", "argocd", "argocd.argoproj.io/refresh=hard",
                "--overwrite"
            ]))
        #expect(app(sim, "gpu")?.annotations["argocd.argoproj.io/refresh"] == "hard")
        #expect(sim.run(until: .seconds(10)) { _ in app(sim, "gpu")?.annotations["argocd.argoproj.io/refresh"] == nil })
    }

    @Test func authentikTokenCheck() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        _ = try sim.apply(
            """
            apiVersion: v1
            kind: Namespace
            metadata: {name: auth-system}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: authentik-secrets, namespace: auth-system}
            stringData: {bootstrap-token: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
            """)
        try await applyRoot(sim)
        let path = "/api/v1/namespaces/auth-system/services/authentik-server:9000/proxy/api/v3/core/users/me/"
        func get(_ token: String) async throws -> Int {
            try await sim.transport.send(
                HTTPRequest(url: sim.baseURL + path, headers: ["Authorization": "Bearer \(token)"])
            ).status
        }
        #expect(
            sim.run { _ in
                sim.world.get(ResourceRef.services, namespace: "auth-system", name: "authentik-server") != nil
            })
        #expect(try await get("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") == 503)
        #expect(sim.run { _ in isReady(app(sim, "auth")) })
        #expect(try await get("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") == 200)
        #expect(try await get("wrong") == 403)
    }
}

@Suite struct InProcessWatch {
    @Test func watchStreamsWaveProgressInVirtualTime() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try await applyRoot(sim)
        let list = try await sim.transport.send(
            HTTPRequest(url: sim.baseURL + "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"))
        let rv = try JSON.parse(list.body)[path: "metadata", "resourceVersion"]!.string!
        let box = LinesBox()
        let status = try await sim.transport.stream(
            HTTPRequest(
                url: sim.baseURL
                    + """
                    /apis/argoproj.io/v1alpha1/namespaces/argocd/applications?watch=true&resourceVersion=\(rv)&\
                    timeoutSeconds=300
                    """
            )
        ) { chunk in
            box.add(String(decoding: chunk, as: UTF8.self))
            return true
        }
        #expect(status == 200)
        let events = box.lines.compactMap { try? JSON.parse($0) }
        #expect(events.contains { $0["type"] == "ADDED" && $0[path: "object", "metadata", "name"] == "ingress" })
        #expect(
            events.contains {
                $0["type"] == "MODIFIED" && $0[path: "object", "metadata", "name"] == "ingress"
                    && $0[path: "object", "status", "health", "status"] == "Healthy"
            })
        #expect(sim.world.nowSeconds >= 300)  // the watch drove virtual time to its timeout
        // Once the watch cache has dropped events, an older resourceVersion gets an ERROR event
        // with a 410 Status (a young server replays it instead: see ConformanceWatch).
        sim.world.lock.lock()
        sim.world.historyCapacity = 10
        sim.world.lock.unlock()
        for i in 0..<20 {
            _ = try sim.world.apply([
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": .string("churn-\(i)"), "namespace": "default"]
            ])
        }
        let old = LinesBox()
        _ = try await sim.transport.stream(
            HTTPRequest(
                url: sim.baseURL
                    + "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications?watch=true&resourceVersion=1")
        ) {
            old.add(String(decoding: $0, as: UTF8.self))
            return true
        }
        #expect(old.lines.first.flatMap { try? JSON.parse($0) }?[path: "object", "code"] == 410)
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func add(_ s: String) {
        lock.lock()
        text += s
        lock.unlock()
    }
    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return text.split(separator: "\n").map(String.init)
    }
}
