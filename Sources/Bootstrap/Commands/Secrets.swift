import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen

/// How the secrets commands get their Kubernetes API client. The default builds the real
/// client from the context's kubeconfig; tests replace it with a fake.
public enum SecretsCommandSeam {
    nonisolated(unsafe) public static var makeAPI: @Sendable (AppContext) async throws -> any KubeAPI = { ctx in
        try defaultMakeAPI(ctx.host, ctx.resolvedKubeconfig(), ctx.target.context)
    }
}

extension Commands {
    public static func showSecrets(_ ctx: AppContext, _ options: ShowSecretsOptions) async throws -> ExitStatus {
        if let name = options.name, !SecretCatalog.platform.displayNames.contains(name) {
            throw AphexError(.usage, "There is no credential named '\(name)'. Valid names: \(SecretCatalog.platform.displayNames.joined(separator: ", ")).")
        }
        let api = try await SecretsCommandSeam.makeAPI(ctx)
        return try await Bootstrap.showSecrets(ctx: ctx, api: api, options: options)
    }

    public static func secretsExport(_ ctx: AppContext, file: String, force: Bool) async throws -> ExitStatus {
        let api = try await SecretsCommandSeam.makeAPI(ctx)
        return try await exportSecrets(ctx: ctx, api: api, file: file, force: force)
    }

    public static func secretsRepair(_ ctx: AppContext, dryRun: Bool) async throws -> ExitStatus {
        let lock = dryRun ? nil : try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex secrets repair")
        defer { lock?.release() }
        let api = try await SecretsCommandSeam.makeAPI(ctx)
        let report = try await repairSecrets(ctx: ctx, api: api, kubeconfig: ctx.resolvedKubeconfig(), dryRun: dryRun)
        if ctx.format == .json {
            ctx.writeJSON(report.json)
        } else {
            let changed = report.entries.filter { [.repair, .create, .addMissingKey].contains($0.action) }
            if changed.isEmpty {
                ctx.output.write("Nothing to repair: every copy equals its source.\n")
            }
            for e in changed {
                let verb = dryRun ? "would set" : "set"
                ctx.output.write("\(verb) \(e.namespace)/\(e.secret)[\(e.key)] to its source's value\n")
            }
        }
        let unrepairable = report.entries.contains { $0.note?.contains("is not stored: nothing to copy") == true }
        return unrepairable ? .failed : .ok
    }
}
