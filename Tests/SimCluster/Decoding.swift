import AphexCore
import KubeClient
import Foundation
import Yams

/// Request-body decoding as kube-apiserver v1.36 does it, with its exact errors: the content
/// type (415), the request options (422 `CreateOptions`/`UpdateOptions`/`PatchOptions`), JSON
/// and YAML syntax (400, Go's `encoding/json` and go-yaml texts), the body's group/version/kind
/// against the URL's, strict decoding (`fieldValidation`), and the name and namespace of the
/// body against the URL. Pure functions: the router calls them (see `decode`).
public enum SimDecoding {
    /// `?fieldValidation=`: the server's default is Warn.
    public enum FieldValidation: String, Sendable {
        case ignore = "Ignore"
        case warn = "Warn"
        case strict = "Strict"
    }

    /// A PATCH's type, from its Content-Type.
    public enum PatchType: String, Sendable {
        case json = "application/json-patch+json"
        case merge = "application/merge-patch+json"
        case strategic = "application/strategic-merge-patch+json"
        case apply = "application/apply-patch+yaml"
    }

    /// A decoded body.
    public struct Decoded: Sendable, Equatable {
        /// The object (POST, PUT), the applied configuration (apply), the patch document
        /// (merge, strategic: an object; JSON patch: an array of operations).
        public var object: JSON
        /// Each object's keys in the body's order (JSON bodies; YAML ones decode sorted, as in Go).
        public var order: SimKeyOrder
        /// `Warning` header values to send with the response (strict-decoding problems under Warn).
        public var warnings: [String]
        /// PATCH only.
        public var patchType: PatchType?
        /// `fieldValidation` of the request (Warn when absent).
        public var fieldValidation: FieldValidation
    }

    /// Decodes a write request's body as the API server's handlers do, in their order. POST and
    /// PUT: media type (415) -> options (422) -> syntax (400) -> group/version/kind -> strict
    /// decoding against `schema` (400 under Strict, warnings under Warn) -> PUT's name against the
    /// URL -> namespace (taken from the URL when the body has none; 400 when they differ; cleared
    /// for cluster-scoped kinds). The returned object has undeclared fields dropped, as stored. PATCH: media type (415
    /// `415: Unsupported Media Type`) -> options
    /// (apply needs `fieldManager`) -> the patch document (apply: YAML/JSON, then its
    /// group/version/kind must be the URL's). What a PATCH needs after it has been applied to the
    /// stored object (`checkName`, `ensureNamespace`, `strictCheck` of the result) is the caller's.
    ///
    /// - query: the request's query parameters (fieldManager, fieldValidation, dryRun, force).
    /// - kind/group/version: the URL's type; `namespaced`; `customResource` (JSON and YAML only,
    ///   no protobuf; strict errors sorted); `name`/`namespace`: the URL's.
    /// - schema: the type's schema (recorded OpenAPI for built-ins, the CRD's for custom
    ///   resources); nil skips strict decoding.
    public static func decode(
        body: [UInt8], contentType: String?, method: String, query: [String: String] = [:],
        kind: String, group: String, version: String, namespaced: Bool, customResource: Bool = false,
        name: String? = nil, namespace: String? = nil, schema: SimSchema? = nil
    ) throws -> Decoded {
        switch method.uppercased() {
        case "PATCH":
            let type = try patchType(contentType: contentType, customResource: customResource)
            let directive = try validateOptions("PatchOptions", query: query, patchType: type)
            if type == .apply {
                return Decoded(
                    object: try decodeApply(body, kind: kind, group: group, version: version), order: .sorted,
                    warnings: [],
                    patchType: type, fieldValidation: directive)
            }
            let (value, order) = try parsePatch(body, type: type, fieldValidation: directive)
            return Decoded(object: value, order: order, warnings: [], patchType: type, fieldValidation: directive)
        default:
            try checkMediaType(contentType, customResource: customResource)
            let directive = try validateOptions(
                method.uppercased() == "PUT" ? "UpdateOptions" : "CreateOptions", query: query, patchType: nil)
            var (object, order) = try decodeObject(
                body, contentType: contentType, kind: kind, group: group, version: version)
            var warnings: [String] = []
            if let schema {
                warnings = try strictCheck(
                    object, schema: schema, customResource: customResource, kind: kind,
                    version: object.apiVersion.map(versionOf) ?? version, fieldValidation: directive, order: order)
                object = SimValidation.pruneUnknownFields(object, schema: schema, customResource: customResource)
            }
            if method.uppercased() == "PUT", let name { try checkName(object, name: name, namespace: namespace ?? "") }
            object = try ensureNamespace(object, requestNamespace: namespaced ? (namespace ?? "") : "")
            return Decoded(object: object, order: order, warnings: warnings, patchType: nil, fieldValidation: directive)
        }
    }

