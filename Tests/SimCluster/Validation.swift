import AphexCore
import KubeClient
import Foundation

// The API server's validation, as pure functions over `JSON`: object metadata (names, labels,
// annotations, namespace), a little of the built-in kinds' own validation, custom resources
// against their CRD's schema, and the detection of fields a schema does not declare. Every text
// is apimachinery's (k8s.io/apimachinery/pkg/util/validation, .../api/validation,
// .../util/validation/field, kube-openapi's validate, apiextensions-apiserver) and the recorded
// ones are proven against ../shared/realapi/errors (ValidationDefaultsTests).

// MARK: - Field errors

/// One `field.Error`: what a 422 lists as a cause and joins into its message.
public struct SimFieldError: Sendable, Equatable, CustomStringConvertible {
    /// `field.ErrorType`: the cause's `reason`.
    public enum ErrorType: String, Sendable {
        case notFound = "FieldValueNotFound"
        case required = "FieldValueRequired"
        case duplicate = "FieldValueDuplicate"
        case invalid = "FieldValueInvalid"
        case notSupported = "FieldValueNotSupported"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
        case internalError = "InternalError"
        case typeInvalid = "FieldValueTypeInvalid"

        var text: String {
            switch self {
            case .notFound: return "Not found"
            case .required: return "Required value"
            case .duplicate: return "Duplicate value"
            case .invalid, .typeInvalid: return "Invalid value"
            case .notSupported: return "Unsupported value"
            case .forbidden: return "Forbidden"
            case .tooLong: return "Too long"
            case .tooMany: return "Too many"
            case .internalError: return "Internal error"
            }
        }
    }

    public var type: ErrorType
    /// The field path as `field.Path` prints it: `metadata.labels`, `spec.ports[0].port`, `data[k]`.
    public var field: String
    /// The bad value (nil: not shown, as for Required, Forbidden and TooLong).
    public var value: JSON?
    public var detail: String

    public init(_ type: ErrorType, _ field: String, value: JSON? = nil, detail: String = "") {
        self.type = type
        self.field = field
        self.value = value
        self.detail = detail
    }

    public static func invalid(_ field: String, _ value: JSON, _ detail: String) -> SimFieldError {
        .init(.invalid, field, value: value, detail: detail)
    }
    public static func required(_ field: String, _ detail: String = "") -> SimFieldError {
        .init(.required, field, detail: detail)
    }
    public static func forbidden(_ field: String, _ detail: String) -> SimFieldError {
        .init(.forbidden, field, detail: detail)
    }
    /// `field.TooLong`: the value is never shown.
    public static func tooLong(_ field: String, max: Int) -> SimFieldError {
        .init(
            .tooLong, field,
            detail: max >= 0 ? "may not be more than \(max) \(max == 1 ? "byte" : "bytes")" : "value is too long")
    }
    public static func notSupported(_ field: String, _ value: JSON, _ supported: [String]) -> SimFieldError {
        .init(
            .notSupported, field, value: value,
            detail: supported.isEmpty
                ? "" : "supported values: " + supported.map(GoFormat.quote).joined(separator: ", "))
    }
    public static func tooMany(_ field: String, actual: Int, max: Int) -> SimFieldError {
        .init(
            .tooMany, field, value: .int(Int64(actual)),
            detail: "must have at most \(max) \(max == 1 ? "item" : "items")")
    }

    /// `ErrorBody()`: the cause's message, e.g. `Invalid value: "x---": a valid label must be ...`.
    public var body: String {
        var s = type.text
        switch type {
        case .required, .forbidden, .tooLong, .internalError: break
        default: if let value { s += ": " + GoFormat.value(value) }
        }
        if !detail.isEmpty { s += ": " + detail }
        return s
    }

    /// `Error()`: `metadata.labels: Invalid value: ...`.
    public var description: String { "\(field): \(body)" }

    /// The `StatusCause` (field and message are omitted when empty, as Go's omitempty does).
    public var cause: JSON {
        var c: [String: JSON] = ["reason": .string(type.rawValue)]
        if !body.isEmpty { c["message"] = .string(body) }
        if !field.isEmpty { c["field"] = .string(field) }
        return .object(c)
    }
}

