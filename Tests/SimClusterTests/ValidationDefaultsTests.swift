import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

// Validation, defaulting and request-body decoding (SimValidation, SimDefaults, SimDecoding)
// against the recordings of a real kube-apiserver v1.36.2 in ../shared/realapi: each recorded
// request body goes through the functions in the order the router calls them, and the result
// must be the recorded response (the Status exactly, or the stored object's structure).

/// A recorded exchange, with the request body's bytes as the client sent them (key order kept:
/// Go reports errors in document order, and our `JSON` objects forget it).
struct Exchange {
    let request: JSON
    let response: JSON
    let body: [UInt8]

    init(_ file: String) throws {
        let raw = try RealAPI.bytes(file)
        let all = try JSON.parse(raw)
        request = all["request"] ?? [:]
        response = all["response"] ?? [:]
        switch request["body"] {
        case .string(let s)?: body = Array(s.utf8)
        case .some: body = Array(raw[RawSpan.of(["request", "body"], in: raw)!])
        case nil: body = []
        }
    }

    var method: String { request["method"]?.string ?? "" }
    var query: [String: String] { request["query"]?.stringMap ?? [:] }
    var contentType: String? { request[path: "headers", "Content-Type"]?.string }
    var status: Int { Int(response["status"]?.int ?? 0) }
    var responseBody: JSON { response["body"] ?? .null }
    /// The URL's object name (PATCH, PUT) and namespace.
    var urlName: String? {
        method == "POST" ? nil : request["path"]?.string?.split(separator: "/").last.map(String.init)
    }
    var urlNamespace: String? {
        let parts = (request["path"]?.string ?? "").split(separator: "/").map(String.init)
        // .../namespaces/NS/RESOURCE[/NAME]; /api/v1/namespaces/NAME is a Namespace itself.
        return parts.firstIndex(of: "namespaces").flatMap { $0 + 2 < parts.count ? parts[$0 + 1] : nil }
    }
}

/// The byte range of a value inside a JSON document, by object keys (for raw request bodies).
enum RawSpan {
    static func of(_ keys: [String], in b: [UInt8]) -> Range<Int>? {
        var i = 0
        var range: Range<Int>? = nil
        for key in keys {
            guard let r = member(key, in: b, from: i) else { return nil }
            range = r
            i = r.lowerBound
        }
        return range
    }

    static func skipSpace(_ b: [UInt8], _ i: inout Int) {
        while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 }
    }

    /// The value of `key` in the object starting at `start`.
    static func member(_ key: String, in b: [UInt8], from start: Int) -> Range<Int>? {
        var i = start
        skipSpace(b, &i)
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while i < b.count {
            skipSpace(b, &i)
            if b[i] == UInt8(ascii: "}") { return nil }
            let keyStart = i
            skipValue(b, &i)
            let k = (try? JSON.parse(Array(b[keyStart..<i])))?.string
            skipSpace(b, &i)
            i += 1  // ':'
            skipSpace(b, &i)
            let valueStart = i
            skipValue(b, &i)
            if k == key { return valueStart..<i }
            skipSpace(b, &i)
            if i < b.count, b[i] == UInt8(ascii: ",") { i += 1 }
        }
        return nil
    }

    static func skipValue(_ b: [UInt8], _ i: inout Int) {
        var depth = 0
        repeat {
            switch b[i] {
            case UInt8(ascii: "\""):
                i += 1
                while b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
            default:
                if depth == 0 {
                    while i < b.count, !",}] \n\r\t".utf8.contains(b[i]) { i += 1 }
                    return
                }
                i += 1
            }
        } while depth > 0 && i < b.count
    }
}

enum Schemas {
    static func builtin(_ document: String, _ name: String) throws -> SimSchema {
        let schemas = try RealAPI.responseBody(document)[path: "components", "schemas"]
        let node = try #require(schemas?[name], "no \(name) in \(document)")
        return SimSchema(node: node, components: schemas?.object ?? [:])
    }
    static func core(_ name: String) throws -> SimSchema {
        try builtin("openapi/get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1." + name)
    }
    static func apps(_ name: String) throws -> SimSchema {
        try builtin("openapi/get-openapi-v3-apis-apps-v1.json.gz", "io.k8s.api.apps.v1." + name)
    }
    static func crd() throws -> SimSchema {
        try builtin(
            "openapi/get-openapi-v3-apis-apiextensions.k8s.io-v1.json.gz",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    }

    /// A manifest of ../shared/manifests (the platform's real components), parsed.
    static func manifest(_ file: String) -> [JSON] {
        let text = (try? String(contentsOfFile: RealAPI.directory + "/../manifests/" + file, encoding: .utf8)) ?? ""
        return (try? SimJSON.documents(text)) ?? []
    }
    /// ArgoCD v3.3.0's install.yaml, parsed once.
    static let argocd: [JSON] = manifest("argocd-v3.3.0-install.yaml")

    static func argoCRD(_ name: String) throws -> JSON {
        try #require(
            argocd.first { $0.kind == "CustomResourceDefinition" && $0.name == name },
            "\(name) missing from install.yaml")
    }