    // MARK: media types

    static let builtinMediaTypes = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    static let customResourceMediaTypes = ["application/json", "application/yaml"]

    /// The media type without parameters, lowercased ("" when absent).
    public static func mediaType(_ contentType: String?) -> String {
        guard let ct = contentType else { return "" }
        let base = ct.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return base.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// POST/PUT: 415 for a media type the resource's serializers don't take (no details); an
    /// absent Content-Type means JSON. Protobuf is accepted by real built-ins but not decoded
    /// here: it is refused with the same message.
    public static func checkMediaType(_ contentType: String?, customResource: Bool = false) throws {
        let mt = mediaType(contentType)
        if mt.isEmpty || mt == "application/json" || mt == "application/yaml" { return }
        let accepted = customResource ? customResourceMediaTypes : builtinMediaTypes
        throw SimValidation.statusError(
            code: 415, reason: "UnsupportedMediaType",
            message: "the body of the request was in an unknown format - accepted media types include: "
                + accepted.joined(separator: ", "))
    }

    /// PATCH: the patch type, or 415 `415: Unsupported Media Type` with empty details
    /// (errors/415-patch-unsupported-content-type.json). Custom resources take no strategic merge patch.
    public static func patchType(contentType: String?, customResource: Bool = false) throws -> PatchType {
        guard let t = PatchType(rawValue: mediaType(contentType)), !(customResource && t == .strategic) else {
            throw SimValidation.statusError(
                code: 415, reason: "UnsupportedMediaType", message: "415: Unsupported Media Type", details: [:])
        }
        return t
    }

    // MARK: options

    /// `ValidateCreateOptions` / `ValidateUpdateOptions` / `ValidatePatchOptions`: 422
    /// `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`.
    /// Returns the field validation directive (Warn when absent).
    public static func validateOptions(_ kind: String, query: [String: String], patchType: PatchType?) throws
        -> FieldValidation
    {
        var errs: [SimFieldError] = []
        let manager = query["fieldManager"] ?? ""
        if kind == "PatchOptions" {
            if patchType == .apply {
                if manager.isEmpty { errs.append(.required("fieldManager", "is required for apply patch")) }
            } else if query["force"] != nil {
                errs.append(.forbidden("force", "may not be specified for non-apply patch"))
            }
        }
        if manager.utf8.count > 128 { errs.append(.tooLong("fieldManager", max: 128)) }
        if let dry = query["dryRun"], dry != "All" { errs.append(.notSupported("dryRun", [.string(dry)], ["All"])) }
        let fv = query["fieldValidation"] ?? ""
        if !["", "Ignore", "Strict", "Warn"].contains(fv) {
            errs.append(.notSupported("fieldValidation", .string(fv), ["", "Ignore", "Strict", "Warn"]))
        }
        if !errs.isEmpty { throw SimValidation.invalid(kind: kind, group: "meta.k8s.io", name: "", errs) }
        return FieldValidation(rawValue: fv) ?? .warn
    }

    // MARK: POST / PUT bodies

    static func versionOf(_ apiVersion: String) -> String {
        apiVersion.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
    }

    /// `schema.ParseGroupVersion`: "v1" is the core group; more than one "/" is no group/version at all.
    static func groupVersion(_ apiVersion: String) -> (group: String, version: String) {
        let parts = apiVersion.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: return ("", parts[0])
        case 2: return (parts[0], parts[1])
        default: return ("", "")
        }
    }

    /// `transformDecodeError`'s summary of a body it could not read: up to 30 bytes, as text
    /// when it starts with `{`, else in hex.
    static func summarize(_ body: [UInt8]) -> String {
        if body.isEmpty { return "<empty>" }
        let head = body.prefix(30)
        let text =
            body.first == UInt8(ascii: "{")
            ? String(decoding: head, as: UTF8.self) : head.map { String(format: "%02x", $0) }.joined()
        return body.count > 30 ? text + " ..." : text
    }

