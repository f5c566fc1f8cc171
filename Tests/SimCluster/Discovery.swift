import AphexCore
import KubeClient
import COpenSSL
import Foundation

/// API discovery as a real kube-apiserver v1.36 serves it (../shared/realapi/discovery):
/// aggregated discovery (`apidiscovery.k8s.io/v2`, what kubectl ≥ 1.30 asks for first) and the
/// legacy documents (`/api`, `/apis`, `/apis/G`, `/apis/G/V`, `/api/v1`), from the type table:
/// the recorded built-in resources plus the established CRDs. Bodies keep Go's field order, so
/// with the same types they are the recorded bytes.
enum Discovery {
    static let aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

    /// The answer for a discovery path (`/api`, `/api/V`, `/apis`, `/apis/G`, `/apis/G/V`), nil
    /// for any other path.
    static func respond(_ world: SimWorld, path: String, headers: [String: String]) -> HTTPResponse? {
        let c = path.split(separator: "/").map(String.init)
        guard (c.first == "api" && c.count <= 2) || (c.first == "apis" && c.count <= 3) else { return nil }
        world.tick()
        let accept = headers["accept"]
        switch negotiate(accept, aggregated: c.count == 1) {
        case .notAcceptable:
            let status: OrderedJSON = [
                "kind": "Status", "apiVersion": "v1", "metadata": .object([]), "status": "Failure",
                "message":
                    """
                only the following media types are accepted: application/json, application/yaml, \
                application/vnd.kubernetes.protobuf
                """,
                "reason": "NotAcceptable", "code": .value(406)
            ]
            return legacy(406, status)
        case .aggregated:
            let body = GoJSON.bytes(aggregated(world, core: c[0] == "api"))
            let etag = "\"" + sha512HexUpper(body) + "\""
            // (X-Varied-Accept, seen in kubectl's -v=9 logs, is added by kubectl's HTTP cache, not
            // the server: the direct recordings have none.) A 304 carries no Content-Type.
            var h = ["cache-control": "public", "etag": etag, "vary": "Accept"]
            let match = (headers["if-none-match"] ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            if match.contains(etag) || match.contains("*") { return HTTPResponse(status: 304, headers: h) }
            h["content-type"] = aggregatedMediaType
            return HTTPResponse(status: 200, headers: h, body: body)
        case .legacy:
            break
        }
        let groups = servedGroups(world)
        switch c.count {
        case 1 where c[0] == "api":
            return legacy(
                200,
                [
                    "kind": "APIVersions", "versions": .value(["v1"]),
                    "serverAddressByClientCIDRs": .array([
                        ["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"]
                    ])
                ])
        case 1:
            return legacy(
                200,
                [
                    "kind": "APIGroupList", "apiVersion": "v1",
                    "groups": .array(groups.filter { !$0.name.isEmpty }.map { groupJSON($0) })
                ])
        case 2 where c[0] == "api":
            guard c[1] == "v1" else { return notFound }
            return legacy(200, resourceList(world, group: "", version: "v1"))
        case 2:
            guard let g = groups.first(where: { $0.name == c[1] && !$0.name.isEmpty }) else { return notFound }
            var entries: [(String, OrderedJSON)] = [("kind", "APIGroup"), ("apiVersion", "v1")]
            if case .object(let rest) = groupJSON(g) { entries += rest }
            return legacy(200, .object(entries))
        default:
            guard groups.contains(where: { $0.name == c[1] && !$0.name.isEmpty && $0.versions.contains(c[2]) }) else {
                return notFound
            }
            return legacy(200, resourceList(world, group: c[1], version: c[2]))
        }
    }

    /// `GET /version`: the simulator's own version (v1.32.2 for kind scenarios: the gcloud
    /// kubectl dispatcher picks its kubectl from it) in the 1.36 server's field order, with the
    /// emulation and compatibility versions a 1.36 server adds.
    static func version(_ info: JSON) -> HTTPResponse {
        let major = info["major"]?.string ?? "1", minor = info["minor"]?.string ?? "32"
        let s = { (k: String) in OrderedJSON.value(info[k] ?? "") }
        return legacy(
            200,
            [
                "major": .value(.string(major)), "minor": .value(.string(minor)),
                "emulationMajor": .value(.string(major)), "emulationMinor": .value(.string(minor)),
                "minCompatibilityMajor": .value(.string(major)),
                "minCompatibilityMinor": .value(.string(Int(minor).map { String($0 - 1) } ?? minor)),
                "gitVersion": s("gitVersion"), "gitCommit": s("gitCommit"), "gitTreeState": s("gitTreeState"),
                "buildDate": s("buildDate"), "goVersion": s("goVersion"), "compiler": s("compiler"),
                "platform": s("platform")
            ])
    }

    /// What the API server answers for a group or version it does not serve (a CRD not yet
    /// installed): the mux's plain-text 404, not a Status.
    static var notFound: HTTPResponse {
        HTTPResponse(
            status: 404,
            headers: [
                "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff",
                "cache-control": "no-cache, private"
            ], body: Array("404 page not found\n".utf8))
    }

    static func legacy(_ status: Int, _ body: OrderedJSON) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["content-type": "application/json", "cache-control": "no-cache, private"],
            body: GoJSON.bytes(body))
    }

    // MARK: content negotiation

    enum Negotiated { case aggregated, legacy, notAcceptable }

    /// The first Accept clause the server can serve wins: the aggregated v2 list (only on /api
    /// and /apis), or a plain type for the legacy documents. A clause with other `g`/`v`/`as`
    /// parameters (v2beta1, which 1.36 no longer serves) is skipped; nothing left is 406. No
    /// Accept at all is legacy JSON.
    static func negotiate(_ accept: String?, aggregated: Bool) -> Negotiated {
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .legacy }
        for clause in accept.split(separator: ",") {
            let parts = clause.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = parts.first?.lowercased() else { continue }
            var params: [String: String] = [:]
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2, kv[0] != "q" { params[kv[0]] = kv[1] }
            }
            if params.isEmpty {
                if [
                    "application/json", "application/*", "*/*", "application/yaml",
                    "application/vnd.kubernetes.protobuf"
                ].contains(type) {
                    return .legacy
                }
                continue
            }
            if aggregated, type == "application/json",
                params == ["g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"]
            {
                return .aggregated
            }
        }
        return .notAcceptable
    }

    // MARK: the served groups

    struct Group {
        var name: String
        var versions: [String]
        var crd: Bool
    }

    /// Served groups in the order discovery lists them: the core group, the built-in groups in
    /// the recorded (priority) order, then the CRD groups by name (their APIServices all have
    /// the minimum priority, 1000), each CRD group's versions in Kubernetes version order.
    static func servedGroups(_ world: SimWorld) -> [Group] {
        let types = world.allTypes()
        var builtin: [Group] = []
        for g in BuiltinTypes.groups {
            let versions = g.versions.filter { v in
                types.contains { $0.crdName == nil && $0.ref.group == g.name && $0.versions.contains(v) }
            }
            if !versions.isEmpty { builtin.append(Group(name: g.name, versions: versions, crd: false)) }
        }
        var crdVersions: [String: Set<String>] = [:]
        for t in types where t.crdName != nil && !builtin.contains(where: { $0.name == t.ref.group }) {
            crdVersions[t.ref.group, default: []].formUnion(t.versions)
        }
        return builtin
            + crdVersions.keys.sorted().map { Group(name: $0, versions: sortedVersions(crdVersions[$0]!), crd: true) }
    }

    static func types(_ world: SimWorld, group: String, version: String) -> [SimType] {
        world.allTypes().filter { $0.ref.group == group && $0.versions.contains(version) }.sorted {
            $0.ref.resource < $1.ref.resource
        }
    }

    static func groupJSON(_ g: Group) -> OrderedJSON {
        let gv = { (v: String) -> OrderedJSON in
            ["groupVersion": .value(.string("\(g.name)/\(v)")), "version": .value(.string(v))]
        }
        return [
            "name": .value(.string(g.name)), "versions": .array(g.versions.map(gv)),
            "preferredVersion": gv(g.versions[0])
        ]
    }

    // MARK: documents

    /// The APIGroupDiscoveryList of /api (core) or /apis.
    static func aggregated(_ world: SimWorld, core: Bool) -> OrderedJSON {
        let groups = servedGroups(world).filter { $0.name.isEmpty == core }
        let items: [OrderedJSON] = groups.map { g in
            let versions: [OrderedJSON] = g.versions.map { v in
                [
                    "version": .value(.string(v)),
                    "resources": .array(
                        types(world, group: g.name, version: v).map { aggregatedResource(world, $0, version: v) }),
                    "freshness": "Current"
                ]
            }
            return ["metadata": core ? .object([]) : ["name": .value(.string(g.name))], "versions": .array(versions)]
        }
        return [
            "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": .object([]),
            "items": .array(items)
        ]
    }

    static func aggregatedResource(_ world: SimWorld, _ t: SimType, version: String) -> OrderedJSON {
        // Built-in response kinds leave group and version empty when they are the resource's
        // own; the apiextensions server always writes them.
        let own = t.crdName == nil ? ("", "") : (t.ref.group, version)
        func kind(_ g: String, _ v: String, _ k: String) -> OrderedJSON {
            ["group": .value(.string(g)), "version": .value(.string(v)), "kind": .value(.string(k))]
        }
        let subs = subresources(world, t, version: version).map { s -> OrderedJSON in
            let gv = s.group.isEmpty && s.version.isEmpty ? own : (s.group, s.version)
            return [
                "subresource": .value(.string(s.name)), "responseKind": kind(gv.0, gv.1, s.kind),
                "verbs": strings(s.verbs)
            ]
        }
        return [
            "resource": .value(.string(t.ref.resource)), "responseKind": kind(own.0, own.1, t.ref.kind),
            "scope": t.ref.namespaced ? "Namespaced" : "Cluster", "singularResource": .value(.string(t.singular)),
            "verbs": strings(t.verbs), "shortNames": t.shortNames.isEmpty ? .absent : strings(t.shortNames),
            "categories": t.categories.isEmpty ? .absent : strings(t.categories),
            "subresources": subs.isEmpty ? .absent : .array(subs)
        ]
    }

    /// The APIResourceList of a group/version: resources and their subresources by name.
    static func resourceList(_ world: SimWorld, group: String, version: String) -> OrderedJSON {
        var entries: [(name: String, json: OrderedJSON)] = []
        for t in types(world, group: group, version: version) {
            let ns: OrderedJSON = .value(.bool(t.ref.namespaced))
            let hash =
                t.crdName != nil || t.verbs.contains("watch")
                ? OrderedJSON.value(
                    .string(storageVersionHash(group: t.ref.group, version: t.ref.version, kind: t.ref.kind))) : .absent
            entries.append(
                (
                    t.ref.resource,
                    [
                        "name": .value(.string(t.ref.resource)), "singularName": .value(.string(t.singular)),
                        "namespaced": ns, "kind": .value(.string(t.ref.kind)), "verbs": strings(t.verbs),
                        "shortNames": t.shortNames.isEmpty ? .absent : strings(t.shortNames),
                        "categories": t.categories.isEmpty ? .absent : strings(t.categories),
                        "storageVersionHash": hash
                    ]
                ))
            for s in subresources(world, t, version: version) {
                let name = "\(t.ref.resource)/\(s.name)"
                entries.append(
                    (
                        name,
                        [
                            "name": .value(.string(name)), "singularName": "", "namespaced": ns,
                            "group": s.group.isEmpty ? .absent : .value(.string(s.group)),
                            "version": s.version.isEmpty ? .absent : .value(.string(s.version)),
                            "kind": .value(.string(s.kind)), "verbs": strings(s.verbs)
                        ]
                    ))
            }
        }
        // The core list has no apiVersion (as recorded).
        return [
            "kind": "APIResourceList", "apiVersion": group.isEmpty ? .absent : "v1",
            "groupVersion": .value(.string(group.isEmpty ? version : "\(group)/\(version)")),
            "resources": .array(entries.sorted { $0.name < $1.name }.map(\.json))
        ]
    }

    static func strings(_ s: [String]) -> OrderedJSON { .value(.array(s.map { .string($0) })) }

    // MARK: CRDs

    /// A type's subresources in one version: a CRD declares them per version.
    static func subresources(_ world: SimWorld, _ t: SimType, version: String) -> [SimSubresource] {
        guard let name = t.crdName, version != t.ref.version, let crd = crd(world, name) else { return t.subresources }
        return crdSubresources(crd, version: version)
    }

    /// The CRD object named `name`.
    static func crd(_ world: SimWorld, _ name: String) -> JSON? {
        world.lock.lock()
        defer { world.lock.unlock() }
        return world.objects[
            ObjectKey(group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: name)]
    }

    /// The subresources a CRD version declares (`scale`, `status`), as discovery lists them.
    static func crdSubresources(_ crd: JSON, version: String) -> [SimSubresource] {
        let kind = crd[path: "spec", "names", "kind"]?.string ?? ""
        let v = (crd[path: "spec", "versions"]?.array ?? []).first { $0["name"]?.string == version }
        var out: [SimSubresource] = []
        if v?[path: "subresources", "scale"] != nil {
            out.append(
                SimSubresource(
                    name: "scale", kind: "Scale", group: "autoscaling", version: "v1", verbs: ["get", "patch", "update"]
                ))
        }
        if v?[path: "subresources", "status"] != nil {
            out.append(SimSubresource(name: "status", kind: kind, verbs: ["get", "patch", "update"]))
        }
        return out
    }

    /// Kubernetes version order (v1 > v1beta2 > v1beta1 > v1alpha1 > other, by name): the
    /// first is a CRD group's preferred version.
    static func sortedVersions<S: Sequence>(_ versions: S) -> [String] where S.Element == String {
        func key(_ v: String) -> (Int, Int, Int)? {
            let s = Array(v.utf8)
            guard s.first == UInt8(ascii: "v") else { return nil }
            var i = 1, major = 0
            while i < s.count, s[i] >= 48, s[i] <= 57 {
                major = major * 10 + Int(s[i] - 48)
                i += 1
            }
            guard i > 1 else { return nil }
            if i == s.count { return (2, major, 0) }
            let rest = String(decoding: s[i...], as: UTF8.self)
            for (word, rank) in [("alpha", 0), ("beta", 1)] where rest.hasPrefix(word) {
                let n = rest.dropFirst(word.count)
                if let minor = Int(n), !n.isEmpty, n.allSatisfy(\.isNumber) { return (rank, major, minor) }
            }
            return nil
        }
        return versions.sorted { a, b in
            switch (key(a), key(b)) {
            case let (x?, y?): return x.0 != y.0 ? x.0 > y.0 : (x.1 != y.1 ? x.1 > y.1 : x.2 > y.2)
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a < b
            }
        }
    }

    /// `storageVersionHash` of legacy discovery: base64 of the first 8 bytes of
    /// SHA-256("group/version/kind") of the storage version.
    static func storageVersionHash(group: String, version: String, kind: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array("\(group)/\(version)/\(kind)".utf8)
        input.withUnsafeBufferPointer { b in _ = SHA256(b.baseAddress, b.count, &digest) }
        return Data(digest.prefix(8)).base64EncodedString()
    }
}

