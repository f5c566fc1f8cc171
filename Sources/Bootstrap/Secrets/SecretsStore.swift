import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen

// The bootstrap pipeline's "secrets" step and the cluster side of the secrets commands:
// read what the cluster stores, plan with SecretGen, write with kubectl (manifest on stdin)
// and a merge patch through the API. Secret values never reach argv, a log line or an error.

/// One key in a secrets report (names only, never values).
public struct SecretsReportEntry: Sendable, Equatable, Codable {
    public var namespace: String
    public var secret: String
    public var key: String
    /// The show-secrets name of the credential.
    public var name: String
    public var action: KeyAction
    public var origin: ValueOrigin?
    public var note: String?
}

/// What the secrets step (or `secrets repair`) did or, with --dry-run, would do.
public struct SecretsReport: Sendable, Equatable, Codable {
    public var deployment: String?
    public var dryRun: Bool
    public var entries: [SecretsReportEntry]
    /// Secrets written ("namespace/name"), in the order they were written.
    public var written: [String]
    public var warnings: [String]

    /// Keys per action (only actions that occurred).
    public var counts: [String: Int] {
        var c: [String: Int] = [:]
        for e in entries { c[e.action.rawValue, default: 0] += 1 }
        return c
    }

    public func count(_ action: KeyAction) -> Int { entries.filter { $0.action == action }.count }

    /// Keys waiting for another installer (argocd-secret before ArgoCD is installed): the
    /// pipeline calls the step again after that install.
    public var deferred: [String] {
        entries.filter { $0.action == .deferred }.map { "\($0.namespace)/\($0.secret)[\($0.key)]" }
    }

    /// Nothing changed (or, with dry-run, nothing would change).
    public var unchanged: Bool {
        !entries.contains { [.create, .addMissingKey, .repair].contains($0.action) }
    }

    /// The step outcome for the pipeline's reporter.
    public var outcome: StepOutcome { dryRun ? (unchanged ? .unchanged : .planned) : (unchanged ? .unchanged : .done) }

    /// One line: "created 11 keys, kept 2, 1 deferred until argocd/argocd-secret exists, skipped 1 (optional, not
    /// set)".
    public var summary: String {
        func keys(_ n: Int) -> String { n == 1 ? "1 key" : "\(n) keys" }
        var parts: [String] = []
        let n = (create: count(.create), add: count(.addMissingKey), repair: count(.repair))
        if n.create > 0 { parts.append((dryRun ? "would create " : "created ") + keys(n.create)) }
        if n.add > 0 {
            parts.append((dryRun ? "would add " : "added ") + "\(keys(n.add)) missing from existing Secrets")
        }
        if n.repair > 0 { parts.append((dryRun ? "would repair " : "repaired ") + keys(n.repair)) }
        if count(.keep) > 0 { parts.append("kept \(count(.keep))") }
        if count(.derivedMismatch) > 0 {
            parts.append("\(keys(count(.derivedMismatch))) differ from their source (run `aphex secrets repair`)")
        }
        if count(.deferred) > 0 {
            let secrets = Set(deferred.map { String($0.prefix { $0 != "[" }) }).sorted().joined(separator: ", ")
            parts.append("\(count(.deferred)) deferred until \(secrets) exists")
        }
        if count(.skip) > 0 { parts.append("skipped \(count(.skip)) (optional, not set)") }
        if count(.missing) > 0 { parts.append("\(keys(count(.missing))) missing") }
        return parts.isEmpty ? "nothing to do" : parts.joined(separator: ", ")
    }

    init(deployment: String?, dryRun: Bool, plan: SecretPlan, written: [String]) {
        self.deployment = deployment
        self.dryRun = dryRun
        self.entries = plan.decisions.map {
            SecretsReportEntry(
                namespace: $0.ref.secret.namespace, secret: $0.ref.secret.name, key: $0.ref.key,
                name: $0.displayName, action: $0.action, origin: $0.origin, note: $0.note)
        }
        self.written = written
        self.warnings = plan.warnings
    }
}

// MARK: - Reading