    /// Decodes a create/update body into the URL's kind: JSON (Go's syntax errors) or YAML
    /// (go-yaml's), a missing apiVersion/kind taken from the URL (the handler decodes with the
    /// URL's kind as default), a different kind refused.
    public static func decodeObject(_ body: [UInt8], contentType: String?, kind: String, group: String, version: String)
        throws -> (JSON, SimKeyOrder)
    {
        let unrecognized = { (detail: String) -> SimAPIError in
            SimValidation.statusError(
                code: 400, reason: "BadRequest",
                message: "the object provided is unrecognized (must be of type \(kind)): \(detail) (\(summarize(body)))"
            )
        }
        var value: JSON
        var order = SimKeyOrder.sorted
        if mediaType(contentType) == "application/yaml" {
            do { value = try yamlToJSON(body) ?? .null } catch let e as GoYAMLError { throw unrecognized(e.message) }
        } else {
            switch GoJSONSyntax.check(body) {
            case .failure(let e): throw unrecognized("couldn't get version/kind; json parse error: " + e.message)
            case .success(let keys): order = keys
            }
            do { value = try JSON.parse(body) } catch {
                throw unrecognized("couldn't get version/kind; json parse error: \(error)")
            }
        }
        // SimpleMetaFactory.Interpret: apiVersion and kind, as strings, from an object.
        let findKind =
            #"struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" }"#
        switch value {
        case .object: break
        case .null: value = [:]
        default:
            throw unrecognized(
                """
                couldn't get version/kind; json parse error: json: cannot unmarshal \
                \(GoJSONSyntax.typeName(value)) into Go value of type \(findKind)
                """
            )
        }
        for f in ["apiVersion", "kind"] {
            if let v = value[f], v != .null, v.string == nil {
                throw unrecognized(
                    """
                    couldn't get version/kind; json parse error: json: cannot unmarshal \
                    \(GoJSONSyntax.typeName(v)) into Go struct field .\(f) of type string
                    """
                )
            }
        }
        let apiVersion = value.apiVersion ?? "", bodyKind = value.kind ?? ""
        if apiVersion.isEmpty { value["apiVersion"] = .string(group.isEmpty ? version : "\(group)/\(version)") }
        if bodyKind.isEmpty { value["kind"] = .string(kind) }
        let gv = groupVersion(value.apiVersion ?? "")
        let actualKind = value.kind ?? kind
        // Another kind, or another group, cannot be converted into the URL's type. (Another
        // version of the same group is accepted as it is: conversion is not modelled.) The text
        // follows apimachinery's codec errors; unrecorded.
        if actualKind != kind || gv.group != group {
            throw SimValidation.statusError(
                code: 400, reason: "BadRequest",
                message:
                    """
                    \(actualKind) in version \(GoFormat.quote(gv.version)) cannot be handled as a \(kind): no \
                    kind \(GoFormat.quote(actualKind)) is registered for version \
                    \(GoFormat.quote(value.apiVersion ?? "")) in scheme \"pkg/api/legacyscheme/scheme.go:30\"
                    """
            )
        }
        return (value, order)
    }

    /// Strict decoding of a create/update body (or a patched object) against its schema:
    /// under Strict a 400 (`ConfigMap in version "v1" cannot be handled as a ConfigMap: strict
    /// decoding error: unknown field "bogus", unknown field "spec"`), under Warn the `Warning`
    /// header values, under Ignore nothing. `patch: true` for the result of a JSON merge / JSON
    /// / strategic patch, whose strict failure is the patch handler's 422 instead.
    public static func strictCheck(
        _ object: JSON, schema: SimSchema, customResource: Bool = false, kind: String, version: String,
        fieldValidation: FieldValidation, order: SimKeyOrder = .sorted, patch: Bool = false
    ) throws -> [String] {
        guard fieldValidation != .ignore else { return [] }
        let errors = SimValidation.strictErrors(object, schema: schema, customResource: customResource, order: order)
        guard !errors.isEmpty else { return [] }
        if fieldValidation == .warn { return SimValidation.unknownFieldWarnings(errors) }
        if patch { throw SimValidation.patchStrictError(patched: object, errors: errors) }
        throw SimValidation.strictDecodingError(kind: kind, version: version, errors: errors)
    }

