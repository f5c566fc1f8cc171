import AphexCore
import KubeClient
import Foundation
@testable import SimCluster
import Testing
import TestSupport

/// The simulator held to a real kube-apiserver v1.36.2 and the real kubectl 1.32: every file of
/// ../shared/realapi is replayed or checked here (issue 12). An exchange is replayed over the
/// simulator's loopback socket after its own setup; the status code, the headers that carry
/// meaning (content type, caching, framing, warnings, encoding), the Status reason, details and
/// message, and the structure of the body (keys and JSON types at every level, not values such
/// as uids or timestamps) must match. Where the simulator cannot match yet, the exception is
/// named below with `relax` and listed, with its reason, in docs/testing.md ("Parity list").
@Suite(.serialized) struct Conformance {
    // MARK: The catalog: every recorded file has a checker

    enum Role: Equatable {
        case exchange, watch, watchCompanion, stdinFormat, stdinTable, kubectlMessages, kubectlTranscript, kubectlInput,
            tool, readme, http2
    }

    static func role(_ file: String) -> Role? {
        let dir = file.split(separator: "/").first.map(String.init) ?? ""
        let name = (file as NSString).lastPathComponent
        switch (dir, name) {
        case ("README.md", _): return .readme
        case ("kubectl-stdin-formats.md", _): return .stdinTable
        case ("kubectl-messages.md", _): return .kubectlMessages
        case ("kubectl-apply-serverside.txt", _): return .kubectlTranscript
        case ("kubectl-stdin", _): return name.hasSuffix(".stdin") ? .stdinFormat : nil
        case ("kubectl-inputs", _): return .kubectlInput
        case ("tools", _): return .tool
        case ("list-watch", "http2-alpn.txt"): return .http2
        case ("list-watch", _) where name.hasPrefix("watch-"):
            return name.hasSuffix(".body.ndjson") || name.hasSuffix(".wire.txt") ? .watchCompanion : .watch
        case (_, _) where name.hasSuffix(".json") || name.hasSuffix(".json.gz"): return .exchange
        default: return nil
        }
    }

    static let allFiles: [String] = {
        let base = URL(fileURLWithPath: RealAPI.directory)
        guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        var out: [String] = []
        for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
        {
            out.append(String(url.path.dropFirst(base.path.count + 1)))
        }
        return out.sorted()
    }()

    static var exchangeFiles: [String] { allFiles.filter { role($0) == .exchange } }

