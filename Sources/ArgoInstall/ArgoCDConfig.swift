import AphexCore
import KubeClient
import Foundation

/// ArgoCD configuration aphex owns after the install: the Application health check in
/// argocd-cm, optional `server.insecure`, and the readiness of ArgoCD's workloads.
public enum ArgoCDConfig {
    public static let namespace = "argocd"
    public static let healthKey = "resource.customizations.health.argoproj.io_Application"
    /// ArgoCD's documented health check for Application resources (removed from ArgoCD's
    /// defaults in 1.8). Without it an app-of-apps' sync waves do not wait for child
    /// Applications to become Healthy.
    public static let healthLua = """
        hs = {}
        hs.status = "Progressing"
        hs.message = ""
        if obj.status ~= nil then
          if obj.status.health ~= nil then
            hs.status = obj.status.health.status
            if obj.status.health.message ~= nil then
              hs.message = obj.status.health.message
            end
          end
        end
        return hs

        """
    public static let insecureKey = "server.insecure"
    public static let restartAnnotation = "kubectl.kubernetes.io/restartedAt"

    public enum WorkloadKind: String, Sendable {
        case deployment = "Deployment"
        case statefulSet = "StatefulSet"
    }
    /// What "ArgoCD is ready" waits for.
    public static let workloads: [(name: String, kind: WorkloadKind)] = [
        ("argocd-server", .deployment), ("argocd-repo-server", .deployment),
        ("argocd-applicationset-controller", .deployment), ("argocd-application-controller", .statefulSet)
    ]

    static func partialConfigMap(_ name: String, data: [String: String]) -> JSON {
        [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "data": .object(data.mapValues(JSON.string))
        ]
    }

    /// Health check, server.insecure (when asked), restart of argocd-server when that changed,
    /// then wait for the workloads. Checks before acting: a re-run changes nothing.
    public static func configure(
        _ env: InstallEnvironment, insecure: Bool, dryRun: Bool,
        readyTimeout: Duration = .seconds(300)
    ) async throws -> InstallReport {
        var changed: [String] = [], unchanged: [String] = [], planned: [String] = []

        let cm = try await readConfigMap("argocd-cm", env: env, dryRun: dryRun)
        if cm?["data"]?[healthKey]?.string == healthLua {
            unchanged.append("argocd-cm has the Application health check")
        } else if dryRun {
            planned.append(
                """
                add the Application health check to argocd-cm (\(healthKey)): $ \
                \(Shell.quote(env.kubectl.applyArgv(fieldManager: FieldManager.config))) < ConfigMap
                """
            )
        } else {
            guard cm != nil else { throw notInstalled("argocd-cm") }
            try await env.apply(
                [partialConfigMap("argocd-cm", data: [healthKey: healthLua])],
                fieldManager: FieldManager.config,
                what: "add the Application health check to argocd/argocd-cm")
            changed.append("argocd-cm: added the Application health check")
        }

        var restart = false
        if insecure {
            let params = try await readConfigMap("argocd-cmd-params-cm", env: env, dryRun: dryRun)
            if params?["data"]?[insecureKey]?.string == "true" {
                unchanged.append("argocd-cmd-params-cm has server.insecure: \"true\"")
            } else if dryRun {
                planned.append(
                    """
                    set server.insecure: \"true\" in argocd-cmd-params-cm and restart argocd-server: $ \
                    \(Shell.quote(restartArgv(env, at: "<now>")))
                    """
                )
            } else {
                try await env.apply(
                    [partialConfigMap("argocd-cmd-params-cm", data: [insecureKey: "true"])],
                    fieldManager: FieldManager.config,
                    what: "set server.insecure in argocd/argocd-cmd-params-cm")
                changed.append("argocd-cmd-params-cm: server.insecure \"true\"")
                restart = true
            }
        }
        if restart {
            let argv = restartArgv(env, at: rfc3339(env.clock.wallNow()))
            try await env.run(
                Command(argv, timeout: .seconds(60)), what: "restart argocd-server (to pick up server.insecure)")
            changed.append("argocd-server restarted")
        }

        if dryRun {
            planned.append(
                """
                wait up to \(formatDuration(readyTimeout)) for \(workloads.map(\.name).joined(separator: ", ")) \
                to be ready
                """
            )
        } else {
            try await waitReady(env, timeout: readyTimeout)
            unchanged.append("ArgoCD workloads ready")
        }
        return InstallReport(changed: changed, unchanged: unchanged, planned: planned)
    }

    /// `kubectl rollout restart` does exactly this patch.
    static func restartArgv(_ env: InstallEnvironment, at stamp: String) -> [String] {
        let patch: JSON = [
            "spec": [
                "template": ["metadata": ["annotations": [.init(stringLiteral: restartAnnotation): .string(stamp)]]]
            ]
        ]
        return env.kubectl.argv([
            "patch", "deployment", "argocd-server", "--namespace", namespace,
            "--type", "merge", "--field-manager=\(FieldManager.apply)", "-p", patch.serialized()
        ])
    }

    private static func readConfigMap(_ name: String, env: InstallEnvironment, dryRun: Bool) async throws -> JSON? {
        do {
            return try await env.api.get(.configMaps, namespace: namespace, name: name)
        } catch  where dryRun {
            return nil
        }
    }

