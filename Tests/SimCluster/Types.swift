import ClusterDrivers
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

    public init(code: Int, reason: String, message: String, noKindMatch: Bool = false) {
        self.code = code
        self.reason = reason
        self.message = message
        self.noKindMatch = noKindMatch
    }

    public static func notFound(_ type: String, _ name: String) -> SimAPIError {
        SimAPIError(code: 404, reason: "NotFound", message: "\(type) \"\(name)\" not found")
    }
    public static func alreadyExists(_ type: String, _ name: String) -> SimAPIError {
        SimAPIError(code: 409, reason: "AlreadyExists", message: "\(type) \"\(name)\" already exists")
    }
    public static func invalid(_ message: String) -> SimAPIError { SimAPIError(code: 422, reason: "Invalid", message: message) }
    public static func badRequest(_ message: String) -> SimAPIError { SimAPIError(code: 400, reason: "BadRequest", message: message) }
    public static func internalError(_ message: String) -> SimAPIError {
        SimAPIError(code: 500, reason: "InternalError", message: "Internal error occurred: " + message)
    }
    public static func noMatch(kind: String, apiVersion: String) -> SimAPIError {
        SimAPIError(code: 404, reason: "NotFound", message: "no matches for kind \"\(kind)\" in version \"\(apiVersion)\"", noKindMatch: true)
    }

    /// The `Status` object the API server returns.
    public var status: JSON {
        ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
         "message": .string(message), "reason": .string(reason), "code": .int(Int64(code))]
    }

    public var description: String { "\(code) \(reason): \(message)" }
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
        self.init(group: ref.group, resource: ref.resource, namespace: ref.namespaced ? (namespace ?? "") : "", name: name)
    }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.group, a.resource, a.namespace, a.name) < (b.group, b.resource, b.namespace, b.name)
    }
    public var description: String {
        let r = group.isEmpty ? resource : "\(resource).\(group)"
        return namespace.isEmpty ? "\(r)/\(name)" : "\(r)/\(namespace)/\(name)"
    }
}

enum BuiltinTypes {
    static func t(_ g: String, _ v: String, _ r: String, _ k: String, _ ns: Bool, _ short: [String] = [], categories: [String] = []) -> SimType {
        SimType(ref: ResourceRef(group: g, version: v, resource: r, kind: k, namespaced: ns), versions: [v],
                singular: k.lowercased(), shortNames: short, categories: categories)
    }
    static let all: [SimType] = [
        t("", "v1", "namespaces", "Namespace", false, ["ns"]),
        t("", "v1", "nodes", "Node", false, ["no"]),
        t("", "v1", "pods", "Pod", true, ["po"], categories: ["all"]),
        t("", "v1", "services", "Service", true, ["svc"], categories: ["all"]),
        t("", "v1", "secrets", "Secret", true),
        t("", "v1", "configmaps", "ConfigMap", true, ["cm"]),
        t("", "v1", "events", "Event", true, ["ev"]),
        t("", "v1", "serviceaccounts", "ServiceAccount", true, ["sa"]),
        t("", "v1", "endpoints", "Endpoints", true, ["ep"]),
        t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, ["pvc"]),
        t("", "v1", "persistentvolumes", "PersistentVolume", false, ["pv"]),
        t("", "v1", "limitranges", "LimitRange", true, ["limits"]),
        t("", "v1", "resourcequotas", "ResourceQuota", true, ["quota"]),
        t("apps", "v1", "deployments", "Deployment", true, ["deploy"], categories: ["all"]),
        t("apps", "v1", "statefulsets", "StatefulSet", true, ["sts"], categories: ["all"]),
        t("apps", "v1", "daemonsets", "DaemonSet", true, ["ds"], categories: ["all"]),
        t("apps", "v1", "replicasets", "ReplicaSet", true, ["rs"], categories: ["all"]),
        t("batch", "v1", "jobs", "Job", true, [], categories: ["all"]),
        t("batch", "v1", "cronjobs", "CronJob", true, ["cj"], categories: ["all"]),
        t("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
        t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
        t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
        t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
        t("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true),
        t("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, ["crd", "crds"]),
        t("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false),
        t("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false),
        t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, ["netpol"]),
        t("networking.k8s.io", "v1", "ingresses", "Ingress", true, ["ing"]),
        t("networking.k8s.io", "v1", "ingressclasses", "IngressClass", false),
        t("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, ["hpa"], categories: ["all"]),
        t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, ["pdb"]),
        t("coordination.k8s.io", "v1", "leases", "Lease", true),
        t("storage.k8s.io", "v1", "storageclasses", "StorageClass", false, ["sc"]),
        t("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false, ["pc"]),
        t("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
    ]
}

/// Time formatting as the API server writes it (RFC 3339, seconds precision, UTC).
public func rfc3339(_ date: Date) -> String { RFC3339.format(date) }

public func parseRFC3339(_ s: String) -> Date? { RFC3339.parse(s) }
