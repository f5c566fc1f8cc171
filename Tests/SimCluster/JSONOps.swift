import AphexCore
import KubeClient
import Foundation
import Yams

/// JSON helpers the simulator needs: YAML streams, merges, selectors.
public enum SimJSON {
    /// Parses a multi-document YAML (or JSON) stream into objects. Empty documents are skipped.
    /// A `kind: List` document is expanded into its items (as kubectl does).
    public static func documents(_ text: String) throws -> [JSON] {
        var out: [JSON] = []
        // kubectl's rule: a stream whose first non-blank byte is `{` is a JSON stream.
        if text.first(where: { !$0.isWhitespace }) == "{" {
            for value in try KubeJSON.parseStream(Array(text.utf8)) {
                if value.kind == "List", let items = value["items"]?.array { out += items } else { out.append(value) }
            }
            return out
        }
        let resolver = Resolver.default.removing(.timestamp)
        for doc in try Yams.load_all(yaml: text, resolver) {
            let value = fromYAML(doc)
            if value == .null { continue }
            if value.kind == "List", let items = value["items"]?.array {
                out += items
                continue
            }
            out.append(value)
        }
        return out
    }

    /// Converts a Yams `Any` tree to JSON without Foundation bridging surprises.
    public static func fromYAML(_ any: Any?) -> JSON {
        switch any {
        case nil: return .null
        case is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let i as Int64: return .int(i)
        case let d as Double: return d.rounded() == d && abs(d) < 9e15 ? .int(Int64(d)) : .double(d)
        case let s as String: return .string(s)
        case let data as Data: return .string(data.base64EncodedString())
        case let a as [Any]: return .array(a.map { fromYAML($0) })
        case let a as [Any?]: return .array(a.map { fromYAML($0) })
        case let o as [String: Any]: return .object(o.mapValues { fromYAML($0) })
        case let o as [AnyHashable: Any]:
            var out: [String: JSON] = [:]
            for (k, v) in o { out[String(describing: k.base)] = fromYAML(v) }
            return .object(out)
        default: return .string(String(describing: any!))
        }
    }

    /// Server-side-apply style merge: maps merge recursively, everything else (lists,
    /// scalars) is replaced by the applied value. A null in `applied` keeps the old value
    /// (apply configurations do not delete by null).
    public static func applyMerge(_ base: JSON, _ applied: JSON) -> JSON {
        guard case .object(var b) = base, case .object(let a) = applied else {
            return applied == .null ? base : applied
        }
        for (k, v) in a {
            if v == .null { continue }
            if let old = b[k] { b[k] = applyMerge(old, v) } else { b[k] = v }
        }
        return .object(b)
    }

