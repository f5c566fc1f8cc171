import AphexCore
import KubeClient
import Foundation

/// The OpenAPI v3 endpoints of a real kube-apiserver v1.36 (../shared/realapi/openapi): the
/// `/openapi/v3` index and one document per group/version, addressed by `?hash=` (SHA-512 of the
/// served bytes) and cached by clients as immutable. kubectl ≥ 1.27 reads them before every
/// `apply` (field validation support: a PATCH operation for the kind with a `fieldValidation`
/// parameter) and the field-validation and server-side-apply code reads the schemas.
///
/// - api/v1, apps/v1, apiextensions.k8s.io/v1: the recorded documents, byte for byte (so the
///   recorded hashes).
/// - a CRD group/version: generated as the apiextensions server does, with the recorded
///   argoproj.io/v1alpha1 document as the template (paths, operation ids, the CRD's
///   `openAPIV3Schema` with apiVersion/kind/metadata replaced, the meta.v1 schemas); regenerated
///   when one of its CRDs changes.
/// - other built-in group/versions (no recording): generated the same way from the type table,
///   with permissive schemas (`x-kubernetes-preserve-unknown-fields`).
public final class SimOpenAPI: @unchecked Sendable {
    private weak var world: SimWorld?
    private let lock = NSLock()
    /// CRD documents by index key, with the CRD versions they were generated from.
    private var crdDocs: [String: Document] = [:]

    init(world: SimWorld) { self.world = world }

    /// One served document: its bytes, their hash, and (parsed on demand) its schemas.
    public final class Document: @unchecked Sendable {
        public let bytes: [UInt8]
        /// SHA-512 of `bytes`, upper-case hex: the `?hash=` and the ETag.
        public let hash: String
        public let lastModified: Date
        let fingerprint: String
        private let lock = NSLock()
        private var json: JSON?
        private var kinds: [String: String]?

        init(bytes: [UInt8], json: JSON?, fingerprint: String = "", lastModified: Date = Date()) {
            self.bytes = bytes
            self.hash = sha512HexUpper(bytes)
            self.json = json
            self.fingerprint = fingerprint
            self.lastModified = lastModified
        }

        /// The document as JSON (parsed from the bytes the first time).
        public var document: JSON {
            lock.lock()
            defer { lock.unlock() }
            if let json { return json }
            let j = (try? JSON.parse(bytes)) ?? [:]
            json = j
            return j
        }

        /// `components.schemas`, and the schema name of each "group/version/Kind" (from the
        /// schemas' `x-kubernetes-group-version-kind`).
        func schemas() -> (components: [String: JSON], kinds: [String: String]) {
            let components = document[path: "components", "schemas"]?.object ?? [:]
            lock.lock()
            defer { lock.unlock() }
            if let kinds { return (components, kinds) }
            var k: [String: String] = [:]
            for (name, s) in components.sorted(by: { $0.key < $1.key }) {
                for gvk in s["x-kubernetes-group-version-kind"]?.array ?? [] {
                    let id =
                        "\(gvk["group"]?.string ?? "")/\(gvk["version"]?.string ?? "")/\(gvk["kind"]?.string ?? "")"
                    if k[id] == nil { k[id] = name }
                }
            }
            kinds = k
            return (components, k)
        }
    }