    @Test func everyRecordedFileHasAChecker() throws {
        try #require(RealAPI.isAvailable, "../shared/realapi is missing beside the checkout")
        #expect(Self.allFiles.count >= 140)
        let unclassified = Self.allFiles.filter { Self.role($0) == nil }
        #expect(unclassified.isEmpty, "no checker for: \(unclassified)")
        // Every exchange has an explicit entry (setup, or none) in the table below.
        let missing = Self.exchangeFiles.filter { Self.specs[$0] == nil }
        #expect(missing.isEmpty, "no conformance entry for: \(missing)")
        let stale = Self.specs.keys.filter { !Self.allFiles.contains($0) }
        #expect(stale.isEmpty, "entries for files that no longer exist: \(stale)")
        // Every watch recording has its companions; every kubectl input is used.
        for w in Self.allFiles.filter({ Self.role($0) == .watch }) {
            let stem = String(w.dropLast(".json".count))
            #expect(Self.allFiles.contains(stem + ".body.ndjson") && Self.allFiles.contains(stem + ".wire.txt"), "\(w)")
        }
        let transcript = String(decoding: try RealAPI.bytes("kubectl-apply-serverside.txt"), as: UTF8.self)
        let messages = String(decoding: try RealAPI.bytes("kubectl-messages.md"), as: UTF8.self)
        for input in Self.allFiles.filter({ Self.role($0) == .kubectlInput }) {
            let name = (input as NSString).lastPathComponent
            let tests = ["dep.yaml", "argocd-cm-health.yaml"]  // ConformanceKubectl's own tests use these two
            #expect(
                transcript.contains(name) || messages.contains(name) || tests.contains(name),
                "\(input) is not used by a transcript, message or test")
        }
    }

    // MARK: Exchanges

    /// What a fixture needs before its request, and how its request is adapted to this world.
    struct Spec {
        var setup: [Step] = []
        var map: [Mapping] = []
        /// Shape differences allowed (see Shape.diff), each listed in docs/testing.md.
        var relax: [String] = []
        /// Arrays whose order the real server does not fix (Go map order): compared sorted by `name`.
        var unordered: [String] = []
    }

    enum Step {
        /// Replay another fixture's request first (its own test compares its response).
        case replay(String)
        /// ArgoCD v3.3.0's three CRDs, Established, and the argocd namespace.
        case argoCRDs
        /// A namespace, created with a JSON body (kubectl's `create namespace` sends protobuf,
        /// which the simulator does not decode: see docs/testing.md).
        case namespace(String)
        /// The 10 Applications of list-watch/list-applications.json, stored as recorded.
        case seedApplications
        /// cert-manager's Issuer CRD and both webhook configurations with an empty caBundle,
        /// addressed by the recorded URL.
        case certManagerEmptyCABundle
    }

    enum Mapping {
        /// The OpenAPI `?hash=` is this simulator's current one for the path.
        case openapiHash
        /// `If-None-Match` is the ETag this simulator just served for the same request.
        case etagOfSameRequest
        /// `continue` is the token this simulator returned for another fixture's request.
        case continueFrom(String)
        /// The request body, where the recording omitted it.
        case body(@Sendable () throws -> [UInt8])
    }

    static let ssa = "ssa/", conflict = "ssa-conflict/"
    static let specs: [String: Spec] = [
        // crud
        "crud/200-delete-configmap.json": Spec(setup: [.replay("crud/201-create-unknown-field-warn.json")]),
        "crud/200-delete-namespace.json": Spec(setup: [
            .replay(ssa + "namespace-bare-1.json"), .replay(ssa + "namespace-bare-2.json")
        ]),
        "crud/200-get-configmap.json": Spec(setup: [
            .replay(ssa + "1-apply-configmap-create.json"), .replay(ssa + "2-apply-configmap-identical.json"),
            .replay(ssa + "3-apply-configmap-changed.json")
        ]),
        "crud/200-merge-patch-configmap.json": Spec(setup: [.replay("crud/201-create-unknown-field-default.json")]),
        "crud/201-create-configmap.json": Spec(),
        "crud/201-create-unknown-field-default.json": Spec(),
        "crud/201-create-unknown-field-warn.json": Spec(),
        // discovery
        "discovery/get-api-aggregated.json": Spec(),
        "discovery/get-api-v1.json": Spec(),
        "discovery/get-api.json": Spec(),
        "discovery/get-apis-aggregated-if-none-match.json": Spec(map: [.etagOfSameRequest]),
        "discovery/get-apis-aggregated-with-argocd.json": Spec(setup: [.argoCRDs]),
        "discovery/get-apis-aggregated.json": Spec(),
        "discovery/get-apis-apps-v1.json": Spec(),
        "discovery/get-apis-apps.json": Spec(),
        "discovery/get-apis-argoproj-before-crd.json": Spec(),
        "discovery/get-apis-argoproj.io-v1alpha1.json": Spec(setup: [.argoCRDs], unordered: [".resources"]),
        "discovery/get-apis-argoproj.io.json": Spec(setup: [.argoCRDs]),
        "discovery/get-apis-no-accept.json": Spec(),
        "discovery/get-apis-v2-only.json": Spec(),
        "discovery/get-apis-v2beta1-only.json": Spec(),
        "discovery/get-apis.json": Spec(),
        "discovery/get-version.json": Spec(),
        // errors
        "errors/400-apply-missing-kind.json": Spec(),
        "errors/400-apply-name-mismatch.json": Spec(),
        "errors/400-apply-yaml-syntax-error.json": Spec(),
        "errors/400-create-cr-unknown-field-strict.json": Spec(setup: [.argoCRDs]),
        "errors/400-create-not-json.json": Spec(),
        "errors/400-create-truncated-json.json": Spec(),
        "errors/400-create-unknown-field-strict.json": Spec(),
        "errors/404-apply-crd-not-installed.json": Spec(),
        "errors/404-apply-in-missing-namespace.json": Spec(),
        "errors/404-create-crd-not-installed.json": Spec(),
        "errors/404-create-in-missing-namespace.json": Spec(),
        "errors/404-delete-missing-configmap.json": Spec(),
        "errors/404-get-in-missing-namespace.json": Spec(),
        "errors/404-get-missing-configmap.json": Spec(),
        "errors/404-list-crd-not-installed.json": Spec(),
        "errors/404-patch-missing.json": Spec(),
        "errors/404-unknown-resource-in-core-group.json": Spec(),
        "errors/409-create-already-exists.json": Spec(setup: [.replay("crud/201-create-configmap.json")]),
        "errors/409-put-stale-resourceversion.json": Spec(setup: [.replay("crud/201-create-configmap.json")]),
        "errors/410-list-continue-expired.json": Spec(),
        "errors/410-list-exact-compacted-rv.json": Spec(),
        "errors/415-create-yaml-content-type-text.json": Spec(),
        "errors/415-patch-unsupported-content-type.json": Spec(setup: [.replay("crud/201-create-configmap.json")]),
        "errors/422-apply-without-fieldmanager.json": Spec(),
        "errors/422-create-cr-schema-invalid.json": Spec(setup: [.argoCRDs]),
        "errors/422-create-crd-annotation-too-long.json": Spec(map: [.body(Conformance.clientSideApplicationSetsCRD)]),
        "errors/422-create-invalid-label.json": Spec(),
        "errors/422-create-invalid-name-and-label.json": Spec(),
        "errors/422-merge-patch-invalid.json": Spec(setup: [.replay("crud/201-create-unknown-field-default.json")]),
        "errors/500-apply-cr-unknown-field-strict.json": Spec(setup: [.argoCRDs]),
        "errors/500-apply-unknown-field-ignore.json": Spec(),
        "errors/500-apply-unknown-field-no-validation-param.json": Spec(),
        "errors/500-apply-unknown-field-strict.json": Spec(),
        "errors/500-apply-unknown-nested-field-strict.json": Spec(),
        "errors/500-dryrun-apply-issuer-webhook-x509.json": Spec(setup: [.certManagerEmptyCABundle]),
        "errors/500-dryrun-create-issuer-webhook-x509.json": Spec(setup: [.certManagerEmptyCABundle]),
        // list-watch (the watches have their own tests)
        "list-watch/list-applications-gzip.json": Spec(setup: [.seedApplications]),
        "list-watch/list-applications-limit2-bad-continue.json": Spec(setup: [.seedApplications]),
        "list-watch/list-applications-limit2-page1.json": Spec(setup: [.seedApplications]),
        "list-watch/list-applications-limit2-page2.json": Spec(
            setup: [.seedApplications],
            map: [.continueFrom("list-watch/list-applications-limit2-page1.json")]),
        "list-watch/list-applications-partialmetadata.json": Spec(setup: [.seedApplications]),
        "list-watch/list-applications-table.json": Spec(setup: [.seedApplications]),
        "list-watch/list-applications.json": Spec(setup: [.seedApplications]),
        // default held cm1, conflict, kube-root-ca.crt, ssa-demo, ssa-json, warn1, warn2 when it was recorded.
        "list-watch/list-configmaps-builtin.json": Spec(
            setup: [.replay("crud/201-create-configmap.json")]
                + Conformance.conflictSteps(before: 7)
                + [
                    .replay(ssa + "1-apply-configmap-create.json"), .replay(ssa + "2-apply-configmap-identical.json"),
                    .replay(ssa + "3-apply-configmap-changed.json"), .replay(ssa + "8-apply-json-body.json"),
                    .replay("crud/201-create-unknown-field-warn.json"),
                    .replay("crud/201-create-unknown-field-default.json")
                ]),
        "list-watch/list-crds-gzip.json": Spec(setup: [.argoCRDs]),
        // openapi
        "openapi/get-openapi-v3-api-v1-gzip.json": Spec(map: [.openapiHash]),
        "openapi/get-openapi-v3-api-v1.json.gz": Spec(map: [.openapiHash]),
        "openapi/get-openapi-v3-apis-apiextensions.k8s.io-v1.json.gz": Spec(map: [.openapiHash]),
        "openapi/get-openapi-v3-apis-apps-v1-nohash.json": Spec(),
        "openapi/get-openapi-v3-apis-apps-v1-wronghash.json": Spec(),
        "openapi/get-openapi-v3-apis-apps-v1.json.gz": Spec(map: [.openapiHash]),
        "openapi/get-openapi-v3-apis-argoproj.io-v1alpha1.json.gz": Spec(setup: [.argoCRDs], map: [.openapiHash]),
        "openapi/get-openapi-v3-index-with-argocd.json": Spec(setup: [.argoCRDs]),
        "openapi/get-openapi-v3-index.json": Spec(),
        "openapi/get-openapi-v3-missing-gv.json": Spec(),
        // server-side apply: each after the steps before it
        ssa + "1-apply-configmap-create.json": Spec(),
        ssa + "2-apply-configmap-identical.json": Spec(setup: [.replay(ssa + "1-apply-configmap-create.json")]),
        ssa + "3-apply-configmap-changed.json": Spec(setup: [
            .replay(ssa + "1-apply-configmap-create.json"), .replay(ssa + "2-apply-configmap-identical.json")
        ]),
        ssa + "4-apply-deployment-create.json": Spec(),
        ssa + "5-apply-deployment-identical.json": Spec(setup: [.replay(ssa + "4-apply-deployment-create.json")]),
        ssa + "6-apply-configmap-dryrun-new.json": Spec(),
        ssa + "7-get-after-dryrun.json": Spec(setup: [.replay(ssa + "6-apply-configmap-dryrun-new.json")]),
        ssa + "8-apply-json-body.json": Spec(),
        ssa + "crd-applicationsets-1-create.json.gz": Spec(map: [.body(Conformance.applicationSetsCRD)]),
        ssa + "crd-applicationsets-2-reapply.json.gz": Spec(
            setup: [.replay(ssa + "crd-applicationsets-1-create.json.gz")],
            map: [.body(Conformance.applicationSetsCRD)]),
        ssa + "namespace-bare-1.json": Spec(),
        ssa + "namespace-bare-2.json": Spec(setup: [.replay(ssa + "namespace-bare-1.json")]),
        ssa + "namespace-bare-3.json": Spec(setup: [
            .replay(ssa + "namespace-bare-1.json"), .replay(ssa + "namespace-bare-2.json")
        ]),
        ssa + "namespace-labelled-1.json": Spec(),
        ssa + "namespace-labelled-2.json": Spec(setup: [.replay(ssa + "namespace-labelled-1.json")]),
        conflict + "1-apply-manager-a.json": Spec(),
        conflict + "2-apply-manager-b-no-force-409.json": Spec(setup: Conformance.conflictSteps(before: 2)),
        conflict + "3-update-manager-c.json": Spec(setup: Conformance.conflictSteps(before: 3)),
        conflict + "4-apply-manager-b-both-fields-409.json": Spec(setup: Conformance.conflictSteps(before: 4)),
        conflict + "5-apply-manager-b-force.json": Spec(setup: Conformance.conflictSteps(before: 5)),
        conflict + "6-apply-same-value-other-manager.json": Spec(setup: Conformance.conflictSteps(before: 6))
    ]

    static let conflictFiles = [
        "1-apply-manager-a.json", "2-apply-manager-b-no-force-409.json", "3-update-manager-c.json",
        "4-apply-manager-b-both-fields-409.json", "5-apply-manager-b-force.json",
        "6-apply-same-value-other-manager.json"
    ]
    static func conflictSteps(before n: Int) -> [Step] { conflictFiles.prefix(n - 1).map { .replay(conflict + $0) } }

    /// What `kubectl apply --server-side` PATCHes for the applicationsets CRD (the recording
    /// describes the 373 KB body instead of holding it): install.yaml's object, as JSON.
    @Sendable static func applicationSetsCRD() throws -> [UInt8] {
        try argoCRDs().first { $0.name == "applicationsets.argoproj.io" }!.serializedBytes()
    }

    /// What client-side `kubectl apply` POSTs for the applicationsets CRD: the object with
    /// itself in the last-applied-configuration annotation (the recording omits the 780 KB body).
    @Sendable static func clientSideApplicationSetsCRD() throws -> [UInt8] {
        var crd = try argoCRDs().first { $0.name == "applicationsets.argoproj.io" }!
        let last = crd.serialized()
        crd.set(
            ["metadata", "annotations"], to: ["kubectl.kubernetes.io/last-applied-configuration": .string(last + "\n")])
        return crd.serializedBytes()
    }

    static func argoCRDs() throws -> [JSON] {
        let text = String(
            decoding: FileManager.default.contents(atPath: manifests + "/argocd-v3.3.0-install.yaml") ?? Data(),
            as: UTF8.self)
        return try SimJSON.documents(text).filter { $0.kind == "CustomResourceDefinition" }
    }

    static let manifests = (RealAPI.directory as NSString).deletingLastPathComponent + "/manifests"

    /// A fresh conformance world with its loopback socket, on virtual time that starts now (after
    /// the recordings were made: managedFields entries order by time, and seeded objects carry
    /// the recorded times).
    static func world() throws -> SimCluster {
        try SimCluster(scenario: "conformance", clock: VirtualClock(epoch: Date()))
    }

    static func run(_ step: Step, _ sim: SimCluster) throws {
        switch step {
        case .replay(let file):
            _ = try send(try RecordedExchange(file), spec: specs[file] ?? Spec(), sim)
        case .argoCRDs:
            for crd in try argoCRDs() {
                let r = try WireClient.send(
                    port: sim.server.port, method: "PATCH",
                    target:
                        """
                        /apis/apiextensions.k8s.io/v1/customresourcedefinitions/\(crd.name!)?fieldManager=aphex&\
                        force=true
                        """,
                    headers: ["Content-Type": "application/apply-patch+yaml", "Accept": "application/json"],
                    body: crd.serializedBytes())
                guard r.status < 300 else {
                    throw SimError("setup: applying CRD \(crd.name!) answered \(r.status): \(r.text)")
                }
            }
            try run(.namespace("argocd"), sim)
            sim.advance(by: .seconds(2))  // Established
        case .namespace(let name):
            let r = try WireClient.send(
                port: sim.server.port, method: "POST", target: "/api/v1/namespaces",
                headers: ["Content-Type": "application/json"],
                body: Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(name)"}}"#.utf8))
            guard r.status == 201 || r.status == 409 else {
                throw SimError("setup: creating namespace \(name) answered \(r.status): \(r.text)")
            }
        case .seedApplications:
            try run(.argoCRDs, sim)
            try sim.world.seed(try RealAPI.responseBody("list-watch/list-applications.json").items)
        case .certManagerEmptyCABundle:
            let recorded =
                try RealAPI.responseBody("errors/500-dryrun-create-issuer-webhook-x509.json")["message"]?.string ?? ""
            let port = recorded.components(separatedBy: "127.0.0.1:").dropFirst().first?.prefix { $0.isNumber } ?? "443"
            sim.world.lock.lock()
            sim.world.installCRD(group: "cert-manager.io", version: "v1", plural: "issuers", kind: "Issuer")
            sim.world.ensureNamespace("cert-manager")
            sim.world.lock.unlock()
            for (kind, path) in [
                ("MutatingWebhookConfiguration", "mutate"), ("ValidatingWebhookConfiguration", "validate")
            ] {
                let config: JSON = [
                    "apiVersion": "admissionregistration.k8s.io/v1", "kind": .string(kind),
                    "metadata": ["name": "cert-manager-webhook"],
                    "webhooks": [
                        [
                            "name": "webhook.cert-manager.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                            "failurePolicy": "Fail", "timeoutSeconds": 30,
                            "clientConfig": ["url": .string("https://127.0.0.1:\(port)/\(path)")],
                            "rules": [
                                [
                                    "apiGroups": ["cert-manager.io", "acme.cert-manager.io"], "apiVersions": ["v1"],
                                    "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]
                                ]
                            ]
                        ]
                    ]
                ]
                try sim.world.seed([config])
            }
        }
    }

    /// Replays a recorded request (adapted by the spec's mappings) over the loopback socket.
    static func send(_ rec: RecordedExchange, spec: Spec, _ sim: SimCluster) throws -> WireResponse {
        var rec = rec
        for m in spec.map {
            switch m {
            case .openapiHash:
                let index = try WireClient.send(port: sim.server.port, method: "GET", target: "/openapi/v3").json
                let key = String(rec.path.dropFirst("/openapi/v3/".count))
                let url = index?[path: "paths", key, "serverRelativeURL"]?.string ?? ""
                rec.query["hash"] = url.components(separatedBy: "hash=").last ?? ""
            case .etagOfSameRequest:
                var first = rec.headers
                first["If-None-Match"] = nil
                let r = try WireClient.send(
                    port: sim.server.port, method: rec.method, target: rec.target, headers: first)
                rec.headers["If-None-Match"] = r.headers["etag"] ?? ""
            case .continueFrom(let file):
                let page = try send(try RecordedExchange(file), spec: specs[file] ?? Spec(), sim)
                rec.query["continue"] = page.json?[path: "metadata", "continue"]?.string ?? ""
            case .body(let make):
                rec.body = try make()
            }
        }
        return try WireClient.send(
            port: sim.server.port, method: rec.method, target: rec.target, headers: rec.headers, body: rec.body)
    }

    /// Headers whose presence and value carry meaning for a client (Date, Audit-Id and the
    /// flow-control uids are per-response; Content-Length only says how the body was framed).
    static let exactHeaders = [
        "content-type", "cache-control", "vary", "x-varied-accept", "warning", "content-encoding",
        "x-content-type-options", "accept-ranges"
    ]
    static let presentHeaders = ["etag", "expires", "last-modified", "location"]

    /// Everything that differs between the recorded response and the simulator's.
    static func differences(_ rec: RecordedExchange, _ got: WireResponse, spec: Spec) -> [String] {
        var out: [String] = []
        if got.status != rec.status {
            out.append("status: recorded \(rec.status), simulated \(got.status): \(got.text.prefix(400))")
        }
        for h in exactHeaders {
            let want = rec.responseHeaders[h], have = got.headers[h]
            if want != have {
                out.append("header \(h): recorded \(want ?? "(none)"), simulated \(have ?? "(none)")")
            }
        }
        for h in presentHeaders where (rec.responseHeaders[h] == nil) != (got.headers[h] == nil) {
            out.append(
                "header \(h): recorded \(rec.responseHeaders[h] ?? "(none)"), simulated \(got.headers[h] ?? "(none)")")
        }
        if let etag = got.headers["etag"], etag.range(of: #"^"[0-9A-F]{128}"$"#, options: .regularExpression) == nil {
            out.append("header etag: not a quoted SHA-512: \(etag)")
        }
        // Framing: a body up to 2 KB has a Content-Length, a larger one is chunked (the
        // recordings name one or the other; Content-Length was set explicitly on OpenAPI).
        let recordedChunked = rec.responseHeaders["transfer-encoding"]?.lowercased() == "chunked"
        if rec.responseHeaders["content-length"] != nil || recordedChunked, recordedChunked != got.chunked {
            out.append(
                """
                framing: recorded \(recordedChunked ? "chunked" : "Content-Length"), simulated \
                \(got.chunked ? "chunked" : "Content-Length") (\(got.body.count) bytes)
                """
            )
        }
        if let want = rec.responseJSON {
            guard let have = got.json else { return out + ["body: recorded JSON, simulated \(got.text.prefix(200))"] }
            out += Shape.diff(Shape.sorted(want, spec.unordered), Shape.sorted(have, spec.unordered), relax: spec.relax)
                .map { "body \($0)" }
            if want["kind"] == "Status" {
                for k in ["status", "reason", "message", "code"] where want[k] != have[k] {
                    out.append(
                        """
                        Status \(k): recorded \(want[k]?.serialized() ?? "nil"), simulated \
                        \(have[k]?.serialized() ?? "nil")
                        """
                    )
                }
                var wd = want["details"], hd = have["details"]
                wd?["uid"] = nil
                hd?["uid"] = nil
                if wd != hd {
                    out.append(
                        "Status details: recorded \(wd?.serialized() ?? "nil"), simulated \(hd?.serialized() ?? "nil")")
                }
                // Go writes a Status in struct order (README: "key order as written").
                let order = Shape.topLevelKeys(got.body)
                if order != SimWire.statusKeys.filter({ want[$0] != nil }) { out.append("Status key order: \(order)") }
            }
        } else if let text = rec.responseText, !text.hasPrefix("(omitted") {
            if got.text != text {
                out.append(
                    "body: recorded \(text.debugDescription), simulated \(got.text.prefix(300).debugDescription)")
            }
        }
        return out
    }

    @Test(arguments: Conformance.exchangeFiles)
    func recordedExchangeReplaysTheSame(_ file: String) throws {
        let spec = try #require(Self.specs[file], "no conformance entry for \(file)")
        let sim = try Self.world()
        for step in spec.setup { try Self.run(step, sim) }
        let rec = try RecordedExchange(file)
        let got = try Self.send(rec, spec: spec, sim)
        let diffs = Self.differences(rec, got, spec: spec)
        #expect(diffs.isEmpty, "\(file) (\(rec.method) \(rec.path)): \(diffs.prefix(25).joined(separator: "\n  "))")
    }
}