    /// RFC 7386 JSON merge patch: null removes, objects recurse, anything else replaces.
    public static func mergePatch(_ target: JSON, _ patch: JSON) -> JSON {
        guard case .object(let p) = patch else { return patch }
        var t: [String: JSON]
        if case .object(let o) = target { t = o } else { t = [:] }
        for (k, v) in p {
            if v == .null { t.removeValue(forKey: k) } else { t[k] = mergePatch(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    /// RFC 6902 JSON patch (add, remove, replace, test) — enough for `--type json`.
    public static func jsonPatch(_ target: JSON, _ ops: JSON) throws -> JSON {
        guard let list = ops.array else { throw SimAPIError.badRequest("json patch must be a list of operations") }
        var doc = target
        for op in list {
            guard let kind = op["op"]?.string, let path = op["path"]?.string else {
                throw SimAPIError.badRequest("json patch operation needs op and path")
            }
            let keys = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
                $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
            switch kind {
            case "add", "replace":
                doc = try setPointer(doc, Array(keys), op["value"] ?? .null, add: kind == "add")
            case "remove":
                doc = try removePointer(doc, Array(keys))
            case "test":
                if pointer(doc, Array(keys)) != op["value"] {
                    throw SimAPIError.invalid("test operation failed at \(path)")
                }
            default:
                throw SimAPIError.badRequest("json patch operation \(kind) is not supported by the simulator")
            }
        }
        return doc
    }

    static func pointer(_ doc: JSON, _ keys: [String]) -> JSON? {
        var cur: JSON? = doc
        for k in keys {
            if case .array(let a)? = cur {
                guard let i = Int(k), i < a.count else { return nil }
                cur = a[i]
            } else {
                cur = cur?[k]
            }
        }
        return cur
    }

    static func setPointer(_ doc: JSON, _ keys: [String], _ value: JSON, add: Bool) throws -> JSON {
        guard let first = keys.first else { return value }
        let rest = Array(keys.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[first] = value
                return .object(o)
            }
            guard let child = o[first] else {
                throw SimAPIError.invalid("path /\(keys.joined(separator: "/")) does not exist")
            }
            o[first] = try setPointer(child, rest, value, add: add)
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if first == "-" {
                    a.append(value)
                    return .array(a)
                }
                guard let i = Int(first), i <= a.count else { throw SimAPIError.invalid("bad array index \(first)") }
                if add {
                    a.insert(value, at: i)
                } else if i < a.count {
                    a[i] = value
                } else {
                    throw SimAPIError.invalid("bad array index \(first)")
                }
                return .array(a)
            }
            guard let i = Int(first), i < a.count else { throw SimAPIError.invalid("bad array index \(first)") }
            a[i] = try setPointer(a[i], rest, value, add: add)
            return .array(a)
        default:
            throw SimAPIError.invalid("cannot descend into a scalar at \(first)")
        }
    }

    static func removePointer(_ doc: JSON, _ keys: [String]) throws -> JSON {
        guard let first = keys.first else { return .null }
        let rest = Array(keys.dropFirst())
        switch doc {
        case .object(var o):
            guard let child = o[first] else { throw SimAPIError.invalid("path to remove does not exist: \(first)") }
            if rest.isEmpty { o.removeValue(forKey: first) } else { o[first] = try removePointer(child, rest) }
            return .object(o)
        case .array(var a):
            guard let i = Int(first), i < a.count else { throw SimAPIError.invalid("bad array index \(first)") }
            if rest.isEmpty { a.remove(at: i) } else { a[i] = try removePointer(a[i], rest) }
            return .array(a)
        default:
            throw SimAPIError.invalid("cannot remove from a scalar")
        }
    }
}

/// A parsed label selector: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
public struct LabelSelector: Sendable, Equatable {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case notExists(String)
    }
    public var requirements: [Requirement]

    public init(_ text: String?) throws {
        requirements = []
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        // Split on commas outside parentheses.
        var parts: [String] = []
        var depth = 0
        var cur = ""
        for c in text {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if c == "," && depth == 0 {
                parts.append(cur)
                cur = ""
            } else {
                cur.append(c)
            }
        }
        parts.append(cur)
        for raw in parts {
            let p = raw.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { throw SimAPIError.badRequest("unable to parse requirement: found '', expected: identifier") }
            if let r = p.range(of: " notin ") {
                requirements.append(
                    .notIn(
                        String(p[..<r.lowerBound]).trimmingCharacters(in: .whitespaces),
                        try Self.set(String(p[r.upperBound...]))))
            } else if let r = p.range(of: " in ") {
                requirements.append(
                    .isIn(
                        String(p[..<r.lowerBound]).trimmingCharacters(in: .whitespaces),
                        try Self.set(String(p[r.upperBound...]))))
            } else if let r = p.range(of: "!=") {
                requirements.append(.notEquals(Self.key(p[..<r.lowerBound]), Self.key(p[r.upperBound...])))
            } else if let r = p.range(of: "==") {
                requirements.append(.equals(Self.key(p[..<r.lowerBound]), Self.key(p[r.upperBound...])))
            } else if let r = p.range(of: "=") {
                requirements.append(.equals(Self.key(p[..<r.lowerBound]), Self.key(p[r.upperBound...])))
            } else if p.hasPrefix("!") {
                requirements.append(.notExists(Self.key(p.dropFirst())))
            } else {
                guard p.range(of: #"^[A-Za-z0-9./_-]+$"#, options: .regularExpression) != nil else {
                    throw SimAPIError.badRequest("unable to parse requirement: \(p)")
                }
                requirements.append(.exists(p))
            }
        }
    }

    static func key<S: StringProtocol>(_ s: S) -> String { s.trimmingCharacters(in: .whitespaces) }
    static func set(_ s: String) throws -> Set<String> {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("("), t.hasSuffix(")") else {
            throw SimAPIError.badRequest("unable to parse requirement: expected (values) in \(s)")
        }
        return Set(t.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            switch r {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .isIn(let k, let vs): return labels[k].map { vs.contains($0) } ?? false
            case .notIn(let k, let vs): return labels[k].map { !vs.contains($0) } ?? true
            case .exists(let k): return labels[k] != nil
            case .notExists(let k): return labels[k] == nil
            }
        }
    }
}

/// A field selector: `metadata.name=x,metadata.namespace!=y` (the fields every type supports,
/// plus a few type-specific ones the real API accepts: status.phase for pods, type for
/// events/secrets, involvedObject.name for events).
public struct FieldSelector: Sendable, Equatable {
    public var terms: [(field: String, value: String, equal: Bool)]
    public static func == (a: FieldSelector, b: FieldSelector) -> Bool {
        a.terms.map { "\($0.field)\($0.equal)\($0.value)" } == b.terms.map { "\($0.field)\($0.equal)\($0.value)" }
    }

    public init(_ text: String?) throws {
        terms = []
        guard let text, !text.isEmpty else { return }
        for p in text.split(separator: ",") {
            let s = String(p)
            if let r = s.range(of: "!=") {
                terms.append((String(s[..<r.lowerBound]), String(s[r.upperBound...]), false))
            } else if let r = s.range(of: "==") ?? s.range(of: "=") {
                terms.append((String(s[..<r.lowerBound]), String(s[r.upperBound...]), true))
            } else {
                throw SimAPIError.badRequest("invalid selector: '\(text)'; can't understand '\(s)'")
            }
        }
        let allowed: Set<String> = [
            "metadata.name", "metadata.namespace", "status.phase", "spec.nodeName",
            "type", "involvedObject.name", "involvedObject.kind", "involvedObject.namespace",
            "reason", "spec.unschedulable"
        ]
        for t in terms where !allowed.contains(t.field) {
            throw SimAPIError.badRequest("field label not supported: \(t.field)")
        }
    }

    public func matches(_ obj: JSON) -> Bool {
        terms.allSatisfy { t in
            let v = obj.value(at: t.field.split(separator: ".").map(String.init))
            let s: String
            switch v {
            case .string(let x)?: s = x
            case .bool(let b)?: s = b ? "true" : "false"
            case .int(let i)?: s = String(i)
            default: s = ""
            }
            return t.equal ? s == t.value : s != t.value
        }
    }
}
