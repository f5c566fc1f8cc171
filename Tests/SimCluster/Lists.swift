import AphexCore
import KubeClient
import Foundation

/// LIST responses as the API server builds them (../shared/realapi/list-watch, errors/410-*):
/// paging with `limit` and opaque `continue` tokens, `resourceVersionMatch=Exact`, and the
/// `as=Table` / `as=PartialObjectMetadataList` forms kubectl asks for.
enum SimLists {
    /// The continue token: base64url (no padding) of `{"v":"meta.k8s.io/v1","rv":RV,"start":"KEY\u0000"}`,
    /// KEY being the last returned object's key relative to the list's prefix (`name`, or
    /// `namespace/name` for a list across namespaces).
    static func continueToken(rv: Int64, start: String) -> String {
        let json = #"{"v":"meta.k8s.io/v1","rv":\#(rv),"start":"# + JSON.string(start + "\u{0}").serialized() + "}"
        return Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Decodes a continue token, failing with the API server's message.
    static func decodeContinue(_ token: String) throws -> (rv: Int64, start: String) {
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else {
            throw SimAPIError.badRequest(
                "invalid continue token: illegal base64 data at input byte \(firstBadBase64Byte(token))")
        }
        let bytes = [UInt8](data)
        guard let j = try? JSON.parse(bytes) else {
            let c = bytes.first(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }) ?? 0
            throw SimAPIError.badRequest(
                """
                invalid continue token: continue key is not valid: invalid character \(goQuoteChar(c)) looking \
                for beginning of value
                """
            )
        }
        guard j["v"]?.string == "meta.k8s.io/v1", let rv = j["rv"]?.int, let start = j["start"]?.string else {
            throw SimAPIError.badRequest(
                """
                invalid continue token: continue key is not valid: incorrect encoded start resourceVersion \
                (version meta.k8s.io/v1)
                """
            )
        }
        return (rv, start.hasSuffix("\u{0}") ? String(start.dropLast()) : start)
    }

    static func firstBadBase64Byte(_ s: String) -> Int {
        let ok = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        return s.utf8.firstIndex { !ok.contains($0) }.map { s.utf8.distance(from: s.utf8.startIndex, to: $0) }
            ?? s.utf8.count
    }

    /// Go's `%q` of a byte read as a rune (`'x'`, `'\u0081'`).
    static func goQuoteChar(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7f && c != 0x27 && c != 0x5c { return "'\(Character(UnicodeScalar(c)))'" }
        return String(format: "'\\u%04x'", c)
    }

    static let expiredContinueMessage =
        """
        The provided continue parameter is too old to display a consistent list result. You can start a new list \
        without the continue parameter, or use the continue token in this response to retrieve the remainder of \
        the results. Continuing with the provided token results in an inconsistent list - objects that were \
        created, modified, or deleted between the time the first chunk was returned and now may show up in the list.
        """

