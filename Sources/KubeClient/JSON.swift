import AphexCore
import Foundation

/// A JSON value: the shape of every Kubernetes object aphex reads or the simulator serves.
public enum JSON: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    // MARK: access
    public subscript(key: String) -> JSON? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }
    public subscript(index: Int) -> JSON? {
        if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
        return nil
    }
    /// `obj[path: "status", "sync", "status"]`
    public subscript(path keys: String...) -> JSON? { value(at: keys) }

    public func value(at keys: [String]) -> JSON? {
        var cur: JSON? = self
        for k in keys { cur = cur?[k] }
        return cur
    }

    /// Sets a value at a path, creating intermediate objects.
    public mutating func set(_ keys: [String], to value: JSON?) {
        guard let first = keys.first else {
            if let value { self = value }
            return
        }
        if case .object = self {} else { self = .object([:]) }
        guard case .object(var o) = self else { return }
        if keys.count == 1 {
            o[first] = value
        } else {
            var child = o[first] ?? .object([:])
            child.set(Array(keys.dropFirst()), to: value)
            o[first] = child
        }
        self = .object(o)
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(exactly: d)
        case .string(let s): return Int64(s)
        default: return nil
        }
    }
    /// A count from the API server (replicas, ready pods, restarts: int32 >= 0 in the API),
    /// clamped to 0...Int32.max. A hostile or buggy server can send any integer (Int64.max,
    /// negative counts); clamped, sums and differences of a few counts cannot overflow, so
    /// aphex judges them instead of crashing.
    public var apiCount: Int64? {
        int.map { min(max($0, 0), Int64(Int32.max)) }
    }
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: [String: JSON]? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }

    /// String-valued map (labels, annotations, Secret data).
    public var stringMap: [String: String] {
        guard case .object(let o) = self else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in o { if let s = v.string { out[k] = s } }
        return out
    }

    // MARK: Kubernetes metadata helpers
    public var name: String? { self[path: "metadata", "name"]?.string }
    public var namespace: String? { self[path: "metadata", "namespace"]?.string }
    public var kind: String? { self["kind"]?.string }
    public var apiVersion: String? { self["apiVersion"]?.string }
    public var labels: [String: String] { self[path: "metadata", "labels"]?.stringMap ?? [:] }
    public var annotations: [String: String] { self[path: "metadata", "annotations"]?.stringMap ?? [:] }
    /// `items` of a List object.
    public var items: [JSON] { self["items"]?.array ?? [] }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSON: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSON {
    /// Parses JSON bytes with aphex's own single-pass parser (`KubeJSON`): about 20x faster
    /// than going through JSONSerialization and `JSON(any:)`, which matters for `aphex status`.
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try KubeJSON.parse(bytes)
    }
    public static func parse(_ data: Data) throws -> JSON { try KubeJSON.parse(Array(data)) }
    public static func parse(_ text: String) throws -> JSON { try KubeJSON.parse(Array(text.utf8)) }

    /// From a JSONSerialization / Yams result tree.
    public init(any: Any?) {
        switch any {
        case nil: self = .null
        case is NSNull: self = .null
        case let n as NSNumber:
            #if canImport(Darwin)
                if CFGetTypeID(n) == CFBooleanGetTypeID() {
                    self = .bool(n.boolValue)
                    return
                }
            #else
                if type(of: n) == type(of: NSNumber(value: true))
                    && (n == NSNumber(value: true) || n == NSNumber(value: false)) && String(cString: n.objCType) == "c"
                {
                    self = .bool(n.boolValue)
                    return
                }
            #endif
            let d = n.doubleValue
            if d.rounded() == d, abs(d) < 9e15, !String(describing: n).contains(".") {
                self = .int(n.int64Value)
            } else {
                self = .double(d)
            }
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(Int64(i))
        case let i as Int64: self = .int(i)
        case let d as Double: self = d.rounded() == d && abs(d) < 9e15 ? .int(Int64(d)) : .double(d)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.map { JSON(any: $0) })
        case let o as [String: Any]: self = .object(o.mapValues { JSON(any: $0) })
        case let o as [AnyHashable: Any]:
            var out: [String: JSON] = [:]
            for (k, v) in o { out[String(describing: k.base)] = JSON(any: v) }
            self = .object(out)
        default: self = .string(String(describing: any!))
        }
    }

    /// Compact JSON text with sorted keys (stable output for tests and hashing).
    public func serialized(pretty: Bool = false) -> String {
        String(decoding: serializedBytes(pretty: pretty), as: UTF8.self)
    }

    /// The same text as UTF-8 bytes, written straight into one buffer (request and response
    /// bodies; a String built scalar by scalar cost more than the request it carried).
    public func serializedBytes(pretty: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private static func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(10)
        for _ in 0..<(indent * 2) { out.append(32) }
    }

    private func write(into out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .int(let i): out += String(i).utf8
        case .double(let d):
            if d.isFinite {
                out += (d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)).utf8
            } else {
                out += "null".utf8
            }
        case .string(let s): JSON.escape(s, into: &out)
        case .array(let a):
            if a.isEmpty {
                out += "[]".utf8
                return
            }
            out.append(91)  // [
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(44) }
                if pretty { JSON.newline(&out, indent + 1) }
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSON.newline(&out, indent) }
            out.append(93)  // ]
        case .object(let o):
            if o.isEmpty {
                out += "{}".utf8
                return
            }
            out.append(123)  // {
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(44) }
                if pretty { JSON.newline(&out, indent + 1) }
                JSON.escape(k, into: &out)
                out.append(58)  // :
                if pretty { out.append(32) }
                o[k]!.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSON.newline(&out, indent) }
            out.append(125)  // }
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; everything
    /// else (UTF-8 included) copied as it is.
    static func escape(_ s: String, into out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(34)
        var copy = s
        copy.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                guard c == 34 || c == 92 || c < 0x20 else { continue }
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                start = i + 1
                switch c {
                case 34: out += [92, 34]
                case 92: out += [92, 92]
                case 10: out += [92, 110]
                case 13: out += [92, 114]
                case 9: out += [92, 116]
                default: out += [92, 117, 48, 48, hex[Int(c >> 4)], hex[Int(c & 0xf)]]
                }
            }
            if start < utf8.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count])) }
        }
        out.append(34)
    }
}

extension JSON {
    /// The JSON text of an `Encodable` value as aphex writes every document (outputs, records):
    /// sorted keys, no escaped slashes; `pretty`: two-space indent, `"key": value`, `[]` and
    /// `{}` as kubectl and jq print them (the serializer's layout), else one line.
    public static func text(of value: some Encodable, pretty: Bool) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let bytes = try? e.encode(value) else { return "{}" }
        guard pretty, let doc = try? JSON.parse(bytes) else { return String(decoding: bytes, as: UTF8.self) }
        return doc.serialized(pretty: true)
    }
}