    /// "api/v1" / "apis/apps/v1": a group/version's key in the index and its URL.
    public static func key(group: String, version: String) -> String {
        group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)"
    }

    // MARK: lookups

    /// The schema of a kind: the component of its group/version's document whose
    /// `x-kubernetes-group-version-kind` names it (references resolve within that document).
    /// Nil when the group/version is not served or has no such kind.
    public func typeSchema(group: String, version: String, kind: String) -> SimSchema? {
        guard let doc = document(Self.key(group: group, version: version)) else { return nil }
        let (components, kinds) = doc.schemas()
        guard let name = kinds["\(group)/\(version)/\(kind)"], let node = components[name] else { return nil }
        return SimSchema(node: node, components: components)
    }

    /// The document served at /openapi/v3/KEY, nil when none is (404).
    public func document(_ key: String) -> Document? {
        if let d = Self.builtinDocument(key) { return d }
        guard let world else { return nil }
        let c = key.split(separator: "/").map(String.init)
        guard c.count == 3, c[0] == "apis" else { return nil }
        let (fingerprint, crds) = Self.crdsServing(world, group: c[1], version: c[2])
        guard !crds.isEmpty else {
            lock.lock()
            crdDocs[key] = nil
            lock.unlock()
            return nil
        }
        lock.lock()
        if let d = crdDocs[key], d.fingerprint == fingerprint {
            lock.unlock()
            return d
        }
        lock.unlock()
        let json = Generator.crdDocument(group: c[1], version: c[2], crds: crds)
        let d = Document(bytes: GoJSON.bytes(json), json: json, fingerprint: fingerprint)
        lock.lock()
        crdDocs[key] = d
        lock.unlock()
        return d
    }

    /// The established CRDs serving group/version, and a fingerprint of their versions (the
    /// document is regenerated when it changes: a CRD applied, updated or deleted).
    static func crdsServing(_ world: SimWorld, group: String, version: String) -> (String, [JSON]) {
        world.lock.lock()
        defer { world.lock.unlock() }
        let names = world.types.values.filter {
            $0.crdName != nil && $0.ref.group == group && $0.versions.contains(version)
        }
        .compactMap(\.crdName).sorted()
        let crds = names.compactMap {
            world.objects[
                ObjectKey(group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: $0)
            ]
        }
        let fingerprint = crds.map { "\($0.name ?? "")@\($0[path: "metadata", "resourceVersion"]?.string ?? "")" }
            .joined(separator: ",")
        return (fingerprint, crds)
    }

    /// The index's `paths`: every served group/version, plus the recorded index's other entries
    /// (`api`, `apis`, `apis/GROUP`, `version`, `.well-known/openid-configuration`, ...).
    public func index() -> [String: JSON] {
        var paths = Self.staticIndex
        if let world {
            for g in Discovery.servedGroups(world) where g.crd {
                for v in g.versions {
                    let key = Self.key(group: g.name, version: v)
                    if let d = document(key) {
                        paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=\(d.hash)")]
                    }
                }
            }
        }
        return paths
    }

    // MARK: serving

    /// `GET /openapi/v3[/KEY]`.
    public func respond(path: String, query: [String: String], headers: [String: String]) -> HTTPResponse {
        world?.tick()
        let key = path.hasPrefix("/openapi/v3/") ? String(path.dropFirst("/openapi/v3/".count)) : ""
        if key.isEmpty {
            let body = GoJSON.bytes(JSON.object(["paths": .object(index())]))
            lock.lock()
            let modified = crdDocs.values.map(\.lastModified).reduce(Self.started, max)
            lock.unlock()
            if Self.notModified(headers, since: modified, etag: nil) {
                return HTTPResponse(
                    status: 304, headers: ["cache-control": "no-cache, private", "last-modified": httpDate(modified)])
            }
            return HTTPResponse(
                status: 200,
                headers: [
                    "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, private",
                    "accept-ranges": "bytes", "last-modified": httpDate(modified),
                    "content-length": String(body.count)
                ], body: body)
        }
        guard let doc = document(key) else {
            return HTTPResponse(status: 404, headers: ["cache-control": "no-cache, private", "content-length": "0"])
        }
        let etag = "\"\(doc.hash)\""
        var h = ["content-type": "application/json", "etag": etag, "vary": "Accept"]
        if let want = query["hash"], want != doc.hash {
            h["cache-control"] = "no-cache, private"
            h["location"] = "/openapi/v3/\(key)?hash=\(doc.hash)"
            h["content-length"] = "0"
            return HTTPResponse(status: 301, headers: h)
        }
        if query["hash"] != nil {
            h["cache-control"] = "public, immutable"
            h["expires"] = httpDate(Date().addingTimeInterval(365 * 86400)).replacingOccurrences(
                of: " GMT", with: " UTC")
        } else {
            h["cache-control"] = "no-cache, private"
        }
        h["accept-ranges"] = "bytes"
        h["last-modified"] = httpDate(doc.lastModified)
        if Self.notModified(headers, since: doc.lastModified, etag: etag) {
            h["content-type"] = nil
            return HTTPResponse(status: 304, headers: h)
        }
        h["content-length"] = String(doc.bytes.count)
        return HTTPResponse(status: 200, headers: h, body: doc.bytes)
    }

    /// Go's http.ServeContent conditionals: If-None-Match against the ETag, else
    /// If-Modified-Since against Last-Modified (second precision). kubectl's HTTP cache
    /// revalidates the index this way (a 304 it logs as `X-From-Cache: 1`).
    static func notModified(_ headers: [String: String], since: Date, etag: String?) -> Bool {
        if let inm = headers["if-none-match"] {
            guard let etag else { return false }
            return inm.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains {
                $0 == etag || $0 == "*"
            }
        }
        guard let ims = headers["if-modified-since"], let date = parseHTTPDate(ims) else { return false }
        return since.timeIntervalSince1970.rounded(.down) <= date.timeIntervalSince1970
    }

    /// `GET /openapi/v2`. kubectl falls back to it (protobuf) to validate a kind the v3
    /// documents do not list (a custom resource whose CRD is not installed) and skips kinds it
    /// has no definition for, so that the missing mapping is what it reports ("ensure CRDs are
    /// installed first"), as against the real server. A document with no definitions does that.
    public func respondV2(headers: [String: String]) -> HTTPResponse {
        let version = world?.scenario.cluster.kubernetesVersion ?? "v1.32.2"
        let accept = headers["accept"] ?? ""
        let body: [UInt8]
        var h = [
            "cache-control": "no-cache, private", "vary": "Accept", "accept-ranges": "bytes",
            "last-modified": httpDate(Self.started)
        ]
        if accept.contains("protobuf") {
            // openapi_v2.Document {swagger: 1, info: 2 {title: 1, version: 2}, paths: 8, definitions: 9}
            func field(_ tag: UInt8, _ bytes: [UInt8]) -> [UInt8] { [tag, UInt8(bytes.count)] + bytes }
            body =
                field(0x0A, Array("2.0".utf8))
                + field(0x12, field(0x0A, Array("Kubernetes".utf8)) + field(0x12, Array(version.utf8)))
                + field(0x42, []) + field(0x4A, [])
            h["content-type"] = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        } else {
            body = GoJSON.bytes([
                "swagger": "2.0", "info": ["title": "Kubernetes", "version": .value(.string(version))],
                "paths": .object([])
            ])
            h["content-type"] = "application/json"
        }
        h["etag"] = "\"\(sha512HexUpper(body))\""
        h["content-length"] = String(body.count)
        return HTTPResponse(status: 200, headers: h, body: body)
    }

    // MARK: built-in documents (the same for every world)

    /// The recorded documents, served as recorded.
    static let recorded: [String: String] = [
        "api/v1": "openapi/get-openapi-v3-api-v1.json.gz",
        "apis/apps/v1": "openapi/get-openapi-v3-apis-apps-v1.json.gz",
        "apis/apiextensions.k8s.io/v1": "openapi/get-openapi-v3-apis-apiextensions.k8s.io-v1.json.gz"
    ]
    static let indexRecording = "openapi/get-openapi-v3-index.json"
    static let started = Date()
    private static let builtins = LockedBox<[String: Document]>([:])

    /// The built-in group/versions' keys.
    static var builtinKeys: [String] {
        BuiltinTypes.groups.flatMap { g in g.versions.map { key(group: g.name, version: $0) } }
    }

    static func builtinDocument(_ key: String) -> Document? {
        if let d = builtins.withLock({ $0[key] }) { return d }
        let d: Document
        if let file = recorded[key] {
            guard let raw = try? RealAPI.bytes(file), let compact = try? GoJSON.reencode(raw),
                let body = GoJSON.span(of: ["response", "body"], in: compact)
            else { return nil }
            d = Document(bytes: Array(compact[body]), json: nil, lastModified: started)
        } else {
            let c = key.split(separator: "/").map(String.init)
            let (group, version) = c.count == 2 ? ("", c[1]) : (c.count == 3 ? c[1] : "", c.count == 3 ? c[2] : "")
            guard BuiltinTypes.groups.contains(where: { $0.name == group && $0.versions.contains(version) }) else {
                return nil
            }
            let json = Generator.builtinDocument(
                group: group, version: version,
                types: BuiltinTypes.all.filter { $0.ref.group == group && $0.versions.contains(version) })
            d = Document(bytes: GoJSON.bytes(json), json: json, lastModified: started)
        }
        return builtins.withLock { b in
            if let existing = b[key] { return existing }
            b[key] = d
            return d
        }
    }

    /// The built-in part of the index: the recorded entries that are not group/version
    /// documents, and every built-in group/version with its document's hash.
    static let staticIndex: [String: JSON] = {
        var paths: [String: JSON] = [:]
        let recordedPaths = (try? RealAPI.responseBody(indexRecording))?["paths"]?.object ?? [:]
        let served = Set(builtinKeys)
        for (k, v) in recordedPaths {
            let c = k.split(separator: "/")
            let isGV = (c.first == "api" && c.count == 2) || (c.first == "apis" && c.count == 3)
            if !isGV || served.contains(k) { paths[k] = v }
        }
        for k in builtinKeys {
            if let d = builtinDocument(k) {
                paths[k] = ["serverRelativeURL": .string("/openapi/v3/\(k)?hash=\(d.hash)")]
            }
        }
        return paths
    }()

    // MARK: the world's SimOpenAPI

    private final class WeakWorld {
        weak var world: SimWorld?
        init(_ w: SimWorld) { world = w }
    }
    private static let registry = LockedBox<[ObjectIdentifier: (world: WeakWorld, api: SimOpenAPI)]>([:])

    /// The world's OpenAPI (one per world, created on first use).
    static func of(_ world: SimWorld) -> SimOpenAPI {
        registry.withLock { r in
            let id = ObjectIdentifier(world)
            if let e = r[id], e.world.world === world { return e.api }
            r = r.filter { $0.value.world.world != nil }
            let api = SimOpenAPI(world: world)
            r[id] = (WeakWorld(world), api)
            return api
        }
    }
}

