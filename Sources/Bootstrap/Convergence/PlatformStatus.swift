import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen

/// `aphex status --output json`: one snapshot of the platform (docs/status-schema.md).
/// Additive changes keep `schemaVersion`; renames/removals bump it.
public struct PlatformStatus: Sendable, Codable, Equatable {
    public static let currentSchemaVersion = 1

    public struct Cluster: Sendable, Codable, Equatable {
        public var reachable: Bool
        public var server: String?
        public var kubeconfig: String
        public var context: String?
        public var error: String?
    }

    public struct Component: Sendable, Codable, Equatable {
        public var namespace: String
        public var name: String
        public var kind: String
        public var ready: Bool
        public var summary: String
    }

    public struct App: Sendable, Codable, Equatable {
        public var name: String
        public var sync: String
        public var health: String
        public var phase: AppPhase
        public var reason: String
        public var invalidWave: String?
        public var startedAt: String?
        public var finishedAt: String?
        /// What aphex traced the app's state back to (cert-manager's webhook: its own proof, or a
        /// sync the webhook rejected with x509), when something explains it.
        public var cause: String? = nil
    }

    public struct Wave: Sendable, Codable, Equatable {
        public var wave: Int
        public var converged: Bool
        public var apps: [App]
        /// From the earliest sync start to the latest sync finish of its apps (ArgoCD's operationState);
        /// nil when unknown (not all finished, or all within one of ArgoCD's whole seconds).
        public var seconds: Double?
    }

    public struct Root: Sendable, Codable, Equatable {
        public var name: String
        public var found: Bool
        public var sync: String
        public var health: String
    }

    public struct Secrets: Sendable, Codable, Equatable {
        /// false when this build cannot check them (the detail says why).
        public var checked: Bool
        public var ok: Bool?
        public var detail: String
        public var problems: [String]
        /// Keys ("namespace/name[key]") that are not stored.
        public var missing: [String] = []
        /// Copies ("namespace/name[key]") that differ from their source.
        public var inconsistent: [String] = []
    }

    public struct Timings: Sendable, Codable, Equatable {
        /// platform-root's creation to the last child's last sync finish (when converged).
        public var platformSeconds: Double?
        public var rootCreatedAt: String?
        public var lastSyncFinishedAt: String?
    }

    public struct Focus: Sendable, Codable, Equatable {
        public var wave: Int?
        public var app: String?
    }

    public var schemaVersion: Int
    public var converged: Bool
    public var generatedAt: String
    /// Wall time the snapshot took, in milliseconds.
    public var tookMs: Double
    public var cluster: Cluster
    public var root: Root
    public var components: [Component]
    public var waves: [Wave]
    /// nil when the platform has no cert-manager Application (or --app/--wave exclude it).
    public var certManager: WebhookProof?
    public var secrets: Secrets
    public var timings: Timings
    public var focus: Focus?
    public var problems: [String]
}

/// The secrets part of the snapshot: SecretGen's catalog judged by `SecretsHealth.assess` (the
/// same rules as `secretsHealth(api:deployment:)`), read in one labelled cluster-wide LIST plus
/// a GET for each catalog Secret aphex does not label (argocd-secret, created by ArgoCD's
/// install), concurrently — instead of one sequential GET per Secret.
func statusSecretsCheck(api: any KubeAPI, labelled: [JSON]?, deployment: Deployment?, catalog: ConvergenceCatalog) async
    -> PlatformStatus.Secrets
{
    guard let labelled else {
        return PlatformStatus.Secrets(
            checked: false, ok: nil, detail: "not checked: the Secrets could not be listed", problems: [])
    }
    let ids = SecretCatalog.platform.secrets(for: deployment?.rawValue).map(\.id)
    var existing: [SecretID: StoredSecret] = [:]
    for obj in labelled {
        let id = SecretID(namespace: obj.namespace ?? "", name: obj.name ?? "")
        if ids.contains(id), let s = try? StoredSecret(secret: obj) { existing[id] = s }
    }
    let missing = ids.filter { existing[$0] == nil }
    let fetched: [(SecretID, JSON?)]
    do {
        fetched = try await withThrowingTaskGroup(of: (SecretID, JSON?).self) { group in
            for id in missing {
                group.addTask { (id, try await api.get(.secrets, namespace: id.namespace, name: id.name)) }
            }
            var out: [(SecretID, JSON?)] = []
            for try await r in group { out.append(r) }
            return out
        }
    } catch {
        return PlatformStatus.Secrets(checked: false, ok: nil, detail: "not checked: \(error)", problems: [])
    }
    for (id, obj) in fetched { if let obj, let s = try? StoredSecret(secret: obj) { existing[id] = s } }
    let health = SecretsHealth.assess(catalog: .platform, deployment: deployment?.rawValue, existing: existing)
    var problems = health.missingKeys.map {
        "missing: \($0) (`aphex secrets repair` creates what is missing, never overwriting)"
    }
    problems += health.derivedMismatches.map { "differs from its source: \($0) (run `aphex secrets repair`)" }
    return PlatformStatus.Secrets(
        checked: true, ok: health.ok, detail: health.summary, problems: problems,
        missing: health.missingKeys, inconsistent: health.derivedMismatches)
}

