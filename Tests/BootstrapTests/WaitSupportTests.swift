import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport

// Test support for the convergence tests: an in-memory Kubernetes API with a timeline, fault
// injection and a request log, on TestSupport's virtual clock (its sleeps advance time at once).

/// An in-memory API server: objects by kind, a timeline of changes, scripted request handlers.
final class FakeKube: KubeAPI, @unchecked Sendable {
    struct Key: Hashable {
        var resource: String
        var namespace: String
        var name: String
    }
    private let lock = NSLock()
    private var objects: [Key: JSON] = [:]
    private var timeline: [(at: Duration, change: @Sendable (FakeKube) -> Void)] = []
    private var rv = 100
    private var watchers: [UUID: (resource: String, cont: AsyncThrowingStream<WatchEvent, any Error>.Continuation)] =
        [:]
    let clock: VirtualClock
    /// Every request: "GET /apis/...", in order.
    private(set) var requests: [String] = []
    /// Handlers for `request(...)` by path prefix: (method, path, headers) -> response.
    var handlers: [(prefix: String, handle: @Sendable (String, String, [String: String]) -> HTTPResponse)] = []
    /// Fails a request when it returns an error.
    var fault: (@Sendable (_ n: Int, _ now: Duration) -> KubeAPIError?)?
    var supportsWatch = true
    /// Fails the nth WATCH (1-based) at virtual time `now` when it returns an error.
    var watchFailure: (@Sendable (_ n: Int, _ now: Duration) -> (any Error)?)?
    private var watches = 0

    init(clock: VirtualClock) {
        self.clock = clock
        clock.onAdvance = { [weak self] in self?.advance() }
    }

