import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct Wait: AphexCommand {
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

    var clusterName: String { cluster.clusterName }

    func run(_ ctx: AppContext) async throws {
        var o = WaitOptions()
        o.timeout = parseDuration(timeout)!
        o.wave = wave
        o.report = reports.library
        let connection = try await ctx.connectCluster()
        try finish(try await WaitReport.run(ctx, o, api: connection.api))
    }
}
