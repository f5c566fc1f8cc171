import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct Doctor: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this host has what bootstrap needs, and print the fix for each failure.",
        discussion: """
            Checks: kubectl (and its version skew), for kind a kind binary and a Docker or Podman \
            daemon that answers, inotify limits and free host ports 80/443; for k3s root, curl \
            and systemd; free disk; with --gpu nvidia-smi and nvidia-container-runtime. \
            Exits 4 when a required check fails.

            Examples:
              aphex doctor
              aphex doctor --deployment k3s --gpu
              aphex doctor --output json
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The deployment to check for.", valueName: "kind|k3s"))
    var deployment: Deployment = .kind

    @Flag(name: .long, help: "Skip the checks for creating a cluster (kind/Docker, k3s installer needs).")
    var useExisting = false

    @Flag(name: .long, help: "Also check the NVIDIA GPU runtime (nvidia-smi, nvidia-container-runtime).")
    var gpu = false

    func validate() throws { try global.rejectEnvOutput(command: "doctor") }

    func run(_ ctx: AppContext) async throws {
        var o = DoctorOptions()
        o.deployment = deployment
        o.useExisting = useExisting
        o.gpu = gpu
        let report = await DoctorChecks(host: ctx.host).run(o)
        ctx.output(report)
        try finish(report.ok ? .ok : .prerequisite)
    }
}
