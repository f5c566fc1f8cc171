import AphexCore
import KubeClient
import Foundation

/// Response bodies as the API server writes them. Go serializes typed objects in struct-field
/// order (a built-in object: kind, apiVersion, metadata, ...; a Status: kind, apiVersion,
/// metadata, status, message, reason, details, code) and unstructured ones (custom resources
/// and their lists) with sorted keys. `JSON.serialized()` sorts every object; these writers put
/// the recorded leading keys first where the order is part of what ../shared/realapi shows.
public enum SimWire {
    /// Writes `value` with `leading` keys first (in that order, when present), then the rest
    /// sorted; `child` gives the leading keys of a member (nil: all sorted).
    static func ordered(_ value: JSON, leading: [String], child: (String) -> [String]? = { _ in nil }) -> [UInt8] {
        guard case .object(let o) = value else { return value.serializedBytes() }
        var out: [UInt8] = [123]
        var first = true
        func member(_ k: String, _ v: JSON) {
            if !first { out.append(44) }
            first = false
            out += JSON.string(k).serializedBytes()
            out.append(58)
            if let lead = child(k), case .object = v {
                out += ordered(v, leading: lead)
            } else {
                out += v.serializedBytes()
            }
        }
        for k in leading { if let v = o[k] { member(k, v) } }
        let lead = Set(leading)
        for k in o.keys.sorted() where !lead.contains(k) { member(k, o[k]!) }
        out.append(125)
        return out
    }

    static let statusKeys = ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    static let detailsKeys = ["name", "group", "kind", "uid", "causes", "retryAfterSeconds"]
    static let objectKeys = ["kind", "apiVersion", "metadata"]
    static let metadataKeys = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields"
    ]

    /// A `Status` body in the API server's key order.
    public static func status(_ s: JSON) -> [UInt8] {
        ordered(s, leading: statusKeys) { $0 == "details" ? detailsKeys : nil }
    }

    /// A built-in object (kind, apiVersion, metadata first; metadata in ObjectMeta order) or a
    /// custom resource (every key sorted, as the API server writes unstructured objects).
    public static func object(_ o: JSON, builtin: Bool) -> [UInt8] {
        guard builtin else { return o.serializedBytes() }
        return ordered(o, leading: objectKeys) { $0 == "metadata" ? metadataKeys : nil }
    }

    /// A built-in list: kind, apiVersion, metadata, items (each item in object order); a
    /// custom-resource list: sorted keys throughout.
    public static func list(_ l: JSON, builtin: Bool) -> [UInt8] {
        guard builtin, case .object(let o) = l else { return l.serializedBytes() }
        var out: [UInt8] = Array(#"{"kind":"#.utf8) + (o["kind"] ?? .null).serializedBytes()
        out += Array(#","apiVersion":"#.utf8) + (o["apiVersion"] ?? .null).serializedBytes()
        out +=
            Array(#","metadata":"#.utf8)
            + ordered(o["metadata"] ?? [:], leading: ["selfLink", "resourceVersion", "continue", "remainingItemCount"])
        out += Array(#","items":["#.utf8)
        for (i, item) in (o["items"]?.array ?? []).enumerated() {
            if i > 0 { out.append(44) }
            out += object(item, builtin: true)
        }
        out += Array("]}".utf8)
        return out
    }
}