extension SimWorld {
    /// This world's OpenAPI v3 documents (generated CRD documents are cached here). Kept in a
    /// side table keyed by the world, as World.swift's stored properties are not this file's.
    public var openAPI: SimOpenAPI { SimOpenAPI.of(self) }
}

// MARK: - generation

/// Builds OpenAPI v3 documents the way the apiextensions server builds a CRD's
/// (k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder), from the recorded
/// argoproj.io/v1alpha1 document: its ApplicationSet paths become templates (kind, plural,
/// group, version, operation-id prefix, tag, article and "Namespaced" turned into
/// placeholders), its meta.v1 schemas are copied as they are.
enum Generator {
    static let templateRecording = "openapi/get-openapi-v3-apis-argoproj.io-v1alpha1.json.gz"
    static let appsRecording = "openapi/get-openapi-v3-apis-apps-v1.json.gz"

    struct Template {
        /// Path items: /R (all namespaces), .../R, .../R/{name}, .../R/{name}/status, .../R/{name}/scale.
        var allNamespaces, collection, item, status, scale: JSON
        /// A kind's list schema (ApplicationList), and the apiVersion/kind/metadata properties.
        var list: JSON
        var apiVersion, kind, metadata: JSON
        /// io.k8s.apimachinery.* schemas; io.k8s.api.autoscaling.v1.Scale* (for /scale).
        var meta: [String: JSON]
        var scaleSchemas: [String: JSON]
        /// The built-in documents' extras: the "/apis/G/V/" path, its schemas, securitySchemes.
        var resourcesPath: JSON
        var builtinSchemas: [String: JSON]
        var securitySchemes: JSON
    }

