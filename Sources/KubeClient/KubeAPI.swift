import AphexCore
import Foundation

/// A Kubernetes resource type as the API addresses it.
public struct ResourceRef: Hashable, Sendable, CustomStringConvertible {
    /// "" for the core group.
    public var group: String
    public var version: String
    /// Lower-case plural, as in the URL path.
    public var resource: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, kind: String, namespaced: Bool = true) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    /// /api/v1/namespaces/NS/pods[/NAME] or /apis/GROUP/VERSION/...
    public func path(namespace: String? = nil, name: String? = nil) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { p += "/namespaces/\(namespace)" }
        p += "/\(resource)"
        if let name { p += "/\(name)" }
        return p
    }

    public static let namespaces = ResourceRef(
        group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false)
    public static let nodes = ResourceRef(group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false)
    public static let pods = ResourceRef(group: "", version: "v1", resource: "pods", kind: "Pod")
    public static let services = ResourceRef(group: "", version: "v1", resource: "services", kind: "Service")
    public static let secrets = ResourceRef(group: "", version: "v1", resource: "secrets", kind: "Secret")
    public static let configMaps = ResourceRef(group: "", version: "v1", resource: "configmaps", kind: "ConfigMap")
    public static let events = ResourceRef(group: "", version: "v1", resource: "events", kind: "Event")
    public static let deployments = ResourceRef(
        group: "apps", version: "v1", resource: "deployments", kind: "Deployment")
    public static let statefulSets = ResourceRef(
        group: "apps", version: "v1", resource: "statefulsets", kind: "StatefulSet")
    public static let daemonSets = ResourceRef(group: "apps", version: "v1", resource: "daemonsets", kind: "DaemonSet")
    public static let jobs = ResourceRef(group: "batch", version: "v1", resource: "jobs", kind: "Job")
    public static let endpointSlices = ResourceRef(
        group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice")
    public static let crds = ResourceRef(
        group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions",
        kind: "CustomResourceDefinition", namespaced: false)
    public static let validatingWebhooks = ResourceRef(
        group: "admissionregistration.k8s.io", version: "v1", resource: "validatingwebhookconfigurations",
        kind: "ValidatingWebhookConfiguration", namespaced: false)
    public static let mutatingWebhooks = ResourceRef(
        group: "admissionregistration.k8s.io", version: "v1", resource: "mutatingwebhookconfigurations",
        kind: "MutatingWebhookConfiguration", namespaced: false)
    public static let applications = ResourceRef(
        group: "argoproj.io", version: "v1alpha1", resource: "applications", kind: "Application")
    public static let issuers = ResourceRef(
        group: "cert-manager.io", version: "v1", resource: "issuers", kind: "Issuer")
    public static let certificates = ResourceRef(
        group: "cert-manager.io", version: "v1", resource: "certificates", kind: "Certificate")
}

/// Typed API failures. `status` errors carry the API server's Status message.
public enum KubeAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    case unauthorized(String)  // 401
    case forbidden(String)  // 403
    case notFound(String)  // 404
    case conflict(String)  // 409
    case gone(String)  // 410 (watch resourceVersion expired)
    case invalid(String)  // 422 / 400
    case server(status: Int, message: String)  // 5xx, 429, other
    case transport(TransportError)
    case decoding(String)
    /// This API client cannot do what was asked (the `kubectl --raw` fallback cannot send
    /// request headers); the message says what and why.
    case unsupported(String)

    public var description: String {
        switch self {
        case .unauthorized(let m): return "unauthorized (401): \(m)"
        case .forbidden(let m): return "forbidden (403): \(m)"
        case .notFound(let m): return "not found (404): \(m)"
        case .conflict(let m): return "conflict (409): \(m)"
        case .gone(let m): return "gone (410): \(m)"
        case .invalid(let m): return "invalid: \(m)"
        case .server(let s, let m): return "server error (\(s)): \(m)"
        case .transport(let t): return t.description
        case .decoding(let m): return "could not decode the API response: \(m)"
        case .unsupported(let m): return "not supported: \(m)"
        }
    }

    /// Worth retrying: 5xx, 429, transport failures.
    public var isTransient: Bool {
        switch self {
        case .server, .transport: return true
        default: return false
        }
    }
}

public enum WatchEvent: Sendable, Equatable {
    case added(JSON)
    case modified(JSON)
    case deleted(JSON)
    case bookmark(resourceVersion: String)
}

/// Reads (and the few writes aphex does over HTTP) against the Kubernetes API.
public protocol KubeAPI: Sendable {
    /// GET one object; nil when it does not exist (404).
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON?
    /// LIST; returns the List object (items, metadata.resourceVersion).
    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    /// Any request by path (service proxy, discovery, dry-run creates, merge patches), with
    /// extra request headers (e.g. a Bearer token for a service behind the API server's proxy;
    /// header values are never logged or put in errors). Non-2xx is returned, not thrown. A
    /// client that cannot send a header throws `KubeAPIError.unsupported`: it never drops one.
    func request(
        _ method: String, path: String, body: [UInt8]?, contentType: String?,
        headers: [String: String]
    ) async throws -> HTTPResponse
    /// WATCH from a resourceVersion; the stream ends on expiry (410) or server close — callers re-list.
    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error>
}

extension ResourceRef {
    /// A LIST body with every item's `apiVersion` and `kind` set: the API server leaves them out
    /// of the items of built-in (typed) lists, and aphex's rules read `kind`.
    public func typedItems(_ list: JSON) -> JSON {
        guard let items = list["items"]?.array, items.contains(where: { $0["kind"] == nil }) else { return list }
        var out = list
        out["items"] = .array(
            items.map { item in
                var o = item
                if o["kind"] == nil { o["kind"] = .string(kind) }
                if o["apiVersion"] == nil { o["apiVersion"] = .string(apiVersion) }
                return o
            })
        return out
    }
}

extension KubeAPI {
    /// A request without extra headers.
    public func request(_ method: String, path: String, body: [UInt8]?, contentType: String?) async throws
        -> HTTPResponse
    {
        try await request(method, path: path, body: body, contentType: contentType, headers: [:])
    }

    public func list(_ ref: ResourceRef, namespace: String? = nil, labelSelector: String? = nil) async throws -> [JSON]
    {
        try await list(ref, namespace: namespace, labelSelector: labelSelector, fieldSelector: nil).items
    }
}
