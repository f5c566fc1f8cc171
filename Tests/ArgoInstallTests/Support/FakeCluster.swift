import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import TestSupport

/// A small in-memory Kubernetes for the install logic: `kubectl apply --server-side`,
/// `patch`, `annotate` through `runner`, reads through `api`. CRDs become Established
/// `crdDelay` after they are applied; workloads become ready `readyDelay` after a change,
/// unless listed in `stuck` (their pods then show ImagePullBackOff). Latency (real sleeping)
/// can be added per kubectl call for the benchmark.
final class FakeCluster: @unchecked Sendable {
    struct Apply: Sendable {
        var seq: Int
        var argv: [String]
        var objects: [(kind: String, name: String, namespace: String?)]
        var stdin: String
    }

    let clock: any TimeSource
    var crdDelay: Duration = .seconds(2)
    var readyDelay: Duration = .seconds(5)
    var stuck: Set<String> = []
    var neverEstablish: Set<String> = []
    /// Real latency per kubectl call, plus per object (benchmark).
    var callLatency: Duration = .zero
    /// kubectl applies under way at once (counted while latency is simulated), and the most seen.
    private var inFlight = 0
    private(set) var maxInFlight = 0
    var objectLatency: Duration = .zero

    private let lock = NSLock()
    private var objects: [String: JSON] = [:]
    private var readyAt: [String: Duration] = [:]
    private var establishAt: [String: Duration] = [:]
    private var _commands: [Command] = []
    private var _applies: [Apply] = []
    private var seq = 0

    static let clusterScoped: Set<String> = [
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"
    ]
    static let builtinGroups: Set<String> = [
        "v1", "apps/v1", "rbac.authorization.k8s.io/v1", "admissionregistration.k8s.io/v1",
        "networking.k8s.io/v1", "autoscaling/v2", "batch/v1", "policy/v1",
        "apiextensions.k8s.io/v1", "coordination.k8s.io/v1", "autoscaling/v1"
    ]

    init(clock: any TimeSource) { self.clock = clock }

    /// kubectl against this cluster.
    var runner: RecordingRunner { RecordingRunner { try await self.run($0) } }
    var api: FakeAPI { FakeAPI(cluster: self) }

    var commands: [Command] {
        lock.lock()
        defer { lock.unlock() }
        return _commands
    }
    var applies: [Apply] {
        lock.lock()
        defer { lock.unlock() }
        return _applies
    }
    func clearRecord() {
        lock.lock()
        _commands = []
        _applies = []
        lock.unlock()
    }

    static func key(_ kind: String, _ ns: String?, _ name: String) -> String { "\(kind)|\(ns ?? "")|\(name)" }

    func object(_ kind: String, _ ns: String?, _ name: String) -> JSON? {
        lock.lock()
        defer { lock.unlock() }
        return objects[Self.key(kind, ns, name)]
    }
    func put(_ obj: JSON) {
        lock.lock()
        defer { lock.unlock() }
        objects[Self.key(obj["kind"]!.string!, obj.namespace, obj.name!)] = obj
    }
    var allObjects: [JSON] {
        lock.lock()
        defer { lock.unlock() }
        return Array(objects.values)
    }

    // MARK: kubectl

