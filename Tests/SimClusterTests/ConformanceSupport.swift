import AphexCore
import KubeClient
import Foundation
@testable import SimCluster
import TestSupport

/// One recorded exchange of ../shared/realapi (see its README): the request a client sent to
/// a real kube-apiserver v1.36.2 and the response it got.
struct RecordedExchange {
    let file: String
    let method: String
    let path: String
    var query: [String: String]
    var headers: [String: String]
    var body: [UInt8]
    let status: Int
    /// Lower-cased names.
    let responseHeaders: [String: String]
    /// The body when it was JSON; the text otherwise (`(omitted)` where the README says so).
    let responseJSON: JSON?
    let responseText: String?
    let note: String

    init(_ file: String) throws {
        self.file = file
        let j = try RealAPI.cached(file)
        let rq = j["request"] ?? [:], rs = j["response"] ?? [:]
        method = rq["method"]?.string ?? "GET"
        path = rq["path"]?.string ?? "/"
        query = rq["query"]?.stringMap ?? [:]
        headers = rq["headers"]?.stringMap ?? [:]
        switch rq["body"] {
        case .string(let s)?: body = Array(s.utf8)
        case nil, .null?: body = []
        case let v?:
            // The body's own bytes, keys in the order the client sent them (validation reports
            // problems in that order; re-serializing would sort them).
            body =
                (try? RealAPI.bytes(file)).flatMap { RawJSON.value(in: $0, at: ["request", "body"]) }
                ?? v.serializedBytes()
        }
        status = Int(rs["status"]?.int ?? 0)
        var h: [String: String] = [:]
        for (k, v) in rs["headers"]?.stringMap ?? [:] { h[k.lowercased()] = v }
        responseHeaders = h
        switch rs["body"] {
        case .string(let s)?:
            responseJSON = nil
            responseText = s
        case nil, .null?:
            responseJSON = nil
            responseText = nil
        case let v?:
            responseJSON = v
            responseText = nil
        }
        note = j["note"]?.string ?? ""
    }

    var target: String {
        guard !query.isEmpty else { return path }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return path + "?"
            + query.keys.sorted().map { k in
                """
                \(k.addingPercentEncoding(withAllowedCharacters: allowed) ?? k)\
                =\(query[k]!.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
                """
            }.joined(separator: "&")
    }
}

