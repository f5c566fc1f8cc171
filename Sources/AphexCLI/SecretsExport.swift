import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct SecretsExport: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every catalog secret to a file (mode 0600) for `bootstrap --secrets-from`.",
        discussion: """
            Keep the file somewhere safe: rebuilding a cluster with `aphex bootstrap \
            --secrets-from FILE` keeps the same credentials, so PostgreSQL data and OIDC clients \
            survive.

            Example:
              aphex secrets export --file ~/aphex-secrets.json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Option(name: .long, help: ArgumentHelp("File to write (created with mode 0600).", valueName: "file"))
    var file: String

    @Flag(name: .long, help: "Overwrite the file if it exists.")
    var force = false

    func validate() throws {
        let path = (file as NSString).expandingTildeInPath
        if FileManager.default.fileExists(atPath: path) && !force {
            throw ValidationError("'\(file)' already exists. Choose another file, or pass --force to overwrite it.")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            throw ValidationError(
                "The directory of '\(file)' does not exist. Create it first (mkdir -p \(Shell.quote(dir))).")
        }
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        try finish(
            try await exportSecrets(
                ctx: ctx, api: try ctx.kubeAPI(), file: (file as NSString).expandingTildeInPath,
                force: force))
    }
}