// MARK: - JSON bytes as Go writes them

/// A JSON value whose object keys keep the order they were written in: Go's encoder writes a
/// struct's fields in declaration order, and discovery bodies are compared with the
/// recordings byte for byte. `.absent` members (omitempty) are left out.
indirect enum OrderedJSON: ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    case value(JSON)
    case object([(String, OrderedJSON)])
    case array([OrderedJSON])
    case absent

    init(stringLiteral s: String) { self = .value(.string(s)) }
    init(arrayLiteral elements: OrderedJSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, OrderedJSON)...) { self = .object(elements) }
}

/// Go's `encoding/json` output: compact, `<`, `>`, `&`, U+2028 and U+2029 escaped, everything
/// else non-ASCII as UTF-8. The real API server's hashes (OpenAPI `?hash=`) are of these bytes.
enum GoJSON {
    static func bytes(_ o: OrderedJSON) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(o, into: &out)
        return out
    }

    /// A JSON value with its object keys sorted (how Go writes a map).
    static func bytes(_ j: JSON) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(j, into: &out)
        return out
    }

    static func write(_ o: OrderedJSON, into out: inout [UInt8]) {
        switch o {
        case .value(let j): write(j, into: &out)
        case .absent: out += "null".utf8
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (k, v) in members {
                if case .absent = v { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                escape(k, into: &out)
                out.append(UInt8(ascii: ":"))
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func write(_ j: JSON, into out: inout [UInt8]) {
        switch j {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .int(let i): out += String(i).utf8
        case .double(let d):
            out += (d.isFinite ? (d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)) : "null").utf8
        case .string(let s): escape(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                escape(k, into: &out)
                out.append(UInt8(ascii: ":"))
                write(o[k]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func escape(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var copy = s
        copy.withUTF8 { u in
            var i = 0
            while i < u.count {
                let c = u[i]
                if c == 0xE2, i + 2 < u.count, u[i + 1] == 0x80, u[i + 2] == 0xA8 || u[i + 2] == 0xA9 {
                    out += "\\u202".utf8
                    out.append(u[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                    i += 3
                    continue
                }
                if c < 0x80 { escapeASCII(c, into: &out) } else { out.append(c) }
                i += 1
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    static func escapeASCII(_ c: UInt8, into out: inout [UInt8]) {
        switch c {
        case UInt8(ascii: "\""): out += [92, 34]
        case UInt8(ascii: "\\"): out += [92, 92]
        case 0x08: out += [92, UInt8(ascii: "b")]
        case 0x0C: out += [92, UInt8(ascii: "f")]
        case 0x0A: out += [92, UInt8(ascii: "n")]
        case 0x0D: out += [92, UInt8(ascii: "r")]
        case 0x09: out += [92, UInt8(ascii: "t")]
        case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"), 0..<0x20:
            out += [92, UInt8(ascii: "u"), 48, 48, hex[Int(c >> 4)], hex[Int(c & 0xF)]]
        default: out.append(c)
        }
    }

    /// Re-encodes JSON text (a recording, pretty-printed by another encoder) compactly and as
    /// Go escapes it, keeping the key order: the bytes the real server sent.
    static func reencode(_ b: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        let n = b.count
        func hexValue(_ at: Int) throws -> UInt32 {
            guard at + 4 <= n else { throw SimError("truncated \\u escape") }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                let c = b[k]
                let d: UInt8
                switch c {
                case 48...57: d = c - 48
                case 65...70: d = c - 55
                case 97...102: d = c - 87
                default: throw SimError("bad \\u escape")
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < n {
            let c = b[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                i += 1
                continue
            }
            guard c == UInt8(ascii: "\"") else {
                out.append(c)
                i += 1
                continue
            }
            out.append(c)
            i += 1
            while true {
                guard i < n else { throw SimError("unterminated string") }
                let s = b[i]
                if s == UInt8(ascii: "\"") {
                    out.append(s)
                    i += 1
                    break
                }
                if s == 0xE2, i + 2 < n, b[i + 1] == 0x80, b[i + 2] == 0xA8 || b[i + 2] == 0xA9 {
                    out += "\\u202".utf8
                    out.append(b[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                    i += 3
                    continue
                }
                if s != UInt8(ascii: "\\") {
                    if s < 0x80 { escapeASCII(s, into: &out) } else { out.append(s) }
                    i += 1
                    continue
                }
                guard i + 1 < n else { throw SimError("truncated escape") }
                let e = b[i + 1]
                i += 2
                var scalar: UInt32
                switch e {
                case UInt8(ascii: "b"): scalar = 8
                case UInt8(ascii: "f"): scalar = 12
                case UInt8(ascii: "n"): scalar = 10
                case UInt8(ascii: "r"): scalar = 13
                case UInt8(ascii: "t"): scalar = 9
                case UInt8(ascii: "u"):
                    scalar = try hexValue(i)
                    i += 4
                    if scalar >= 0xD800, scalar < 0xDC00, i + 6 <= n, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                        let low = try hexValue(i + 2)
                        if low >= 0xDC00, low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        }
                    }
                default: scalar = UInt32(e)  // \" \\ \/
                }
                if scalar < 0x80 {
                    escapeASCII(UInt8(scalar), into: &out)
                    continue
                }
                if scalar == 0x2028 || scalar == 0x2029 {
                    out += "\\u\(String(scalar, radix: 16))".utf8
                    continue
                }
                out += Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            }
        }
        return out
    }

    /// The byte range of the value at `keys` (object members, outermost first) in compact JSON.
    static func span(of keys: [String], in b: [UInt8]) -> Range<Int>? {
        var pos = 0
        for key in keys {
            guard pos < b.count, b[pos] == UInt8(ascii: "{") else { return nil }
            pos += 1
            let want = Array("\"\(key)\"".utf8)
            var found = false
            while pos < b.count, b[pos] != UInt8(ascii: "}") {
                let keyEnd = skip(b, pos)
                let isKey = keyEnd - pos == want.count && b[pos..<keyEnd].elementsEqual(want)
                pos = keyEnd + 1  // ':'
                if isKey {
                    found = true
                    break
                }
                pos = skip(b, pos)
                if pos < b.count, b[pos] == UInt8(ascii: ",") { pos += 1 }
            }
            guard found else { return nil }
        }
        return pos..<skip(b, pos)
    }

    /// The index just past the compact JSON value starting at `start`.
    static func skip(_ b: [UInt8], _ start: Int) -> Int {
        var i = start, depth = 0
        repeat {
            guard i < b.count else { return i }
            switch b[i] {
            case UInt8(ascii: "\""):
                i += 1
                while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
            default:
                if depth == 0 {
                    while i < b.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(b[i]) {
                        i += 1
                    }
                    return i
                }
                i += 1
            }
        } while depth > 0
        return i
    }
}
