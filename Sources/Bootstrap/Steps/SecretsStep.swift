import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen

// The secrets step as the bootstrap pipeline runs it (the reading, planning and writing it
// shares with the secrets commands is in Secrets/SecretsStore.swift). Wire-up:
//   BootstrapSteps.secrets = SecretsPipeline.step
//   argocd step: try await SecretsPipeline.completeDeferred(state)   (argocd-secret's key)
//   showSecretsAtEnd:   try await SecretsPipeline.showSecretsAtEnd(state)
//   BootstrapRun.run, first: try SecretsPipeline.validateInputs(options, environment: ctx.host.environment)

extension BootstrapSteps {
    static let secrets = SecretsPipeline.step
}

public enum SecretsPipeline {
    /// Checks the secrets inputs (--secrets-from, --cloudflare-token-file) BEFORE the pipeline
    /// changes anything, so a malformed file is exit 2 with nothing created (call it at the
    /// start of `BootstrapRun.run`). The secrets step checks them again itself.
    public static func validateInputs(_ options: BootstrapOptions, environment: [String: String]) throws {
        if let file = options.secretsFrom { _ = try loadSecretsFile(file) }
        _ = try secretsEnvironment(environment, cloudflareTokenFile: options.cloudflareTokenFile)
    }

    /// "secrets": create the missing platform secrets, keep every stored value.
    public static let step = PipelineStep("secrets", "Generating and storing secrets") { state in
        try await run(state)
    }

    /// Runs the secrets step: reads the cluster, plans, writes (or, with --dry-run, lists names).
    public static func run(_ state: PipelineState) async throws -> StepResult {
        let env = try cloudflareEnvironment(state)  // warns once when the token is unset
        let kubectl = try state.kubectl()
        let report = try await applySecrets(
            ctx: state.app, api: try state.api(), kubectl: kubectl,
            deployment: state.options.deployment, importFile: state.options.secretsFrom,
            dryRun: state.dryRun, environment: env, warnSkipped: false,
            ownership: try state.ownership())
        state.warnings += report.warnings
        return stepResult(report, kubectl: kubectl)
    }

    /// Adds the keys that waited for another installer (argocd-secret's `oidc.dex.clientSecret`
    /// once ArgoCD's install created the Secret). Call after the ArgoCD install; a no-op when
    /// nothing is deferred. Never regenerates anything.
    public static func completeDeferred(_ state: PipelineState) async throws -> StepResult {
        let kubectl = try state.kubectl()
        let report = try await applySecrets(
            ctx: state.app, api: try state.api(), kubectl: kubectl,
            deployment: state.options.deployment, importFile: state.options.secretsFrom,
            dryRun: state.dryRun,
            environment: try secretsEnvironment(
                state.app.host.environment, cloudflareTokenFile: state.options.cloudflareTokenFile),
            warnSkipped: false)
        if state.dryRun {
            // The plan includes the ArgoCD install, which creates the Secret: show the keys
            // as the real run will add them.
            var planned = report
            planned.entries = report.entries.map { e in
                var e = e
                if e.action == .deferred { e.action = .addMissingKey }
                return e
            }
            return stepResult(planned, kubectl: kubectl)
        }
        if !report.deferred.isEmpty {
            throw AphexError(
                .failed,
                """
                \(report.deferred.joined(separator: ", ")) could not be added: the Secret does not exist although \
                its installer ran. Check `kubectl get secret -n argocd argocd-secret`, then re-run bootstrap.
                """
            )
        }
        return stepResult(report, kubectl: kubectl)
    }

    /// `bootstrap --show-secrets`: the credentials read back from the cluster (text table, or
    /// with --output json a `{"credentials": ...}` document).
    public static func showSecretsAtEnd(_ state: PipelineState) async throws {
        let complete = try await printCredentials(
            ctx: state.app, api: try state.api(), deployment: state.options.deployment)
        if !complete {
            state.reporter.warn(
                """
                Some credentials are not stored in the cluster (marked <missing>); see `aphex status` and \
                docs/secrets.md.
                """
            )
        }
    }

    static func stepResult(_ report: SecretsReport, kubectl: Kubectl) -> StepResult {
        let changing: Set<KeyAction> = [.create, .addMissingKey, .repair]
        let changes = report.entries.filter { changing.contains($0.action) }.map {
            "secret \($0.namespace)/\($0.secret) key \($0.key) (\($0.action.rawValue), \($0.origin?.rawValue ?? "-"))"
        }
        func merged(_ e: SecretsReportEntry) -> Bool {
            SecretCatalog.platform.spec(SecretID(namespace: e.namespace, name: e.secret))?.ownership == .mergeKeys
        }
        let changed = report.entries.filter { changing.contains($0.action) }
        var commands: [String] = []
        // New Secrets are created (POST: a 409 means another run stored it first, and its values
        // are kept); keys added to existing ones go in one server-side apply.
        for id in orderedUnique(
            changed.filter { !merged($0) && $0.action == .create }.map { "\($0.namespace)/\($0.secret)" })
        {
            let parts = id.split(separator: "/")
            commands.append(
                """
                POST \(ResourceRef.secrets.path(namespace: String(parts[0]))) (creates Secret \(parts[1]); values \
                in the request body)
                """
            )
        }
        if changed.contains(where: { !merged($0) && $0.action != .create }) {
            commands.append(Shell.quote(kubectl.applyArgv(forceConflicts: false)) + "   (manifests on stdin)")
        }
        for id in Set(changed.filter(merged).map { "\($0.namespace)/\($0.secret)" }).sorted() {
            let parts = id.split(separator: "/")
            commands.append(
                """
                PATCH \(ResourceRef.secrets.path(namespace: String(parts[0]), name: String(parts[1]))) (JSON \
                merge patch of the added keys)
                """
            )
        }
        return StepResult(report.outcome, report.summary, changes: changes, commands: commands)
    }
}

/// The elements in first-seen order, each once.
func orderedUnique(_ items: [String]) -> [String] {
    var seen: Set<String> = []
    return items.filter { seen.insert($0).inserted }
}

/// CLOUDFLARE_API_TOKEN from the environment or --cloudflare-token-file (never a flag value).
/// Returns the environment the secrets step should see.
func cloudflareEnvironment(_ state: PipelineState) throws -> [String: String] {
    var env = try secretsEnvironment(state.app.host.environment, cloudflareTokenFile: state.options.cloudflareTokenFile)
    if (env["CLOUDFLARE_API_TOKEN"] ?? "").isEmpty {
        var what =
            "the cloudflare-api-token Secret will not be created, so the organization controller cannot manage DNS"
        if state.options.deployment == .k3s {
            what += ", and cert-manager's ClusterIssuer (DNS-01) and external-dns will not work"
        }
        state.warnings.append(
            """
            CLOUDFLARE_API_TOKEN is not set: \(what). Set it (or pass --cloudflare-token-file) and re-run \
            bootstrap to add it.
            """
        )
        state.reporter.warn(state.warnings.last!)
    }
    return env
}
