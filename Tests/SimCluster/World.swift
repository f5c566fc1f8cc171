import AphexCore
import KubeClient
import Foundation

/// A simulated controller: advances the world at `now` (scenario time). Returns true when it
/// changed something (the world steps every controller until nothing changes).
protocol SimController: AnyObject {
    func step(_ world: SimWorld, now: Duration) -> Bool
}

/// A watch subscription.
final class SimWatcher: @unchecked Sendable {
    let id: Int
    let group: String
    let resource: String
    let namespace: String?
    let labels: LabelSelector
    let fields: FieldSelector
    let sink: @Sendable (String, JSON) -> Void
    init(
        id: Int, group: String, resource: String, namespace: String?, labels: LabelSelector, fields: FieldSelector,
        sink: @escaping @Sendable (String, JSON) -> Void
    ) {
        self.id = id
        self.group = group
        self.resource = resource
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.sink = sink
    }
    func wants(_ key: ObjectKey, _ obj: JSON) -> Bool {
        key.group == group && key.resource == resource && (namespace == nil || namespace == key.namespace)
            && labels.matches(obj.labels) && fields.matches(obj)
    }
}

/// How an apply ended, per object (kubectl prints "serverside-applied" / "created" / "configured" / "unchanged").
public enum ApplyOutcome: String, Sendable { case created, configured, unchanged }

/// The simulated cluster's state: Kubernetes objects with real metadata, a type registry
/// (built-ins plus established CRDs), watch streams, the simulated controllers and the fault
/// plan. Thread-safe; every public operation first lets the controllers catch up to `now`.
public final class SimWorld: @unchecked Sendable {
    let lock = NSRecursiveLock()
    public let clock: any TimeSource
    public let scenario: Scenario
    public let record: SimRecord
    public let faults: FaultInjector
    let origin: Duration

    var types: [String: SimType] = [:]  // "group/resource"
    var objects: [ObjectKey: JSON] = [:]
    /// Scenario time of each object's creation and last spec change (logical times).
    var createdAt: [ObjectKey: Duration] = [:]
    var changedAt: [ObjectKey: Duration] = [:]
    var rv: Int64 = 1000
    var history: [(rv: Int64, type: String, key: ObjectKey, object: JSON)] = []
    var oldestHistoryRV: Int64 = 1000
    /// Whether the watch history (the API server's watch cache) has dropped events: only then
    /// is an old resourceVersion "too old" for a watch (a young server replays what it holds).
    var historyTrimmed = false
    /// Events the watch history keeps before it drops the oldest quarter.
    public var historyCapacity = 20000
    /// resourceVersions at or below this one are "compacted" (etcd keeps no older revision):
    /// a LIST at such an exact version or a continue token naming it is 410 Expired.
    var compactedRV: Int64 = 1000
    var watchers: [Int: SimWatcher] = [:]
    var nextWatcherID = 1
    var controllers: [SimController] = []
    var ticking = false
    /// Set by every write; with `lastTick` it lets `tick()` skip when nothing can have changed.
    var dirty = true
    var lastTick: Duration = .seconds(-1)
    /// Real-time serving (`aphex-sim serve`): a read within this interval of the last tick, with
    /// no write since, is served from the state that tick left (as an API server serves reads
    /// from its watch cache) instead of re-running every controller. Zero, for in-process tests
    /// on a virtual clock, ticks whenever the clock has moved.
    public var readCoalescing: Duration {
        get {
            lock.lock()
            defer { lock.unlock() }
            return _readCoalescing
        }
        set {
            lock.lock()
            _readCoalescing = newValue
            lock.unlock()
        }
    }
    private var _readCoalescing: Duration = .zero
    /// Scenario time at which the last child Application became Synced and Healthy (the
    /// platform's final transition, as ArgoCD decided it), once every wave is done; benchmarks
    /// measure detection latency from it.
    var platformConvergedAt: Duration?
    /// When each workload became (or will become) ready, as the workload controller decided.
    var workloadReadyAt: [ObjectKey: Duration] = [:]

    // Cluster lifecycle (kind clusters / k3s install) for the stand-ins.
    public struct KindCluster: Sendable, Equatable {
        public var name: String
        public var image: String
        public var broken: Bool
        public var config: String
        public var createdAt: Duration
    }
    var kindClusters: [String: KindCluster] = [:]
    var k3sInstalled = false
    var k3sActive = false
    var k3sVersionInstalled: String?
    var k3sExec: String?
    /// The server's join token (the installer writes it to /var/lib/rancher/k3s/server/node-token).
    var k3sToken: String?
    /// k3s agents joined by the installer in agent mode, by the host root of their machine.
    struct K3sAgentState: Sendable {
        var server: String
        var node: String
        /// The server accepted it (right URL and token): its Node exists.
        var registered: Bool
        var active: Bool
    }
    var k3sAgents: [String: K3sAgentState] = [:]
    /// The server's join token (nil until k3s is installed).
    public var k3sJoinToken: String? {
        lock.lock()
        defer { lock.unlock() }
        return k3sToken
    }
    /// The simulated k3s server's address as agents reach it (a documentation address, RFC
    /// 5737: never contacted; the stand-in agent compares K3S_URL with it).
    public static let k3sServerAddress = "192.0.2.10"
    public static var k3sServerURL: String { "https://\(k3sServerAddress):6443" }
    var preexistingCluster: Bool
    /// Per-process "API ever answered" bookkeeping is not needed: availability is derived.

    public init(scenario: Scenario, clock: any TimeSource, record: SimRecord = SimRecord()) {
        self.scenario = scenario
        self.clock = clock
        self.record = record
        self.faults = FaultInjector(scenario.faults)
        self.origin = clock.now()
        self.preexistingCluster = scenario.cluster.exists
        self.k3sInstalled = scenario.host.k3sInstalled
        self.k3sActive = scenario.host.k3sInstalled
        if scenario.host.k3sInstalled {
            k3sVersionInstalled = scenario.cluster.k3sVersion
            k3sToken = "K10" + String(repeating: "ab", count: 32) + "::server:aphexsimpreinstalled"
        }
        for t in BuiltinTypes.all { types[typeKey(t.ref.group, t.ref.resource)] = t }
        controllers = Self.makeControllers(scenario)
        lock.lock()
        defer { lock.unlock() }
        if scenario.cluster.exists {
            bootstrapClusterObjects(flavor: scenario.cluster.flavor, name: scenario.cluster.name)
        }
    }

