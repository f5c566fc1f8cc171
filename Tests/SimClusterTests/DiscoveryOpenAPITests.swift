import AphexCore
import KubeClient
import Foundation
import Testing
import TestSupport
@testable import SimCluster

/// Discovery and OpenAPI v3 held to the recordings of a real kube-apiserver v1.36
/// (../shared/realapi/discovery, openapi), and the real kubectl's server-side apply over them.
@Suite(.serialized) struct DiscoveryOpenAPITests {
    static let aggregatedAccept =
        """
        application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;\
        g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json
        """

    func get(_ sim: SimCluster, _ path: String, _ headers: [String: String] = [:]) async throws -> HTTPResponse {
        try await sim.transport.send(HTTPRequest(url: sim.baseURL + path, headers: headers))
    }

    /// The recorded response body, as the server sent it (compact, Go's escaping, its key order).
    static func recordedBytes(_ file: String) throws -> [UInt8] {
        let compact = try GoJSON.reencode(RealAPI.bytes(file))
        let span = try #require(GoJSON.span(of: ["response", "body"], in: compact))
        return Array(compact[span])
    }

    /// The three CRDs of ArgoCD v3.3.0's install.yaml (YAML documents, as kubectl reads them).
    static let argoCRDText: String = {
        let text =
            (try? String(
                contentsOfFile: RealAPI.directory + "/../manifests/argocd-v3.3.0-install.yaml", encoding: .utf8)) ?? ""
        return text.components(separatedBy: "\n---\n").filter { $0.contains("\nkind: CustomResourceDefinition\n") }
            .map { $0.hasPrefix("---\n") ? String($0.dropFirst(4)) : $0 }.joined(separator: "\n---\n")
    }()

    static let argoCRDs: [JSON] = (try? SimJSON.documents(argoCRDText)) ?? []

    /// Applies ArgoCD's CRDs and lets them become Established.
    func installArgoCD(_ sim: SimCluster) throws {
        try #require(Self.argoCRDs.count == 3)
        for crd in Self.argoCRDs { _ = try sim.world.apply(crd, by: "test") }
        sim.advance(by: .seconds(5))
        sim.world.tick()
        #expect(sim.world.type(group: "argoproj.io", version: "v1alpha1", resource: "applications") != nil)
    }

    /// Where two JSON values differ in shape: a key on one side only, another JSON type, arrays
    /// of another length (elements compared pairwise otherwise).
    static func shapeDifferences(_ a: JSON, _ b: JSON, _ path: String = "", into out: inout [String]) {
        func type(_ j: JSON) -> String {
            switch j {
            case .null: return "null"
            case .bool: return "bool"
            case .int, .double: return "number"
            case .string: return "string"
            case .array: return "array"
            case .object: return "object"
            }
        }
        guard out.count < 20 else { return }
        guard type(a) == type(b) else {
            out.append("\(path): \(type(a)) vs \(type(b))")
            return
        }
        switch (a, b) {
        case (.object(let x), .object(let y)):
            for k in Set(x.keys).symmetricDifference(y.keys).sorted() {
                out.append("\(path)/\(k): only in \(x[k] != nil ? "generated" : "recorded")")
            }
            for k in Set(x.keys).intersection(y.keys).sorted() {
                shapeDifferences(x[k]!, y[k]!, "\(path)/\(k)", into: &out)
            }
        case (.array(let x), .array(let y)):
            guard x.count == y.count else {
                out.append("\(path): \(x.count) vs \(y.count) elements")
                return
            }
            for (i, (p, q)) in zip(x, y).enumerated() { shapeDifferences(p, q, "\(path)[\(i)]", into: &out) }
        default: break
        }
    }

    /// Where two byte strings first differ, with some context (nil when equal): a readable
    /// failure for megabyte bodies.
    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String? {
        guard a != b else { return nil }
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        let context = { (x: [UInt8]) in String(decoding: x[max(0, i - 60)..<min(x.count, i + 60)], as: UTF8.self) }
        return "at byte \(i) of \(a.count)/\(b.count): …\(context(a))… vs …\(context(b))…"
    }

    static func shape(_ a: JSON, _ b: JSON) -> [String] {
        var out: [String] = []
        shapeDifferences(a, b, into: &out)
        return out
    }

    // MARK: the type table

