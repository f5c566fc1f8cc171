import AphexCore
import KubeClient
import Foundation

/// A node of a type's OpenAPI v3 schema, with `$ref` and single-entry `allOf` followed against
/// the document's `components.schemas`: what the API server's field validation, server-side
/// apply (list and map types, field sets) and defaulting walk. Built-in types come from the
/// recorded OpenAPI documents of a real API server; custom resources from their CRD's
/// `openAPIV3Schema` (see `SimOpenAPI`).
public struct SimSchema: Sendable {
    /// The node itself (references already followed).
    public let node: JSON
    /// `components.schemas` of the document the node belongs to.
    public let components: [String: JSON]

    public init(node: JSON, components: [String: JSON] = [:]) {
        self.components = components
        self.node = Self.resolve(node, components)
    }

    /// A schema that accepts anything (types without a recorded or declared schema).
    public static let open = SimSchema(node: ["type": "object", "x-kubernetes-preserve-unknown-fields": true])

    static func resolve(_ node: JSON, _ components: [String: JSON]) -> JSON {
        var n = node
        for _ in 0..<16 {
            if let ref = n["$ref"]?.string {
                let key = ref.replacingOccurrences(of: "#/components/schemas/", with: "")
                var target = components[key] ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
                // Keep the referring node's own annotations (description, list type ...).
                if case .object(let own) = n {
                    for (k, v) in own where k != "$ref" && target[k] == nil { target[k] = v }
                }
                n = target
                continue
            }
            if let all = n["allOf"]?.array, all.count == 1 {
                var target = all[0]
                if case .object(let own) = n {
                    for (k, v) in own where k != "allOf" && target[k] == nil { target[k] = v }
                }
                n = target
                continue
            }
            break
        }
        return n
    }

    func child(_ node: JSON) -> SimSchema { SimSchema(node: node, components: components) }

    public var type: String? {
        if let t = node["type"]?.string { return t }
        if node["properties"] != nil || node["additionalProperties"] != nil { return "object" }
        if node["items"] != nil { return "array" }
        return nil
    }

    /// `x-kubernetes-preserve-unknown-fields: true`: any field is accepted below this node.
    public var preservesUnknownFields: Bool { node["x-kubernetes-preserve-unknown-fields"]?.bool == true }
    /// `x-kubernetes-int-or-string` / `x-kubernetes-embedded-resource`
    public var isIntOrString: Bool {
        node["x-kubernetes-int-or-string"]?.bool == true || node["format"]?.string == "int-or-string"
    }
    public var isEmbeddedResource: Bool { node["x-kubernetes-embedded-resource"]?.bool == true }

    /// Declared properties (nil for maps and free-form objects).
    public var properties: [String: JSON]? { node["properties"]?.object }

    /// The schema of a map's values (`additionalProperties`), when the object is a map.
    public var additionalProperties: SimSchema? {
        switch node["additionalProperties"] {
        case .object(let o)?: return child(.object(o))
        case .bool(true)?: return .open
        default: return nil
        }
    }

    /// The schema of field `name`, or nil when the type declares no such field (an unknown
    /// field, unless `preservesUnknownFields` or the object is a map).
    public func property(_ name: String) -> SimSchema? {
        if let p = properties?[name] { return child(p) }
        if let a = additionalProperties { return a }
        if preservesUnknownFields || (properties == nil && type != "array") { return .open }
        return nil
    }

    public var items: SimSchema? { node["items"].map { child($0) } ?? (type == "array" ? .open : nil) }

    /// "atomic" (the default), "set" or "map" (`x-kubernetes-list-type`).
    public var listType: String { node["x-kubernetes-list-type"]?.string ?? "atomic" }
    /// The keys of an associative list (`x-kubernetes-list-map-keys`).
    public var listMapKeys: [String] { node["x-kubernetes-list-map-keys"]?.array?.compactMap(\.string) ?? [] }
    /// `x-kubernetes-map-type: atomic` (a struct or map replaced whole, e.g. a label selector).
    public var isAtomicMap: Bool { node["x-kubernetes-map-type"]?.string == "atomic" }

    /// The declared default value, if any.
    public var defaultValue: JSON? { node["default"] }
}