    // MARK: world
    func put(_ ref: ResourceRef, _ obj: JSON) {
        lock.lock()
        rv += 1
        var o = obj
        o.set(["metadata", "resourceVersion"], to: .string(String(rv)))
        o["kind"] = .string(ref.kind)
        o["apiVersion"] = .string(ref.apiVersion)
        let key = Key(resource: ref.resource, namespace: obj.namespace ?? "", name: obj.name ?? "")
        let existed = objects[key] != nil
        objects[key] = o
        let ws = watchers.values.filter { $0.resource == ref.resource }
        lock.unlock()
        for w in ws { w.cont.yield(existed ? .modified(o) : .added(o)) }
    }
    func update(_ ref: ResourceRef, _ ns: String, _ name: String, _ change: (inout JSON) -> Void) {
        lock.lock()
        let key = Key(resource: ref.resource, namespace: ns, name: name)
        var o = objects[key] ?? ["metadata": ["name": .string(name), "namespace": .string(ns)]]
        lock.unlock()
        change(&o)
        put(ref, o)
    }
    func remove(_ ref: ResourceRef, _ ns: String, _ name: String) {
        lock.lock()
        let removed = objects.removeValue(forKey: Key(resource: ref.resource, namespace: ns, name: name))
        rv += 1
        let ws = watchers.values.filter { $0.resource == ref.resource }
        lock.unlock()
        if let removed { for w in ws { w.cont.yield(.deleted(removed)) } }
    }
    func object(_ ref: ResourceRef, _ ns: String, _ name: String) -> JSON? {
        lock.lock()
        defer { lock.unlock() }
        return objects[Key(resource: ref.resource, namespace: ns, name: name)]
    }
    /// Schedules a change at a virtual time.
    func at(_ seconds: Double, _ change: @escaping @Sendable (FakeKube) -> Void) {
        lock.lock()
        timeline.append((.milliseconds(Int64(seconds * 1000)), change))
        lock.unlock()
    }
    private func advance() {
        let now = clock.now()
        lock.lock()
        let due = timeline.filter { $0.at <= now }
        timeline.removeAll { $0.at <= now }
        lock.unlock()
        for d in due.sorted(by: { $0.at < $1.at }) { d.change(self) }
    }
    private func record(_ line: String) throws {
        advance()
        lock.lock()
        requests.append(line)
        let n = requests.count
        lock.unlock()
        if let fault, let e = fault(n, clock.now()) { throw e }
    }
    var requestCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return requests.count
    }

    // MARK: KubeAPI
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        try record("GET \(ref.path(namespace: namespace, name: name))")
        return object(ref, namespace ?? "", name)
    }

    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    {
        var line = "LIST \(ref.path(namespace: namespace))"
        if let labelSelector { line += "?labelSelector=\(labelSelector)" }
        if let fieldSelector { line += "&fieldSelector=\(fieldSelector)" }
        try record(line)
        var (items, version) = snapshot(ref, namespace)
        if let sel = labelSelector { items = items.filter { FakeKube.matches($0.labels, sel) } }
        if let f = fieldSelector, f.hasPrefix("type=") {
            items = items.filter { $0["type"]?.string == String(f.dropFirst(5)) }
        }
        return [
            "kind": .string(ref.kind + "List"), "metadata": ["resourceVersion": .string(version)],
            "items": .array(items)
        ]
    }

    private func snapshot(_ ref: ResourceRef, _ namespace: String?) -> ([JSON], String) {
        lock.lock()
        defer { lock.unlock() }
        let items = objects.filter {
            $0.key.resource == ref.resource && (namespace == nil || $0.key.namespace == namespace)
        }
        .sorted { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }.map(\.value)
        return (items, String(rv))
    }

    /// Equality terms and `key in (a,b)` terms, comma-separated outside parentheses.
    static func matches(_ labels: [String: String], _ selector: String) -> Bool {
        var terms: [String] = []
        var depth = 0, cur = ""
        for c in selector {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if c == "," && depth == 0 {
                terms.append(cur)
                cur = ""
            } else {
                cur.append(c)
            }
        }
        terms.append(cur)
        for t in terms.map({ $0.trimmingCharacters(in: .whitespaces) }) where !t.isEmpty {
            if let r = t.range(of: " in (") {
                let key = String(t[..<r.lowerBound])
                let values = t[r.upperBound...].dropLast().split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard let v = labels[key], values.contains(v) else { return false }
            } else {
                let kv = t.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, labels[kv[0]] == kv[1] else { return false }
            }
        }
        return true
    }

    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    {
        try record("\(method) \(path)")
        for h in handlers where path.hasPrefix(h.prefix) { return h.handle(method, path, headers) }
        return HTTPResponse(
            status: 404,
            body: Array(#"{"kind":"Status","message":"the server could not find the requested resource"}"#.utf8))
    }

    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, cont) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        do { try record("WATCH \(ref.path(namespace: namespace))") } catch {
            cont.finish(throwing: error)
            return stream
        }
        guard supportsWatch else {
            cont.finish(throwing: KubeAPIError.notFound("watch not supported"))
            return stream
        }
        let n: Int = lock.withLock {
            watches += 1
            return watches
        }
        if let watchFailure, let e = watchFailure(n, clock.now()) {
            cont.finish(throwing: e)
            return stream
        }
        let id = UUID()
        lock.lock()
        watchers[id] = (ref.resource, cont)
        lock.unlock()
        cont.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.watchers[id] = nil
            self.lock.unlock()
        }
        return stream
    }

    /// Ends every open watch (as an API server restart does).
    func dropWatches(with error: (any Error)? = nil) {
        lock.lock()
        let ws = watchers
        watchers = [:]
        lock.unlock()
        for w in ws.values { if let error { w.cont.finish(throwing: error) } else { w.cont.finish() } }
    }
}

/// Builders of realistic objects.
enum Obj {
    static let pem = Data("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n".utf8)
        .base64EncodedString()

