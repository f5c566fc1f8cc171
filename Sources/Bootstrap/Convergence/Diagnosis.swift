import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// One unhealthy resource of a stuck Application and the pods behind it.
public struct ResourceDiagnosis: Sendable, Codable, Equatable {
    public var kind: String
    public var namespace: String
    public var name: String
    public var health: String
    public var message: String?
    public var pods: [PodReport]
}

/// Why one Application is not converged.
public struct AppDiagnosis: Sendable, Codable, Equatable {
    public var name: String
    public var wave: Int
    public var phase: AppPhase
    public var sync: String
    public var health: String
    public var reason: String
    /// status.operationState.message (the last sync's message).
    public var operationMessage: String?
    /// status.conditions as "Type: message".
    public var conditions: [String]
    public var resources: [ResourceDiagnosis]
    /// Recent Warning events about its resources and pods: "Reason Kind/name: message".
    public var events: [String]
    /// What aphex traced its state back to: cert-manager's webhook (its failing proof, or a sync the
    /// webhook rejected with x509).
    public var cause: String?

    public init(
        name: String, wave: Int, phase: AppPhase, sync: String, health: String, reason: String,
        operationMessage: String? = nil, conditions: [String] = [], resources: [ResourceDiagnosis] = [],
        events: [String] = [],
        cause: String? = nil
    ) {
        self.name = name
        self.wave = wave
        self.phase = phase
        self.sync = sync
        self.health = health
        self.reason = reason
        self.operationMessage = operationMessage
        self.conditions = conditions
        self.resources = resources
        self.events = events
        self.cause = cause
    }
}

/// The answer to "why not converged?" printed on timeout or failure.
public struct Diagnosis: Sendable, Codable, Equatable {
    public var headline: String
    /// The first unconverged wave (nil when the problem is before waves: no root, no children).
    public var wave: Int?
    public var apps: [AppDiagnosis]
    public var webhook: WebhookProof?
    public var authToken: AuthTokenCheck?
    public var problems: [String]
    /// What to do about it (docs/troubleshooting.md explains each).
    public var hints: [String]

    public var text: String { Diagnoser.render(self) }

    /// The error a wait ends with: the headline as the message, the rest of the rendering as
    /// the detail. `timedOut`: exit 3 (a timeout), else exit 1 (an app failed).
    public func error(timedOut: Bool) -> AphexError {
        AphexError(
            timedOut ? .timeout : .failed, headline,
            detail: text.split(separator: "\n", maxSplits: 1).dropFirst().joined())
    }

    public init(
        headline: String, wave: Int? = nil, apps: [AppDiagnosis] = [], webhook: WebhookProof? = nil,
        authToken: AuthTokenCheck? = nil, problems: [String] = [], hints: [String] = []
    ) {
        self.headline = headline
        self.wave = wave
        self.apps = apps
        self.webhook = webhook
        self.authToken = authToken
        self.problems = problems
        self.hints = hints
    }
}

public enum Diagnoser {
    public static let maxApps = 8
    public static let maxResources = 6
    public static let maxPods = 3