    @Test func builtinTypesAreTheRecordedResources() throws {
        var recorded = Set<String>()
        for file in ["discovery/get-api-aggregated.json", "discovery/get-apis-aggregated.json"] {
            for item in try RealAPI.responseBody(file).items {
                for v in item["versions"]?.array ?? [] {
                    for r in v["resources"]?.array ?? [] {
                        recorded.insert(
                            "\(item[path: "metadata", "name"]?.string ?? "")/\(r["resource"]?.string ?? "")")
                    }
                }
            }
        }
        #expect(Set(BuiltinTypes.all.map { "\($0.ref.group)/\($0.ref.resource)" }) == recorded)
        let world = SimWorld(scenario: try Scenario.load("happy-kind"), clock: VirtualClock())
        // Everything the hand-written table had still resolves.
        for name in [
            "namespaces", "nodes", "pods", "services", "secrets", "configmaps", "events", "serviceaccounts",
            "endpoints",
            "persistentvolumeclaims", "persistentvolumes", "limitranges", "resourcequotas", "deployments",
            "statefulsets",
            "daemonsets", "replicasets", "jobs", "cronjobs", "roles", "rolebindings", "clusterroles",
            "clusterrolebindings",
            "endpointslices", "customresourcedefinitions", "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
            "networkpolicies", "ingresses", "ingressclasses", "horizontalpodautoscalers", "poddisruptionbudgets",
            "leases",
            "storageclasses", "priorityclasses", "selfsubjectaccessreviews"
        ] {
            #expect(world.resolve(name) != nil, "\(name)")
        }
        #expect(
            world.resolve("deploy")?.ref
                == ResourceRef(group: "apps", version: "v1", resource: "deployments", kind: "Deployment"))
        #expect(world.resolve("cm")?.ref.kind == "ConfigMap")
        #expect(world.resolve("events")?.ref.group == "")
        #expect(world.resolve("crds")?.ref.group == "apiextensions.k8s.io")
        let hpa = try #require(world.resolve("hpa"))
        #expect(hpa.versions == ["v2", "v1"] && hpa.ref.version == "v2" && hpa.categories == ["all"])
        #expect(
            try world.type(apiVersion: "autoscaling/v1", kind: "HorizontalPodAutoscaler").ref.resource
                == "horizontalpodautoscalers")
        let deploy = try #require(world.resolve("deployments"))
        #expect(deploy.verbs == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        #expect(
            deploy.subresources == [
                SimSubresource(
                    name: "scale", kind: "Scale", group: "autoscaling", version: "v1", verbs: ["get", "patch", "update"]
                ),
                SimSubresource(name: "status", kind: "Deployment", verbs: ["get", "patch", "update"])
            ])
        #expect(world.resolve("selfsubjectaccessreviews")?.verbs == ["create"])
    }

    // MARK: aggregated discovery

    @Test func aggregatedDiscoveryIsTheRecordedDocument() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        for (path, file) in [
            ("/api", "discovery/get-api-aggregated.json"), ("/apis", "discovery/get-apis-aggregated.json")
        ] {
            let r = try await get(sim, path, ["Accept": Self.aggregatedAccept])
            #expect(r.status == 200)
            let recorded = try Self.recordedBytes(file)
            #expect(Self.shape(try JSON.parse(r.body), try JSON.parse(recorded)) == [])
            #expect(Self.firstDifference(r.body, recorded) == nil, "\(path): the same types give the recorded bytes")
            #expect(r.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            #expect(r.headers["cache-control"] == "public")
            #expect(r.headers["etag"] == "\"\(sha512HexUpper(r.body))\"")
            #expect(r.headers["vary"] == "Accept")
            #expect(r.headers["x-varied-accept"] == nil, "kubectl's HTTP cache adds it, not the server")
        }
        // The core group's metadata is empty; every version is Current.
        let core = try JSON.parse(try await get(sim, "/api", ["Accept": Self.aggregatedAccept]).body)
        #expect(core.items.first?["metadata"] == [:])
    }

    @Test func aggregatedDiscoveryAppendsCRDGroups() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try installArgoCD(sim)
        let r = try await get(sim, "/apis", ["Accept": Self.aggregatedAccept])
        let recorded = try Self.recordedBytes("discovery/get-apis-aggregated-with-argocd.json")
        let body = try JSON.parse(r.body)
        #expect(Self.shape(body, try JSON.parse(recorded)) == [])
        #expect(Self.firstDifference(r.body, recorded) == nil)
        #expect(body.items.last?[path: "metadata", "name"] == "argoproj.io")
        #expect(body.items.last?[path: "versions"]?[0]?["freshness"] == "Current")
    }

    @Test func conditionalRequestsAndNegotiation() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let first = try await get(sim, "/apis", ["Accept": Self.aggregatedAccept])
        let etag = try #require(first.headers["etag"])
        let again = try await get(sim, "/apis", ["Accept": Self.aggregatedAccept, "If-None-Match": etag])
        #expect(again.status == 304 && again.body.isEmpty)
        #expect(
            again.headers["etag"] == etag && again.headers["cache-control"] == "public"
                && again.headers["vary"] == "Accept")
        // A changed type table changes the ETag.
        try installArgoCD(sim)
        #expect(try await get(sim, "/apis", ["Accept": Self.aggregatedAccept, "If-None-Match": etag]).status == 200)

        let beta = try await get(
            sim, "/apis", ["Accept": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"])
        #expect(beta.status == 406)
        #expect(Self.firstDifference(beta.body, try Self.recordedBytes("discovery/get-apis-v2beta1-only.json")) == nil)
        #expect(
            beta.headers["content-type"] == "application/json" && beta.headers["cache-control"] == "no-cache, private")

        let v2 = try await get(
            sim, "/apis", ["Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"])
        #expect(
            v2.status == 200
                && v2.headers["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        for headers in [[:], ["Accept": "application/json"], ["Accept": "application/json, */*"]] {
            let legacy = try await get(sim, "/apis", headers)
            #expect(
                legacy.status == 200 && legacy.headers["content-type"] == "application/json"
                    && legacy.headers["etag"] == nil)
            #expect(try JSON.parse(legacy.body)["kind"] == "APIGroupList")
        }
    }

    // MARK: legacy discovery

    @Test func legacyDiscoveryIsTheRecordedDocument() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        for (path, file) in [
            ("/api", "discovery/get-api.json"), ("/apis", "discovery/get-apis.json"),
            ("/api/v1", "discovery/get-api-v1.json"),
            ("/apis/apps", "discovery/get-apis-apps.json"), ("/apis/apps/v1", "discovery/get-apis-apps-v1.json")
        ] {
            let r = try await get(sim, path, ["Accept": "application/json"])
            let recorded = try Self.recordedBytes(file)
            #expect(r.status == 200)
            #expect(Self.shape(try JSON.parse(r.body), try JSON.parse(recorded)) == [], "\(path)")
            #expect(Self.firstDifference(r.body, recorded) == nil, "\(path)")
            #expect(r.headers["cache-control"] == "no-cache, private" && r.headers["etag"] == nil)
        }
        // An unserved group: the mux's text 404, as recorded before the CRDs were applied.
        let before = try RealAPI.cached("discovery/get-apis-argoproj-before-crd.json")
        for path in ["/apis/argoproj.io/v1alpha1", "/apis/argoproj.io", "/api/v2", "/apis/apps/v9"] {
            let r = try await get(sim, path, ["Accept": "application/json"])
            #expect(r.status == 404 && r.text == before[path: "response", "body"]?.string)
            #expect(
                r.headers["content-type"] == "text/plain; charset=utf-8"
                    && r.headers["x-content-type-options"] == "nosniff")
        }
        try installArgoCD(sim)
        let group = try await get(sim, "/apis/argoproj.io", ["Accept": "application/json"])
        #expect(Self.firstDifference(group.body, try Self.recordedBytes("discovery/get-apis-argoproj.io.json")) == nil)
        // The apiextensions server lists CRDs in its lister's (map) order: compare as sets.
        let gv = try JSON.parse(try await get(sim, "/apis/argoproj.io/v1alpha1", ["Accept": "application/json"]).body)
        let recorded = try RealAPI.responseBody("discovery/get-apis-argoproj.io-v1alpha1.json")
        func byName(_ j: JSON) -> [String: JSON] {
            Dictionary(uniqueKeysWithValues: (j["resources"]?.array ?? []).map { ($0["name"]?.string ?? "", $0) })
        }
        #expect(byName(gv) == byName(recorded))
        #expect(byName(gv)["applications/status"] == nil && byName(gv)["applicationsets/status"] != nil)
        var rest = gv, rec = recorded
        rest["resources"] = nil
        rec["resources"] = nil
        #expect(rest == rec)
    }

    @Test func versionHasTheRecordedFields() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let r = try await get(sim, "/version?timeout=5s", ["Accept": "application/json, */*"])
        let v = try JSON.parse(r.body)
        let recorded = try RealAPI.responseBody("discovery/get-version.json")
        #expect(Set((v.object ?? [:]).keys) == Set((recorded.object ?? [:]).keys))
        // In the recorded order.
        let text = r.text
        let order = [
            "major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor", "minCompatibilityMinor",
            "gitVersion",
            "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"
        ]
        let positions = order.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted())
        #expect(
            v["gitVersion"] == "v1.32.2" && v["minor"] == "32" && v["emulationMinor"] == "32"
                && v["minCompatibilityMinor"] == "31")
        #expect(r.headers["cache-control"] == "no-cache, private")
    }

    // MARK: OpenAPI v3

    @Test func openAPIIndexListsEveryServedGroupVersion() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let r = try await get(sim, "/openapi/v3?timeout=32s", ["Accept": "application/json, */*"])
        #expect(r.status == 200)
        #expect(
            r.headers["content-type"] == "text/plain; charset=utf-8"
                && r.headers["cache-control"] == "no-cache, private")
        #expect(r.headers["content-length"] == String(r.body.count) && r.headers["last-modified"] != nil)
        let paths = try #require(try JSON.parse(r.body)["paths"]?.object)
        let recorded = try #require(try RealAPI.responseBody("openapi/get-openapi-v3-index.json")["paths"]?.object)
        #expect(Set(paths.keys) == Set(recorded.keys))
        // The recorded documents are served byte for byte: the recorded hashes.
        for key in [
            "api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1", "version", "apis",
            ".well-known/openid-configuration"
        ] {
            #expect(paths[key] == recorded[key], "\(key)")
        }
        for (key, entry) in paths {
            let url = try #require(entry["serverRelativeURL"]?.string)
            #expect(url.hasPrefix("/openapi/v3/\(key)?hash=") && url.count == "/openapi/v3/\(key)?hash=".count + 128)
        }

        try installArgoCD(sim)
        let after = try #require(try JSON.parse(try await get(sim, "/openapi/v3").body)["paths"]?.object)
        let recordedAfter = try #require(
            try RealAPI.responseBody("openapi/get-openapi-v3-index-with-argocd.json")["paths"]?.object)
        #expect(Set(after.keys) == Set(recordedAfter.keys))
        #expect(after["apis/argoproj.io/v1alpha1"] != nil && after["apis/argoproj.io"] == nil)
    }

    @Test func openAPIDocumentsAreAddressedByHash() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let index = try #require(try JSON.parse(try await get(sim, "/openapi/v3").body)["paths"]?.object)
        for (key, file) in SimOpenAPI.recorded {
            let url = try #require(index[key]?["serverRelativeURL"]?.string)
            let r = try await get(sim, url + "&timeout=32s", ["Accept": "application/json"])
            let hash = String(url.split(separator: "=").last!)
            #expect(r.status == 200)
            #expect(sha512HexUpper(r.body) == hash)
            #expect(Self.firstDifference(r.body, try Self.recordedBytes(file)) == nil, "\(key) is served as recorded")
            let recordedHeaders = try RealAPI.cached(file)[path: "response", "headers"]
            #expect(r.headers["content-length"] == recordedHeaders?["Content-Length"]?.string)
            #expect(r.headers["etag"] == recordedHeaders?["Etag"]?.string)
            #expect(r.headers["cache-control"] == "public, immutable" && r.headers["vary"] == "Accept")
            #expect(r.headers["accept-ranges"] == "bytes" && r.headers["content-type"] == "application/json")
            #expect(r.headers["x-varied-accept"] == nil && r.headers["last-modified"]?.hasSuffix(" GMT") == true)
            let expires = try #require(r.headers["expires"])
            #expect(
                expires.hasSuffix(" UTC")
                    && expires.contains(String(Calendar(identifier: .gregorian).component(.year, from: Date()) + 1)))
        }
        // Without the hash: the same bytes, not cacheable.
        let noHash = try await get(sim, "/openapi/v3/apis/apps/v1", ["Accept": "application/json"])
        #expect(
            noHash.status == 200 && noHash.headers["cache-control"] == "no-cache, private"
                && noHash.headers["expires"] == nil)
        #expect(
            noHash.headers["etag"]
                == (try RealAPI.cached("openapi/get-openapi-v3-apis-apps-v1-nohash.json"))[
                    path: "response", "headers", "Etag"]?.string)
        // A stale hash: 301 to the current one, as recorded.
        let wrong = try await get(sim, "/openapi/v3/apis/apps/v1?hash=0000", ["Accept": "application/json"])
        let recordedWrong = try RealAPI.cached("openapi/get-openapi-v3-apis-apps-v1-wronghash.json")[path: "response"]
        #expect(wrong.status == 301 && wrong.body.isEmpty)
        #expect(wrong.headers["location"] == recordedWrong?[path: "headers", "Location"]?.string)
        #expect(wrong.headers["cache-control"] == "no-cache, private" && wrong.headers["content-length"] == "0")
        // An unserved group/version: 404, empty.
        let missing = try await get(sim, "/openapi/v3/apis/argoproj.io/v1alpha1", ["Accept": "application/json"])
        #expect(
            missing.status == 404 && missing.body.isEmpty && missing.headers["cache-control"] == "no-cache, private")
        // Every built-in document in the index resolves with its hash.
        for (key, entry) in index
        where key == "api/v1" || (key.hasPrefix("apis/") && key.split(separator: "/").count == 3) {
            let url = try #require(entry["serverRelativeURL"]?.string)
            let r = try await get(sim, url, ["Accept": "application/json"])
            #expect(r.status == 200 && sha512HexUpper(r.body) == String(url.split(separator: "=").last!), "\(key)")
        }
    }

    @Test func generatedCRDDocumentHasTheRecordedStructure() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try installArgoCD(sim)
        let index = try #require(try JSON.parse(try await get(sim, "/openapi/v3").body)["paths"]?.object)
        let url = try #require(index["apis/argoproj.io/v1alpha1"]?["serverRelativeURL"]?.string)
        let r = try await get(sim, url, ["Accept": "application/json"])
        #expect(r.status == 200 && sha512HexUpper(r.body) == String(url.split(separator: "=").last!))
        let generated = try JSON.parse(r.body)
        let recorded = try RealAPI.responseBody("openapi/get-openapi-v3-apis-argoproj.io-v1alpha1.json.gz")
        #expect(Self.shape(generated, recorded) == [])
        // Not only the shape: from ArgoCD's CRDs the generator writes the recorded document
        // (only the key order and so the bytes differ: Go writes struct fields in their order).
        #expect(generated == recorded)
    }

    @Test func generatedCRDDocumentsFollowTheCRD() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let schema: JSON = [
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object",
                    "properties": [
                        "size": ["type": "integer"],
                        "template": [
                            "type": "object", "x-kubernetes-embedded-resource": true,
                            "x-kubernetes-preserve-unknown-fields": true
                        ]
                    ]
                ],
                "status": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
            ]
        ]
        var crd: JSON = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "widgets.example.com"],
            "spec": [
                "group": "example.com", "scope": "Cluster",
                "names": [
                    "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetCollection",
                    "shortNames": ["wd"]
                ],
                "versions": [
                    ["name": "v1beta1", "served": true, "storage": false, "schema": ["openAPIV3Schema": schema]],
                    [
                        "name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": schema],
                        "subresources": [
                            "status": [:],
                            "scale": ["specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"]
                        ]
                    ]
                ]
            ]
        ]
        _ = try sim.world.apply(crd, by: "test")
        sim.advance(by: .seconds(5))
        sim.world.tick()

        let doc = try JSON.parse(try await get(sim, "/openapi/v3/apis/example.com/v1").body)
        let paths = try #require(doc["paths"]?.object)
        #expect(
            Set(paths.keys) == [
                "/apis/example.com/v1/widgets", "/apis/example.com/v1/widgets/{name}",
                "/apis/example.com/v1/widgets/{name}/status", "/apis/example.com/v1/widgets/{name}/scale"
            ])
        let patch = try #require(paths["/apis/example.com/v1/widgets/{name}/scale"]?["patch"])
        #expect(patch["operationId"] == "patchExampleComV1WidgetScale" && patch["tags"] == ["exampleCom_v1"])
        #expect(patch["x-kubernetes-group-version-kind"] == ["group": "example.com", "version": "v1", "kind": "Widget"])
        #expect(patch["description"] == "partially update scale of the specified Widget")
        #expect(paths["/apis/example.com/v1/widgets"]?[path: "post", "description"] == "create a Widget")
        #expect(paths["/apis/example.com/v1/widgets"]?[path: "get", "operationId"] == "listExampleComV1Widget")
        #expect(
            paths["/apis/example.com/v1/widgets/{name}"]?["parameters"]?.array?.compactMap { $0["name"]?.string } == [
                "name", "pretty"
            ])
        let schemas = try #require(doc[path: "components", "schemas"]?.object)
        #expect(
            schemas["com.example.v1.Widget"]?[path: "properties", "spec", "properties", "size", "type"] == "integer")
        #expect(
            schemas["com.example.v1.Widget"]?[path: "properties", "spec", "properties", "template", "required"] == [
                "kind", "apiVersion"
            ])
        #expect(
            schemas["com.example.v1.WidgetCollection"]?["x-kubernetes-group-version-kind"] == [
                ["group": "example.com", "kind": "WidgetCollection", "version": "v1"]
            ])
        #expect(schemas["io.k8s.api.autoscaling.v1.Scale"] != nil)
        #expect(
            paths["/apis/example.com/v1/widgets/{name}/scale"]?[
                path: "get", "responses", "200", "content", "application/json", "schema", "$ref"]
                == "#/components/schemas/io.k8s.api.autoscaling.v1.Scale")
        // v1beta1 declares no subresources.
        let beta = try #require(
            try JSON.parse(try await get(sim, "/openapi/v3/apis/example.com/v1beta1").body)["paths"]?.object)
        #expect(beta.count == 2)

        // Discovery: the preferred version first, the scale subresource as autoscaling/v1 Scale.
        let agg = try JSON.parse(try await get(sim, "/apis", ["Accept": Self.aggregatedAccept]).body)
        let group = try #require(agg.items.last)
        #expect(group[path: "metadata", "name"] == "example.com")
        #expect(group["versions"]?.array?.compactMap { $0["version"]?.string } == ["v1", "v1beta1"])
        let widgets = try #require(group["versions"]?[0]?["resources"]?[0])
        #expect(
            widgets["scope"] == "Cluster" && widgets["shortNames"] == ["wd"]
                && widgets["verbs"] == .array(SimType.crdVerbs.map { .string($0) }))
        #expect(
            widgets["subresources"] == [
                [
                    "subresource": "scale", "responseKind": ["group": "autoscaling", "version": "v1", "kind": "Scale"],
                    "verbs": ["get", "patch", "update"]
                ],
                [
                    "subresource": "status",
                    "responseKind": ["group": "example.com", "version": "v1", "kind": "Widget"],
                    "verbs": ["get", "patch", "update"]
                ]
            ])
        #expect(group["versions"]?[1]?["resources"]?[0]?["subresources"] == nil)
        let legacy = try JSON.parse(try await get(sim, "/apis/example.com/v1").body)
        #expect(
            legacy["resources"]?.array?.compactMap { $0["name"]?.string } == [
                "widgets", "widgets/scale", "widgets/status"
            ])
        #expect(legacy["resources"]?[1]?["group"] == "autoscaling" && legacy["resources"]?[2]?["group"] == nil)
        #expect(
            try JSON.parse(try await get(sim, "/apis/example.com").body)[path: "preferredVersion", "version"] == "v1")

        // A changed CRD: a new document (new hash); the old hash redirects to it.
        let oldURL = try #require(
            try JSON.parse(try await get(sim, "/openapi/v3").body)[
                path: "paths", "apis/example.com/v1", "serverRelativeURL"]?.string)
        crd.set(
            ["spec", "versions"],
            to: [
                [
                    "name": "v1", "served": true, "storage": true,
                    "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]
                ]
            ])
        _ = try sim.world.apply(crd, by: "test")
        sim.advance(by: .seconds(1))
        let newURL = try #require(
            try JSON.parse(try await get(sim, "/openapi/v3").body)[
                path: "paths", "apis/example.com/v1", "serverRelativeURL"]?.string)
        #expect(newURL != oldURL)
        let stale = try await get(sim, oldURL)
        #expect(stale.status == 301 && stale.headers["location"] == newURL)
        #expect(try await get(sim, "/openapi/v3/apis/example.com/v1beta1").status == 404)
    }

    /// kubectl's supportsQueryParamV3: for each kind it applies, a PATCH operation carrying the
    /// kind's x-kubernetes-group-version-kind and a `fieldValidation` query parameter.
    @Test func everyPatchableKindSupportsFieldValidation() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try installArgoCD(sim)
        for t in sim.world.allTypes() where t.verbs.contains("patch") {
            for v in t.versions {
                let doc = try #require(
                    sim.world.openAPI.document(SimOpenAPI.key(group: t.ref.group, version: v)), "\(t.ref.group)/\(v)"
                ).document
                let gvk: JSON = ["group": .string(t.ref.group), "version": .string(v), "kind": .string(t.ref.kind)]
                let supported = (doc["paths"]?.object ?? [:]).values.contains { item in
                    guard let op = item["patch"], op["x-kubernetes-group-version-kind"] == gvk else { return false }
                    return (op["parameters"]?.array ?? []).contains {
                        $0["name"] == "fieldValidation" && $0["in"] == "query"
                    }
                }
                #expect(supported, "\(t.ref.kind) \(t.ref.group)/\(v)")
            }
        }
    }

    @Test func typeSchemasComeFromTheDocuments() throws {
        let sim = try SimCluster(scenario: "happy-kind")
        try installArgoCD(sim)
        let api = sim.world.openAPI
        let cm = try #require(api.typeSchema(group: "", version: "v1", kind: "ConfigMap"))
        #expect(cm.property("data")?.additionalProperties?.type == "string")
        #expect(cm.property("bogus") == nil)
        let deploy = try #require(api.typeSchema(group: "apps", version: "v1", kind: "Deployment"))
        #expect(
            deploy.property("spec")?.property("template")?.property("spec")?.property("containers")?.listMapKeys == [
                "name"
            ])
        let app = try #require(api.typeSchema(group: "argoproj.io", version: "v1alpha1", kind: "Application"))
        #expect(app.property("spec")?.property("destination")?.property("namespace")?.type == "string")
        #expect(app.property("metadata")?.property("labels")?.additionalProperties?.type == "string")
        #expect(app.property("spec")?.property("bogus") == nil)
        let crd = try #require(
            api.typeSchema(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition"))
        #expect(crd.property("spec")?.property("versions")?.items?.property("schema") != nil)
        let role = try #require(api.typeSchema(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role"))
        #expect(role.preservesUnknownFields && role.property("rules") != nil)
        #expect(api.typeSchema(group: "argoproj.io", version: "v1alpha1", kind: "Nope") == nil)
        #expect(api.typeSchema(group: "cert-manager.io", version: "v1", kind: "Issuer") == nil)
    }

    // MARK: the real kubectl

    /// The real kubectl 1.32 (behind the gcloud dispatcher) applies server-side against
    /// `aphex-sim serve`: OpenAPI index and documents, aggregated discovery, then one PATCH per
    /// object; then, once the CRDs are Established, an Application.
    @Test func realKubectlAppliesServerSide() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl"), "real kubectl missing")
        let h = try await SimHarness.start(scenario: "happy-kind")
        defer { h.stop() }
        let kubectl = ["/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath]
        let first = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: argocd
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: demo-config
              namespace: default
            data:
              greeting: hello
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: demo-web
              namespace: default
            spec:
              replicas: 1
              selector:
                matchLabels: {app: demo-web}
              template:
                metadata:
                  labels: {app: demo-web}
                spec:
                  containers:
                  - name: web
                    image: nginx:1.27
            ---

            """ + Self.argoCRDText
        let app = """
            apiVersion: argoproj.io/v1alpha1
            kind: Application
            metadata:
              name: demo
              namespace: argocd
            spec:
              project: default
              source: {repoURL: "https://example.com/repo.git", targetRevision: HEAD, path: apps}
              destination: {server: "https://kubernetes.default.svc", namespace: demo}

            """
        // Before the CRDs: kubectl falls back to /openapi/v2 for the unknown kind, then fails
        // the REST mapping, with the recorded message (kubectl-messages.md), and writes nothing.
        // (Its own cache directory: the next apply starts cold, as transcript section 1.)
        let early = try await h.runProgram(
            kubectl + [
                "--cache-dir", h.home + "/early-cache", "apply", "--server-side", "--force-conflicts",
                "--field-manager=aphex", "-f", "-"
            ], stdin: app)
        #expect(early.status == 1)
        #expect(
            early.stderr == """
                error: resource mapping not found for name: "demo" namespace: "argocd" from "STDIN": no matches for \
                kind "Application" in version "argoproj.io/v1alpha1"
                ensure CRDs are installed first

                """)
        #expect(try h.record().requests.contains { $0.path == "/openapi/v2" && $0.status == 200 })
        #expect(try h.record().writes.isEmpty)

        try h.resetRecord()
        let apply = try await h.runProgram(
            kubectl + ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-f", "-"], stdin: first)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(
            apply.stdout == """
                namespace/argocd serverside-applied
                configmap/demo-config serverside-applied
                deployment.apps/demo-web serverside-applied
                customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io serverside-applied
                customresourcedefinition.apiextensions.k8s.io/applicationsets.argoproj.io serverside-applied
                customresourcedefinition.apiextensions.k8s.io/appprojects.argoproj.io serverside-applied

                """)
        let firstRequests = try h.record().requests.map {
            """
            \($0.method) \
            \($0.path)\($0.query.isEmpty ? "" : "?" + hashFree($0.query)) \
            \($0.status)
            """
        }
        print("kubectl apply (1): exit \(apply.status)\n" + firstRequests.joined(separator: "\n"))
        #expect(firstRequests.contains("GET /openapi/v3?timeout=32s 200"))
        #expect(firstRequests.contains("GET /openapi/v3/api/v1?hash=H&timeout=32s 200"))
        #expect(firstRequests.contains("GET /openapi/v3/apis/apps/v1?hash=H&timeout=32s 200"))
        #expect(firstRequests.contains("GET /openapi/v3/apis/apiextensions.k8s.io/v1?hash=H&timeout=32s 200"))
        #expect(firstRequests.contains("GET /apis?timeout=32s 200"))
        #expect(
            firstRequests.filter {
                $0.hasPrefix("PATCH ") && $0.contains("fieldManager=aphex&fieldValidation=Strict&force=true")
            }.count == 6)

        // Established (the scenario's crdEstablish: 1 s), as kubectl waits for it.
        let wait = try await h.runProgram(
            kubectl + [
                "wait", "--for=condition=Established", "--timeout=30s", "crd/applications.argoproj.io",
                "crd/applicationsets.argoproj.io", "crd/appprojects.argoproj.io"
            ])
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stdout.components(separatedBy: "condition met").count - 1 == 3, "\(wait.stdout)")

        try h.resetRecord()
        let second = try await h.runProgram(
            kubectl + ["apply", "--server-side", "--force-conflicts", "--field-manager=aphex", "-f", "-"], stdin: app)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout == "application.argoproj.io/demo serverside-applied\n")
        let secondRequests = try h.record().requests.map {
            """
            \($0.method) \
            \($0.path)\($0.query.isEmpty ? "" : "?" + hashFree($0.query)) \
            \($0.status)
            """
        }
        print("kubectl apply (2): exit \(second.status)\n" + secondRequests.joined(separator: "\n"))
        #expect(secondRequests.contains("GET /openapi/v3/apis/argoproj.io/v1alpha1?hash=H&timeout=32s 200"))
        #expect(
            secondRequests.contains(
                """
                PATCH \
                /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/demo?fieldManager=aphex&\
                fieldValidation=Strict&force=true \
                201
                """
            ))

        let got = try await h.runProgram(kubectl + ["get", "applications.argoproj.io", "-n", "argocd", "-o", "json"])
        #expect(got.status == 0, "\(got.stderr)")
        #expect(try JSON.parse(got.stdout).items.compactMap(\.name).contains("demo"))
        let can = try await h.runProgram(kubectl + ["auth", "can-i", "create", "customresourcedefinitions"])
        #expect(can.status == 0 && can.stdout == "yes\n", "\(can.stderr)")
        let del = try await h.runProgram(kubectl + ["delete", "configmap", "demo-config", "-n", "default"])
        #expect(del.status == 0 && del.stdout == "configmap \"demo-config\" deleted\n", "\(del.stderr)")
    }
}

/// A query with OpenAPI's content hash replaced by H (it changes with the served documents).
private func hashFree(_ query: String) -> String {
    query.replacingOccurrences(of: #"hash=[0-9A-F]{128}"#, with: "hash=H", options: .regularExpression)
}
