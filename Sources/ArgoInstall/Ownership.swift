import AphexCore
import KubeClient
import Foundation

/// One object aphex created on a cluster, as its ownership record keeps it.
public struct OwnedObject: Sendable, Hashable {
    /// "v1", "apps/v1", "argoproj.io/v1alpha1".
    public var apiVersion: String
    public var kind: String
    /// The URL plural ("deployments"); nil until discovery knew the kind (a custom resource
    /// recorded before its CRD existed).
    public var resource: String?
    /// nil for cluster-scoped objects.
    public var namespace: String?
    public var name: String
    /// The uid the API server gave the object; nil while aphex is about to create it (a
    /// "pending" entry: written before the create, filled in after it).
    public var uid: String?

    public init(
        apiVersion: String, kind: String, resource: String?, namespace: String?, name: String, uid: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }

    /// Identity without the uid: "apps/v1 Deployment argocd/argocd-server".
    public var key: String { OwnedObject.key(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name) }
    public static func key(apiVersion: String, kind: String, namespace: String?, name: String) -> String {
        "\(apiVersion) \(kind) \(namespace.map { "\($0)/" } ?? "")\(name)"
    }

    public var group: String { apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : "" }
    public var version: String { String(apiVersion.split(separator: "/").last ?? "v1") }

    /// The API path of the object, when its resource is known.
    public var ref: ResourceRef? {
        resource.map {
            ResourceRef(group: group, version: version, resource: $0, kind: kind, namespaced: namespace != nil)
        }
    }

    /// "Deployment argocd/argocd-server", "Namespace auth-system".
    public var display: String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }

    public var isNamespace: Bool { apiVersion == "v1" && kind == "Namespace" }
    public var isCRD: Bool { kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io" }
    public var isApplication: Bool { kind == "Application" && group == "argoproj.io" }

    var json: JSON {
        var o: [String: JSON] = ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(name)]
        if let resource { o["resource"] = .string(resource) }
        if let namespace { o["namespace"] = .string(namespace) }
        if let uid { o["uid"] = .string(uid) }
        return .object(o)
    }

    init?(json: JSON) {
        guard let a = json["apiVersion"]?.string, let k = json["kind"]?.string, let n = json["name"]?.string else {
            return nil
        }
        self.init(
            apiVersion: a, kind: k, resource: json["resource"]?.string, namespace: json["namespace"]?.string,
            name: n, uid: json["uid"]?.string)
    }
}