    /// Gathers the diagnosis of `evaluation` (failed apps first, else the first unconverged
    /// wave's apps). Reads only what it needs; API errors while diagnosing are noted, not thrown.
    public static func diagnose(
        api: any KubeAPI, evaluation: PlatformEvaluation, objects: [String: JSON],
        headline: String, webhook: WebhookProof? = nil, authToken: AuthTokenCheck? = nil,
        catalog: ConvergenceCatalog = .default
    ) async -> Diagnosis {
        var stuck = evaluation.failed
        let firstWave = evaluation.firstUnconvergedWave
        if stuck.isEmpty, let firstWave { stuck = firstWave.apps.filter { !$0.converged } }
        var apps: [AppDiagnosis] = []
        var eventCache: [String: [JSON]] = [:]
        for state in stuck.prefix(maxApps) {
            let obj = objects[state.name]
            var d = AppDiagnosis(
                name: state.name, wave: state.wave, phase: state.phase,
                sync: state.sync.isEmpty ? "Unknown" : state.sync,
                health: state.health.isEmpty ? "Unknown" : state.health, reason: state.reason,
                operationMessage: obj?[path: "status", "operationState", "message"]?.string,
                conditions: (obj?[path: "status", "conditions"]?.array ?? []).map {
                    ($0["type"]?.string ?? "Condition") + ($0["message"]?.string.map { ": \($0)" } ?? "")
                }, resources: [], events: [],
                cause: WebhookCheck.cause(of: state.name, object: obj, proof: webhook, catalog: catalog))
            // Hooks the operation waits on or failed on (cert-manager's startupapicheck): ArgoCD lists
            // them in the operation's results, not among the app's resources.
            let hooks: [JSON] = (obj?[path: "status", "operationState", "syncResult", "resources"]?.array ?? [])
                .compactMap { r in
                    guard let type = r["hookType"]?.string, !type.isEmpty, let phase = r["hookPhase"]?.string,
                        ["Running", "Failed", "Error"].contains(phase)
                    else { return nil }
                    return [
                        "kind": r["kind"] ?? "Job", "namespace": r["namespace"] ?? .null, "name": r["name"] ?? "?",
                        "health": [
                            "status": .string(phase),
                            "message": .string("\(type) hook" + (r["message"]?.string.map { ": \($0)" } ?? ""))
                        ]
                    ]
                }
            let unhealthy =
                (obj?[path: "status", "resources"]?.array ?? []).filter {
                    if let h = $0[path: "health", "status"]?.string { return h != "Healthy" }
                    return false
                } + hooks
            var names = Set<String>()
            var namespaces = Set<String>()
            for r in unhealthy.prefix(maxResources) {
                let kind = r["kind"]?.string ?? "?"
                let ns = r["namespace"]?.string ?? obj?[path: "spec", "destination", "namespace"]?.string ?? ""
                let name = r["name"]?.string ?? "?"
                var res = ResourceDiagnosis(
                    kind: kind, namespace: ns, name: name, health: r[path: "health", "status"]?.string ?? "",
                    message: r[path: "health", "message"]?.string, pods: [])
                names.insert(name)
                if !ns.isEmpty { namespaces.insert(ns) }
                if let pods = try? await Pods.pods(behind: kind, namespace: ns, name: name, api: api) {
                    var reports = pods.map(Pods.describe).filter { !$0.isHealthy }
                    reports = Array(reports.prefix(maxPods))
                    for i in reports.indices {
                        names.insert(reports[i].name)
                        if reports[i].reason == "CrashLoopBackOff" || reports[i].reason == "Error" {
                            reports[i].logTail = await Pods.logTail(
                                api: api, namespace: ns, pod: reports[i].name, container: reports[i].container)
                        }
                    }
                    res.pods = reports
                }
                d.resources.append(res)
            }
            for ns in namespaces.sorted() {
                if eventCache[ns] == nil {
                    eventCache[ns] =
                        (try? await api.list(.events, namespace: ns, labelSelector: nil, fieldSelector: "type=Warning")
                            .items) ?? []
                }
                let relevant = eventCache[ns]!.filter { e in
                    let n = e[path: "involvedObject", "name"]?.string ?? ""
                    return names.contains(n) || names.contains { n.hasPrefix($0 + "-") }
                }
                d.events += relevant.sorted { eventTime($0) < eventTime($1) }.suffix(5).map(formatEvent)
            }
            apps.append(d)
        }
        var problems = evaluation.problems
        if stuck.count > maxApps { problems.append("\(stuck.count - maxApps) more Application(s) not shown") }
        // The proof belongs in the diagnosis when it may explain it: cert-manager's wave is at or
        // before the stuck one, or a stuck app's sync was rejected by the webhook.
        let horizon = stuck.map(\.wave).max()
        let cmWave = evaluation.app(catalog.certManagerApplication)?.wave
        let relevant = apps.contains { $0.cause != nil } || (cmWave != nil && horizon != nil && cmWave! <= horizon!)
        var d = Diagnosis(
            headline: headline, wave: firstWave?.wave, apps: apps,
            webhook: webhook?.ready == false && relevant ? webhook : nil,
            authToken: authToken?.result == .rejected ? authToken : nil, problems: problems, hints: [])
        d.hints = hints(for: d)
        return d
    }

    static func eventTime(_ e: JSON) -> String {
        e["lastTimestamp"]?.string ?? e["eventTime"]?.string ?? e["firstTimestamp"]?.string ?? e[
            path: "metadata", "creationTimestamp"]?.string ?? ""
    }

    static func formatEvent(_ e: JSON) -> String {
        let kind = e[path: "involvedObject", "kind"]?.string ?? "?"
        let name = e[path: "involvedObject", "name"]?.string ?? "?"
        var s = "\(e["reason"]?.string ?? "Warning") \(kind)/\(name): \(e["message"]?.string ?? "")"
        if let c = e["count"]?.int, c > 1 { s += " (x\(c))" }
        return s
    }

