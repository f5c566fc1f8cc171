import AphexCore
import KubeClient
import Foundation

/// The outcome of one API request: a response, or a transport-level fault.
public enum SimAPIResult: Sendable {
    case response(HTTPResponse)
    case fault(SimFault)
}

/// The Kubernetes API paths over the world, shared by the in-process transport and the
/// loopback server: discovery, CRUD, watch, the service proxy (Authentik), and /_sim/ control
/// endpoints.
public final class SimAPI: @unchecked Sendable {
    public let world: SimWorld
    /// Set by the loopback server: a hook to run stand-in commands (POST /_sim/exec).
    var execHandler: (@Sendable ([UInt8]) async -> HTTPResponse)?
    /// Processes to SIGKILL when the nth request whose path contains the text arrives (before it
    /// is answered): a deterministic "killed mid-step" for resume tests (POST /_sim/kill-at-request).
    private let killRules = LockedBox<[(pathContains: String, pid: Int32, remaining: Int)]>([])

    public init(world: SimWorld) { self.world = world }

    struct Target {
        var path: String
        var query: [String: String]
        var rawQuery: String
    }

    static func split(_ target: String) -> Target {
        var t = target
        if let r = t.range(of: "://") {  // absolute URL -> path
            let rest = t[r.upperBound...]
            t = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        }
        let parts = t.split(separator: "?", maxSplits: 1).map(String.init)
        var q: [String: String] = [:]
        let raw = parts.count > 1 ? parts[1] : ""
        for pair in raw.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let key = kv[0].removingPercentEncoding ?? kv[0]
            q[key] =
                kv.count > 1 ? (kv[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? kv[1]) : ""
        }
        return Target(path: parts.first ?? "/", query: q, rawQuery: raw)
    }

    /// A JSON response as the API server writes one: the encoder's trailing newline, and
    /// `Cache-Control: no-cache, private` on every API answer.
    static func json(_ code: Int, _ body: JSON) -> HTTPResponse {
        HTTPResponse(
            status: code, headers: ["content-type": "application/json", "cache-control": "no-cache, private"],
            body: body.serializedBytes() + [10])
    }
    /// A typed object (kind, apiVersion, metadata first for built-in kinds).
    static func object(_ code: Int, _ o: JSON, builtin: Bool, headers extra: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(
            status: code,
            headers: ["content-type": "application/json", "cache-control": "no-cache, private"].merging(extra) { _, b in
                b
            },
            body: SimWire.object(o, builtin: builtin) + [10])
    }
    /// `Warning` headers (one value per warning; the loopback writes them comma-joined as one
    /// header, which HTTP allows and the recordings, with one warning each, cannot tell apart).
    static func warningHeaders(_ warnings: [String]) -> [String: String] {
        warnings.isEmpty ? [:] : ["warning": warnings.joined(separator: ", ")]
    }

    /// The mux's answer for a path no API group serves (a group whose CRD is not installed).
    static let pageNotFound = HTTPResponse(
        status: 404,
        headers: [
            "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff",
            "cache-control": "no-cache, private"
        ],
        body: Array("404 page not found\n".utf8))
    static func error(_ e: SimAPIError) -> HTTPResponse {
        if e.noKindMatch { return pageNotFound }
        return HTTPResponse(
            status: e.code, headers: ["content-type": "application/json", "cache-control": "no-cache, private"],
            body: SimWire.status(e.status) + [10])
    }

    /// Flow control's answer (k8s.io/apiserver filters: `tooManyRequests` sets Retry-After, then
    /// http.Error writes the text with its own headers). A fault, not a recording.
    static let tooManyRequests = HTTPResponse(
        status: 429,
        headers: [
            "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff",
            "retry-after": "1"
        ],
        body: Array("Too many requests, please try again later.\n".utf8))

    static func isMutating(_ method: String, _ query: [String: String]) -> Bool {
        ["POST", "PUT", "PATCH", "DELETE"].contains(method) && query["dryRun"] == nil
    }

