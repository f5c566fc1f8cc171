import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The end-of-bootstrap summary and the machine-readable result.
enum BootstrapSummary {
    static func portForward(_ state: PipelineState) -> String {
        var argv = ["kubectl"]
        if let k = state.kubeconfig { argv += ["--kubeconfig", k] }
        if let c = state.kubeContext { argv += ["--context", c] }
        argv += ["-n", "argocd", "port-forward", "svc/argocd-server", "8080:443"]
        return Shell.quote(argv)
    }

    /// The run's wall time (Tekton's step overlaps ArgoCD's: the steps' seconds overcount).
    static func totalSeconds(_ state: PipelineState) -> Double {
        state.span.map { ($0.end - $0.start).seconds } ?? state.records.reduce(0) { $0 + $1.seconds }
    }

    static func text(_ state: PipelineState, argocdURL: String?) -> String {
        let o = state.options
        var out = ""
        if o.dryRun {
            out += "Plan for `aphex bootstrap --deployment \(o.deployment.rawValue)` (dry run: nothing was changed)\n"
            for r in state.records {
                out += "  \(r.outcome == .planned ? "~" : "✓") \(r.title): \(r.detail)\n"
                for c in r.changes { out += "      + \(c)\n" }
                for c in r.commands { out += "      $ \(c)\n" }
            }
            return out
        }
        let converged = state.converged
        if converged == true {
            out += "The platform is converged.\n"
        } else if o.noWait {
            out +=
                """
                The platform is installed; convergence was not awaited (--no-wait). Check with `aphex wait` or \
                `aphex status`.\n
                """
        }
        out += "\nArgoCD\n"
        if let url = argocdURL { out += "  URL:       \(url)\n" }
        out += "  reach it:  \(portForward(state))   then open https://localhost:8080\n"
        out += "  user:      admin\n"
        out +=
            """
              password:  Secret argocd/argocd-initial-admin-secret, key password (`aphex show-secrets --name \
            argocd-admin-password`)\n
            """
        out += "Authentik\n  user:      akadmin (password: `aphex show-secrets --name authentik-admin-password`)\n"
        out += "\nNext\n"
        out += "  aphex status          wave-by-wave health; exit 0 when converged (--output json for CI)\n"
        out += "  aphex show-secrets    the generated credentials, read back from the cluster\n"
        out += "  aphex secrets export --file FILE   keep the credentials to rebuild with --secrets-from\n"
        if let k = state.kubeconfig { out += "  kubeconfig            \(k)\n" }
        out += "\nTimings\n"
        let waveLabels = state.waves.map { "wave \($0.wave) (\($0.apps.joined(separator: ", ")))" }
        // The figures form a column at least two spaces right of the longest label (indent included).
        let width = max(32, (state.records.map { $0.title.count + 4 } + waveLabels.map { $0.count + 6 }).max() ?? 0)
        for r in state.records {
            out +=
                "  " + r.title.padding(toLength: width - 2, withPad: " ", startingAt: 0)
                + formatDuration(.milliseconds(Int64(r.seconds * 1000)))
                + (r.outcome == .unchanged ? "  (unchanged)" : "") + "\n"
        }
        for (w, label) in zip(state.waves, waveLabels) {
            // A wave converged before the wait began was not watched converging: no figure to show.
            let figure =
                state.alreadyConverged.contains(w.wave)
                ? "already converged" : formatDuration(.milliseconds(Int64(w.seconds * 1000)))
            out += "    " + label.padding(toLength: width - 4, withPad: " ", startingAt: 0) + figure + "\n"
        }
        out +=
            "  " + "total".padding(toLength: width - 2, withPad: " ", startingAt: 0)
            + formatDuration(.milliseconds(Int64(totalSeconds(state) * 1000))) + "\n"
        if !state.warnings.isEmpty {
            out += "\nWarnings\n"
            for w in state.warnings { out += "  ! \(w)\n" }
        }
        return out
    }

    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
