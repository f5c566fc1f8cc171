import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

/// The recordings the field manager is proven against (../shared/realapi) and the schemas it
/// runs on: the recorded OpenAPI documents, and CRD schemas from ArgoCD's install.yaml.
enum SSARecordings {
    static func schema(_ document: String, _ component: String) throws -> SimSchema {
        let components = try RealAPI.responseBody("openapi/" + document)[path: "components", "schemas"]?.object ?? [:]
        guard let node = components[component] else { throw SimError("no component \(component) in \(document)") }
        return SimSchema(node: node, components: components)
    }
    static func configMap() throws -> SimSchema {
        try schema("get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1.ConfigMap")
    }
    static func namespace() throws -> SimSchema {
        try schema("get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1.Namespace")
    }
    static func deployment() throws -> SimSchema {
        try schema("get-openapi-v3-apis-apps-v1.json.gz", "io.k8s.api.apps.v1.Deployment")
    }
    static func crd() throws -> SimSchema {
        try schema(
            "get-openapi-v3-apis-apiextensions.k8s.io-v1.json.gz",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    }

    /// A CRD of ArgoCD v3.3.0's install.yaml (only that document is parsed).
    static func argoCRD(_ name: String) throws -> JSON {
        let text = try String(
            contentsOfFile: RealAPI.directory + "/../manifests/argocd-v3.3.0-install.yaml", encoding: .utf8)
        for doc in text.components(separatedBy: "\n---\n") where doc.contains("\n  name: \(name)\n") {
            if let crd = try SimJSON.documents(doc).first, crd.kind == "CustomResourceDefinition", crd.name == name {
                return crd
            }
        }
        throw SimError("no CRD \(name) in install.yaml")
    }

    /// A custom resource's schema as the brief's simulator builds it: the CRD's openAPIV3Schema.
    static func applicationSchema() throws -> SimSchema {
        let crd = try argoCRD("applications.argoproj.io")
        guard let s = crd[path: "spec", "versions"]?[0]?[path: "schema", "openAPIV3Schema"] else {
            throw SimError("no schema")
        }
        return SimSchema(node: s)
    }

    /// The applied configuration of an exchange (a YAML or JSON body).
    static func config(_ file: String) throws -> JSON {
        switch try RealAPI.cached(file)[path: "request", "body"] {
        case .string(let text)?: return try SimJSON.documents(text)[0]
        case let body?: return body
        case nil: throw SimError("\(file) has no request body")
        }
    }

    static func response(_ file: String) throws -> JSON { try RealAPI.responseBody(file) }
    static func query(_ file: String) throws -> [String: String] {
        try RealAPI.cached(file)[path: "request", "query"]?.stringMap ?? [:]
    }
}

/// managedFields with the `time` of every entry left out (times are the clock's, not ours).
func entriesWithoutTime(_ object: JSON) -> JSON? {
    guard let entries = object[path: "metadata", "managedFields"]?.array else { return nil }
    return .array(
        entries.map { e in
            var e = e
            e["time"] = nil
            return e
        })
}

func times(_ object: JSON) -> [String?] {
    (object[path: "metadata", "managedFields"]?.array ?? []).map { $0["time"]?.string }
}

func dropping(_ object: JSON, _ paths: [String]...) -> JSON {
    var o = object
    for p in paths { o.set(p, to: nil) }
    return o
}

/// Replays of ../shared/realapi/ssa: the object and its managedFields after each apply.
@Suite struct FieldManagerReplayTests {
    let now = "2030-01-01T00:00:00Z"