/// Reads the given Secrets; absent ones are left out of the result. Values are decoded from
/// base64 (catalog values are text).
public func readStoredSecrets(api: any KubeAPI, ids: [SecretID]) async throws -> [SecretID: StoredSecret] {
    var out: [SecretID: StoredSecret] = [:]
    for id in ids {
        let obj: JSON?
        do {
            obj = try await api.get(.secrets, namespace: id.namespace, name: id.name)
        } catch let e as KubeAPIError {
            throw AphexError(
                .failed,
                """
                Could not read Secret \(id) from the cluster: \(e). Check that the cluster is reachable and that \
                your credentials may read Secrets in namespace \(id.namespace) (`kubectl auth can-i get secrets \
                -n \(id.namespace)`).
                """
            )
        }
        guard let obj else { continue }
        do {
            out[id] = try StoredSecret(secret: obj)
        } catch let e as StoredSecret.NotBase64 {
            throw AphexError(
                .failed,
                """
                Secret \(id) key \(e.key) holds data that is not base64 (the API server never returns that). \
                Inspect it with `kubectl get secret -n \(id.namespace) \(id.name) -o yaml`.
                """
            )
        }
    }
    return out
}

extension StoredSecret {
    /// A key of a Secret's `data` whose value is not base64.
    struct NotBase64: Error, Equatable {
        var key: String
    }

    /// A Secret object as the catalog reads it: its `data` decoded from base64 (catalog values
    /// are text) and its annotations. Throws `NotBase64` naming a key that does not decode.
    init(secret obj: JSON) throws {
        var data: [String: String] = [:]
        for (key, encoded) in obj["data"]?.stringMap ?? [:] {
            guard let bytes = SecretEncoding.decodeBase64(encoded) else { throw NotBase64(key: key) }
            data[key] = String(decoding: bytes, as: UTF8.self)
        }
        self.init(data: data, annotations: obj.annotations)
    }
}

/// Loads a `--secrets-from` file. Malformed, or a value without the shape of the catalog key it
/// is for: `AphexError(.usage)` naming the problem, never a value (exit 2).
public func loadSecretsFile(_ path: String, reporter: (any Reporter)? = nil, catalog: SecretCatalog = .platform) throws
    -> SecretsFile
{
    // Not read at all when it is bigger than any export (a device, a wrong file, a huge one).
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
        size.intValue > SecretsFile.maxBytes
    {
        throw AphexError(
            .usage,
            """
            The secrets file '\(path)' cannot be used: it is \(size.intValue) bytes, more than an export can be \
            (\(SecretsFile.maxBytes / 1024) KiB). Pass a file written by `aphex secrets export --file FILE` \
            (unchanged), or drop --secrets-from to generate new credentials. Nothing was written to the cluster.
            """
        )
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw AphexError(
            .usage,
            """
            The secrets file '\(path)' does not exist or is not readable. Pass a file written by `aphex secrets \
            export --file FILE`, or drop --secrets-from to generate new credentials. Nothing was written to the \
            cluster.
            """
        )
    }
    if let attrs = try? FileManager.default.attributesOfItem(atPath: path),
        let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0
    {
        reporter?.warn(
            """
            The secrets file '\(path)' is readable by other users (mode \(String(mode, radix: 8))): restrict it \
            with `chmod 600 \(Shell.quote(path))`.
            """
        )
    }
    do {
        let file = try SecretsFile.parse([UInt8](data), source: path)
        try file.validateValues(against: catalog, source: path)
        return file
    } catch let e as SecretGenError {
        throw AphexError(.usage, e.description)
    }
}

// MARK: - Planning

/// Reads the cluster and plans the secrets step. Pure apart from the reads.
/// - environment: where CLOUDFLARE_API_TOKEN is looked up (the process environment, with
///   --cloudflare-token-file's content put in by the caller).
public func planSecrets(
    api: any KubeAPI, deployment: Deployment, imported: SecretsFile?,
    environment: [String: String], catalog: SecretCatalog = .platform,
    generator: SecretGenerator = SecretGenerator()
) async throws -> SecretPlan {
    let ids = catalog.secrets(for: deployment.rawValue).map(\.id)
    let existing = try await readStoredSecrets(api: api, ids: ids)
    do {
        return try SecretGen.planSecrets(
            SecretsPlanInput(
                catalog: catalog, deployment: deployment.rawValue, existing: existing,
                imported: imported, environment: environment),
            generator: generator)
    } catch let e as SecretGenError {
        if case .missingEnvironment = e { throw AphexError(.usage, e.description) }
        throw AphexError(.failed, e.description)
    }
}