    func run(_ command: Command) async throws -> CommandOutput {
        lock.withLock { _commands.append(command) }
        let argv = command.argv
        guard argv.first == "kubectl", argv.count > 3, argv[1] == "--kubeconfig" else {
            return CommandOutput(status: 127, stdout: "", stderr: "unexpected command \(argv)")
        }
        var i = 3
        if argv[i] == "--context" { i += 2 }
        let sub = argv[i]
        var namespace: String?
        if let n = argv.firstIndex(of: "--namespace") { namespace = argv[n + 1] }
        let stdin = String(decoding: command.stdin ?? [], as: UTF8.self)
        switch sub {
        case "apply":
            precondition(
                argv.contains("--server-side") && argv.contains("--force-conflicts"), "apply must be server-side")
            let objs = try Manifests.parse(stdin)
            if callLatency > .zero || objectLatency > .zero {
                lock.withLock {
                    inFlight += 1
                    maxInFlight = max(maxInFlight, inFlight)
                }
                defer { lock.withLock { inFlight -= 1 } }
                try await Task.sleep(for: callLatency + objectLatency * objs.count)
            }
            return apply(objs, namespace: namespace, argv: argv, stdin: stdin, command: command)
        case "patch":
            // kubectl ... patch deployment NAME --namespace NS --type merge ... -p JSON
            let name = argv[i + 2]
            let patch = try JSON.parse(argv[argv.firstIndex(of: "-p")! + 1])
            guard var obj = object("Deployment", namespace, name) else {
                return fail(command, "Error from server (NotFound): deployments.apps \"\(name)\" not found")
            }
            let before = obj["spec"]
            obj = merge(obj, patch)
            if obj["spec"] != before { bumpGeneration(&obj) }
            put(obj)
            return CommandOutput(status: 0, stdout: "deployment.apps/\(name) patched\n")
        case "annotate":
            let name = argv[i + 2]
            guard var obj = object("Application", namespace, name) else {
                return fail(command, "Error from server (NotFound): applications.argoproj.io \"\(name)\" not found")
            }
            let kv = argv.last!.split(separator: "=", maxSplits: 1).map(String.init)
            obj.set(["metadata", "annotations", kv[0]], to: .string(kv[1]))
            put(obj)
            return CommandOutput(status: 0, stdout: "application.argoproj.io/\(name) annotated\n")
        default:
            return fail(command, "fake kubectl: unsupported subcommand \(sub)")
        }
    }

    private func fail(_ command: Command, _ message: String) -> CommandOutput {
        CommandOutput(status: 1, stdout: "", stderr: message + "\n")
    }

    private func bumpGeneration(_ obj: inout JSON) {
        obj.set(["metadata", "generation"], to: .int((obj[path: "metadata", "generation"]?.int ?? 0) + 1))
        readyAt[Self.key(obj["kind"]!.string!, obj.namespace, obj.name!)] = clock.now() + readyDelay
    }

    private func apply(_ objs: [JSON], namespace: String?, argv: [String], stdin: String, command: Command)
        -> CommandOutput
    {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        var applied: [(String, String, String?)] = []
        for var o in objs {
            let kind = o["kind"]!.string!, api = o["apiVersion"]!.string!, name = o.name!
            var scoped = !Self.clusterScoped.contains(kind)
            if !Self.builtinGroups.contains(api) {
                // A custom resource: its CRD must be Established.
                let group = String(api.split(separator: "/").first!)
                guard
                    let crd = objects.values.first(where: {
                        $0["kind"]?.string == "CustomResourceDefinition"
                            && $0[path: "spec", "group"]?.string == group
                            && $0[path: "spec", "names", "kind"]?.string == kind
                    }),
                    let at = establishAt[crd.name!], clock.now() >= at
                else {
                    return CommandOutput(
                        status: 1, stdout: out,
                        stderr:
                            """
                            error: resource mapping not found for name: \"\(name)\": no matches for kind \
                            \"\(kind)\" in version \"\(api)\"\nensure CRDs are installed first\n
                            """
                    )
                }
                scoped = crd[path: "spec", "scope"]?.string != "Cluster"
            }
            var ns: String? = nil
            if scoped {
                ns = o.namespace ?? namespace ?? "default"
                guard objects[Self.key("Namespace", nil, ns!)] != nil else {
                    return CommandOutput(
                        status: 1, stdout: out,
                        stderr: "Error from server (NotFound): namespaces \"\(ns!)\" not found\n")
                }
                o.set(["metadata", "namespace"], to: .string(ns!))
            } else {
                o.set(["metadata", "namespace"], to: nil)
            }
            let key = Self.key(kind, ns, name)
            var merged = objects[key].map { merge($0, o) } ?? o
            if kind == "CustomResourceDefinition", establishAt[name] == nil, !neverEstablish.contains(name) {
                establishAt[name] = clock.now() + crdDelay
            }
            if ["Deployment", "StatefulSet"].contains(kind),
                objects[key]?["spec"] != merged["spec"] || objects[key] == nil
            {
                merged.set(
                    ["metadata", "generation"], to: .int((objects[key]?[path: "metadata", "generation"]?.int ?? 0) + 1))
                readyAt[key] = clock.now() + readyDelay
            }
            objects[key] = merged
            applied.append((kind, name, ns))
            out += "\(kind.lowercased())/\(name) serverside-applied\n"
        }
        seq += 1
        _applies.append(Apply(seq: seq, argv: argv, objects: applied, stdin: stdin))
        return CommandOutput(status: 0, stdout: out)
    }