    /// A custom resource's schema: its CRD's `openAPIV3Schema` (served version).
    static func customResource(_ crdName: String) throws -> SimSchema {
        let crd = try argoCRD(crdName)
        let node = try #require(crd[path: "spec", "versions"]?[0]?[path: "schema", "openAPIV3Schema"])
        return SimSchema(node: node)
    }
}

/// The structure a recorded object and a defaulted one must share: the values the store sets
/// (uid, resourceVersion, creationTimestamp, managedFields, generation) are left out.
func storedShape(_ obj: JSON) -> JSON {
    var o = obj
    for f in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"] {
        o.set(["metadata", f], to: nil)
    }
    return o
}

/// Where two JSON values differ in structure (keys at every level, array lengths, JSON types)
/// or value: empty when equal.
func differences(_ a: JSON, _ b: JSON, _ path: String = "") -> [String] {
    switch (a, b) {
    case (.object(let x), .object(let y)):
        var out: [String] = []
        for k in Set(x.keys).union(y.keys).sorted() {
            switch (x[k], y[k]) {
            case (nil, _?): out.append("\(path).\(k): missing")
            case (_?, nil): out.append("\(path).\(k): unexpected")
            case (let p?, let q?): out += differences(p, q, "\(path).\(k)")
            default: break
            }
        }
        return out
    case (.array(let x), .array(let y)):
        guard x.count == y.count else { return ["\(path): \(x.count) items, recorded \(y.count)"] }
        return zip(x, y).enumerated().flatMap { i, p in differences(p.0, p.1, "\(path)[\(i)]") }
    default:
        return a == b ? [] : ["\(path): \(a.serialized().prefix(120)) != recorded \(b.serialized().prefix(120))"]
    }
}

/// Runs `body` and returns the SimAPIError it throws (nil when it throws none).
func apiError(_ body: () throws -> Void) -> SimAPIError? {
    do {
        try body()
        return nil
    } catch let e as SimAPIError { return e } catch { return SimAPIError(code: 0, reason: "\(error)", message: "") }
}

/// The recorded Status must be the error's, exactly (code, reason, message, details).
func expectStatus(_ error: SimAPIError?, _ x: Exchange, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error else {
        Issue.record("no error; recorded \(x.status)", sourceLocation: sourceLocation)
        return
    }
    #expect(error.code == x.status, sourceLocation: sourceLocation)
    let diff = differences(error.status, x.responseBody)
    #expect(diff.isEmpty, "\(diff)", sourceLocation: sourceLocation)
}

@Suite struct ValidationDefaultsTests {
    // MARK: 422 metadata validation