    /// Serves one (non-watch) request. Faults and latency apply to Kubernetes paths only.
    public func handle(method: String, target: String, headers: [String: String], body: [UInt8], via: String) async
        -> SimAPIResult
    {
        let t = Self.split(target)
        if t.path.hasPrefix("/_sim/") {
            let r = await control(method: method, t, body: body)
            return .response(r)
        }
        let latency = world.faults.latency
        if latency > .zero { try? await world.clock.sleep(for: latency) }
        if !world.clusterUpLocked {
            record(method, t, status: 0, fault: .down, body: body, via: via)
            return .fault(.down)
        }
        if let f = world.faults.decide(at: world.nowSeconds) {
            record(method, t, status: f == .http503 ? 503 : f == .http429 ? 429 : 0, fault: f, body: body, via: via)
            switch f {
            case .http503:
                return .response(
                    Self.json(
                        503,
                        SimAPIError(
                            code: 503, reason: "ServiceUnavailable",
                            message: "the server is currently unable to handle the request"
                        ).status))
            case .http429:
                return .response(Self.tooManyRequests)
            case .timeout:
                return .fault(.timeout)
            default:
                return .fault(f)
            }
        }
        let victims: [Int32] = killRules.withLock { rules in
            var hit: [Int32] = []
            for i in rules.indices where t.path.contains(rules[i].pathContains) {
                rules[i].remaining -= 1
                if rules[i].remaining == 0 { hit.append(rules[i].pid) }
            }
            rules.removeAll { $0.remaining <= 0 }
            return hit
        }
        for pid in victims { kill(pid, SIGKILL) }
        let started = ContinuousClock.now
        var response = await route(method: method, t, headers: headers, body: body)
        // The API server gzips API responses over 128 KiB for clients that accept it (not the
        // OpenAPI documents: the recorded 1.5 MB api/v1 document came uncompressed).
        if response.body.count > 128 * 1024, (headers["accept-encoding"] ?? "").contains("gzip"),
            !t.path.hasPrefix("/openapi"),
            response.headers["content-encoding"] == nil, let gz = try? Gzip.compress(response.body)
        {
            response.body = gz
            response.headers["content-encoding"] = "gzip"
            response.headers["vary"] = "Accept-Encoding"
        }
        let took = ContinuousClock.now - started
        record(
            method, t, status: response.status, fault: nil, body: body,
            via: via, mutating: Self.isMutating(method, t.query) && response.status < 300,
            serverMs: (took.seconds * 10_000).rounded() / 10)
        return .response(response)
    }

    func record(
        _ method: String, _ t: Target, status: Int, fault: SimFault?, body: [UInt8], via: String, mutating: Bool? = nil,
        serverMs: Double? = nil
    ) {
        world.record.addRequest(
            time: world.nowSeconds, method: method, path: t.path, query: t.rawQuery, status: status,
            fault: fault?.rawValue, body: body, mutating: mutating ?? Self.isMutating(method, t.query), via: via,
            serverMs: serverMs)
    }

    // MARK: routing