    /// Scenario time (seconds since the world started).
    public var now: Duration { clock.now() - origin }
    public var nowSeconds: Double { now.seconds }
    func wall(_ t: Duration) -> String { rfc3339(clock.wallNow().addingTimeInterval((t - now).seconds)) }

    func typeKey(_ group: String, _ resource: String) -> String { "\(group)/\(resource)" }

    // MARK: availability

    /// Whether the API server answers at all (a cluster exists and is not broken, and no
    /// down-window fault is active).
    public var apiReachable: Bool {
        lock.lock()
        defer { lock.unlock() }
        return clusterUp && !faults.isDown(at: nowSeconds)
    }
    var clusterUp: Bool {
        if preexistingCluster { return true }
        if k3sInstalled && k3sActive { return true }
        return kindClusters.values.contains { !$0.broken }
    }

    // MARK: ticking

    /// Runs the simulated controllers up to the current time.
    public func tick() {
        lock.lock()
        defer { lock.unlock() }
        if ticking { return }
        ticking = true
        defer { ticking = false }
        guard clusterUp else { return }
        let t = now
        if !dirty && (t == lastTick || (t > lastTick && t - lastTick < _readCoalescing)) { return }
        for _ in 0..<200 {
            var changed = false
            for c in controllers where c.step(self, now: t) { changed = true }
            if !changed { break }
        }
        lastTick = t
        dirty = false
    }

    // MARK: types

    public func allTypes() -> [SimType] {
        lock.lock()
        defer { lock.unlock() }
        return types.values.sorted { ($0.ref.group, $0.ref.resource) < ($1.ref.group, $1.ref.resource) }
    }

    /// The type for an object's apiVersion/kind; throws "no matches for kind" like the RESTMapper.
    public func type(apiVersion: String, kind: String) throws -> SimType {
        lock.lock()
        defer { lock.unlock() }
        let parts = apiVersion.split(separator: "/").map(String.init)
        let group = parts.count == 2 ? parts[0] : ""
        let version = parts.last ?? ""
        if let t = types.values.first(where: {
            $0.ref.group == group && $0.ref.kind == kind && $0.versions.contains(version)
        }) {
            return t
        }
        throw SimAPIError.noMatch(kind: kind, apiVersion: apiVersion)
    }

    /// Whether any type is served at group/version (`/api/v1`, `/apis/apps/v1`).
    public func servesGroupVersion(group: String, version: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return types.values.contains { $0.ref.group == group && $0.versions.contains(version) }
    }

    /// The type for a URL path segment (group, resource); nil when not served.
    public func type(group: String, version: String, resource: String) -> SimType? {
        lock.lock()
        defer { lock.unlock() }
        guard let t = types[typeKey(group, resource)], t.versions.contains(version) else { return nil }
        return t
    }

    /// kubectl's resource-name resolution: plural, singular, short name, Kind, optionally
    /// qualified with `.group` or `.version.group`.
    public func resolve(_ name: String) -> SimType? {
        lock.lock()
        defer { lock.unlock() }
        let lower = name.lowercased()
        let all = types.values.sorted {
            ($0.ref.group.isEmpty ? 0 : 1, $0.ref.group) < ($1.ref.group.isEmpty ? 0 : 1, $1.ref.group)
        }
        func matchesBase(_ t: SimType, _ base: String) -> Bool {
            base == t.ref.resource || base == t.singular || base == t.ref.kind.lowercased()
                || t.shortNames.contains(base)
        }
        if let t = all.first(where: { matchesBase($0, lower) }) { return t }
        // qualified: resource.group or resource.version.group
        if let dot = lower.firstIndex(of: ".") {
            let base = String(lower[..<dot])
            let rest = String(lower[lower.index(after: dot)...])
            return all.first { t in
                matchesBase(t, base) && (rest == t.ref.group || t.versions.contains { "\($0).\(t.ref.group)" == rest })
            }
        }
        return nil
    }

    // MARK: reads

    public func get(_ ref: ResourceRef, namespace: String?, name: String) -> JSON? {
        tick()
        lock.lock()
        defer { lock.unlock() }
        return objects[ObjectKey(ref, namespace: namespace, name: name)].map { served($0, ref) }
    }

    /// Objects of a type (namespace nil = all), filtered by label and field selectors.
    public func list(
        _ ref: ResourceRef, namespace: String? = nil, labelSelector: String? = nil,
        fieldSelector: String? = nil
    ) throws -> [JSON] {
        let ls = try LabelSelector(labelSelector)
        let fs = try FieldSelector(fieldSelector)
        tick()
        lock.lock()
        defer { lock.unlock() }
        return objects.filter { k, v in
            k.group == ref.group && k.resource == ref.resource
                && (namespace == nil || !ref.namespaced || k.namespace == namespace)
                && ls.matches(v.labels) && fs.matches(v)
        }.sorted { $0.key < $1.key }.map { served($0.value, ref) }
    }

    /// The List object the API returns.
    public func listObject(
        _ ref: ResourceRef, namespace: String? = nil, labelSelector: String? = nil,
        fieldSelector: String? = nil
    ) throws -> JSON {
        let items = try list(ref, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
        lock.lock()
        defer { lock.unlock() }
        return [
            "apiVersion": .string(ref.apiVersion), "kind": .string(ref.kind + "List"),
            "metadata": ["resourceVersion": .string(String(rv))], "items": .array(items)
        ]
    }

    /// The global resourceVersion counter.
    public var resourceVersion: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return rv
    }

    /// Every stored object (for dumps and tests).
    public func allObjects() -> [JSON] {
        tick()
        lock.lock()
        defer { lock.unlock() }
        return objects.sorted { $0.key < $1.key }.map(\.value)
    }

    func served(_ obj: JSON, _ ref: ResourceRef) -> JSON {
        var o = obj
        o["apiVersion"] = .string(ref.apiVersion)
        o["kind"] = .string(ref.kind)
        return o
    }

    // MARK: client writes

