import AphexCore
import KubeClient
import Foundation

/// ArgoCD's application controller, as far as aphex can see it: once `platform-root` exists
/// in namespace argocd (and argocd-application-controller, if installed, is ready), it creates
/// the scenario's child Applications and syncs them wave by wave; a wave starts only when the
/// previous one is Synced and Healthy. Honours the refresh annotation and platform-root's
/// resources finalizer.
final class ArgoCDController: SimController {
    var refreshSeen: [String: Duration] = [:]
    var lastRefresh: [String: Duration] = [:]
    var rootDeletingSince: Duration?
    /// role cert-foundation: when an apply got through cert-manager's webhook, and how many
    /// attempts the webhook rejected so far with what message (ArgoCD does not retry once the
    /// retries are used up, so both are remembered).
    var admittedAt: [String: Duration] = [:]
    var rejections: [String: (count: Int, message: String)] = [:]
    /// argocd-application-controller was installed at some point: from then on, it must be
    /// running for anything to happen (a world that never installs ArgoCD has an implicit one).
    var controllerSeen = false

    static let appRef = ResourceRef(
        group: "argoproj.io", version: "v1alpha1", resource: "applications", kind: "Application")
    static let finalizer = "resources-finalizer.argocd.argoproj.io"

    func revision(_ w: SimWorld) -> String { String(nameHash("\(w.scenario.name)/HEAD").prefix(40)) }