    // MARK: names and namespaces

    /// `checkName` (PUT, every PATCH after the patch was applied): 400 `the name of the object
    /// (other) does not match the name on the URL (cm1)`, or the namespace's equivalent.
    public static func checkName(_ object: JSON, name: String, namespace: String) throws {
        let objName = object.name ?? ""
        if objName != name {
            throw SimAPIError.badRequest(
                "the name of the object (\(objName)) does not match the name on the URL (\(name))")
        }
        if !namespace.isEmpty, let objNamespace = object.namespace, !objNamespace.isEmpty, objNamespace != namespace {
            throw SimAPIError.badRequest(
                "the namespace of the object (\(objNamespace)) does not match the namespace on the URL (\(namespace))")
        }
    }

    /// `EnsureObjectNamespaceMatchesRequestNamespace`: an object without a namespace gets the
    /// URL's (ssa/8-apply-json-body.json), a cluster-scoped one loses its, a different one is a 400.
    /// `requestNamespace` is "" for a cluster-scoped kind.
    public static func ensureNamespace(_ object: JSON, requestNamespace: String) throws -> JSON {
        var o = object
        let objNamespace = object.namespace ?? ""
        if objNamespace == requestNamespace { return o }
        if objNamespace.isEmpty {
            o.set(["metadata", "namespace"], to: .string(requestNamespace))
            return o
        }
        if requestNamespace.isEmpty {
            o.set(["metadata", "namespace"], to: nil)
            return o
        }
        throw SimAPIError.badRequest(
            "the namespace of the provided object does not match the namespace sent on the request")
    }

    // MARK: patches

    /// The applied configuration of a server-side apply (`application/apply-patch+yaml`, JSON
    /// or YAML): go-yaml's errors (`error decoding YAML: error converting YAML to JSON: yaml:
    /// line 4: did not find expected key`), then its group/version/kind must be the URL's
    /// (400 `invalid object type: /, Kind=`). The typed conversion (undeclared fields: 500, see
    /// `SimValidation.typedPatchError`) and the name check come after, in that order.
    public static func decodeApply(_ body: [UInt8], kind: String, group: String, version: String) throws -> JSON {
        var value: JSON
        do { value = try yamlToJSON(body) ?? [:] } catch let e as GoYAMLError {
            throw SimAPIError.badRequest("error decoding YAML: error converting YAML to JSON: " + e.message)
        }
        switch value {
        case .object: break
        case .null: value = [:]
        default:
            throw SimAPIError.badRequest(
                """
                error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal \
                \(GoJSONSyntax.typeName(value)) into Go value of type map[string]interface {}
                """
            )
        }
        let gv = groupVersion(value["apiVersion"]?.string ?? "")
        let k = value["kind"]?.string ?? ""
        if gv.group != group || gv.version != version || k != kind {
            throw SimAPIError.badRequest("invalid object type: \(gv.group)/\(gv.version), Kind=\(k)")
        }
        return value
    }

    /// A JSON merge, strategic merge or JSON patch document. Its syntax errors (unrecorded):
    /// under Warn or Strict the patch handler's strict pre-read, 400 `error decoding patch:
    /// <Go's error>`; under Ignore 400 `Invalid JSON Patch` (merge) or Go's error (JSON patch).
    public static func parsePatch(_ body: [UInt8], type: PatchType, fieldValidation: FieldValidation) throws -> (
        JSON, SimKeyOrder
    ) {
        switch GoJSONSyntax.check(body) {
        case .failure(let e):
            if fieldValidation != .ignore { throw SimAPIError.badRequest("error decoding patch: " + e.message) }
            throw SimAPIError.badRequest(type == .json ? e.message : "Invalid JSON Patch")
        case .success(let order):
            let value = try JSON.parse(body)
            if type == .json, value.array == nil {
                throw SimAPIError.badRequest(
                    "json: cannot unmarshal \(GoJSONSyntax.typeName(value)) into Go value of type jsonpatch.Patch")
            }
            if type != .json, value.object == nil, value != .null {
                throw SimAPIError.badRequest(
                    """
                    error decoding patch: json: cannot unmarshal \(GoJSONSyntax.typeName(value)) into Go value of \
                    type map[string]interface {}
                    """
                )
            }
            return (value, order)
        }
    }