    private static func notInstalled(_ what: String) -> AphexError {
        AphexError.failed(
            """
            ConfigMap argocd/\(what) does not exist, so ArgoCD is not installed in this cluster (or not in \
            namespace argocd). Run the ArgoCD step first (`aphex bootstrap` does it), then run again.
            """
        )
    }

    /// Ready: observedGeneration current, all replicas updated, ready and available.
    /// Returns nil when ready, else why not. Counts are read clamped (`JSON.apiCount`), so a
    /// hostile or buggy server cannot make the subtraction below overflow.
    public static func notReadyReason(_ obj: JSON?, kind: WorkloadKind) -> String? {
        guard let obj else { return "does not exist" }
        let generation = obj[path: "metadata", "generation"]?.int ?? 0
        let observed = obj[path: "status", "observedGeneration"]?.int ?? 0
        if observed < generation {
            return "the controller has not observed generation \(generation) yet (observed \(observed))"
        }
        let replicas = obj[path: "spec", "replicas"]?.apiCount ?? 1
        let status = obj["status"] ?? .object([:])
        let updated = status["updatedReplicas"]?.apiCount ?? 0
        let ready = status["readyReplicas"]?.apiCount ?? 0
        let current = status["replicas"]?.apiCount ?? 0
        if updated < replicas { return "\(updated)/\(replicas) replicas updated" }
        switch kind {
        case .deployment:
            if current > updated { return "\(current - updated) old replica(s) pending termination" }
            let available = status["availableReplicas"]?.apiCount ?? 0
            if available < replicas { return "\(available)/\(replicas) replicas available (\(ready) ready)" }
        case .statefulSet:
            if ready < replicas { return "\(ready)/\(replicas) replicas ready" }
            if let u = status["updateRevision"]?.string, let c = status["currentRevision"]?.string, u != c {
                return "rolling update in progress (revision \(c) -> \(u))"
            }
        }
        return nil
    }

    /// Waits for the ArgoCD workloads; exit 3 naming which is not ready and why (pods).
    public static func waitReady(_ env: InstallEnvironment, timeout: Duration) async throws {
        let deadline = env.clock.now() + timeout
        while true {
            var notReady: [(String, WorkloadKind, String)] = []
            for w in workloads {
                let ref: ResourceRef = w.kind == .deployment ? .deployments : .statefulSets
                do {
                    let obj = try await env.api.get(ref, namespace: namespace, name: w.name)
                    if let why = notReadyReason(obj, kind: w.kind) { notReady.append((w.name, w.kind, why)) }
                } catch let e as KubeAPIError where e.isTransient {
                    notReady.append((w.name, w.kind, "API error: \(e)"))
                }
            }
            if notReady.isEmpty { return }
            if env.clock.now() >= deadline {
                var lines: [String] = []
                for (name, kind, why) in notReady {
                    lines.append("\(kind.rawValue) argocd/\(name): \(why)")
                    for p in await podDiagnoses(env, app: name) { lines.append("  " + p) }
                }
                let first = notReady[0]
                throw AphexError.timeout(
                    """
                    ArgoCD is not ready after \(formatDuration(timeout)): \(first.1.rawValue) \(first.0) \
                    \(first.2)\(notReady.count > 1 ? " (and \(notReady.count - 1) more)" : ""). See below; image \
                    pulls are the usual cause (`kubectl -n argocd get pods`). Re-run to keep waiting.
                    """,
                    detail: lines.joined(separator: "\n"))
            }
            try await env.clock.sleep(for: env.pollInterval)
        }
    }

    /// Why the pods of one ArgoCD component are not ready (waiting reasons, unschedulable).
    static func podDiagnoses(_ env: InstallEnvironment, app: String) async -> [String] {
        guard
            let pods = try? await env.api.list(
                .pods, namespace: namespace, labelSelector: "app.kubernetes.io/name=\(app)")
        else {
            return []
        }
        if pods.isEmpty {
            return ["no pods (check the ReplicaSet/StatefulSet events: `kubectl -n argocd describe \(app)`)"]
        }
        var out: [String] = []
        for pod in pods {
            let name = pod.name ?? "?"
            var reasons: [String] = []
            for cs in (pod[path: "status", "initContainerStatuses"]?.array ?? [])
                + (pod[path: "status", "containerStatuses"]?.array ?? [])
            {
                if let w = cs[path: "state", "waiting"] {
                    var r = "container \(cs["name"]?.string ?? "?") waiting: \(w["reason"]?.string ?? "?")"
                    if let m = w["message"]?.string, !m.isEmpty { r += " (\(m))" }
                    reasons.append(r)
                } else if cs["ready"]?.bool == false, let t = cs[path: "state", "terminated"] {
                    reasons.append("container \(cs["name"]?.string ?? "?") terminated: \(t["reason"]?.string ?? "?")")
                }
            }
            for c in pod[path: "status", "conditions"]?.array ?? []
            where c["type"]?.string == "PodScheduled" && c["status"]?.string == "False" {
                reasons.append("unschedulable: \(c["message"]?.string ?? c["reason"]?.string ?? "?")")
            }
            let phase = pod[path: "status", "phase"]?.string ?? "?"
            out.append("pod \(name) (\(phase))" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")))
        }
        return out
    }
}