public enum StatusSnapshot {
    /// Takes one snapshot. Reads, concurrently: the Applications (1 LIST), component Deployments
    /// and StatefulSets (1 LIST each, by label, cluster-wide), the cert-manager webhook dry-run
    /// (1 POST, more only to name a failure) and the secrets check.
    public static func take(
        api: any KubeAPI, kubeconfig: String, context: String?, server: String?,
        focus: PlatformStatus.Focus? = nil, catalog: ConvergenceCatalog = .default,
        now: @Sendable () -> Date = { Date() }
    ) async -> PlatformStatus {
        let t0 = ContinuousClock.now
        async let appsList = api.list(
            .applications, namespace: catalog.argocdNamespace, labelSelector: nil, fieldSelector: nil)
        async let deployList = api.list(
            .deployments, namespace: nil, labelSelector: catalog.componentSelector, fieldSelector: nil)
        async let stsList = api.list(
            .statefulSets, namespace: nil, labelSelector: catalog.componentSelector, fieldSelector: nil)
        async let proof = try? WebhookCheck.prove(api: api, catalog: catalog, full: false)
        async let secretList = try? api.list(
            .secrets, namespace: nil, labelSelector: catalog.managedSecretSelector, fieldSelector: nil)
        var cluster = PlatformStatus.Cluster(
            reachable: true, server: server, kubeconfig: kubeconfig, context: context, error: nil)
        var problems: [String] = []
        var apps: [JSON] = []
        do {
            apps = try await appsList.items
        } catch let e as KubeAPIError {
            if case .notFound = e {
                problems.append(
                    """
                    ArgoCD's Application CRD is not installed: ArgoCD is not installed on this cluster (run \
                    `aphex bootstrap`).
                    """
                )
            } else {
                cluster.reachable = isReachable(e)
                cluster.error = e.description
            }
        } catch {
            cluster.reachable = false
            cluster.error = String(describing: error)
        }
        let deployments = (try? await deployList.items) ?? []
        let statefulSets = (try? await stsList.items) ?? []
        let webhook = await proof

        let eval = Waves.evaluate(apps, catalog: catalog)
        let root = apps.first { $0.name == catalog.rootApplication }
        let deployment: Deployment? = (root?[path: "spec", "source", "path"]?.string).map {
            $0.contains("k3s") ? .k3s : .kind
        }
        let labelledSecrets = await secretList?.items
        let secrets =
            cluster.reachable
            ? await statusSecretsCheck(api: api, labelled: labelledSecrets, deployment: deployment, catalog: catalog)
            : PlatformStatus.Secrets(
                checked: false, ok: nil, detail: "not checked: the cluster is not reachable", problems: [])

        // Components
        var components = (deployments + statefulSets).map { w -> PlatformStatus.Component in
            let (ready, summary) = Readiness.judgeWorkload(w)
            return PlatformStatus.Component(
                namespace: w.namespace ?? "", name: w.name ?? "",
                kind: w.kind ?? (w[path: "spec", "serviceName"] != nil ? "StatefulSet" : "Deployment"),
                ready: ready, summary: summary)
        }.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        if cluster.reachable {
            for required in catalog.requiredComponents
            where !components.contains(where: { $0.namespace == required.namespace && $0.name == required.name }) {
                components.append(
                    PlatformStatus.Component(
                        namespace: required.namespace, name: required.name, kind: required.kind,
                        ready: false, summary: "missing"))
            }
        }

        // Waves, with cluster-side timings from each app's last operation.
        let byName = Dictionary(apps.compactMap { a in a.name.map { ($0, a) } }, uniquingKeysWith: { a, _ in a })
        var webhookForStatus: WebhookProof? = nil
        var waves: [PlatformStatus.Wave] = eval.waves.map { w in
            let statusApps = w.apps.map { a -> PlatformStatus.App in
                let op = byName[a.name]?[path: "status", "operationState"]
                return PlatformStatus.App(
                    name: a.name, sync: a.sync.isEmpty ? "Unknown" : a.sync,
                    health: a.health.isEmpty ? "Unknown" : a.health,
                    phase: a.phase, reason: a.reason, invalidWave: a.invalidWave,
                    startedAt: op?["startedAt"]?.string, finishedAt: op?["finishedAt"]?.string)
            }
            return PlatformStatus.Wave(
                wave: w.wave, converged: w.converged, apps: statusApps, seconds: span(statusApps))
        }
        // cert-manager: its Application converged is not enough; the webhook must answer. Whatever
        // its sync and health, a failing proof is what explains it (and any app whose sync the
        // webhook rejected with x509): each such app names it as its cause.
        if eval.app(catalog.certManagerApplication) != nil {
            webhookForStatus =
                webhook
                ?? WebhookProof(
                    ready: false, failedStep: nil, failure: nil,
                    message: "the proof could not be run (API error)", cainjector: nil, steps: [])
        }
        for wi in waves.indices {
            for ai in waves[wi].apps.indices {
                let a = waves[wi].apps[ai]
                let cause = WebhookCheck.cause(
                    of: a.name, object: byName[a.name], proof: webhookForStatus, catalog: catalog)
                if a.name == catalog.certManagerApplication, a.phase == .converged, let proof = webhookForStatus,
                    !proof.ready
                {
                    waves[wi].apps[ai].phase = .progressing
                    waves[wi].apps[ai].reason = "Synced and Healthy, but the webhook is not ready: \(proof.summary)"
                    waves[wi].apps[ai].cause = cause
                    waves[wi].converged = false
                } else if a.phase != .converged, let cause {
                    waves[wi].apps[ai].cause = cause
                    waves[wi].apps[ai].reason = "\(cause); \(a.reason)"
                }
            }
        }
        problems += eval.problems

        // Timings
        var timings = PlatformStatus.Timings(
            platformSeconds: nil, rootCreatedAt: root?[path: "metadata", "creationTimestamp"]?.string,
            lastSyncFinishedAt: nil)
        let finishes = waves.flatMap(\.apps).compactMap(\.finishedAt)
        timings.lastSyncFinishedAt = finishes.max {
            (Readiness.parseTime($0) ?? .distantPast) < (Readiness.parseTime($1) ?? .distantPast)
        }
        var converged =
            cluster.reachable && eval.converged && waves.allSatisfy(\.converged)
            && components.allSatisfy(\.ready) && secrets.ok != false
        if converged, let c = timings.rootCreatedAt.flatMap(Readiness.parseTime),
            let f = timings.lastSyncFinishedAt.flatMap(Readiness.parseTime)
        {
            timings.platformSeconds = max(0, f.timeIntervalSince(c))
        }

        // Focus
        if let focus {
            if let n = focus.wave {
                waves = waves.filter { $0.wave == n }
                if waves.isEmpty {
                    problems.append(
                        "There is no wave \(n); waves: \(eval.waves.map { String($0.wave) }.joined(separator: ", ")).")
                }
                if !(waves.flatMap(\.apps).contains { $0.name == catalog.certManagerApplication || $0.cause != nil }) {
                    webhookForStatus = nil
                }
                converged = cluster.reachable && !waves.isEmpty && waves.allSatisfy(\.converged)
            } else if let name = focus.app {
                waves = waves.compactMap { w in
                    var w = w
                    w.apps = w.apps.filter { $0.name == name }
                    w.converged = !w.apps.isEmpty && w.apps.allSatisfy { $0.phase == .converged }
                    return w.apps.isEmpty ? nil : w
                }
                if waves.isEmpty {
                    problems.append(
                        """
                        Application \(name) is not a child of \(catalog.rootApplication); children: \
                        \(eval.apps.map(\.name).joined(separator: ", ")).
                        """
                    )
                }
                if name != catalog.certManagerApplication && !(waves.flatMap(\.apps).contains { $0.cause != nil }) {
                    webhookForStatus = nil
                }
                converged = cluster.reachable && !waves.isEmpty && waves.allSatisfy(\.converged)
            }
        }
        let took = ContinuousClock.now - t0
        return PlatformStatus(
            schemaVersion: PlatformStatus.currentSchemaVersion, converged: converged,
            generatedAt: rfc3339(now()), tookMs: (took.seconds * 1000 * 10).rounded() / 10,
            cluster: cluster,
            root: PlatformStatus.Root(
                name: catalog.rootApplication, found: eval.rootFound,
                sync: eval.rootSync.isEmpty ? "Unknown" : eval.rootSync,
                health: eval.rootHealth.isEmpty ? "Unknown" : eval.rootHealth),
            components: components, waves: waves, certManager: webhookForStatus, secrets: secrets,
            timings: timings, focus: focus, problems: problems)
    }