// MARK: - Applying

/// The secrets step of `aphex bootstrap`: create what is missing, keep what is stored.
///
/// Resumable and idempotent: a re-run keeps every stored value and completes what an
/// interrupted run left out; after success a re-run writes nothing. argocd-secret's key is
/// `deferred` while ArgoCD is not installed: call this again after the ArgoCD install (the
/// second call only adds that key). With `dryRun` nothing is written and the report lists
/// names and actions only.
///
/// - importFile: `--secrets-from` (read and validated before anything else: a malformed file
///   is exit 2 with nothing written).
/// - cloudflareTokenFile: `--cloudflare-token-file`; its first line overrides $CLOUDFLARE_API_TOKEN.
public func applySecrets(
    ctx: AppContext, api: any KubeAPI, kubeconfig: String, deployment: Deployment,
    importFile: String?, dryRun: Bool, cloudflareTokenFile: String? = nil,
    catalog: SecretCatalog = .platform,
    generator: SecretGenerator = SecretGenerator()
) async throws -> SecretsReport {
    try await applySecrets(
        ctx: ctx, api: api,
        kubectl: Kubectl(kubeconfig: kubeconfig, context: ctx.target.context, runner: ctx.runner),
        deployment: deployment, importFile: importFile, dryRun: dryRun,
        environment: try secretsEnvironment(ctx.host.environment, cloudflareTokenFile: cloudflareTokenFile),
        catalog: catalog, generator: generator)
}

/// The same with an explicit kubectl (the pipeline's kubeconfig and context) and environment.
/// - warnSkipped: false when the caller already warned that CLOUDFLARE_API_TOKEN is unset.
/// - ownership: aphex's record of what it created; the Secrets this call creates go into it.
public func applySecrets(
    ctx: AppContext, api: any KubeAPI, kubectl: Kubectl, deployment: Deployment,
    importFile: String?, dryRun: Bool, environment: [String: String],
    warnSkipped: Bool = true, catalog: SecretCatalog = .platform,
    generator: SecretGenerator = SecretGenerator(),
    ownership: OwnershipRecord? = nil
) async throws -> SecretsReport {
    let imported = try importFile.map { try loadSecretsFile($0, reporter: ctx.reporter) }
    var raced: [SecretID] = []
    var written: [String] = []
    while true {
        var plan = try await planSecrets(
            api: api, deployment: deployment, imported: imported,
            environment: environment, catalog: catalog, generator: generator)
        if !warnSkipped {
            let skipped = plan.decisions.filter { $0.action == .skip }.map { "\($0.ref) not created" }
            plan.warnings.removeAll { w in skipped.contains { w.hasPrefix($0) } }
        }
        if raced.isEmpty { for w in plan.warnings { ctx.reporter.warn(w) } }
        if dryRun {
            for d in plan.decisions where d.action != .keep {
                ctx.reporter.info("plan: \(d.action.rawValue) \(d.ref)" + (d.origin.map { " (\($0.rawValue))" } ?? ""))
            }
            return SecretsReport(deployment: deployment.rawValue, dryRun: true, plan: plan, written: [])
        }
        do {
            written += try await writeSecrets(ctx: ctx, api: api, kubectl: kubectl, plan: plan, ownership: ownership)
            var report = SecretsReport(deployment: deployment.rawValue, dryRun: false, plan: plan, written: written)
            if !raced.isEmpty {
                report.warnings.append(
                    """
                    Another run stored \(raced.map(\.description).joined(separator: ", ")) while this one was \
                    about to: its values were kept (read back from the cluster), not replaced.
                    """
                )
            }
            return report
        } catch let race as SecretCreateRace {
            // Someone else stored this Secret first: never replace it. Plan again from what the
            // cluster now holds (its values, and copies of them).
            raced.append(race.id)
            written += race.written
            ctx.reporter.info(
                """
                Secret \(race.id) was stored by another run while this one was about to create it: keeping its \
                values and planning again from the cluster.
                """
            )
            if raced.count > 5 {
                throw AphexError(
                    .failed,
                    """
                    Another writer kept storing the platform's Secrets while this run was creating them \
                    (\(raced.map(\.description).joined(separator: ", "))). Nothing stored was replaced. Stop the \
                    other run (or wait for it), then re-run.
                    """
                )
            }
        }
    }
}