/// A response read off the loopback socket: headers, framing (Content-Length or chunked, chunk
/// sizes) and the decoded body.
struct WireResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var chunked: Bool
    var chunkSizes: [Int]
    var json: JSON? { try? JSON.parse(body) }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A minimal HTTP/1.1 client that keeps what the conformance checks look at (the harness
/// client throws headers and framing away).
enum WireClient {
    static func send(
        port: UInt16, method: String, target: String, headers: [String: String] = [:], body: [UInt8] = [],
        timeout: Double = 60
    ) throws -> WireResponse {
        guard let fd = try loopbackSocket(port: port, timeout: timeout) else {
            throw SimError("cannot connect to 127.0.0.1:\(port)")
        }
        defer { close(fd) }
        var head =
            """
            \(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nUser-Agent: \
            realapi-capture/1.0\r\n
            """
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        guard writeAll(fd, Array(head.utf8) + body) else { throw SimError("write failed") }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        guard let end = findCRLFCRLF(data) else {
            throw SimError("malformed response: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "0") ?? 0
        var hs: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let c = l.firstIndex(of: ":") else { continue }
            hs[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        var raw = Array(data[(end + 4)...])
        var sizes: [Int] = []
        let chunked = hs["transfer-encoding"]?.lowercased() == "chunked"
        if chunked {
            var out: [UInt8] = []
            var i = 0
            while i < raw.count {
                var j = i
                while j + 1 < raw.count, !(raw[j] == 13 && raw[j + 1] == 10) { j += 1 }
                let size =
                    Int(
                        String(decoding: raw[i..<j], as: UTF8.self).split(separator: ";").first.map(String.init) ?? "",
                        radix: 16) ?? 0
                if size == 0 { break }
                sizes.append(size)
                out += raw[(j + 2)..<min(raw.count, j + 2 + size)]
                i = j + 2 + size + 2
            }
            raw = out
        }
        if hs["content-encoding"] == "gzip" { raw = try Gzip.decompress(raw) }
        return WireResponse(status: status, headers: hs, body: raw, chunked: chunked, chunkSizes: sizes)
    }
}

/// Structural comparison: the same keys at every level and the same JSON types (numbers are
/// one type), arrays element by element and of the same length. Values are not compared.
/// `relax` names the places where the simulator is allowed to differ, each a path pattern
/// (`.items[*].status`, `[*]` for any index) and a reason in docs/testing.md's parity list:
/// `skip:PATH` ignores the subtree, `len:PATH` allows another array length.
enum Shape {
    static func typeName(_ j: JSON) -> String {
        switch j {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func pattern(_ path: String) -> String {
        var out = "", inIndex = false
        for c in path {
            if c == "[" {
                inIndex = true
                out += "[*"
                continue
            }
            if c == "]" {
                inIndex = false
                out += "]"
                continue
            }
            if !inIndex { out.append(c) }
        }
        return out
    }

    static func diff(_ recorded: JSON, _ simulated: JSON, path: String = "", relax: [String] = []) -> [String] {
        let p = pattern(path)
        if relax.contains("skip:" + p) { return [] }
        if typeName(recorded) != typeName(simulated) {
            return ["\(path.isEmpty ? "." : path): recorded \(typeName(recorded)), simulated \(typeName(simulated))"]
        }
        switch (recorded, simulated) {
        case (.object(let a), .object(let b)):
            var out: [String] = []
            for k in Set(a.keys).union(b.keys).sorted() {
                let sub = path + "." + k
                if relax.contains("skip:" + pattern(sub)) { continue }
                switch (a[k], b[k]) {
                case (let x?, let y?): out += diff(x, y, path: sub, relax: relax)
                case (_?, nil): out.append("\(sub): missing in the simulator's response")
                case (nil, _?): out.append("\(sub): only in the simulator's response")
                default: break
                }
            }
            return out
        case (.array(let a), .array(let b)):
            var out: [String] = []
            if a.count != b.count && !relax.contains("len:" + p) {
                out.append("\(path): recorded \(a.count) elements, simulated \(b.count)")
            }
            for i in 0..<min(a.count, b.count) { out += diff(a[i], b[i], path: "\(path)[\(i)]", relax: relax) }
            return out
        default:
            return []
        }
    }

    /// `value` with the arrays at the given top-level-relative paths (".resources") sorted by
    /// their elements' `name`.
    static func sorted(_ value: JSON, _ paths: [String]) -> JSON {
        var v = value
        for p in paths {
            let keys = p.split(separator: ".").map(String.init)
            guard let a = v.value(at: keys)?.array else { continue }
            v.set(keys, to: .array(a.sorted { ($0["name"]?.string ?? "") < ($1["name"]?.string ?? "") }))
        }
        return v
    }

    /// The keys of a JSON object's top level, in the order the bytes hold them.
    static func topLevelKeys(_ bytes: [UInt8]) -> [String] {
        var keys: [String] = []
        var depth = 0, i = 0, inString = false, escaped = false, start = 0
        var expectKey = false
        while i < bytes.count {
            let c = bytes[i]
            if inString {
                if escaped {
                    escaped = false
                } else if c == 92 {
                    escaped = true
                } else if c == 34 {
                    inString = false
                    if depth == 1 && expectKey {
                        keys.append(String(decoding: bytes[start..<i], as: UTF8.self))
                        expectKey = false
                    }
                }
            } else {
                switch c {
                case 34:
                    inString = true
                    start = i + 1
                case 123, 91:
                    depth += 1
                    if depth == 1 { expectKey = true }
                case 125, 93: depth -= 1
                case 44: if depth == 1 { expectKey = true }
                default: break
                }
            }
            i += 1
        }
        return keys
    }
}

/// The raw bytes of one value inside a JSON document, found by its path of object keys.
enum RawJSON {
    static func value(in bytes: [UInt8], at path: [String]) -> [UInt8]? {
        var i = 0
        func ws() { while i < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[i]) { i += 1 } }
        func skipString() {
            i += 1
            while i < bytes.count {
                if bytes[i] == 92 {
                    i += 2
                    continue
                }
                if bytes[i] == 34 {
                    i += 1
                    return
                }
                i += 1
            }
        }
        func readString() -> String {
            let start = i + 1
            skipString()
            return String(decoding: bytes[start..<(i - 1)], as: UTF8.self)
        }
        func skipValue() {
            ws()
            guard i < bytes.count else { return }
            switch bytes[i] {
            case 34: skipString()
            case 123, 91:
                var depth = 0
                while i < bytes.count {
                    let c = bytes[i]
                    if c == 34 {
                        skipString()
                        continue
                    }
                    if c == 123 || c == 91 {
                        depth += 1
                    } else if c == 125 || c == 93 {
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return
                        }
                    }
                    i += 1
                }
            default: while i < bytes.count, ![44, 125, 93].contains(bytes[i]) { i += 1 }
            }
        }
        var remaining = path[...]
        while let key = remaining.first {
            ws()
            guard i < bytes.count, bytes[i] == 123 else { return nil }
            i += 1
            var found = false
            while i < bytes.count {
                ws()
                if bytes[i] == 125 { return nil }
                let k = readString()
                ws()
                i += 1  // ':'
                if k == key {
                    found = true
                    break
                }
                skipValue()
                ws()
                if i < bytes.count, bytes[i] == 44 { i += 1 }
            }
            guard found else { return nil }
            remaining = remaining.dropFirst()
        }
        ws()
        let start = i
        skipValue()
        return Array(bytes[start..<i])
    }
}
