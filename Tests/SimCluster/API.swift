import ClusterDrivers
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
        if let r = t.range(of: "://") {   // absolute URL -> path
            let rest = t[r.upperBound...]
            t = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        }
        let parts = t.split(separator: "?", maxSplits: 1).map(String.init)
        var q: [String: String] = [:]
        let raw = parts.count > 1 ? parts[1] : ""
        for pair in raw.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let key = kv[0].removingPercentEncoding ?? kv[0]
            q[key] = kv.count > 1 ? (kv[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? kv[1]) : ""
        }
        return Target(path: parts.first ?? "/", query: q, rawQuery: raw)
    }

    static func json(_ code: Int, _ body: JSON) -> HTTPResponse {
        HTTPResponse(status: code, headers: ["content-type": "application/json"], body: body.serializedBytes())
    }
    static func error(_ e: SimAPIError) -> HTTPResponse {
        if e.noKindMatch { return HTTPResponse(status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found\n".utf8)) }
        return json(e.code, e.status)
    }

    static func isMutating(_ method: String, _ query: [String: String]) -> Bool {
        ["POST", "PUT", "PATCH", "DELETE"].contains(method) && query["dryRun"] == nil
    }

    /// Serves one (non-watch) request. Faults and latency apply to Kubernetes paths only.
    public func handle(method: String, target: String, headers: [String: String], body: [UInt8], via: String) async -> SimAPIResult {
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
            record(method, t, status: f == .http503 ? 503 : 0, fault: f, body: body, via: via)
            switch f {
            case .http503:
                return .response(Self.json(503, SimAPIError(code: 503, reason: "ServiceUnavailable",
                                                            message: "the server is currently unable to handle the request").status))
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
        let response = await route(method: method, t, headers: headers, body: body)
        let took = ContinuousClock.now - started
        record(method, t, status: response.status, fault: nil, body: body,
               via: via, mutating: Self.isMutating(method, t.query) && response.status < 300,
               serverMs: (took.seconds * 10_000).rounded() / 10)
        return .response(response)
    }

    func record(_ method: String, _ t: Target, status: Int, fault: SimFault?, body: [UInt8], via: String, mutating: Bool? = nil,
                serverMs: Double? = nil) {
        world.record.addRequest(time: world.nowSeconds, method: method, path: t.path, query: t.rawQuery, status: status,
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
        if c.first == "api", c.count >= 3 { version = c[1]; rest = c[2...] }
        else if c.first == "apis", c.count >= 4 { group = c[1]; version = c[2]; rest = c[3...] }
        else { return nil }
        var ns: String? = nil
        if rest.first == "namespaces", rest.count >= 3, !["status", "finalize"].contains(rest[rest.startIndex + 2]) {
            ns = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let res = rest.first else { return nil }
        guard let type = world.type(group: group, version: version, resource: res) else {
            throw SimAPIError.noMatch(kind: res, apiVersion: group.isEmpty ? version : "\(group)/\(version)")
        }
        let name = rest.count >= 2 ? rest[rest.startIndex + 1] : nil
        let sub = rest.count >= 3 ? rest[(rest.startIndex + 2)...].joined(separator: "/") : nil
        return Route(type: type, namespace: ns, name: name, subresource: sub)
    }

    func route(method: String, _ t: Target, headers: [String: String], body: [UInt8]) async -> HTTPResponse {
        let p = t.path.count > 1 && t.path.hasSuffix("/") && !t.path.contains("/proxy/") ? String(t.path.dropLast()) : t.path
        switch p {
        case "/version": return Self.json(200, versionInfo())
        case "/healthz", "/readyz", "/livez": return HTTPResponse(status: 200, headers: ["content-type": "text/plain"], body: Array("ok".utf8))
        case "/api": return Self.json(200, ["kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"]]])
        case "/apis": return Self.json(200, Discovery.groupList(world))
        default: break
        }
        if let r = Discovery.resourceList(world, path: p) { return Self.json(200, r) }
        if let g = Discovery.group(world, path: p) { return Self.json(200, g) }
        if p.hasPrefix("/openapi") { return HTTPResponse(status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found\n".utf8)) }
        if p.contains("/services/"), p.contains("/proxy") { return serviceProxy(method: method, path: t.path, headers: headers) }
        if p == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", method == "POST" { return accessReview(body) }
        do {
            guard let r = try parseResourcePath(p) else {
                return HTTPResponse(status: 404, headers: ["content-type": "text/plain"], body: Array("404 page not found\n".utf8))
            }
            let dryRun = t.query["dryRun"] != nil
            let by = headers["user-agent"].map { String($0.prefix(40)) } ?? "http"
            switch (method, r.name) {
            case ("GET", nil):
                let list = try world.listObject(r.type.ref, namespace: r.namespace, labelSelector: t.query["labelSelector"],
                                                fieldSelector: t.query["fieldSelector"])
                if (headers["accept"] ?? "").contains("as=Table") { return Self.json(200, Tables.table(list, type: r.type)) }
                return Self.json(200, list)
            case ("GET", let name?):
                guard let o = world.get(r.type.ref, namespace: r.namespace, name: name) else { throw SimAPIError.notFound(r.type.qualifiedName, name) }
                if (headers["accept"] ?? "").contains("as=Table") {
                    return Self.json(200, Tables.table(["items": [o], "metadata": ["resourceVersion": .string(String(world.resourceVersion))]], type: r.type))
                }
                return Self.json(200, o)
            case ("POST", nil):
                let obj = try parseBody(body, headers)
                let created = try world.create(obj, namespace: r.namespace, dryRun: dryRun, by: by)
                return Self.json(201, created)
            case ("PUT", let name?):
                let obj = try parseBody(body, headers)
                let o = try world.replace(obj, type: r.type, namespace: r.namespace, name: name, status: r.subresource == "status",
                                          dryRun: dryRun, by: by)
                return Self.json(200, o)
            case ("PATCH", let name?):
                let ct = headers["content-type"] ?? ""
                if ct.contains("apply-patch") {
                    var obj = try parseBody(body, headers)
                    if obj.name == nil { obj.set(["metadata", "name"], to: .string(name)) }
                    if let o = world.get(r.type.ref, namespace: r.namespace, name: name), obj.apiVersion == nil {
                        obj["apiVersion"] = o["apiVersion"]; obj["kind"] = o["kind"]
                    }
                    let (o, outcome) = try world.apply(obj, namespace: r.namespace, fieldManager: t.query["fieldManager"] ?? "unknown",
                                                       force: t.query["force"] == "true", dryRun: dryRun, by: by)
                    return Self.json(outcome == .created ? 201 : 200, o)
                }
                let patch = try parseBody(body, headers)
                let o = try world.patch(r.type, namespace: r.namespace, name: name, patch: patch,
                                        type: ct.contains("json-patch") ? "json" : "merge", subresource: r.subresource,
                                        dryRun: dryRun, by: by)
                return Self.json(200, o)
            case ("DELETE", let name?):
                let o = try world.delete(r.type, namespace: r.namespace, name: name, dryRun: dryRun, by: by)
                return Self.json(200, o)
            default:
                return Self.json(405, SimAPIError(code: 405, reason: "MethodNotAllowed",
                                                  message: "the server does not allow this method on the requested resource").status)
            }
        } catch let e as SimAPIError {
            return Self.error(e)
        } catch {
            return Self.json(400, SimAPIError.badRequest("\(error)").status)
        }
    }

    func parseBody(_ body: [UInt8], _ headers: [String: String]) throws -> JSON {
        if let j = try? JSON.parse(body) { return j }
        guard let doc = try SimJSON.documents(String(decoding: body, as: UTF8.self)).first else {
            throw SimAPIError.badRequest("the request body is empty or not an object")
        }
        return doc
    }

    func versionInfo() -> JSON {
        let v = world.k3sInstalled && !world.preexistingCluster && world.kindClusters.isEmpty
            ? world.scenario.cluster.k3sVersion : (world.scenario.cluster.flavor == "k3s" ? world.scenario.cluster.k3sVersion : world.scenario.cluster.kubernetesVersion)
        let parts = v.dropFirst().split(separator: ".")
        return ["major": .string(String(parts.first ?? "1")), "minor": .string(String(parts.dropFirst().first ?? "32")),
                "gitVersion": .string(v), "gitCommit": "32cc146f75aad04beaaa245a7157eb35063a9f99", "gitTreeState": "clean",
                "buildDate": "2025-02-12T21:17:39Z", "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"]
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
        if svc.hasPrefix("http:") || svc.hasPrefix("https:") { svc = String(svc.split(separator: ":", maxSplits: 1)[1]) }
        let svcName = String(svc.split(separator: ":").first ?? "")
        let rest = "/" + c[(si + 3)...].joined(separator: "/")
        world.tick()
        guard world.get(ResourceRef.services, namespace: ns, name: svcName) != nil else {
            return Self.error(SimAPIError.notFound("services", svcName))
        }
        let authApp = world.scenario.apps.first { $0.role == "authentik" }?.name ?? "auth"
        let app = world.get(ResourceRef.applications, namespace: "argocd", name: authApp)
        let serverReady = world.workloadReadyAtLocked(ObjectKey(ResourceRef.deployments, namespace: ns, name: svcName)).map { world.now >= $0 } ?? false
        guard serverReady, app?[path: "status", "health", "status"]?.string == "Healthy" || app == nil else {
            return Self.json(503, SimAPIError(code: 503, reason: "ServiceUnavailable",
                                              message: "no endpoints available for service \"\(svcName)\"").status)
        }
        guard svcName == "authentik-server", rest.hasPrefix("/api/v3/core/users/me") else {
            return HTTPResponse(status: 404, headers: ["content-type": "application/json"], body: Array(#"{"detail":"Not found."}"#.utf8))
        }
        let secret = world.get(ResourceRef.secrets, namespace: "auth-system", name: "authentik-secrets")
        let token = secret?[path: "data", "bootstrap-token"]?.string.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        let auth = headers["authorization"] ?? ""
        guard let token, !token.isEmpty, auth == "Bearer \(token)" else {
            return HTTPResponse(status: 403, headers: ["content-type": "application/json"],
                                body: Array(#"{"detail":"Token invalid/expired"}"#.utf8))
        }
        let user: JSON = ["user": ["pk": 1, "username": "akadmin", "name": "authentik Default Admin", "is_active": true,
                                   "is_superuser": true, "email": "root@localhost", "uid": .string(sha256Hex(Array("akadmin".utf8))),
                                   "groups": [["name": "authentik Admins", "pk": "c3a5b1f8-0b8a-4a39-9c3e-7f9d8d1e2a10"]]]]
        return Self.json(200, user)
    }

    // MARK: watch

    /// Streams watch events (newline-delimited JSON). Returns the HTTP status (200, or the
    /// error status with `onData` given the Status body). Ends at timeoutSeconds (scenario
    /// clock), when `onData` returns false, or on cancellation.
    public func watch(target: String, via: String, poll: Duration = .milliseconds(200),
                      onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        let t = Self.split(target)
        if !world.clusterUpLocked { record("GET", t, status: 0, fault: .down, body: [], via: via); throw TransportError.connectionRefused(target) }
        if let f = world.faults.decide(at: world.nowSeconds), f != .http503 {
            record("GET", t, status: 0, fault: f, body: [], via: via)
            throw f == .timeout ? TransportError.timedOut(target) : (f == .down ? TransportError.connectionRefused(target) : TransportError.connectionReset(target))
        }
        let buffer = EventBuffer()
        let route: Route
        let id: Int
        do {
            guard let r = try parseResourcePath(t.path), r.name == nil else { throw SimAPIError.badRequest("watch needs a collection path") }
            route = r
            id = try world.watch(r.type, namespace: r.namespace, labelSelector: t.query["labelSelector"], fieldSelector: t.query["fieldSelector"],
                                 resourceVersion: t.query["resourceVersion"]) { type, obj in
                buffer.push(Array((JSON.object(["type": .string(type), "object": obj]).serialized() + "\n").utf8))
            }
        } catch let e as SimAPIError {
            record("GET", t, status: e.code, fault: nil, body: [], via: via)
            if e.code == 410 {
                // The API server reports an expired version as a 200 stream with one ERROR event.
                _ = onData(Array((JSON.object(["type": "ERROR", "object": e.status]).serialized() + "\n").utf8))
                return 200
            }
            _ = onData(Array(e.status.serialized().utf8))
            return e.code
        }
        _ = route
        record("GET", t, status: 200, fault: nil, body: [], via: via)
        defer { world.unwatch(id) }
        let timeout = Double(t.query["timeoutSeconds"] ?? "") ?? 1800
        let end = world.now + .milliseconds(Int64(timeout * 1000))
        while world.now < end {
            try Task.checkCancellation()
            world.tick()
            for chunk in buffer.drain() where !onData(chunk) { return 200 }
            if !world.clusterUpLocked || world.faults.isDown(at: world.nowSeconds) { break }
            try await world.clock.sleep(for: poll)
        }
        for chunk in buffer.drain() where !onData(chunk) { return 200 }
        return 200
    }

    // MARK: control endpoints

    func control(method: String, _ t: Target, body: [UInt8]) async -> HTTPResponse {
        switch (method, t.path) {
        case ("GET", "/_sim/record"): return Self.json(200, world.record.json)
        case ("POST", "/_sim/record/reset"): world.record.reset(); return Self.json(200, ["ok": true])
        case ("GET", "/_sim/world"): return Self.json(200, ["time": .double(world.nowSeconds), "objects": .array(world.allObjects())])
        case ("GET", "/_sim/convergence"):
            // Scenario time now and of the platform's final transition (null until it happened).
            world.tick()
            let (now, at) = world.convergenceLocked
            return Self.json(200, ["time": .double(now.seconds), "convergedAt": at.map { .double($0.seconds) } ?? .null])
        case ("GET", "/_sim/health"): return Self.json(200, ["ok": true, "scenario": .string(world.scenario.name), "time": .double(world.nowSeconds)])
        case ("GET", "/_sim/k3s-install.sh"):
            return HTTPResponse(status: 200, headers: ["content-type": "text/x-shellscript"], body: Array(K3sInstaller.script.utf8))
        case ("POST", "/_sim/faults"):
            guard let j = try? JSON.parse(body) else { return Self.json(400, ["error": "body must be JSON"]) }
            world.faults.configure { f in
                if let r = j["errorRate"]?.double { f.errorRate = r }
                if let k = j["kinds"]?.array { f.kinds = k.compactMap(\.string) }
                if let l = j["latencyMs"]?.double { f.latencyMs = l }
                if let s = j["seed"]?.int { f.seed = UInt64(s) }
                if let s = j["timeoutSeconds"]?.double { f.timeoutSeconds = s }
            }
            if let d = j["downForSeconds"]?.double { world.faults.down(from: world.nowSeconds, to: world.nowSeconds + d) }
            return Self.json(200, ["ok": true])
        case ("POST", "/_sim/kill-at-request"):
            guard let j = try? JSON.parse(body), let text = j["pathContains"]?.string, !text.isEmpty,
                  let pid = j["pid"]?.int, pid > 1 else { return Self.json(400, ["error": "needs {pathContains, pid[, nth]}"]) }
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
    func push(_ c: [UInt8]) { lock.lock(); chunks.append(c); lock.unlock() }
    func drain() -> [[UInt8]] { lock.lock(); defer { lock.unlock() }; let c = chunks; chunks = []; return c }
}

extension SimWorld {
    var clusterUpLocked: Bool { lock.lock(); defer { lock.unlock() }; return clusterUp }
    var convergenceLocked: (now: Duration, at: Duration?) { lock.lock(); defer { lock.unlock() }; return (now, platformConvergedAt) }
    func workloadReadyAtLocked(_ k: ObjectKey) -> Duration? { lock.lock(); defer { lock.unlock() }; return workloadReadyAt[k] }
}

/// Discovery documents (legacy, non-aggregated: kubectl falls back to these).
enum Discovery {
    static func resources(_ world: SimWorld, group: String, version: String) -> [SimType] {
        world.allTypes().filter { $0.ref.group == group && $0.versions.contains(version) }
    }

    static func groupList(_ world: SimWorld) -> JSON {
        var groups: [String: [String]] = [:]
        var order: [String] = []
        for t in world.allTypes() where !t.ref.group.isEmpty {
            if groups[t.ref.group] == nil { order.append(t.ref.group) }
            for v in t.versions where !(groups[t.ref.group]?.contains(v) ?? false) { groups[t.ref.group, default: []].append(v) }
        }
        return ["kind": "APIGroupList", "apiVersion": "v1",
                "groups": .array(order.map { g in groupJSON(world, g, groups[g]!) })]
    }

    static func groupJSON(_ world: SimWorld, _ g: String, _ versions: [String]) -> JSON {
        let preferred = world.allTypes().first { $0.ref.group == g }?.ref.version ?? versions[0]
        return ["name": .string(g),
                "versions": .array(versions.map { ["groupVersion": .string("\(g)/\($0)"), "version": .string($0)] }),
                "preferredVersion": ["groupVersion": .string("\(g)/\(preferred)"), "version": .string(preferred)]]
    }

    static func group(_ world: SimWorld, path: String) -> JSON? {
        let c = path.split(separator: "/").map(String.init)
        guard c.count == 2, c[0] == "apis" else { return nil }
        let versions = Array(Set(world.allTypes().filter { $0.ref.group == c[1] }.flatMap(\.versions))).sorted()
        guard !versions.isEmpty else { return nil }
        var g = groupJSON(world, c[1], versions)
        g["kind"] = "APIGroup"
        g["apiVersion"] = "v1"
        return g
    }

    static func resourceList(_ world: SimWorld, path: String) -> JSON? {
        let c = path.split(separator: "/").map(String.init)
        let group: String, version: String
        if c.count == 2, c[0] == "api" { group = ""; version = c[1] }
        else if c.count == 3, c[0] == "apis" { group = c[1]; version = c[2] }
        else { return nil }
        let types = resources(world, group: group, version: version)
        guard !types.isEmpty else { return nil }
        var list: [JSON] = []
        for t in types {
            let verbs: [JSON] = t.ref.resource == "selfsubjectaccessreviews" ? ["create"]
                : ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            var r: JSON = ["name": .string(t.ref.resource), "singularName": .string(t.singular), "namespaced": .bool(t.ref.namespaced),
                           "kind": .string(t.ref.kind), "verbs": .array(verbs)]
            if !t.shortNames.isEmpty { r["shortNames"] = .array(t.shortNames.map { .string($0) }) }
            if !t.categories.isEmpty { r["categories"] = .array(t.categories.map { .string($0) }) }
            list.append(r)
            if ["deployments", "statefulsets", "daemonsets", "pods", "applications", "customresourcedefinitions", "namespaces", "nodes"].contains(t.ref.resource) {
                list.append(["name": .string("\(t.ref.resource)/status"), "singularName": "", "namespaced": .bool(t.ref.namespaced),
                             "kind": .string(t.ref.kind), "verbs": ["get", "patch", "update"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                "resources": .array(list)]
    }
}

/// `meta.k8s.io/v1` Table responses (what kubectl's default output asks for) and the same
/// columns for the kubectl emulator's table output.
enum Tables {
    static func columns(_ t: SimType) -> [String] {
        switch t.ref.resource {
        case "pods": return ["Name", "Ready", "Status", "Restarts", "Age"]
        case "deployments": return ["Name", "Ready", "Up-to-date", "Available", "Age"]
        case "statefulsets": return ["Name", "Ready", "Age"]
        case "applications": return ["Name", "Sync Status", "Health Status"]
        case "namespaces": return ["Name", "Status", "Age"]
        case "nodes": return ["Name", "Status", "Roles", "Age", "Version"]
        default: return ["Name", "Age"]
        }
    }

    static func age(_ o: JSON, now: Date) -> String {
        guard let c = o[path: "metadata", "creationTimestamp"]?.string, let d = parseRFC3339(c) else { return "<unknown>" }
        let s = max(0, Int(now.timeIntervalSince(d)))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h"
    }

    static func cells(_ o: JSON, _ t: SimType, now: Date) -> [String] {
        let name = o.name ?? ""
        switch t.ref.resource {
        case "pods":
            let cs = o[path: "status", "containerStatuses"]?.array ?? []
            let ready = cs.filter { $0["ready"]?.bool == true }.count
            let waiting = cs.compactMap { $0[path: "state", "waiting", "reason"]?.string }.first
            let restarts = cs.compactMap { $0["restartCount"]?.int }.reduce(0, +)
            return [name, "\(ready)/\(max(cs.count, 1))", waiting ?? (o[path: "status", "phase"]?.string ?? "Unknown"), String(restarts), age(o, now: now)]
        case "deployments":
            let want = o[path: "spec", "replicas"]?.int ?? 1
            let ready = o[path: "status", "readyReplicas"]?.int ?? 0
            return [name, "\(ready)/\(want)", String(o[path: "status", "updatedReplicas"]?.int ?? 0),
                    String(o[path: "status", "availableReplicas"]?.int ?? 0), age(o, now: now)]
        case "statefulsets":
            return [name, "\(o[path: "status", "readyReplicas"]?.int ?? 0)/\(o[path: "spec", "replicas"]?.int ?? 1)", age(o, now: now)]
        case "applications":
            return [name, o[path: "status", "sync", "status"]?.string ?? "", o[path: "status", "health", "status"]?.string ?? ""]
        case "namespaces":
            return [name, o[path: "status", "phase"]?.string ?? "Active", age(o, now: now)]
        case "nodes":
            let ready = (o[path: "status", "conditions"]?.array ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
            return [name, ready ? "Ready" : "NotReady", o.labels["node-role.kubernetes.io/control-plane"] != nil ? "control-plane" : "<none>",
                    age(o, now: now), o[path: "status", "nodeInfo", "kubeletVersion"]?.string ?? ""]
        default:
            return [name, age(o, now: now)]
        }
    }

    static func table(_ list: JSON, type t: SimType) -> JSON {
        let now = Date()
        let cols = columns(t)
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": ["resourceVersion": list[path: "metadata", "resourceVersion"] ?? "0"],
                "columnDefinitions": .array(cols.map { c in
                    ["name": .string(c), "type": "string", "format": c == "Name" ? "name" : "", "description": .string(c), "priority": 0] }),
                "rows": .array(list.items.map { o in
                    var meta = o["metadata"] ?? [:]
                    meta["managedFields"] = nil
                    return ["cells": .array(cells(o, t, now: now).map { .string($0) }),
                            "object": ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta]]
                })]
    }
}