    static let template: Template = {
        do { return try makeTemplate() } catch {
            fatalError("the OpenAPI generator's template is the recorded \(templateRecording): \(error)")
        }
    }()

    static func makeTemplate() throws -> Template {
        let doc = try RealAPI.responseBody(templateRecording)
        let apps = try RealAPI.responseBody(appsRecording)
        guard let paths = doc["paths"]?.object, let schemas = doc[path: "components", "schemas"]?.object,
            let appsSchemas = apps[path: "components", "schemas"]?.object
        else { throw SimError("no paths or schemas") }
        let root = "/apis/argoproj.io/v1alpha1"
        func path(_ p: String) throws -> JSON {
            guard let item = paths[root + p] else { throw SimError("the template has no path \(root + p)") }
            return placeholders(item)
        }
        let status = try path("/namespaces/{namespace}/applicationsets/{name}/status")
        let scale = mapStrings(status) {
            $0.replacingOccurrences(of: "{KIND}Status", with: "{KIND}Scale").replacingOccurrences(
                of: "status of", with: "scale of"
            )
            .replacingOccurrences(
                of: "#/components/schemas/{DEF}", with: "#/components/schemas/io.k8s.api.autoscaling.v1.Scale")
        }
        guard let app = schemas["io.argoproj.v1alpha1.Application"],
            let list = schemas["io.argoproj.v1alpha1.ApplicationList"],
            let apiVersion = app[path: "properties", "apiVersion"], let kind = app[path: "properties", "kind"],
            let metadata = app[path: "properties", "metadata"], let resources = apps[path: "paths", "/apis/apps/v1/"]
        else {
            throw SimError("the template lacks Application, ApplicationList or /apis/apps/v1/")
        }
        return Template(
            allNamespaces: try path("/applicationsets"),
            collection: try path("/namespaces/{namespace}/applicationsets"),
            item: try path("/namespaces/{namespace}/applicationsets/{name}"), status: status, scale: scale,
            list: list, apiVersion: apiVersion, kind: kind, metadata: metadata,
            meta: schemas.filter { $0.key.hasPrefix("io.k8s.apimachinery.") },
            scaleSchemas: appsSchemas.filter { $0.key.hasPrefix("io.k8s.api.autoscaling.v1.Scale") },
            resourcesPath: mapStrings(resources) {
                $0.replacingOccurrences(of: "AppsV1", with: "{OP}").replacingOccurrences(of: "apps_v1", with: "{TAG}")
            },
            builtinSchemas: appsSchemas.filter { $0.key.hasPrefix("io.k8s.apimachinery.pkg.apis.meta.v1.APIResource") },
            securitySchemes: apps[path: "components", "securitySchemes"] ?? [:])
    }