/// What aphex created on a cluster, kept in the cluster itself: ConfigMap
/// `kube-system/aphex-ownership` (key `objects.json`, a JSON array of `OwnedObject`s with their
/// uids). `aphex destroy --use-existing` deletes exactly these objects (each only while it still
/// has the recorded uid) and nothing else, then the record last.
///
/// Why kube-system: the record must outlive everything it lists until `destroy` ends, so it
/// cannot live in a namespace aphex may delete (argocd, ...). kube-system exists on every
/// cluster and the API server refuses to delete it.
///
/// How it is kept honest: before a step creates objects, `prepare` reads each of them; one
/// that already exists and is not in the record existed before aphex (or was made by someone
/// else) and is never recorded, and a Namespace among them is never applied (so never
/// labelled). The others are recorded as pending BEFORE the create (a run killed right after
/// the create still has them), and get their uid from what the API server returned.
public actor OwnershipRecord {
    public static let namespace = "kube-system"
    public static let name = "aphex-ownership"
    public static let dataKey = "objects.json"

    let api: any KubeAPI
    private var entries: [String: OwnedObject] = [:]
    private var loaded = false
    /// Changes not yet written: upserts, and removals (nil).
    private var pending: [String: OwnedObject?] = [:]
    /// Discovery: "group/version" -> kind -> (resource, namespaced).
    private var discovery: [String: [String: (resource: String, namespaced: Bool)]] = [:]

    public init(api: any KubeAPI) { self.api = api }

    // MARK: reading

    /// The recorded objects, or nil when the cluster has no record.
    public static func read(api: any KubeAPI) async throws -> [OwnedObject]? {
        guard let cm = try await api.get(.configMaps, namespace: namespace, name: name) else { return nil }
        return parse(cm)
    }

    static func parse(_ cm: JSON) -> [OwnedObject] {
        guard let text = cm["data"]?[dataKey]?.string, let list = try? JSON.parse(Array(text.utf8)).array else {
            return []
        }
        return list.compactMap(OwnedObject.init(json:))
    }

    /// Every recorded object (after this run's changes).
    public func all() async throws -> [OwnedObject] {
        try await load()
        return entries.values.sorted { $0.key < $1.key }
    }

    private func load() async throws {
        guard !loaded else { return }
        let cm = try await api.get(.configMaps, namespace: Self.namespace, name: Self.name)
        entries = [:]
        for o in cm.map(Self.parse) ?? [] { entries[o.key] = o }
        loaded = true
    }

    // MARK: recording

    /// Before creating `objects` (manifests; `defaultNamespace` for namespaced ones without a
    /// namespace, as `kubectl apply -n` does): reads each of them. Returns the keys of those
    /// that exist and are not aphex's (they are left out of the record; callers skip such
    /// Namespaces). The rest are recorded as aphex's, pending their uid, and the record is
    /// written before this returns.
    /// `knownAbsent`: the caller has just read them and found none (the secrets step): skip the reads.
    @discardableResult
    public func prepare(_ objects: [JSON], defaultNamespace: String? = nil, knownAbsent: Bool = false) async throws
        -> Set<String>
    {
        try await load()
        var foreign: Set<String> = []
        var lookups: [(OwnedObject, ResourceRef?)] = []
        for o in objects {
            guard let apiVersion = o["apiVersion"]?.string, let kind = o["kind"]?.string, let name = o.name else {
                continue
            }
            let info = try await resource(apiVersion: apiVersion, kind: kind)
            let namespace =
                info.map { $0.namespaced ? (o.namespace ?? defaultNamespace) : nil }
                ?? (o.namespace ?? defaultNamespace)
            let entry = OwnedObject(
                apiVersion: apiVersion, kind: kind, resource: info?.resource, namespace: namespace, name: name)
            lookups.append((entry, entry.ref))
        }
        // Read them concurrently (a release manifest has ~100 objects).
        let lives: [JSON?] = try await withThrowingTaskGroup(of: (Int, JSON?).self) { group in
            var out = [JSON?](repeating: nil, count: lookups.count)
            var next = 0
            let api = self.api
            func add(_ i: Int) {
                let (entry, ref) = lookups[i]
                group.addTask {
                    // A kind the API does not serve yet (its CRD comes in the same bundle): nothing of it exists.
                    guard let ref, !knownAbsent else { return (i, nil) }
                    return (i, try await api.get(ref, namespace: entry.namespace, name: entry.name))
                }
            }
            while next < min(16, lookups.count) {
                add(next)
                next += 1
            }
            for try await (i, obj) in group {
                out[i] = obj
                if next < lookups.count {
                    add(next)
                    next += 1
                }
            }
            return out
        }
        let found = zip(lookups.map(\.0), lives)
        for (entry, live) in found {
            let recorded = entries[entry.key]
            if let live {
                let uid = live[path: "metadata", "uid"]?.string
                if let recorded, recorded.uid == nil || recorded.uid == uid {
                    if recorded.uid == nil || recorded.resource == nil {
                        var e = recorded
                        e.uid = uid
                        e.resource = e.resource ?? entry.resource
                        upsert(e)
                    }
                } else {
                    // Existed before aphex (or someone replaced aphex's object): not aphex's.
                    foreign.insert(entry.key)
                    if recorded != nil { remove(entry.key) }
                }
            } else if recorded == nil || recorded?.uid != nil {
                upsert(entry)  // about to be created: pending
            }
        }
        try await flush()
        return foreign
    }

    /// After a create/apply: the objects the API server returned (kubectl `-o json`, a POST's
    /// answer) give the pending entries their uids. Objects that are not in the record (they
    /// existed before aphex) stay out of it. Call `flush()` to write.
    public func created(_ objects: [JSON]) async throws {
        try await load()
        for o in objects {
            guard let apiVersion = o["apiVersion"]?.string, let kind = o["kind"]?.string, let name = o.name,
                let uid = o[path: "metadata", "uid"]?.string
            else { continue }
            let key = OwnedObject.key(apiVersion: apiVersion, kind: kind, namespace: o.namespace, name: name)
            if var e = entries[key] {
                guard e.uid == nil || e.resource == nil else { continue }
                e.uid = uid
                if e.resource == nil { e.resource = try await resource(apiVersion: apiVersion, kind: kind)?.resource }
                upsert(e)
            } else if let guess = entries.values.first(where: {
                $0.uid == nil && $0.resource == nil && $0.apiVersion == apiVersion
                    && $0.kind == kind && $0.name == name
            }) {
                // Recorded before its kind was served, so its scope was a guess: the API server's
                // answer says where it really lives.
                remove(guess.key)
                upsert(
                    OwnedObject(
                        apiVersion: apiVersion, kind: kind,
                        resource: try await resource(apiVersion: apiVersion, kind: kind)?.resource,
                        namespace: o.namespace, name: name, uid: uid))
            }
        }
    }

    /// Forgets objects (a create that lost a race: another run made it).
    public func forget(_ objects: [OwnedObject]) async throws {
        try await load()
        for o in objects where entries[o.key] != nil { remove(o.key) }
    }

    private func upsert(_ e: OwnedObject) {
        entries[e.key] = e
        pending[e.key] = .some(e)
    }
    private func remove(_ key: String) {
        entries[key] = nil
        pending[key] = .some(nil)
    }

    /// Writes this run's changes: merged into the record as it is now in the cluster (another
    /// writer may have added entries), with optimistic concurrency (a 409 reads and merges again).
    public func flush() async throws {
        guard !pending.isEmpty else { return }
        for _ in 0..<8 {
            let cm = try await api.get(.configMaps, namespace: Self.namespace, name: Self.name)
            var merged: [String: OwnedObject] = [:]
            for o in cm.map(Self.parse) ?? [] { merged[o.key] = o }
            for (k, v) in pending { merged[k] = v }
            let list = JSON.array(merged.values.sorted { $0.key < $1.key }.map(\.json))
            var body: JSON = [
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": [
                    "name": .string(Self.name), "namespace": .string(Self.namespace),
                    "labels": .object([ManagedBy.key: .string(ManagedBy.value)]),
                    "annotations": [
                        "aphex.dev/purpose":
                            """
                        The objects aphex created on this cluster. `aphex destroy --use-existing` deletes \
                        these (and only these), then this ConfigMap. Do not edit.
                        """
                    ]
                ],
                "data": [.init(stringLiteral: Self.dataKey): .string(list.serialized())]
            ]
            let response: HTTPResponse
            if let cm {
                body.set(["metadata", "resourceVersion"], to: cm[path: "metadata", "resourceVersion"])
                response = try await api.request(
                    "PUT",
                    path: ResourceRef.configMaps.path(namespace: Self.namespace, name: Self.name)
                        + "?fieldManager=\(FieldManager.apply)",
                    body: body.serializedBytes(), contentType: "application/json")
            } else {
                response = try await api.request(
                    "POST",
                    path: ResourceRef.configMaps.path(namespace: Self.namespace)
                        + "?fieldManager=\(FieldManager.apply)",
                    body: body.serializedBytes(), contentType: "application/json")
            }
            if response.status == 409 { continue }  // another writer got there first: merge again
            guard (200..<300).contains(response.status) else {
                throw AphexError.failed(
                    """
                    Could not write aphex's ownership record (ConfigMap \(Self.namespace)/\(Self.name)): HTTP \
                    \(response.status): \
                    \(KubeClient.error(status: response.status, body: response.body, context: "record")). It \
                    lists what aphex created, so that `aphex destroy --use-existing` removes only that: check \
                    that your credentials may write ConfigMaps in \(Self.namespace), then re-run.
                    """
                )
            }
            entries = merged
            pending = [:]
            return
        }
        throw AphexError.failed(
            """
            Could not write aphex's ownership record (ConfigMap \(Self.namespace)/\(Self.name)): it kept changing \
            under this run (another aphex run on the same cluster from another machine?). Re-run when the other \
            run has finished.
            """
        )
    }

    // MARK: discovery

    /// The resource (plural) and scope of a kind, from the API server's discovery; nil when the
    /// API does not serve it (yet).
    public func resource(apiVersion: String, kind: String) async throws -> (resource: String, namespaced: Bool)? {
        if let hit = discovery[apiVersion]?[kind] { return hit }
        // Not cached (or not served when last asked: a CRD may have been established since).
        let path = apiVersion.contains("/") ? "/apis/\(apiVersion)" : "/api/\(apiVersion)"
        let response = try await api.request("GET", path: path, body: nil, contentType: nil)
        guard (200..<300).contains(response.status), let doc = try? JSON.parse(response.body) else { return nil }
        var table: [String: (resource: String, namespaced: Bool)] = [:]
        for r in doc["resources"]?.array ?? [] {
            guard let name = r["name"]?.string, !name.contains("/"), let k = r["kind"]?.string else { continue }
            table[k] = (name, r["namespaced"]?.bool ?? true)
        }
        discovery[apiVersion] = table
        return table[kind]
    }
}
