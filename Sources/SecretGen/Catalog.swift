import AphexCore
/// The platform's credentials, in one place (PLATFORM.md "Secrets"; docs/secrets.md).
///
/// Everything aphex knows about a secret is data here: where it lives, how each key's value
/// is made, who consumes it, which deployments need it, and the name `aphex show-secrets`
/// gives it. Code never tests a secret's name; a fork of the platform overrides the catalog.

/// A Secret's identity: namespace and name (the same name lives in several namespaces).
public struct SecretID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// "namespace/name", as kubectl prints it.
    public var description: String { "\(namespace)/\(name)" }

    public static func < (a: SecretID, b: SecretID) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

/// One key of one Secret.
public struct KeyRef: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var secret: SecretID
    public var key: String

    public init(_ secret: SecretID, _ key: String) {
        self.secret = secret
        self.key = key
    }

    public var description: String { "\(secret)[\(key)]" }

    public static func < (a: KeyRef, b: KeyRef) -> Bool { (a.secret, a.key) < (b.secret, b.key) }
}

/// How random bytes are turned into the text stored in the Secret.
public enum ValueEncoding: String, Sendable, Codable, CaseIterable {
    /// Standard base64 with padding, on ONE line (never wrapped).
    case base64
    /// Lowercase hexadecimal (two characters per byte).
    case hex
}

/// Where a key's value comes from.
public enum ValueSource: Sendable, Equatable, Hashable {
    /// `bytes` bytes from OpenSSL's CSPRNG, encoded.
    case random(bytes: Int, encoding: ValueEncoding)
    /// Always the same value as another key of the same Secret.
    case sameAs(key: String)
    /// Always a copy of another Secret's key (the STORED value).
    case derivedFrom(KeyRef)
    /// Read from an environment variable. `optional`: when unset the key is skipped with a
    /// warning naming what will not work (`missingEffect`).
    case environment(variable: String, optional: Bool, missingEffect: String)

    /// The key this one copies, if it is a copy.
    public func source(in secret: SecretID) -> KeyRef? {
        switch self {
        case .sameAs(let key): return KeyRef(secret, key)
        case .derivedFrom(let ref): return ref
        default: return nil
        }
    }

    public var summary: String {
        switch self {
        case .random(let n, let enc):
            switch enc {
            case .base64: return "\(n) random bytes, base64 (one line)"
            case .hex: return "\(n) random bytes, lowercase hex (\(n * 2) chars)"
            }
        case .sameAs(let key): return "same value as \(key)"
        case .derivedFrom(let ref): return "copy of \(ref)"
        case .environment(let v, let optional, _): return "from $\(v)" + (optional ? " (optional)" : "")
        }
    }
}

/// What a key's value must look like — what aphex would generate for it — so a value from
/// `--secrets-from` that is not what a consumer expects (truncated, wrapped, url-safe base64,
/// uppercase hex, a pasted line break) is refused before it is stored.
public enum ValueShape: Sendable, Equatable {
    /// Standard base64 with padding on one line, decoding to exactly `bytes` bytes.
    case base64(bytes: Int)
    /// Lowercase hexadecimal, two characters per byte.
    case hex(bytes: Int)
    /// A token from the environment (the Cloudflare API token): 1 to 4096 visible ASCII
    /// characters, no spaces, line breaks or control characters.
    case token

    public static let maxTokenLength = 4096

    public var summary: String {
        switch self {
        case .base64(let n): return "\(n) random bytes as one line of base64, \(4 * ((n + 2) / 3)) characters"
        case .hex(let n): return "\(n) random bytes as lowercase hex, \(2 * n) characters"
        case .token: return "one token of visible ASCII characters without spaces, at most \(Self.maxTokenLength)"
        }
    }