    /// The template's names as placeholders (most specific first).
    static func placeholders(_ j: JSON) -> JSON {
        mapStrings(j) { s in
            var s = s
            for (from, to) in [
                ("io.argoproj.v1alpha1.ApplicationSetList", "{LISTDEF}"),
                ("io.argoproj.v1alpha1.ApplicationSet", "{DEF}"),
                ("ArgoprojIoV1alpha1", "{OP}"), ("argoprojIo_v1alpha1", "{TAG}"), ("Namespaced", "{NS}"),
                ("an ApplicationSet", "{A}{KIND}"), ("ApplicationSet", "{KIND}"), ("argoproj.io", "{GROUP}"),
                ("v1alpha1", "{VERSION}")
            ] {
                s = s.replacingOccurrences(of: from, with: to)
            }
            return s
        }
    }

    static func mapStrings(_ j: JSON, _ f: (String) -> String) -> JSON {
        switch j {
        case .string(let s): return .string(f(s))
        case .array(let a): return .array(a.map { mapStrings($0, f) })
        case .object(let o): return .object(o.mapValues { mapStrings($0, f) })
        default: return j
        }
    }

    // MARK: names, as the API server derives them

    /// k8s.io/apiserver/pkg/endpoints/openapi.ToValidOperationID: letters (and digits after
    /// the first character) kept, the letter after anything else capitalized.
    static func validOperationID(_ s: String, capitalizeFirst: Bool) -> String {
        var out = ""
        var capitalize = capitalizeFirst
        for (i, ch) in s.enumerated() {
            if ch.isLetter || ch == "_" || (i != 0 && ch.isNumber) {
                out += capitalize ? ch.uppercased() : String(ch)
                capitalize = false
            } else {
                capitalize = true
            }
        }
        return out
    }

    /// The operation-id infix ("ArgoprojIoV1alpha1", "AppsV1", "CoreV1") and the tag
    /// ("argoprojIo_v1alpha1"): GetOperationIDAndTags trims ".k8s.io" and calls the core group "core".
    static func names(group: String, version: String) -> (op: String, tag: String) {
        let g = group.isEmpty ? "core" : (group.hasSuffix(".k8s.io") ? String(group.dropLast(".k8s.io".count)) : group)
        return (
            validOperationID(g, capitalizeFirst: true) + validOperationID(version, capitalizeFirst: true),
            validOperationID(g, capitalizeFirst: false) + "_" + validOperationID(version, capitalizeFirst: false)
        )
    }

    /// GetArticleForNoun: "an" before a vowel, none for a plural ("Endpoints").
    static func article(_ kind: String) -> String {
        if kind.hasSuffix("s") && !kind.hasSuffix("ss") { return "" }
        return "aeiou".contains((kind.first ?? "x").lowercased()) ? "an " : "a "
    }

    /// A CRD's schema names: the group reversed ("io.argoproj.v1alpha1.Application").
    static func crdDefinitionPrefix(group: String, version: String) -> String {
        (group.contains(".") ? group.split(separator: ".").reversed().joined(separator: ".") : group) + "." + version
    }