    static func app(
        _ name: String, wave: String? = nil, sync: String? = "OutOfSync", health: String? = "Missing",
        opPhase: String? = nil, finishedAt: String? = nil, reconciledAt: String? = nil,
        resources: [JSON] = [], conditions: [JSON] = []
    ) -> JSON {
        var a: JSON = [
            "metadata": ["name": .string(name), "namespace": "argocd"],
            "spec": ["destination": ["namespace": .string(name)]]
        ]
        if let wave { a.set(["metadata", "annotations"], to: ["argocd.argoproj.io/sync-wave": .string(wave)]) }
        if let sync { a.set(["status", "sync", "status"], to: .string(sync)) }
        if let health { a.set(["status", "health", "status"], to: .string(health)) }
        if let opPhase {
            a.set(["status", "operationState", "phase"], to: .string(opPhase))
            a.set(["status", "operationState", "startedAt"], to: "2026-11-24T10:00:00Z")
            if let finishedAt { a.set(["status", "operationState", "finishedAt"], to: .string(finishedAt)) }
        }
        if let reconciledAt { a.set(["status", "reconciledAt"], to: .string(reconciledAt)) }
        if !resources.isEmpty { a.set(["status", "resources"], to: .array(resources)) }
        if !conditions.isEmpty { a.set(["status", "conditions"], to: .array(conditions)) }
        return a
    }

    static func converged(_ name: String, wave: String?) -> JSON {
        app(
            name, wave: wave, sync: "Synced", health: "Healthy", opPhase: "Succeeded",
            finishedAt: "2026-11-24T10:01:00Z", reconciledAt: "2026-11-24T10:01:05Z")
    }

    static func root(children: [String]) -> JSON {
        var r = converged("platform-root", wave: nil)
        r.set(
            ["status", "resources"],
            to: .array(
                children.map {
                    [
                        "group": "argoproj.io", "kind": "Application", "namespace": "argocd", "name": .string($0),
                        "status": "Synced"
                    ]
                }))
        r.set(["spec", "source", "path"], to: "platform/base/argocd/apps")
        r.set(["metadata", "creationTimestamp"], to: "2026-11-24T09:59:00Z")
        return r
    }

    static func deployment(
        _ ns: String, _ name: String, ready: Int, desired: Int = 1, partOf: String? = nil,
        labels: [String: String]? = nil
    ) -> JSON {
        let sel = labels ?? ["app": name]
        var d: JSON = [
            "metadata": ["name": .string(name), "namespace": .string(ns), "generation": 1],
            "spec": [
                "replicas": .int(Int64(desired)), "selector": ["matchLabels": .object(sel.mapValues { .string($0) })]
            ],
            "status": [
                "observedGeneration": 1, "replicas": .int(Int64(desired)), "readyReplicas": .int(Int64(ready)),
                "updatedReplicas": .int(Int64(desired)), "availableReplicas": .int(Int64(ready))
            ]
        ]
        if let partOf { d.set(["metadata", "labels"], to: ["app.kubernetes.io/part-of": .string(partOf)]) }
        d["kind"] = "Deployment"
        return d
    }

    static func pod(
        _ ns: String, _ name: String, labels: [String: String], waiting: (reason: String, message: String)? = nil,
        image: String = "example/app:1", phase: String = "Running", restarts: Int = 0
    ) -> JSON {
        var cs: JSON = [
            "name": "main", "image": .string(image), "ready": .bool(waiting == nil),
            "restartCount": .int(Int64(restarts))
        ]
        if let waiting {
            cs["state"] = ["waiting": ["reason": .string(waiting.reason), "message": .string(waiting.message)]]
        } else {
            cs["state"] = ["running": ["startedAt": "2026-11-24T10:00:00Z"]]
        }
        return [
            "metadata": [
                "name": .string(name), "namespace": .string(ns), "labels": .object(labels.mapValues { .string($0) })
            ],
            "spec": ["containers": [["name": "main", "image": .string(image)]]],
            "status": ["phase": .string(phase), "containerStatuses": [cs]]
        ]
    }