/// The process environment with --cloudflare-token-file's first line as CLOUDFLARE_API_TOKEN.
func secretsEnvironment(_ base: [String: String], cloudflareTokenFile: String?) throws -> [String: String] {
    var environment = base
    if let tokenFile = cloudflareTokenFile {
        environment["CLOUDFLARE_API_TOKEN"] = try readCloudflareTokenFile(tokenFile)
    }
    return environment
}

/// The Cloudflare API token in a `--cloudflare-token-file` (the command line checks it with
/// this too, and every command reads it with this): `~` expanded; the file must exist and be
/// readable, and hold the token on one line (white space and blank lines around it are
/// dropped). Else a usage error naming the fix.
public func readCloudflareTokenFile(_ file: String) throws -> String {
    let path = (file as NSString).expandingTildeInPath
    guard FileManager.default.isReadableFile(atPath: path),
        let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) })
    else {
        throw AphexError(
            .usage,
            """
            --cloudflare-token-file '\(file)' does not exist or is not readable. Create it with the token on one \
            line (mode 600), or set CLOUDFLARE_API_TOKEN instead.
            """
        )
    }
    let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !token.isEmpty, !token.contains(where: \.isNewline) else {
        throw AphexError(
            .usage,
            """
            --cloudflare-token-file '\(file)' must hold the token on one line. Fix the file, or set \
            CLOUDFLARE_API_TOKEN instead.
            """
        )
    }
    return token
}

/// Removes every secret value (and its base64 form) from a text that is about to be shown.
/// A value shorter than 4 characters cannot be cut out: replacing every "ab" wrecks the text
/// and shows where the value was (which tells the value). A text holding one is withheld whole.
func redact(_ text: String, values: some Sequence<String>) -> String {
    var out = text
    var short: [String] = []
    for v in values where !v.isEmpty {
        if v.count < 4 {
            short.append(v)
            continue
        }
        out = out.replacingOccurrences(of: v, with: "[redacted]")
        out = out.replacingOccurrences(of: SecretEncoding.base64(Array(v.utf8)), with: "[redacted]")
    }
    for v in short where out.contains(v) || out.contains(SecretEncoding.base64(Array(v.utf8))) {
        return "[details withheld: they contain a secret value too short to cut out]"
    }
    return out
}

/// Another writer stored a Secret this run was about to create (`POST` answered 409
/// AlreadyExists): its values are the ones to keep. The caller reads the cluster again and
/// plans from what it now holds.
struct SecretCreateRace: Error {
    var id: SecretID
    /// What this run had written before the race ("namespace/name").
    var written: [String] = []
}

/// Writes a plan, in its order (sources before their copies): a Secret that does not exist is
/// created with `POST` (never applied: when another run stored it first the API server
/// answers 409 and that run's values win, see `SecretCreateRace`); keys added to aphex's
/// existing Secrets go in one server-side apply (manifests on stdin); keys added to Secrets
/// another installer owns go in a JSON merge patch. Then the written keys are read back to
/// prove they were stored as planned.
func writeSecrets(
    ctx: AppContext, api: any KubeAPI, kubectl: Kubectl, plan: SecretPlan,
    ownership: OwnershipRecord? = nil
) async throws -> [String] {
    let written: [String]
    // The Secrets about to be created go into aphex's ownership record first (pending), so a
    // run killed right after a create still knows the Secret is aphex's.
    func skeleton(_ id: SecretID) -> JSON {
        [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": ["name": .string(id.name), "namespace": .string(id.namespace)]
        ]
    }
    let creates = plan.writes.filter { $0.method == .serverSideApply && !$0.exists }
    if let ownership, !creates.isEmpty {
        try await ownership.prepare(creates.map { skeleton($0.id) }, knownAbsent: true)
    }
    do {
        written = try await writeSecretsInOrder(ctx: ctx, api: api, kubectl: kubectl, plan: plan, ownership: ownership)
    } catch let race as SecretCreateRace {
        // Another run's Secret: it records it itself.
        try? await ownership?.forget([
            OwnedObject(
                apiVersion: "v1", kind: "Secret", resource: "secrets",
                namespace: race.id.namespace, name: race.id.name)
        ])
        try? await ownership?.flush()
        throw race
    } catch {
        try? await ownership?.flush()
        throw error
    }
    try await ownership?.flush()
    return written
}