    static func isReachable(_ e: KubeAPIError) -> Bool {
        switch e {
        case .transport: return false
        case .server(let s, _): return s < 500 && s != 0
        default: return true
        }
    }

    static func span(_ apps: [PlatformStatus.App]) -> Double? {
        let starts = apps.compactMap { $0.startedAt.flatMap(Readiness.parseTime) }
        let ends = apps.compactMap { $0.finishedAt.flatMap(Readiness.parseTime) }
        guard let s = starts.min(), let e = ends.max(), ends.count == apps.count else { return nil }
        // ArgoCD stamps whole seconds: a start and a finish in the same second do not say how long
        // the wave took ("0ms" would be a guess presented as a measurement).
        guard e > s else { return nil }
        return e.timeIntervalSince(s)
    }

    static func rfc3339(_ d: Date) -> String { RFC3339.format(d) }

    /// The text face: components, waves and apps, proofs, verdict.
    public static func renderText(_ s: PlatformStatus) -> String {
        var out = ""
        if s.cluster.reachable {
            out +=
                "Cluster: reachable" + (s.cluster.server.map { " at \($0)" } ?? "")
                + " (kubeconfig \(s.cluster.kubeconfig))\n"
        } else {
            out +=
                "Cluster: NOT reachable" + (s.cluster.server.map { " at \($0)" } ?? "")
                + " (kubeconfig \(s.cluster.kubeconfig)): \(s.cluster.error ?? "unknown error")\n"
            return out
        }
        if s.focus == nil {
            out += "\nComponents:\n"
            out += indent(
                renderTable(
                    columns: ["NAMESPACE", "NAME", "KIND", "READY", "STATE"],
                    rows: s.components.map { [$0.namespace, $0.name, $0.kind, $0.ready ? "yes" : "no", $0.summary] }))
            out +=
                "\n\(s.root.name): "
                + (s.root.found
                    ? "sync \(s.root.sync), health \(s.root.health) (the verdict below judges every child)"
                    : "not found") + "\n"
        }
        if s.waves.isEmpty {
            out += "\nWaves: none" + (s.root.found ? " (\(s.root.name) has no child Applications yet)" : "") + "\n"
        } else {
            out += "\nWaves:\n"
            var rows: [[String]] = []
            for w in s.waves {
                for a in w.apps {
                    rows.append([
                        String(w.wave), a.name, a.sync, a.health, a.phase.rawValue,
                        a.phase == .converged ? "" : a.reason
                    ])
                }
            }
            out += indent(renderTable(columns: ["WAVE", "APPLICATION", "SYNC", "HEALTH", "STATE", "WHY"], rows: rows))
        }
        var timed = s.waves.compactMap { w in
            w.seconds.map { "wave \(w.wave) \(formatDuration(.milliseconds(Int64($0 * 1000))))" }
        }
        let unknown = s.waves.filter { w in
            w.seconds == nil && w.apps.allSatisfy { $0.startedAt != nil && $0.finishedAt != nil }
        }.map { String($0.wave) }
        if !unknown.isEmpty {
            timed.append(
                """
                wave\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")) unknown (started and \
                finished within one second; ArgoCD records whole seconds)
                """
            )
        }
        if let c = s.certManager { out += "\ncert-manager webhook: \(c.summary)\n" }
        if s.focus == nil {
            out += renderSecrets(s.secrets)
            if !timed.isEmpty || s.timings.platformSeconds != nil {
                out += "Timings (from ArgoCD's sync operations): " + timed.joined(separator: ", ")
                if let p = s.timings.platformSeconds {
                    out +=
                        (timed.isEmpty ? "" : "; ")
                            + """
                            platform converged \(formatDuration(.milliseconds(Int64(p * 1000)))) after \(s.root.name) \
                            was created
                            """
                }
                out += "\n"
            }
        }
        for p in s.problems { out += "! \(p)\n" }
        let appCount = s.waves.reduce(0) { $0 + $1.apps.count }
        if s.converged {
            out +=
                """
                \nConverged: \(appCount) Application\(appCount == 1 ? "" : "s") in \(s.waves.count) \
                wave\(s.waves.count == 1 ? "" : "s") are Synced and Healthy.\n
                """
        } else if let w = s.waves.first(where: { !$0.converged }) {
            let stuck = w.apps.filter { $0.phase != .converged }
            // What explains the wave leads: cert-manager's webhook when it holds the wave.
            var lead = ""
            if stuck.contains(where: { $0.cause != nil }), let c = s.certManager?.classSummary {
                lead = ": cert-manager's webhook: \(c)"
            } else if let cause = stuck.compactMap(\.cause).first {
                lead = ": \(cause)"
            }
            out +=
                """
                \nNot converged: wave \(w.wave) (\(stuck.map(\.name).joined(separator: ", ")))\(lead). `aphex \
                wait` waits for it and explains what is stuck.\n
                """
        } else {
            // The platform-level problem first (no ArgoCD, no platform-root): it explains the rest.
            var why: [String] = []
            if s.waves.isEmpty, let p = s.problems.first { why.append(p) }
            let notReady = s.components.filter { !$0.ready }.map { "\($0.namespace)/\($0.name)" }
            if notReady.count > 4 {
                why.append("\(notReady.count) components not ready or missing (see above)")
            } else if !notReady.isEmpty {
                why.append("components not ready: \(notReady.joined(separator: ", "))")
            }
            if s.secrets.ok == false { why.append("secrets missing or inconsistent (see above)") }
            let reasons = why.map { $0.hasSuffix(".") ? String($0.dropLast()) : $0 }
            out += "\nNot converged" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")) + ".\n"
        }
        return out
    }

