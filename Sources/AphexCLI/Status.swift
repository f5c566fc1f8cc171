import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct Status: AphexCommand {
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

    @Option(
        name: .long, help: ArgumentHelp("Seconds between refreshes with --watch (at least 1).", valueName: "seconds"))
    var interval: Int = 2

    @Option(name: .long, help: ArgumentHelp("Report only this sync wave.", valueName: "n"))
    var wave: Int?

    @Option(name: .long, help: ArgumentHelp("Report only this Application.", valueName: "name"))
    var app: String?

    @OptionGroup(title: "CI reports") var reports: ReportFlags

    func validate() throws {
        try global.rejectEnvOutput(command: "status")
        if interval < 1 || interval > 3600 {
            throw ValidationError(
                "--interval \(interval) is out of range: give 1 to 3600 seconds (aphex polls at most once a second).")
        }
        if wave != nil && app != nil {
            throw ValidationError("'--wave' and '--app' are mutually exclusive: focus on one wave or one Application.")
        }
        if let a = app,
            !Validate.isDNS1123Label(a)
                && a.range(of: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, options: .regularExpression) == nil
        {
            throw ValidationError("--app '\(a)' is not a valid Application name. List them with `aphex status`.")
        }
    }

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        var o = StatusOptions()
        o.watch = watch
        o.interval = .seconds(interval)
        o.wave = wave
        o.app = app
        o.report = reports.library
        let connection = try await ctx.connectCluster()
        try finish(try await StatusReport.run(ctx, o, api: connection.api, server: connection.server))
    }
}