    func key(for obj: JSON, type t: SimType, namespace: String?) throws -> ObjectKey {
        guard let name = obj.name, !name.isEmpty else {
            throw SimAPIError.invalid(
                """
                \(t.ref.kind).\(t.ref.group.isEmpty ? "core" : t.ref.group) is invalid: metadata.name: Required \
                value: name or generateName is required
                """
            )
        }
        if t.ref.namespaced {
            let ns = obj.namespace ?? namespace ?? "default"
            if let n = namespace, let o = obj.namespace, n != o {
                throw SimAPIError.badRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            }
            return ObjectKey(t.ref, namespace: ns, name: name)
        }
        return ObjectKey(t.ref, namespace: nil, name: name)
    }

    /// Admission: namespace exists and is not terminating, webhooks answer.
    func admit(_ obj: JSON, key: ObjectKey, type t: SimType, operation: String) throws {
        if t.ref.namespaced {
            let nsKey = ObjectKey(ResourceRef.namespaces, namespace: nil, name: key.namespace)
            guard let ns = objects[nsKey] else { throw SimAPIError.notFound("namespaces", key.namespace) }
            if ns[path: "metadata", "deletionTimestamp"] != nil && operation == "CREATE" {
                throw SimAPIError(
                    code: 403, reason: "Forbidden",
                    message:
                        """
                        \(t.qualifiedName) \"\(key.name)\" is forbidden: unable to create new content in \
                        namespace \(key.namespace) because it is being terminated
                        """
                )
            }
        }
        try callWebhooks(group: t.ref.group, resource: t.ref.resource, operation: operation)
    }

    /// Calls the admission webhooks whose rules match, failing as the API server does when
    /// the webhook's service has no ready endpoint or its caBundle does not verify.
    func callWebhooks(group: String, resource: String, operation: String) throws {
        for (ref, suffix) in [(ResourceRef.mutatingWebhooks, "mutate"), (ResourceRef.validatingWebhooks, "validate")] {
            for (k, cfg) in objects where k.group == ref.group && k.resource == ref.resource {
                for hook in cfg["webhooks"]?.array ?? [] {
                    let rules = hook["rules"]?.array ?? []
                    let match = rules.contains { r in
                        let groups = r["apiGroups"]?.array?.compactMap(\.string) ?? []
                        let res = r["resources"]?.array?.compactMap(\.string) ?? []
                        let ops = r["operations"]?.array?.compactMap(\.string) ?? ["*"]
                        return (groups.contains("*") || groups.contains(group))
                            && (res.contains("*") || res.contains("*/*") || res.contains(resource))
                            && (ops.contains("*") || ops.contains(operation))
                    }
                    guard match, hook["failurePolicy"]?.string != "Ignore" else { continue }
                    let hookName = hook["name"]?.string ?? "webhook"
                    let ca = hook[path: "clientConfig", "caBundle"]?.string ?? ""
                    if let url = hook[path: "clientConfig", "url"]?.string {
                        // A webhook addressed by URL (no service endpoints to check): only the CA.
                        let call = "\(url)?timeout=\(hook["timeoutSeconds"]?.int ?? 10)s"
                        if ca.isEmpty || ca != SimCerts.webhookCABase64 { throw Self.webhookX509(hookName, call) }
                        continue
                    }
                    guard let svc = hook[path: "clientConfig", "service"] else { continue }
                    let svcName = svc["name"]?.string ?? "", svcNS = svc["namespace"]?.string ?? ""
                    let path = svc["path"]?.string ?? "/\(suffix)"
                    let url =
                        """
                        https:/\
                        /\(svcName).\(svcNS).svc:\(svc["port"]?.int ?? 443)\(path)?timeout\
                        =\(hook["timeoutSeconds"]?.int ?? 10)s
                        """
                    let ready = objects.contains { sk, s in
                        sk.resource == "endpointslices" && sk.namespace == svcNS
                            && s.labels["kubernetes.io/service-name"] == svcName
                            && (s["endpoints"]?.array ?? []).contains { $0[path: "conditions", "ready"]?.bool == true }
                    }
                    if !ready {
                        throw SimAPIError.internalError(
                            """
                            failed calling webhook \"\(hookName)\": failed to call webhook: Post \"\(url)\": dial \
                            tcp \(serviceIP(svcNS, svcName)):443: connect: connection refused
                            """
                        )
                    }
                    if ca.isEmpty || ca != SimCerts.webhookCABase64 { throw Self.webhookX509(hookName, url) }
                }
            }
        }
    }

    /// The API server's answer when a webhook's serving certificate does not verify against its
    /// caBundle (errors/500-dryrun-*-issuer-webhook-x509.json): 500 InternalError, the cause
    /// without the "Internal error occurred: " prefix in details.
    static func webhookX509(_ hook: String, _ url: String) -> SimAPIError {
        let cause =
            """
            failed calling webhook \"\(hook)\": failed to call webhook: Post \"\(url)\": tls: failed to verify \
            certificate: x509: certificate signed by unknown authority
            """
        var e = SimAPIError.internalError(cause)
        e.details = ["causes": [["message": .string(cause)]]]
        return e
    }

    func serviceIP(_ ns: String, _ name: String) -> String {
        if let ip = objects[ObjectKey(ResourceRef.services, namespace: ns, name: name)]?[path: "spec", "clusterIP"]?
            .string
        {
            return ip
        }
        let h = nameHash("\(ns)/\(name)")
        return "10.96.\(Int(h.prefix(2), radix: 16)!).\(Int(h.dropFirst(2).prefix(2), radix: 16)! % 250 + 2)"
    }