    /// Why `value` does not have this shape, nil when it has. Names lengths and character
    /// classes only: never the value, nor any character of it.
    public func problem(_ value: String) -> String? {
        let u = Array(value.utf8)
        switch self {
        case .base64(let n):
            let length = 4 * ((n + 2) / 3)
            guard u.count == length else { return "has \(u.count) characters, expected \(length)" }
            let padding = (3 - n % 3) % 3
            let body = u.prefix(length - padding), pad = u.suffix(padding)
            func isBase64(_ c: UInt8) -> Bool {
                (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 43 || c == 47
            }
            guard body.allSatisfy(isBase64), pad.allSatisfy({ $0 == 61 }) else {
                return
                    """
                    has a character outside standard base64 (A-Z, a-z, 0-9, + and /, with \(padding) '=' of \
                    padding at the end)
                    """
            }
            guard SecretEncoding.decodeBase64(value)?.count == n else { return "does not decode to \(n) bytes" }
            return nil
        case .hex(let n):
            guard u.count == 2 * n else { return "has \(u.count) characters, expected \(2 * n)" }
            guard u.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                return "has a character outside lowercase hex (0-9, a-f)"
            }
            return nil
        case .token:
            guard u.count <= Self.maxTokenLength else {
                return "has \(u.count) characters, more than \(Self.maxTokenLength)"
            }
            guard u.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                return "has a space, line break, control or non-ASCII character"
            }
            return nil
        }
    }
}

/// One key of a catalog Secret.
public struct KeySpec: Sendable, Equatable {
    public var key: String
    public var source: ValueSource
    /// Who reads it (documentation and `show-secrets`).
    public var consumer: String
    /// The credential's name in `aphex show-secrets` (the NAME column; `--name`; upper-snake
    /// in `--output env`).
    public var displayName: String

    public init(_ key: String, _ source: ValueSource, consumer: String, displayName: String) {
        self.key = key
        self.source = source
        self.consumer = consumer
        self.displayName = displayName
    }
}

/// Who owns the Secret object.
public enum SecretOwnership: String, Sendable, Equatable, Codable {
    /// aphex creates it (server-side apply, field manager `aphex`, label managed-by=aphex).
    case aphex
    /// Another installer creates it (ArgoCD's install creates argocd-secret): aphex only adds
    /// its keys with a JSON merge patch and never replaces the object.
    case mergeKeys
}

/// One Secret of the catalog.
public struct SecretSpec: Sendable, Equatable {
    public var id: SecretID
    public var keys: [KeySpec]
    public var ownership: SecretOwnership
    /// nil: every deployment; else only these (`Deployment.rawValue`: "kind", "k3s").
    public var deployments: Set<String>?
    /// Who creates the object when ownership is `.mergeKeys` (for messages).
    public var createdBy: String?

    public init(
        _ id: SecretID, keys: [KeySpec], ownership: SecretOwnership = .aphex,
        deployments: Set<String>? = nil, createdBy: String? = nil
    ) {
        self.id = id
        self.keys = keys
        self.ownership = ownership
        self.deployments = deployments
        self.createdBy = createdBy
    }

    public func applies(to deployment: String?) -> Bool {
        guard let deployments, let deployment else { return true }
        return deployments.contains(deployment)
    }
}

/// A credential `show-secrets` prints that aphex does not generate: a Secret key written by
/// another installer, or a fixed value (the Authentik admin user name).
public struct ExtraCredential: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case secretKey(KeyRef)
        case literal(String)
    }
    public var displayName: String
    public var value: Value
    public var consumer: String

    public init(_ displayName: String, _ value: Value, consumer: String) {
        self.displayName = displayName
        self.value = value
        self.consumer = consumer
    }
}

public struct SecretCatalog: Sendable, Equatable {
    public var secrets: [SecretSpec]
    public var extras: [ExtraCredential]

    public init(secrets: [SecretSpec], extras: [ExtraCredential]) {
        self.secrets = secrets
        self.extras = extras
    }

    /// The catalog's secrets for a deployment (nil: all of them).
    public func secrets(for deployment: String?) -> [SecretSpec] {
        secrets.filter { $0.applies(to: deployment) }
    }

    public func spec(_ id: SecretID) -> SecretSpec? { secrets.first { $0.id == id } }

    public func keySpec(_ ref: KeyRef) -> KeySpec? { spec(ref.secret)?.keys.first { $0.key == ref.key } }

