import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct ShowSecrets: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-secrets",
        abstract: "Print the platform's generated credentials, read back from the cluster.",
        discussion: """
            Reads every Secret of the catalog (docs/secrets.md) plus ArgoCD's initial admin \
            password from the cluster: it never shows a value that is not stored. Missing \
            secrets are listed as missing (exit 1). Warns on stderr when stdout is not a terminal.

            Examples:
              aphex show-secrets
              aphex show-secrets --name argocd-admin-password
              aphex show-secrets --output env > .env      (KEY=VALUE lines for CI)
              aphex show-secrets --output json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Option(
        name: .long,
        help: ArgumentHelp("Show only this credential (see the NAME column of the table).", valueName: "name"))
    var name: String?

    func validate() throws {
        if let n = name, n.isEmpty {
            throw ValidationError("--name needs a credential name; run `aphex show-secrets` to list them.")
        }
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        var o = ShowSecretsOptions()
        o.name = name
        try checkCredentialName(name)  // exit 2 before the cluster is contacted
        try finish(try await showSecrets(ctx: ctx, api: try ctx.kubeAPI(), options: o))
    }
}
