import AphexCore
import Foundation

/// The file `aphex secrets export` writes and `aphex bootstrap --secrets-from` reads.
///
///     {
///       "apiVersion": "aphex.dev/v1",
///       "kind": "SecretsExport",
///       "exportedAt": "2026-11-24T19:31:29Z",
///       "secrets": [
///         {"namespace": "auth-system", "name": "dex-secrets", "data": {"client-secret": "..."}}
///       ]
///     }
///
/// Values are the plain values (what the consumer reads), not Kubernetes' base64 of them.
/// A list, not a map by name: cloudflare-api-token exists in several namespaces.
public struct SecretsFile: Sendable, Equatable {
    public static let apiVersion = "aphex.dev/v1"
    public static let kind = "SecretsExport"
    /// An export is a few kilobytes; a bigger file is not one, and is not read into memory.
    public static let maxBytes = 1 << 20
    /// The format nests four deep (top, secrets, entry, data). JSON has no aliases to expand,
    /// but runaway nesting would recurse in the parser: refused before it.
    public static let maxDepth = 16

    public var exportedAt: String?
    public var secrets: [SecretID: [String: String]]

    public init(exportedAt: String? = nil, secrets: [SecretID: [String: String]]) {
        self.exportedAt = exportedAt
        self.secrets = secrets
    }

    static func bad(_ source: String, _ why: String) -> SecretGenError {
        .badImportFile(
            """
            The secrets file '\(source)' cannot be used: \(why). Pass a file written by `aphex secrets export \
            --file FILE` (unchanged), or drop --secrets-from to generate new credentials. Nothing was written to \
            the cluster.
            """
        )
    }

    /// Checks every value of a key `catalog` knows against its shape (`ValueShape`): the file
    /// is structurally sound after `parse`, but a value a consumer cannot use (truncated,
    /// re-encoded, with a line break) must not be stored, where it is then kept for ever.
    /// One error lists every misfit by Secret and key, with lengths — never a value.
    public func validateValues(against catalog: SecretCatalog, source: String) throws {
        var problems: [String] = []
        for id in secrets.keys.sorted() {
            for (key, value) in secrets[id]!.sorted(by: { $0.key < $1.key }) {
                let ref = KeyRef(id, key)
                guard let shape = catalog.shape(ref), let why = shape.problem(value) else { continue }
                problems.append("\(ref) \(why) (\(shape.summary))")
            }
        }
        guard !problems.isEmpty else { return }
        throw Self.bad(
            source,
            """
            \(problems.count == 1 ? "a value does" : "\(problems.count) values do") not have the shape aphex \
            generates: \(problems.joined(separator: "; "))
            """
        )
    }

    /// Parses a file; `source` names it in errors. Errors name the problem, never a value.
    public static func parse(_ bytes: [UInt8], source: String) throws -> SecretsFile {
        func bad(_ why: String) -> SecretGenError { Self.bad(source, why) }
        guard bytes.count <= maxBytes else {
            throw bad("it is \(bytes.count) bytes, more than an export can be (\(maxBytes / 1024) KiB)")
        }
        if let offset = nestingBeyond(maxDepth, bytes) {
            throw bad("it nests arrays or objects more than \(maxDepth) deep (at byte \(offset))")
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw bad("it is not valid JSON")
        }
        guard let top = any as? [String: Any] else { throw bad("the top level is not a JSON object") }
        guard let apiVersion = top["apiVersion"] as? String else {
            throw bad("it has no \"apiVersion\" (expected \"\(Self.apiVersion)\")")
        }
        guard apiVersion == Self.apiVersion else {
            throw bad(
                """
                its apiVersion is \"\(apiVersion)\"; this aphex reads \"\(Self.apiVersion)\" (upgrade aphex to \
                read newer exports)
                """
            )
        }
        guard (top["kind"] as? String) == Self.kind else { throw bad("its \"kind\" is not \"\(Self.kind)\"") }
        guard let list = top["secrets"] as? [Any] else { throw bad("\"secrets\" is missing or not a list") }
        var out: [SecretID: [String: String]] = [:]
        for (i, entry) in list.enumerated() {
            guard let obj = entry as? [String: Any] else { throw bad("secrets[\(i)] is not an object") }
            guard let name = obj["name"] as? String, !name.isEmpty else { throw bad("secrets[\(i)] has no \"name\"") }
            guard let ns = obj["namespace"] as? String, !ns.isEmpty else {
                throw bad("secrets[\(i)] (\(name)) has no \"namespace\"")
            }
            let id = SecretID(namespace: ns, name: name)
            guard let data = obj["data"] as? [String: Any] else { throw bad("\(id) has no \"data\" object") }
            var values: [String: String] = [:]
            for (key, v) in data {
                guard let s = v as? String else { throw bad("\(id) key \(key) is not a string") }
                guard !s.isEmpty else { throw bad("\(id) key \(key) is empty") }
                values[key] = s
            }
            if out[id] != nil { throw bad("\(id) is listed twice") }
            out[id] = values
        }
        return SecretsFile(exportedAt: top["exportedAt"] as? String, secrets: out)
    }

    /// The offset where JSON nesting first exceeds `limit` (strings skipped), nil if it never does.
    static func nestingBeyond(_ limit: Int, _ bytes: [UInt8]) -> Int? {
        var depth = 0, inString = false, escaped = false
        for (i, b) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return i }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }

    /// The file's text: pretty JSON, keys sorted, secrets in namespace/name order.
    public func render() -> String {
        struct Entry: Encodable {
            var namespace, name: String
            var data: [String: String]
        }
        struct File: Encodable {
            var apiVersion = SecretsFile.apiVersion, kind = SecretsFile.kind
            var exportedAt: String?
            var secrets: [Entry]
        }
        let file = File(
            exportedAt: exportedAt,
            secrets: secrets.keys.sorted().map {
                Entry(namespace: $0.namespace, name: $0.name, data: secrets[$0]!)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try! encoder.encode(file)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