/// Go's formatting of values in error texts.
enum GoFormat {
    /// `strconv.Quote` (`%q`): `"x"`, with Go's escapes for quotes, backslashes and control characters.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\x%02x", u.value)
                } else if (0x80...0xA0).contains(u.value) || u.value == 0xAD {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// A `field.Error` bad value: strings `%q`, numbers and booleans `%v`, anything else as JSON.
    static func value(_ v: JSON) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .int(let i): return String(i)
        case .double(let d): return float(d)
        case .bool(let b): return b ? "true" : "false"
        default: return json(v)
        }
    }

    /// `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, shortest digits, exponent form
    /// when the exponent is < -4 or >= 6 (`1e+06`, `1.5`, `123456`).
    static func float(_ d: Double) -> String {
        guard d.isFinite else { return d.isNaN ? "NaN" : (d > 0 ? "+Inf" : "-Inf") }
        if d == 0 { return "0" }
        // Swift's description is the shortest round-tripping form too: take its digits.
        let text = "\(abs(d))"
        let parts = text.split(separator: "e", maxSplits: 1)
        var exp10 = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let mant = parts[0].split(separator: ".", maxSplits: 1)
        let intPart = String(mant[0]), frac = mant.count > 1 ? String(mant[1]) : ""
        var digits = Array(intPart + frac)
        var dp = intPart.count + exp10
        while digits.first == "0" {
            digits.removeFirst()
            dp -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        if digits.isEmpty { return "0" }
        exp10 = dp - 1
        let sign = d < 0 ? "-" : ""
        if exp10 < -4 || exp10 >= 6 {
            let m = digits.count > 1 ? "\(digits[0]).\(String(digits[1...]))" : "\(digits[0])"
            return sign + m + "e" + (exp10 < 0 ? "-" : "+") + (abs(exp10) < 10 ? "0" : "") + "\(abs(exp10))"
        }
        if dp <= 0 { return sign + "0." + String(repeating: "0", count: -dp) + String(digits) }
        if dp >= digits.count { return sign + String(digits) + String(repeating: "0", count: dp - digits.count) }
        return sign + String(digits[..<dp]) + "." + String(digits[dp...])
    }

    /// `json.Marshal` of a decoded value: sorted keys, compact, and Go's HTML-safe escapes.
    static func json(_ v: JSON) -> String {
        var s = v.serialized()
        if s.contains(where: { $0 == "<" || $0 == ">" || $0 == "&" || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
            s = s.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
                .replacingOccurrences(of: "&", with: "\\u0026").replacingOccurrences(of: "\u{2028}", with: "\\u2028")
                .replacingOccurrences(of: "\u{2029}", with: "\\u2029")
        }
        return s
    }

    /// Go's `sort.Strings` order (bytewise).
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

// MARK: - Key order

/// The order in which a JSON request body listed each object's keys. Go decodes a body in
/// document order, so its strict-decoding errors follow it and its map iteration (labels) is
/// random; our `JSON` objects are dictionaries, so the decoder records the order here and the
/// validation replays it (the recordings were made with bodies in that order). Keyed by the
/// object's path in decoder style: "" is the root, then `metadata.labels`, `spec.containers[0]`.
/// A key repeated in the body appears twice. YAML bodies need none: Go converts YAML to JSON
/// through a map, which sorts the keys, and so does `sorted`.
public struct SimKeyOrder: Sendable, Equatable {
    public var keys: [String: [String]]

    public init(_ keys: [String: [String]] = [:]) { self.keys = keys }
    public static let sorted = SimKeyOrder()

    /// The keys of `object` at `path`: as recorded, then any others sorted. `repeats`: a key
    /// the body repeats is listed each time (strict decoding reports the repeat).
    public func order(of object: [String: JSON], at path: String, repeats: Bool = false) -> [String] {
        guard let recorded = keys[path] else { return object.keys.sorted(by: GoFormat.less) }
        var seen = Set<String>()
        var out: [String] = []
        for k in recorded where object[k] != nil && (seen.insert(k).inserted || repeats) { out.append(k) }
        out += object.keys.filter { !seen.contains($0) }.sorted(by: GoFormat.less)
        return out
    }

    static func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }
    static func index(_ path: String, _ i: Int) -> String { path + "[\(i)]" }
}

// MARK: - Validation

public enum SimValidation {
    /// `metadata.annotations`: total size of keys and values (`TotalAnnotationSizeLimitB`).
    public static let annotationsSizeLimit = 256 * 1024
    /// ConfigMap data and Secret data together (`core.MaxSecretSize`).
    public static let maxConfigSize = 1024 * 1024

    /// A `Status` with `details`, as every recorded 4xx/5xx carries them (or not: nil).
    public static func statusError(code: Int, reason: String, message: String, details: JSON? = nil) -> SimAPIError {
        var e = SimAPIError(code: code, reason: reason, message: message)
        e.details = details
        return e
    }

    /// `errors.NewInvalid`: 422 `Invalid`, `Kind[.group] "name" is invalid: <errors>`. The message
    /// lists each distinct error once (`[a, b]` when more than one); the causes keep them all,
    /// duplicates included (an update validates metadata up to four times: errors/422-merge-patch-invalid.json).
    public static func invalid(kind: String, group: String, name: String, _ errors: [SimFieldError]) -> SimAPIError {
        let qualified = group.isEmpty ? kind : "\(kind).\(group)"
        var seen = Set<String>()
        var distinct: [String] = []
        for e in errors where seen.insert(e.description).inserted { distinct.append(e.description) }
        var message = "\(qualified) \(GoFormat.quote(name)) is invalid"
        if distinct.count == 1 {
            message += ": " + distinct[0]
        } else if distinct.count > 1 {
            message += ": [" + distinct.joined(separator: ", ") + "]"
        }
        var details: [String: JSON] = [:]
        if !name.isEmpty { details["name"] = .string(name) }
        if !group.isEmpty { details["group"] = .string(group) }
        if !kind.isEmpty { details["kind"] = .string(kind) }
        if !errors.isEmpty { details["causes"] = .array(errors.map(\.cause)) }
        return statusError(code: 422, reason: "Invalid", message: message, details: .object(details))
    }

    // MARK: name rules (k8s.io/apimachinery/pkg/util/validation)

    static let dns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let dns1123SubdomainFmt = dns1123LabelFmt + "(\\." + dns1123LabelFmt + ")*"
    static let qualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    static let labelValueFmt = "(" + qualifiedNameFmt + ")?"
    static let configMapKeyFmt = "[-._a-zA-Z0-9]+"

    static func regexError(_ msg: String, _ fmt: String, _ examples: String...) -> String {
        if examples.isEmpty { return msg + " (regex used for validation is '\(fmt)')" }
        var m = msg + " (e.g. "
        for (i, e) in examples.enumerated() {
            if i > 0 { m += " or " }
            m += "'\(e)', "
        }
        return m + "regex used for validation is '\(fmt)')"
    }
    static func maxLenError(_ n: Int) -> String { "must be no more than \(n) characters" }

    private static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
    private static func isAlnum(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 65 && c <= 90) }

    static func matchesDNS1123Label(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let f = b.first, let l = b.last, isLowerAlnum(f), isLowerAlnum(l) else { return false }
        return b.allSatisfy { isLowerAlnum($0) || $0 == 45 }
    }
    static func matchesDNS1123Subdomain(_ s: String) -> Bool {
        s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { matchesDNS1123Label(String($0)) }
    }
    static func matchesQualifiedNamePart(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let f = b.first, let l = b.last, isAlnum(f), isAlnum(l) else { return false }
        return b.allSatisfy { isAlnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    /// `IsDNS1123Label`.
    public static func dns1123Label(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 63 { errs.append(maxLenError(63)) }
        if !matchesDNS1123Label(s) {
            if matchesDNS1123Subdomain(s) {
                errs.append("must not contain dots")
            } else {
                errs.append(
                    regexError(
                        """
                        a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and \
                        must start and end with an alphanumeric character
                        """,
                        dns1123LabelFmt, "my-name", "123-abc"))
            }
        }
        return errs
    }

    /// `IsDNS1123Subdomain`.
    public static func dns1123Subdomain(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 253 { errs.append(maxLenError(253)) }
        if !matchesDNS1123Subdomain(s) {
            errs.append(
                regexError(
                    """
                    a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or \
                    '.', and must start and end with an alphanumeric character
                    """,
                    dns1123SubdomainFmt, "example.com"))
        }
        return errs
    }

    /// `IsQualifiedName`: label keys, annotation keys, finalizers.
    public static func qualifiedName(_ value: String) -> [String] {
        var errs: [String] = []
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let name: String
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                errs.append("prefix part must be non-empty")
            } else {
                errs += dns1123Subdomain(parts[0]).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name "
                    + regexError(
                        """
                        must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                        alphanumeric character
                        """,
                        qualifiedNameFmt, "MyName", "my.name", "123-abc")
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errs.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            errs.append("name part " + maxLenError(63))
        }
        if !matchesQualifiedNamePart(name) {
            errs.append(
                "name part "
                    + regexError(
                        """
                        must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                        alphanumeric character
                        """,
                        qualifiedNameFmt, "MyName", "my.name", "123-abc"))
        }
        return errs
    }

    /// `IsValidLabelValue`.
    public static func labelValue(_ value: String) -> [String] {
        var errs: [String] = []
        if value.utf8.count > 63 { errs.append(maxLenError(63)) }
        if !(value.isEmpty || matchesQualifiedNamePart(value)) {
            errs.append(
                regexError(
                    """
                    a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', \
                    and must start and end with an alphanumeric character
                    """,
                    labelValueFmt, "MyValue", "my_value", "12345"))
        }
        return errs
    }

    /// `IsConfigMapKey`: ConfigMap and Secret data keys.
    public static func configMapKey(_ value: String) -> [String] {
        var errs: [String] = []
        if value.utf8.count > 253 { errs.append(maxLenError(253)) }
        if value.isEmpty || !value.utf8.allSatisfy({ isAlnum($0) || $0 == 45 || $0 == 46 || $0 == 95 }) {
            errs.append(
                regexError(
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", configMapKeyFmt,
                    "key.name", "KEY_NAME", "key-name"))
        }
        if value == "." {
            errs.append("must not be '.'")
        } else if value == ".." {
            errs.append("must not be '..'")
        } else if value.hasPrefix("..") {
            errs.append("must not start with '..'")
        }
        return errs
    }

    /// `ValidateNameFunc`: (name, isGenerateNamePrefix) -> messages.
    public typealias NameRule = @Sendable (String, Bool) -> [String]

    /// A generateName may end in '-': apimachinery masks the end before checking (its
    /// `maskTrailingDash` replaces the last two characters with "a").
    static func maskTrailingDash(_ s: String) -> String {
        guard s.utf8.count > 1, s.hasSuffix("-") else { return s }
        return String(s.dropLast(2)) + "a"
    }
    public static let nameIsDNSSubdomain: NameRule = { name, prefix in
        dns1123Subdomain(prefix ? maskTrailingDash(name) : name)
    }
    public static let nameIsDNSLabel: NameRule = { name, prefix in dns1123Label(prefix ? maskTrailingDash(name) : name)
    }
    /// `path.ValidatePathSegmentName` (RBAC objects; the generic store's check for every kind).
    public static let pathSegmentName: NameRule = { name, prefix in
        if !prefix, name == "." || name == ".." { return ["may not be '\(name)'"] }
        return ["/", "%"].filter { name.contains($0) }.map { "may not contain '\($0)'" }
    }

    /// The `metadata.name` rule of a kind, as its strategy validates it in Kubernetes v1.36.
    /// Namespace: DNS label. Service: DNS label (RelaxedServiceNameValidation, beta and on in
    /// 1.36; DNS-1035 before). StatefulSet: DNS label (its pods' hostnames). RBAC roles and
    /// bindings: a path segment. CustomResourceDefinition: a subdomain equal to
    /// `<spec.names.plural>.<spec.group>`. Everything else, custom resources included: a DNS subdomain.
    public static func nameRule(kind: String, group: String, object: JSON = .null) -> NameRule {
        switch (group, kind) {
        case ("", "Namespace"), ("", "Service"), ("apps", "StatefulSet"): return nameIsDNSLabel
        case ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"):
            return pathSegmentName
        case ("apiextensions.k8s.io", "CustomResourceDefinition"):
            let required =
                (object[path: "spec", "names", "plural"]?.string ?? "") + "."
                + (object[path: "spec", "group"]?.string ?? "")
            return { name, prefix in
                var errs = dns1123Subdomain(prefix ? maskTrailingDash(name) : name)
                if name != required { errs.append("must be spec.names.plural+\".\"+spec.group") }
                return errs
            }
        default: return nameIsDNSSubdomain
        }
    }

    // MARK: object metadata

    static func string(_ v: JSON?) -> String { v?.string ?? "" }

    /// `ValidateLabels`: per label, the key's errors then the value's, all on `<path>` itself.
    static func labelErrors(_ labels: JSON?, _ path: String, _ order: SimKeyOrder) -> [SimFieldError] {
        guard let o = labels?.object else { return [] }
        var errs: [SimFieldError] = []
        for k in order.order(of: o, at: path) {
            errs += qualifiedName(k).map { .invalid(path, .string(k), $0) }
            errs += labelValue(string(o[k])).map { .invalid(path, o[k] ?? "", $0) }
        }
        return errs
    }

    /// `ValidateAnnotations`: each key a qualified name (case-insensitively), then the total size.
    static func annotationErrors(_ annotations: JSON?, _ path: String, _ order: SimKeyOrder) -> [SimFieldError] {
        guard let o = annotations?.object else { return [] }
        var errs: [SimFieldError] = []
        var size = 0
        for k in order.order(of: o, at: path) {
            errs += qualifiedName(k.lowercased()).map { .invalid(path, .string(k), $0) }
        }
        for (k, v) in o { size += k.utf8.count + string(v).utf8.count }
        if size > annotationsSizeLimit { errs.append(.tooLong(path, max: annotationsSizeLimit)) }
        return errs
    }

    static func ownerReferenceErrors(_ refs: JSON?, _ path: String) -> [SimFieldError] {
        var errs: [SimFieldError] = []
        for ref in refs?.array ?? [] {
            let apiVersion = string(ref["apiVersion"])
            let version = apiVersion.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            if version.isEmpty {
                errs.append(.invalid(path + ".apiVersion", .string(apiVersion), "version must not be empty"))
            }
            for f in ["kind", "name", "uid"] where string(ref[f]).isEmpty {
                errs.append(.invalid(path + "." + f, .string(string(ref[f])), "must not be empty"))
            }
        }
        return errs
    }

    /// `ValidateObjectMetaAccessor` (apimachinery/pkg/api/validation): generateName, name,
    /// namespace, generation, labels, annotations, ownerReferences, finalizers, in that order.
    public static func objectMetaErrors(_ obj: JSON, namespaced: Bool, nameRule: NameRule, order: SimKeyOrder = .sorted)
        -> [SimFieldError]
    {
        let meta = obj["metadata"] ?? [:]
        var errs: [SimFieldError] = []
        let generateName = string(meta["generateName"])
        if !generateName.isEmpty {
            errs += nameRule(generateName, true).map { .invalid("metadata.generateName", .string(generateName), $0) }
        }
        let name = string(meta["name"])
        if name.isEmpty {
            errs.append(.required("metadata.name", "name or generateName is required"))
        } else {
            errs += nameRule(name, false).map { .invalid("metadata.name", .string(name), $0) }
        }
        let namespace = string(meta["namespace"])
        if namespaced {
            if namespace.isEmpty {
                errs.append(.required("metadata.namespace"))
            } else {
                errs += nameIsDNSLabel(namespace, false).map { .invalid("metadata.namespace", .string(namespace), $0) }
            }
        } else if !namespace.isEmpty {
            errs.append(.forbidden("metadata.namespace", "not allowed on this type"))
        }
        if let g = meta["generation"]?.int, g < 0 {
            errs.append(.invalid("metadata.generation", .int(g), "must be greater than or equal to 0"))
        }
        errs += labelErrors(meta["labels"], "metadata.labels", order)
        errs += annotationErrors(meta["annotations"], "metadata.annotations", order)
        errs += ownerReferenceErrors(meta["ownerReferences"], "metadata.ownerReferences")
        for f in meta["finalizers"]?.array ?? [] {
            errs += qualifiedName(string(f)).map { .invalid("metadata.finalizers", f, $0) }
        }
        return errs
    }

    /// `ValidateObjectMetaAccessorUpdate`: immutable identity, then labels, annotations and
    /// ownerReferences of the new object. (A field the new object leaves empty is not compared:
    /// the store carries uid and creationTimestamp over.)
    public static func objectMetaUpdateErrors(_ new: JSON, old: JSON, order: SimKeyOrder = .sorted) -> [SimFieldError] {
        var errs: [SimFieldError] = []
        let n = new["metadata"] ?? [:], o = old["metadata"] ?? [:]
        if o["deletionTimestamp"] != nil {
            let before = Set((o["finalizers"]?.array ?? []).compactMap(\.string))
            let added = (n["finalizers"]?.array ?? []).compactMap(\.string).filter { !before.contains($0) }
            if !added.isEmpty {
                let list = Set(added).sorted(by: GoFormat.less).map(GoFormat.quote).joined(separator: ", ")
                errs.append(
                    .forbidden(
                        "metadata.finalizers",
                        """
                        no new finalizers can be added if the object is being deleted, found new finalizers \
                        []string{\(list)}
                        """
                    ))
            }
        }
        for f in ["name", "namespace", "uid", "creationTimestamp"] {
            if let nv = n[f], nv != .string(""), let ov = o[f], nv != ov {
                errs.append(.invalid("metadata." + f, nv, "field is immutable"))
            }
        }
        errs += labelErrors(n["labels"], "metadata.labels", order)
        errs += annotationErrors(n["annotations"], "metadata.annotations", order)
        errs += ownerReferenceErrors(n["ownerReferences"], "metadata.ownerReferences")
        return errs
    }

    // MARK: create / update

    /// What `rest.BeforeCreate` rejects: the kind's own validation (ObjectMeta with the kind's
    /// name rule, then what we model of its spec), and, only when that passed, the generic
    /// ObjectMeta check with the path-segment rule. `schema`: the CRD's schema of a custom
    /// resource (nil for built-in kinds, whose validation is Go code, not their OpenAPI).
    /// Call it after defaulting and mutating admission, with a generated name already set.
    public static func createErrors(
        _ obj: JSON, kind: String, group: String, namespaced: Bool, schema: SimSchema? = nil,
        order: SimKeyOrder = .sorted
    ) -> [SimFieldError] {
        let rule = nameRule(kind: kind, group: group, object: obj)
        var errs = objectMetaErrors(obj, namespaced: namespaced, nameRule: rule, order: order)
        if let schema {
            errs += customResourceErrors(obj, schema: schema)
        } else {
            errs += specErrors(obj, kind: kind, group: group)
        }
        if !errs.isEmpty { return errs }
        return objectMetaErrors(obj, namespaced: namespaced, nameRule: pathSegmentName, order: order)
    }

    /// Throws the 422 for `createErrors`.
    public static func validateCreate(
        _ obj: JSON, kind: String, group: String, namespaced: Bool, schema: SimSchema? = nil,
        order: SimKeyOrder = .sorted
    ) throws {
        let errs = createErrors(obj, kind: kind, group: group, namespaced: namespaced, schema: schema, order: order)
        if !errs.isEmpty { throw invalid(kind: kind, group: group, name: string(obj[path: "metadata", "name"]), errs) }
    }

    /// Kinds whose `ValidateXUpdate` re-runs the full ObjectMeta validation after
    /// `ValidateObjectMetaUpdate` (core ConfigMap, Secret, Service, ServiceAccount, Endpoints,
    /// the RBAC kinds); the others (apps, batch, Namespace, CRDs, custom resources ...) only the update check.
    static func updateRevalidatesMeta(kind: String, group: String) -> Bool {
        switch (group, kind) {
        case ("", "ConfigMap"), ("", "Secret"), ("", "Service"), ("", "ServiceAccount"), ("", "Endpoints"),
            ("rbac.authorization.k8s.io", _):
            return true
        default: return false
        }
    }

    /// What `rest.BeforeUpdate` rejects (PUT, every patch, an apply that updates): the generic
    /// ObjectMeta and ObjectMeta-update checks, then the kind's `ValidateUpdate`; so an invalid
    /// label on a ConfigMap update is reported four times (message once). `new` is the object
    /// that would be stored (after the patch, defaulting and mutating admission).
    public static func updateErrors(
        _ new: JSON, old: JSON, kind: String, group: String, namespaced: Bool, schema: SimSchema? = nil,
        order: SimKeyOrder = .sorted
    ) -> [SimFieldError] {
        var errs = objectMetaErrors(new, namespaced: namespaced, nameRule: pathSegmentName, order: order)
        errs += objectMetaUpdateErrors(new, old: old, order: order)
        errs += objectMetaUpdateErrors(new, old: old, order: order)
        if updateRevalidatesMeta(kind: kind, group: group) {
            errs += objectMetaErrors(
                new, namespaced: namespaced, nameRule: nameRule(kind: kind, group: group, object: new), order: order)
        }
        if let schema {
            errs += customResourceErrors(new, schema: schema)
        } else {
            errs += specErrors(new, kind: kind, group: group)
        }
        return errs
    }

    public static func validateUpdate(
        _ new: JSON, old: JSON, kind: String, group: String, namespaced: Bool, schema: SimSchema? = nil,
        order: SimKeyOrder = .sorted
    ) throws {
        let errs = updateErrors(
            new, old: old, kind: kind, group: group, namespaced: namespaced, schema: schema, order: order)
        if !errs.isEmpty { throw invalid(kind: kind, group: group, name: string(new[path: "metadata", "name"]), errs) }
    }

    /// Warnings a create returns (the `Warning: 299 - "..."` header texts), unrecorded: workload
    /// kinds whose name is not a DNS label (`metadata.name: a DNS label is recommended: [...]`).
    public static func createWarnings(_ obj: JSON, kind: String, group: String) -> [String] {
        switch (group, kind) {
        case ("", "Pod"), ("apps", "ReplicaSet"), ("apps", "Deployment"), ("batch", "Job"), ("batch", "CronJob"),
            ("", "ReplicationController"):
            let msgs = dns1123Label(string(obj[path: "metadata", "name"]))
            return msgs.isEmpty || string(obj[path: "metadata", "name"]).isEmpty
                ? [] : ["metadata.name: a DNS label is recommended: [" + msgs.joined(separator: " ") + "]"]
        default: return []
        }
    }

    // MARK: built-in kinds (what the simulator models of their Go validation)

    /// The kind's own checks beyond ObjectMeta, in the order Kubernetes runs them. Modelled:
    /// ConfigMap and Secret data keys and sizes, kubernetes.io/tls Secret keys, Namespace
    /// finalizers, Service ports, workload selectors against template labels, pod templates'
    /// containers (present, named, with an image) and restart policy. Not modelled: everything
    /// else (probes, volumes, resources, affinity, RBAC rules, webhook configs ...): accepted.
    static func specErrors(_ obj: JSON, kind: String, group: String) -> [SimFieldError] {
        var errs: [SimFieldError] = []
        switch (group, kind) {
        case ("", "ConfigMap"):
            var size = 0
            for (field, values) in [("data", obj["data"]), ("binaryData", obj["binaryData"])] {
                guard let o = values?.object else { continue }
                for k in o.keys.sorted(by: GoFormat.less) {
                    errs += configMapKey(k).map { .invalid("\(field)[\(k)]", .string(k), $0) }
                    if field == "data", obj[path: "binaryData", k] != nil {
                        errs.append(.invalid("data[\(k)]", .string(k), "duplicate of key present in binaryData"))
                    }
                    size += field == "data" ? string(o[k]).utf8.count : (Data(base64Encoded: string(o[k]))?.count ?? 0)
                }
            }
            if size > maxConfigSize { errs.append(.tooLong("", max: maxConfigSize)) }
        case ("", "Secret"):
            var size = 0
            for k in (obj["data"]?.object ?? [:]).keys.sorted(by: GoFormat.less) {
                errs += configMapKey(k).map { .invalid("data[\(k)]", .string(k), $0) }
                size += Data(base64Encoded: string(obj[path: "data", k]))?.count ?? 0
            }
            if size > maxConfigSize { errs.append(.tooLong("data", max: maxConfigSize)) }
            if string(obj["type"]) == "kubernetes.io/tls" {
                for k in ["tls.crt", "tls.key"] where obj[path: "data", k] == nil {
                    errs.append(.required("data[\(k)]"))
                }
            }
        case ("", "Namespace"):
            for f in obj[path: "spec", "finalizers"]?.array ?? [] {
                let s = string(f)
                errs += qualifiedName(s).map { .invalid("spec.finalizers", f, $0) }
                if !s.contains("/"), s != "kubernetes" {
                    errs.append(
                        .invalid(
                            "spec.finalizers", f, "name is neither a standard finalizer name nor is it fully qualified")
                    )
                }
            }
        case ("", "Service"):
            let type = string(obj[path: "spec", "type"])
            let ports = obj[path: "spec", "ports"]?.array ?? []
            if ports.isEmpty, string(obj[path: "spec", "clusterIP"]) != "None", type != "ExternalName" {
                errs.append(.required("spec.ports"))
            }
            for (i, p) in ports.enumerated() {
                if ports.count > 1, string(p["name"]).isEmpty { errs.append(.required("spec.ports[\(i)].name")) }
                let port = p["port"]?.int ?? 0
                if port < 1 || port > 65535 {
                    errs.append(.invalid("spec.ports[\(i)].port", .int(port), "must be between 1 and 65535, inclusive"))
                }
            }
        case ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"):
            if let r = obj[path: "spec", "replicas"]?.int, r < 0 {
                errs.append(.invalid("spec.replicas", .int(r), "must be greater than or equal to 0"))
            }
            let selector = obj[path: "spec", "selector"]
            if selector == nil || selector == .null {
                errs.append(.required("spec.selector"))
            } else if (selector?["matchLabels"]?.object ?? [:]).isEmpty,
                (selector?["matchExpressions"]?.array ?? []).isEmpty
            {
                errs.append(.invalid("spec.selector", selector!, "empty selector is invalid for deployment"))
            }
            let labels = obj[path: "spec", "template", "metadata", "labels"] ?? .null
            if let selector, selector != .null, !selectorMatches(selector, labels.stringMap) {
                errs.append(
                    .invalid(
                        "spec.template.metadata.labels", labels == .null ? .object([:]) : labels,
                        "`selector` does not match template `labels`"))
            }
            errs += podTemplateErrors(obj[path: "spec", "template"], "spec.template")
            let policy = string(obj[path: "spec", "template", "spec", "restartPolicy"])
            if policy != "Always" {
                errs.append(.notSupported("spec.template.spec.restartPolicy", .string(policy), ["Always"]))
            }
        case ("batch", "Job"):
            errs += podTemplateErrors(obj[path: "spec", "template"], "spec.template")
            let policy = string(obj[path: "spec", "template", "spec", "restartPolicy"])
            if policy != "OnFailure", policy != "Never" {
                errs.append(.notSupported("spec.template.spec.restartPolicy", .string(policy), ["OnFailure", "Never"]))
            }
        default: break
        }
        return errs
    }

    /// A label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels.
    static func selectorMatches(_ selector: JSON, _ labels: [String: String]) -> Bool {
        for (k, v) in selector["matchLabels"]?.stringMap ?? [:] where labels[k] != v { return false }
        for e in selector["matchExpressions"]?.array ?? [] {
            let key = string(e["key"]), values = (e["values"]?.array ?? []).compactMap(\.string)
            switch string(e["operator"]) {
            case "In": if !(labels[key].map(values.contains) ?? false) { return false }
            case "NotIn": if let v = labels[key], values.contains(v) { return false }
            case "Exists": if labels[key] == nil { return false }
            case "DoesNotExist": if labels[key] != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// `ValidatePodTemplateSpec`, the part we model: the template's labels and annotations
    /// (`spec.template.labels`, not `.metadata.labels`), then containers (present, each named with
    /// a DNS label and with an image, ports in range), then init containers.
    static func podTemplateErrors(_ template: JSON?, _ path: String) -> [SimFieldError] {
        var errs = labelErrors(template?[path: "metadata", "labels"], path + ".labels", .sorted)
        errs += annotationErrors(template?[path: "metadata", "annotations"], path + ".annotations", .sorted)
        let spec = template?["spec"]
        let containers = spec?["containers"]?.array ?? []
        if containers.isEmpty { errs.append(.required(path + ".spec.containers")) }
        for (list, items) in [("containers", containers), ("initContainers", spec?["initContainers"]?.array ?? [])] {
            for (i, c) in items.enumerated() {
                let p = "\(path).spec.\(list)[\(i)]"
                let name = string(c["name"])
                if name.isEmpty {
                    errs.append(.required(p + ".name"))
                } else {
                    errs += dns1123Label(name).map { .invalid(p + ".name", .string(name), $0) }
                }
                if string(c["image"]).isEmpty { errs.append(.required(p + ".image")) }
                for (j, port) in (c["ports"]?.array ?? []).enumerated() {
                    let n = port["containerPort"]?.int ?? 0
                    if n < 1 || n > 65535 {
                        errs.append(
                            .invalid(
                                "\(p).ports[\(j)].containerPort", .int(n), "must be between 1 and 65535, inclusive"))
                    }
                }
            }
        }
        return errs
    }

    // MARK: custom resources (the CRD's openAPIV3Schema, as kube-openapi's validator reports it)

    /// `ValidateCustomResource`: the object against its CRD's schema. Checked: type, enum,
    /// required, string length and pattern, numeric bounds, item and property counts,
    /// uniqueItems, nullable. Not checked: `x-kubernetes-validations` (CEL), formats, allOf/anyOf/oneOf/not,
    /// list-map key uniqueness. The root's `metadata`, `apiVersion` and `kind` are not the schema's business.
    public static func customResourceErrors(_ obj: JSON, schema: SimSchema) -> [SimFieldError] {
        var errs: [SimFieldError] = []
        guard case .object(let o) = obj else { return [.invalid("", obj, "must be an object")] }
        for r in (schema.node["required"]?.array ?? []).compactMap(\.string) where o[r] == nil {
            errs.append(.required(r))
        }
        for k in o.keys.sorted(by: GoFormat.less) where !["apiVersion", "kind", "metadata"].contains(k) {
            guard
                let child = schema.properties?[k].map({ SimSchema(node: $0, components: schema.components) })
                    ?? schema.additionalProperties
            else { continue }
            validateValue(o[k]!, child, k, &errs)
        }
        return errs
    }

    static func jsonType(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double(let d): return d.rounded() == d && abs(d) < 9e15 ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func validateValue(_ value: JSON, _ schema: SimSchema, _ path: String, _ errs: inout [SimFieldError]) {
        let node = schema.node
        if value == .null {
            if node["nullable"]?.bool == true || schema.preservesUnknownFields && schema.type == nil { return }
        }
        if let t = schema.type, !schema.isIntOrString {
            let actual = jsonType(value)
            let ok = actual == t || (t == "number" && actual == "integer")
            if !ok {
                errs.append(
                    .init(
                        .typeInvalid, path, value: .string(actual),
                        detail: "\(path) in body must be of type \(t): \(GoFormat.quote(actual))"))
                return
            }
        }
        if let e = node["enum"]?.array, !e.contains(value) {
            errs.append(.notSupported(path, value, e.map { $0.string ?? GoFormat.json($0) }))
        }
        switch value {
        case .string(let s):
            let n = s.count
            if let max = node["maxLength"]?.int, n > max { errs.append(.tooLong(path, max: Int(max))) }
            if let min = node["minLength"]?.int, n < min {
                errs.append(.invalid(path, value, "\(path) in body should be at least \(min) chars long"))
            }
            if let p = node["pattern"]?.string, let re = try? NSRegularExpression(pattern: p),
                re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil
            {
                errs.append(.invalid(path, value, "\(path) in body should match '\(p)'"))
            }
        case .int, .double:
            let d = value.double ?? 0
            if let min = node["minimum"]?.double {
                let excl = node["exclusiveMinimum"]?.bool == true
                if excl ? d <= min : d < min {
                    errs.append(
                        .invalid(
                            path, value,
                            """
                            \(path) in body should be greater than \
                            \(excl ? "" : "or equal to ")\(GoFormat.value(node["minimum"]!))
                            """
                        ))
                }
            }
            if let max = node["maximum"]?.double {
                let excl = node["exclusiveMaximum"]?.bool == true
                if excl ? d >= max : d > max {
                    errs.append(
                        .invalid(
                            path, value,
                            """
                            \(path) in body should be less than \
                            \(excl ? "" : "or equal to ")\(GoFormat.value(node["maximum"]!))
                            """
                        ))
                }
            }
            if let m = node["multipleOf"]?.double, m > 0, (d / m).rounded() != d / m {
                errs.append(
                    .invalid(
                        path, value, "\(path) in body should be a multiple of \(GoFormat.value(node["multipleOf"]!))"))
            }
        case .array(let a):
            if let max = node["maxItems"]?.int, a.count > max {
                errs.append(.tooMany(path, actual: a.count, max: Int(max)))
            }
            if let min = node["minItems"]?.int, a.count < min {
                errs.append(.invalid(path, value, "\(path) in body should have at least \(min) items"))
            }
            if node["uniqueItems"]?.bool == true, Set(a).count != a.count {
                errs.append(.invalid(path, value, "\(path) in body shouldn't contain duplicates"))
            }
            if let items = node["items"].map({ SimSchema(node: $0, components: schema.components) }) {
                for (i, v) in a.enumerated() { validateValue(v, items, "\(path)[\(i)]", &errs) }
            }
        case .object(let o):
            if let max = node["maxProperties"]?.int, o.count > max {
                errs.append(.tooMany(path, actual: o.count, max: Int(max)))
            }
            if let min = node["minProperties"]?.int, o.count < min {
                errs.append(.invalid(path, value, "\(path) in body should have at least \(min) properties"))
            }
            for r in (node["required"]?.array ?? []).compactMap(\.string) where o[r] == nil {
                errs.append(.required(path + "." + r))
            }
            if schema.isEmbeddedResource { break }
            for k in o.keys.sorted(by: GoFormat.less) {
                if let p = schema.properties?[k] {
                    validateValue(o[k]!, SimSchema(node: p, components: schema.components), path + "." + k, &errs)
                } else if let ap = schema.additionalProperties {
                    validateValue(o[k]!, ap, path + "." + k, &errs)
                }
            }
        default: break
        }
    }

    // MARK: unknown fields

    /// How a path to an undeclared field is written.
    public enum PathStyle: Sendable {
        /// The decoder's (strict decoding errors and `unknown field` warnings): `spec.containers[0].bogus`.
        case decoder
        /// structured-merge-diff's (server-side apply's typed patch): `.spec.containers[name="web"].bogus`.
        case typed
    }

    /// The fields of `obj` that `schema` does not declare, in the order the API server reports
    /// them: built-in kinds in the body's order (`order`: Go's decoder walks the document);
    /// custom resources sorted (the pruner sorts), their `metadata` fields after the others;
    /// `.typed` sorted. Honours `x-kubernetes-preserve-unknown-fields`, maps
    /// (`additionalProperties`), int-or-string, embedded resources (`apiVersion`, `kind`,
    /// `metadata` always allowed; metadata checked as ObjectMeta) and, for a custom resource, the
    /// root's `metadata` (ObjectMeta, whatever the CRD declares). In a built-in kind an object
    /// with no declared properties (RawExtension, FieldsV1, apiextensions JSON) is free-form; in a
    /// custom resource's structural schema it is empty: every field in it is unknown.
    public static func unknownFields(
        _ obj: JSON, schema: SimSchema, customResource: Bool = false, style: PathStyle = .decoder,
        order: SimKeyOrder = .sorted
    ) -> [String] {
        strictEntries(obj, schema: schema, customResource: customResource, style: style, order: order).compactMap {
            $0.duplicate ? nil : $0.path
        }
    }

    /// The strict-decoding errors of a create/update body, in the server's order: `unknown field
    /// "spec.bogus"` for undeclared fields and `duplicate field "x"` for a key the JSON body
    /// repeats (`order` holds repeats). Custom resources: duplicates (the JSON decoder's) first.
    public static func strictErrors(
        _ obj: JSON, schema: SimSchema, customResource: Bool = false, order: SimKeyOrder = .sorted
    ) -> [String] {
        strictEntries(obj, schema: schema, customResource: customResource, style: .decoder, order: order)
            .map { "\($0.duplicate ? "duplicate" : "unknown") field \"\($0.path)\"" }
    }

    struct StrictEntry {
        var path: String
        var duplicate: Bool
    }

    static func strictEntries(
        _ obj: JSON, schema: SimSchema, customResource: Bool, style: PathStyle, order: SimKeyOrder
    ) -> [StrictEntry] {
        var walker = UnknownFieldWalker(customResource: customResource, style: style, order: order)
        walker.walk(obj, schema, path: "", root: true)
        let found = walker.found
        if style == .typed { return found.filter { !$0.duplicate }.sorted { GoFormat.less($0.path, $1.path) } }
        guard customResource else { return found }
        let unknown = found.filter { !$0.duplicate }
        return found.filter(\.duplicate)
            + unknown.filter { !$0.path.hasPrefix("metadata.") }.sorted { GoFormat.less($0.path, $1.path) }
            + unknown.filter { $0.path.hasPrefix("metadata.") }
    }

    /// The fields of ObjectMeta (apimachinery meta/v1), for custom resources and embedded objects.
    static let objectMetaSchema: SimSchema = {
        let string: JSON = ["type": "string"]
        let map: JSON = ["type": "object", "additionalProperties": ["type": "string"]]
        let meta: JSON = [
            "type": "object",
            "properties": [
                "name": string, "generateName": string, "namespace": string, "selfLink": string, "uid": string,
                "resourceVersion": string, "generation": ["type": "integer"], "creationTimestamp": string,
                "deletionTimestamp": string, "deletionGracePeriodSeconds": ["type": "integer"],
                "labels": map, "annotations": map,
                "ownerReferences": [
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
                    "items": [
                        "type": "object",
                        "properties": [
                            "apiVersion": string, "kind": string, "name": string, "uid": string,
                            "controller": ["type": "boolean"], "blockOwnerDeletion": ["type": "boolean"]
                        ]
                    ]
                ],
                "finalizers": ["type": "array", "items": string],
                "managedFields": [
                    "type": "array",
                    "items": [
                        "type": "object",
                        "properties": [
                            "manager": string, "operation": string, "apiVersion": string, "time": string,
                            "fieldsType": string,
                            "fieldsV1": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                            "subresource": string
                        ]
                    ]
                ]
            ]
        ]
        return SimSchema(node: meta)
    }()

    struct UnknownFieldWalker {
        let customResource: Bool
        let style: PathStyle
        let order: SimKeyOrder
        var found: [StrictEntry] = []

        func fieldPath(_ path: String, _ key: String) -> String {
            style == .typed ? path + "." + key : SimKeyOrder.child(path, key)
        }

        /// A list element in structured-merge-diff's notation: `[name="web"]`, `[containerPort=80,protocol="TCP"]`,
        /// `[="x"]`, `[3]`.
        func itemPath(_ path: String, _ i: Int, _ item: JSON, _ schema: SimSchema?) -> String {
            guard style == .typed else { return SimKeyOrder.index(path, i) }
            switch schema?.listType {
            case "map"?:
                let keys = schema!.listMapKeys.compactMap { k in item[k].map { "\(k)=\(GoFormat.json($0))" } }
                return keys.isEmpty ? "\(path)[\(i)]" : "\(path)[\(keys.joined(separator: ","))]"
            case "set"?: return "\(path)[=\(GoFormat.json(item))]"
            default: return "\(path)[\(i)]"
            }
        }

        mutating func walk(_ value: JSON, _ schema: SimSchema, path: String, root: Bool = false) {
            switch value {
            case .object(let o):
                if schema.isIntOrString { return }
                let t = schema.type
                if t != nil, t != "object" { return }  // a type error, not an unknown field
                let embedded = root || schema.isEmbeddedResource
                let free = !customResource && schema.properties == nil && schema.additionalProperties == nil
                var seen = Set<String>()
                let keys =
                    style == .typed
                    ? o.keys.sorted(by: GoFormat.less) : order.order(of: o, at: root ? "" : path, repeats: true)
                for k in keys {
                    let p = fieldPath(path, k)
                    if !seen.insert(k).inserted {
                        if style == .decoder { found.append(StrictEntry(path: p, duplicate: true)) }
                        continue
                    }
                    let v = o[k]!
                    if embedded, customResource || schema.isEmbeddedResource, k == "metadata" {
                        walk(v, SimValidation.objectMetaSchema, path: p)
                        continue
                    }
                    if embedded, customResource || schema.isEmbeddedResource, k == "apiVersion" || k == "kind" {
                        continue
                    }
                    if let child = schema.properties?[k] {
                        walk(v, SimSchema(node: child, components: schema.components), path: p)
                        continue
                    }
                    if let ap = schema.additionalProperties {
                        walk(v, ap, path: p)
                        continue
                    }
                    if schema.preservesUnknownFields || free { continue }
                    found.append(StrictEntry(path: p, duplicate: false))
                }
            case .array(let a):
                if let t = schema.type, t != "array" { return }
                guard let items = schema.node["items"].map({ SimSchema(node: $0, components: schema.components) })
                else { return }
                for (i, v) in a.enumerated() { walk(v, items, path: itemPath(path, i, v, schema)) }
            default: return
            }
        }
    }

    /// `fieldValidation=Strict` on create/update with undeclared fields: 400, `ConfigMap in version
    /// "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus", ...`.
    /// The object as the API server keeps it: undeclared fields dropped (Go's decoder into the
    /// kind's structs; a custom resource's pruner, which also drops unknown `metadata` fields),
    /// with the same rules as `unknownFields`. Server-side apply refuses them instead (500).
    public static func pruneUnknownFields(_ obj: JSON, schema: SimSchema, customResource: Bool = false) -> JSON {
        prune(obj, schema, customResource: customResource, root: true)
    }

    static func prune(_ value: JSON, _ schema: SimSchema, customResource: Bool, root: Bool = false) -> JSON {
        switch value {
        case .object(let o):
            if schema.isIntOrString { return value }
            if let t = schema.type, t != "object" { return value }
            let typeMetaImplicit = (root && customResource) || schema.isEmbeddedResource
            let free = !customResource && schema.properties == nil && schema.additionalProperties == nil
            var out: [String: JSON] = [:]
            for (k, v) in o {
                if typeMetaImplicit, k == "metadata" {
                    out[k] = prune(v, objectMetaSchema, customResource: customResource)
                    continue
                }
                if typeMetaImplicit, k == "apiVersion" || k == "kind" {
                    out[k] = v
                    continue
                }
                if let p = schema.properties?[k] {
                    out[k] = prune(v, SimSchema(node: p, components: schema.components), customResource: customResource)
                } else if let ap = schema.additionalProperties {
                    out[k] = prune(v, ap, customResource: customResource)
                } else if schema.preservesUnknownFields || free {
                    out[k] = v
                }
            }
            return .object(out)
        case .array(let a):
            if let t = schema.type, t != "array" { return value }
            guard let items = schema.node["items"].map({ SimSchema(node: $0, components: schema.components) }) else {
                return value
            }
            return .array(a.map { prune($0, items, customResource: customResource) })
        default:
            return value
        }
    }

    /// `errors` as `strictErrors` writes them.
    public static func strictDecodingError(kind: String, version: String, errors: [String]) -> SimAPIError {
        statusError(
            code: 400, reason: "BadRequest",
            message:
                "\(kind) in version \(GoFormat.quote(version)) cannot be handled as a \(kind): strict decoding error: "
                + errors.joined(separator: ", "))
    }

    /// `fieldValidation=Strict` on a JSON merge patch or JSON patch whose result has undeclared
    /// fields (unrecorded; from apiserver's patch handler): 422 with an empty kind and name,
    /// the patched object as the bad value of field `patch`.
    public static func patchStrictError(patched: JSON, errors: [String]) -> SimAPIError {
        let err = SimFieldError.invalid(
            "patch", .string(GoFormat.json(patched)), "strict decoding error: " + errors.joined(separator: ", "))
        return invalid(kind: "", group: "", name: "", [err])
    }

    /// The `Warning` header values for `strictErrors` under `fieldValidation=Warn` (the server's
    /// default): one header line per error, `299 - "unknown field \"bogus\""` (Go's net/http
    /// writes each value of a header on its own line; the recordings hold a single one).
    public static func unknownFieldWarnings(_ errors: [String]) -> [String] {
        errors.map(warningHeader)
    }

    /// A `Warning` header value: `299 - "<text with quotes and backslashes escaped>"`.
    public static func warningHeader(_ text: String) -> String {
        "299 - \"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            + "\""
    }

    /// Server-side apply of a body with undeclared fields, whatever `fieldValidation` says: 500,
    /// no reason, `failed to create typed patch object (ns/name; group/version, Kind=K): .bogus: field not declared in
    /// schema`
    /// (namespace and name as the body has them). Several: `errors:\n  .a: ...\n  .b: ...`.
    public static func typedPatchError(patch: JSON, unknown paths: [String]) -> SimAPIError {
        let ns = string(patch[path: "metadata", "namespace"]), name = string(patch[path: "metadata", "name"])
        let gv = string(patch["apiVersion"])
        let (group, version) =
            gv.contains("/")
            ? (String(gv.split(separator: "/", maxSplits: 1)[0]), String(gv.split(separator: "/", maxSplits: 1)[1]))
            : ("", gv)
        let lines = paths.map { "\($0): field not declared in schema" }
        let detail = lines.count == 1 ? lines[0] : (["errors:"] + lines.map { "  " + $0 }).joined(separator: "\n")
        return statusError(
            code: 500, reason: "",
            message:
                """
                failed to create typed patch object (\(ns)/\(name); \(group)/\(version), \
                Kind=\(string(patch["kind"]))): \(detail)
                """
        )
    }
}