    /// A built-in type's schema names ("io.k8s.api.rbac.v1.Role").
    static func builtinDefinitionPrefix(group: String, version: String) -> String {
        switch group {
        case "": return "io.k8s.api.core.\(version)"
        case "apiregistration.k8s.io": return "io.k8s.kube-aggregator.pkg.apis.apiregistration.\(version)"
        case "apiextensions.k8s.io": return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.\(version)"
        default: return "io.k8s.api.\(group.split(separator: ".").first ?? "").\(version)"
        }
    }

    // MARK: documents

    /// What one resource contributes to a document.
    struct Resource {
        var plural, kind, listKind: String
        var namespaced: Bool
        var verbs: Set<String>
        var subresources: [String: Set<String>]  // status / scale -> verbs
        /// The kind's schema before apiVersion/kind/metadata are set.
        var schema: JSON
    }

    /// A CRD group/version's document (every CRD serving it).
    static func crdDocument(group: String, version: String, crds: [JSON]) -> JSON {
        let resources: [Resource] = crds.compactMap { crd in
            guard let names = crd[path: "spec", "names"], let kind = names["kind"]?.string,
                let plural = names["plural"]?.string,
                let v = (crd[path: "spec", "versions"]?.array ?? []).first(where: {
                    $0["name"]?.string == version && $0["served"]?.bool != false
                })
            else { return nil }
            var subs: [String: Set<String>] = [:]
            for s in ["status", "scale"] where v[path: "subresources", s] != nil {
                subs[s] = ["get", "update", "patch"]
            }
            return Resource(
                plural: plural, kind: kind, listKind: names["listKind"]?.string ?? kind + "List",
                namespaced: crd[path: "spec", "scope"]?.string != "Cluster", verbs: Set(SimType.crdVerbs),
                subresources: subs,
                schema: v[path: "schema", "openAPIV3Schema"] ?? [
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true
                ])
        }
        return document(
            group: group, version: version, resources: resources,
            prefix: crdDefinitionPrefix(group: group, version: version),
            info: ["title": "Kubernetes CRD Swagger", "version": "v0.1.0"], builtin: false)
    }

    /// A built-in group/version without a recording: the type table's resources, permissive schemas.
    static func builtinDocument(group: String, version: String, types: [SimType]) -> JSON {
        let resources = types.map { t in
            Resource(
                plural: t.ref.resource, kind: t.ref.kind, listKind: t.ref.kind + "List", namespaced: t.ref.namespaced,
                verbs: Set(t.verbs),
                subresources: Dictionary(
                    t.subresources.filter { ["status", "scale"].contains($0.name) }.map { ($0.name, Set($0.verbs)) }
                ) { a, _ in a },
                schema: ["type": "object", "x-kubernetes-preserve-unknown-fields": true])
        }
        return document(
            group: group, version: version, resources: resources,
            prefix: builtinDefinitionPrefix(group: group, version: version),
            info: ["title": "Kubernetes", "version": "1.36"], builtin: true)
    }

