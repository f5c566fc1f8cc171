import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The namespaces the platform needs before ArgoCD syncs (PLATFORM.md). One place.
public let platformNamespaces = ["argocd", "auth-system", "tekton-pipelines", "platform-system",
                                 "external-secrets", "cert-manager"]

public let managedByLabel = ("app.kubernetes.io/managed-by", "aphex")

/// The Namespaces to create, as YAML documents separated by `---` lines (kubectl's YAML mode:
/// the stream starts with a letter, not `{`).
func namespacesManifest(_ names: [String]) -> String {
    names.map { name in
        """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: \(name)
          labels:
            \(managedByLabel.0): \(managedByLabel.1)
        """
    }.joined(separator: "\n---\n") + "\n"
}

enum CoreSteps {
    /// prerequisites: the required doctor checks for this run; a failure is exit 4.
    static let prerequisites = PipelineStep("prerequisites", "Checking prerequisites") { state in
        var options = DoctorOptions()
        options.deployment = state.options.deployment
        options.useExisting = state.options.useExisting
        options.gpu = state.options.k3s.gpu
        let report = await Doctor(host: state.app.host).run(options)
        for check in report.checks where check.verdict == .warn {
            state.reporter.warn("\(check.detail). Fix: \(check.fix)")
        }
        let failed = report.checks.filter { $0.required && $0.verdict == .fail }
        if !failed.isEmpty {
            let lines = failed.map { "  ✗ \($0.title): \($0.detail)\n    fix: \($0.fix)" }.joined(separator: "\n")
            throw AphexError(.prerequisite,
                             "\(failed.count) prerequisite(s) for --deployment \(state.options.deployment.rawValue) are missing; nothing was changed. Fix them (run `aphex doctor --deployment \(state.options.deployment.rawValue)` to re-check), then re-run.",
                             detail: lines)
        }
        let passed = report.checks.filter { $0.verdict == .pass }.count
        return StepResult(.done, "\(passed) checks passed")
    }

    /// namespaces: create the platform namespaces that are missing (server-side apply).
    static let namespaces = PipelineStep("namespaces", "Creating namespaces") { state in
        // Its own field manager (FieldManager.namespaces says why).
        let kubectl = try state.kubectl()
        let existing: Set<String>
        do {
            existing = Set(try await state.api().list(.namespaces).compactMap(\.name))
        } catch where state.dryRun {
            existing = [] // a dry run against a cluster that does not exist yet
        }
        let missing = platformNamespaces.filter { !existing.contains($0) }
        if missing.isEmpty { return StepResult(.unchanged, "all \(platformNamespaces.count) exist") }
        let yaml = namespacesManifest(missing)
        let command = Shell.quote(kubectl.applyArgv(fieldManager: FieldManager.namespaces)) + "  < namespaces.yaml"
        if state.dryRun {
            return StepResult(.planned, "would create \(missing.joined(separator: ", "))",
                              changes: missing.map { "namespace/\($0)" }, commands: [command])
        }
        // Recorded as aphex's before they are created (a kill right after the create keeps
        // them), with their uids after. Namespaces that existed are never touched.
        let ownership = try state.ownership()
        try await ownership?.prepare(missing.map { ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string($0)]] },
                                     knownAbsent: true)
        let out = try await kubectl.apply(yaml, fieldManager: FieldManager.namespaces, outputJSON: ownership != nil)
        if let ownership {
            try await ownership.created(Kubectl.objects(fromJSONOutput: out))
            try await ownership.flush()
        }
        return StepResult(.done, "created \(missing.joined(separator: ", "))", changes: missing.map { "namespace/\($0)" },
                          commands: [command])
    }
}

/// CLOUDFLARE_API_TOKEN from the environment or --cloudflare-token-file (never a flag value).
/// Returns the environment the secrets step should see.
func cloudflareEnvironment(_ state: PipelineState) throws -> [String: String] {
    var env = state.app.host.environment
    if let file = state.options.cloudflareTokenFile {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw AphexError.usage("--cloudflare-token-file '\(file)' could not be read. Check its permissions, or set CLOUDFLARE_API_TOKEN instead.")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if token.isEmpty || token.contains("\n") {
            throw AphexError.usage("--cloudflare-token-file '\(file)' must hold the token on one line. Fix the file, or set CLOUDFLARE_API_TOKEN instead.")
        }
        env["CLOUDFLARE_API_TOKEN"] = token
    }
    if (env["CLOUDFLARE_API_TOKEN"] ?? "").isEmpty {
        var what = "the cloudflare-api-token Secret will not be created, so the organization controller cannot manage DNS"
        if state.options.deployment == .k3s {
            what += ", and cert-manager's ClusterIssuer (DNS-01) and external-dns will not work"
        }
        state.warnings.append("CLOUDFLARE_API_TOKEN is not set: \(what). Set it (or pass --cloudflare-token-file) and re-run bootstrap to add it.")
        state.reporter.warn(state.warnings.last!)
    }
    return env
}