    func step(_ w: SimWorld, now: Duration) -> Bool {
        guard w.types[w.typeKey("argoproj.io", "applications")] != nil else { return false }
        var changed = false
        if w.objects[ObjectKey(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller")]
            != nil
        {
            controllerSeen = true
        }
        if handleRefresh(w, now: now) { changed = true }
        let rootKey = ObjectKey(Self.appRef, namespace: "argocd", name: w.scenario.rootName)
        guard let root = w.objects[rootKey] else {
            rootDeletingSince = nil
            return changed
        }
        // Root deletion: cascade to the children, then drop the finalizer — only while the
        // application controller runs, and never when the scenario's ArgoCD ignores finalizers.
        if root[path: "metadata", "deletionTimestamp"] != nil {
            guard w.scenario.argocdFinalizers == "process", controllerRunning(w, now: now) else {
                rootDeletingSince = nil
                return changed
            }
            if rootDeletingSince == nil { rootDeletingSince = now }
            let children = w.objects.filter {
                $0.key.group == "argoproj.io" && $0.key.resource == "applications" && $0.key != rootKey
                    && $0.value.labels["app.kubernetes.io/instance"] == w.scenario.rootName
            }
            for (ck, c) in children where c[path: "metadata", "deletionTimestamp"] == nil {
                w.markDeleted(ck, by: nil)
                changed = true
            }
            if children.isEmpty, now >= rootDeletingSince! + w.scenario.delay(w.scenario.timings.finalizer) {
                var r = root
                let fins = (r[path: "metadata", "finalizers"]?.array ?? []).filter { $0.string != Self.finalizer }
                r.set(["metadata", "finalizers"], to: fins.isEmpty ? nil : .array(fins))
                w.store(r, key: rootKey)
                changed = true
            }
            return changed
        }
        // The controller must be running.
        let ctrlKey = ObjectKey(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller")
        var start = w.createdAt[rootKey] ?? now
        if w.objects[ctrlKey] != nil {
            guard let ready = w.workloadReadyAt[ctrlKey] else { return changed }
            start = max(start, ready)
        }
        let rootStart = start + w.scenario.delay(w.scenario.timings.rootSync)
        guard now >= rootStart else { return changed }
        let rev = revision(w)

        // Waves.
        var waveStart: Duration? = rootStart
        var rootResources: [JSON] = []
        for (_, apps) in w.scenario.waves {
            var waveDone: Duration? = waveStart == nil ? nil : Duration.zero
            for app in apps {
                let (c, healthyAt, sync) = reconcileApp(
                    w, app, waveStart: waveStart, rootStart: rootStart, now: now, rev: rev)
                if c { changed = true }
                rootResources.append([
                    "group": "argoproj.io", "version": "v1alpha1", "kind": "Application", "namespace": "argocd",
                    "name": .string(app.name), "status": .string(sync)
                ])
                if let h = healthyAt, let d = waveDone { waveDone = max(d, h) } else { waveDone = nil }
            }
            if let d = waveDone, now >= d { waveStart = d } else { waveStart = nil }
        }
        // Every wave done: the platform's final transition happened at the last wave's end.
        w.platformConvergedAt = w.scenario.waves.isEmpty ? nil : waveStart
        // Root status.
        var status: JSON = [
            "sync": [
                "status": "Synced", "revision": .string(rev),
                "comparedTo": [
                    "source": root[path: "spec", "source"] ?? [:],
                    "destination": root[path: "spec", "destination"] ?? [:]
                ]
            ],
            "health": ["status": "Healthy"],
            "reconciledAt": .string(w.wall(max(rootStart, lastRefresh[w.scenario.rootName] ?? .zero))),
            "sourceType": "Directory",
            "resources": .array(rootResources),
            "operationState": [
                "operation": [
                    "sync": ["revision": .string(rev)], "initiatedBy": ["automated": true], "retry": ["limit": 5]
                ],
                "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                "startedAt": .string(w.wall(start)), "finishedAt": .string(w.wall(rootStart)),
                "syncResult": ["revision": .string(rev), "source": root[path: "spec", "source"] ?? [:]]
            ],
            "summary": [:]
        ]
        if let h = root[path: "status", "history"] {
            status["history"] = h
        } else {
            status["history"] = [
                [
                    "id": 0, "revision": .string(rev), "deployStartedAt": .string(w.wall(start)),
                    "deployedAt": .string(w.wall(rootStart)), "source": root[path: "spec", "source"] ?? [:]
                ]
            ]
        }
        if w.setStatus(rootKey, status) { changed = true }
        return changed
    }

    /// Whether the application controller processes anything now: the StatefulSet
    /// argocd/argocd-application-controller exists with replicas > 0 and is ready — or was never
    /// installed in this world (scenarios that start bootstrapped have an implicit controller).
    func controllerRunning(_ w: SimWorld, now: Duration) -> Bool {
        let ctrlKey = ObjectKey(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller")
        guard let sts = w.objects[ctrlKey] else { return !controllerSeen }
        controllerSeen = true
        if sts[path: "metadata", "deletionTimestamp"] != nil || sts[path: "spec", "replicas"]?.int == 0 { return false }
        guard let ready = w.workloadReadyAt[ctrlKey] else { return false }
        return now >= ready
    }

    /// Creates/updates one child Application. Returns (changed, healthyAt if known, sync status).
    func reconcileApp(
        _ w: SimWorld, _ app: Scenario.App, waveStart: Duration?, rootStart: Duration, now: Duration,
        rev: String
    ) -> (Bool, Duration?, String) {
        var changed = false
        let k = ObjectKey(Self.appRef, namespace: "argocd", name: app.name)
        if w.objects[k] == nil {
            let obj: JSON = [
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": [
                    "name": .string(app.name), "namespace": "argocd",
                    "annotations": ["argocd.argoproj.io/sync-wave": .string(String(app.wave))],
                    "labels": ["app.kubernetes.io/instance": .string(w.scenario.rootName)]
                ],
                "spec": [
                    "project": "default",
                    "source": [
                        "repoURL": "https://github.com/bdchatham/AphexPlatformInfrastructure.git",
                        "targetRevision": "HEAD", "path": .string(app.path)
                    ],
                    "destination": ["server": "https://kubernetes.default.svc", "namespace": .string(app.namespace)],
                    "syncPolicy": [
                        "automated": ["prune": true, "selfHeal": true], "syncOptions": ["CreateNamespace=true"]
                    ]
                ]
            ]
            w.store(obj, key: k, at: rootStart)
            changed = true
        }
        guard let current = w.objects[k], current[path: "metadata", "deletionTimestamp"] == nil else {
            return (changed, nil, "Unknown")
        }
        let t = w.scenario.timings
        let workloads = workloadsOf(app)
        var resources: [JSON] = workloads.map {
            [
                "group": "apps", "version": "v1", "kind": .string($0.kind), "namespace": .string($0.namespace),
                "name": .string($0.name)
            ]
        }
        if app.role == "cert-foundation" {
            resources.append([
                "group": "cert-manager.io", "version": "v1", "kind": "ClusterIssuer",
                "name": .string(Self.clusterIssuer)
            ])
        }
        var syncedAtOverride: Duration? = nil
        var syncStatus = "OutOfSync", health = "Missing", healthMessage: String? = nil
        var postSyncRefresh: Duration? = nil
        var op: JSON? = nil
        var conditions: [JSON] = []
        var healthyAt: Duration? = nil
        var opBase: JSON = [
            "sync": ["revision": .string(rev), "syncOptions": ["CreateNamespace=true"]],
            "initiatedBy": ["automated": true]
        ]
        if app.retryLimit > 0 {
            opBase["retry"] = [
                "limit": .int(Int64(app.retryLimit)), "backoff": ["duration": "5s", "factor": 2, "maxDuration": "3m"]
            ]
        }
        var rejected: (attempts: Int, times: [Duration], message: String)? = nil
        if let ws = waveStart, now >= ws, !app.neverSyncs, app.role == "cert-foundation" {
            switch admission(w, app, first: ws + w.scenario.delay(t.appSync), now: now) {
            case .admitted(let at): syncedAtOverride = at
            case .pending: break
            case .rejected(let attempts, let times, let message): rejected = (attempts, times, message)
            }
        }
        if let ws = waveStart, now >= ws, let r = rejected {
            // The webhook rejected the apply: ArgoCD retries (5 s doubling, at most 3 min), then
            // fails the operation; the object stays Missing and the app OutOfSync.
            let final = r.attempts == r.times.count
            let reason = "one or more objects failed to apply, reason: " + r.message
            let message =
                final
                ? reason + (app.retryLimit > 0 ? " (retried \(app.retryLimit) times)." : "")
                : "\(reason). Retrying attempt #\(r.attempts) at \(kitchen(w, r.times[r.attempts]))."
            op = [
                "operation": opBase, "phase": final ? "Failed" : "Running", "message": .string(message),
                "startedAt": .string(w.wall(ws)),
                "syncResult": [
                    "revision": .string(rev),
                    "resources": .array(
                        resources.map { x in
                            var x = x
                            x["status"] = "SyncFailed"
                            x["message"] = .string(r.message)
                            x["hookPhase"] = "Failed"
                            x["syncPhase"] = "Sync"
                            return x
                        })
                ]
            ]
            if app.retryLimit > 0 { op!["retryCount"] = .int(Int64(min(r.attempts, app.retryLimit))) }
            if final {
                op!["finishedAt"] = .string(w.wall(r.times[r.attempts - 1]))
                conditions = [
                    [
                        "type": "SyncError", "message": .string("Failed sync attempt to \(rev): \(message)"),
                        "lastTransitionTime": .string(w.wall(r.times[r.attempts - 1]))
                    ]
                ]
            }
        } else if let ws = waveStart, now >= ws {
            if app.neverSyncs {
                let attempt = min(5, Int((now - ws).seconds / max(0.001, w.scenario.delay(5).seconds)) + 1)
                let reason =
                    """
                    one or more objects failed to apply, reason: Internal error occurred: failed calling webhook: \
                    the server could not find the requested resource
                    """
                op = [
                    "operation": opBase, "phase": attempt >= 5 ? "Failed" : "Running",
                    "message": .string(
                        attempt >= 5
                            ? "\(reason). Retry attempt #5 failed."
                            : "\(reason). Retrying attempt #\(attempt) at \(w.wall(now))."),
                    "retryCount": .int(Int64(attempt)), "startedAt": .string(w.wall(ws))
                ]
                if attempt >= 5 { op!["finishedAt"] = .string(w.wall(ws + w.scenario.delay(25))) }
                conditions = [
                    [
                        "type": "SyncError", "message": .string("Failed sync attempt to \(rev): \(reason)"),
                        "lastTransitionTime": .string(w.wall(ws))
                    ]
                ]
            } else {
                let syncedAt = syncedAtOverride ?? ws + w.scenario.delay(t.appSync)
                if now < syncedAt {
                    op = [
                        "operation": opBase, "phase": "Running", "message": "one or more tasks are running",
                        "startedAt": .string(w.wall(ws))
                    ]
                } else {
                    // The sync applied the app's objects; like ArgoCD, the controller refreshes
                    // the app right after the operation, so reconciledAt follows finishedAt.
                    postSyncRefresh = syncedAt
                    if createObjects(w, app, at: syncedAt) { changed = true }
                    syncStatus = "Synced"
                    op = [
                        "operation": opBase, "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                        "startedAt": .string(w.wall(ws)), "finishedAt": .string(w.wall(syncedAt)),
                        "syncResult": [
                            "revision": .string(rev),
                            "resources": .array(
                                resources.map { r in
                                    var x = r
                                    x["status"] = "Synced"
                                    let kind = (r["kind"]?.string ?? "").lowercased()
                                    let group = r["group"]?.string ?? "apps"
                                    x["message"] = .string("\(kind).\(group)/\(r["name"]?.string ?? "") created")
                                    x["hookPhase"] = "Running"
                                    x["syncPhase"] = "Sync"
                                    return x
                                })
                        ]
                    ]
                    if let hook = app.hook {
                        // A multi-step sync: the operation runs until the hook ends; its failure
                        // fails the operation (gitops-engine: "one or more synchronization tasks
                        // completed unsuccessfully"). Hooks do not count in the app's health.
                        let failAt = syncedAt + w.scenario.delay(hook.failsAfter)
                        let failed = now >= failAt
                        let hookResult: JSON = [
                            "group": "batch", "version": "v1", "kind": "Job", "namespace": .string(app.namespace),
                            "name": .string(hook.name), "status": "Synced",
                            "message": .string(
                                failed
                                    ? "Job has reached the specified backoff limit" : "job.batch/\(hook.name) created"),
                            "hookType": .string(hook.type), "hookPhase": failed ? "Failed" : "Running",
                            "syncPhase": .string(hook.type)
                        ]
                        var result = op?["syncResult"] ?? [:]
                        result["resources"] = .array((result["resources"]?.array ?? []) + [hookResult])
                        let message =
                            "one or more synchronization tasks completed unsuccessfully"
                            + (app.retryLimit > 0 ? " (retried \(app.retryLimit) times)." : "")
                        op = [
                            "operation": opBase, "phase": failed ? "Failed" : "Running",
                            "message": .string(failed ? message : "one or more tasks are running"),
                            "startedAt": .string(w.wall(ws)), "syncResult": result
                        ]
                        if failed {
                            op!["finishedAt"] = .string(w.wall(failAt))
                            if app.retryLimit > 0 { op!["retryCount"] = .int(Int64(app.retryLimit)) }
                            conditions = [
                                [
                                    "type": "SyncError",
                                    "message": .string("Failed sync attempt to \(rev): \(message)"),
                                    "lastTransitionTime": .string(w.wall(failAt))
                                ]
                            ]
                        }
                        postSyncRefresh = failed ? failAt : nil
                    }
                    var readyTimes: [Duration] = [syncedAt + w.scenario.delay(t.appHealthy)]
                    var pending: Scenario.Workload? = nil
                    for wl in workloads {
                        let wk = ObjectKey(
                            ResourceRef(
                                group: "apps", version: "v1", resource: wl.kind.lowercased() + "s", kind: wl.kind),
                            namespace: wl.namespace, name: wl.name)
                        if let r = w.workloadReadyAt[wk] {
                            readyTimes.append(r)
                        } else {
                            pending = wl
                            readyTimes = []
                            break
                        }
                    }
                    if let last = readyTimes.max(), pending == nil {
                        healthyAt = last
                    }
                    if let h = healthyAt, now >= h {
                        health = "Healthy"
                        if let d = app.degradeAfter, now >= h + w.scenario.delay(d) {
                            health = "Degraded"
                            healthMessage = app.degradedMessage
                        }
                    } else {
                        health = "Progressing"
                        let wl = pending ?? workloads.first
                        healthMessage = wl.map {
                            "Waiting for rollout to finish: 0 of \($0.replicas) updated replicas are available..."
                        }
                    }
                }
            }
        }
        resources = resources.map { r in
            var x = r
            x["status"] = .string(syncStatus)
            var h =
                health == "Degraded"
                ? "Degraded" : (syncStatus == "Synced" ? (health == "Healthy" ? "Healthy" : "Progressing") : "Missing")
            var message: String? = nil
            // While the app is Progressing, each workload has its own health (ArgoCD judges every resource).
            if h == "Progressing", let kind = r["kind"]?.string,
                let wl = workloads.first(where: { $0.kind == kind && $0.name == r["name"]?.string })
            {
                let wk = ObjectKey(
                    ResourceRef(group: "apps", version: "v1", resource: kind.lowercased() + "s", kind: kind),
                    namespace: wl.namespace, name: wl.name)
                if let ready = w.workloadReadyAt[wk], now >= ready {
                    h = "Healthy"
                } else {
                    message = "Waiting for rollout to finish: 0 of \(wl.replicas) updated replicas are available..."
                }
            }
            x["health"] = ["status": .string(h)]
            if let message { x["health"]?["message"] = .string(message) }
            return x
        }
        var status: JSON = [
            "sync": [
                "status": .string(syncStatus), "revision": .string(rev),
                "comparedTo": [
                    "source": current[path: "spec", "source"] ?? [:],
                    "destination": current[path: "spec", "destination"] ?? [:]
                ]
            ],
            "health": ["status": .string(health)],
            "reconciledAt": .string(
                w.wall(
                    max(
                        max(waveStart.map { min($0, now) } ?? rootStart, lastRefresh[app.name] ?? .zero),
                        postSyncRefresh ?? .zero))),
            "sourceType": "Directory",
            "resources": .array(resources),
            "summary": ["images": .array(workloads.map { .string($0.image) })]
        ]
        if let m = healthMessage { status["health"]?["message"] = .string(m) }
        if let op { status["operationState"] = op }
        // ArgoCD refreshes an app after each operation: reconciledAt is never before the last finishedAt.
        if let f = op?["finishedAt"]?.string, let r = status["reconciledAt"]?.string, r < f {
            status["reconciledAt"] = .string(f)
        }
        if !conditions.isEmpty { status["conditions"] = .array(conditions) }
        if w.setStatus(k, status) { changed = true }
        return (changed, app.neverSyncs || rejected != nil ? nil : healthyAt, syncStatus)
    }

    static let clusterIssuer = "selfsigned-issuer"

    enum Admission {
        case pending
        case admitted(Duration)
        case rejected(attempts: Int, times: [Duration], message: String)
    }

    /// role cert-foundation: its ClusterIssuer goes through cert-manager's webhook. The first
    /// apply at `first`, then ArgoCD's retries (5 s doubling, at most 3 min apart), each admitted
    /// or rejected by the world's admission as it stands when the attempt is seen; the first
    /// admitted attempt is the sync. The rejection reads as gitops-engine reports a failed
    /// `kubectl apply` of a new object.
    func admission(_ w: SimWorld, _ app: Scenario.App, first: Duration, now: Duration) -> Admission {
        if let at = admittedAt[app.name] { return .admitted(at) }
        var times = [first]
        for k in 0..<max(0, app.retryLimit) {
            times.append(times.last! + w.scenario.delay(min(180, 5 * pow(2, Double(k)))))
        }
        var r = rejections[app.name] ?? (0, "")
        while r.count < times.count && times[r.count] <= now {
            do {
                try w.callWebhooks(group: "cert-manager.io", resource: "clusterissuers", operation: "CREATE")
                admittedAt[app.name] = times[r.count]
                rejections[app.name] = nil
                return .admitted(times[r.count])
            } catch {
                let m = (error as? SimAPIError)?.message ?? "\(error)"
                let file =
                    "/dev/shm/"
                    + String(UInt64(nameHash("\(app.name)/\(r.count)").prefix(8), radix: 16)! % 4_000_000_000)
                r = (r.count + 1, "error when creating \"\(file)\": \(m)")
            }
        }
        rejections[app.name] = r
        return r.count == 0 ? .pending : .rejected(attempts: r.count, times: times, message: r.message)
    }

    /// Go's time.Kitchen ("3:04PM", UTC: the controller's clock), as ArgoCD writes a retry time.
    func kitchen(_ w: SimWorld, _ t: Duration) -> String {
        let date = w.clock.wallNow().addingTimeInterval((t - w.now).seconds)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.hour, .minute], from: date)
        let h = c.hour ?? 0, m = c.minute ?? 0
        return "\(h % 12 == 0 ? 12 : h % 12):\(m < 10 ? "0" : "")\(m)\(h < 12 ? "AM" : "PM")"
    }

    /// The app's workloads: the scenario's, or the defaults of its role.
    func workloadsOf(_ app: Scenario.App) -> [Scenario.Workload] {
        if !app.workloads.isEmpty { return app.workloads }
        switch app.role {
        case "cert-manager":
            return ["cert-manager", "cert-manager-cainjector", "cert-manager-webhook"].map {
                Scenario.Workload(
                    kind: "Deployment", name: $0, namespace: "cert-manager",
                    image:
                        """
                        quay.io/\
                        jetstack/\($0.replacingOccurrences(of: "cert-manager-", with: "cert-manager-")):v1.16.2
                        """
                        .replacingOccurrences(of: "jetstack/cert-manager:", with: "jetstack/cert-manager-controller:"),
                    replicas: 1)
            }
        case "authentik":
            return [
                Scenario.Workload(
                    kind: "Deployment", name: "authentik-server", namespace: "auth-system",
                    image: "ghcr.io/goauthentik/server:2024.12.3", replicas: 1),
                Scenario.Workload(
                    kind: "Deployment", name: "authentik-worker", namespace: "auth-system",
                    image: "ghcr.io/goauthentik/server:2024.12.3", replicas: 1)
            ]
        default:
            return []
        }
    }

    /// What the app's sync applies: its namespace, workloads, services; for cert-manager its
    /// CRDs and webhook configurations (caBundle empty until cainjector fills it).
    func createObjects(_ w: SimWorld, _ app: Scenario.App, at t: Duration) -> Bool {
        var changed = false
        var namespaces = Set([app.namespace])
        for wl in workloadsOf(app) { namespaces.insert(wl.namespace) }
        for ns in namespaces.sorted()
        where w.objects[ObjectKey(ResourceRef.namespaces, namespace: nil, name: ns)] == nil {
            w.ensureNamespace(ns)
            changed = true
        }
        for wl in workloadsOf(app) {
            let ref = ResourceRef(group: "apps", version: "v1", resource: wl.kind.lowercased() + "s", kind: wl.kind)
            let k = ObjectKey(ref, namespace: wl.namespace, name: wl.name)
            if w.objects[k] != nil { continue }
            var labels: JSON = [
                "app.kubernetes.io/name": .string(wl.name), "app.kubernetes.io/instance": .string(app.name)
            ]
            if app.role == "cert-manager" {
                // The chart's component label (what `aphex status` selects the cainjector pod by).
                labels["app.kubernetes.io/component"] = .string(
                    wl.name == "cert-manager"
                        ? "controller" : wl.name.replacingOccurrences(of: "cert-manager-", with: ""))
            }
            var spec: JSON = [
                "selector": ["matchLabels": labels],
                "template": [
                    "metadata": ["labels": labels],
                    "spec": ["containers": [["name": .string(wl.name), "image": .string(wl.image)]]]
                ]
            ]
            if wl.kind != "DaemonSet" { spec["replicas"] = .int(Int64(wl.replicas)) }
            w.store(
                [
                    "apiVersion": "apps/v1", "kind": .string(wl.kind),
                    "metadata": ["name": .string(wl.name), "namespace": .string(wl.namespace), "labels": labels],
                    "spec": spec
                ],
                key: k, at: t)
            changed = true
        }
        func svc(_ name: String, _ ns: String, port: Int64, target: Int64) {
            let k = ObjectKey(ResourceRef.services, namespace: ns, name: name)
            if w.objects[k] != nil { return }
            w.store(
                [
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": ["name": .string(name), "namespace": .string(ns)],
                    "spec": [
                        "type": "ClusterIP", "clusterIP": .string(w.serviceIP(ns, name)),
                        "selector": ["app.kubernetes.io/name": .string(name)],
                        "ports": [["name": "https", "port": .int(port), "targetPort": .int(target), "protocol": "TCP"]]
                    ]
                ],
                key: k, at: t)
            changed = true
        }
        switch app.role {
        case "cert-manager":
            svc("cert-manager-webhook", "cert-manager", port: 443, target: 10250)
            for (plural, kind, namespaced) in [
                ("certificates", "Certificate", true), ("issuers", "Issuer", true),
                ("clusterissuers", "ClusterIssuer", false), ("certificaterequests", "CertificateRequest", true)
            ]
            where w.types[w.typeKey("cert-manager.io", plural)] == nil {
                w.installCRD(
                    group: "cert-manager.io", version: "v1", plural: plural, kind: kind, namespaced: namespaced)
                changed = true
            }
            for (ref, kind, path) in [
                (ResourceRef.validatingWebhooks, "ValidatingWebhookConfiguration", "/validate"),
                (ResourceRef.mutatingWebhooks, "MutatingWebhookConfiguration", "/mutate")
            ] {
                let k = ObjectKey(ref, namespace: nil, name: "cert-manager-webhook")
                if w.objects[k] != nil { continue }
                w.store(
                    [
                        "apiVersion": "admissionregistration.k8s.io/v1", "kind": .string(kind),
                        "metadata": [
                            "name": "cert-manager-webhook",
                            "annotations": [
                                "cert-manager.io/inject-ca-from-secret": "cert-manager/cert-manager-webhook-ca"
                            ]
                        ],
                        "webhooks": [
                            [
                                "name": "webhook.cert-manager.io", "admissionReviewVersions": ["v1"],
                                "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 30,
                                "clientConfig": [
                                    "service": [
                                        "name": "cert-manager-webhook", "namespace": "cert-manager",
                                        "path": .string(path), "port": 443
                                    ]
                                ],
                                "rules": [
                                    [
                                        "apiGroups": ["cert-manager.io", "acme.cert-manager.io"], "apiVersions": ["v1"],
                                        "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]
                                    ]
                                ]
                            ]
                        ]
                    ],
                    key: k, at: t)
                changed = true
            }
        case "authentik":
            svc("authentik-server", "auth-system", port: 9000, target: 9000)
        case "cert-foundation":
            let k = ObjectKey(
                ResourceRef(group: "cert-manager.io", version: "v1", resource: "clusterissuers", kind: "ClusterIssuer"),
                namespace: nil, name: Self.clusterIssuer)
            if w.types[w.typeKey("cert-manager.io", "clusterissuers")] != nil, w.objects[k] == nil {
                w.store(
                    [
                        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                        "metadata": ["name": .string(Self.clusterIssuer)],
                        "spec": ["selfSigned": [:]]
                    ], key: k, at: t)
                changed = true
            }
        default: break
        }
        return changed
    }

    /// `argocd.argoproj.io/refresh`: ArgoCD refreshes the app and removes the annotation.
    func handleRefresh(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        for (k, o) in w.objects where k.group == "argoproj.io" && k.resource == "applications" {
            guard o.annotations["argocd.argoproj.io/refresh"] != nil else {
                refreshSeen[k.name] = nil
                continue
            }
            let seen = refreshSeen[k.name] ?? now
            refreshSeen[k.name] = seen
            let due = seen + w.scenario.delay(w.scenario.timings.refresh)
            if now >= due {
                var next = o
                var ann = o[path: "metadata", "annotations"]?.object ?? [:]
                ann["argocd.argoproj.io/refresh"] = nil
                next.set(["metadata", "annotations"], to: ann.isEmpty ? nil : .object(ann))
                lastRefresh[k.name] = due
                if next["status"] != nil { next.set(["status", "reconciledAt"], to: .string(w.wall(due))) }
                w.store(next, key: k)
                refreshSeen[k.name] = nil
                changed = true
            }
        }
        return changed
    }
}