    /// Deep merge (objects recursively, arrays and scalars replaced).
    func merge(_ base: JSON, _ patch: JSON) -> JSON {
        guard case .object(var b) = base, case .object(let p) = patch else { return patch }
        for (k, v) in p { b[k] = b[k].map { merge($0, v) } ?? v }
        return .object(b)
    }

    // MARK: API reads (status synthesized from the timeline)

    func read(_ ref: ResourceRef, _ ns: String?, _ name: String) -> JSON? {
        guard var o = object(ref.kind, ref.namespaced ? ns : nil, name) else { return nil }
        lock.lock()
        defer { lock.unlock() }
        let now = clock.now()
        switch ref.kind {
        case "CustomResourceDefinition":
            var conditions: [JSON] = [["type": "NamesAccepted", "status": "True"]]
            if let at = establishAt[name], now >= at { conditions.append(["type": "Established", "status": "True"]) }
            o.set(["status", "conditions"], to: .array(conditions))
        case "Deployment", "StatefulSet":
            let key = Self.key(ref.kind, ns, name)
            let gen = o[path: "metadata", "generation"]?.int ?? 1
            let replicas = o[path: "spec", "replicas"]?.int ?? 1
            let ready = !stuck.contains(name) && now >= (readyAt[key] ?? .zero)
            o["status"] = [
                "observedGeneration": .int(gen), "replicas": .int(replicas),
                "updatedReplicas": .int(ready ? replicas : 0), "readyReplicas": .int(ready ? replicas : 0),
                "availableReplicas": .int(ready ? replicas : 0)
            ]
        default: break
        }
        return o
    }
}

struct FakeAPI: KubeAPI {
    let cluster: FakeCluster
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        cluster.read(ref, namespace, name)
    }
    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    {
        if ref.kind == "Pod" {
            // Pods of stuck workloads, labelled as ArgoCD labels them.
            let app = labelSelector?.split(separator: "=").last.map(String.init) ?? ""
            let items: [JSON] =
                cluster.stuck.contains(app)
                ? [
                    [
                        "metadata": ["name": .string("\(app)-6d9f-abcde"), "namespace": .string(namespace ?? "")],
                        "status": [
                            "phase": "Pending",
                            "containerStatuses": [
                                [
                                    "name": .string(app), "ready": false,
                                    "state": [
                                        "waiting": [
                                            "reason": "ImagePullBackOff",
                                            "message": "Back-off pulling image \"quay.io/argoproj/argocd:v3.3.0\""
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ] : []
            return ["items": .array(items)]
        }
        let items = cluster.allObjects.filter {
            $0["kind"]?.string == ref.kind && (namespace == nil || $0.namespace == namespace)
        }
        return ["items": .array(items.compactMap { cluster.read(ref, $0.namespace, $0.name!) })]
    }
    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    {
        HTTPResponse(status: 404)
    }
    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { $0.finish() }
    }
}