private func writeSecretsInOrder(
    ctx: AppContext, api: any KubeAPI, kubectl: Kubectl, plan: SecretPlan,
    ownership: OwnershipRecord?
) async throws -> [String] {
    let secretValues = Set(plan.values.values)
    var written: [String] = []
    let now = RFC3339.format(ctx.host.clock.wallNow())
    var pendingApplies: [SecretWrite] = []

    func flushApplies() async throws {
        guard !pendingApplies.isEmpty else { return }
        let applies = pendingApplies
        pendingApplies = []
        let manifest = SecretManifest.yaml(applies, createdAt: now)
        let argv = kubectl.applyArgv(forceConflicts: applies.contains { $0.forceConflicts })
        do {
            _ = try await kubectl.runner.run(Command(argv, stdin: Array(manifest.utf8), timeout: .seconds(120)))
        } catch let e as CommandError {
            let names = applies.map(\.id.description).joined(separator: ", ")
            throw AphexError(
                .failed,
                """
                Storing the Secrets \(names) failed. Values already stored are kept: fix the cause and re-run \
                (nothing is regenerated).
                """,
                detail: redact(e.description, values: secretValues))
        }
        written += applies.map(\.id.description)
        ctx.reporter.debug(
            """
            applied Secrets \(applies.map(\.id.description).joined(separator: ", ")) (server-side, field manager \
            aphex)
            """
        )
    }

    for w in plan.writes where w.method == .serverSideApply {
        if w.exists {
            pendingApplies.append(w)
            continue
        }
        try await flushApplies()
        do {
            let created = try await createSecret(
                ctx: ctx, api: api, write: w, createdAt: now, secretValues: secretValues)
            if let created { try await ownership?.created([created]) }
        } catch var race as SecretCreateRace {
            race.written = written
            throw race
        }
        written.append(w.id.description)
    }
    try await flushApplies()
    for w in plan.writes where w.method == .mergePatch {
        let path =
            ResourceRef.secrets.path(namespace: w.id.namespace, name: w.id.name) + "?fieldManager=\(FieldManager.apply)"
        let response: HTTPResponse
        do {
            response = try await api.request(
                "PATCH", path: path, body: SecretManifest.mergePatch(w),
                contentType: "application/merge-patch+json")
        } catch {
            throw AphexError(
                .failed,
                """
                Adding \(w.changedKeys.joined(separator: ", ")) to Secret \(w.id) failed: \
                \(redact(String(describing: error), values: secretValues)). Re-run to retry; stored values are kept.
                """
            )
        }
        guard (200..<300).contains(response.status) else {
            let message = (try? JSON.parse(response.body))?["message"]?.string ?? response.text
            throw AphexError(
                .failed,
                """
                Adding \(w.changedKeys.joined(separator: ", ")) to Secret \(w.id) failed (HTTP \
                \(response.status)): \(redact(message, values: secretValues)). Re-run to retry; stored values are \
                kept.
                """
            )
        }
        written.append(w.id.description)
        ctx.reporter.debug("merge-patched Secret \(w.id) (keys \(w.changedKeys.joined(separator: ", ")))")
    }
    // Read back: the step is only done when the cluster holds what was planned.
    if !plan.writes.isEmpty {
        let stored = try await readStoredSecrets(api: api, ids: plan.writes.map(\.id))
        for w in plan.writes {
            for key in w.changedKeys where stored[w.id]?.data[key] != w.data[key] {
                throw AphexError(
                    .failed,
                    """
                    Secret \(w.id) key \(key) was written but the cluster does not hold the written value \
                    (another controller or an admission webhook may be changing it). Inspect it with `kubectl get \
                    secret -n \(w.id.namespace) \(w.id.name) -o yaml`, then re-run.
                    """
                )
            }
        }
    }
    return written
}