    /// The shape of a key's value: what is generated for it, a token for an environment key,
    /// and for a copy its source's shape. nil for a key the catalog does not know.
    public func shape(_ ref: KeyRef) -> ValueShape? {
        guard let k = keySpec(ref) else { return nil }
        switch k.source {
        case .random(let n, .base64): return .base64(bytes: n)
        case .random(let n, .hex): return .hex(bytes: n)
        case .environment: return .token
        case .sameAs, .derivedFrom:
            guard let src = k.source.source(in: ref.secret), src != ref,
                keySpec(src)?.source.source(in: src.secret) == nil
            else { return nil }
            return shape(src)
        }
    }

    /// Every show-secrets name, in display order.
    public var displayNames: [String] {
        var names = [String]()
        for s in secrets { for k in s.keys { names.append(k.displayName) } }
        for e in extras { names.append(e.displayName) }
        return names
    }

    /// Catalog errors a fork could introduce: duplicate ids/keys/names, copies of keys that do
    /// not exist, copy chains, zero-length values. Empty when the catalog is sound.
    public func problems() -> [String] {
        var out = [String]()
        var seenIDs = Set<SecretID>()
        var names = Set<String>()
        for s in secrets {
            if !seenIDs.insert(s.id).inserted { out.append("secret \(s.id) is listed twice") }
            var keys = Set<String>()
            for k in s.keys {
                if !keys.insert(k.key).inserted { out.append("\(s.id) lists key \(k.key) twice") }
                if !names.insert(k.displayName).inserted { out.append("display name \(k.displayName) is used twice") }
                switch k.source {
                case .random(let n, _):
                    if n < 16 { out.append("\(s.id)[\(k.key)]: \(n) random bytes is too few (at least 16)") }
                case .sameAs, .derivedFrom:
                    let src = k.source.source(in: s.id)!
                    guard let srcSpec = keySpec(src) else {
                        out.append("\(s.id)[\(k.key)] copies \(src), which is not in the catalog")
                        break
                    }
                    if srcSpec.source.source(in: src.secret) != nil {
                        out.append("\(s.id)[\(k.key)] copies \(src), which is itself a copy (copy the original)")
                    }
                    if let srcSecret = spec(src.secret), let d = s.deployments,
                        srcSecret.deployments.map({ !d.isSubset(of: $0) }) ?? false
                    {
                        out.append("\(s.id)[\(k.key)] copies \(src), which some of its deployments do not have")
                    }
                case .environment(let v, _, _):
                    if v.isEmpty { out.append("\(s.id)[\(k.key)]: empty environment variable name") }
                }
            }
        }
        for e in extras where !names.insert(e.displayName).inserted {
            out.append("display name \(e.displayName) is used twice")
        }
        return out
    }
}

