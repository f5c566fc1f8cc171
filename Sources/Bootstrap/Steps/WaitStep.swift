import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension BootstrapSteps {
    /// "wait": until every wave of platform-root converges. Records the per-wave timings and
    /// the verdict in the pipeline state (the summary prints them).
    static let wait = PipelineStep("wait", "Waiting for convergence") { state in
        if state.dryRun {
            return StepResult(
                .planned,
                "would wait ≤ \(formatDuration(state.options.timeout)) for every wave of platform-root to converge")
        }
        var options = WaitOptions()
        options.timeout = state.options.timeout
        options.observer = state.convergenceObserver
        do {
            let result = try await waitForConvergence(ctx: state.app, api: try state.api(), options: options)
            state.waves = result.waves
            state.alreadyConverged = Set(result.alreadyConverged)
            state.converged = true
            let apps = result.waves.reduce(0) { $0 + $1.apps.count }
            return StepResult(.done, "\(apps) Applications in \(result.waves.count) waves Synced and Healthy")
        } catch {
            state.converged = false
            throw error
        }
    }
}