    struct Route {
        var type: SimType
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    func parseResourcePath(_ path: String) throws -> Route? {
        let c = path.split(separator: "/").map(String.init)
        var rest: ArraySlice<String>
        var group = "", version = ""
        if c.first == "api", c.count >= 3 {
            version = c[1]
            rest = c[2...]
        } else if c.first == "apis", c.count >= 4 {
            group = c[1]
            version = c[2]
            rest = c[3...]
        } else {
            return nil
        }
        var ns: String? = nil
        if rest.first == "namespaces", rest.count >= 3, !["status", "finalize"].contains(rest[rest.startIndex + 2]) {
            ns = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let res = rest.first else { return nil }
        guard let type = world.type(group: group, version: version, resource: res) else {
            // A served group/version answers with a Status; an unserved one is the mux's 404 page.
            if world.servesGroupVersion(group: group, version: version) { throw SimAPIError.resourceNotFound }
            throw SimAPIError.noMatch(kind: res, apiVersion: group.isEmpty ? version : "\(group)/\(version)")
        }
        let name = rest.count >= 2 ? rest[rest.startIndex + 1] : nil
        let sub = rest.count >= 3 ? rest[(rest.startIndex + 2)...].joined(separator: "/") : nil
        return Route(type: type, namespace: ns, name: name, subresource: sub)
    }

    func route(method: String, _ t: Target, headers: [String: String], body: [UInt8]) async -> HTTPResponse {
        let p =
            t.path.count > 1 && t.path.hasSuffix("/") && !t.path.contains("/proxy/")
            ? String(t.path.dropLast()) : t.path
        switch p {
        case "/version": return Discovery.version(versionInfo())
        case "/healthz", "/readyz", "/livez":
            return HTTPResponse(status: 200, headers: ["content-type": "text/plain"], body: Array("ok".utf8))
        default: break
        }
        // Discovery (Discovery.swift) and OpenAPI v3 (OpenAPI.swift), as a real 1.36 server serves them.
        if let r = Discovery.respond(world, path: p, headers: headers) { return r }
        if p == "/openapi/v3" || p.hasPrefix("/openapi/v3/") {
            return world.openAPI.respond(path: p, query: t.query, headers: headers)
        }
        if p == "/openapi/v2" { return world.openAPI.respondV2(headers: headers) }
        if p.hasPrefix("/openapi") {
            return HTTPResponse(
                status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found\n".utf8))
        }
        if p.contains("/services/"), p.contains("/proxy") {
            return serviceProxy(method: method, path: t.path, headers: headers)
        }
        if p == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", method == "POST" { return accessReview(body) }
        do {
            guard let r = try parseResourcePath(p) else {
                return HTTPResponse(
                    status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found\n".utf8))
            }
            let dryRun = t.query["dryRun"] != nil
            let by = headers["user-agent"].map { String($0.prefix(40)) } ?? "http"
            switch (method, r.name) {
            case ("GET", nil):
                return try SimLists.respond(
                    world, type: r.type, namespace: r.namespace, query: t.query, accept: headers["accept"] ?? "")
            case ("GET", let name?):
                guard let o = world.get(r.type.ref, namespace: r.namespace, name: name) else {
                    throw SimAPIError.notFound(r.type.qualifiedName, name)
                }
                let accept = headers["accept"] ?? ""
                if accept.contains("as=Table") {
                    return Self.json(
                        200,
                        Tables.table(
                            ["items": [o], "metadata": ["resourceVersion": .string(String(world.resourceVersion))]],
                            type: r.type, crd: world.crd(for: r.type)))
                }
                if accept.contains("as=PartialObjectMetadata") {
                    return Self.object(200, SimLists.partialMetadata(o), builtin: true)
                }
                return Self.object(200, o, builtin: r.type.crdName == nil)
            case ("POST", nil):
                let info = world.typeInfo(r.type)
                let d = try SimDecoding.decode(
                    body: body, contentType: headers["content-type"], method: "POST", query: t.query,
                    kind: r.type.ref.kind, group: r.type.ref.group, version: r.type.ref.version,
                    namespaced: r.type.ref.namespaced, customResource: info.customResource,
                    namespace: r.namespace, schema: info.schema)
                let created = try world.create(
                    d.object, namespace: r.namespace, dryRun: dryRun, by: by,
                    manager: t.query["fieldManager"]
                        ?? SimFieldManager.defaultManager(userAgent: headers["user-agent"]),
                    order: d.order)
                return Self.object(
                    201, created, builtin: r.type.crdName == nil, headers: Self.warningHeaders(d.warnings))
            case ("PUT", let name?):
                let info = world.typeInfo(r.type)
                let d = try SimDecoding.decode(
                    body: body, contentType: headers["content-type"], method: "PUT", query: t.query,
                    kind: r.type.ref.kind, group: r.type.ref.group, version: r.type.ref.version,
                    namespaced: r.type.ref.namespaced, customResource: info.customResource,
                    name: name, namespace: r.namespace, schema: info.schema)
                let o = try world.replace(
                    d.object, type: r.type, namespace: r.namespace, name: name, status: r.subresource == "status",
                    dryRun: dryRun, by: by,
                    manager: t.query["fieldManager"] ?? SimFieldManager.defaultManager(userAgent: headers["user-agent"])
                )
                return Self.object(200, o, builtin: r.type.crdName == nil, headers: Self.warningHeaders(d.warnings))
            case ("PATCH", let name?):
                let info = world.typeInfo(r.type)
                let d = try SimDecoding.decode(
                    body: body, contentType: headers["content-type"], method: "PATCH", query: t.query,
                    kind: r.type.ref.kind, group: r.type.ref.group, version: r.type.ref.version,
                    namespaced: r.type.ref.namespaced, customResource: info.customResource,
                    name: name, namespace: r.namespace, schema: info.schema)
                if d.patchType == .apply {
                    // The URL names the object (a body without a namespace takes the URL's, after the merge).
                    try SimDecoding.checkName(d.object, name: name, namespace: r.namespace ?? "")
                    let (o, outcome) = try world.apply(
                        d.object, namespace: r.namespace, fieldManager: t.query["fieldManager"] ?? "",
                        force: t.query["force"] == "true", dryRun: dryRun, by: by)
                    return Self.object(outcome == .created ? 201 : 200, o, builtin: r.type.crdName == nil)
                }
                let (o, warnings) = try world.patch(
                    r.type, namespace: r.namespace, name: name, patch: d.object,
                    type: d.patchType == .json ? "json" : "merge", subresource: r.subresource,
                    dryRun: dryRun, by: by,
                    manager: t.query["fieldManager"]
                        ?? SimFieldManager.defaultManager(userAgent: headers["user-agent"]),
                    fieldValidation: d.fieldValidation)
                return Self.object(200, o, builtin: r.type.crdName == nil, headers: Self.warningHeaders(warnings))
            case ("DELETE", let name?):
                let o = try world.delete(r.type, namespace: r.namespace, name: name, dryRun: dryRun, by: by)
                // Still there (finalizers, a terminating namespace): the object; gone: a Status.
                if dryRun || o[path: "metadata", "deletionTimestamp"] != nil {
                    return Self.object(200, o, builtin: r.type.crdName == nil)
                }
                var details = SimAPIError.objectDetails(r.type.qualifiedName, name)
                details["uid"] = o[path: "metadata", "uid"]
                let status: JSON = [
                    "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": details
                ]
                return HTTPResponse(
                    status: 200, headers: ["content-type": "application/json", "cache-control": "no-cache, private"],
                    body: SimWire.status(status) + [10])
            default:
                return Self.json(
                    405,
                    SimAPIError(
                        code: 405, reason: "MethodNotAllowed",
                        message: "the server does not allow this method on the requested resource"
                    ).status)
            }
        } catch let e as SimAPIError {
            return Self.error(e)
        } catch {
            return Self.json(400, SimAPIError.badRequest("\(error)").status)
        }
    }

    func versionInfo() -> JSON {
        let v =
            world.k3sInstalled && !world.preexistingCluster && world.kindClusters.isEmpty
            ? world.scenario.cluster.k3sVersion
            : (world.scenario.cluster.flavor == "k3s"
                ? world.scenario.cluster.k3sVersion : world.scenario.cluster.kubernetesVersion)
        let parts = v.dropFirst().split(separator: ".")
        return [
            "major": .string(String(parts.first ?? "1")), "minor": .string(String(parts.dropFirst().first ?? "32")),
            "gitVersion": .string(v), "gitCommit": "32cc146f75aad04beaaa245a7157eb35063a9f99", "gitTreeState": "clean",
            "buildDate": "2025-02-12T21:17:39Z", "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"
        ]
    }

    func accessReview(_ body: [UInt8]) -> HTTPResponse {
        var review = (try? JSON.parse(body)) ?? [:]
        let verb = review[path: "spec", "resourceAttributes", "verb"]?.string ?? ""
        let res = review[path: "spec", "resourceAttributes", "resource"]?.string ?? ""
        let denied = world.scenario.host.deniedVerbs.contains("\(verb) \(res)")
        review["status"] = ["allowed": .bool(!denied)]
        review["apiVersion"] = "authorization.k8s.io/v1"
        review["kind"] = "SelfSubjectAccessReview"
        return Self.json(201, review)
    }

    /// /api/v1/namespaces/NS/services/[scheme:]NAME[:PORT]/proxy/PATH — Authentik's API.
    func serviceProxy(method: String, path: String, headers: [String: String]) -> HTTPResponse {
        let c = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let si = c.firstIndex(of: "services"), si + 2 < c.count, si >= 2 else {
            return HTTPResponse(status: 404, body: Array("404 page not found\n".utf8))
        }
        let ns = c[si - 1]
        var svc = c[si + 1]
        if svc.hasPrefix("http:") || svc.hasPrefix("https:") {
            svc = String(svc.split(separator: ":", maxSplits: 1)[1])
        }
        let svcName = String(svc.split(separator: ":").first ?? "")
        let rest = "/" + c[(si + 3)...].joined(separator: "/")
        world.tick()
        guard world.get(ResourceRef.services, namespace: ns, name: svcName) != nil else {
            return Self.error(SimAPIError.notFound("services", svcName))
        }
        let authApp = world.scenario.apps.first { $0.role == "authentik" }?.name ?? "auth"
        let app = world.get(ResourceRef.applications, namespace: "argocd", name: authApp)
        let serverReady =
            world.workloadReadyAtLocked(ObjectKey(ResourceRef.deployments, namespace: ns, name: svcName)).map {
                world.now >= $0
            } ?? false
        guard serverReady, app?[path: "status", "health", "status"]?.string == "Healthy" || app == nil else {
            return Self.json(
                503,
                SimAPIError(
                    code: 503, reason: "ServiceUnavailable",
                    message: "no endpoints available for service \"\(svcName)\""
                ).status)
        }
        guard svcName == "authentik-server", rest.hasPrefix("/api/v3/core/users/me") else {
            return HTTPResponse(
                status: 404, headers: ["content-type": "application/json"],
                body: Array(#"{"detail":"Not found."}"#.utf8))
        }
        let secret = world.get(ResourceRef.secrets, namespace: "auth-system", name: "authentik-secrets")
        let token = secret?[path: "data", "bootstrap-token"]?.string.flatMap { Data(base64Encoded: $0) }.map {
            String(decoding: $0, as: UTF8.self)
        }
        let auth = headers["authorization"] ?? ""
        guard let token, !token.isEmpty, auth == "Bearer \(token)" else {
            return HTTPResponse(
                status: 403, headers: ["content-type": "application/json"],
                body: Array(#"{"detail":"Token invalid/expired"}"#.utf8))
        }
        let user: JSON = [
            "user": [
                "pk": 1, "username": "akadmin", "name": "authentik Default Admin", "is_active": true,
                "is_superuser": true, "email": "root@localhost", "uid": .string(sha256Hex(Array("akadmin".utf8))),
                "groups": [["name": "authentik Admins", "pk": "c3a5b1f8-0b8a-4a39-9c3e-7f9d8d1e2a10"]]
            ]
        ]
        return Self.json(200, user)
    }

    // MARK: watch

    /// Streams watch events for the in-process transport: newline-delimited JSON, one call per
    /// event (an empty call marks "nothing more pending"). Returns the HTTP status; a request
    /// refused before streaming gets its Status body through `onData`.
    public func watch(
        target: String, via: String, poll: Duration = .milliseconds(200),
        onData: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Int {
        let plain = try await watchStream(target: target, headers: [:], via: via, poll: poll) { chunk in
            chunk.isEmpty ? true : onData(chunk)
        }
        guard let plain else { return 200 }
        _ = onData(plain.body)
        return plain.status
    }

    /// A watch as the API server serves it (../shared/realapi/list-watch): `{"type":T,"object":O}\n`
    /// per event; `resourceVersion` unset or 0 starts with a synthetic ADDED per object; an
    /// RV older than the watch cache reaches back ends in one in-stream ERROR 410 event;
    /// `allowWatchBookmarks` gets BOOKMARK events (only apiVersion, kind, metadata.resourceVersion)
    /// before the deadline; the stream ends at `timeoutSeconds` (scenario clock), when `onData`
    /// returns false, or on cancellation. Returns nil once streamed, or the plain response of a
    /// request refused before streaming (422 for `sendInitialEvents`, a 404 ...).
    public func watchStream(
        target: String, headers: [String: String], via: String, poll: Duration = .milliseconds(200),
        onData: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> HTTPResponse? {
        let t = Self.split(target)
        if !world.clusterUpLocked {
            record("GET", t, status: 0, fault: .down, body: [], via: via)
            throw TransportError.connectionRefused(target)
        }
        let fault = world.faults.decide(at: world.nowSeconds)
        if fault == .http429 {
            record("GET", t, status: 429, fault: .http429, body: [], via: via)
            return Self.tooManyRequests
        }
        if let f = fault, f != .http503 {
            record("GET", t, status: 0, fault: f, body: [], via: via)
            throw f == .timeout
                ? TransportError.timedOut(target)
                : (f == .down ? TransportError.connectionRefused(target) : TransportError.connectionReset(target))
        }
        if t.query["sendInitialEvents"] == "true" {
            // The recorded server runs with WatchList=false (as kube-apiserver < 1.32 by default).
            record("GET", t, status: 422, fault: nil, body: [], via: via)
            let status: JSON = [
                "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                "message":
                    """
                ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is \
                forbidden for watch unless the WatchList feature gate is enabled
                """,
                "reason": "Invalid",
                "details": [
                    "group": "meta.k8s.io", "kind": "ListOptions",
                    "causes": [
                        [
                            "reason": "FieldValueForbidden",
                            "message":
                                """
                            Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature \
                            gate is enabled
                            """,
                            "field": "sendInitialEvents"
                        ]
                    ]
                ],
                "code": 422
            ]
            return HTTPResponse(
                status: 422, headers: ["content-type": "application/json", "cache-control": "no-cache, private"],
                body: SimWire.status(status) + [10])
        }
        let buffer = EventBuffer()
        let route: Route
        let id: Int
        do {
            guard let r = try parseResourcePath(t.path), r.name == nil else {
                throw SimAPIError.badRequest("watch needs a collection path")
            }
            route = r
            let builtin = r.type.crdName == nil
            id = try world.watch(
                r.type, namespace: r.namespace, labelSelector: t.query["labelSelector"],
                fieldSelector: t.query["fieldSelector"],
                resourceVersion: t.query["resourceVersion"]
            ) { type, obj in
                buffer.push(Self.watchEvent(type, SimWire.object(obj, builtin: builtin)))
            }
        } catch let e as SimAPIError {
            record("GET", t, status: e.code == 410 ? 200 : e.code, fault: nil, body: [], via: via)
            if e.code == 410 {
                // The API server reports an expired version as a 200 stream with one ERROR event.
                _ = onData(Self.watchEvent("ERROR", SimWire.status(e.status)))
                _ = onData([])
                return nil
            }
            return Self.error(e)
        }
        record("GET", t, status: 200, fault: nil, body: [], via: via)
        defer { world.unwatch(id) }
        // The API server flushes the response head at once: a client waiting for a condition
        // that already holds (kubectl wait) reads the synthetic events below without delay.
        guard onData([]) else { return nil }
        let timeout = Double(t.query["timeoutSeconds"] ?? "") ?? 1800
        let start = world.now
        let end = start + .milliseconds(Int64(timeout * 1000))
        // BOOKMARKs: the watch cache sends one ~2 s before the deadline and another about a
        // second later (recorded with timeoutSeconds=5 at 2.7 s and 3.8 s; none within 3 s).
        var bookmarks: [Duration] =
            t.query["allowWatchBookmarks"] == "true" && timeout > 3
            ? [
                start + .milliseconds(Int64((timeout - 2.3) * 1000)),
                start + .milliseconds(Int64((timeout - 1.2) * 1000))
            ] : []
        while world.now < end {
            try Task.checkCancellation()
            world.tick()
            if let b = bookmarks.first, world.now >= b {
                bookmarks.removeFirst()
                let object: JSON = [
                    "apiVersion": .string(route.type.ref.apiVersion), "kind": .string(route.type.ref.kind),
                    "metadata": ["resourceVersion": .string(String(world.resourceVersion))]
                ]
                buffer.push(Self.watchEvent("BOOKMARK", SimWire.object(object, builtin: route.type.crdName == nil)))
            }
            let events = buffer.drain()
            for chunk in events where !onData(chunk) { return nil }
            if !events.isEmpty && !onData([]) { return nil }
            if !world.clusterUpLocked || world.faults.isDown(at: world.nowSeconds) { break }
            try await world.clock.sleep(for: poll)
        }
        let events = buffer.drain()
        for chunk in events where !onData(chunk) { return nil }
        _ = onData([])
        return nil
    }

    /// `{"type":T,"object":O}` and a newline: Go's WatchEvent field order.
    static func watchEvent(_ type: String, _ object: [UInt8]) -> [UInt8] {
        Array(#"{"type":"#.utf8) + JSON.string(type).serializedBytes() + Array(#","object":"#.utf8) + object
            + Array("}\n".utf8)
    }

    // MARK: control endpoints

    func control(method: String, _ t: Target, body: [UInt8]) async -> HTTPResponse {
        switch (method, t.path) {
        case ("GET", "/_sim/record"): return Self.json(200, world.record.json)
        case ("POST", "/_sim/record/reset"):
            world.record.reset()
            return Self.json(200, ["ok": true])
        case ("POST", "/_sim/record/command"):
            // A command the real kubectl ran for a stand-in's caller (see `KubectlPassthrough`).
            guard let j = try? JSON.parse(body), let argv = j["argv"]?.array?.compactMap(\.string), !argv.isEmpty else {
                return Self.json(400, ["error": "needs {argv, status, stdout, stderr[, stdin]}"])
            }
            let stdin = j["stdin"]?.string.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
            world.record.addCommand(
                time: world.nowSeconds, argv: argv, stdin: stdin,
                output: CommandOutput(
                    status: Int32(j["status"]?.int ?? 1), stdout: j["stdout"]?.string ?? "",
                    stderr: j["stderr"]?.string ?? ""),
                via: "real-kubectl", mutating: SimTools.isMutating(argv))
            return Self.json(200, ["ok": true])
        case ("GET", "/_sim/world"):
            return Self.json(200, ["time": .double(world.nowSeconds), "objects": .array(world.allObjects())])
        case ("GET", "/_sim/convergence"):
            // Scenario time now and of the platform's final transition (null until it happened).
            world.tick()
            let (now, at) = world.convergenceLocked
            return Self.json(
                200, ["time": .double(now.seconds), "convergedAt": at.map { .double($0.seconds) } ?? .null])
        case ("GET", "/_sim/health"):
            return Self.json(
                200, ["ok": true, "scenario": .string(world.scenario.name), "time": .double(world.nowSeconds)])
        case ("GET", "/_sim/k3s-install.sh"):
            return HTTPResponse(
                status: 200, headers: ["content-type": "text/x-shellscript"], body: Array(K3sInstaller.script.utf8))
        case ("POST", "/_sim/faults"):
            guard let j = try? JSON.parse(body) else { return Self.json(400, ["error": "body must be JSON"]) }
            world.faults.configure { f in
                if let r = j["errorRate"]?.double { f.errorRate = r }
                if let k = j["kinds"]?.array { f.kinds = k.compactMap(\.string) }
                if let l = j["latencyMs"]?.double { f.latencyMs = l }
                if let s = j["seed"]?.int { f.seed = UInt64(s) }
                if let s = j["timeoutSeconds"]?.double { f.timeoutSeconds = s }
            }
            if let d = j["downForSeconds"]?.double {
                world.faults.down(from: world.nowSeconds, to: world.nowSeconds + d)
            }
            return Self.json(200, ["ok": true])
        case ("POST", "/_sim/kill-at-request"):
            guard let j = try? JSON.parse(body), let text = j["pathContains"]?.string, !text.isEmpty,
                let pid = j["pid"]?.int, pid > 1
            else { return Self.json(400, ["error": "needs {pathContains, pid[, nth]}"]) }
            let nth = max(1, Int(j["nth"]?.int ?? 1))
            killRules.withLock { $0.append((text, Int32(pid), nth)) }
            return Self.json(200, ["ok": true])
        case ("POST", "/_sim/exec"):
            if let h = execHandler { return await h(body) }
            return Self.json(404, ["error": "no exec handler"])
        default:
            return Self.json(404, ["error": .string("unknown simulator endpoint \(t.path)")])
        }
    }
}

final class EventBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[UInt8]] = []
    func push(_ c: [UInt8]) {
        lock.lock()
        chunks.append(c)
        lock.unlock()
    }
    func drain() -> [[UInt8]] {
        lock.lock()
        defer { lock.unlock() }
        let c = chunks
        chunks = []
        return c
    }
}

extension SimWorld {
    var clusterUpLocked: Bool {
        lock.lock()
        defer { lock.unlock() }
        return clusterUp
    }
    var convergenceLocked: (now: Duration, at: Duration?) {
        lock.lock()
        defer { lock.unlock() }
        return (now, platformConvergedAt)
    }
    func workloadReadyAtLocked(_ k: ObjectKey) -> Duration? {
        lock.lock()
        defer { lock.unlock() }
        return workloadReadyAt[k]
    }
}