/// `POST /api/v1/namespaces/NS/secrets?fieldManager=aphex` with the Secret in the body.
/// 409 AlreadyExists: another writer stored it first (`SecretCreateRace`).
/// Returns the created object as the API server answered (its metadata: the uid).
@discardableResult
func createSecret(
    ctx: AppContext, api: any KubeAPI, write w: SecretWrite, createdAt now: String,
    secretValues: Set<String>
) async throws -> JSON? {
    let path = ResourceRef.secrets.path(namespace: w.id.namespace) + "?fieldManager=\(FieldManager.apply)"
    let response: HTTPResponse
    do {
        response = try await api.request(
            "POST", path: path, body: SecretManifest.json(w, createdAt: now),
            contentType: "application/json")
    } catch {
        throw AphexError(
            .failed,
            """
            Creating Secret \(w.id) failed: \(redact(String(describing: error), values: secretValues)). Values \
            already stored are kept: fix the cause and re-run (nothing is regenerated).
            """
        )
    }
    if response.status == 409 { throw SecretCreateRace(id: w.id) }
    guard (200..<300).contains(response.status) else {
        let message = (try? JSON.parse(response.body))?["message"]?.string ?? response.text
        throw AphexError(
            .failed,
            """
            Creating Secret \(w.id) failed (HTTP \(response.status)): \(redact(message, values: secretValues)). \
            Values already stored are kept: fix the cause and re-run (nothing is regenerated).
            """
        )
    }
    ctx.reporter.debug("created Secret \(w.id) (POST, field manager aphex)")
    // Only the metadata is kept (the body holds the values).
    guard let obj = try? JSON.parse(response.body) else { return nil }
    return ["apiVersion": "v1", "kind": "Secret", "metadata": obj["metadata"] ?? [:]]
}

// MARK: - Health

/// Whether the stored secrets are complete and consistent (`aphex status`).
/// `deployment` nil: deployment-specific Secrets are judged only when they exist.
public func secretsHealth(api: any KubeAPI, deployment: Deployment?, catalog: SecretCatalog = .platform) async throws
    -> SecretsHealth
{
    let ids = catalog.secrets(for: deployment?.rawValue).map(\.id)
    let existing = try await readStoredSecrets(api: api, ids: ids)
    return SecretsHealth.assess(catalog: catalog, deployment: deployment?.rawValue, existing: existing)
}

// MARK: - Repair

/// `aphex secrets repair`: copies (argocd-secret's and the Tekton dashboard's OIDC client
/// secrets, dex's authentik-client-secret) take their source's stored value. Nothing is
/// generated and no source changes.
public func repairSecrets(
    ctx: AppContext, api: any KubeAPI, kubeconfig: String, deployment: Deployment? = nil,
    dryRun: Bool, catalog: SecretCatalog = .platform
) async throws -> SecretsReport {
    let ids = catalog.secrets(for: deployment?.rawValue).map(\.id)
    let existing = try await readStoredSecrets(api: api, ids: ids)
    let plan = SecretGen.planRepair(catalog: catalog, deployment: deployment?.rawValue, existing: existing)
    for w in plan.warnings { ctx.reporter.warn(w) }
    if dryRun {
        return SecretsReport(deployment: deployment?.rawValue, dryRun: true, plan: plan, written: [])
    }
    let kubectl = Kubectl(kubeconfig: kubeconfig, context: ctx.target.context, runner: ctx.runner)
    let written: [String]
    do {
        written = try await writeSecrets(ctx: ctx, api: api, kubectl: kubectl, plan: plan)
    } catch let race as SecretCreateRace {
        throw AphexError(
            .failed,
            """
            Secret \(race.id) was created by another run while `secrets repair` was creating it; nothing was \
            replaced. Run `aphex secrets repair` again.
            """
        )
    }
    return SecretsReport(deployment: deployment?.rawValue, dryRun: false, plan: plan, written: written)
}
