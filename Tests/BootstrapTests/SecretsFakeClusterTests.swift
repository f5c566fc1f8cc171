import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport
import Yams
@testable import Bootstrap

/// A small in-memory cluster for the secrets tests: a `KubeAPI` (GET/PATCH of Secrets) and a
/// kubectl (`run`, behind a RecordingRunner) that understands `kubectl ... apply --server-side ... -f -` with the
/// manifest on stdin. It records every argv, every stdin and every request, and can be told
/// to die part-way (as a killed run would).
final class FakeSecretCluster: KubeAPI, @unchecked Sendable {
    struct Object: Equatable {
        var data: [String: String]  // base64, as the API stores it
        var labels: [String: String]
        var annotations: [String: String]
        var type: String?
    }
    struct Request: Equatable {
        var method: String
        var path: String
        var body: [UInt8]?
        var contentType: String?
    }

    private let lock = NSLock()
    private var objects: [String: Object] = [:]  // "ns/name"
    /// ConfigMaps (aphex's ownership record lives in one), whole, by "ns/name".
    private(set) var configMaps: [String: JSON] = [:]
    private(set) var commands: [Command] = []
    private(set) var requests: [Request] = []
    /// Apply only this many documents of the next apply, then fail as a killed kubectl would.
    var dieAfterDocuments: Int?
    /// Fail the next PATCH with a transport error (killed between apply and patch).
    var failNextPatch = false
    /// Create only this many Secrets with POST, then fail as a killed run would.
    var dieAfterCreates: Int?
    /// Runs (once) when a POST for this Secret ("ns/name") arrives, before it is answered: what
    /// another run that got there first does (`race(ns, name)` stores its own values).
    var beforeCreate: [String: @Sendable (FakeSecretCluster) -> Void] = [:]
    /// Number of 409 AlreadyExists answers given.
    private(set) var conflicts = 0
    /// Namespaces that exist (apply into another one fails like the API server).
    var namespaces: Set<String> = [
        "argocd", "auth-system", "tekton-pipelines", "platform-system", "cert-manager", "kube-system"
    ]

    // MARK: state helpers
    func put(_ ns: String, _ name: String, plain data: [String: String], annotations: [String: String] = [:]) {
        lock.lock()
        defer { lock.unlock() }
        objects["\(ns)/\(name)"] = Object(
            data: data.mapValues { Data($0.utf8).base64EncodedString() },
            labels: [:], annotations: annotations, type: "Opaque")
    }
    func object(_ ns: String, _ name: String) -> Object? {
        lock.lock()
        defer { lock.unlock() }
        return objects["\(ns)/\(name)"]
    }
    func value(_ ns: String, _ name: String, _ key: String) -> String? {
        guard let b64 = object(ns, name)?.data[key], let d = Data(base64Encoded: b64) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }
    /// Every stored plain value, by "ns/name[key]".
    var allValues: [String: String] {
        lock.lock()
        defer { lock.unlock() }
        var out: [String: String] = [:]
        for (id, o) in objects {
            for (k, v) in o.data { out["\(id)[\(k)]"] = String(decoding: Data(base64Encoded: v)!, as: UTF8.self) }
        }
        return out
    }
    var argvs: [[String]] {
        lock.lock()
        defer { lock.unlock() }
        return commands.map(\.argv)
    }