    // MARK: YAML

    /// A go-yaml error as sigs.k8s.io/yaml reports it: `yaml: line N: <libyaml's problem>`.
    struct GoYAMLError: Error { var message: String }

    /// YAML (or JSON, which is YAML) to `JSON` as sigs.k8s.io/yaml's `YAMLToJSON` does: the first
    /// document (nil when there is none), timestamps kept as strings.
    static func yamlToJSON(_ body: [UInt8]) throws -> JSON? {
        let text = String(decoding: body, as: UTF8.self)
        do {
            let parser = try Parser(yaml: text, resolver: Resolver.default.removing(.timestamp))
            return try parser.nextRoot().map { SimJSON.fromYAML($0.any) }
        } catch let e as YamlError {
            throw GoYAMLError(message: goYAMLMessage(e))
        }
    }

    /// go-yaml v2's `fail()`: "line N: " from the problem mark (0-based; +1 for scanner errors),
    /// else from the context mark, nothing when both are on the first line.
    static func goYAMLMessage(_ e: YamlError) -> String {
        func location(_ problemLine1: Int, _ context: YamlError.Context?, scanner: Bool) -> String {
            let problem0 = problemLine1 - 1
            var line = 0
            if problem0 != 0 {
                line = scanner ? problem0 + 1 : problem0
            } else if let c = context, c.mark.line - 1 != 0 {
                line = c.mark.line - 1
            }
            return line != 0 ? "line \(line): " : ""
        }
        switch e {
        case let .scanner(context, problem, mark, _):
            return "yaml: " + location(mark.line, context, scanner: true) + problem
        case let .parser(context, problem, mark, _):
            return "yaml: " + location(mark.line, context, scanner: false) + problem
        case let .composer(context, problem, mark, _):
            return "yaml: " + location(mark.line, context, scanner: false) + problem
        case let .reader(problem, _, _, _): return "yaml: " + problem
        case let .duplicatedKeysInMapping(duplicates, context):
            return "yaml: unmarshal errors:\n"
                + duplicates.map { "  line \(context.mark.line): key \(GoFormat.quote($0)) already set in map" }.joined(
                    separator: "\n")
        default: return "yaml: \(e)"
        }
    }
}

// MARK: - Go's encoding/json syntax check

/// Go's `encoding/json` scanner, for its exact syntax errors (`invalid character 'h' in literal
/// true (expecting 'r')`, `unexpected end of JSON input`), recording each object's keys in
/// document order (repeats kept) as it goes.
enum GoJSONSyntax {
    struct SyntaxError: Error { var message: String }

    static func check(_ bytes: [UInt8]) -> Result<SimKeyOrder, SyntaxError> {
        var s = Scanner(b: bytes)
        do {
            try s.value(path: "")
            s.skipSpace()
            if s.i < bytes.count { throw s.invalid("after top-level value") }
            return .success(SimKeyOrder(s.keys))
        } catch let e as SyntaxError {
            return .failure(e)
        } catch {
            return .failure(SyntaxError(message: "\(error)"))
        }
    }

    /// The JSON value's kind as Go's `UnmarshalTypeError` names it.
    static func typeName(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// `quoteChar`: `'x'`, `'\''`, `'"'`, control characters escaped as `strconv.Quote` does.
    static func quoteChar(_ c: UInt8) -> String {
        if c == UInt8(ascii: "'") { return "'\\''" }
        if c == UInt8(ascii: "\"") { return "'\"'" }
        let q = GoFormat.quote(String(UnicodeScalar(c)))
        return "'" + q.dropFirst().dropLast() + "'"
    }

    struct Scanner {
        let b: [UInt8]
        var i = 0
        var keys: [String: [String]] = [:]

        init(b: [UInt8]) { self.b = b }

        func invalid(_ context: String) -> SyntaxError {
            SyntaxError(message: "invalid character \(GoJSONSyntax.quoteChar(b[i])) \(context)")
        }
        var end: SyntaxError { SyntaxError(message: "unexpected end of JSON input") }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }

        mutating func value(path: String) throws {
            skipSpace()
            guard i < b.count else { throw end }
            switch b[i] {
            case UInt8(ascii: "{"): try object(path: path)
            case UInt8(ascii: "["): try array(path: path)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: throw invalid("looking for beginning of value")
            }
        }

        mutating func object(path: String) throws {
            i += 1
            var list: [String] = []
            defer { if keys[path] == nil { keys[path] = list } }
            skipSpace()
            guard i < b.count else { throw end }
            if b[i] == UInt8(ascii: "}") {
                i += 1
                keys[path] = list
                return
            }
            while true {
                skipSpace()
                guard i < b.count else { throw end }
                guard b[i] == UInt8(ascii: "\"") else { throw invalid("looking for beginning of object key string") }
                let key = try string()
                list.append(key)
                skipSpace()
                guard i < b.count else { throw end }
                guard b[i] == UInt8(ascii: ":") else { throw invalid("after object key") }
                i += 1
                try value(path: SimKeyOrder.child(path, key))
                skipSpace()
                guard i < b.count else { throw end }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "}") {
                    i += 1
                    keys[path] = list
                    return
                }
                throw invalid("after object key:value pair")
            }
        }

