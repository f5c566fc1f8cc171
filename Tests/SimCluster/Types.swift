import AphexCore
import KubeClient
import Foundation

/// An API failure as the real API server reports it (a `Status` object).
public struct SimAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    /// Status reason: NotFound, AlreadyExists, Conflict, Invalid, BadRequest, InternalError,
    /// ServiceUnavailable, Forbidden, MethodNotAllowed.
    public var reason: String
    public var message: String
    /// Set for "no matches for kind" (kubectl's RESTMapper error; 404 page not found over HTTP).
    public var noKindMatch: Bool = false
    /// `details` of the Status (name, group, kind, uid, causes), as the API server sets it.
    public var details: JSON? = nil
    /// `metadata` of the Status (`continue` of an expired continue token); empty otherwise.
    public var statusMetadata: JSON? = nil

    public init(code: Int, reason: String, message: String, noKindMatch: Bool = false) {
        self.code = code
        self.reason = reason
        self.message = message
        self.noKindMatch = noKindMatch
    }

    /// `details` naming an object: `{name, group (non-core), kind: the plural resource}`, from a
    /// qualified resource name ("deployments.apps").
    public static func objectDetails(_ qualifiedResource: String, _ name: String) -> JSON {
        var d: JSON = ["name": .string(name)]
        if let dot = qualifiedResource.firstIndex(of: ".") {
            d["kind"] = .string(String(qualifiedResource[..<dot]))
            d["group"] = .string(String(qualifiedResource[qualifiedResource.index(after: dot)...]))
        } else {
            d["kind"] = .string(qualifiedResource)
        }
        return d
    }

    public static func notFound(_ type: String, _ name: String) -> SimAPIError {
        var e = SimAPIError(code: 404, reason: "NotFound", message: "\(type) \"\(name)\" not found")
        e.details = objectDetails(type, name)
        return e
    }
    public static func alreadyExists(_ type: String, _ name: String) -> SimAPIError {
        var e = SimAPIError(code: 409, reason: "AlreadyExists", message: "\(type) \"\(name)\" already exists")
        e.details = objectDetails(type, name)
        return e
    }
    /// A served group/version without such a resource (`/api/v1/namespaces/default/foos`).
    public static let resourceNotFound: SimAPIError = {
        var e = SimAPIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        e.details = [:]
        return e
    }()
    public static func invalid(_ message: String) -> SimAPIError {
        SimAPIError(code: 422, reason: "Invalid", message: message)
    }
    public static func badRequest(_ message: String) -> SimAPIError {
        SimAPIError(code: 400, reason: "BadRequest", message: message)
    }
    public static func internalError(_ message: String) -> SimAPIError {
        SimAPIError(code: 500, reason: "InternalError", message: "Internal error occurred: " + message)
    }
    public static func noMatch(kind: String, apiVersion: String) -> SimAPIError {
        SimAPIError(
            code: 404, reason: "NotFound", message: "no matches for kind \"\(kind)\" in version \"\(apiVersion)\"",
            noKindMatch: true)
    }

    /// The `Status` object the API server returns.
    public var status: JSON {
        var s: JSON = [
            "kind": "Status", "apiVersion": "v1", "metadata": statusMetadata ?? [:], "status": "Failure",
            "message": .string(message), "code": .int(Int64(code))
        ]
        if !reason.isEmpty { s["reason"] = .string(reason) }
        if let details { s["details"] = details }
        return s
    }

    public var description: String { "\(code) \(reason): \(message)" }
}

/// A subresource as discovery lists it (`status`, `scale`, `log`, ...).
public struct SimSubresource: Sendable, Equatable {
    public var name: String
    /// The response kind. `group`/`version` are empty when they are the resource's own, as
    /// built-in aggregated discovery writes them (`scale` says autoscaling/v1 Scale).
    public var kind: String
    public var group: String
    public var version: String
    public var verbs: [String]

    public init(name: String, kind: String, group: String = "", version: String = "", verbs: [String]) {
        self.name = name
        self.kind = kind
        self.group = group
        self.version = version
        self.verbs = verbs
    }
}

/// A type the simulated API server serves.
public struct SimType: Sendable, Equatable {
    public var ref: ResourceRef
    /// All served versions (the ref carries the preferred one).
    public var versions: [String]
    public var singular: String
    public var shortNames: [String]
    public var categories: [String] = []
    /// Name of the CRD that defines it (nil for built-in types).
    public var crdName: String?
    /// Discovery verbs, in the order the API server lists them (built-ins sorted; CRDs
    /// `delete, deletecollection, get, list, patch, create, update, watch`).
    public var verbs: [String] = SimType.crdVerbs
    public var subresources: [SimSubresource] = []