extension SecretCatalog {
    /// The Aphex platform's catalog (PLATFORM.md "Secrets").
    public static let platform: SecretCatalog = {
        let pg = SecretID(namespace: "auth-system", name: "authentik-postgresql")
        let ak = SecretID(namespace: "auth-system", name: "authentik-secrets")
        let dex = SecretID(namespace: "auth-system", name: "dex-secrets")
        let argo = SecretID(namespace: "argocd", name: "argocd-secret")
        let tekton = SecretID(namespace: "tekton-pipelines", name: "tekton-dashboard-oidc")
        let b64 = ValueSource.random(bytes: 32, encoding: .base64)
        let cloudflareMissing = "the organization controller cannot manage Cloudflare DNS"
        let k3sCloudflareMissing = "cert-manager's ClusterIssuer (DNS-01) and external-dns cannot use Cloudflare"
        let cf = "CLOUDFLARE_API_TOKEN"
        return SecretCatalog(
            secrets: [
                SecretSpec(
                    pg,
                    keys: [
                        KeySpec(
                            "postgresql-password", b64,
                            consumer: "PostgreSQL and Authentik (database password)",
                            displayName: "postgresql-password"),
                        KeySpec(
                            "postgresql-postgres-password", b64,
                            consumer: "PostgreSQL superuser",
                            displayName: "postgresql-postgres-password")
                    ]),
                SecretSpec(
                    ak,
                    keys: [
                        KeySpec(
                            "secret-key", .random(bytes: 50, encoding: .base64),
                            consumer: "Authentik AUTHENTIK_SECRET_KEY",
                            displayName: "authentik-secret-key"),
                        KeySpec(
                            "admin-password", b64,
                            consumer: "Authentik AUTHENTIK_BOOTSTRAP_PASSWORD (user akadmin)",
                            displayName: "authentik-admin-password"),
                        KeySpec(
                            "bootstrap-token", .random(bytes: 32, encoding: .hex),
                            consumer: "Authentik AUTHENTIK_BOOTSTRAP_TOKEN (API token of the config-sync Job)",
                            displayName: "authentik-bootstrap-token")
                    ]),
                SecretSpec(
                    dex,
                    keys: [
                        KeySpec(
                            "client-secret", b64,
                            consumer: "Dex's OIDC client at Authentik",
                            displayName: "dex-client-secret"),
                        KeySpec(
                            "authentik-client-secret", .sameAs(key: "client-secret"),
                            consumer: "Authentik's provider for Dex (same value as client-secret)",
                            displayName: "dex-authentik-client-secret"),
                        KeySpec(
                            "argocd-client-secret", b64,
                            consumer: "Dex static client argocd",
                            displayName: "dex-argocd-client-secret"),
                        KeySpec(
                            "tekton-client-secret", b64,
                            consumer: "Dex static client tekton",
                            displayName: "dex-tekton-client-secret"),
                        KeySpec(
                            "kubernetes-client-secret", b64,
                            consumer: "Dex static client kubernetes (API-server OIDC)",
                            displayName: "dex-kubernetes-client-secret")
                    ]),
                SecretSpec(
                    tekton,
                    keys: [
                        KeySpec(
                            "client-secret", .derivedFrom(KeyRef(dex, "tekton-client-secret")),
                            consumer: "Tekton dashboard OIDC client",
                            displayName: "tekton-dashboard-client-secret")
                    ]),
                SecretSpec(
                    argo,
                    keys: [
                        KeySpec(
                            "oidc.dex.clientSecret", .derivedFrom(KeyRef(dex, "argocd-client-secret")),
                            consumer: "ArgoCD argocd-cm oidc.config ($oidc.dex.clientSecret)",
                            displayName: "argocd-oidc-client-secret")
                    ], ownership: .mergeKeys, createdBy: "the ArgoCD install"),
                SecretSpec(
                    SecretID(namespace: "platform-system", name: "cloudflare-api-token"),
                    keys: [
                        KeySpec(
                            "token", .environment(variable: cf, optional: true, missingEffect: cloudflareMissing),
                            consumer: "organization controller",
                            displayName: "cloudflare-api-token")
                    ]),
                SecretSpec(
                    SecretID(namespace: "cert-manager", name: "cloudflare-api-token"),
                    keys: [
                        KeySpec(
                            "api-token",
                            .environment(variable: cf, optional: true, missingEffect: k3sCloudflareMissing),
                            consumer: "cert-manager ClusterIssuer (DNS-01)",
                            displayName: "cloudflare-api-token-cert-manager")
                    ], deployments: ["k3s"]),
                SecretSpec(
                    SecretID(namespace: "kube-system", name: "cloudflare-api-token"),
                    keys: [
                        KeySpec(
                            "api-token",
                            .environment(variable: cf, optional: true, missingEffect: k3sCloudflareMissing),
                            consumer: "external-dns",
                            displayName: "cloudflare-api-token-kube-system")
                    ], deployments: ["k3s"])
            ],
            extras: [
                ExtraCredential("argocd-admin-user", .literal("admin"), consumer: "ArgoCD UI/CLI login user"),
                ExtraCredential(
                    "argocd-admin-password",
                    .secretKey(KeyRef(SecretID(namespace: "argocd", name: "argocd-initial-admin-secret"), "password")),
                    consumer: "ArgoCD initial admin password (written by ArgoCD)"),
                ExtraCredential("authentik-admin-user", .literal("akadmin"), consumer: "Authentik bootstrap admin user")
            ])
    }()
}

/// Environment-variable form of a show-secrets name: `argocd-admin-password` -> `ARGOCD_ADMIN_PASSWORD`.
public func envVariableName(_ displayName: String) -> String {
    String(displayName.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
}
