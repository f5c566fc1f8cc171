import AphexCore
import KubeClient
import ClusterDrivers

extension Commands {
    /// `aphex doctor`: exit 0 when bootstrap can run here, 4 when a required check fails.
    public static func doctor(_ ctx: AppContext, _ options: DoctorOptions) async throws -> ExitStatus {
        let report = await Doctor(host: ctx.host).run(options)
        if ctx.format == .json {
            ctx.writeJSON(report.json)
        } else {
            ctx.output.write(report.text)
        }
        return report.ok ? .ok : .prerequisite
    }
}