        mutating func array(path: String) throws {
            i += 1
            skipSpace()
            guard i < b.count else { throw end }
            if b[i] == UInt8(ascii: "]") {
                i += 1
                return
            }
            var n = 0
            while true {
                try value(path: SimKeyOrder.index(path, n))
                n += 1
                skipSpace()
                guard i < b.count else { throw end }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "]") {
                    i += 1
                    return
                }
                throw invalid("after array element")
            }
        }

        /// A string literal (at its opening quote), decoded.
        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw end }
                let c = b[i]
                switch c {
                case UInt8(ascii: "\""):
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    i += 1
                    guard i < b.count else { throw end }
                    switch b[i] {
                    case UInt8(ascii: "b"):
                        out.append(8)
                        i += 1
                    case UInt8(ascii: "f"):
                        out.append(12)
                        i += 1
                    case UInt8(ascii: "n"):
                        out.append(10)
                        i += 1
                    case UInt8(ascii: "r"):
                        out.append(13)
                        i += 1
                    case UInt8(ascii: "t"):
                        out.append(9)
                        i += 1
                    case UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "\""):
                        out.append(b[i])
                        i += 1
                    case UInt8(ascii: "u"):
                        i += 1
                        var code: UInt32 = 0
                        for _ in 0..<4 {
                            guard i < b.count else { throw end }
                            guard let h = hexValue(b[i]) else { throw invalid("in \\u hexadecimal character escape") }
                            code = code << 4 | h
                            i += 1
                        }
                        // A surrogate pair decodes to one scalar; a lone surrogate to U+FFFD (as Go).
                        if (0xD800...0xDBFF).contains(code), i + 5 < b.count, b[i] == UInt8(ascii: "\\"),
                            b[i + 1] == UInt8(ascii: "u"),
                            let lo = (2...5).reduce(
                                UInt32?(0), { acc, k in acc.flatMap { a in hexValue(b[i + k]).map { a << 4 | $0 } } }),
                            (0xDC00...0xDFFF).contains(lo)
                        {
                            code = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00)
                            i += 6
                        }
                        out += Array(String(UnicodeScalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                    default: throw invalid("in string escape code")
                    }
                default:
                    if c < 0x20 { throw invalid("in string literal") }
                    out.append(c)
                    i += 1
                }
            }
        }

        func hexValue(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - 55)
            default: return nil
            }
        }

        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

        mutating func number() throws {
            if b[i] == UInt8(ascii: "-") {
                i += 1
                guard i < b.count else { throw end }
                guard isDigit(b[i]) else { throw invalid("in numeric literal") }
            }
            if b[i] == UInt8(ascii: "0") { i += 1 } else { while i < b.count, isDigit(b[i]) { i += 1 } }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard i < b.count else { throw end }
                guard isDigit(b[i]) else { throw invalid("after decimal point in numeric literal") }
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                guard i < b.count else { throw end }
                if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                    i += 1
                    guard i < b.count else { throw end }
                }
                guard isDigit(b[i]) else { throw invalid("in exponent of numeric literal") }
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            i += 1
            for k in 1..<w.count {
                guard i < b.count else { throw end }
                guard b[i] == w[k] else {
                    throw invalid("in literal \(word) (expecting \(GoJSONSyntax.quoteChar(w[k])))")
                }
                i += 1
            }
        }
    }
}