    static func webhookConfig(caBundle: String?) -> JSON {
        var hook: JSON = [
            "name": "webhook.cert-manager.io",
            "clientConfig": ["service": ["name": "cert-manager-webhook", "namespace": "cert-manager"]]
        ]
        if let caBundle { hook.set(["clientConfig", "caBundle"], to: .string(caBundle)) }
        return ["metadata": ["name": "cert-manager-webhook"], "webhooks": [hook]]
    }
}

/// A platform in the fake: kind/base waves, cert-manager and Authentik pieces, workloads.
struct PlatformFixture {
    static let waves: [(String, String)] = [
        ("ingress-controller", "0"), ("gpu", "3"), ("auth", "10"), ("cert-manager", "10"),
        ("external-secrets", "15"), ("catalog", "20"), ("controllers", "20"),
        ("cert-foundation", "20"), ("ingress", "30")
    ]
    static let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    /// Everything exists; apps start OutOfSync/Missing. `convergeAt`: seconds at which each wave converges.
    static func install(
        _ k: FakeKube, convergeAt: [Int: Double]? = [0: 3, 3: 5, 10: 9, 15: 12, 20: 16, 30: 20],
        caBundleInjectedAt: Double? = 8, authAccepts: Bool = true
    ) {
        k.put(.applications, Obj.root(children: waves.map(\.0)))
        for (name, wave) in waves { k.put(.applications, Obj.app(name, wave: wave)) }
        if let convergeAt {
            for (name, wave) in waves {
                if let t = convergeAt[Int(wave)!] {
                    k.at(t) { $0.put(.applications, Obj.converged(name, wave: wave)) }
                }
            }
        }
        for d in ["argocd-server", "argocd-repo-server", "argocd-applicationset-controller", "argocd-redis"] {
            k.put(.deployments, Obj.deployment("argocd", d, ready: 1, partOf: "argocd"))
        }
        var sts = Obj.deployment("argocd", "argocd-application-controller", ready: 1, partOf: "argocd")
        sts["kind"] = "StatefulSet"
        k.put(.statefulSets, sts)
        for (d, partOf) in [
            ("tekton-pipelines-controller", "tekton-pipelines"), ("tekton-pipelines-webhook", "tekton-pipelines"),
            ("tekton-triggers-controller", "tekton-triggers"), ("tekton-triggers-webhook", "tekton-triggers"),
            ("tekton-triggers-core-interceptors", "tekton-triggers"), ("tekton-dashboard", "tekton-dashboard")
        ] {
            k.put(.deployments, Obj.deployment("tekton-pipelines", d, ready: 1, partOf: partOf))
        }
        // cert-manager
        k.put(.services, ["metadata": ["name": "cert-manager-webhook", "namespace": "cert-manager"]])
        k.put(
            .endpointSlices,
            [
                "metadata": [
                    "name": "cert-manager-webhook-abc", "namespace": "cert-manager",
                    "labels": ["kubernetes.io/service-name": "cert-manager-webhook"]
                ],
                "endpoints": [["addresses": ["10.0.0.5"], "conditions": ["ready": true]]]
            ])
        k.put(.validatingWebhooks, Obj.webhookConfig(caBundle: nil))
        k.put(.mutatingWebhooks, Obj.webhookConfig(caBundle: nil))
        k.put(
            .pods,
            Obj.pod(
                "cert-manager", "cert-manager-cainjector-7d9", labels: ["app.kubernetes.io/component": "cainjector"]))
        if let t = caBundleInjectedAt {
            k.at(t) { k in
                k.put(.validatingWebhooks, Obj.webhookConfig(caBundle: Obj.pem))
                k.put(.mutatingWebhooks, Obj.webhookConfig(caBundle: Obj.pem))
            }
        }
        k.handlers.append(
            (
                "/apis/cert-manager.io/v1/namespaces/cert-manager/issuers",
                { [weak k] _, _, _ in
                    let injected =
                        k?.object(.validatingWebhooks, "", "cert-manager-webhook")?[path: "webhooks"]?[0]?[
                            path: "clientConfig", "caBundle"]?.string?.isEmpty == false
                    // An empty caBundle makes the API server verify the webhook against system roots: x509 failure.
                    if injected { return HTTPResponse(status: 201, body: Array(#"{"kind":"Issuer"}"#.utf8)) }
                    return HTTPResponse(
                        status: 500,
                        body: Array(
                            #"""
                            {"kind":"Status","message":"Internal error occurred: failed calling webhook \#
                            \"webhook.cert-manager.io\": failed to call webhook: Post \#
                            \"https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s\": tls: \#
                            failed to verify certificate: x509: certificate signed by unknown authority"}
                            """#
                            .utf8))
                }
            ))
        // Authentik
        // The platform's Secrets as bootstrap stores them (SecretGen's plan): labelled, except
        // argocd-secret (ArgoCD's own, merge-patched).
        if let plan = try? planSecrets(
            SecretsPlanInput(deployment: "kind", existing: [:], environment: ["CLOUDFLARE_API_TOKEN": "cf-token"]))
        {
            for w in plan.writes {
                var data = w.data
                if w.id.name == "authentik-secrets" { data["bootstrap-token"] = token }
                var obj: JSON = [
                    "metadata": ["name": .string(w.id.name), "namespace": .string(w.id.namespace)],
                    "data": .object(data.mapValues { .string(Data($0.utf8).base64EncodedString()) })
                ]
                if w.method == .serverSideApply {
                    obj.set(["metadata", "labels"], to: ["app.kubernetes.io/managed-by": "aphex"])
                }
                k.put(.secrets, obj)
            }
            // argocd-secret comes with ArgoCD's install; bootstrap merge-patches the OIDC key into it.
            let dex = k.object(.secrets, "auth-system", "dex-secrets")?[path: "data", "argocd-client-secret"] ?? ""
            k.put(
                .secrets,
                [
                    "metadata": ["name": "argocd-secret", "namespace": "argocd"],
                    "data": ["oidc.dex.clientSecret": dex, "server.secretkey": "c2VjcmV0"]
                ])
        } else {
            Issue.record("could not plan the platform's secrets")
        }
        k.handlers.append(
            (
                "/api/v1/namespaces/auth-system/services/authentik-server:9000/proxy/",
                { _, _, headers in
                    if authAccepts && headers["Authorization"] == "Bearer \(token)" {
                        return HTTPResponse(status: 200, body: Array(#"{"user":{"username":"akadmin"}}"#.utf8))
                    }
                    return HTTPResponse(status: 403, body: Array(#"{"detail":"Token invalid/expired"}"#.utf8))
                }
            ))
    }
}

func testContext(
    clock: any TimeSource, reporter: any Reporter = CollectingReporter(), format: OutputFormat = .text,
    output: BufferWriter = BufferWriter()
) -> AppContext {
    let host = HostContext(
        runner: RecordingRunner(), reporter: reporter, clock: clock, environment: ["HOME": "/nonexistent"],
        homeDirectory: "/nonexistent", makeTransport: { _ in fatalError("unmocked transport") })
    return AppContext(
        host: host, output: output, format: format, target: ClusterTarget(kubeconfig: "/nonexistent/kubeconfig"))
}

@Suite struct FakeKubeSelfTests {
    @Test func setBasedSelectorsMatchLikeTheAPIServer() {
        #expect(
            FakeKube.matches(
                ["app.kubernetes.io/part-of": "argocd"], "app.kubernetes.io/part-of in (argocd,tekton-pipelines)"))
        #expect(
            !FakeKube.matches(
                ["app.kubernetes.io/part-of": "other"], "app.kubernetes.io/part-of in (argocd,tekton-pipelines)"))
        #expect(FakeKube.matches(["a": "1", "b": "2"], "a=1,b=2"))
        #expect(!FakeKube.matches(["a": "1"], "a=1,b=2"))
    }
}