    @Test func configMapCreateThenIdenticalThenChanged() throws {
        let schema = try SSARecordings.configMap()
        let r1 = try SSARecordings.response("ssa/1-apply-configmap-create.json")
        let got1 = try SimFieldManager.apply(
            live: nil, config: SSARecordings.config("ssa/1-apply-configmap-create.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(entriesWithoutTime(got1) == entriesWithoutTime(r1))
        #expect(times(got1) == [now])
        #expect(got1["data"] == r1["data"])
        #expect(got1[path: "metadata", "labels"] == r1[path: "metadata", "labels"])
        #expect(got1[path: "metadata", "name"] == "ssa-demo")

        // Identical re-apply onto the stored object: the very same object (no write, same time).
        let r2 = try SSARecordings.response("ssa/2-apply-configmap-identical.json")
        let got2 = try SimFieldManager.apply(
            live: r1, config: SSARecordings.config("ssa/2-apply-configmap-identical.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(got2 == r1)
        #expect(got2 == r2)

        // b dropped (owned only by aphex): removed; c added; the entry's time moves.
        let r3 = try SSARecordings.response("ssa/3-apply-configmap-changed.json")
        let got3 = try SimFieldManager.apply(
            live: r2, config: SSARecordings.config("ssa/3-apply-configmap-changed.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(entriesWithoutTime(got3) == entriesWithoutTime(r3))
        #expect(times(got3) == [now])
        // Everything else as recorded but the resourceVersion (the store bumps it).
        #expect(
            dropping(got3, ["metadata", "managedFields"], ["metadata", "resourceVersion"])
                == dropping(r3, ["metadata", "managedFields"], ["metadata", "resourceVersion"]))
    }

    @Test func deploymentCreateThenIdentical() throws {
        let schema = try SSARecordings.deployment()
        let config = try SSARecordings.config("ssa/4-apply-deployment-create.json")
        let r4 = try SSARecordings.response("ssa/4-apply-deployment-create.json")
        let got = try SimFieldManager.apply(
            live: nil, config: config, manager: "aphex", force: true, schema: schema,
            apiVersion: "apps/v1", time: now)
        // The port's key includes the defaulted protocol; server defaults are not owned.
        #expect(entriesWithoutTime(got) == entriesWithoutTime(r4))
        #expect(got["spec"] == config["spec"])  // defaults are the store's job
        #expect(got["status"] == nil)

        // Re-apply onto the stored (defaulted) object: unchanged, byte for byte.
        let r5 = try SSARecordings.response("ssa/5-apply-deployment-identical.json")
        let again = try SimFieldManager.apply(
            live: r4, config: SSARecordings.config("ssa/5-apply-deployment-identical.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "apps/v1", time: now)
        #expect(again == r4)
        #expect(again == r5)
    }

    @Test func bareNamespaceGetsBeforeFirstApplyOnce() throws {
        let schema = try SSARecordings.namespace()
        let config = try SSARecordings.config("ssa/namespace-bare-1.json")
        let created = try SimFieldManager.apply(
            live: nil, config: config, manager: "aphex", force: true, schema: schema,
            apiVersion: "v1", time: now)
        #expect(created[path: "metadata", "managedFields"] == nil)
        #expect(try SSARecordings.response("ssa/namespace-bare-1.json")[path: "metadata", "managedFields"] == nil)

        // Second apply onto the stored object (no managedFields): a before-first-apply entry.
        let r1 = try SSARecordings.response("ssa/namespace-bare-1.json")
        let r2 = try SSARecordings.response("ssa/namespace-bare-2.json")
        let got2 = try SimFieldManager.apply(
            live: r1, config: SSARecordings.config("ssa/namespace-bare-2.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(entriesWithoutTime(got2) == entriesWithoutTime(r2))
        #expect(times(got2) == [now])
        #expect(got2 != r1)
        #expect(dropping(got2, ["metadata", "managedFields"]) == r1)

        // Third: nothing changes any more.
        let got3 = try SimFieldManager.apply(
            live: r2, config: SSARecordings.config("ssa/namespace-bare-3.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(got3 == r2)
        #expect(got3 == (try SSARecordings.response("ssa/namespace-bare-3.json")))
    }

    @Test func labelledNamespaceBehavesNormally() throws {
        let schema = try SSARecordings.namespace()
        let r1 = try SSARecordings.response("ssa/namespace-labelled-1.json")
        let got1 = try SimFieldManager.apply(
            live: nil, config: SSARecordings.config("ssa/namespace-labelled-1.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(entriesWithoutTime(got1) == entriesWithoutTime(r1))
        let got2 = try SimFieldManager.apply(
            live: r1, config: SSARecordings.config("ssa/namespace-labelled-2.json"),
            manager: "aphex", force: true, schema: schema, apiVersion: "v1", time: now)
        #expect(got2 == r1)
        #expect(got2 == (try SSARecordings.response("ssa/namespace-labelled-2.json")))
    }

    @Test func applicationSetsCRD() throws {
        let schema = try SSARecordings.crd()
        let config = try SSARecordings.argoCRD("applicationsets.argoproj.io")
        let r1 = try SSARecordings.response("ssa/crd-applicationsets-1-create.json.gz")
        let start = Date()
        let created = try SimFieldManager.apply(
            live: nil, config: config, manager: "aphex", force: true, schema: schema,
            apiVersion: "apiextensions.k8s.io/v1", time: now)
        let createSeconds = Date().timeIntervalSince(start)
        #expect(entriesWithoutTime(created) == entriesWithoutTime(r1))
        #expect(created["spec"] == config["spec"])
        #expect(created[path: "spec", "versions"] == r1[path: "spec", "versions"])

        // Re-apply onto the stored object (which kube-apiserver's status writer changed since):
        // unchanged, its status manager kept.
        let r2 = try SSARecordings.response("ssa/crd-applicationsets-2-reapply.json.gz")
        let start2 = Date()
        let again = try SimFieldManager.apply(
            live: r2, config: config, manager: "aphex", force: true, schema: schema,
            apiVersion: "apiextensions.k8s.io/v1", time: now)
        let reapplySeconds = Date().timeIntervalSince(start2)
        #expect(again == r2)
        #expect(
            try SimFieldManager.apply(
                live: r1, config: config, manager: "aphex", force: true, schema: schema,
                apiVersion: "apiextensions.k8s.io/v1", time: now) == r1)
        print(
            """
            applicationsets CRD (\(config.serialized().utf8.count) bytes): create \(Int(createSeconds * 1000)) \
            ms, re-apply \(Int(reapplySeconds * 1000)) ms
            """
        )
        // About 10 ms and 20 ms in a debug build: the bound only catches a walk gone quadratic.
        #expect(createSeconds < 0.5)
        #expect(reapplySeconds < 0.5)
    }

    /// kube-apiserver's own status write between the two applies: an Update entry with
    /// `subresource: status` owning the conditions it added and the names it changed.
    @Test func crdStatusWriteIsAStatusSubresourceUpdate() throws {
        let r1 = try SSARecordings.response("ssa/crd-applicationsets-1-create.json.gz")
        let r2 = try SSARecordings.response("ssa/crd-applicationsets-2-reapply.json.gz")
        var written = r2
        written.set(["metadata", "managedFields"], to: r1[path: "metadata", "managedFields"])
        let got = SimFieldManager.update(
            old: r1, new: written, manager: "kube-apiserver", schema: try SSARecordings.crd(),
            apiVersion: "apiextensions.k8s.io/v1", time: "2026-12-02T01:52:06Z", subresource: "status")
        #expect(got == r2)
    }
}

/// kubectl-apply-serverside.txt sections 10-11: the real server took all 59 objects of
/// ArgoCD's install.yaml (201) and changed none on the re-run. Every one whose schema is
/// recorded must type-check, and re-applying it onto what it created must change nothing.
@Suite struct FieldManagerArgoCDInstallTests {
    @Test func everyRecordedKindAppliesAndReappliesUnchanged() throws {
        let text = try String(
            contentsOfFile: RealAPI.directory + "/../manifests/argocd-v3.3.0-install.yaml", encoding: .utf8)
        let schemas: [String: (SimSchema, String)] = [
            "ConfigMap": (try SSARecordings.configMap(), "v1"),
            "Secret": (try SSARecordings.schema("get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1.Secret"), "v1"),
            "Service": (try SSARecordings.schema("get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1.Service"), "v1"),
            "ServiceAccount": (
                try SSARecordings.schema("get-openapi-v3-api-v1.json.gz", "io.k8s.api.core.v1.ServiceAccount"), "v1"
            ),
            "Deployment": (try SSARecordings.deployment(), "apps/v1"),
            "StatefulSet": (
                try SSARecordings.schema("get-openapi-v3-apis-apps-v1.json.gz", "io.k8s.api.apps.v1.StatefulSet"),
                "apps/v1"
            ),
            "CustomResourceDefinition": (try SSARecordings.crd(), "apiextensions.k8s.io/v1")
        ]
        var applied = 0
        for doc in text.components(separatedBy: "\n---\n") {
            guard let kind = doc.components(separatedBy: "\n").first(where: { $0.hasPrefix("kind: ") })?.dropFirst(6),
                let (schema, apiVersion) = schemas[String(kind)]
            else { continue }
            var config = try #require(try SimJSON.documents(doc).first)
            config.set(["metadata", "namespace"], to: kind == "CustomResourceDefinition" ? nil : "argocd")
            let created = try SimFieldManager.apply(
                live: nil, config: config, manager: "aphex", force: true, schema: schema,
                apiVersion: apiVersion, time: "2030-01-01T00:00:00Z")
            #expect(created[path: "metadata", "managedFields"]?.array?.count == 1, "\(kind)/\(config.name ?? "")")
            let again = try SimFieldManager.apply(
                live: created, config: config, manager: "aphex", force: true, schema: schema,
                apiVersion: apiVersion, time: "2030-01-01T00:00:09Z")
            #expect(again == created, "\(kind)/\(config.name ?? "")")
            applied += 1
        }
        #expect(applied == 34)
    }
}

/// ../shared/realapi/ssa-conflict in order: conflicts, an Update manager, force, sharing.
@Suite struct FieldManagerConflictTests {
    let now = "2030-01-01T00:00:00Z"
    let dir = "ssa-conflict/"

    func apply(_ file: String, live: JSON?, manager: String) throws -> JSON {
        try SimFieldManager.apply(
            live: live, config: SSARecordings.config(dir + file), manager: manager,
            force: SSARecordings.query(dir + file)["force"] == "true",
            schema: SSARecordings.configMap(), apiVersion: "v1", time: now)
    }

    /// The Status the engine throws, as the recorded body.
    func status(_ body: () throws -> JSON) -> JSON? {
        do {
            _ = try body()
            return nil
        } catch let e as SimAPIError {
            return e.status
        } catch {
            return nil
        }
    }

    @Test func sequence() throws {
        let r1 = try SSARecordings.response(dir + "1-apply-manager-a.json")
        let got1 = try apply("1-apply-manager-a.json", live: nil, manager: "manager-a")
        #expect(entriesWithoutTime(got1) == entriesWithoutTime(r1))
        #expect(got1["data"] == r1["data"])

        // manager-b, another value, no force: 409 with the recorded Status.
        let s2 = status { try apply("2-apply-manager-b-no-force-409.json", live: r1, manager: "manager-b") }
        #expect(s2 == (try SSARecordings.response(dir + "2-apply-manager-b-no-force-409.json")))

        // manager-c merge-patches another key: an Update entry.
        let r3 = try SSARecordings.response(dir + "3-update-manager-c.json")
        let patched = SimJSON.mergePatch(r1, try SSARecordings.config(dir + "3-update-manager-c.json"))
        let got3 = SimFieldManager.update(
            old: r1, new: patched, manager: "manager-c", schema: try SSARecordings.configMap(),
            apiVersion: "v1", time: now)
        #expect(entriesWithoutTime(got3) == entriesWithoutTime(r3))
        #expect(times(got3) == [r1[path: "metadata", "managedFields"]?[0]?["time"]?.string, now])
        #expect(got3["data"] == r3["data"])

        // Both keys against an Apply and an Update manager: plural message, `using v1`.
        let s4 = status { try apply("4-apply-manager-b-both-fields-409.json", live: r3, manager: "manager-b") }
        #expect(s4 == (try SSARecordings.response(dir + "4-apply-manager-b-both-fields-409.json")))

        // Forced: manager-b takes both; the others, left with nothing, disappear.
        let r5 = try SSARecordings.response(dir + "5-apply-manager-b-force.json")
        let got5 = try apply("5-apply-manager-b-force.json", live: r3, manager: "manager-b")
        #expect(entriesWithoutTime(got5) == entriesWithoutTime(r5))
        #expect(got5["data"] == r5["data"])

        // The same value as manager-b: shared, the new entry has no time, the object is unchanged.
        let r6 = try SSARecordings.response(dir + "6-apply-same-value-other-manager.json")
        let got6 = try apply("6-apply-same-value-other-manager.json", live: r5, manager: "manager-d")
        #expect(entriesWithoutTime(got6) == entriesWithoutTime(r6))
        #expect(times(got6) == times(r6))
        #expect(times(got6).first == .some(nil))
        #expect(dropping(got6, ["metadata", "managedFields"]) == dropping(r5, ["metadata", "managedFields"]))
    }

    @Test func droppedSharedFieldStaysUntilItsLastOwnerDropsIt() throws {
        let schema = try SSARecordings.configMap()
        let r6 = try SSARecordings.response(dir + "6-apply-same-value-other-manager.json")
        // manager-b stops applying `key`: manager-d still owns it, so it stays.
        var config = try SSARecordings.config(dir + "5-apply-manager-b-force.json")
        config["data"] = ["other": "from-b"]
        let a = try SimFieldManager.apply(
            live: r6, config: config, manager: "manager-b", force: false, schema: schema,
            apiVersion: "v1", time: now)
        #expect(a["data"] == ["key": "from-b", "other": "from-b"])
        #expect(a[path: "metadata", "managedFields"]?.array?.count == 2)
        // manager-d stops too: now it goes.
        config["data"] = nil
        let b = try SimFieldManager.apply(
            live: a, config: config, manager: "manager-d", force: false, schema: schema,
            apiVersion: "v1", time: now)
        #expect(b["data"] == ["other": "from-b"])
        #expect(b[path: "metadata", "managedFields"]?.array?.map { $0["manager"] } == ["manager-b"])
    }
}

/// Unknown fields (errors/500-apply-*): 500, no reason, whatever fieldValidation says.
@Suite struct FieldManagerErrorTests {
    @Test(arguments: [
        "500-apply-unknown-field-strict.json", "500-apply-unknown-field-ignore.json",
        "500-apply-unknown-field-no-validation-param.json", "500-apply-unknown-nested-field-strict.json",
        "500-apply-cr-unknown-field-strict.json"
    ])
    func unknownField(_ file: String) throws {
        let path = "errors/" + file
        let config = try SSARecordings.config(path)
        let cr = file.contains("-cr-")
        let schema = try (cr ? SSARecordings.applicationSchema() : SSARecordings.configMap())
        let error = #expect(throws: SimAPIError.self) {
            try SimFieldManager.apply(
                live: nil, config: config, manager: "aphex", force: true, schema: schema,
                apiVersion: cr ? "argoproj.io/v1alpha1" : "v1", time: "2030-01-01T00:00:00Z")
        }
        #expect(error?.status == (try SSARecordings.response(path)))
        #expect(error?.status["reason"] == nil)
    }

    @Test func valueOfTheWrongType() throws {
        let config: JSON = [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "n", "namespace": "default"], "data": ["a": 1]
        ]
        let error = #expect(throws: SimAPIError.self) {
            try SimFieldManager.apply(
                live: nil, config: config, manager: "m", force: false, schema: SSARecordings.configMap(),
                apiVersion: "v1", time: "2030-01-01T00:00:00Z")
        }
        #expect(error?.code == 500)
        #expect(
            error?.message
                == """
                failed to create typed patch object (default/n; /v1, Kind=ConfigMap): .data.a: expected string, \
                got &value.valueUnstructured{Value:1}
                """
        )
    }

    @Test func managedFieldsInTheConfigAndTheWrongKind() throws {
        var config = try SSARecordings.config("ssa/1-apply-configmap-create.json")
        config.set(["metadata", "managedFields"], to: [])
        let e1 = #expect(throws: SimAPIError.self) {
            try SimFieldManager.apply(
                live: nil, config: config, manager: "m", force: false, schema: SSARecordings.configMap(),
                apiVersion: "v1", time: "t")
        }
        #expect(e1?.message == "metadata.managedFields must be nil")
        let missingKind = try SSARecordings.config("errors/400-apply-missing-kind.json")
        let e2 = #expect(throws: SimAPIError.self) {
            try SimFieldManager.apply(
                live: nil, config: missingKind, manager: "m", force: false, schema: SSARecordings.configMap(),
                apiVersion: "v1", time: "t", kind: "ConfigMap")
        }
        #expect(e2?.status == (try SSARecordings.response("errors/400-apply-missing-kind.json")))
    }
}

/// Non-apply writes (operation Update) and what the recordings show of them.
@Suite struct FieldManagerUpdateTests {
    @Test func defaultManagerIsTheUserAgentPrefix() {
        #expect(
            SimFieldManager.defaultManager(userAgent: "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07") == "kubectl")
        #expect(SimFieldManager.defaultManager(userAgent: "realapi-capture") == "realapi-capture")
        #expect(SimFieldManager.defaultManager(userAgent: nil) == "")
        #expect(SimFieldManager.defaultManager(userAgent: "a\u{7}b/1") == "ab")
        #expect(SimFieldManager.defaultManager(userAgent: String(repeating: "x", count: 200)).count == 128)
    }

    @Test func createOwnsTheMapItself() throws {
        let r = try SSARecordings.response("crud/201-create-configmap.json")
        let got = SimFieldManager.update(
            old: nil, new: SimFieldManager.withoutManagedFields(r),
            manager: SimFieldManager.defaultManager(userAgent: "realapi-capture"),
            schema: try SSARecordings.configMap(), apiVersion: "v1", time: "t")
        #expect(entriesWithoutTime(got) == entriesWithoutTime(r))
        #expect(dropping(got, ["metadata", "managedFields"]) == dropping(r, ["metadata", "managedFields"]))
    }

    @Test func mergePatchAddsToTheManagersEntry() throws {
        let old = try SSARecordings.response("crud/201-create-unknown-field-default.json")
        let patch = try SSARecordings.config("crud/200-merge-patch-configmap.json")
        let r = try SSARecordings.response("crud/200-merge-patch-configmap.json")
        let got = SimFieldManager.update(
            old: old, new: SimJSON.mergePatch(old, patch), manager: "realapi-capture",
            schema: try SSARecordings.configMap(), apiVersion: "v1", time: "2030-01-01T00:00:00Z")
        #expect(entriesWithoutTime(got) == entriesWithoutTime(r))
        #expect(times(got) == ["2030-01-01T00:00:00Z"])
        #expect(got["data"] == r["data"])
        #expect(got[path: "metadata", "labels"] == r[path: "metadata", "labels"])
    }

    @Test func unchangedUpdateKeepsEverythingAndUnmanagedObjectsStayUnmanaged() throws {
        let schema = try SSARecordings.configMap()
        let r = try SSARecordings.response("ssa/3-apply-configmap-changed.json")
        #expect(SimFieldManager.update(old: r, new: r, manager: "x", schema: schema, apiVersion: "v1", time: "t") == r)
        // An object nobody manages stays so (the API server skips tracking until the first apply).
        let bare = try SSARecordings.response("ssa/namespace-bare-1.json")
        var relabelled = bare
        relabelled.set(["metadata", "labels", "x"], to: "y")
        #expect(
            SimFieldManager.update(
                old: bare, new: relabelled, manager: "x", schema: try SSARecordings.namespace(),
                apiVersion: "v1", time: "t") == relabelled)
        // managedFields: [{}] clears them.
        var cleared = r
        cleared.set(["metadata", "managedFields"], to: [[:]])
        #expect(
            SimFieldManager.update(old: r, new: cleared, manager: "x", schema: schema, apiVersion: "v1", time: "t")[
                path: "metadata", "managedFields"] == nil)
    }

    @Test func moreThanTenUpdateManagersShareAnAncientChangesEntry() throws {
        let schema = try SSARecordings.configMap()
        var object = try SSARecordings.response("crud/201-create-configmap.json")  // realapi-capture owns data.k
        for i in 1...10 {
            var next = object
            next.set(["data", "k\(i)"], to: "v")
            object = SimFieldManager.update(
                old: object, new: next, manager: "writer-\(i)", schema: schema, apiVersion: "v1",
                time: String(format: "2030-01-01T00:00:%02dZ", i))
        }
        let entries = object[path: "metadata", "managedFields"]?.array ?? []
        #expect(entries.count == 10)
        // The two oldest (realapi-capture, writer-1) were merged, with the newer one's time.
        let ancient = entries.first { $0["manager"] == "ancient-changes" }
        #expect(ancient?["time"] == "2030-01-01T00:00:01Z")
        #expect(ancient?["fieldsV1"] == ["f:data": [".": [:], "f:k": [:], "f:k1": [:]]])
        #expect(!entries.contains { $0["manager"] == "realapi-capture" || $0["manager"] == "writer-1" })
    }

    @Test func timestampOnlyChangesAreReverted() throws {
        let r = try SSARecordings.response("ssa/3-apply-configmap-changed.json")
        var touched = r
        touched.set(
            ["metadata", "managedFields"],
            to: .array(
                (r[path: "metadata", "managedFields"]?.array ?? []).map { e in
                    var e = e
                    e["time"] = "2031-01-01T00:00:00Z"
                    return e
                }))
        #expect(SimFieldManager.revertTimestampOnlyChanges(new: touched, old: r) == r)
        var changed = touched
        changed.set(["data", "a"], to: "2")
        #expect(SimFieldManager.revertTimestampOnlyChanges(new: changed, old: r) == changed)
    }
}

/// Semantics the recordings imply but do not show one by one: keyed lists, sets, atomic maps,
/// list-item conflict paths, the reset of status.
@Suite struct FieldManagerSemanticsTests {
    let t1 = "2030-01-01T00:00:00Z", t2 = "2030-01-01T00:00:05Z"

    func deployment(_ image: String, containers extra: [JSON] = [], labels: JSON = ["app": "web"]) -> JSON {
        var containers: [JSON] = [["name": "web", "image": .string(image), "ports": [["containerPort": 80]]]]
        containers += extra
        return [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "namespace": "default"],
            "spec": [
                "replicas": 1, "selector": ["matchLabels": labels],
                "template": ["metadata": ["labels": labels], "spec": ["containers": .array(containers)]]
            ]
        ]
    }

    @Test func listItemConflictPathAndKeyedMerge() throws {
        let schema = try SSARecordings.deployment()
        let live = try SSARecordings.response("ssa/4-apply-deployment-create.json")
        // Another manager changing the image conflicts on the list item's field.
        let e = #expect(throws: SimAPIError.self) {
            try SimFieldManager.apply(
                live: live, config: deployment("nginx:1.28"), manager: "other", force: false,
                schema: schema, apiVersion: "apps/v1", time: t1)
        }
        #expect(
            e?.message
                == #"""
                Apply failed with 1 conflict: conflict with "aphex": \#
                .spec.template.spec.containers[name="web"].image
                """#
        )
        #expect(e?.details?["causes"]?[0]?["field"] == #".spec.template.spec.containers[name="web"].image"#)

        // A sidecar by another manager merges into the keyed list; the live item keeps its defaults.
        let sidecar: JSON = ["name": "side", "image": "busybox"]
        var config = deployment("nginx:1.27", containers: [sidecar])
        config.set(["spec", "template", "spec", "containers"], to: [sidecar])
        config.set(["spec", "replicas"], to: nil)
        config.set(["spec", "selector"], to: nil)
        config.set(["spec", "template", "metadata"], to: nil)
        let merged = try SimFieldManager.apply(
            live: live, config: config, manager: "other", force: false,
            schema: schema, apiVersion: "apps/v1", time: t1)
        let names = merged[path: "spec", "template", "spec", "containers"]?.array?.map { $0["name"] }
        #expect(names == ["web", "side"])
        #expect(
            merged[path: "spec", "template", "spec", "containers"]?[0]
                == live[path: "spec", "template", "spec", "containers"]?[0])
        #expect(merged[path: "metadata", "managedFields"]?.array?.count == 2)

        // aphex re-applies without its container's port: the port goes (it owned it alone),
        // the defaulted fields of the container stay (nobody owns them, the item stays).
        var noPort = deployment("nginx:1.27")
        noPort.set(["spec", "template", "spec", "containers"], to: [["name": "web", "image": "nginx:1.27"]])
        let pruned = try SimFieldManager.apply(
            live: merged, config: noPort, manager: "aphex", force: false,
            schema: schema, apiVersion: "apps/v1", time: t2)
        let web = pruned[path: "spec", "template", "spec", "containers"]?[0]
        #expect(web?["ports"] == nil)
        #expect(web?["imagePullPolicy"] == "IfNotPresent")
        #expect(pruned[path: "spec", "template", "spec", "containers"]?[1]?["name"] == "side")
        let aphex = pruned[path: "metadata", "managedFields"]?.array?.first { $0["manager"] == "aphex" }
        #expect(
            aphex?[path: "fieldsV1", "f:spec", "f:template", "f:spec", "f:containers", #"k:{"name":"web"}"#, "f:ports"]
                == nil)
        #expect(aphex?["time"] == .string(t2))
    }

    @Test func atomicSelectorIsReplacedWhole() throws {
        let schema = try SSARecordings.deployment()
        let live = try SSARecordings.response("ssa/4-apply-deployment-create.json")
        let config = deployment("nginx:1.27", labels: ["tier": "front"])
        let got = try SimFieldManager.apply(
            live: live, config: config, manager: "aphex", force: true,
            schema: schema, apiVersion: "apps/v1", time: t1)
        #expect(got[path: "spec", "selector"] == ["matchLabels": ["tier": "front"]])
        // Template labels are a granular map: app (dropped, owned only by aphex) goes, tier comes.
        #expect(got[path: "spec", "template", "metadata", "labels"] == ["tier": "front"])
    }

    @Test func setListsOwnTheirValues() throws {
        let schema = try SSARecordings.configMap()
        let config: JSON = [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": "s", "namespace": "default", "finalizers": ["a.io/x", "b.io/y"]]
        ]
        let got = try SimFieldManager.apply(
            live: nil, config: config, manager: "m", force: false, schema: schema,
            apiVersion: "v1", time: t1)
        // Items of a set are owned by value; the list itself is not a member.
        #expect(
            got[path: "metadata", "managedFields"]?[0]?["fieldsV1"]
                == ["f:metadata": ["f:finalizers": [#"v:"a.io/x""#: [:], #"v:"b.io/y""#: [:]]]])
        let set = SimFieldSet(fieldsV1: got[path: "metadata", "managedFields"]![0]!["fieldsV1"]!)
        #expect(set.contains(["f:metadata", "f:finalizers", #"v:"b.io/y""#]))
        #expect(!set.contains(["f:metadata", "f:finalizers"]))
        // Another manager adds a finalizer: merged by value, both kept.
        var other = config
        other.set(["metadata", "finalizers"], to: ["c.io/z"])
        let both = try SimFieldManager.apply(
            live: got, config: other, manager: "n", force: false, schema: schema,
            apiVersion: "v1", time: t2)
        #expect(both[path: "metadata", "finalizers"] == ["a.io/x", "b.io/y", "c.io/z"])
    }

    @Test func statusIsResetAndNeverOwned() throws {
        let schema = try SSARecordings.deployment()
        let live = try SSARecordings.response("ssa/4-apply-deployment-create.json")
        var config = try SSARecordings.config("ssa/4-apply-deployment-create.json")
        config["status"] = ["replicas": 3]
        config.set(["metadata", "creationTimestamp"], to: .null)
        // Same spec, a status and a null creationTimestamp: still nothing to write.
        #expect(
            try SimFieldManager.apply(
                live: live, config: config, manager: "aphex", force: true, schema: schema,
                apiVersion: "apps/v1", time: t1) == live)
        // A custom resource without a status subresource owns its status.
        let app: JSON = [
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": ["name": "a", "namespace": "argocd"],
            "spec": [
                "project": "default", "destination": ["server": "https://kubernetes.default.svc"],
                "source": ["repoURL": "https://example.invalid/r.git"]
            ],
            "status": ["health": ["status": "Healthy"]]
        ]
        let got = try SimFieldManager.apply(
            live: nil, config: app, manager: "m", force: false,
            schema: SSARecordings.applicationSchema(), apiVersion: "argoproj.io/v1alpha1",
            time: t1, resetFields: [])
        #expect(got[path: "status", "health", "status"] == "Healthy")
        let owned = SimFieldSet(fieldsV1: got[path: "metadata", "managedFields"]![0]!["fieldsV1"]!)
        #expect(owned.contains(["f:status", "f:health", "f:status"]))
        #expect(owned.contains(["f:spec", "f:source", "f:repoURL"]))
    }

    @Test func fieldsV1RoundTripsAndRendersPaths() throws {
        let fields = try #require(
            try SSARecordings.response("ssa/4-apply-deployment-create.json")[path: "metadata", "managedFields"]?[0]?[
                "fieldsV1"])
        let set = SimFieldSet(fieldsV1: fields)
        #expect(set.fieldsV1 == fields)
        let paths = set.paths.map(SimFieldPath.describe)
        #expect(
            paths.contains(
                #".spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].containerPort"#))
        #expect(paths.contains(".spec.selector"))
        #expect(
            SimFieldPath.key([("protocol", "TCP"), ("containerPort", 80)])
                == #"k:{"containerPort":80,"protocol":"TCP"}"#)
    }
}
