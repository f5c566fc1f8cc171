import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen

// `aphex show-secrets` and `aphex secrets export`: credentials read back FROM THE CLUSTER,
// so nothing is ever shown or exported that is not stored.

/// One credential as `show-secrets` prints it.
public struct CredentialRow: Sendable, Equatable, Codable {
    /// The NAME column (`--name`), e.g. argocd-admin-password.
    public var name: String
    /// `--output env` variable, e.g. ARGOCD_ADMIN_PASSWORD.
    public var env: String
    /// nil for fixed values (the Authentik admin user name).
    public var namespace: String?
    public var secret: String?
    public var key: String?
    /// nil when not stored.
    public var value: String?
    /// Missing is not an error (e.g. the Cloudflare token when $CLOUDFLARE_API_TOKEN was unset).
    public var optional: Bool
    public var consumer: String

    public var present: Bool { value != nil }
    public var secretColumn: String { namespace.map { "\($0)/\(secret ?? "")" } ?? "-" }
}

/// Reads every catalog credential (plus ArgoCD's initial admin password and the fixed user
/// names). `deployment` nil: deployment-specific Secrets are listed only when they exist.
public func readCredentials(api: any KubeAPI, deployment: Deployment?, catalog: SecretCatalog = .platform) async throws
    -> [CredentialRow]
{
    var ids = catalog.secrets(for: deployment?.rawValue).map(\.id)
    for e in catalog.extras {
        if case .secretKey(let ref) = e.value, !ids.contains(ref.secret) { ids.append(ref.secret) }
    }
    let stored = try await readStoredSecrets(api: api, ids: ids)
    var rows: [CredentialRow] = []
    for spec in catalog.secrets(for: deployment?.rawValue) {
        if deployment == nil, spec.deployments != nil, stored[spec.id] == nil { continue }
        for k in spec.keys {
            var optional = false
            if case .environment(_, let opt, _) = k.source { optional = opt }
            rows.append(
                CredentialRow(
                    name: k.displayName, env: envVariableName(k.displayName), namespace: spec.id.namespace,
                    secret: spec.id.name, key: k.key, value: stored[spec.id]?.data[k.key],
                    optional: optional, consumer: k.consumer))
        }
    }
    for e in catalog.extras {
        switch e.value {
        case .literal(let v):
            rows.append(
                CredentialRow(
                    name: e.displayName, env: envVariableName(e.displayName), namespace: nil, secret: nil,
                    key: nil, value: v, optional: false, consumer: e.consumer))
        case .secretKey(let ref):
            rows.append(
                CredentialRow(
                    name: e.displayName, env: envVariableName(e.displayName), namespace: ref.secret.namespace,
                    secret: ref.secret.name, key: ref.key, value: stored[ref.secret]?.data[ref.key],
                    optional: false, consumer: e.consumer))
        }
    }
    return rows
}

public enum CredentialsFormat {
    /// NAME  SECRET  KEY  VALUE (kubectl's column style).
    public static func table(_ rows: [CredentialRow]) -> String {
        renderTable(
            columns: ["NAME", "SECRET", "KEY", "VALUE"],
            rows: rows.map { r in
                [r.name, r.secretColumn, r.key ?? "-", r.value ?? (r.optional ? "<not set (optional)>" : "<missing>")]
            })
    }

    /// KEY=VALUE lines (present credentials only), shell-quoted when needed so the file can
    /// be sourced.
    public static func env(_ rows: [CredentialRow]) -> String {
        rows.compactMap { r in r.value.map { "\(r.env)=\(Shell.quote($0))\n" } }.joined()
    }
}

/// For `bootstrap --show-secrets`: prints the credentials table (read back from the cluster)
/// to the result stream in the context's format. Returns false when a required one is missing.
@discardableResult
public func printCredentials(ctx: AppContext, api: any KubeAPI, deployment: Deployment?) async throws -> Bool {
    let rows = try await readCredentials(api: api, deployment: deployment)
    CredentialList(rows).write(to: ctx)
    return !rows.contains { !$0.present && !$0.optional }
}

/// `show-secrets --name`: exit 2 when the catalog has no credential of that name.
public func checkCredentialName(_ name: String?, catalog: SecretCatalog = .platform) throws {
    if let name, !catalog.displayNames.contains(name) {
        throw AphexError(
            .usage,
            "There is no credential named '\(name)'. Valid names: \(catalog.displayNames.joined(separator: ", ")).")
    }
}