    /// The LIST body for `type` (namespace nil: all), honouring limit/continue/resourceVersionMatch
    /// and the Accept header's `as=` form.
    static func respond(
        _ world: SimWorld, type t: SimType, namespace: String?, query: [String: String],
        accept: String
    ) throws -> HTTPResponse {
        var items = try world.list(
            t.ref, namespace: namespace, labelSelector: query["labelSelector"], fieldSelector: query["fieldSelector"])
        let (currentRV, compactedRV) = world.listVersions
        if query["resourceVersionMatch"] == "Exact", let rv = Int64(query["resourceVersion"] ?? ""), rv < compactedRV {
            throw SimAPIError(
                code: 410, reason: "Expired", message: "The resourceVersion for the provided list is too old.")
        }
        var listRV = currentRV
        let acrossNamespaces = t.ref.namespaced && namespace == nil
        func key(_ o: JSON) -> String { acrossNamespaces ? "\(o.namespace ?? "")/\(o.name ?? "")" : (o.name ?? "") }
        if let token = query["continue"], !token.isEmpty {
            let (rv, start) = try decodeContinue(token)
            if rv < compactedRV {
                var e = SimAPIError(code: 410, reason: "Expired", message: expiredContinueMessage)
                e.statusMetadata = ["continue": .string(continueToken(rv: -1, start: start))]
                throw e
            }
            listRV = rv
            items = items.filter { key($0) > start }
        }
        var meta: JSON = ["resourceVersion": .string(String(listRV))]
        if let limit = Int(query["limit"] ?? ""), limit > 0, items.count > limit {
            let remaining = items.count - limit
            items = Array(items.prefix(limit))
            meta["continue"] = .string(continueToken(rv: listRV, start: key(items.last!)))
            meta["remainingItemCount"] = .int(Int64(remaining))
        }
        let builtin = t.crdName == nil
        if accept.contains("as=Table") {
            return SimAPI.json(
                200, Tables.table(["items": .array(items), "metadata": meta], type: t, crd: world.crd(for: t)))
        }
        if accept.contains("as=PartialObjectMetadataList") {
            let list: JSON = [
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "items": .array(items.map(partialMetadata))
            ]
            return HTTPResponse(status: 200, headers: jsonHeaders, body: SimWire.list(list, builtin: true) + [10])
        }
        if !builtin && meta["continue"] == nil { meta["continue"] = "" }  // unstructured lists always carry it
        // The items of a typed (built-in) list carry no kind/apiVersion; unstructured ones do.
        if builtin {
            items = items.map {
                var o = $0
                o["kind"] = nil
                o["apiVersion"] = nil
                return o
            }
        }
        let list: JSON = [
            "apiVersion": .string(t.ref.apiVersion), "kind": .string(t.ref.kind + "List"), "metadata": meta,
            "items": .array(items)
        ]
        return HTTPResponse(status: 200, headers: jsonHeaders, body: SimWire.list(list, builtin: builtin) + [10])
    }

    static let jsonHeaders = ["content-type": "application/json", "cache-control": "no-cache, private"]

    static func partialMetadata(_ o: JSON) -> JSON {
        ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] ?? [:]]
    }
}

extension SimWorld {
    /// (current resourceVersion, the oldest one a LIST or continue token may still name: older
    /// ones are "compacted", as etcd compacts every 5 minutes).
    var listVersions: (current: Int64, compacted: Int64) {
        lock.lock()
        defer { lock.unlock() }
        return (rv, compactedRV)
    }

    /// The CRD object that defines `t` (nil for built-ins).
    func crd(for t: SimType) -> JSON? {
        guard let name = t.crdName else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return objects[ObjectKey(ResourceRef.crds, namespace: nil, name: name)]
    }
}

/// `meta.k8s.io/v1` Table responses (what kubectl's human output asks for). Custom resources:
/// `Name` plus the CRD version's `additionalPrinterColumns` (or `Name`, `Age` without them),
/// cells evaluated from simple JSONPaths, as the API server's CRD table convertor does. Built-in
/// kinds: the columns their printers show (a few common kinds; `Name`, `Age` otherwise).
enum Tables {
    struct Column {
        var name: String
        var type: String
        var format: String
        var description: String
        var priority: Int
        var cell: (JSON, Date) -> JSON
    }

    static let nameDescription =
        """
        Name must be unique within a namespace. Is required when creating resources, although some resources may \
        allow a client to request the generation of an appropriate name automatically. Name is primarily intended \
        for creation idempotence and configuration definition. Cannot be updated. More info: \
        https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names
        """
    static let ageDescription =
        """
        CreationTimestamp is a timestamp representing the server time when this object was created. It is not \
        guaranteed to be set in happens-before order across separate operations. Clients may not set this value. \
        It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. \
        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata
        """

    static func age(_ o: JSON, now: Date) -> String {
        guard let c = o[path: "metadata", "creationTimestamp"]?.string, let d = parseRFC3339(c) else {
            return "<unknown>"
        }
        let s = max(0, Int(now.timeIntervalSince(d)))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h"
    }