    /// "Secrets: 5 secrets present and consistent", or the problems grouped by Secret, with the fix once.
    static func renderSecrets(_ secrets: PlatformStatus.Secrets) -> String {
        guard secrets.checked else { return "Secrets: \(secrets.detail)\n" }
        // The detail already says "N secrets present and consistent (...)": say it once.
        if secrets.ok == true {
            return "Secrets: " + (secrets.detail.isEmpty ? "present and consistent" : secrets.detail) + "\n"
        }
        var out =
            "Secrets: PROBLEMS (\(secrets.missing.count) key\(secrets.missing.count == 1 ? "" : "s") missing, "
                + """
                \(secrets.inconsistent.count) cop\(secrets.inconsistent.count == 1 ? "y differs" : "ies differ") from \
                the source)\n
                """
        // "ns/name[key]" -> ("ns/name", "key"), grouped in catalog order.
        var order: [String] = []
        var keys: [String: [String]] = [:]
        for k in secrets.missing {
            let secret = k.split(separator: "[", maxSplits: 1).first.map(String.init) ?? k
            let key = k.dropFirst(secret.count).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if keys[secret] == nil { order.append(secret) }
            keys[secret, default: []].append(key)
        }
        for secret in order { out += "  ! missing in \(secret): \(keys[secret]!.joined(separator: ", "))\n" }
        for k in secrets.inconsistent { out += "  ! differs from its source: \(k)\n" }
        if secrets.missing.isEmpty && secrets.inconsistent.isEmpty {
            for p in secrets.problems { out += "  ! \(p)\n" }
        }
        out +=
            """
              Fix: `aphex secrets repair` creates what is missing and copies each source to its copies, never \
            overwriting a stored value.\n
            """
        return out
    }

    static func indent(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(
            separator: "\n")
    }
}