    /// Normalizes what a client sends: the URL's type, name and namespace; server-owned metadata
    /// dropped (managedFields are the field manager's business); Secret stringData folded.
    func normalizeInput(_ obj: JSON, type t: SimType, key: ObjectKey) -> JSON {
        var o = obj
        o["apiVersion"] = .string(t.ref.apiVersion)
        o["kind"] = .string(t.ref.kind)
        var meta = o["metadata"]?.object ?? [:]
        for f in ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "selfLink"] {
            meta.removeValue(forKey: f)
        }
        meta["name"] = .string(key.name)
        if t.ref.namespaced {
            meta["namespace"] = .string(key.namespace)
        } else {
            meta.removeValue(forKey: "namespace")
        }
        o["metadata"] = .object(meta)
        return foldStringData(o, type: t)
    }

    func foldStringData(_ obj: JSON, type t: SimType) -> JSON {
        guard t.ref.kind == "Secret", t.ref.group.isEmpty, let sd = obj["stringData"]?.object else { return obj }
        var o = obj
        var data = o["data"]?.object ?? [:]
        for (k, v) in sd { data[k] = .string(Data((v.string ?? "").utf8).base64EncodedString()) }
        o["data"] = .object(data)
        o["stringData"] = nil
        return o
    }

    /// What the write path needs to know of a type: the schema server-side apply and strict
    /// decoding walk (a built-in kind's from the recorded OpenAPI documents; a custom resource's
    /// from its CRD's served version), whether it is a custom resource (validated and defaulted
    /// against that schema), and whether its status is a subresource (then writes to the main
    /// resource never change status).
    public struct TypeInfo {
        public var schema: SimSchema
        public var customResource: Bool
        public var statusSubresource: Bool
    }

    public func typeInfo(_ t: SimType) -> TypeInfo {
        lock.lock()
        defer { lock.unlock() }
        if let name = t.crdName, let crd = objects[ObjectKey(ResourceRef.crds, namespace: nil, name: name)] {
            let version = (crd[path: "spec", "versions"]?.array ?? []).first { $0["name"]?.string == t.ref.version }
            let schema = version?[path: "schema", "openAPIV3Schema"].map { SimSchema(node: $0) } ?? .open
            return TypeInfo(
                schema: schema, customResource: true, statusSubresource: version?[path: "subresources", "status"] != nil
            )
        }
        let schema = openAPI.typeSchema(group: t.ref.group, version: t.ref.version, kind: t.ref.kind) ?? .open
        return TypeInfo(schema: schema, customResource: false, statusSubresource: true)
    }

    /// The reset fields of server-side apply and updates: a status subresource's `status`.
    func resetFields(_ info: TypeInfo) -> [[String]] { info.statusSubresource ? [["status"]] : [] }

    /// Defaulting as the type's strategy does it on create or update.
    func defaulted(_ obj: JSON, type t: SimType, info: TypeInfo, old: JSON?) -> JSON {
        var o = SimDefaults.apply(
            obj, kind: t.ref.kind, group: t.ref.group, operation: old.map { .update(old: $0) } ?? .create,
            schema: info.customResource ? info.schema : nil, statusSubresource: info.statusSubresource,
            clusterIP: t.ref.kind == "Service" && t.ref.group.isEmpty
                ? serviceIP(obj.namespace ?? "", obj.name ?? "") : nil)
        if let old {
            for f in ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"] {
                o.set(["metadata", f], to: old[path: "metadata", f])
            }
        }
        return o
    }

    /// `rest.BeforeCreate` / `BeforeUpdate` validation of a client's object (never the
    /// simulated controllers' writes).
    func validate(_ obj: JSON, old: JSON?, type t: SimType, info: TypeInfo, order: SimKeyOrder = .sorted) throws {
        let schema = info.customResource ? info.schema : nil
        if let old {
            try SimValidation.validateUpdate(
                obj, old: old, kind: t.ref.kind, group: t.ref.group, namespaced: t.ref.namespaced, schema: schema,
                order: order)
        } else {
            try SimValidation.validateCreate(
                obj, kind: t.ref.kind, group: t.ref.group, namespaced: t.ref.namespaced, schema: schema, order: order)
        }
    }

    /// A dry-run create's answer: server metadata, but no resourceVersion (nothing was stored).
    func dryRunCreated(_ obj: JSON, type t: SimType, info: TypeInfo) -> JSON {
        var o = obj
        o.set(["metadata", "uid"], to: .string(UUID().uuidString.lowercased()))
        o.set(["metadata", "creationTimestamp"], to: .string(wall(now)))
        if SimDefaults.tracksGeneration(kind: t.ref.kind, group: t.ref.group, customResource: info.customResource) {
            o.set(["metadata", "generation"], to: .int(1))
        }
        return o
    }

    /// Server-side apply of one object, as the API server's apply handler does it: the field
    /// manager merges the applied configuration into the stored object (ownership, conflicts,
    /// removal of fields the manager dropped; 409 and 500 as recorded), then defaulting,
    /// mutating admission (namespace, webhooks), validation, storage. An apply that changes
    /// nothing writes nothing (same resourceVersion, same managedFields times).
    public func apply(
        _ obj: JSON, namespace: String? = nil, fieldManager: String = "kubectl", force: Bool = false,
        dryRun: Bool = false, by: String = "client"
    ) throws -> (object: JSON, outcome: ApplyOutcome) {
        tick()
        let t = try type(apiVersion: obj.apiVersion ?? "", kind: obj.kind ?? "")
        let info = typeInfo(t)
        lock.lock()
        defer { lock.unlock() }
        let k = try key(for: obj, type: t, namespace: namespace)
        let existing = objects[k].map { served($0, t.ref) }
        var merged = try SimFieldManager.apply(
            live: existing, config: obj, manager: fieldManager, force: force, schema: info.schema,
            apiVersion: t.ref.apiVersion, time: wall(now), resetFields: resetFields(info), kind: t.ref.kind)
        merged = try SimDecoding.ensureNamespace(merged, requestNamespace: t.ref.namespaced ? k.namespace : "")
        if let existing, merged == existing { return (existing, .unchanged) }
        var next = defaulted(foldStringData(merged, type: t), type: t, info: info, old: existing)
        if let existing {
            next = SimFieldManager.revertTimestampOnlyChanges(new: next, old: existing)
            if next == existing { return (existing, .unchanged) }
        }
        try admit(next, key: k, type: t, operation: existing == nil ? "CREATE" : "UPDATE")
        try validate(next, old: existing, type: t, info: info)
        if dryRun {
            return (
                existing == nil ? dryRunCreated(next, type: t, info: info) : next,
                existing == nil ? .created : .configured
            )
        }
        let stored = store(next, key: k, by: by)
        return (served(stored, t.ref), existing == nil ? .created : .configured)
    }

    /// POST create: defaulting, admission (a missing namespace is 404), validation (422), then
    /// storage (409 AlreadyExists). `manager` owns what it set (an Update entry).
    public func create(
        _ obj: JSON, namespace: String? = nil, dryRun: Bool = false, by: String = "client",
        manager: String = "unknown", order: SimKeyOrder = .sorted
    ) throws -> JSON {
        tick()
        let t = try type(apiVersion: obj.apiVersion ?? "", kind: obj.kind ?? "")
        let info = typeInfo(t)
        lock.lock()
        defer { lock.unlock() }
        var body = obj
        if (body.name ?? "").isEmpty, let prefix = body[path: "metadata", "generateName"]?.string, !prefix.isEmpty {
            body.set(["metadata", "name"], to: .string(prefix + String(nameHash("\(prefix)\(rv)").prefix(5))))
        }
        let k = try key(for: body, type: t, namespace: namespace)
        var next = defaulted(normalizeInput(body, type: t, key: k), type: t, info: info, old: nil)
        try admit(next, key: k, type: t, operation: "CREATE")
        try validate(next, old: nil, type: t, info: info, order: order)
        if objects[k] != nil { throw SimAPIError.alreadyExists(t.qualifiedName, k.name) }
        next = SimFieldManager.update(
            old: nil, new: next, manager: manager, schema: info.schema, apiVersion: t.ref.apiVersion, time: wall(now),
            resetFields: info.customResource && !info.statusSubresource ? [] : nil)
        if dryRun { return served(dryRunCreated(next, type: t, info: info), t.ref) }
        return served(store(next, key: k, by: by), t.ref)
    }

    static func staleConflict(_ t: SimType, _ name: String) -> SimAPIError {
        var e = SimAPIError(
            code: 409, reason: "Conflict",
            message:
                """
                Operation cannot be fulfilled on \(t.qualifiedName) \"\(name)\": the object has been modified; \
                please apply your changes to the latest version and try again
                """
        )
        e.details = SimAPIError.objectDetails(t.qualifiedName, name)
        return e
    }

    /// PUT replace (status kept unless `status` is true: then only status is replaced). A
    /// resourceVersion in the body must be the stored one (409 Conflict otherwise).
    public func replace(
        _ obj: JSON, type t: SimType, namespace: String?, name: String, status: Bool = false,
        dryRun: Bool = false, by: String = "client", manager: String = "unknown"
    ) throws -> JSON {
        tick()
        let info = typeInfo(t)
        lock.lock()
        defer { lock.unlock() }
        let k = ObjectKey(t.ref, namespace: namespace, name: name)
        guard let stored = objects[k] else { throw SimAPIError.notFound(t.qualifiedName, name) }
        let existing = served(stored, t.ref)
        if let want = obj[path: "metadata", "resourceVersion"]?.string, !want.isEmpty,
            want != existing[path: "metadata", "resourceVersion"]?.string
        {
            throw Self.staleConflict(t, name)
        }
        var next: JSON
        if status {
            next = existing
            next["status"] = obj["status"]
        } else {
            next = normalizeInput(obj, type: t, key: k)
            if info.statusSubresource { next["status"] = existing["status"] }
            next = defaulted(next, type: t, info: info, old: existing)
            try admit(next, key: k, type: t, operation: "UPDATE")
            try validate(next, old: existing, type: t, info: info)
        }
        next = SimFieldManager.update(
            old: existing, new: next, manager: manager, schema: info.schema, apiVersion: t.ref.apiVersion,
            time: wall(now), subresource: status ? "status" : nil,
            resetFields: info.customResource && !info.statusSubresource ? [] : nil)
        next = SimFieldManager.revertTimestampOnlyChanges(new: next, old: existing)
        if dryRun || next == existing { return next }
        return served(store(next, key: k, by: by), t.ref)
    }

    /// PATCH: merge (RFC 7386; strategic is treated as merge) or json (RFC 6902), applied to the
    /// stored object; then strict checking of the result (`fieldValidation`), defaulting,
    /// admission and validation as for an update. Returns the object and the Warning headers.
    public func patch(
        _ t: SimType, namespace: String?, name: String, patch: JSON, type patchType: String = "merge",
        subresource: String? = nil, dryRun: Bool = false, by: String = "client", manager: String = "unknown",
        fieldValidation: SimDecoding.FieldValidation = .warn
    ) throws -> (object: JSON, warnings: [String]) {
        tick()
        let info = typeInfo(t)
        lock.lock()
        defer { lock.unlock() }
        let k = ObjectKey(t.ref, namespace: namespace, name: name)
        guard let stored = objects[k] else { throw SimAPIError.notFound(t.qualifiedName, name) }
        let existing = served(stored, t.ref)
        var next: JSON
        switch patchType {
        case "json": next = try SimJSON.jsonPatch(existing, patch)
        default: next = SimJSON.mergePatch(existing, patch)
        }
        var warnings: [String] = []
        if subresource == "status" {
            var s = existing
            s["status"] = next["status"]
            next = s
        } else {
            warnings = try SimDecoding.strictCheck(
                next, schema: info.schema, customResource: info.customResource, kind: t.ref.kind,
                version: t.ref.version, fieldValidation: fieldValidation, order: .sorted, patch: true)
            next = SimValidation.pruneUnknownFields(next, schema: info.schema, customResource: info.customResource)
            try SimDecoding.checkName(next, name: name, namespace: k.namespace)
            next = try SimDecoding.ensureNamespace(next, requestNamespace: k.namespace)
            if info.statusSubresource { next["status"] = existing["status"] }
            next = defaulted(foldStringData(next, type: t), type: t, info: info, old: existing)
            if next != existing {
                try admit(next, key: k, type: t, operation: "UPDATE")
                try validate(next, old: existing, type: t, info: info)
            }
        }
        next = SimFieldManager.update(
            old: existing, new: next, manager: manager, schema: info.schema, apiVersion: t.ref.apiVersion,
            time: wall(now), subresource: subresource,
            resetFields: info.customResource && !info.statusSubresource ? [] : nil)
        next = SimFieldManager.revertTimestampOnlyChanges(new: next, old: existing)
        if next == existing || dryRun { return (next, warnings) }
        return (served(store(next, key: k, by: by), t.ref), warnings)
    }

    /// DELETE: with finalizers the object gets a deletionTimestamp and stays until they are
    /// removed; a namespace cascades to its contents.
    @discardableResult
    public func delete(_ t: SimType, namespace: String?, name: String, dryRun: Bool = false, by: String = "client")
        throws -> JSON
    {
        tick()
        lock.lock()
        defer { lock.unlock() }
        let k = ObjectKey(t.ref, namespace: namespace, name: name)
        guard let existing = objects[k] else { throw SimAPIError.notFound(t.qualifiedName, name) }
        if dryRun { return served(existing, t.ref) }
        return served(markDeleted(k, by: by) ?? existing, t.ref)
    }

    /// Sets deletionTimestamp (or removes when no finalizers). Returns the object's last state.
    @discardableResult
    func markDeleted(_ k: ObjectKey, by: String?) -> JSON? {
        guard var o = objects[k] else { return nil }
        let finalizers = o[path: "metadata", "finalizers"]?.array ?? []
        let isNamespace = k.group == "" && k.resource == "namespaces"
        if finalizers.isEmpty && !isNamespace {
            remove(k, by: by)
            return o
        }
        if o[path: "metadata", "deletionTimestamp"] == nil {
            o.set(["metadata", "deletionTimestamp"], to: .string(wall(now)))
            if isNamespace { o.set(["status", "phase"], to: "Terminating") }
            let s = store(o, key: k, by: by, action: "deleting")
            return s
        }
        return o
    }

    func remove(_ k: ObjectKey, by: String?) {
        guard let o = objects.removeValue(forKey: k) else { return }
        dirty = true
        createdAt[k] = nil
        changedAt[k] = nil
        rv += 1
        var gone = o
        gone.set(["metadata", "resourceVersion"], to: .string(String(rv)))
        emit("DELETED", k, gone)
        if let by { record.addChange(time: nowSeconds, action: "deleted", key: k, by: by) }
        if k.group == "apiextensions.k8s.io" && k.resource == "customresourcedefinitions" {
            if let g = o[path: "spec", "group"]?.string, let p = o[path: "spec", "names", "plural"]?.string {
                types[typeKey(g, p)] = nil
                for ck in objects.keys where ck.group == g && ck.resource == p { remove(ck, by: nil) }
            }
        }
    }

    // MARK: the write primitive (clients and controllers)

    /// Stores an object: assigns uid/creationTimestamp on create, bumps the global
    /// resourceVersion when something changed, bumps generation on spec changes, emits the
    /// watch event, and completes a deletion whose finalizers are gone.
    @discardableResult
    func store(_ obj: JSON, key k: ObjectKey, by: String? = nil, at: Duration? = nil, action: String? = nil) -> JSON {
        let t = at ?? now
        dirty = true
        var o = obj
        if let existing = objects[k] {
            for f in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                o.set(["metadata", f], to: existing[path: "metadata", f])
            }
            if existing[path: "metadata", "deletionTimestamp"] != nil && o[path: "metadata", "deletionTimestamp"] == nil
            {
                o.set(["metadata", "deletionTimestamp"], to: existing[path: "metadata", "deletionTimestamp"])
            }
            if o == existing { return existing }
            if specOf(o) != specOf(existing) {
                if tracksGeneration(k) {
                    o.set(
                        ["metadata", "generation"], to: .int((existing[path: "metadata", "generation"]?.int ?? 1) + 1))
                }
                changedAt[k] = t
            }
            rv += 1
            o.set(["metadata", "resourceVersion"], to: .string(String(rv)))
            if o[path: "metadata", "deletionTimestamp"] != nil
                && (o[path: "metadata", "finalizers"]?.array ?? []).isEmpty
                && !(k.group == "" && k.resource == "namespaces")
            {
                objects[k] = o
                remove(k, by: by)
                return o
            }
            objects[k] = o
            emit("MODIFIED", k, o)
            if let by { record.addChange(time: nowSeconds, action: action ?? "updated", key: k, by: by) }
        } else {
            rv += 1
            o.set(["metadata", "uid"], to: .string(UUID().uuidString.lowercased()))
            o.set(["metadata", "creationTimestamp"], to: .string(wall(t)))
            o.set(["metadata", "generation"], to: tracksGeneration(k) ? .int(1) : nil)
            o.set(["metadata", "resourceVersion"], to: .string(String(rv)))
            objects[k] = o
            createdAt[k] = t
            changedAt[k] = t
            emit("ADDED", k, o)
            if let by { record.addChange(time: nowSeconds, action: "created", key: k, by: by) }
            if k.group == "apiextensions.k8s.io" && k.resource == "customresourcedefinitions" {
                registerCRD(o, established: false)
            }
        }
        return o
    }

    /// Whether the kind keeps metadata.generation (workloads, CRDs, custom resources ...; not
    /// ConfigMaps, Secrets, Namespaces, Services, RBAC).
    func tracksGeneration(_ k: ObjectKey) -> Bool {
        guard let t = types[typeKey(k.group, k.resource)] else { return true }
        return SimDefaults.tracksGeneration(kind: t.ref.kind, group: t.ref.group, customResource: t.crdName != nil)
    }

    func specOf(_ o: JSON) -> JSON {
        var s = o
        s["metadata"] = nil
        s["status"] = nil
        return s
    }

    /// Controller helper: create-or-replace an object of a built-in or established type.
    @discardableResult
    func put(_ obj: JSON, at: Duration? = nil) -> JSON? {
        guard let t = try? type(apiVersion: obj.apiVersion ?? "", kind: obj.kind ?? ""),
            let k = try? key(for: obj, type: t, namespace: obj.namespace)
        else { return nil }
        var o = obj
        if let existing = objects[k] {
            // keep fields the controller did not mention
            o = SimJSON.applyMerge(existing, obj)
            if obj["status"] != nil { o["status"] = obj["status"] }
        }
        return store(o, key: k, at: at)
    }

    /// Controller helper: update an object's status (no generation bump).
    @discardableResult
    func setStatus(_ k: ObjectKey, _ status: JSON) -> Bool {
        guard var o = objects[k], o["status"] != status else { return false }
        o["status"] = status
        store(o, key: k)
        return true
    }

    func object(_ ref: ResourceRef, _ ns: String?, _ name: String) -> JSON? {
        objects[ObjectKey(ref, namespace: ns, name: name)]
    }

    // MARK: CRDs

    func registerCRD(_ crd: JSON, established: Bool) {
        guard let group = crd[path: "spec", "group"]?.string, let plural = crd[path: "spec", "names", "plural"]?.string,
            let kind = crd[path: "spec", "names", "kind"]?.string
        else { return }
        guard established else { return }
        let versions = (crd[path: "spec", "versions"]?.array ?? []).filter { $0["served"]?.bool ?? true }.compactMap {
            $0["name"]?.string
        }
        guard
            let preferred = (crd[path: "spec", "versions"]?.array ?? []).first(where: { $0["storage"]?.bool == true })?[
                "name"]?.string ?? versions.first
        else { return }
        let namespaced = crd[path: "spec", "scope"]?.string != "Cluster"
        types[typeKey(group, plural)] = SimType(
            ref: ResourceRef(group: group, version: preferred, resource: plural, kind: kind, namespaced: namespaced),
            versions: versions, singular: crd[path: "spec", "names", "singular"]?.string ?? kind.lowercased(),
            shortNames: crd[path: "spec", "names", "shortNames"]?.array?.compactMap(\.string) ?? [],
            categories: crd[path: "spec", "names", "categories"]?.array?.compactMap(\.string) ?? [],
            crdName: crd.name, verbs: SimType.crdVerbs,
            subresources: Discovery.crdSubresources(crd, version: preferred))
    }

    /// Stores objects as they are given (metadata such as managedFields and status kept; uid,
    /// resourceVersion, creationTimestamp assigned anew), for tests that start from a recorded
    /// state. CRDs among them are registered and Established.
    public func seed(_ objects: [JSON]) throws {
        tick()
        lock.lock()
        defer { lock.unlock() }
        for o in objects {
            let t = try type(apiVersion: o.apiVersion ?? "", kind: o.kind ?? "")
            let k = try key(for: o, type: t, namespace: o.namespace)
            if let ns = o.namespace, t.ref.namespaced { ensureNamespace(ns) }
            var stored = o
            for f in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
                stored.set(["metadata", f], to: nil)
            }
            store(stored, key: k)
            if t.ref.kind == "CustomResourceDefinition" {
                var c = self.objects[k]!
                c["status"] = CRDController.establishedStatus(c, at: wall(now))
                store(c, key: k)
                registerCRD(c, established: true)
            }
        }
    }

    /// Installs a CRD that is Established at once (scenario start, controllers).
    func installCRD(
        group: String, version: String, plural: String, kind: String, namespaced: Bool = true,
        shortNames: [String] = []
    ) {
        let name = "\(plural).\(group)"
        let crd: JSON = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": .string(name)],
            "spec": [
                "group": .string(group), "scope": namespaced ? "Namespaced" : "Cluster",
                "names": [
                    "plural": .string(plural), "singular": .string(kind.lowercased()), "kind": .string(kind),
                    "listKind": .string(kind + "List"), "shortNames": .array(shortNames.map { .string($0) })
                ],
                "versions": [
                    [
                        "name": .string(version), "served": true, "storage": true,
                        "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]
                    ]
                ]
            ]
        ]
        let k = ObjectKey(ResourceRef.crds, namespace: nil, name: name)
        if objects[k] == nil { store(crd, key: k) }
        var o = objects[k]!
        o["status"] = CRDController.establishedStatus(o, at: wall(now))
        store(o, key: k)
        registerCRD(o, established: true)
    }

    // MARK: watch

    func emit(_ type: String, _ k: ObjectKey, _ obj: JSON) {
        history.append((rv, type, k, obj))
        if history.count > historyCapacity {
            history.removeFirst(max(1, historyCapacity / 4))
            oldestHistoryRV = history.first?.rv ?? rv
            historyTrimmed = true
        }
        for w in watchers.values where w.wants(k, obj) {
            let t = types[typeKey(k.group, k.resource)]
            w.sink(type, t.map { served(obj, $0.ref) } ?? obj)
        }
    }

    /// Subscribes to changes of a type. Events after `resourceVersion` are replayed first;
    /// throws Gone (410) when that version is too old. Returns the subscription id.
    func watch(
        _ t: SimType, namespace: String?, labelSelector: String?, fieldSelector: String?, resourceVersion: String?,
        sink: @escaping @Sendable (String, JSON) -> Void
    ) throws -> Int {
        let ls = try LabelSelector(labelSelector)
        let fs = try FieldSelector(fieldSelector)
        tick()
        lock.lock()
        defer { lock.unlock() }
        let w = SimWatcher(
            id: nextWatcherID, group: t.ref.group, resource: t.ref.resource,
            namespace: t.ref.namespaced ? namespace : nil, labels: ls, fields: fs, sink: sink)
        nextWatcherID += 1
        if let rvText = resourceVersion, !rvText.isEmpty, rvText != "0", let from = Int64(rvText) {
            if historyTrimmed && from < oldestHistoryRV {
                throw SimAPIError(
                    code: 410, reason: "Expired", message: "too old resource version: \(from) (\(oldestHistoryRV))")
            }
            for h in history where h.rv > from && w.wants(h.key, h.object) { sink(h.type, served(h.object, t.ref)) }
        } else {
            // No resourceVersion: synthetic ADDED for every current object.
            for (k, o) in objects.sorted(by: { $0.key < $1.key }) where w.wants(k, o) {
                sink("ADDED", served(o, t.ref))
            }
        }
        watchers[w.id] = w
        return w.id
    }

    func unwatch(_ id: Int) {
        lock.lock()
        watchers[id] = nil
        lock.unlock()
    }

    // MARK: cluster bootstrap (what a fresh cluster holds)

    /// A k3s agent's Node, as the agent registers it (NotReady until `nodeReady` has passed).
    func registerAgentNode(_ name: String, gpu: Bool) {
        var labels: JSON = ["kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux"]
        if gpu { labels["nvidia.com/gpu.present"] = "true" }
        put([
            "apiVersion": "v1", "kind": "Node",
            "metadata": ["name": .string(name), "labels": labels],
            "spec": ["podCIDR": "10.244.1.0/24"],
            "status": [
                "conditions": [
                    [
                        "type": "Ready", "status": "False", "reason": "KubeletNotReady",
                        "message": "container runtime network not ready: NetworkReady=false"
                    ]
                ],
                "addresses": [
                    ["type": "InternalIP", "address": "192.0.2.11"], ["type": "Hostname", "address": .string(name)]
                ],
                "nodeInfo": [
                    "kubeletVersion": .string(k3sVersionInstalled ?? scenario.cluster.k3sVersion),
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "architecture": "amd64"
                ]
            ]
        ])
    }

    /// The agent's kubelet stopped (its machine uninstalled it): the node controller marks it
    /// Unknown and it stays so (the Node object is not deleted).
    func stopAgentNode(_ name: String) {
        let k = ObjectKey(ResourceRef.nodes, namespace: nil, name: name)
        guard var n = objects[k] else { return }
        n.set(["metadata", "annotations", "aphex-sim/kubelet-stopped"], to: "true")
        n.set(
            ["status", "conditions"],
            to: [
                [
                    "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status."
                ]
            ])
        store(n, key: k)
    }

    func bootstrapClusterObjects(flavor: String, name: String) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] + scenario.startNamespaces {
            ensureNamespace(ns)
        }
        let nodeName = flavor == "k3s" ? "aphex-host" : "\(name)-control-plane"
        var labels: JSON = [
            "kubernetes.io/hostname": .string(nodeName), "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": ""
        ]
        if flavor == "kind" { labels["ingress-ready"] = "true" }
        let version = flavor == "k3s" ? scenario.cluster.k3sVersion : scenario.cluster.kubernetesVersion
        let node: JSON = [
            "apiVersion": "v1", "kind": "Node",
            "metadata": ["name": .string(nodeName), "labels": labels],
            "spec": ["podCIDR": "10.244.0.0/24"],
            "status": [
                "conditions": [
                    [
                        "type": "Ready", "status": "False", "reason": "KubeletNotReady",
                        "message": "container runtime network not ready: NetworkReady=false"
                    ]
                ],
                "addresses": [
                    ["type": "InternalIP", "address": .string(flavor == "k3s" ? Self.k3sServerAddress : "172.18.0.2")],
                    ["type": "Hostname", "address": .string(nodeName)]
                ],
                "nodeInfo": [
                    "kubeletVersion": .string(version), "containerRuntimeVersion": "containerd://1.7.24",
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "architecture": "amd64"
                ]
            ]
        ]
        put(node)
        let svc: JSON = [
            "apiVersion": "v1", "kind": "Service",
            "metadata": [
                "name": "kubernetes", "namespace": "default",
                "labels": ["component": "apiserver", "provider": "kubernetes"]
            ],
            "spec": [
                "clusterIP": "10.96.0.1", "type": "ClusterIP",
                "ports": [["name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443]]
            ]
        ]
        put(svc)
        put([
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": "coredns", "namespace": "kube-system", "labels": ["k8s-app": "kube-dns"]],
            "spec": [
                "replicas": 2, "selector": ["matchLabels": ["k8s-app": "kube-dns"]],
                "template": [
                    "metadata": ["labels": ["k8s-app": "kube-dns"]],
                    "spec": ["containers": [["name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3"]]]
                ]
            ]
        ])
        if scenario.startWithRoot {
            installArgoCRDs()
            ensureNamespace("argocd")
            put(rootApplication())
        }
        for o in scenario.startObjects {
            if let ns = o.namespace { ensureNamespace(ns) }
            if o.kind == "CustomResourceDefinition" {
                let k = ObjectKey(ResourceRef.crds, namespace: nil, name: o.name ?? "")
                store(o, key: k)
                var c = objects[k]!
                c["status"] = CRDController.establishedStatus(c, at: wall(now))
                store(c, key: k)
                registerCRD(c, established: true)
            } else {
                put(o)
            }
        }
    }

    func installArgoCRDs() {
        installCRD(
            group: "argoproj.io", version: "v1alpha1", plural: "applications", kind: "Application",
            shortNames: ["app", "apps"])
        installCRD(
            group: "argoproj.io", version: "v1alpha1", plural: "applicationsets", kind: "ApplicationSet",
            shortNames: ["appset", "appsets"])
        installCRD(
            group: "argoproj.io", version: "v1alpha1", plural: "appprojects", kind: "AppProject",
            shortNames: ["appproj", "appprojs"])
    }

    func ensureNamespace(_ ns: String) {
        let k = ObjectKey(ResourceRef.namespaces, namespace: nil, name: ns)
        if objects[k] != nil { return }
        store(
            [
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": ["name": .string(ns), "labels": ["kubernetes.io/metadata.name": .string(ns)]],
                "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"]
            ], key: k)
    }

    /// The platform-root Application as aphex applies it (for scenarios that start bootstrapped).
    public func rootApplication() -> JSON {
        [
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": [
                "name": .string(scenario.rootName), "namespace": "argocd",
                "finalizers": ["resources-finalizer.argocd.argoproj.io"]
            ],
            "spec": [
                "project": "default",
                "source": [
                    "repoURL": "https://github.com/bdchatham/AphexPlatformInfrastructure.git",
                    "targetRevision": "HEAD", "path": .string(scenario.rootPath)
                ],
                "destination": ["server": "https://kubernetes.default.svc", "namespace": "argocd"],
                "syncPolicy": [
                    "automated": ["prune": true, "selfHeal": true],
                    "retry": ["limit": 5, "backoff": ["duration": "5s", "factor": 2, "maxDuration": "3m"]]
                ]
            ]
        ]
    }

    /// Wipes the cluster (last kind cluster deleted, k3s uninstalled).
    func wipe() {
        for k in objects.keys { remove(k, by: nil) }
        types = [:]
        for t in BuiltinTypes.all { types[typeKey(t.ref.group, t.ref.resource)] = t }
        controllers = Self.makeControllers(scenario)
    }

    static func makeControllers(_ scenario: Scenario) -> [SimController] {
        let all: [(String, SimController)] = [
            ("crds", CRDController()), ("workloads", WorkloadController()), ("namespaces", NamespaceController()),
            ("root-ca", RootCAController()), ("argocd", ArgoCDController()), ("cert-manager", CertManagerController())
        ]
        return all.filter { scenario.controllers.contains($0.0) }.map(\.1)
    }
}
