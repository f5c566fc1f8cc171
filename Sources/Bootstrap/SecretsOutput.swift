import AphexCore
import Foundation

/// `aphex show-secrets` (and `bootstrap --show-secrets`): the credentials table, or as JSON
/// `{"complete", "missing": [names], "credentials": [...]}` (docs/secrets.md). `--output env`
/// is `CredentialsFormat.env`.
public struct CredentialList: OutputData {
    public var rows: [CredentialRow]
    public init(_ rows: [CredentialRow]) { self.rows = rows }

    public var description: String { CredentialsFormat.table(rows) }

    struct Credential: Encodable {
        var row: CredentialRow
        enum CodingKeys: String, CodingKey {
            case name, env, present, optional, consumer, value, namespace, secret, key
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.name, forKey: .name)
            try c.encode(row.env, forKey: .env)
            try c.encode(row.present, forKey: .present)
            try c.encode(row.optional, forKey: .optional)
            try c.encode(row.consumer, forKey: .consumer)
            // null when not stored / not a Secret's key
            try c.encode(row.value, forKey: .value)
            try c.encode(row.namespace, forKey: .namespace)
            try c.encode(row.secret, forKey: .secret)
            try c.encode(row.key, forKey: .key)
        }
    }

    enum CodingKeys: String, CodingKey { case complete, missing, credentials }
    public func encode(to encoder: any Encoder) throws {
        let missing = rows.filter { !$0.present && !$0.optional }.map(\.name)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(missing.isEmpty, forKey: .complete)
        try c.encode(missing, forKey: .missing)
        try c.encode(rows.map(Credential.init(row:)), forKey: .credentials)
    }

    /// Writes the list in the context's format (text, json or env).
    func write(to ctx: AppContext) {
        if ctx.format == .env { ctx.output.write(CredentialsFormat.env(rows)) } else { ctx.output(self) }
    }
}

/// `aphex secrets export`'s result: where the file is and what it holds.
struct SecretsExportResult: OutputData {
    var file: String
    var mode = "0600"
    var keys: Int
    var secrets: [String]
    var missing: [String]

    var description: String {
        """
        Exported \(keys) keys of \(secrets.count) Secrets to \(file) (mode 0600). Rebuild with: aphex bootstrap \
        --deployment DEPLOYMENT --secrets-from \(Shell.quote(file))\n
        """
    }
}

/// `aphex secrets repair`: what was (or would be) set, or as JSON the report (docs/secrets.md).
public struct SecretsRepairOutput: OutputData {
    public var report: SecretsReport
    public var dryRun: Bool
    public init(report: SecretsReport, dryRun: Bool) {
        self.report = report
        self.dryRun = dryRun
    }

    public var description: String {
        let changed = report.entries.filter { [.repair, .create, .addMissingKey].contains($0.action) }
        if changed.isEmpty { return "Nothing to repair: every copy equals its source.\n" }
        let verb = dryRun ? "would set" : "set"
        return changed.map { "\(verb) \($0.namespace)/\($0.secret)[\($0.key)] to its source's value\n" }.joined()
    }

    enum CodingKeys: String, CodingKey { case dryRun, written, warnings, counts, keys, deployment }

    /// The `--output json` form of the report (stable; docs/secrets.md): `deployment`,
    /// `origin` and `note` are absent when unknown.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(report.dryRun, forKey: .dryRun)
        try c.encode(report.written, forKey: .written)
        try c.encode(report.warnings, forKey: .warnings)
        try c.encode(report.counts, forKey: .counts)
        try c.encode(report.entries, forKey: .keys)
        try c.encodeIfPresent(report.deployment, forKey: .deployment)
    }
}
