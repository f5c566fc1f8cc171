import AphexCore
import KubeClient
import Foundation

// Server-side apply field management, as kube-apiserver v1.36 does it with
// structured-merge-diff (SMD): typed merge of an applied configuration onto the live object,
// field sets per manager (`metadata.managedFields`), conflicts, pruning of fields a manager
// stopped applying, and ownership for non-apply writes. A pure module: objects in, objects out.
// Proven against ../shared/realapi (ssa/, ssa-conflict/, crud/, errors/500-apply-*).

// MARK: - Field sets

/// A set of field paths shaped as SMD keeps it and `fieldsV1` spells it: at each level the
/// path elements that are members, and the sets below them. An element can be both (`".": {}`
/// in fieldsV1: a list item or map that is itself owned, with owned fields inside). Elements
/// are kept in their fieldsV1 spelling, canonical, so equal elements are equal strings:
/// `f:name`, `k:{"name":"web"}` (key fields sorted by name), `v:"x"`, `i:0`.
public struct SimFieldSet: Equatable, Sendable, CustomStringConvertible {
    public var members: Set<String>
    public var children: [String: SimFieldSet]

    public init(members: Set<String> = [], children: [String: SimFieldSet] = [:]) {
        self.members = members
        self.children = children
    }

    /// Paths given as element lists (`[["f:data", "f:key"]]`).
    public init(paths: [[String]]) {
        self.init()
        for p in paths { insert(p) }
    }

    public var isEmpty: Bool { members.isEmpty && children.isEmpty }

    public mutating func insert(_ path: [String]) { insert(path, from: 0) }

    mutating func insert(_ path: [String], from i: Int) {
        guard i < path.count else { return }  // the empty path is never a member (as in SMD)
        if i == path.count - 1 {
            members.insert(path[i])
            return
        }
        children[path[i], default: SimFieldSet()].insert(path, from: i + 1)
    }

    public func contains(_ path: [String]) -> Bool {
        var s = self
        for (i, pe) in path.enumerated() {
            if i == path.count - 1 { return s.members.contains(pe) }
            guard let c = s.children[pe] else { return false }
            s = c
        }
        return false
    }

    public func union(_ o: SimFieldSet) -> SimFieldSet {
        if o.isEmpty { return self }
        if isEmpty { return o }
        var out = self
        out.members.formUnion(o.members)
        for (pe, c) in o.children { out.children[pe] = out.children[pe].map { $0.union(c) } ?? c }
        return out
    }

    public func intersection(_ o: SimFieldSet) -> SimFieldSet {
        var out = SimFieldSet(members: members.intersection(o.members))
        for (pe, c) in children {
            guard let d = o.children[pe] else { continue }
            let i = c.intersection(d)
            if !i.isEmpty { out.children[pe] = i }
        }
        return out
    }

    /// Exact-path difference (SMD `Difference`): a member of `o` removes that path only.
    public func subtracting(_ o: SimFieldSet) -> SimFieldSet {
        if o.isEmpty || isEmpty { return self }
        var out = SimFieldSet(members: members.subtracting(o.members))
        for (pe, c) in children {
            if let d = o.children[pe] {
                let x = c.subtracting(d)
                if !x.isEmpty { out.children[pe] = x }
            } else {
                out.children[pe] = c
            }
        }
        return out
    }

    /// SMD `RecursiveDifference`: a member of `o` also removes everything below it (the reset
    /// fields filter: `status` takes `.status.phase` with it).
    public func subtractingRecursively(_ o: SimFieldSet) -> SimFieldSet {
        if o.isEmpty || isEmpty { return self }
        var out = SimFieldSet(members: members.subtracting(o.members))
        for (pe, c) in children where !o.members.contains(pe) {
            if let d = o.children[pe] {
                let x = c.subtractingRecursively(d)
                if !x.isEmpty { out.children[pe] = x }
            } else {
                out.children[pe] = c
            }
        }
        return out
    }

    /// Every member path, in SMD's iteration order (members, then children; each sorted).
    public var paths: [[String]] {
        var out: [[String]] = []
        collect([], &out)
        return out
    }

    private func collect(_ prefix: [String], _ out: inout [[String]]) {
        for m in members.sorted(by: SimFieldPath.less) { out.append(prefix + [m]) }
        for pe in children.keys.sorted(by: SimFieldPath.less) { children[pe]!.collect(prefix + [pe], &out) }
    }

    /// The `fieldsV1` object: a member leaf is `{}`, a member with children carries `".": {}`.
    public var fieldsV1: JSON {
        var o: [String: JSON] = [:]
        for m in members where children[m] == nil { o[m] = .object([:]) }
        for (pe, c) in children {
            var sub = c.fieldsV1.object ?? [:]
            if members.contains(pe) { sub["."] = .object([:]) }
            o[pe] = .object(sub)
        }
        return .object(o)
    }

    /// Decodes `fieldsV1`, re-spelling `k:`/`v:` elements canonically.
    public init(fieldsV1: JSON) {
        self.init()
        guard case .object(let o) = fieldsV1 else { return }
        for (k, v) in o where k != "." {
            let pe = SimFieldPath.canonical(k)
            let sub = SimFieldSet(fieldsV1: v)
            if (v.object?.isEmpty ?? true) || v["."] != nil { members.insert(pe) }
            if !sub.isEmpty { children[pe] = children[pe].map { $0.union(sub) } ?? sub }
        }
    }

    public var description: String { paths.map(SimFieldPath.describe).joined(separator: "\n") }
}

/// Path elements: their fieldsV1 spelling, and the rendering conflict messages use
/// (`.spec.template.spec.containers[name="web"].image`).
public enum SimFieldPath {
    public static func field(_ name: String) -> String { "f:" + name }
    public static func index(_ i: Int) -> String { "i:\(i)" }
    public static func value(_ v: JSON) -> String { "v:" + goJSON(v) }
    /// A keyed list item: key fields sorted by name (SMD sorts them), values as Go writes JSON.
    public static func key(_ fields: [(String, JSON)]) -> String {
        "k:{" + fields.sorted { $0.0 < $1.0 }.map { goJSON(.string($0.0)) + ":" + goJSON($0.1) }.joined(separator: ",")
            + "}"
    }

    /// A stored element re-spelled canonically (key order, number and string escaping).
    static func canonical(_ pe: String) -> String {
        if pe.hasPrefix("k:"), case .object(let o)? = try? JSON.parse(String(pe.dropFirst(2))) {
            return key(o.map { ($0.key, $0.value) })
        }
        if pe.hasPrefix("v:"), let v = try? JSON.parse(String(pe.dropFirst(2))) { return value(v) }
        return pe
    }

    /// `.data.key`, `[name="web"]`, `[=value]`, `[0]` (SMD `Path.String`).
    public static func describe(_ path: [String]) -> String { path.map(describe).joined() }

    static func describe(_ pe: String) -> String {
        let body = String(pe.dropFirst(2))
        switch pe.prefix(2) {
        case "f:": return "." + body
        case "k:":
            guard case .object(let o)? = try? JSON.parse(body) else { return "[" + body + "]" }
            return "[" + o.keys.sorted().map { "\($0)=\(goString(o[$0]!))" }.joined(separator: ",") + "]"
        case "v:": return "[=" + ((try? JSON.parse(body)).map(goString) ?? body) + "]"
        case "i:": return "[" + body + "]"
        default: return pe
        }
    }

    /// SMD's element order: field names, then keys, then values, then indexes.
    static func less(_ a: String, _ b: String) -> Bool {
        func rank(_ s: String) -> Int {
            switch s.prefix(2) {
            case "f:": return 0
            case "k:": return 1
            case "v:": return 2
            case "i:": return 3
            default: return 4
            }
        }
        let ra = rank(a), rb = rank(b)
        if ra != rb { return ra < rb }
        if ra == 3, let x = Int(a.dropFirst(2)), let y = Int(b.dropFirst(2)) { return x < y }
        return a < b
    }