    static func columns(_ t: SimType, crd: JSON?) -> [Column] {
        let name = Column(name: "Name", type: "string", format: "name", description: nameDescription, priority: 0) {
            o, _ in .string(o.name ?? "")
        }
        let ageColumn = Column(name: "Age", type: "date", format: "", description: ageDescription, priority: 0) {
            o, now in .string(age(o, now: now))
        }
        if let crd {
            let version = (crd[path: "spec", "versions"]?.array ?? []).first { $0["name"]?.string == t.ref.version }
            let printer = version?["additionalPrinterColumns"]?.array ?? []
            if printer.isEmpty { return [name, ageColumn] }
            return [name]
                + printer.map { c in
                    let path = c["jsonPath"]?.string ?? ""
                    return Column(
                        name: c["name"]?.string ?? "", type: c["type"]?.string ?? "string",
                        format: c["format"]?.string ?? "",
                        description: c["description"]?.string
                            ?? "Custom resource definition column (in JSONPath format): \(path)",
                        priority: Int(c["priority"]?.int ?? 0)
                    ) { o, now in
                        let keys = path.split(separator: ".").map(String.init)
                        if keys == ["metadata", "creationTimestamp"] { return .string(age(o, now: now)) }
                        return o.value(at: keys) ?? .null
                    }
                }
        }
        func c(_ n: String, _ f: @escaping (JSON) -> String) -> Column {
            Column(name: n, type: "string", format: "", description: n, priority: 0) { o, _ in .string(f(o)) }
        }
        switch t.ref.resource {
        case "pods":
            return [
                name,
                c("Ready") { o in
                    let cs = o[path: "status", "containerStatuses"]?.array ?? []
                    return "\(cs.filter { $0["ready"]?.bool == true }.count)/\(max(cs.count, 1))"
                },
                c("Status") { o in
                    (o[path: "status", "containerStatuses"]?.array ?? []).compactMap {
                        $0[path: "state", "waiting", "reason"]?.string
                    }.first
                        ?? o[path: "status", "phase"]?.string ?? "Unknown"
                },
                c("Restarts") { o in
                    String(
                        (o[path: "status", "containerStatuses"]?.array ?? []).compactMap { $0["restartCount"]?.int }
                            .reduce(0, +))
                }, ageColumn
            ]
        case "deployments":
            return [
                name,
                c("Ready") {
                    "\($0[path: "status", "readyReplicas"]?.int ?? 0)/\($0[path: "spec", "replicas"]?.int ?? 1)"
                },
                c("Up-to-date") { String($0[path: "status", "updatedReplicas"]?.int ?? 0) },
                c("Available") { String($0[path: "status", "availableReplicas"]?.int ?? 0) }, ageColumn
            ]
        case "statefulsets":
            return [
                name,
                c("Ready") {
                    "\($0[path: "status", "readyReplicas"]?.int ?? 0)/\($0[path: "spec", "replicas"]?.int ?? 1)"
                }, ageColumn
            ]
        case "namespaces":
            return [name, c("Status") { $0[path: "status", "phase"]?.string ?? "Active" }, ageColumn]
        case "nodes":
            return [
                name,
                c("Status") { o in
                    (o[path: "status", "conditions"]?.array ?? []).contains {
                        $0["type"] == "Ready" && $0["status"] == "True"
                    } ? "Ready" : "NotReady"
                },
                c("Roles") { $0.labels["node-role.kubernetes.io/control-plane"] != nil ? "control-plane" : "<none>" },
                ageColumn,
                c("Version") { $0[path: "status", "nodeInfo", "kubeletVersion"]?.string ?? "" }
            ]
        default:
            return [name, ageColumn]
        }
    }

    static func table(_ list: JSON, type t: SimType, crd: JSON?) -> JSON {
        let now = Date()
        let cols = columns(t, crd: crd)
        return [
            "kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": list["metadata"] ?? ["resourceVersion": "0"],
            "columnDefinitions": .array(
                cols.map { c in
                    [
                        "name": .string(c.name), "type": .string(c.type), "format": .string(c.format),
                        "description": .string(c.description),
                        "priority": .int(Int64(c.priority))
                    ]
                }),
            "rows": .array(
                list.items.map { o in
                    ["cells": .array(cols.map { $0.cell(o, now) }), "object": SimLists.partialMetadata(o)]
                })
        ]
    }
}