    /// POST of a ConfigMap: decode, default, validate as the router does for a create.
    func create(_ x: Exchange, kind: String = "ConfigMap", group: String = "", version: String = "v1") throws {
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: x.method, query: x.query, kind: kind, group: group,
            version: version, namespaced: true, namespace: x.urlNamespace, schema: try Schemas.core(kind))
        let obj = SimDefaults.apply(d.object, kind: kind, group: group)
        try SimValidation.validateCreate(obj, kind: kind, group: group, namespaced: true, order: d.order)
    }

    @Test func invalidLabelValue() throws {
        let x = try Exchange("errors/422-create-invalid-label.json")
        expectStatus(apiError { try create(x) }, x)
    }

    @Test func invalidNameAndLabelsListEveryErrorInTheBodysOrder() throws {
        let x = try Exchange("errors/422-create-invalid-name-and-label.json")
        expectStatus(apiError { try create(x) }, x)
    }

    @Test func mergePatchRevalidatesMetadataFourTimes() throws {
        let x = try Exchange("errors/422-merge-patch-invalid.json")
        // The stored warn2 (created by crud/201-create-unknown-field-default), patched.
        let stored = try Exchange("crud/201-create-unknown-field-default.json").responseBody
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "PATCH", query: x.query, kind: "ConfigMap",
            group: "", version: "v1", namespaced: true, name: x.urlName, namespace: "default")
        #expect(d.patchType == .merge)
        let patched = SimDefaults.apply(
            SimJSON.mergePatch(stored, d.object), kind: "ConfigMap", group: "", operation: .update(old: stored))
        try SimDecoding.checkName(patched, name: "warn2", namespace: "default")
        let e = apiError {
            try SimValidation.validateUpdate(patched, old: stored, kind: "ConfigMap", group: "", namespaced: true)
        }
        expectStatus(e, x)
        #expect(e?.details?["causes"]?.array?.count == 4)
    }

    @Test func crdAnnotationsTooLong() throws {
        let x = try Exchange("errors/422-create-crd-annotation-too-long.json")
        // The recording omits the body: the applicationsets CRD with the last-applied
        // annotation client-side `kubectl apply` adds (the object itself, 340 KB).
        var crd = try Schemas.argoCRD("applicationsets.argoproj.io")
        crd.set(
            ["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"],
            to: .string(crd.serialized() + "\n"))
        let obj = SimDefaults.apply(crd, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io")
        #expect(SimValidation.strictErrors(obj, schema: try Schemas.crd()).isEmpty)
        expectStatus(
            apiError {
                try SimValidation.validateCreate(
                    obj, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", namespaced: false)
            }, x)
        // Without the annotation it is valid (its name is plural.group).
        crd.set(["metadata", "annotations"], to: nil)
        #expect(
            SimValidation.createErrors(
                crd, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", namespaced: false
            ).isEmpty)
    }

    @Test(arguments: ["crd", "openapi"])
    func customResourceMissingRequiredField(schemaSource: String) throws {
        let x = try Exchange("errors/422-create-cr-schema-invalid.json")
        // The same rule from the CRD in install.yaml and from the server's own OpenAPI document.
        let schema =
            schemaSource == "crd"
            ? try Schemas.customResource("applications.argoproj.io")
            : try Schemas.builtin(
                "openapi/get-openapi-v3-apis-argoproj.io-v1alpha1.json.gz", "io.argoproj.v1alpha1.Application")
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "POST", query: x.query, kind: "Application",
            group: "argoproj.io", version: "v1alpha1", namespaced: true, customResource: true,
            namespace: "argocd", schema: schema)
        #expect(d.warnings.isEmpty)
        let obj = SimDefaults.apply(d.object, kind: "Application", group: "argoproj.io", schema: schema)
        expectStatus(
            apiError {
                try SimValidation.validateCreate(
                    obj, kind: "Application", group: "argoproj.io", namespaced: true, schema: schema, order: d.order)
            }, x)
    }

    @Test func customResourceSchemaChecksTypesEnumsAndBounds() {
        let schema = SimSchema(node: [
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object", "required": ["size"],
                    "properties": [
                        "size": ["type": "integer", "minimum": 1, "maximum": 5],
                        "mode": ["type": "string", "enum": ["a", "b"]],
                        "name": ["type": "string", "maxLength": 3, "pattern": "^[a-z]+$"],
                        "tags": ["type": "array", "maxItems": 1, "items": ["type": "string"]],
                        "port": ["x-kubernetes-int-or-string": true]
                    ]
                ]
            ]
        ])
        let errs = SimValidation.customResourceErrors(
            ["spec": ["mode": "c", "name": "ABCD", "tags": ["x", 1], "port": "http"]], schema: schema)
        #expect(
            errs.map(\.description) == [
                "spec.size: Required value",
                "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"",
                "spec.name: Too long: may not be more than 3 bytes",
                "spec.name: Invalid value: \"ABCD\": spec.name in body should match '^[a-z]+$'",
                "spec.tags: Too many: 2: must have at most 1 item",
                "spec.tags[1]: Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\""
            ])
        #expect(
            errs.map(\.type.rawValue) == [
                "FieldValueRequired", "FieldValueNotSupported", "FieldValueTooLong", "FieldValueInvalid",
                "FieldValueTooMany", "FieldValueTypeInvalid"
            ])
        let bounds = SimValidation.customResourceErrors(["spec": ["size": 9]], schema: schema).map(\.description)
        #expect(bounds == ["spec.size: Invalid value: 9: spec.size in body should be less than or equal to 5"])
    }

    // MARK: 400 decoding

    @Test(arguments: ["errors/400-create-not-json.json", "errors/400-create-truncated-json.json"])
    func bodyThatIsNotJSON(file: String) throws {
        let x = try Exchange(file)
        expectStatus(apiError { try create(x) }, x)
    }

    @Test func strictDecodingListsUnknownFieldsInTheBodysOrder() throws {
        let x = try Exchange("errors/400-create-unknown-field-strict.json")
        expectStatus(apiError { try create(x) }, x)
        // The same body with its keys the other way round: Go's decoder follows the document.
        let reversed = Array(
            #"{"spec": {"x": 1}, "bogus": 1, "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "strict1"}}"#
                .utf8)
        let e = apiError {
            _ = try SimDecoding.decode(
                body: reversed, contentType: "application/json", method: "POST", query: ["fieldValidation": "Strict"],
                kind: "ConfigMap", group: "", version: "v1", namespaced: true, namespace: "default",
                schema: try Schemas.core("ConfigMap"))
        }
        #expect(e?.message.hasSuffix(#"strict decoding error: unknown field "spec", unknown field "bogus""#) == true)
    }

    @Test func repeatedKeysAreDuplicateFieldsOnlyToStrictDecoding() throws {
        let body = Array(
            #"""
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","labels":{"a":"x---","a":"y---"}},\#
            "data":{"k":"1"},"data":{"k":"2"}}
            """#
            .utf8)
        let e = apiError {
            _ = try SimDecoding.decode(
                body: body, contentType: "application/json", method: "POST", query: ["fieldValidation": "Strict"],
                kind: "ConfigMap", group: "", version: "v1", namespaced: true, namespace: "default",
                schema: try Schemas.core("ConfigMap"))
        }
        #expect(
            e?.message.hasSuffix(#"strict decoding error: duplicate field "metadata.labels.a", duplicate field "data""#)
                == true)
        // Under Warn the last value wins (as in Go) and the label is validated once.
        let d = try SimDecoding.decode(
            body: body, contentType: "application/json", method: "POST", kind: "ConfigMap", group: "", version: "v1",
            namespaced: true, namespace: "default", schema: try Schemas.core("ConfigMap"))
        #expect(d.warnings.count == 2 && d.object[path: "data", "k"] == "2")
        #expect(
            SimValidation.createErrors(d.object, kind: "ConfigMap", group: "", namespaced: true, order: d.order).count
                == 1)
    }

    @Test func strictDecodingOfACustomResource() throws {
        let x = try Exchange("errors/400-create-cr-unknown-field-strict.json")
        expectStatus(
            apiError {
                _ = try SimDecoding.decode(
                    body: x.body, contentType: x.contentType, method: "POST", query: x.query, kind: "Application",
                    group: "argoproj.io", version: "v1alpha1", namespaced: true, customResource: true,
                    namespace: "argocd", schema: try Schemas.customResource("applications.argoproj.io"))
            }, x)
    }

    @Test(arguments: ["crud/201-create-unknown-field-default.json", "crud/201-create-unknown-field-warn.json"])
    func unknownFieldWarnsAndIsDropped(file: String) throws {
        let x = try Exchange(file)
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "POST", query: x.query, kind: "ConfigMap", group: "",
            version: "v1", namespaced: true, namespace: "default", schema: try Schemas.core("ConfigMap"))
        #expect(d.warnings == [x.response[path: "headers", "Warning"]?.string ?? "?"])
        let stored = SimDefaults.apply(d.object, kind: "ConfigMap", group: "")
        #expect(
            differences(stored, storedShape(x.responseBody)).isEmpty,
            "\(differences(stored, storedShape(x.responseBody)))")
        #expect(SimValidation.createErrors(stored, kind: "ConfigMap", group: "", namespaced: true).isEmpty)
    }

    @Test func goJSONSyntaxErrors() {
        func message(_ text: String) -> String {
            if case .failure(let e) = GoJSONSyntax.check(Array(text.utf8)) { return e.message }
            return "valid"
        }
        #expect(message(#"{"a":1,}"#) == "invalid character '}' looking for beginning of object key string")
        #expect(message("[1,]") == "invalid character ']' looking for beginning of value")
        #expect(message(#"{"a" 1}"#) == "invalid character '1' after object key")
        #expect(message(#"{"a":1 "b":2}"#) == "invalid character '\"' after object key:value pair")
        #expect(message("[1 2]") == "invalid character '2' after array element")
        #expect(message("01") == "invalid character '1' after top-level value")
        #expect(message("tru e") == "invalid character ' ' in literal true (expecting 'e')")
        #expect(message(#""\x""#) == "invalid character 'x' in string escape code")
        #expect(message("-x") == "invalid character 'x' in numeric literal")
        #expect(message("1.e5") == "invalid character 'e' after decimal point in numeric literal")
        #expect(message("nul") == "unexpected end of JSON input")
        #expect(message("") == "unexpected end of JSON input")
        #expect(message(#"{"a":[1,{"b":null}],"c":"\u00e9"}"#) == "valid")
    }

    @Test func yamlErrorsNameTheLineAsGoYAMLDoes() throws {
        let x = try Exchange("errors/400-apply-yaml-syntax-error.json")
        expectStatus(
            apiError { _ = try SimDecoding.decodeApply(x.body, kind: "ConfigMap", group: "", version: "v1") }, x)
        // A scanner error on the second line (go-yaml counts scanner lines from 1).
        let e = apiError {
            _ = try SimDecoding.decodeApply(Array("a: 1\nb: c: d\n".utf8), kind: "ConfigMap", group: "", version: "v1")
        }
        #expect(
            e?.message
                == """
                error decoding YAML: error converting YAML to JSON: yaml: line 2: mapping values are not allowed \
                in this context
                """
        )
    }

    @Test func applyWithoutKind() throws {
        let x = try Exchange("errors/400-apply-missing-kind.json")
        expectStatus(
            apiError {
                _ = try SimDecoding.decode(
                    body: x.body, contentType: x.contentType, method: "PATCH", query: x.query, kind: "ConfigMap",
                    group: "", version: "v1", namespaced: true, name: x.urlName, namespace: "default")
            }, x)
        let e = apiError {
            _ = try SimDecoding.decodeApply(
                Array("apiVersion: apps/v1\nkind: Deployment\n".utf8), kind: "ConfigMap", group: "", version: "v1")
        }
        #expect(e?.message == "invalid object type: apps/v1, Kind=Deployment")
    }

    @Test func applyWithAnotherNameThanTheURL() throws {
        let x = try Exchange("errors/400-apply-name-mismatch.json")
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "PATCH", query: x.query, kind: "ConfigMap",
            group: "", version: "v1", namespaced: true, name: x.urlName, namespace: "default")
        #expect(d.patchType == .apply)
        // (The typed conversion comes first: this body has no undeclared field.)
        #expect(SimValidation.unknownFields(d.object, schema: try Schemas.core("ConfigMap"), style: .typed).isEmpty)
        expectStatus(apiError { try SimDecoding.checkName(d.object, name: "cm1", namespace: "default") }, x)
    }

    @Test func applyJSONBodyTakesTheNamespaceFromTheURL() throws {
        let x = try Exchange("ssa/8-apply-json-body.json")
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "PATCH", query: x.query, kind: "ConfigMap",
            group: "", version: "v1", namespaced: true, name: x.urlName, namespace: "default")
        try SimDecoding.checkName(d.object, name: "ssa-json", namespace: "default")
        let obj = try SimDecoding.ensureNamespace(d.object, requestNamespace: "default")
        #expect(differences(SimDefaults.apply(obj, kind: "ConfigMap", group: ""), storedShape(x.responseBody)).isEmpty)
        #expect(
            apiError { _ = try SimDecoding.ensureNamespace(obj, requestNamespace: "other") }?.message
                == "the namespace of the provided object does not match the namespace sent on the request")
    }

    // MARK: 415, 422 options

    @Test(arguments: [
        "errors/415-create-yaml-content-type-text.json", "errors/415-patch-unsupported-content-type.json",
        "errors/422-apply-without-fieldmanager.json"
    ])
    func mediaTypesAndOptions(file: String) throws {
        let x = try Exchange(file)
        expectStatus(
            apiError {
                _ = try SimDecoding.decode(
                    body: x.body, contentType: x.contentType, method: x.method, query: x.query, kind: "ConfigMap",
                    group: "", version: "v1", namespaced: true, name: x.urlName, namespace: "default",
                    schema: try Schemas.core("ConfigMap"))
            }, x)
    }

    // MARK: 500 server-side apply of undeclared fields

    @Test(arguments: [
        "errors/500-apply-unknown-field-strict.json", "errors/500-apply-unknown-field-ignore.json",
        "errors/500-apply-unknown-field-no-validation-param.json", "errors/500-apply-unknown-nested-field-strict.json",
        "errors/500-apply-cr-unknown-field-strict.json"
    ])
    func applyOfUndeclaredFields(file: String) throws {
        let x = try Exchange(file)
        let cr = file.contains("-cr-")
        let (kind, group, version) = cr ? ("Application", "argoproj.io", "v1alpha1") : ("ConfigMap", "", "v1")
        let schema = cr ? try Schemas.customResource("applications.argoproj.io") : try Schemas.core("ConfigMap")
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: "PATCH", query: x.query, kind: kind, group: group,
            version: version, namespaced: true, customResource: cr, name: x.urlName, namespace: x.urlNamespace)
        let unknown = SimValidation.unknownFields(d.object, schema: schema, customResource: cr, style: .typed)
        #expect(!unknown.isEmpty)
        expectStatus(SimValidation.typedPatchError(patch: d.object, unknown: unknown), x)
    }

    // MARK: unknown-field rules

    @Test func unknownFieldsHonourTheSchemasEscapes() throws {
        let schema = SimSchema(node: [
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object",
                    "properties": [
                        "free": [
                            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                            "properties": ["typed": ["type": "object", "properties": ["a": ["type": "string"]]]]
                        ],
                        "map": [
                            "type": "object",
                            "additionalProperties": ["type": "object", "properties": ["v": ["type": "string"]]]
                        ],
                        "port": ["x-kubernetes-int-or-string": true],
                        "embedded": [
                            "type": "object", "x-kubernetes-embedded-resource": true,
                            "properties": ["spec": ["type": "object"]]
                        ],
                        "items": [
                            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": ["type": "object", "properties": ["name": ["type": "string"]]]
                        ],
                        "empty": ["type": "object"]
                    ]
                ]
            ]
        ])
        let obj: JSON = [
            "apiVersion": "x/v1", "kind": "X", "metadata": ["name": "n", "bogusmeta": 1],
            "spec": [
                "free": ["anything": 1, "typed": ["a": "x", "b": 2]],
                "map": ["k1": ["v": "x", "w": 1]],
                "port": 8080,
                "embedded": [
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "e", "nope": true], "spec": ["z": 1],
                    "extra": 1
                ],
                "items": [["name": "web", "bad": 1]],
                "empty": ["lost": 1]
            ]
        ]
        #expect(
            SimValidation.unknownFields(obj, schema: schema, customResource: true) == [
                "spec.embedded.extra", "spec.embedded.metadata.nope", "spec.embedded.spec.z", "spec.empty.lost",
                "spec.free.typed.b",
                "spec.items[0].bad", "spec.map.k1.w", "metadata.bogusmeta"
            ])
        #expect(
            SimValidation.unknownFields(obj, schema: schema, customResource: true, style: .typed) == [
                ".metadata.bogusmeta", ".spec.embedded.extra", ".spec.embedded.metadata.nope", ".spec.embedded.spec.z",
                ".spec.empty.lost",
                ".spec.free.typed.b", ".spec.items[name=\"web\"].bad", ".spec.map.k1.w"
            ])
        let pruned = SimValidation.pruneUnknownFields(obj, schema: schema, customResource: true)
        #expect(SimValidation.unknownFields(pruned, schema: schema, customResource: true).isEmpty)
        #expect(pruned[path: "spec", "free", "anything"] == 1 && pruned[path: "spec", "port"] == 8080)
    }

    @Test func appliedDeploymentHasNoUndeclaredFields() throws {
        let deployment = try Exchange("ssa/4-apply-deployment-create.json")
        let d = try SimDecoding.decodeApply(deployment.body, kind: "Deployment", group: "apps", version: "v1")
        #expect(SimValidation.unknownFields(d, schema: try Schemas.apps("Deployment"), style: .typed).isEmpty)
        var bogus = d
        bogus.set(
            ["spec", "template", "spec", "containers"],
            to: [["name": "web", "image": "x", "imagePullPolicyy": "Always"]])
        #expect(
            SimValidation.unknownFields(bogus, schema: try Schemas.apps("Deployment")) == [
                "spec.template.spec.containers[0].imagePullPolicyy"
            ])
        #expect(
            SimValidation.unknownFields(bogus, schema: try Schemas.apps("Deployment"), style: .typed)
                == [#".spec.template.spec.containers[name="web"].imagePullPolicyy"#])
    }

    /// Every built-in object the platform installs (ArgoCD, Tekton pipelines, triggers,
    /// interceptors) is valid and keeps no undeclared field once defaulted; defaulting twice
    /// changes nothing. (The simulator must never refuse what a real server stores.)
    @Test(arguments: [
        "argocd-v3.3.0-install.yaml", "tekton-pipelines-v0.65.0-assembled.yaml",
        "tekton-triggers-v0.34.0-assembled.yaml", "tekton-interceptors-v0.34.0-assembled.yaml"
    ])
    func platformManifestsAreValid(file: String) throws {
        let objects = Schemas.manifest(file)
        #expect(objects.count >= 8)
        let clusterScoped: Set = [
            "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
            "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"
        ]
        let coreSchemas: Set = ["ConfigMap", "Secret", "Service", "ServiceAccount", "Namespace"]
        var checked = 0
        for obj in objects {
            guard let kind = obj.kind, let apiVersion = obj.apiVersion else { continue }
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            // custom resources
            guard BuiltinTypes.all.contains(where: { $0.ref.kind == kind && $0.ref.group == group }) else { continue }
            let namespaced = !clusterScoped.contains(kind)
            let input = try SimDecoding.ensureNamespace(
                obj, requestNamespace: namespaced ? (obj.namespace ?? "default") : "")
            let stored = SimDefaults.apply(input, kind: kind, group: group, uid: "0f0e", clusterIP: "10.96.0.1")
            #expect(
                SimDefaults.apply(stored, kind: kind, group: group, uid: "0f0e") == stored, "\(kind) \(obj.name ?? "")")
            let errs = SimValidation.createErrors(stored, kind: kind, group: group, namespaced: namespaced)
            #expect(errs.isEmpty, "\(kind) \(obj.name ?? ""): \(errs)")
            let schema: SimSchema? =
                group == "" && coreSchemas.contains(kind)
                ? try Schemas.core(kind)
                : group == "apps" ? try Schemas.apps(kind) : group == "apiextensions.k8s.io" ? try Schemas.crd() : nil
            if let schema {
                #expect(SimValidation.unknownFields(obj, schema: schema).isEmpty, "\(kind) \(obj.name ?? "")")
                #expect(
                    SimValidation.unknownFields(stored, schema: schema).isEmpty, "defaults of \(kind) \(obj.name ?? "")"
                )
            }
            checked += 1
        }
        #expect(checked >= 3)
    }

    @Test func goValueFormatting() {
        #expect(GoFormat.float(1.5) == "1.5")
        #expect(GoFormat.float(1e6) == "1e+06")
        #expect(GoFormat.float(123456) == "123456")
        #expect(GoFormat.float(1234567.5) == "1.2345675e+06")
        #expect(GoFormat.float(0.0001) == "0.0001")
        #expect(GoFormat.float(0.00001) == "1e-05")
        #expect(GoFormat.float(-2.25) == "-2.25")
        #expect(GoFormat.quote("a\"b\\c\n\u{01}") == #""a\"b\\c\n\x01""#)
        #expect(GoFormat.json(["k": "<a&b>"]) == #"{"k":"\u003ca\u0026b\u003e"}"#)
        #expect(SimValidation.warningHeader(#"unknown field "x""#) == #"299 - "unknown field \"x\"""#)
    }

    // MARK: name rules

    @Test func nameRulesPerKind() {
        func errs(_ kind: String, _ group: String, _ name: String) -> [String] {
            SimValidation.objectMetaErrors(
                ["metadata": ["name": .string(name)]], namespaced: false,
                nameRule: SimValidation.nameRule(kind: kind, group: group)
            ).map(\.description)
        }
        #expect(errs("Namespace", "", "my.ns") == [#"metadata.name: Invalid value: "my.ns": must not contain dots"#])
        #expect(errs("Service", "", "9svc").isEmpty)  // a DNS label (RelaxedServiceNameValidation), not DNS-1035
        #expect(errs("StatefulSet", "apps", "a.b") == [#"metadata.name: Invalid value: "a.b": must not contain dots"#])
        #expect(errs("Deployment", "apps", "a.b").isEmpty)
        #expect(errs("ClusterRole", "rbac.authorization.k8s.io", "system:aggregate-to-edit").isEmpty)
        #expect(
            errs("ClusterRole", "rbac.authorization.k8s.io", "a/b") == [
                #"metadata.name: Invalid value: "a/b": may not contain '/'"#
            ])
        #expect(errs("ConfigMap", "", "") == ["metadata.name: Required value: name or generateName is required"])
        #expect(
            errs("ConfigMap", "", String(repeating: "a", count: 254)).first?.hasSuffix(
                "must be no more than 253 characters") == true)
        let crd: JSON = [
            "metadata": ["name": "foos.example.com"], "spec": ["group": "example.com", "names": ["plural": "bars"]]
        ]
        #expect(
            SimValidation.objectMetaErrors(
                crd, namespaced: false,
                nameRule: SimValidation.nameRule(
                    kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", object: crd)
            )
            .map(\.description) == [
                #"metadata.name: Invalid value: "foos.example.com": must be spec.names.plural+"."+spec.group"#
            ])
        // generateName may end in '-'; a namespace must be a DNS label.
        let gen = SimValidation.objectMetaErrors(
            ["metadata": ["generateName": "web-", "namespace": "Bad"]], namespaced: true,
            nameRule: SimValidation.nameIsDNSSubdomain
        ).map(\.description)
        #expect(
            gen.count == 2 && gen[0] == "metadata.name: Required value: name or generateName is required"
                && gen[1].hasPrefix(#"metadata.namespace: Invalid value: "Bad": a lowercase RFC 1123 label"#))
    }

    @Test func labelKeysAndAnnotations() {
        let obj: JSON = [
            "metadata": [
                "name": "ok",
                "labels": ["example.com/ok": "v", "a/b/c": "v", "x": .string(String(repeating: "v", count: 64))],
                "annotations": ["Example.COM/Mixed_Case": "fine"]
            ]
        ]
        let errs = SimValidation.objectMetaErrors(obj, namespaced: false, nameRule: SimValidation.nameIsDNSSubdomain)
            .map(\.description)
        // (The mixed-case annotation key is fine: annotation keys are checked lowercased.)
        #expect(errs.count == 2)
        #expect(
            errs.first?.hasPrefix(#"metadata.labels: Invalid value: "a/b/c": a qualified name must consist of"#) == true
        )
        #expect(
            errs.first?.hasSuffix("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')") == true)
        #expect(
            errs.last
                == """
                metadata.labels: Invalid value: \"\(String(repeating: "v", count: 64))\": must be no more than 63 \
                characters
                """
        )
    }

    // MARK: defaults, against the recorded responses

    /// A recorded create: decode its request, default it, and it must be the recorded object
    /// (the store's uid, resourceVersion, timestamps and managedFields aside).
    func expectDefaultsMatch(
        _ file: String, kind: String, group: String, version: String, namespaced: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let x = try Exchange(file)
        let d = try SimDecoding.decode(
            body: x.body, contentType: x.contentType, method: x.method, query: x.query, kind: kind, group: group,
            version: version, namespaced: namespaced, name: x.urlName, namespace: namespaced ? "default" : nil)
        let obj = try SimDecoding.ensureNamespace(d.object, requestNamespace: namespaced ? "default" : "")
        let stored = SimDefaults.apply(obj, kind: kind, group: group)
        let diff = differences(stored, storedShape(x.responseBody))
        #expect(diff.isEmpty, "\(diff)", sourceLocation: sourceLocation)
        #expect(
            SimDefaults.tracksGeneration(kind: kind, group: group)
                == (x.responseBody[path: "metadata", "generation"] != nil), sourceLocation: sourceLocation)
        #expect(
            SimDefaults.apply(stored, kind: kind, group: group) == stored, "defaulting twice changes nothing",
            sourceLocation: sourceLocation)
    }

    @Test func deploymentDefaults() throws {
        try expectDefaultsMatch(
            "ssa/4-apply-deployment-create.json", kind: "Deployment", group: "apps", version: "v1", namespaced: true)
    }

    @Test(arguments: ["ssa/namespace-bare-1.json", "ssa/namespace-labelled-1.json"])
    func namespaceDefaults(file: String) throws {
        try expectDefaultsMatch(file, kind: "Namespace", group: "", version: "v1", namespaced: false)
    }

    @Test(arguments: ["crud/201-create-configmap.json", "ssa/1-apply-configmap-create.json"])
    func configMapDefaults(file: String) throws {
        try expectDefaultsMatch(file, kind: "ConfigMap", group: "", version: "v1", namespaced: true)
    }

    @Test func crdDefaultsAndInitialStatus() throws {
        let x = try Exchange("ssa/crd-applicationsets-1-create.json.gz")
        let crd = try Schemas.argoCRD("applicationsets.argoproj.io")
        // The recording omits the applied body: it is install.yaml's CRD as JSON.
        let applied = try SimDecoding.decodeApply(
            Array(crd.serialized().utf8), kind: "CustomResourceDefinition",
            group: "apiextensions.k8s.io", version: "v1")
        let stored = SimDefaults.apply(applied, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io")
        let diff = differences(stored, storedShape(x.responseBody))
        #expect(diff.isEmpty, "\(diff)")
        #expect(
            stored["status"] == [
                "conditions": nil, "acceptedNames": ["plural": "", "kind": ""], "storedVersions": ["v1alpha1"]
            ])
        #expect(SimDefaults.tracksGeneration(kind: "CustomResourceDefinition", group: "apiextensions.k8s.io"))
        #expect(
            SimValidation.createErrors(
                stored, kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", namespaced: false
            ).isEmpty)
    }

    @Test func updatesKeepTheStoredStatusAndNamespaceFinalizers() {
        let old: JSON = [
            "metadata": ["name": "ns"], "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Terminating"]
        ]
        let new = SimDefaults.apply(
            ["metadata": ["name": "ns"], "spec": ["finalizers": []]], kind: "Namespace", group: "",
            operation: .update(old: old))
        #expect(new["status"] == ["phase": "Terminating"] && new[path: "spec", "finalizers"] == ["kubernetes"])
        #expect(new[path: "metadata", "labels", "kubernetes.io/metadata.name"] == "ns")
        let cm = SimDefaults.apply(
            ["metadata": ["name": "c"], "data": ["a": "b"]], kind: "ConfigMap", group: "",
            operation: .update(old: ["status": "x"]))
        #expect(cm["status"] == nil)
    }

    @Test func workloadAndServiceDefaults() {
        #expect(SimDefaults.imageTag("nginx") == "latest")
        #expect(SimDefaults.imageTag("localhost:5000/app") == "latest")
        #expect(SimDefaults.imageTag("ghcr.io/x/y:1.0") == "1.0")
        #expect(SimDefaults.imageTag("x@sha256:abc") == "")
        let sts = SimDefaults.apply(
            [
                "metadata": ["name": "db"],
                "spec": [
                    "selector": ["matchLabels": ["a": "b"]],
                    "template": [
                        "metadata": ["labels": ["a": "b"]],
                        "spec": [
                            "containers": [
                                [
                                    "name": "c", "image": "pg",
                                    "readinessProbe": ["httpGet": ["port": 8080]]
                                ]
                            ], "serviceAccountName": "sa"
                        ]
                    ],
                    "volumeClaimTemplates": [["metadata": ["name": "data"], "spec": ["accessModes": ["ReadWriteOnce"]]]]
                ]
            ],
            kind: "StatefulSet", group: "apps")
        #expect(sts[path: "spec", "updateStrategy"] == ["type": "RollingUpdate", "rollingUpdate": ["partition": 0]])
        #expect(
            sts[path: "spec", "persistentVolumeClaimRetentionPolicy"] == [
                "whenDeleted": "Retain", "whenScaled": "Retain"
            ])
        #expect(
            sts[path: "spec", "podManagementPolicy"] == "OrderedReady"
                && sts["status"] == ["replicas": 0, "availableReplicas": 0])
        let c = sts[path: "spec", "template", "spec", "containers"]?[0]
        #expect(c?["imagePullPolicy"] == "Always")
        #expect(
            c?["readinessProbe"] == [
                "httpGet": ["port": 8080, "path": "/", "scheme": "HTTP"], "timeoutSeconds": 1, "periodSeconds": 10,
                "successThreshold": 1, "failureThreshold": 3
            ])
        #expect(sts[path: "spec", "template", "spec", "serviceAccount"] == "sa")
        #expect(
            sts[path: "spec", "volumeClaimTemplates"]?[0] == [
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": "data"],
                "spec": ["accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"], "status": ["phase": "Pending"]
            ])
        let svc = SimDefaults.apply(
            ["metadata": ["name": "web"], "spec": ["selector": ["app": "web"], "ports": [["port": 80]]]],
            kind: "Service", group: "", clusterIP: "10.96.0.10")
        #expect(
            svc["spec"] == [
                "selector": ["app": "web"], "ports": [["port": 80, "protocol": "TCP", "targetPort": 80]],
                "type": "ClusterIP",
                "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"
            ])
        #expect(svc["status"] == ["loadBalancer": [:]])
        #expect(SimDefaults.apply(["type": nil, "data": [:]], kind: "Secret", group: "")["type"] == "Opaque")
    }

    @Test func customResourceSchemaDefaults() {
        let schema = SimSchema(node: [
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object",
                    "properties": [
                        "replicas": ["type": "integer", "default": 1], "mode": ["type": "string"],
                        "nested": [
                            "type": "object", "default": [:],
                            "properties": ["flag": ["type": "boolean", "default": true]]
                        ]
                    ]
                ]
            ]
        ])
        let out = SimDefaults.apply(
            ["metadata": ["name": "x"], "spec": ["mode": nil], "status": ["s": 1]], kind: "X", group: "x.io",
            schema: schema, statusSubresource: true)
        #expect(out == ["metadata": ["name": "x"], "spec": ["replicas": 1, "nested": ["flag": true]]])
    }
}