    // MARK: KubeAPI
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        getSync(ref, namespace: namespace, name: name)
    }
    private func getSync(_ ref: ResourceRef, namespace: String?, name: String) -> JSON? {
        lock.lock()
        defer { lock.unlock() }
        requests.append(Request(method: "GET", path: ref.path(namespace: namespace, name: name)))
        if ref == .configMaps, let ns = namespace { return configMaps["\(ns)/\(name)"] }
        guard ref == .secrets, let ns = namespace, let o = objects["\(ns)/\(name)"] else { return nil }
        var obj: JSON = [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": [
                "name": .string(name), "namespace": .string(ns),
                "labels": .object(o.labels.mapValues { .string($0) }),
                "annotations": .object(o.annotations.mapValues { .string($0) })
            ],
            "data": .object(o.data.mapValues { .string($0) })
        ]
        if let t = o.type { obj["type"] = .string(t) }
        return obj
    }

    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    {
        ["items": []]
    }

    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    {
        if method == "POST" {
            // Another run's create that lands first (outside the lock: it writes through put).
            let parts = path.split(separator: "?")[0].split(separator: "/").map(String.init)
            if parts.count == 5, let body, let name = (try? JSON.parse(body))?.name {
                let id = "\(parts[3])/\(name)"
                let hook: (@Sendable (FakeSecretCluster) -> Void)? = lock.withLock {
                    beforeCreate.removeValue(forKey: id)
                }
                hook?(self)
            }
        }
        return try requestSync(method, path: path, body: body, contentType: contentType)
    }
    private func requestSync(_ method: String, path: String, body: [UInt8]?, contentType: String?) throws
        -> HTTPResponse
    {
        lock.lock()
        defer { lock.unlock() }
        requests.append(Request(method: method, path: path, body: body, contentType: contentType))
        let plain = String(path.split(separator: "?")[0])
        if method == "GET", plain == "/api/v1" {
            return HTTPResponse(
                status: 200,
                body: Array(
                    #"""
                    {"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"secrets",\#
                    "namespaced":true,"kind":"Secret"},{"name":"configmaps","namespaced":true,"kind":"ConfigMap"}]}
                    """#
                    .utf8))
        }
        if plain.contains("/configmaps"), let body, let obj = try? JSON.parse(body), let name = obj.name,
            let ns = obj.namespace, method == "POST" || method == "PUT"
        {
            // aphex's ownership record: created once, then replaced with optimistic concurrency.
            let key = "\(ns)/\(name)"
            if method == "POST", configMaps[key] != nil { return HTTPResponse(status: 409) }
            if method == "PUT",
                configMaps[key]?[path: "metadata", "resourceVersion"] != obj[path: "metadata", "resourceVersion"]
            {
                return HTTPResponse(status: 409)
            }
            var stored = obj
            stored.set(["metadata", "resourceVersion"], to: .string(String(requests.count)))
            configMaps[key] = stored
            return HTTPResponse(status: method == "POST" ? 201 : 200, body: stored.serializedBytes())
        }
        if method == "POST" { return try createSync(path: path, body: body, contentType: contentType) }
        guard method == "PATCH" else { return HTTPResponse(status: 405) }
        if failNextPatch {
            failNextPatch = false
            throw KubeAPIError.transport(.connectionReset(path))
        }
        // /api/v1/namespaces/NS/secrets/NAME?fieldManager=aphex
        let parts = path.split(separator: "?")[0].split(separator: "/").map(String.init)
        guard parts.count == 6, parts[4] == "secrets" else { return HTTPResponse(status: 404) }
        let id = "\(parts[3])/\(parts[5])"
        guard var o = objects[id] else {
            return HTTPResponse(
                status: 404, body: Array(#"{"kind":"Status","message":"secrets \"\#(parts[5])\" not found"}"#.utf8))
        }
        guard contentType == "application/merge-patch+json", let body,
            let patch = try? JSON.parse(body), let data = patch["data"]?.object
        else { return HTTPResponse(status: 400) }
        for (k, v) in data { o.data[k] = v.string }
        objects[id] = o
        return HTTPResponse(status: 200, body: Array("{}".utf8))
    }

    /// POST /api/v1/namespaces/NS/secrets?fieldManager=aphex: 201, 404 (no namespace), 409 (exists).
    private func createSync(path: String, body: [UInt8]?, contentType: String?) throws -> HTTPResponse {
        let parts = path.split(separator: "?")[0].split(separator: "/").map(String.init)
        guard parts.count == 5, parts[4] == "secrets", contentType == "application/json", let body,
            let obj = try? JSON.parse(body), obj["kind"]?.string == "Secret", let name = obj.name
        else { return HTTPResponse(status: 400) }
        let ns = parts[3]
        if let limit = dieAfterCreates {
            if limit == 0 {
                dieAfterCreates = nil
                throw KubeAPIError.transport(.connectionReset(path))
            }
            dieAfterCreates = limit - 1
        }
        guard namespaces.contains(ns) else {
            return HTTPResponse(
                status: 404,
                body: Array(
                    #"{"kind":"Status","code":404,"reason":"NotFound","message":"namespaces \"\#(ns)\" not found"}"#
                        .utf8))
        }
        if objects["\(ns)/\(name)"] != nil {
            conflicts += 1
            return HTTPResponse(
                status: 409,
                body: Array(
                    #"""
                    {"kind":"Status","code":409,"reason":"AlreadyExists","message":"secrets \"\#(name)\" already \#
                    exists"}
                    """#
                    .utf8))
        }
        objects["\(ns)/\(name)"] = Object(
            data: obj["data"]?.stringMap ?? [:], labels: obj.labels, annotations: obj.annotations,
            type: obj["type"]?.string)
        var created = obj
        created.set(["metadata", "uid"], to: .string("uid-\(ns)-\(name)"))
        return HTTPResponse(status: 201, body: created.serializedBytes())
    }

    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { $0.finish() }
    }

    // MARK: kubectl apply --server-side -f - (the runner of `secretsTestContext`)
    func run(_ command: Command) async throws -> CommandOutput {
        try runSync(command)
    }
    private func runSync(_ command: Command) throws -> CommandOutput {
        lock.lock()
        defer { lock.unlock() }
        commands.append(command)
        let argv = command.argv
        guard argv.first == "kubectl", argv.contains("apply"), argv.contains("--server-side"),
            argv.suffix(2) == ["-f", "-"], let stdin = command.stdin
        else {
            throw CommandError(argv: argv, reason: .exited(1), stderr: "fake: unsupported command")
        }
        let docs = try Yams.load_all(yaml: String(decoding: stdin, as: UTF8.self))
        var applied = 0
        for case let doc as [String: Any] in docs {
            if let limit = dieAfterDocuments, applied >= limit {
                dieAfterDocuments = nil
                throw CommandError(argv: argv, reason: .exited(137), stderr: "Killed")
            }
            let meta = doc["metadata"] as! [String: Any]
            let ns = meta["namespace"] as! String, name = meta["name"] as! String
            guard namespaces.contains(ns) else {
                throw CommandError(
                    argv: argv, reason: .exited(1),
                    stderr: "Error from server (NotFound): namespaces \"\(ns)\" not found")
            }
            var o = objects["\(ns)/\(name)"] ?? Object(data: [:], labels: [:], annotations: [:], type: nil)
            if let t = doc["type"] as? String {
                if let old = o.type, old != t {
                    throw CommandError(argv: argv, reason: .exited(1), stderr: "type is immutable")
                }
                o.type = t
            }
            for (k, v) in (doc["data"] as? [String: Any]) ?? [:] { o.data[k] = v as? String }
            for (k, v) in (meta["labels"] as? [String: Any]) ?? [:] { o.labels[k] = v as? String }
            for (k, v) in (meta["annotations"] as? [String: Any]) ?? [:] { o.annotations[k] = v as? String }
            objects["\(ns)/\(name)"] = o
            applied += 1
        }
        return CommandOutput(status: 0, stdout: "applied \(applied)\n")
    }
}

struct UnusedTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse { fatalError("unmocked HTTP transport") }
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        fatalError("unmocked HTTP transport")
    }
}

func secretsTestContext(
    _ cluster: FakeSecretCluster, reporter: CollectingReporter = CollectingReporter(),
    output: BufferWriter = BufferWriter(), format: OutputFormat = .text,
    environment: [String: String] = ["HOME": "/nonexistent"], context: String? = nil
) -> AppContext {
    let host = HostContext(
        runner: RecordingRunner { try await cluster.run($0) }, reporter: reporter,
        clock: VirtualClock(epoch: Date(timeIntervalSince1970: 1_790_000_000)),
        environment: environment, homeDirectory: "/nonexistent",
        makeTransport: { _ in UnusedTransport() })
    return AppContext(
        host: host, output: output, format: format,
        target: ClusterTarget(clusterName: "platform-cluster", kubeconfig: "/tmp/kc", context: context))
}

@Suite struct SecretsFakeClusterTests {
    @Test func fakeAppliesManifestsAndPatches() async throws {
        let c = FakeSecretCluster()
        _ = try await c.run(
            Command(
                ["kubectl", "apply", "--server-side", "-f", "-"],
                stdinText: """
                    apiVersion: v1
                    kind: Secret
                    metadata:
                      name: "a"
                      namespace: "argocd"
                    data:
                      "k": "dg=="
                    """))
        #expect(c.value("argocd", "a", "k") == "v")
        let r = try await c.request(
            "PATCH", path: "/api/v1/namespaces/argocd/secrets/a", body: Array(#"{"data":{"x":"eQ=="}}"#.utf8),
            contentType: "application/merge-patch+json")
        #expect(r.status == 200 && c.value("argocd", "a", "x") == "y" && c.value("argocd", "a", "k") == "v")
        #expect(
            try await c.request(
                "PATCH", path: "/api/v1/namespaces/argocd/secrets/none", body: [],
                contentType: "application/merge-patch+json"
            ).status == 404)
    }
}