/// `aphex show-secrets` with an explicit API (the CLI entry point builds it from the context).
public func showSecrets(
    ctx: AppContext, api: any KubeAPI, options: ShowSecretsOptions,
    deployment: Deployment? = nil, catalog: SecretCatalog = .platform
) async throws -> ExitStatus {
    try checkCredentialName(options.name, catalog: catalog)
    var rows = try await readCredentials(api: api, deployment: deployment, catalog: catalog)
    if let name = options.name {
        rows = rows.filter { $0.name == name }
        if rows.isEmpty {
            throw AphexError(
                .usage,
                """
                The credential '\(name)' does not apply to this cluster's deployment. Run `aphex show-secrets` to \
                list them.
                """
            )
        }
    }
    if !options.stdoutIsTTY {
        ctx.reporter.warn(
            """
            stdout is not a terminal: the platform's credentials are being written to a pipe or file. Keep that \
            file private (chmod 600) and delete it when you no longer need it.
            """
        )
    }
    CredentialList(rows).write(to: ctx)
    let missing = rows.filter { !$0.present && !$0.optional }
    if !missing.isEmpty {
        let generated = Set(catalog.secrets.flatMap { $0.keys.map(\.displayName) })
        var hint =
            """
            Run `aphex bootstrap` (it creates only what is missing and never changes stored values); see \
            docs/secrets.md.
            """
        if missing.contains(where: { !generated.contains($0.name) }) {
            hint +=
                """
                 Credentials aphex does not generate \
                (\(missing.filter { !generated.contains($0.name) }.map(\.name).joined(separator: ", "))) are \
                written by their installer: ArgoCD's initial admin secret is gone once deleted after the first \
                login.
                """
        }
        ctx.reporter.warn(
            """
            Not stored in the cluster: \
            \(missing.map { "\($0.name) (\($0.secretColumn) key \($0.key ?? "-"))" }.joined(separator: ", ")). 
            """
                + hint)
        return .failed
    }
    return .ok
}

// MARK: - Export

/// `aphex secrets export`: every catalog key the cluster stores, to a file created with mode
/// 0600 (refused if it exists, unless `force`: then replaced atomically, still 0600).
/// Exit 1 when a required key is missing (the file holds what exists).
public func exportSecrets(
    ctx: AppContext, api: any KubeAPI, file: String, force: Bool,
    deployment: Deployment? = nil, catalog: SecretCatalog = .platform
) async throws -> ExitStatus {
    func exists() -> AphexError {
        AphexError(.usage, "'\(file)' already exists. Choose another file, or pass --force to replace it.")
    }
    if !force && FileManager.default.fileExists(atPath: file) { throw exists() }
    let specs = catalog.secrets(for: deployment?.rawValue)
    let stored = try await readStoredSecrets(api: api, ids: specs.map(\.id))
    var secrets: [SecretID: [String: String]] = [:]
    var missing: [String] = []
    var keyCount = 0
    for spec in specs {
        if deployment == nil, spec.deployments != nil, stored[spec.id] == nil { continue }
        var data: [String: String] = [:]
        for k in spec.keys {
            if let v = stored[spec.id]?.data[k.key] {
                data[k.key] = v
                keyCount += 1
            } else {
                var optional = false
                if case .environment(_, let opt, _) = k.source { optional = opt }
                if !optional { missing.append(KeyRef(spec.id, k.key).description) }
            }
        }
        if !data.isEmpty { secrets[spec.id] = data }
    }
    guard !secrets.isEmpty else {
        throw AphexError(
            .failed,
            """
            No platform secret was found in the cluster, so nothing was exported (no file written). Check \
            --kubeconfig/--context select the platform's cluster, or run `aphex bootstrap` first.
            """
        )
    }
    let content = SecretsFile(exportedAt: RFC3339.format(ctx.host.clock.wallNow()), secrets: secrets).render()
    do {
        try PrivateFiles.write(Array(content.utf8), to: file, replace: force)
    } catch is PrivateFiles.FileExists {
        throw exists()
    }
    ctx.output(
        SecretsExportResult(
            file: file, keys: keyCount, secrets: secrets.keys.sorted().map(\.description),
            missing: missing))
    if !missing.isEmpty {
        ctx.reporter.warn(
            """
            The export is incomplete: not stored in the cluster: \(missing.joined(separator: ", ")). Run `aphex \
            bootstrap` to create them, then export again.
            """
        )
        return .failed
    }
    return .ok
}