    /// Maps what was found to fixes (PLATFORM.md's troubleshooting facts).
    public static func hints(for d: Diagnosis) -> [String] {
        var out: [String] = []
        func add(_ s: String) { if !out.contains(s) { out.append(s) } }
        let pods = d.apps.flatMap { $0.resources.flatMap(\.pods) }
        let texts =
            d.apps.flatMap { a in
                [a.reason, a.operationMessage ?? ""] + a.conditions + a.events + a.resources.compactMap(\.message)
            }
            + pods.compactMap(\.message) + pods.flatMap { $0.logTail ?? [] }
        for p in pods {
            switch p.reason ?? "" {
            case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
                add(
                    """
                    Image \(p.image ?? "?") cannot be pulled: check the name and tag, that the node can reach the \
                    registry, and rate limits; on kind, give a mirror with --registry-mirror or pre-load it with \
                    `kind load docker-image`.
                    """
                )
            case "CrashLoopBackOff":
                if p.name.contains("dex") {
                    add(
                        """
                        Dex crash-loops until Authentik serves its discovery document: wait for the auth \
                        Application; if Authentik is Healthy, read Dex's log lines above.
                        """
                    )
                } else {
                    add(
                        """
                        Pod \(p.namespace)/\(p.name) crash-loops: its last log lines are above; `kubectl logs -n \
                        \(p.namespace) \(p.name) --previous` shows more.
                        """
                    )
                }
            case "Unschedulable":
                add(
                    """
                    A pod cannot be scheduled: the node lacks CPU/memory or a matching label/toleration (see the \
                    scheduler message); add a worker (--workers) or free resources.
                    """
                )
            case "CreateContainerConfigError":
                add(
                    """
                    A container references a missing Secret or ConfigMap key: `aphex status` shows missing \
                    secrets; `aphex secrets repair` recreates aphex's.
                    """
                )
            default: break
            }
        }
        if texts.contains(where: { $0.contains("authentication required") }) {
            add(
                """
                ArgoCD cannot read the Git repository (\"authentication required\"): the repository is private. \
                Add repository credentials to ArgoCD, or point --repo at a public fork.
                """
            )
        }
        if texts.contains(where: { $0.contains("empty caBundle in clusterInterceptor") }) {
            add(
                """
                The Tekton EventListener needs the core interceptors: install Tekton Triggers' interceptors \
                (aphex bootstrap installs them; re-run it).
                """
            )
        }
        if texts.contains(where: { $0.contains("too many open files") }) {
            add(
                """
                \"too many open files\" on kind: raise the host's inotify limits: sudo sysctl \
                fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512.
                """
            )
        }
        if let w = d.webhook {
            switch w.failure {
            case .caBundleNotInjected?:
                add(
                    """
                    cert-manager's CA bundle is not injected: cert-manager-cainjector must be running with its \
                    RBAC; check its pod and logs (state above).
                    """
                )
            case .crdsMissing?:
                add(
                    """
                    cert-manager's CRDs are not installed: the cert-manager Application has not synced them yet \
                    (check its sync status).
                    """
                )
            case .serviceMissing?, .webhookNotReady?:
                add(
                    """
                    cert-manager's webhook is not answering: check the cert-manager-webhook pod in namespace \
                    cert-manager.
                    """
                )
            case nil: break
            }
        }
        if let traced = d.apps.first(where: { $0.cause?.contains("x509") == true }) {
            add(
                """
                \(traced.name)'s sync was rejected by cert-manager's webhook (x509): once the CA bundle is \
                injected (the proof above passes), retry it: `argocd app sync \(traced.name)`.
                """
            )
        }
        if d.authToken?.result == .rejected {
            add(
                """
                Authentik rejects the bootstrap-token: see docs/troubleshooting.md (\"Authentik rejects the \
                bootstrap token\").
                """
            )
        }
        if d.apps.contains(where: { $0.phase == .failed && $0.operationMessage != nil }) {
            add(
                """
                A sync failed: fix the cause in the operation message above, then retry with `argocd app sync \
                NAME` or `kubectl -n argocd patch application NAME --type merge -p '{\"operation\":{\"sync\":{}}}'`.
                """
            )
        }
        return out
    }

    /// The multi-line text printed under the error message.
    public static func render(_ d: Diagnosis) -> String {
        var lines: [String] = [d.headline]
        for p in d.problems { lines.append("  ! \(p)") }
        // The webhook proof first: when it is here, it explains the apps below.
        if let w = d.webhook { lines.append("  cert-manager webhook: \(w.summary)") }
        for a in d.apps {
            lines.append("  Application \(a.name) (wave \(a.wave)): sync \(a.sync), health \(a.health) — \(a.reason)")
            if let c = a.cause, !a.reason.contains(c) { lines.append("    cause: \(c)") }
            if let m = a.operationMessage, !m.isEmpty, !a.reason.contains(m) { lines.append("    last sync: \(m)") }
            for c in a.conditions { lines.append("    condition \(c)") }
            for r in a.resources {
                lines.append(
                    "    \(r.kind) \(r.namespace.isEmpty ? "" : r.namespace + "/")\(r.name): \(r.health)"
                        + (r.message.map { " — \($0)" } ?? ""))
                for p in r.pods {
                    lines.append("      \(p.summary)")
                    for l in p.logTail ?? [] { lines.append("        | \(l)") }
                }
            }
            if !a.events.isEmpty {
                lines.append("    recent Warning events:")
                for e in a.events { lines.append("      \(e)") }
            }
        }
        if let t = d.authToken { lines.append("  Authentik bootstrap-token: \(t.result.rawValue) — \(t.detail)") }
        if !d.hints.isEmpty {
            lines.append("  What to do:")
            for h in d.hints { lines.append("    - \(h)") }
            lines.append("    (more in docs/troubleshooting.md)")
        }
        return lines.joined(separator: "\n")
    }
}