    /// The verbs of every custom resource, in the apiextensions server's order.
    public static let crdVerbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]

    /// "deployments.apps" / "pods" — as the API names the resource in messages.
    public var qualifiedName: String { ref.group.isEmpty ? ref.resource : "\(ref.resource).\(ref.group)" }
    /// "deployment.apps" / "pod" — kubectl's `-o name` prefix.
    public var kubectlName: String {
        let k = ref.kind.lowercased()
        return ref.group.isEmpty ? k : "\(k).\(ref.group)"
    }
}

/// Identity of a stored object (version-independent, like etcd's key).
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var group: String
    public var resource: String
    public var namespace: String
    public var name: String

    public init(group: String, resource: String, namespace: String, name: String) {
        self.group = group
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }
    public init(_ ref: ResourceRef, namespace: String?, name: String) {
        self.init(
            group: ref.group, resource: ref.resource, namespace: ref.namespaced ? (namespace ?? "") : "", name: name)
    }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.group, a.resource, a.namespace, a.name) < (b.group, b.resource, b.namespace, b.name)
    }
    public var description: String {
        let r = group.isEmpty ? resource : "\(resource).\(group)"
        return namespace.isEmpty ? "\(r)/\(name)" : "\(r)/\(namespace)/\(name)"
    }
}

/// The built-in resources: every group/version/resource of the recorded aggregated discovery
/// of a real kube-apiserver v1.36 (../shared/realapi/discovery/get-api[s]-aggregated.json), so
/// discovery, kubectl's REST mapping and the OpenAPI documents agree with a real server.
enum BuiltinTypes {
    static let coreRecording = "discovery/get-api-aggregated.json"
    static let groupsRecording = "discovery/get-apis-aggregated.json"

    /// The recorded groups in the server's priority order, each with its versions in order
    /// ("" is the core group): aggregated and legacy discovery list them so.
    static var groups: [(name: String, versions: [String])] { table.groups }
    static var all: [SimType] { table.types }

    private static let table: (types: [SimType], groups: [(name: String, versions: [String])]) = {
        do {
            return try parse(core: RealAPI.responseBody(coreRecording), groups: RealAPI.responseBody(groupsRecording))
        } catch {
            fatalError("the simulator's built-in types come from the recorded discovery: \(error)")
        }
    }()

    /// Types from APIGroupDiscoveryList bodies. A resource served in several versions
    /// (autoscaling v2 and v1) is one type whose preferred version is the first listed.
    static func parse(core: JSON, groups: JSON) throws -> (
        types: [SimType], groups: [(name: String, versions: [String])]
    ) {
        var types: [String: SimType] = [:]
        var order: [String] = []
        var groupList: [(name: String, versions: [String])] = []
        for (doc, isCore) in [(core, true), (groups, false)] {
            for item in doc["items"]?.array ?? [] {
                let group = isCore ? "" : (item[path: "metadata", "name"]?.string ?? "")
                var versions: [String] = []
                for v in item["versions"]?.array ?? [] {
                    guard let version = v["version"]?.string else { continue }
                    versions.append(version)
                    for r in v["resources"]?.array ?? [] {
                        guard let resource = r["resource"]?.string, let kind = r[path: "responseKind", "kind"]?.string
                        else {
                            throw SimError("a recorded discovery resource in \(group)/\(version) has no name or kind")
                        }
                        let key = "\(group)/\(resource)"
                        if types[key] != nil {
                            types[key]!.versions.append(version)
                            continue
                        }
                        let strings = { (k: String) in r[k]?.array?.compactMap(\.string) ?? [] }
                        let subs = (r["subresources"]?.array ?? []).map { s in
                            SimSubresource(
                                name: s["subresource"]?.string ?? "",
                                kind: s[path: "responseKind", "kind"]?.string ?? "",
                                group: s[path: "responseKind", "group"]?.string ?? "",
                                version: s[path: "responseKind", "version"]?.string ?? "",
                                verbs: s["verbs"]?.array?.compactMap(\.string) ?? [])
                        }
                        types[key] = SimType(
                            ref: ResourceRef(
                                group: group, version: version, resource: resource, kind: kind,
                                namespaced: r["scope"]?.string == "Namespaced"),
                            versions: [version], singular: r["singularResource"]?.string ?? kind.lowercased(),
                            shortNames: strings("shortNames"), categories: strings("categories"), crdName: nil,
                            verbs: strings("verbs"), subresources: subs)
                        order.append(key)
                    }
                }
                groupList.append((group, versions))
            }
        }
        return (order.map { types[$0]! }, groupList)
    }
}

/// Time formatting as the API server writes it (RFC 3339, seconds precision, UTC).
public func rfc3339(_ date: Date) -> String { RFC3339.format(date) }

public func parseRFC3339(_ s: String) -> Date? { RFC3339.parse(s) }
