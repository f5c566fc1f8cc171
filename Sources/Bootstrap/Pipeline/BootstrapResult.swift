import AphexCore
import KubeClient
import Foundation

/// `--timings-file`: step and wave timings (schema version 1).
struct BootstrapTimings: Encodable {
    struct Step: Encodable {
        var id, title, outcome: String
        var seconds: Double
    }
    struct Wave: Encodable {
        var wave: Int
        var apps: [String]
        var seconds: Double
        /// true when the wave was converged before the wait began (absent otherwise).
        var alreadyConverged: Bool?
    }
    var schemaVersion = 1
    var deployment, clusterName: String
    var totalSeconds: Double
    var steps: [Step]
    var waves: [Wave]

    init(_ state: PipelineState) {
        deployment = state.options.deployment.rawValue
        clusterName = state.app.target.clusterName
        totalSeconds = BootstrapSummary.round3(BootstrapSummary.totalSeconds(state))
        steps = state.records.map {
            Step(id: $0.id, title: $0.title, outcome: $0.outcome.rawValue, seconds: BootstrapSummary.round3($0.seconds))
        }
        waves = state.waves.map {
            Wave(
                wave: $0.wave, apps: $0.apps, seconds: BootstrapSummary.round3($0.seconds),
                alreadyConverged: state.alreadyConverged.contains($0.wave) ? true : nil)
        }
    }
}

/// `aphex bootstrap`'s result (stdout): the summary text, or with `--output json` the
/// timings plus what was done, where ArgoCD is, and the k3s join command. After a failure
/// only the JSON form is written, with `error`.
struct BootstrapResult: OutputData {
    struct Step: Encodable {
        var id, title, outcome: String
        var seconds: Double
        var detail: String
        var changes, commands: [String]
    }
    struct ArgoCD: Encodable {
        var url: String?
        var portForward: String
        var user = "admin"
        var passwordSecret = "argocd/argocd-initial-admin-secret#password"

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(url, forKey: .url)  // null when there is no Ingress
            try c.encode(portForward, forKey: .portForward)
            try c.encode(user, forKey: .user)
            try c.encode(passwordSecret, forKey: .passwordSecret)
        }
        enum CodingKeys: String, CodingKey { case url, portForward, user, passwordSecret }
    }
    struct K3sJoin: Encodable {
        var command, tokenFile, server: String
    }

    var timings: BootstrapTimings
    var steps: [Step]
    var dryRun: Bool
    var converged: Bool?
    var kubeconfig, context: String?
    var argocd: ArgoCD
    var warnings: [String]
    var k3sJoin: K3sJoin?
    var error: String?
    /// The text form (the summary and the join hint).
    var text: String

    init(_ state: PipelineState, argocdURL: String?, join: K3sJoinHint?, error: (any Error)?) {
        timings = BootstrapTimings(state)
        steps = state.records.map {
            Step(
                id: $0.id, title: $0.title, outcome: $0.outcome.rawValue, seconds: BootstrapSummary.round3($0.seconds),
                detail: $0.detail, changes: $0.changes, commands: $0.commands)
        }
        dryRun = state.options.dryRun
        converged = state.converged
        kubeconfig = state.kubeconfig
        context = state.kubeContext
        argocd = ArgoCD(url: argocdURL, portForward: BootstrapSummary.portForward(state))
        warnings = state.warnings
        k3sJoin = join.map { K3sJoin(command: $0.command, tokenFile: $0.tokenFile, server: $0.server) }
        self.error = error.map { String(describing: $0) }
        text = error == nil ? BootstrapSummary.text(state, argocdURL: argocdURL) + (join?.text ?? "") : ""
    }

    var description: String { text }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, deployment, clusterName, totalSeconds, steps, waves
        case dryRun, converged, kubeconfig, context, argocd, warnings, k3sJoin, error
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timings.schemaVersion, forKey: .schemaVersion)
        try c.encode(timings.deployment, forKey: .deployment)
        try c.encode(timings.clusterName, forKey: .clusterName)
        try c.encode(timings.totalSeconds, forKey: .totalSeconds)
        try c.encode(steps, forKey: .steps)
        try c.encode(timings.waves, forKey: .waves)
        try c.encode(dryRun, forKey: .dryRun)
        // null when unknown (no wait, no cluster yet)
        try c.encode(converged, forKey: .converged)
        try c.encode(kubeconfig, forKey: .kubeconfig)
        try c.encode(context, forKey: .context)
        try c.encode(argocd, forKey: .argocd)
        try c.encode(warnings, forKey: .warnings)
        try c.encodeIfPresent(k3sJoin, forKey: .k3sJoin)
        try c.encodeIfPresent(error, forKey: .error)
    }
}
