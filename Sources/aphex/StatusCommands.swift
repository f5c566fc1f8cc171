import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Report the platform's health wave by wave; the exit code says converged (0) or not (1).",
        discussion: """
        One snapshot: cluster reachable, ArgoCD and Tekton components, each wave and \
        Application (judged child by child, never by platform-root alone), the cert-manager \
        webhook proof, and whether the generated secrets are present and consistent.

        Examples:
          aphex status
          aphex status --output json | jq '.converged'
          aphex status --watch
          aphex status --wave 10
          aphex status --app cert-manager
          aphex status --junit status-junit.xml
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Flag(name: .long, help: "Redraw the report until interrupted (Ctrl-C).")
    var watch = false

    @Option(name: .long, help: ArgumentHelp("Seconds between refreshes with --watch (at least 1).", valueName: "seconds"))
    var interval: Int = 2

    @Option(name: .long, help: ArgumentHelp("Report only this sync wave.", valueName: "n"))
    var wave: Int?

    @Option(name: .long, help: ArgumentHelp("Report only this Application.", valueName: "name"))
    var app: String?

    @OptionGroup(title: "CI reports") var reports: ReportFlags

    func validate() throws {
        try global.rejectEnvOutput(command: "status")
        if interval < 1 || interval > 3600 {
            throw ValidationError("--interval \(interval) is out of range: give 1 to 3600 seconds (aphex polls at most once a second).")
        }
        if wave != nil && app != nil {
            throw ValidationError("'--wave' and '--app' are mutually exclusive: focus on one wave or one Application.")
        }
        if let a = app, !Validate.isDNS1123Label(a) && a.range(of: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, options: .regularExpression) == nil {
            throw ValidationError("--app '\(a)' is not a valid Application name. List them with `aphex status`.")
        }
        if watch && global.output == .json {
            // JSON with --watch prints one document per refresh (JSON lines); allowed.
        }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var o = StatusOptions()
        o.watch = watch
        o.interval = .seconds(interval)
        o.wave = wave
        o.app = app
        o.report = reports.library
        try finish(try await Commands.status(ctx, o))
    }
}

struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until every wave of the platform is converged (after `bootstrap --no-wait`, or in CI).",
        discussion: """
        Watches the child Applications of platform-root wave by wave. Exits 0 when all are \
        Synced and Healthy, 1 at once when one fails (Degraded after Healthy, a failed sync), \
        and 3 on timeout with a diagnosis of what is stuck and why.

        Examples:
          aphex wait --timeout 20m
          aphex wait --wave 10 --timeout 5m --output json
          aphex wait --timeout 20m --junit aphex-junit.xml --timeline aphex-timeline.svg
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Option(name: .long, help: ArgumentHelp("Give up after this long, e.g. 20m, 90s, 1h30m.", valueName: "duration"))
    var timeout: String = "20m"

    @Option(name: .long, help: ArgumentHelp("Wait only up to and including this sync wave.", valueName: "n"))
    var wave: Int?

    @OptionGroup(title: "CI reports") var reports: ReportFlags

    func validate() throws {
        try global.rejectEnvOutput(command: "wait")
        _ = try validateTimeout(timeout)
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var o = WaitOptions()
        o.timeout = parseDuration(timeout)!
        o.wave = wave
        o.report = reports.library
        try finish(try await Commands.wait(ctx, o))
    }
}

struct ShowSecretsCommand: AsyncParsableCommand {
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

    @Option(name: .long, help: ArgumentHelp("Show only this credential (see the NAME column of the table).", valueName: "name"))
    var name: String?

    func validate() throws {
        if let n = name, n.isEmpty { throw ValidationError("--name needs a credential name; run `aphex show-secrets` to list them.") }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        var o = ShowSecretsOptions()
        o.name = name
        try finish(try await Commands.showSecrets(ctx, o))
    }
}

struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Export the platform credentials, or repair derived keys that disagree with their source.",
        subcommands: [SecretsExport.self, SecretsRepair.self])
}

struct SecretsExport: AsyncParsableCommand {
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
            throw ValidationError("The directory of '\(file)' does not exist. Create it first (mkdir -p \(Shell.quote(dir))).")
        }
    }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.secretsExport(ctx, file: (file as NSString).expandingTildeInPath, force: force))
    }
}

struct SecretsRepair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Make derived keys (ArgoCD's and the Tekton dashboard's OIDC client secrets) equal their source in dex-secrets.",
        discussion: "Only derived copies are changed; source values are never touched.\n\nExample:\n  aphex secrets repair --dry-run")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var cluster: ClusterSelection

    @Flag(name: .long, help: "Show what would be repaired, change nothing.")
    var dryRun = false

    func validate() throws { try global.rejectEnvOutput(command: "secrets repair") }

    func run() async throws {
        let ctx = makeContext(global, clusterName: cluster.clusterName)
        try finish(try await Commands.secretsRepair(ctx, dryRun: dryRun))
    }
}
