import AphexCore
import Foundation

/// Rendering the plan's writes for kubectl (server-side apply, manifest on stdin) and the API
/// (JSON merge patch). The output holds secret values: it must only ever travel on stdin or
/// in a request body — never in argv, logs or errors.
public enum SecretManifest {
    /// One Secret manifest for `kubectl apply --server-side`. `type: Opaque` only on
    /// creation (the type of an existing Secret is immutable and not aphex's to set).
    public static func yaml(_ write: SecretWrite, createdAt now: String) -> String {
        let q = YAMLScalar.quoted
        var y = "apiVersion: v1\nkind: Secret\nmetadata:\n"
        y += "  name: \(q(write.id.name))\n"
        y += "  namespace: \(q(write.id.namespace))\n"
        y += "  labels:\n    \(q(ManagedBy.key)): \(q(ManagedBy.value))\n"
        y += "  annotations:\n    \(q(SecretAnnotations.createdAt)): \(q(write.createdAt ?? now))\n"
        if !write.exists { y += "type: Opaque\n" }
        y += "data:\n"
        for key in write.data.keys.sorted() {
            y += "  \(q(key)): \(q(SecretEncoding.base64(Array(write.data[key]!.utf8))))\n"
        }
        return y
    }

    /// The Secret as a JSON body for `POST /api/v1/namespaces/NS/secrets` (a new Secret is
    /// created, never applied: a 409 then means another run stored it first).
    public static func json(_ write: SecretWrite, createdAt now: String) -> [UInt8] {
        var data: [String: String] = [:]
        for (k, v) in write.data { data[k] = SecretEncoding.base64(Array(v.utf8)) }
        let object: [String: Any] = [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": [
                "name": write.id.name, "namespace": write.id.namespace,
                "labels": [ManagedBy.key: ManagedBy.value],
                "annotations": [SecretAnnotations.createdAt: write.createdAt ?? now]
            ],
            "type": "Opaque",
            "data": data
        ]
        let body = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return [UInt8](body)
    }

    /// Several Secrets as one multi-document stream, in the given order.
    public static func yaml(_ writes: [SecretWrite], createdAt now: String) -> String {
        writes.map { yaml($0, createdAt: now) }.joined(separator: "---\n")
    }

    /// `{"data":{"key":"<base64>"}}`: the JSON merge patch that adds keys and touches nothing else.
    public static func mergePatch(_ write: SecretWrite) -> [UInt8] {
        var data: [String: String] = [:]
        for (k, v) in write.data { data[k] = SecretEncoding.base64(Array(v.utf8)) }
        let body = try! JSONSerialization.data(
            withJSONObject: ["data": data],
            options: [.sortedKeys, .withoutEscapingSlashes])
        return [UInt8](body)
    }
}

/// Whether the stored secrets are complete and consistent (`aphex status` shows it).
public struct SecretsHealth: Sendable, Equatable, Codable {
    /// Secrets ("namespace/name") holding every catalog key.
    public var present: [String]
    /// Secrets that do not exist at all.
    public var missingSecrets: [String]
    /// Keys ("namespace/name[key]") missing from Secrets that exist, and keys of missing Secrets.
    public var missingKeys: [String]
    /// Copies that differ from their source ("namespace/name[key]"); `aphex secrets repair` fixes them.
    public var derivedMismatches: [String]
    /// Optional keys not stored (their environment variable was unset): not an error.
    public var optionalAbsent: [String]

    public init(
        present: [String] = [], missingSecrets: [String] = [], missingKeys: [String] = [],
        derivedMismatches: [String] = [], optionalAbsent: [String] = []
    ) {
        self.present = present
        self.missingSecrets = missingSecrets
        self.missingKeys = missingKeys
        self.derivedMismatches = derivedMismatches
        self.optionalAbsent = optionalAbsent
    }

    /// Complete and consistent.
    public var ok: Bool { missingKeys.isEmpty && derivedMismatches.isEmpty }

    /// One line for a status report.
    public var summary: String {
        if ok {
            var s = "\(present.count) secrets present and consistent"
            if !optionalAbsent.isEmpty { s += " (optional not set: \(optionalAbsent.joined(separator: ", ")))" }
            return s
        }
        var parts: [String] = []
        if !missingKeys.isEmpty { parts.append("missing: \(missingKeys.joined(separator: ", "))") }
        if !derivedMismatches.isEmpty {
            parts.append(
                """
                copies differing from their source: \(derivedMismatches.joined(separator: ", ")) (run `aphex \
                secrets repair`)
                """
            )
        }
        return parts.joined(separator: "; ")
    }

    /// Assesses what the cluster stores against the catalog.
    /// `deployment` nil: deployment-specific Secrets are judged only when they exist.
    public static func assess(
        catalog: SecretCatalog = .platform, deployment: String?,
        existing: [SecretID: StoredSecret]
    ) -> SecretsHealth {
        var h = SecretsHealth()
        for spec in catalog.secrets {
            if deployment == nil, spec.deployments != nil, existing[spec.id] == nil { continue }
            guard spec.applies(to: deployment) else { continue }
            let stored = existing[spec.id]
            var complete = stored != nil
            var allOptional = true
            for key in spec.keys {
                let ref = KeyRef(spec.id, key.key)
                let optional: Bool
                if case .environment(_, let opt, _) = key.source { optional = opt } else { optional = false }
                if !optional { allOptional = false }
                guard let v = stored?.data[key.key] else {
                    if optional {
                        h.optionalAbsent.append(ref.description)
                    } else {
                        h.missingKeys.append(ref.description)
                    }
                    complete = false
                    continue
                }
                if let src = key.source.source(in: spec.id), let sv = existing[src.secret]?.data[src.key], sv != v {
                    h.derivedMismatches.append(ref.description)
                }
            }
            if complete {
                h.present.append(spec.id.description)
            } else if stored == nil && !allOptional {
                h.missingSecrets.append(spec.id.description)
            }
        }
        return h
    }
}