    /// Go's encoding/json output for a value: sorted keys, HTML-safe escapes.
    static func goJSON(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e21 ? String(Int64(d)) : String(d)
        case .string(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "<", ">", "&", "\u{2028}", "\u{2029}": out += String(format: "\\u%04x", u.value)
                default:
                    if u.value < 0x20 {
                        out += String(format: "\\u%04x", u.value)
                    } else {
                        out.unicodeScalars.append(u)
                    }
                }
            }
            return out + "\""
        case .array(let a): return "[" + a.map(goJSON).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { goJSON(.string($0)) + ":" + goJSON(o[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// Go's `%q` (strconv.Quote) for the strings of conflict messages.
    static func goQuote(_ s: String) -> String { GoFormat.quote(s) }

    /// SMD `value.ToString`: strings quoted, maps as `k=v` run together, lists bracketed.
    static func goString(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .string(let s): return goQuote(s)
        case .array(let a): return "[" + a.map(goString).joined(separator: ",") + "]"
        case .object(let o): return o.keys.sorted().map { "\($0)=\(goString(o[$0]!))" }.joined()
        default: return goJSON(v)
        }
    }
}

// MARK: - Types: how SMD sees a schema node

/// The schema nodes of one apply or update, memoized: one node per component reference, and
/// each node's field lookups once (a 340 KB CRD visits JSONSchemaProps thousands of times).
/// Held by the entry point for the walk; nodes refer back to it unowned.
final class SSATypes {
    private var refs: [String: SSAType] = [:]
    private(set) lazy var deduced = SSAType(nil, false, self)
    private(set) lazy var string = SSAType(SimSchema(node: ["type": "string"]), false, self)
    private(set) lazy var objectMeta = SSAType(SimFieldManager.objectMetaSchema, false, self)

    /// The top-level node; it keeps the walk's types alive (the other nodes refer to them
    /// unowned, to avoid a cycle).
    func root(_ schema: SimSchema) -> SSAType {
        let t = SSAType(schema, true, self)
        t.owner = self
        return t
    }

    /// The node of `raw`, a property, item or additionalProperties schema below `parent`.
    func node(_ raw: JSON, in parent: SimSchema) -> SSAType {
        if let ref = Self.pureReference(raw) {
            if let t = refs[ref] { return t }
            let s = parent.child(raw)
            let t = SSAType(s, s.isEmbeddedResource, self)
            refs[ref] = t
            return t
        }
        let s = parent.child(raw)
        return SSAType(s, s.isEmbeddedResource, self)
    }

    /// `{"$ref": R}` or `{"allOf": [{"$ref": R}]}` with nothing else that matters to apply
    /// (a description, a default): the node is R's, whoever refers to it.
    static func pureReference(_ raw: JSON) -> String? {
        guard case .object(let o) = raw else { return nil }
        for k in o.keys where k != "$ref" && k != "allOf" && k != "description" && k != "default" { return nil }
        if let r = o["$ref"]?.string { return o["allOf"] == nil ? r : nil }
        if let all = o["allOf"]?.array, all.count == 1, case .object(let inner) = all[0], inner.count == 1 {
            return inner["$ref"]?.string
        }
        return nil
    }
}

/// The SMD type at a node: its schema, or none ("deduced": the value decides, as SMD does for
/// free-form and preserve-unknown-fields content: maps merge, lists are atomic, scalars leaves).
final class SSAType {
    let schema: SimSchema?
    /// An object's top level or an embedded resource: apiVersion, kind and metadata are fields
    /// even when a CRD's schema does not declare them (metadata is ObjectMeta).
    let implied: Bool
    unowned let types: SSATypes
    fileprivate var owner: SSATypes?

    init(_ schema: SimSchema?, _ implied: Bool, _ types: SSATypes) {
        self.schema = schema
        self.implied = implied
        self.types = types
    }

    enum Scalar { case string, numeric, boolean, untyped }
    enum ListKind: Equatable {
        case atomic, set
        case keyed([String])
    }
    enum Shape {
        case scalar(Scalar)
        case list(ListKind, SSAType)
        case map(atomic: Bool)
        /// Only as a node's declared shape: `shape(_:)` answers with the value's.
        case deduced
    }

    /// The shape at this node for value `v` (deduced nodes take the value's).
    func shape(_ v: JSON?) -> Shape {
        if case .deduced = declared {
            switch v {
            case .object?: return .map(atomic: false)
            case .array?: return .list(.atomic, types.deduced)
            default: return .scalar(.untyped)
            }
        }
        return declared
    }

    private lazy var declared: Shape = {
        guard let s = schema else { return .deduced }
        let n = s.node
        if s.isIntOrString { return .scalar(.untyped) }
        switch n["type"]?.string {
        case "string": return .scalar(.string)
        case "integer", "number": return .scalar(.numeric)
        case "boolean": return .scalar(.boolean)
        case "array": return listShape(s)
        case "object": return .map(atomic: n["x-kubernetes-map-type"]?.string == "atomic")
        default:
            if n["properties"] != nil || n["additionalProperties"] != nil || implied {
                return .map(atomic: n["x-kubernetes-map-type"]?.string == "atomic")
            }
            if n["items"] != nil { return listShape(s) }
            return .deduced
        }
    }()

    private func listShape(_ s: SimSchema) -> Shape {
        let n = s.node
        var item = types.deduced
        if let raw = n["items"], raw.object != nil {
            item = types.node(raw, in: s)
            if let i = item.schema, i.isEmbeddedResource, !item.implied { item = SSAType(i, true, types) }
        }
        return .list(Self.listKind(n), item)
    }

    /// `x-kubernetes-list-type`, else the patch strategy (merge with a key: keyed; merge: set),
    /// else atomic: kube-openapi's schemaconv.
    static func listKind(_ n: JSON) -> ListKind {
        switch n["x-kubernetes-list-type"]?.string {
        case "atomic"?: return .atomic
        case "set"?: return .set
        case "map"?:
            let keys = n["x-kubernetes-list-map-keys"]?.array?.compactMap(\.string) ?? []
            return keys.isEmpty ? .set : .keyed(keys)
        default: break
        }
        if let strategy = n["x-kubernetes-patch-strategy"]?.string, strategy.split(separator: ",").contains("merge") {
            if let key = n["x-kubernetes-patch-merge-key"]?.string { return .keyed([key]) }
            return .set
        }
        return .atomic
    }

    enum Element {
        case none
        case typed(JSON)
        case deduced
    }

    /// What fields a map allows besides its properties (additionalProperties, or any when it
    /// preserves unknown fields or declares none).
    private lazy var element: Element = {
        guard let s = schema else { return .deduced }
        switch s.node["additionalProperties"] {
        case .object(let o)?: return .typed(.object(o))
        case .bool(true)?: return .deduced
        case .bool(false)?: return .none
        default: return s.preservesUnknownFields || (s.properties?.isEmpty ?? true) ? .deduced : .none
        }
    }()

    private var fields: [String: (type: SSAType, named: Bool)?] = [:]

    /// The type of field `name` of this map, and whether it is a named (struct) field; nil:
    /// not declared (an unknown field).
    func field(_ name: String) -> (type: SSAType, named: Bool)? {
        guard let s = schema else { return (types.deduced, false) }
        if let known = fields[name] { return known }
        let found = lookUp(name, s)
        fields[name] = .some(found)
        return found
    }

    private func lookUp(_ name: String, _ s: SimSchema) -> (type: SSAType, named: Bool)? {
        if let p = s.properties?[name] {
            let t = types.node(p, in: s)
            if implied, name == "metadata", t.schema?.properties == nil { return (types.objectMeta, true) }
            return (t, true)
        }
        if implied {
            switch name {
            case "apiVersion", "kind": return (types.string, true)
            case "metadata": return (types.objectMeta, true)
            default: break
            }
        }
        switch element {
        case .typed(let raw): return (types.node(raw, in: s), false)
        case .deduced: return (types.deduced, false)
        case .none: return nil
        }
    }

    func isNamedField(_ name: String) -> Bool {
        if schema?.properties?[name] != nil { return true }
        return implied && (name == "apiVersion" || name == "kind" || name == "metadata")
    }
}

// MARK: - The field manager

/// Server-side apply and ownership tracking (see the file comment). Entry points: `apply`,
/// `update`, `defaultManager`, `revertTimestampOnlyChanges`, `emptyObject`.
public enum SimFieldManager {
    /// Apply never owns these: the object's identity and server-set metadata (SMD strip set:
    /// exact paths, so `metadata.labels` below `metadata` stays).
    static let stripSet = SimFieldSet(paths: [
        ["f:apiVersion"], ["f:kind"], ["f:metadata"],
        ["f:metadata", "f:name"], ["f:metadata", "f:namespace"], ["f:metadata", "f:creationTimestamp"],
        ["f:metadata", "f:selfLink"], ["f:metadata", "f:uid"], ["f:metadata", "f:clusterName"],
        ["f:metadata", "f:generation"], ["f:metadata", "f:managedFields"], ["f:metadata", "f:resourceVersion"]
    ])

    /// Metadata the API server keeps from the stored object whatever an apply says (BeforeUpdate).
    static let serverMetadata = [
        "uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp",
        "deletionGracePeriodSeconds", "selfLink"
    ]

    static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
    static let maxUpdateManagers = 10

    /// ObjectMeta for custom resources whose CRD schema does not spell it (the apiextensions
    /// server always serves ObjectMeta there).
    static let objectMetaSchema: SimSchema = {
        let str: JSON = ["type": "string"]
        let strMap: JSON = ["type": "object", "additionalProperties": ["type": "string"]]
        let owner: JSON = [
            "type": "object",
            "properties": [
                "apiVersion": ["type": "string", "default": ""], "blockOwnerDeletion": ["type": "boolean"],
                "controller": ["type": "boolean"], "kind": ["type": "string", "default": ""],
                "name": ["type": "string", "default": ""], "uid": ["type": "string", "default": ""]
            ]
        ]
        return SimSchema(node: [
            "type": "object",
            "properties": [
                "annotations": strMap, "labels": strMap,
                "creationTimestamp": ["type": "string", "format": "date-time"],
                "deletionTimestamp": ["type": "string", "format": "date-time"],
                "deletionGracePeriodSeconds": ["type": "integer"], "generation": ["type": "integer"],
                "finalizers": ["type": "array", "items": str, "x-kubernetes-list-type": "set"],
                "generateName": str, "name": str, "namespace": str, "resourceVersion": str, "selfLink": str, "uid": str,
                "managedFields": [
                    "type": "array", "items": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                    "x-kubernetes-list-type": "atomic"
                ],
                "ownerReferences": [
                    "type": "array", "items": owner, "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["uid"]
                ]
            ]
        ])
    }()

    // MARK: public entry points

    /// Server-side apply of `config` by `manager` onto the stored object `live` (nil: create).
    /// Returns the object to store, with `metadata.managedFields`. When nothing changes it
    /// returns `live` exactly (same managedFields times): write nothing then.
    ///
    /// - `live`: the stored object as served (server defaults applied, with its managedFields).
    /// - `config`: the applied configuration as sent (not defaulted).
    /// - `apiVersion`: the group/version served (the managers' `apiVersion`).
    /// - `resetFields`: what the type's strategy resets on this endpoint: never owned, and
    ///   taken from `live` (removed on create). `status` for built-ins and CRDs with a status
    ///   subresource; pass `[]` for a custom resource without one (ArgoCD's Application).
    /// - `kind`: when given, a config of another group/version/kind fails as the API server's
    ///   version check does (400 `invalid object type: /, Kind=`).
    ///
    /// Throws 409 Conflict (details.causes per field), 500 without reason for an undeclared
    /// field or a value of the wrong type, 400 for `metadata.managedFields` in the config.
    /// The result still needs the server's defaults for fields the config added, and on create
    /// uid/creationTimestamp/resourceVersion/generation (removed here when the config had them).
    public static func apply(
        live: JSON?, config: JSON, manager: String, force: Bool, schema: SimSchema,
        apiVersion: String, time: String, resetFields: [[String]] = [["status"]],
        kind: String? = nil
    ) throws -> JSON {
        if let kind, config.apiVersion != apiVersion || config.kind != kind {
            let (g, v) = splitAPIVersion(config.apiVersion ?? "")
            throw SimAPIError.badRequest("invalid object type: \(g)/\(v), Kind=\(config.kind ?? "")")
        }
        if case .array? = config[path: "metadata", "managedFields"] {
            throw SimAPIError.badRequest("metadata.managedFields must be nil")
        }
        let types = SSATypes()
        let root = types.root(schema)
        var errors: [String] = []
        var path: [String] = []
        validate(config, root, &path, &errors)
        if !errors.isEmpty { throw typedObjectError("patch", config, errors) }

        let liveBody = live.map(withoutManagedFields)
        let stored = live?[path: "metadata", "managedFields"]
        let decoded = decodeManaged(stored) ?? [:]
        var managed = decoded
        let ignored = SimFieldSet(paths: resetFields.map { $0.map(SimFieldPath.field) })
        // An object nobody manages yet (created before apply, or by an apply that owned
        // nothing): the fields it has are first given to `before-first-apply`.
        if let liveBody, managed.isEmpty {
            let empty = emptyObject(
                apiVersion: liveBody.apiVersion ?? apiVersion, kind: liveBody.kind ?? config.kind ?? "", schema: schema)
            managed = updateManaged(
                old: empty, new: liveBody, managed: managed,
                key: ManagerKey(manager: "before-first-apply", operation: "Update", apiVersion: apiVersion),
                apiVersion: apiVersion, time: time, root: root, ignored: ignored)
        }
        let key = ManagerKey(manager: manager, operation: "Apply")
        var result: (object: JSON, managed: Managed)
        do {
            result = try applyCore(liveBody, config, managed, key, force, root, ignored, resetFields, apiVersion, time)
        } catch let conflicts as Conflicts {
            // kubectl upgrading an object from client-side apply: conflicts on fields its
            // last-applied annotation holds (with the live values) are forgiven.
            guard manager == "kubectl", let allowed = lastAppliedFields(liveBody, root) else { throw conflicts.error }
            let rest = conflicts.removing(allowed)
            if !rest.items.isEmpty { throw rest.error }
            result = try applyCore(liveBody, config, managed, key, true, root, ignored, resetFields, apiVersion, time)
        }
        var object = result.object
        if manager == "kubectl", let la = object.annotations[lastAppliedAnnotation], !la.isEmpty {
            var c = config
            if case .object(var ann)? = c[path: "metadata", "annotations"] {
                ann[lastAppliedAnnotation] = nil
                c.set(["metadata", "annotations"], to: .object(ann))
            }
            object.set(["metadata", "annotations", lastAppliedAnnotation], to: .string(SimFieldPath.goJSON(c) + "\n"))
        }
        return withManagedFields(object, result.managed, original: result.managed == decoded ? stored : nil)
    }

    /// Ownership for a non-apply write (POST create, PUT, merge/JSON/strategic patch): `new`
    /// is the object about to be stored (defaults applied), `old` the stored one (nil: create).
    /// The manager gets an `Update` entry for what it added or changed; changed fields are
    /// taken from the other managers. Returns `new` with its managedFields. As the API server:
    /// managedFields sent in `new` are honoured (`[]` or `[{}]` clears them); an existing
    /// object nobody manages stays unmanaged; a subresource write uses the stored entries.
    /// `resetFields` (default: `status` for the main resource; `spec` and `metadata` for the
    /// status subresource) are never owned.
    public static func update(
        old: JSON?, new: JSON, manager: String, schema: SimSchema, apiVersion: String,
        time: String, subresource: String? = nil, resetFields: [[String]]? = nil
    ) -> JSON {
        let sub = subresource ?? ""
        let newMF = new[path: "metadata", "managedFields"]
        let oldMF = old?[path: "metadata", "managedFields"]
        var source: JSON?
        var managed: Managed
        if !sub.isEmpty {
            (source, managed) = (oldMF, decodeManaged(oldMF) ?? [:])
        } else if newMF == .array([]) || newMF == .array([.object([:])]) {
            (source, managed) = (nil, [:])
        } else if let m = decodeManaged(newMF), !m.isEmpty {
            (source, managed) = (newMF, m)
        } else {
            (source, managed) = (oldMF, decodeManaged(oldMF) ?? [:])
        }
        let newBody = withoutManagedFields(new)
        if managed.isEmpty, old != nil { return newBody }
        let decoded = managed
        let reset = resetFields ?? (sub == "status" ? [["spec"], ["metadata"]] : sub.isEmpty ? [["status"]] : [])
        let types = SSATypes()
        let root = types.root(schema)
        let oldBody =
            old.map(withoutManagedFields)
            ?? emptyObject(apiVersion: new.apiVersion ?? apiVersion, kind: new.kind ?? "", schema: schema)
        managed = updateManaged(
            old: oldBody, new: newBody, managed: managed,
            key: ManagerKey(manager: manager, operation: "Update", apiVersion: apiVersion, subresource: sub),
            apiVersion: apiVersion, time: time, root: root,
            ignored: SimFieldSet(paths: reset.map { $0.map(SimFieldPath.field) }))
        managed = capManagers(managed)
        return withManagedFields(newBody, managed, original: managed == decoded ? source : nil)
    }

    /// The manager of a write without `fieldManager`: the User-Agent up to its first '/',
    /// printable characters only, at most 128 bytes (the API server's prefixFromUserAgent).
    public static func defaultManager(userAgent: String?) -> String {
        let prefix =
            (userAgent ?? "").split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(
                String.init) ?? ""
        var out = ""
        for ch in prefix.unicodeScalars where isPrint(ch) {
            if out.utf8.count + String(ch).utf8.count > 128 { break }
            out.unicodeScalars.append(ch)
        }
        return out
    }

    /// Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    static func isPrint(_ u: Unicode.Scalar) -> Bool {
        if u == " " { return true }
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber,
            .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }

    /// The API server's IgnoreManagedFieldsTimestampsTransformer: when a write changes nothing
    /// but managedFields times (the object and every entry otherwise equal), it keeps the old
    /// times so that nothing is written. Call with the final object (after defaulting).
    public static func revertTimestampOnlyChanges(new: JSON, old: JSON) -> JSON {
        guard let n = new[path: "metadata", "managedFields"]?.array,
            let o = old[path: "metadata", "managedFields"]?.array,
            n.count == o.count, n != o
        else { return new }
        for (a, b) in zip(n, o) {
            var a = a, b = b
            a["time"] = nil
            b["time"] = nil
            if !equal(a, b) { return new }
        }
        var reverted = new
        reverted.set(["metadata", "managedFields"], to: .array(o))
        return equal(reverted, old) ? reverted : new
    }

    /// The field set of `value` under `schema` (what an applier of it would own, before the
    /// metadata strip), for tests and diagnostics.
    public static func fieldSet(of value: JSON, schema: SimSchema) -> SimFieldSet {
        let types = SSATypes()
        var s = SimFieldSet()
        _ = collect(value, types.root(schema), into: &s)
        return s
    }

    // MARK: managers

    /// A manager's identity (SMD's encoded ManagedFieldsEntry without time and fields): an
    /// applier is one manager whatever version it applies.
    struct ManagerKey: Hashable {
        var manager: String
        var operation: String
        var apiVersion = ""
        var subresource = ""

        init(manager: String, operation: String, apiVersion: String = "", subresource: String = "") {
            self.manager = manager
            self.operation = operation
            self.apiVersion = operation == "Apply" ? "" : apiVersion
            self.subresource = subresource
        }

        /// The JSON the API server sorts conflicting managers by.
        var identity: String {
            var parts: [String] = []
            if !manager.isEmpty { parts.append("\"manager\":" + SimFieldPath.goJSON(.string(manager))) }
            parts.append("\"operation\":" + SimFieldPath.goJSON(.string(operation)))
            if !apiVersion.isEmpty { parts.append("\"apiVersion\":" + SimFieldPath.goJSON(.string(apiVersion))) }
            if !subresource.isEmpty { parts.append("\"subresource\":" + SimFieldPath.goJSON(.string(subresource))) }
            return "{" + parts.joined(separator: ",") + "}"
        }

        /// `"manager-c" using v1` (printManager).
        var printed: String {
            var s = SimFieldPath.goQuote(manager)
            if !subresource.isEmpty { s += " with subresource " + SimFieldPath.goQuote(subresource) }
            if operation == "Update" { s += " using " + apiVersion }
            return s
        }
    }

    struct Entry: Equatable {
        var apiVersion: String
        var time: String?
        var set: SimFieldSet
    }

    typealias Managed = [ManagerKey: Entry]

    /// nil when the stored entries are not valid (the API server then treats them as absent
    /// for updates); absent or null: no managers.
    static func decodeManaged(_ j: JSON?) -> Managed? {
        guard let j, j != .null else { return [:] }
        guard let a = j.array else { return nil }
        var out: Managed = [:]
        for e in a {
            guard let op = e["operation"]?.string, op == "Apply" || op == "Update",
                let av = e["apiVersion"]?.string, !av.isEmpty, e["fieldsType"]?.string == "FieldsV1"
            else { return nil }
            let key = ManagerKey(
                manager: e["manager"]?.string ?? "", operation: op, apiVersion: av,
                subresource: e["subresource"]?.string ?? "")
            let set = SimFieldSet(fieldsV1: e["fieldsV1"] ?? .object([:]))
            if let prev = out[key] {
                out[key] = Entry(apiVersion: av, time: prev.time ?? e["time"]?.string, set: prev.set.union(set))
            } else {
                out[key] = Entry(apiVersion: av, time: e["time"]?.string, set: set)
            }
        }
        return out
    }

    /// The managedFields array in the API server's order: Apply before Update, then by time
    /// (none first), manager, apiVersion, subresource. nil when no manager owns anything.
    static func encodeManaged(_ m: Managed) -> JSON? {
        let entries = m.filter { !$0.value.set.isEmpty }.sorted { a, b in
            if a.key.operation != b.key.operation { return a.key.operation < b.key.operation }
            if (a.value.time ?? "") != (b.value.time ?? "") { return (a.value.time ?? "") < (b.value.time ?? "") }
            if a.key.manager != b.key.manager { return a.key.manager < b.key.manager }
            if a.value.apiVersion != b.value.apiVersion { return a.value.apiVersion < b.value.apiVersion }
            return a.key.subresource < b.key.subresource
        }
        guard !entries.isEmpty else { return nil }
        return .array(
            entries.map { k, e in
                var o: [String: JSON] = [
                    "operation": .string(k.operation), "apiVersion": .string(e.apiVersion),
                    "fieldsType": "FieldsV1", "fieldsV1": e.set.fieldsV1
                ]
                if !k.manager.isEmpty { o["manager"] = .string(k.manager) }
                if let t = e.time { o["time"] = .string(t) }
                if !k.subresource.isEmpty { o["subresource"] = .string(k.subresource) }
                return .object(o)
            })
    }

    static func withoutManagedFields(_ o: JSON) -> JSON {
        guard o[path: "metadata", "managedFields"] != nil, case .object(var meta)? = o["metadata"] else { return o }
        meta["managedFields"] = nil
        var out = o
        out["metadata"] = .object(meta)
        return out
    }

    /// `object` with the managers' entries; `original` (the entries as stored) is kept
    /// verbatim when the managers did not change, so that nothing differs byte for byte.
    static func withManagedFields(_ object: JSON, _ m: Managed, original: JSON?) -> JSON {
        var out = object
        let encoded = original ?? encodeManaged(m)
        if let encoded, encoded != .null, encoded != .array([]) {
            out.set(["metadata", "managedFields"], to: encoded)
        } else if out["metadata"] != nil {
            out.set(["metadata", "managedFields"], to: nil)
        }
        return out
    }

    /// SMD's Updater.Update plus the managedFieldsUpdater and strip decorators: the write runs
    /// as its own manager, so every existing entry (the manager's previous one included) loses
    /// what it changed or removed; the manager then owns what it added or changed.
    static func updateManaged(
        old: JSON, new: JSON, managed: Managed, key: ManagerKey, apiVersion: String,
        time: String, root: SSAType, ignored: SimFieldSet
    ) -> Managed {
        var c = Comparison()
        _ = compare(old, new, root, &c)
        let changed = c.modified.union(c.added)
        let filteredChanged = changed.subtractingRecursively(ignored)
        let filteredRemoved = c.removed.subtractingRecursively(ignored)
        var m = managed
        for k in Array(m.keys) {
            let s = m[k]!.set.subtracting(filteredChanged).subtracting(filteredRemoved)
            if s.isEmpty { m[k] = nil } else { m[k]!.set = s }
        }
        let own = changed.subtracting(c.removed).subtractingRecursively(ignored).subtracting(stripSet)
        if !own.isEmpty {
            m[key] = Entry(apiVersion: apiVersion, time: time, set: own.union(m[key]?.set ?? SimFieldSet()))
        }
        return m
    }

    /// At most 10 Update entries: the oldest are merged into `ancient-changes` (per version).
    static func capManagers(_ managed: Managed) -> Managed {
        var m = managed
        let updaters = m.filter { $0.key.operation == "Update" }
            .sorted { a, b in
                (a.value.time ?? "", a.key.identity) < (b.value.time ?? "", b.key.identity)
            }.map(\.key)
        guard updaters.count > maxUpdateManagers else { return m }
        var length = updaters.count
        var firstOfVersion: [String: ManagerKey] = [:]
        for k in updaters where length > maxUpdateManagers {
            guard let e = m[k] else { continue }
            let bucket = ManagerKey(manager: "ancient-changes", operation: "Update", apiVersion: e.apiVersion)
            if let first = firstOfVersion[e.apiVersion] {
                if m[bucket] == nil {
                    m[bucket] = m[first]
                    m[first] = nil
                }
                m[bucket]!.set = e.set.union(m[bucket]!.set)
                m[bucket]!.time = e.time
                m[k] = nil
                length -= 1
            } else {
                firstOfVersion[e.apiVersion] = k
            }
        }
        return m
    }

    // MARK: apply

    /// Conflicting fields per manager, and the Status the API server answers with.
    struct Conflicts: Error {
        var items: [(key: ManagerKey, paths: [[String]])]

        func removing(_ allowed: SimFieldSet) -> Conflicts {
            Conflicts(
                items: items.compactMap { k, ps in
                    let rest = ps.filter { !allowed.contains($0) }
                    return rest.isEmpty ? nil : (k, rest)
                })
        }

        var error: SimAPIError {
            let sorted = items.sorted { $0.key.identity < $1.key.identity }
            let count = items.reduce(0) { $0 + $1.paths.count }
            let message: String
            if count == 1, let only = sorted.first {
                message =
                    """
                    Apply failed with 1 conflict: conflict with \(only.key.printed): \
                    \(SimFieldPath.describe(only.paths[0]))
                    """
            } else {
                var lines: [String] = []
                for (k, ps) in sorted {
                    lines.append("conflicts with \(k.printed):")
                    for p in ps { lines.append("- " + SimFieldPath.describe(p)) }
                }
                message = "Apply failed with \(count) conflicts: " + lines.joined(separator: "\n")
            }
            // The API server lists causes in Go map order (random); reverse identity order
            // reproduces the recording.
            var causes: [JSON] = []
            for (k, ps) in sorted.reversed() {
                for p in ps {
                    causes.append([
                        "reason": "FieldManagerConflict", "message": .string("conflict with \(k.printed)"),
                        "field": .string(SimFieldPath.describe(p))
                    ])
                }
            }
            var e = SimAPIError(code: 409, reason: "Conflict", message: message)
            e.details = ["causes": .array(causes)]
            return e
        }
    }

    /// SMD's Updater.Apply with the strategy's resets: merge, own the config's fields, prune
    /// what the applier stopped applying, then take (or refuse) fields from other managers.
    static func applyCore(
        _ liveBody: JSON?, _ config: JSON, _ managed: Managed, _ key: ManagerKey, _ force: Bool,
        _ root: SSAType, _ ignored: SimFieldSet, _ resetFields: [[String]], _ apiVersion: String,
        _ time: String
    ) throws -> (object: JSON, managed: Managed) {
        let base = liveBody ?? .object([:])
        var merged = merge(base, config, root) ?? .object([:])
        let lastSet = managed[key]?.set
        var set = SimFieldSet()
        _ = collect(config, root, into: &set)
        set = set.subtractingRecursively(ignored).subtracting(stripSet)
        var m = managed
        m[key] = Entry(apiVersion: apiVersion, time: managed[key]?.time, set: set)
        if let lastSet, !lastSet.isEmpty { merged = prune(merged, m, lastSet, root) }
        merged = resetServerFields(merged, liveBody, resetFields)

        var c = Comparison()
        _ = compare(base, merged, root, &c)
        let changed = c.modified.union(c.added).subtractingRecursively(ignored)
        let removed = c.removed.subtractingRecursively(ignored)
        var conflicts: [(key: ManagerKey, paths: [[String]])] = []
        for (k, e) in m where k != key {
            let cs = e.set.intersection(changed)
            if !cs.isEmpty { conflicts.append((k, cs.paths)) }
        }
        if !force, !conflicts.isEmpty { throw Conflicts(items: conflicts) }
        for k in Array(m.keys) where k != key {
            let s = m[k]!.set.subtracting(changed).subtracting(removed)
            if s.isEmpty { m[k] = nil } else { m[k]!.set = s }
        }
        if m[key]!.set.isEmpty { m[key] = nil }
        if let liveBody, equal(liveBody, merged) { return (liveBody, m) }
        if m[key] != nil { m[key]!.time = time }
        return (merged, m)
    }

    /// SMD's prune: remove what the applier owned last time, no longer applies and nobody else
    /// owns (fields, list items, map entries), keeping what others or the new config claim.
    static func prune(_ merged: JSON, _ m: Managed, _ lastSet: SimFieldSet, _ root: SSAType) -> JSON {
        let last = ensureNamedFieldsAreMembers(lastSet, root)
        var pruned = removeItems(merged, last, root) ?? .object([:])
        let owned = ensureNamedFieldsAreMembers(m.values.reduce(SimFieldSet()) { $0.union($1.set) }, root)
        let mergedSet = ensureNamedFieldsAreMembers(fieldSetOf(merged, root), root)
        var prunedSet = ensureNamedFieldsAreMembers(fieldSetOf(pruned, root), root)
        pruned = removeItems(merged, mergedSet.subtracting(prunedSet.union(owned)), root) ?? .object([:])
        prunedSet = ensureNamedFieldsAreMembers(fieldSetOf(pruned, root), root)
        return removeItems(merged, mergedSet.subtracting(prunedSet).intersection(last), root) ?? .object([:])
    }

    /// What the strategy restores after an apply: the reset fields (status) and the
    /// server-owned metadata come from the stored object (absent on create).
    static func resetServerFields(_ object: JSON, _ live: JSON?, _ resetFields: [[String]]) -> JSON {
        var out = object
        for p in resetFields + serverMetadata.map({ ["metadata", $0] }) {
            let v = live?.value(at: p)
            if v == nil, out.value(at: p) == nil { continue }
            if v == nil, p.count > 1, out.value(at: Array(p.dropLast())) == nil { continue }
            out.set(p, to: v)
        }
        return out
    }

    /// The fields kubectl's last-applied annotation holds with the live values.
    static func lastAppliedFields(_ live: JSON?, _ root: SSAType) -> SimFieldSet? {
        guard let live, let text = live.annotations[lastAppliedAnnotation], !text.isEmpty,
            let la = try? JSON.parse(text), la.object != nil
        else { return nil }
        var errors: [String] = []
        var path: [String] = []
        validate(la, root, &path, &errors)
        guard errors.isEmpty else { return nil }
        var c = Comparison()
        _ = compare(la, withoutManagedFields(live), root, &c)
        return fieldSetOf(la, root).subtracting(c.modified).subtracting(c.added).subtracting(c.removed)
    }

    /// The Go zero value of a kind as the API server's object creater makes it (the "before"
    /// of a create and of `before-first-apply`): typed built-ins carry their non-pointer
    /// structs (`spec: {}`, a Deployment's pod template ...), which decides whether a manager
    /// owns `.spec` itself; a custom resource is only apiVersion and kind.
    public static func emptyObject(apiVersion: String, kind: String, schema: SimSchema? = nil) -> JSON {
        let (group, _) = splitAPIVersion(apiVersion)
        guard builtinGroups.contains(group) else { return ["apiVersion": .string(apiVersion), "kind": .string(kind)] }
        var o: [String: JSON] = ["metadata": ["creationTimestamp": .null]]
        if let zero = zeroValues[kind] {
            o.merge(zero) { a, _ in a }
        } else if let props = schema?.properties {
            for k in ["spec", "status"] where props[k] != nil { o[k] = .object([:]) }
        }
        return .object(o)
    }

    static let builtinGroups: Set<String> = [
        "", "apps", "batch", "autoscaling", "policy", "admissionregistration.k8s.io", "apiextensions.k8s.io",
        "apiregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
        "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io",
        "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io"
    ]

    static let podTemplate: JSON = ["metadata": ["creationTimestamp": .null], "spec": ["containers": .null]]

    /// Non-pointer struct fields (and fields without omitempty) of the common built-in kinds.
    static let zeroValues: [String: [String: JSON]] = [
        "Namespace": ["spec": [:], "status": [:]],
        "Pod": ["spec": ["containers": .null], "status": [:]],
        "PodTemplate": ["template": podTemplate],
        "ReplicationController": ["spec": [:], "status": ["replicas": 0]],
        "Service": ["spec": [:], "status": ["loadBalancer": [:]]],
        "PersistentVolumeClaim": ["spec": ["resources": [:]], "status": [:]],
        "PersistentVolume": ["spec": [:], "status": [:]],
        "LimitRange": ["spec": ["limits": .null]],
        "ResourceQuota": ["spec": [:], "status": [:]],
        "Deployment": ["spec": ["template": podTemplate, "strategy": [:]], "status": [:]],
        "ReplicaSet": ["spec": ["template": podTemplate], "status": ["replicas": 0]],
        "StatefulSet": [
            "spec": ["template": podTemplate, "updateStrategy": [:]], "status": ["replicas": 0, "availableReplicas": 0]
        ],
        "DaemonSet": [
            "spec": ["template": podTemplate, "updateStrategy": [:]],
            "status": [
                "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0
            ]
        ],
        "Job": ["spec": ["template": podTemplate], "status": [:]],
        "CronJob": [
            "spec": [
                "schedule": "",
                "jobTemplate": ["metadata": ["creationTimestamp": .null], "spec": ["template": podTemplate]]
            ],
            "status": [:]
        ],
        "Role": ["rules": .null], "ClusterRole": ["rules": .null],
        "RoleBinding": ["roleRef": ["apiGroup": "", "kind": "", "name": ""]],
        "ClusterRoleBinding": ["roleRef": ["apiGroup": "", "kind": "", "name": ""]],
        "NetworkPolicy": ["spec": ["podSelector": [:]]],
        "Ingress": ["spec": [:], "status": ["loadBalancer": [:]]],
        "IngressClass": ["spec": [:]],
        "EndpointSlice": ["addressType": "", "endpoints": .null],
        "PodDisruptionBudget": [
            "spec": [:],
            "status": ["disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0]
        ],
        "HorizontalPodAutoscaler": [
            "spec": ["scaleTargetRef": ["kind": "", "name": ""], "maxReplicas": 0], "status": ["desiredReplicas": 0]
        ],
        "Lease": ["spec": [:]],
        "PriorityClass": ["value": 0],
        "StorageClass": ["provisioner": ""],
        "CustomResourceDefinition": [
            "spec": ["group": "", "names": ["plural": "", "kind": ""], "scope": "", "versions": .null],
            "status": ["conditions": .null, "acceptedNames": ["plural": "", "kind": ""], "storedVersions": .null]
        ],
        "ConfigMap": [:], "Secret": [:], "ServiceAccount": [:], "Endpoints": [:],
        "ValidatingWebhookConfiguration": [:], "MutatingWebhookConfiguration": [:]
    ]

    static func splitAPIVersion(_ apiVersion: String) -> (group: String, version: String) {
        guard let slash = apiVersion.lastIndex(of: "/") else { return ("", apiVersion) }
        return (String(apiVersion[..<slash]), String(apiVersion[apiVersion.index(after: slash)...]))
    }

    static func typedObjectError(_ what: String, _ obj: JSON, _ errors: [String]) -> SimAPIError {
        let (g, v) = splitAPIVersion(obj.apiVersion ?? "")
        let detail = errors.count == 1 ? errors[0] : (["errors:"] + errors.map { "  " + $0 }).joined(separator: "\n")
        return SimAPIError(
            code: 500, reason: "",
            message:
                """
                failed to create typed \(what) object (\(obj.namespace ?? "")/\(obj.name ?? ""); \(g)/\(v), \
                Kind=\(obj.kind ?? "")): \(detail)
                """
        )
    }

    // MARK: typed walks (SMD's validating, toFieldSet, merging, comparing, removing walkers)

    /// Numbers compare by value (1 == 1.0), as SMD's value equality does.
    static func equal(_ a: JSON, _ b: JSON) -> Bool {
        if a == b { return true }  // the common case, and much faster than walking
        switch (a, b) {
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x { guard let w = y[k], equal(v, w) else { return false } }
            return true
        case (.array(let x), .array(let y)):
            guard x.count == y.count else { return false }
            for i in x.indices where !equal(x[i], y[i]) { return false }
            return true
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        default: return a == b
        }
    }

    /// The path element of a list item, or why there is none (SMD listItemToPathElement).
    static func itemElement(_ item: JSON, _ kind: SSAType.ListKind, _ itemType: SSAType) -> Result<String, ItemError> {
        switch kind {
        case .atomic: return .failure(ItemError(message: "atomic"))
        case .set:
            switch item {
            case .object:
                return .failure(ItemError(message: "associative list without keys has an element that's a map type"))
            case .array: return .failure(ItemError(message: "not supported: associative list with lists as elements"))
            case .null:
                return .failure(
                    ItemError(message: "associative list without keys has an element that's an explicit null"))
            default: return .success(SimFieldPath.value(item))
            }
        case .keyed(let keys):
            guard case .object(let o) = item else {
                return .failure(
                    ItemError(
                        message: item == .null
                            ? "associative list with keys may not have a null element"
                            : "associative list with keys may not have non-map elements"))
            }
            var fields: [(String, JSON)] = []
            for k in keys {
                if let v = o[k] {
                    fields.append((k, v))
                    continue
                }
                if let s = itemType.schema, let p = s.properties?[k], let d = s.child(p).defaultValue {
                    fields.append((k, d))
                    continue
                }
                return .failure(
                    ItemError(
                        message:
                            """
                            associative list with keys has an element that omits key field \
                            \(SimFieldPath.goQuote(k)) (and doesn't have default value)
                            """
                    ))
            }
            return .success(SimFieldPath.key(fields))
        }
    }

    struct ItemError: Error { var message: String }

    /// The items of an associative list with their elements; an item without one (a stored
    /// object can hold what an applied config may not) gets a unique index element.
    static func elements(_ items: [JSON], _ kind: SSAType.ListKind, _ itemType: SSAType) -> [String] {
        var seen = Set<String>()
        return items.enumerated().map { i, item in
            if case .success(let pe) = itemElement(item, kind, itemType), seen.insert(pe).inserted { return pe }
            return "i:\(i)"
        }
    }

    static func goType(_ v: JSON) -> String {
        switch v {
        case .null: return "<nil>"
        case .bool: return "bool"
        case .int: return "int64"
        case .double: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .object: return "map[string]interface {}"
        }
    }

    static func goValue(_ v: JSON) -> String {
        switch v {
        case .null: return "<nil>"
        case .string(let s): return s
        case .array(let a): return "[" + a.map(goValue).joined(separator: " ") + "]"
        case .object(let o):
            return "map[" + o.keys.sorted().map { "\($0):\(goValue(o[$0]!))" }.joined(separator: " ") + "]"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        }
    }

    /// Typed conversion of an applied configuration (SMD's validating walker): undeclared
    /// fields (the first of each object, in key order), wrong scalar types, list items
    /// without their keys, duplicates. `path` holds the elements down to `v` (rendered only
    /// for an error). An object with an error is walked again in key order, so the errors
    /// (SMD's come in Go's random map order) are deterministic.
    static func validate(_ v: JSON, _ t: SSAType, _ path: inout [String], _ errors: inout [String]) {
        func fail(_ msg: String) {
            errors.append(path.isEmpty ? msg : "\(SimFieldPath.describe(path)): \(msg)")
        }
        switch t.shape(v) {
        case .scalar(let kind):
            if v == .null { return }
            switch kind {
            case .string:
                if v.string == nil { fail("expected string, got &value.valueUnstructured{Value:\(goValue(v))}") }
            case .numeric:
                switch v {
                case .int, .double: break
                default: fail("expected numeric (int or float), got \(goType(v))")
                }
            case .boolean:
                if v.bool == nil { fail("expected boolean, got &{\(goValue(v))}") }
            case .untyped:
                switch v {
                case .array, .object: fail("expected any scalar, got &{\(goValue(v))}")
                default: break
                }
            }
        case .list(let kind, let item):
            if v == .null { return }
            guard case .array(let items) = v else { return fail("expected list, got &{\(goValue(v))}") }
            var seen = Set<String>()
            for (i, child) in items.enumerated() {
                var pe = "i:\(i)"
                if kind != .atomic {
                    switch itemElement(child, kind, item) {
                    case .failure(let e): return fail("element \(i): \(e.message)")
                    case .success(let p):
                        pe = p
                        if !seen.insert(p).inserted { fail("duplicate entries for key \(SimFieldPath.describe(p))") }
                    }
                }
                path.append(pe)
                validate(child, item, &path, &errors)
                path.removeLast()
            }
        case .map:
            if v == .null { return }
            guard case .object(let o) = v else { return fail("expected map, got &{\(goValue(v))}") }
            let before = errors.count
            var unknown = false
            for (k, child) in o {
                guard let field = t.field(k) else {
                    unknown = true
                    break
                }
                path.append(SimFieldPath.field(k))
                validate(child, field.type, &path, &errors)
                path.removeLast()
            }
            guard unknown || errors.count != before else { return }
            errors.removeSubrange(before...)
            for k in o.keys.sorted() {
                path.append(SimFieldPath.field(k))
                defer { path.removeLast() }
                guard let field = t.field(k) else {
                    errors.append("\(SimFieldPath.describe(path)): field not declared in schema")
                    return
                }
                validate(o[k]!, field.type, &path, &errors)
            }
        case .deduced:
            return
        }
    }

    static func fieldSetOf(_ v: JSON, _ t: SSAType) -> SimFieldSet {
        var s = SimFieldSet()
        _ = collect(v, t, into: &s)
        return s
    }

    /// SMD ToFieldSet. `s` is the set below this node; the result says whether the node itself
    /// is a member (scalars, atomic lists and maps). Map entries that are not struct fields,
    /// null or empty are members too.
    static func collect(_ v: JSON, _ t: SSAType, into s: inout SimFieldSet) -> Bool {
        switch t.shape(v) {
        case .scalar, .deduced: return true
        case .list(let kind, let item):
            if kind == .atomic { return true }
            guard case .array(let items) = v else { return false }
            for (child, pe) in zip(items, elements(items, kind, item)) {
                var sub = SimFieldSet()
                _ = collect(child, item, into: &sub)
                if !sub.isEmpty { s.children[pe] = s.children[pe].map { $0.union(sub) } ?? sub }
                s.members.insert(pe)
            }
            return false
        case .map(let atomic):
            if atomic { return true }
            guard case .object(let o) = v else { return false }
            for (k, child) in o {
                let field = t.field(k)
                var sub = SimFieldSet()
                let member = collect(child, field?.type ?? t.types.deduced, into: &sub)
                let pe = SimFieldPath.field(k)
                if !sub.isEmpty { s.children[pe] = sub }
                if member || child == .null || child == .object([:]) || field?.named != true { s.members.insert(pe) }
            }
            return false
        }
    }

    /// SMD merge with the keep-the-applied-value rule: maps merge by key, associative lists by
    /// item (live order, new items where the config puts them), atomic values are replaced.
    /// A null in the config clears the field (as decoding the merged object does), except
    /// where live holds null too.
    static func merge(_ l: JSON?, _ r: JSON?, _ t: SSAType) -> JSON? {
        func leaf() -> JSON? {
            guard let r else { return l }
            if r == .null { return l == .null ? .null : nil }
            // An equal value keeps the live one: its storage is then shared with the live
            // object, and the comparisons that follow (unchanged? conflicts?) are instant.
            if let l, equal(l, r) { return l }
            return r
        }
        switch t.shape(r ?? l) {
        case .scalar, .deduced: return leaf()
        case .list(let kind, let item):
            let la = l?.array, ra = r?.array
            if kind == .atomic || ((la?.isEmpty ?? true) && (ra?.isEmpty ?? true)) { return leaf() }
            if let l, let r, l != .null, r != .null, (la == nil) != (ra == nil) { return leaf() }
            return mergeList(la ?? [], ra ?? [], kind, item)
        case .map(let atomic):
            let lo = l?.object, ro = r?.object
            if let l, let r, l != .null, r != .null, (lo == nil) != (ro == nil) { return leaf() }
            if atomic || ((lo?.isEmpty ?? true) && (ro?.isEmpty ?? true)) { return leaf() }
            var out = lo ?? [:]
            for (k, rv) in ro ?? [:] {
                out[k] = merge(lo?[k], rv, t.field(k)?.type ?? t.types.deduced)
            }
            return out.isEmpty ? nil : .object(out)
        }
    }

    /// SMD's visitListItems ordering: live items keep their order; shared items follow the
    /// config's order; config-only items come where the config places them.
    static func mergeList(_ lhs: [JSON], _ rhs: [JSON], _ kind: SSAType.ListKind, _ item: SSAType) -> JSON? {
        let lPE = elements(lhs, kind, item), rPE = elements(rhs, kind, item)
        var lMap: [String: JSON] = [:], rMap: [String: JSON] = [:]
        for (pe, v) in zip(lPE, lhs) { lMap[pe] = v }
        for (pe, v) in zip(rPE, rhs) { rMap[pe] = v }
        var shared = rPE.filter { lMap[$0] != nil }[...]
        var nextShared = shared.popFirst()
        var out: [JSON] = []
        var li = 0, ri = 0
        while li < lPE.count || ri < rPE.count {
            if li < lPE.count, ri < rPE.count {
                let pe = lPE[li]
                if pe == rPE[ri] {
                    if let v = merge(lMap[pe], rMap[pe], item) { out.append(v) }
                    li += 1
                    ri += 1
                    nextShared = shared.popFirst()
                    continue
                }
                if rMap[pe] != nil, let n = nextShared, n != pe {
                    li += 1
                    continue
                }
            }
            if li < lPE.count {
                let pe = lPE[li]
                if rMap[pe] == nil {
                    if let v = merge(lhs[li], nil, item) { out.append(v) }
                    li += 1
                    continue
                }
            }
            if ri < rPE.count {
                let pe = rPE[ri]
                if let v = merge(lMap[pe], rMap[pe], item) { out.append(v) }
                ri += 1
                if let n = nextShared, n == pe { nextShared = shared.popFirst() }
            }
        }
        return out.isEmpty ? nil : .array(out)
    }

    struct Comparison {
        var added = SimFieldSet(), modified = SimFieldSet(), removed = SimFieldSet()

        mutating func attach(_ pe: String, _ sub: Comparison, _ mark: Mark) {
            if !sub.added.isEmpty { added.children[pe] = sub.added }
            if !sub.modified.isEmpty { modified.children[pe] = sub.modified }
            if !sub.removed.isEmpty { removed.children[pe] = sub.removed }
            switch mark {
            case .added: added.members.insert(pe)
            case .modified: modified.members.insert(pe)
            case .removed: removed.members.insert(pe)
            case .none: break
            }
        }
    }

    enum Mark { case none, added, modified, removed }

    /// SMD Compare. Leaves (scalars, atomic and empty values) are added, removed or modified;
    /// other nodes are only added or removed themselves.
    static func compare(_ l: JSON?, _ r: JSON?, _ t: SSAType, _ c: inout Comparison) -> Mark {
        func leaf() -> Mark {
            guard let l else { return .added }
            guard let r else { return .removed }
            return equal(l, r) ? .none : .modified
        }
        let node: Mark = l == nil ? .added : r == nil ? .removed : .none
        switch t.shape(r ?? l) {
        case .scalar, .deduced: return leaf()
        case .list(let kind, let item):
            let la = l?.array, ra = r?.array
            if kind == .atomic || ((la?.isEmpty ?? true) && (ra?.isEmpty ?? true)) { return leaf() }
            if let l, let r, l != .null, r != .null, (la == nil) != (ra == nil) { return leaf() }
            let lhs = la ?? [], rhs = ra ?? []
            let lPE = elements(lhs, kind, item), rPE = elements(rhs, kind, item)
            var lMap: [String: JSON] = [:]
            for (pe, v) in zip(lPE, lhs) where lMap[pe] == nil { lMap[pe] = v }
            let rSeen = Set(rPE)
            for (pe, v) in zip(rPE, rhs) {
                var sub = Comparison()
                let mark = compare(lMap[pe], v, item, &sub)
                c.attach(pe, sub, mark)
            }
            for (pe, v) in zip(lPE, lhs) where !rSeen.contains(pe) {
                var sub = Comparison()
                let mark = compare(v, nil, item, &sub)
                c.attach(pe, sub, mark)
            }
            return node
        case .map(let atomic):
            let lo = l?.object, ro = r?.object
            if let l, let r, l != .null, r != .null, (lo == nil) != (ro == nil) { return leaf() }
            if atomic || ((lo?.isEmpty ?? true) && (ro?.isEmpty ?? true)) { return leaf() }
            func visit(_ k: String, _ lv: JSON?, _ rv: JSON?) {
                if let lv, let rv, lv == rv { return }  // identical: nothing below can differ
                var sub = Comparison()
                let mark = compare(lv, rv, t.field(k)?.type ?? t.types.deduced, &sub)
                c.attach(SimFieldPath.field(k), sub, mark)
            }
            for (k, lv) in lo ?? [:] { visit(k, lv, ro?[k]) }
            for (k, rv) in ro ?? [:] where lo?[k] == nil { visit(k, nil, rv) }
            return node
        }
    }

    /// SMD RemoveItems: a member removes the field, item or entry with everything below it.
    /// A list or map left empty disappears (SMD leaves null, which decoding drops).
    static func removeItems(_ v: JSON, _ toRemove: SimFieldSet, _ t: SSAType) -> JSON? {
        if toRemove.isEmpty { return v }
        switch t.shape(v) {
        case .scalar, .deduced: return v
        case .list(let kind, let item):
            guard kind != .atomic, case .array(let items) = v, !items.isEmpty else { return v }
            var out: [JSON] = []
            for (child, pe) in zip(items, elements(items, kind, item)) {
                if toRemove.members.contains(pe) { continue }
                if let sub = toRemove.children[pe] {
                    if let kept = removeItems(child, sub, item) { out.append(kept) }
                } else {
                    out.append(child)
                }
            }
            return out.isEmpty ? nil : .array(out)
        case .map(let atomic):
            guard !atomic, case .object(let o) = v, !o.isEmpty else { return v }
            var out: [String: JSON] = [:]
            for (k, child) in o {
                let pe = SimFieldPath.field(k)
                if toRemove.members.contains(pe) { continue }
                if let sub = toRemove.children[pe] {
                    if let kept = removeItems(child, sub, t.field(k)?.type ?? t.types.deduced) { out[k] = kept }
                } else {
                    out[k] = child
                }
            }
            return out.isEmpty ? nil : .object(out)
        }
    }

    /// SMD EnsureNamedFieldsAreMembers: a struct field with owned fields below it counts as a
    /// member itself (so pruning can remove `.spec.template` but not a map like `.data`'s keys
    /// implicitly).
    static func ensureNamedFieldsAreMembers(_ s: SimFieldSet, _ t: SSAType) -> SimFieldSet {
        guard !s.children.isEmpty else { return s }
        var out = s
        let shape = t.shape(nil)
        for (pe, child) in s.children {
            var childType = t.types.deduced
            if pe.hasPrefix("f:") {
                if case .map = shape {
                    let name = String(pe.dropFirst(2))
                    if t.isNamedField(name) { out.members.insert(pe) }
                    childType = t.field(name)?.type ?? t.types.deduced
                }
            } else if case .list(_, let item) = t.shape(.array([])) {
                childType = item
            }
            out.children[pe] = ensureNamedFieldsAreMembers(child, childType)
        }
        return out
    }
}