    static func document(
        group: String, version: String, resources: [Resource], prefix: String, info: JSON, builtin: Bool
    ) -> JSON {
        let t = template
        let (op, tag) = names(group: group, version: version)
        let root = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        var paths: [String: JSON] = [:]
        var schemas = t.meta
        for r in resources.sorted(by: { $0.plural < $1.plural }) {
            let def = "\(prefix).\(r.kind)", listDef = "\(prefix).\(r.listKind)"
            // {LISTDEF} before {DEF}: the one contains the other.
            let vars = [
                ("{LISTDEF}", listDef), ("{DEF}", def), ("{OP}", op), ("{TAG}", tag),
                ("{NS}", r.namespaced ? "Namespaced" : ""),
                ("{A}", article(r.kind)), ("{KIND}", r.kind), ("{GROUP}", group), ("{VERSION}", version)
            ]
            func add(_ path: String, _ template: JSON, _ verbs: [String: String], allowed: Set<String>) {
                var item = mapStrings(template) { s in
                    guard s.contains("{") else { return s }
                    var s = s
                    for (k, v) in vars { s = s.replacingOccurrences(of: k, with: v) }
                    return s
                }
                for (method, verb) in verbs where !allowed.contains(verb) { item[method] = nil }
                guard verbs.keys.contains(where: { item[$0] != nil }) else { return }
                if !r.namespaced, let params = item["parameters"]?.array {
                    item["parameters"] = .array(
                        params.filter { $0["name"]?.string != "namespace" || $0["in"]?.string != "path" })
                }
                paths[path] = item
            }
            let base = root + (r.namespaced ? "/namespaces/{namespace}" : "") + "/" + r.plural
            if r.namespaced { add(root + "/" + r.plural, t.allNamespaces, ["get": "list"], allowed: r.verbs) }
            add(base, t.collection, ["get": "list", "post": "create", "delete": "deletecollection"], allowed: r.verbs)
            add(
                base + "/{name}", t.item, ["get": "get", "put": "update", "patch": "patch", "delete": "delete"],
                allowed: r.verbs)
            for (sub, tmpl) in [("status", t.status), ("scale", t.scale)] {
                guard let verbs = r.subresources[sub] else { continue }
                add(base + "/{name}/" + sub, tmpl, ["get": "get", "put": "update", "patch": "patch"], allowed: verbs)
                if sub == "scale" { schemas.merge(t.scaleSchemas) { a, _ in a } }
            }
            schemas[def] = kindSchema(r.schema, group: group, version: version, kind: r.kind)
            var list = t.list
            list["description"] = .string("\(r.listKind) is a list of \(r.kind)")
            list.set(
                ["properties", "items", "description"],
                to: .string(
                    """
                    List of \(r.plural). More info: \
                    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md
                    """
                ))
            list.set(["properties", "items", "items"], to: ["$ref": .string("#/components/schemas/\(def)")])
            list["x-kubernetes-group-version-kind"] = [
                ["group": .string(group), "kind": .string(r.listKind), "version": .string(version)]
            ]
            schemas[listDef] = list
        }
        var components: JSON = ["schemas": .object(schemas)]
        if builtin {
            paths[root + "/"] = mapStrings(t.resourcesPath) {
                $0.replacingOccurrences(of: "{OP}", with: op).replacingOccurrences(of: "{TAG}", with: tag)
            }
            schemas.merge(t.builtinSchemas) { a, _ in a }
            components = ["schemas": .object(schemas), "securitySchemes": t.securitySchemes]
        }
        return ["openapi": "3.0.0", "info": info, "paths": .object(paths), "components": components]
    }

    /// A kind's schema as the apiextensions builder publishes it: the CRD's schema with the
    /// standard apiVersion, kind and metadata (a reference to ObjectMeta), the same for every
    /// embedded resource, and `x-kubernetes-group-version-kind`.
    static func kindSchema(_ schema: JSON, group: String, version: String, kind: String) -> JSON {
        var s = embedded(schema)
        s.set(["properties", "apiVersion"], to: template.apiVersion)
        s.set(["properties", "kind"], to: template.kind)
        s.set(["properties", "metadata"], to: template.metadata)
        s["x-kubernetes-group-version-kind"] = [
            ["group": .string(group), "kind": .string(kind), "version": .string(version)]
        ]
        return s
    }

    /// addEmbeddedProperties: `x-kubernetes-embedded-resource` nodes get apiVersion, kind and
    /// metadata, and require apiVersion and kind.
    static func embedded(_ node: JSON) -> JSON {
        guard case .object(var o) = node else { return node }
        if case .object(let props)? = o["properties"] { o["properties"] = .object(props.mapValues(embedded)) }
        if let items = o["items"], items.object != nil { o["items"] = embedded(items) }
        if let ap = o["additionalProperties"], ap.object != nil { o["additionalProperties"] = embedded(ap) }
        guard o["x-kubernetes-embedded-resource"]?.bool == true else { return .object(o) }
        var props = o["properties"]?.object ?? [:]
        props["apiVersion"] = [
            "description":
                """
            apiVersion defines the versioned schema of this representation of an object. Servers should \
            convert recognized schemas to the latest internal value, and may reject unrecognized values. More \
            info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources
            """,
            "type": "string"
        ]
        props["kind"] = [
            "description":
                """
            kind is a string value representing the type of this object. Servers may infer this from the \
            endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: \
            https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds
            """,
            "type": "string"
        ]
        props["metadata"] = template.metadata
        o["properties"] = .object(props)
        var required = o["required"]?.array ?? []
        for k in ["kind", "apiVersion"] where !required.contains(.string(k)) { required.append(.string(k)) }
        o["required"] = .array(required)
        return .object(o)
    }
}
