import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// prerequisites: the required doctor checks for this run; a failure is exit 4.
    static let prerequisites = PipelineStep("prerequisites", "Checking prerequisites") { state in
        var options = DoctorOptions()
        options.deployment = state.options.deployment
        options.useExisting = state.options.useExisting
        options.gpu = state.options.k3s.gpu
        let report = await DoctorChecks(host: state.app.host).run(options)
        for check in report.checks where check.verdict == .warn {
            state.reporter.warn("\(check.detail). Fix: \(check.fix)")
        }
        let failed = report.checks.filter { $0.required && $0.verdict == .fail }
        if !failed.isEmpty {
            let lines = failed.map { "  ✗ \($0.title): \($0.detail)\n    fix: \($0.fix)" }.joined(separator: "\n")
            throw AphexError(
                .prerequisite,
                """
                \(failed.count) prerequisite(s) for --deployment \(state.options.deployment.rawValue) are \
                missing; nothing was changed. Fix them (run `aphex doctor --deployment \
                \(state.options.deployment.rawValue)` to re-check), then re-run.
                """,
                detail: lines)
        }
        let passed = report.checks.filter { $0.verdict == .pass }.count
        return StepResult(.done, "\(passed) checks passed")
    }
}
