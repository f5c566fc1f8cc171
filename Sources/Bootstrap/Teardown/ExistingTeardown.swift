import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `aphex destroy --use-existing`: deletes exactly the objects aphex recorded as its own
/// (`OwnershipRecord`, each only while it still has the recorded uid), in an order that lets
/// ArgoCD clean up, with every wait bounded by one deadline (`--timeout`).
///
/// Order:
/// 1. aphex's Applications (platform-root). Its `resources-finalizer.argocd.argoproj.io`
///    makes ArgoCD delete the child Applications (and what they deployed) first; aphex waits,
///    saying what is still there, until they are gone. `--remove-finalizers` removes ArgoCD's
///    finalizers from aphex's own Applications only, so they go at once (their child
///    Applications and resources are then left in the cluster).
/// 2. No Application anywhere may still be waiting for ArgoCD's finalizer when ArgoCD goes:
///    aphex waits for them (ArgoCD is never deleted while it has finalizers to process).
/// 3. Webhook configurations (a webhook whose service is gone would block the rest), the
///    namespaced objects outside aphex's namespaces and the cluster-scoped ones, ArgoCD's
///    application controller last, then the namespaces aphex created (with what is in them).
/// 4. aphex's CRDs, unless objects aphex did not create still use one (it is kept and named).
/// 5. The record itself (or, when something was kept, the record of what was kept).
///
/// A timeout is exit 3 with a diagnosis: the object still present, its finalizers, the state
/// of ArgoCD's application controller, and what to do. Ctrl-C is exit 130; the record stays
/// until everything in it is gone, so the same command resumes.
struct ExistingTeardown {
    let ctx: AppContext
    let api: any KubeAPI
    let objects: [OwnedObject]
    let timeout: Duration
    let removeFinalizers: Bool
    /// The command that re-runs this destroy (for messages).
    let rerun: String
    var poll: Duration = .seconds(1)
    var progressEvery: Duration = .seconds(5)

    struct Result {
        var removed: Int
        /// What was left on purpose, each with the reason.
        var kept: [String]
    }

    static let controllerName = "argocd-application-controller"

    var clock: any TimeSource { ctx.host.clock }
    var reporter: any Reporter { ctx.reporter }

    /// ArgoCD's own finalizers (resources-finalizer.argocd.argoproj.io[/background|/foreground], ...).
    static func isArgoFinalizer(_ f: String) -> Bool {
        f.hasSuffix("argocd.argoproj.io") || f.contains("argocd.argoproj.io/")
    }

    static func isController(_ o: OwnedObject) -> Bool { o.kind == "StatefulSet" && o.name == controllerName }
    static func isWebhook(_ o: OwnedObject) -> Bool {
        o.group == "admissionregistration.k8s.io" && o.kind.hasSuffix("WebhookConfiguration")
    }

    /// The deletion plan, in order: [Applications], [webhook configurations], [the objects
    /// outside aphex's namespaces, cluster-scoped ones], [ArgoCD's application controller],
    /// [aphex's namespaces (with everything in them)], [CRDs].
    static func order(_ objects: [OwnedObject]) -> [[OwnedObject]] {
        let owned = Set(objects.filter(\.isNamespace).map(\.name))
        let outside: (OwnedObject) -> Bool = { o in o.namespace.map { !owned.contains($0) } ?? true }
        let sorted = objects.sorted { $0.key < $1.key }
        // Applications always one by one, first (even inside aphex's namespaces: ArgoCD must process them).
        let apps = sorted.filter(\.isApplication)
        let rest = sorted.filter { !$0.isApplication }
        let webhooks = rest.filter(isWebhook)
        let inner = rest.filter { !$0.isNamespace && !$0.isCRD && !isWebhook($0) && !isController($0) && outside($0) }
        let controller = rest.filter { isController($0) && outside($0) }
        return [apps, webhooks, inner, controller, rest.filter(\.isNamespace), rest.filter(\.isCRD)]
    }

    /// "1 Application, 6 Namespaces, 12 CRDs, 140 other objects".
    static func summary(_ objects: [OwnedObject]) -> String {
        let apps = objects.filter(\.isApplication).count, ns = objects.filter(\.isNamespace).count
        let crds = objects.filter(\.isCRD).count
        let other = objects.count - apps - ns - crds
        var parts: [String] = []
        if apps > 0 {
            parts.append(
                """
                \(apps) Application\(apps == 1 ? "" : "s") \
                (\(objects.filter(\.isApplication).map(\.name).joined(separator: ", ")))
                """
            )
        }
        if ns > 0 {
            parts.append(
                """
                \(ns) namespace\(ns == 1 ? "" : "s") \
                (\(objects.filter(\.isNamespace).map(\.name).sorted().joined(separator: ", ")))
                """
            )
        }
        if crds > 0 { parts.append("\(crds) CRD\(crds == 1 ? "" : "s")") }
        if other > 0 { parts.append("\(other) other object\(other == 1 ? "" : "s")") }
        return parts.joined(separator: ", ")
    }

    /// Whether the plan removes ArgoCD (its controller or its CRDs).
    static func removesArgoCD(_ objects: [OwnedObject]) -> Bool {
        objects.contains { isController($0) || ($0.isCRD && $0.name.hasSuffix(".argoproj.io")) }
    }

    func interrupted() -> AphexError {
        AphexError(
            .interrupted,
            """
            Interrupted. Nothing is lost: aphex's record of what it created (ConfigMap \
            \(OwnershipRecord.namespace)/\(OwnershipRecord.name)) is kept until everything in it is gone. Run \
            `\(rerun)` to continue where this run stopped.
            """
        )
    }

    // MARK: run

    func run() async throws -> Result {
        let start = clock.now()
        let deadline = start + timeout
        let plan = Self.order(objects)
        var removed = 0
        var kept: [String] = []
        var keptObjects: [OwnedObject] = []

        // 1. aphex's Applications: ArgoCD deletes what they deployed first.
        if !plan[0].isEmpty {
            let title =
                "Deleting \(plan[0].map(\.name).joined(separator: ", "))"
                + (removeFinalizers
                    ? " (--remove-finalizers: without waiting for ArgoCD)" : " (ArgoCD deletes its Applications first)")
            reporter.emit(.stepStarted(id: "destroy.applications", title: title))
            let t0 = clock.now()
            var waiting: [OwnedObject] = []
            for (app, obj) in try await present(plan[0], kept: &kept) {
                if obj[path: "metadata", "deletionTimestamp"] == nil { try await delete(app, obj) }
                waiting.append(app)
            }
            if removeFinalizers {
                for app in waiting { try await dropArgoFinalizers(app) }
            }
            do {
                try await waitGone(waiting, deadline: deadline, start: start, applications: true)
            } catch {
                reporter.emit(
                    .stepFinished(
                        id: "destroy.applications", title: title, outcome: .failed,
                        seconds: (clock.now() - t0).seconds, detail: Task.isCancelled ? "interrupted" : nil))
                throw error
            }
            removed += waiting.count
            reporter.emit(
                .stepFinished(
                    id: "destroy.applications", title: title, outcome: waiting.isEmpty ? .unchanged : .done,
                    seconds: (clock.now() - t0).seconds, detail: nil))
        }

        // 2.-4. The rest, ArgoCD's controller last, never while it has finalizers to process.
        let title = "Deleting ArgoCD, Tekton and the namespaces aphex created"
        reporter.emit(.stepStarted(id: "destroy.objects", title: title))
        let t1 = clock.now()
        do {
            if Self.removesArgoCD(objects) { try await waitForArgoFinalizers(deadline: deadline, start: start) }
            var deleted: [OwnedObject] = []
            for (o, obj) in try await present(Array(plan[1...4].joined()), kept: &kept) {
                if obj[path: "metadata", "deletionTimestamp"] == nil { try await delete(o, obj) }
                deleted.append(o)
            }
            try await waitGone(deleted, deadline: deadline, start: start, applications: false)
            removed += deleted.count
            var crds: [OwnedObject] = []
            for (crd, obj) in try await present(plan[5], kept: &kept) {
                let users = try await foreignUsers(of: obj)
                if !users.isEmpty {
                    kept.append(
                        """
                        CRD \(crd.name): \(users.count) object\(users.count == 1 ? "" : "s") aphex did not \
                        create still use\(users.count == 1 ? "s" : "") it \
                        (\(users.prefix(5).joined(separator: ", "))\(users.count > 5 ? ", ..." : "")). \
                        Deleting the CRD would delete them too: remove them first if they are not needed, \
                        then run `\(rerun)` again.
                        """
                    )
                    keptObjects.append(crd)
                    continue
                }
                if obj[path: "metadata", "deletionTimestamp"] == nil { try await delete(crd, obj) }
                crds.append(crd)
            }
            try await waitGone(crds, deadline: deadline, start: start, applications: false)
            removed += crds.count
        } catch {
            reporter.emit(
                .stepFinished(
                    id: "destroy.objects", title: title, outcome: .failed,
                    seconds: (clock.now() - t1).seconds, detail: Task.isCancelled ? "interrupted" : nil))
            throw error
        }
        reporter.emit(
            .stepFinished(
                id: "destroy.objects", title: title, outcome: .done, seconds: (clock.now() - t1).seconds,
                detail: "\(removed) object\(removed == 1 ? "" : "s") removed"))

        // 5. The record: gone with the last object, or what was kept.
        if keptObjects.isEmpty {
            let path = ResourceRef.configMaps.path(namespace: OwnershipRecord.namespace, name: OwnershipRecord.name)
            let r = try await api.request("DELETE", path: path, body: nil, contentType: nil)
            guard (200..<300).contains(r.status) || r.status == 404 else {
                throw AphexError.failed(
                    """
                    Everything aphex created is gone, but its record (ConfigMap \
                    \(OwnershipRecord.namespace)/\(OwnershipRecord.name)) could not be deleted (HTTP \
                    \(r.status)). Delete it with `kubectl -n \(OwnershipRecord.namespace) delete configmap \
                    \(OwnershipRecord.name)`.
                    """
                )
            }
        } else {
            let record = OwnershipRecord(api: api)
            let keep = Set(keptObjects.map(\.key))
            try await record.forget(try await record.all().filter { !keep.contains($0.key) })
            try await record.flush()
        }
        return Result(removed: removed, kept: kept)
    }

    // MARK: objects

    enum Live {
        case gone
        /// Same name, another uid: not the object aphex created.
        case replaced
        case present(JSON)
    }

    func ref(_ o: OwnedObject) async throws -> ResourceRef? {
        if let r = o.ref { return r }
        // Recorded before its CRD existed: ask discovery now (a kind no longer served is gone).
        guard let info = try await OwnershipRecord(api: api).resource(apiVersion: o.apiVersion, kind: o.kind) else {
            return nil
        }
        var e = o
        e.resource = info.resource
        return e.ref
    }

    /// The objects of `group` that are still aphex's, with their live state. Gone ones are
    /// skipped; one whose name another object took (another uid) is noted in `kept`, not touched.
    func present(_ group: [OwnedObject], kept: inout [String]) async throws -> [(OwnedObject, JSON)] {
        var out: [(OwnedObject, JSON)] = []
        for o in group {
            switch try await live(o) {
            case .gone: continue
            case .replaced:
                kept.append(
                    """
                    \(o.display): another object of that name replaced aphex's (its uid differs); not \
                    aphex's, left alone
                    """
                )
            case .present(let obj): out.append((o, obj))
            }
        }
        return out
    }

    func live(_ o: OwnedObject) async throws -> Live {
        guard let ref = try await ref(o) else { return .gone }
        let obj = try await retrying("read \(o.display)") {
            try await api.get(ref, namespace: o.namespace, name: o.name)
        }
        guard let obj else { return .gone }
        if let uid = o.uid, obj[path: "metadata", "uid"]?.string != uid { return .replaced }
        return .present(obj)
    }

    /// DELETE with the uid as a precondition (the API server refuses to delete a same-named
    /// object that is not the one aphex created) and background propagation.
    func delete(_ o: OwnedObject, _ obj: JSON) async throws {
        guard let ref = try await ref(o) else { return }
        var options: JSON = ["apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"]
        if let uid = obj[path: "metadata", "uid"]?.string { options["preconditions"] = ["uid": .string(uid)] }
        let path = ref.path(namespace: o.namespace, name: o.name)
        let r = try await retrying("delete \(o.display)") {
            try await api.request(
                "DELETE", path: path, body: options.serializedBytes(), contentType: "application/json")
        }
        switch r.status {
        case 200..<300, 404: reporter.debug("deleted \(o.display)")
        case 409: reporter.info("\(o.display) was replaced by another object of the same name; left alone")
        default:
            let message = (try? JSON.parse(r.body))?["message"]?.string ?? r.text
            throw AphexError.failed(
                """
                Could not delete \(o.display) (HTTP \(r.status)): \(message). Nothing else was deleted after it; \
                fix the cause (permissions?) and run `\(rerun)` again.
                """
            )
        }
    }

    /// Removes ArgoCD's finalizers from one of aphex's Applications (a JSON patch that first
    /// tests the uid and the finalizers it read, so it never edits another object or a list
    /// someone else changed meanwhile). Other controllers' finalizers stay.
    func dropArgoFinalizers(_ app: OwnedObject) async throws {
        for _ in 0..<3 {
            guard case .present(let obj) = try await live(app), let ref = try await ref(app) else { return }
            let finalizers = (obj[path: "metadata", "finalizers"]?.array ?? []).compactMap(\.string)
            let keep = finalizers.filter { !Self.isArgoFinalizer($0) }
            guard keep.count != finalizers.count else { return }
            let patch: JSON = .array([
                ["op": "test", "path": "/metadata/uid", "value": obj[path: "metadata", "uid"] ?? .null],
                ["op": "test", "path": "/metadata/finalizers", "value": .array(finalizers.map { .string($0) })],
                ["op": "replace", "path": "/metadata/finalizers", "value": .array(keep.map { .string($0) })]
            ])
            let r = try await api.request(
                "PATCH",
                path: ref.path(namespace: app.namespace, name: app.name) + "?fieldManager=\(FieldManager.apply)",
                body: patch.serializedBytes(), contentType: "application/json-patch+json")
            if (200..<300).contains(r.status) || r.status == 404 {
                let removedNames = finalizers.filter(Self.isArgoFinalizer)
                reporter.warn(
                    """
                    --remove-finalizers: removed \(removedNames.joined(separator: ", ")) from \(app.display). \
                    ArgoCD will not clean up after it: its child Applications and every resource they deployed \
                    are LEFT in the cluster (delete them yourself if they are not wanted).
                    """
                )
                return
            }
            // The object changed between the read and the patch: read it again.
        }
        throw AphexError.failed(
            "Could not remove ArgoCD's finalizer from \(app.display): it kept changing. Run `\(rerun)` again.")
    }

    /// Custom resources of a CRD that aphex did not record (cluster-wide), as "ns/name".
    func foreignUsers(of crd: JSON) async throws -> [String] {
        guard let group = crd[path: "spec", "group"]?.string, let plural = crd[path: "spec", "names", "plural"]?.string,
            let kind = crd[path: "spec", "names", "kind"]?.string
        else { return [] }
        let versions = crd[path: "spec", "versions"]?.array ?? []
        guard let version = (versions.first { $0["storage"]?.bool == true } ?? versions.first)?["name"]?.string else {
            return []
        }
        let namespaced = crd[path: "spec", "scope"]?.string != "Cluster"
        let ref = ResourceRef(group: group, version: version, resource: plural, kind: kind, namespaced: namespaced)
        let items: [JSON]
        do {
            items = try await api.list(ref)
        } catch let e as KubeAPIError {
            if case .notFound = e { return [] }
            throw e
        }
        let recorded = Set(objects.map(\.key))
        return items.compactMap { item -> String? in
            let key = OwnedObject.key(
                apiVersion: ref.apiVersion, kind: kind, namespace: item.namespace, name: item.name ?? "")
            if recorded.contains(key) { return nil }
            return "\(item.namespace.map { "\($0)/" } ?? "")\(item.name ?? "?")"
        }.sorted()
    }

    // MARK: waiting

    /// Polls until every object is gone; progress every `progressEvery` (what is still there
    /// and, for an Application, its finalizers and how many child Applications remain).
    /// On the deadline: exit 3 with the diagnosis.
    func waitGone(_ objects: [OwnedObject], deadline: Duration, start: Duration, applications: Bool) async throws {
        guard !objects.isEmpty else { return }
        var lastProgress = clock.now()
        var lastText = ""
        while true {
            var remaining: [(OwnedObject, JSON)] = []
            for o in objects {
                if case .present(let obj) = try await live(o) { remaining.append((o, obj)) }
            }
            if remaining.isEmpty { return }
            let now = clock.now()
            if now >= deadline {
                throw try await timeoutError(remaining, applications: applications, waited: now - start)
            }
            let text = try await progress(remaining, applications: applications)
            if text != lastText || now - lastProgress >= progressEvery {
                reporter.info("Waiting (\(formatDuration(now - start)) of \(formatDuration(timeout))): \(text)")
                lastText = text
                lastProgress = now
            }
            try await clock.sleep(for: min(poll, max(.milliseconds(10), deadline - now)))
        }
    }

    /// Before ArgoCD goes: no Application in the cluster may still wait for ArgoCD's finalizer.
    func waitForArgoFinalizers(deadline: Duration, start: Duration) async throws {
        var lastProgress: Duration? = nil
        while true {
            let pending = try await applicationsAwaitingArgoCD()
            if pending.isEmpty { return }
            let now = clock.now()
            let names = pending.map { "\($0.namespace ?? "")/\($0.name ?? "")" }
            if now >= deadline {
                let lines = pending.map { a in
                    """
                      Application \(a.namespace ?? "")/\(a.name ?? ""): being deleted since \
                    \(a[path: "metadata", "deletionTimestamp"]?.string ?? "?"); finalizers: \
                    \((a[path: "metadata", "finalizers"]?.array ?? []).compactMap(\.string).joined(separator: ", "))
                    """
                }
                let controller = try await controllerState()
                throw AphexError.timeout(
                    """
                    \(pending.count) Application\(pending.count == 1 ? " is" : "s are") still waiting for ArgoCD \
                    to process \(pending.count == 1 ? "its" : "their") finalizer after \
                    \(formatDuration(now - start)) (\(names.prefix(3).joined(separator: ", "))), so aphex did not \
                    delete ArgoCD (that would strand \(pending.count == 1 ? "it" : "them") for good). Nothing \
                    else was deleted.
                    """,
                    detail: (["Still waiting for ArgoCD:"] + lines + [
                        """
                        ArgoCD's application controller (StatefulSet \
                        \(RootApplication.namespace)/\(Self.controllerName)): \(controller.text)
                        """,
                        "What to do:",
                        "  - Let ArgoCD finish (\(controller.fix)), then run `\(rerun)` again.",
                        """
                          - These Applications are not aphex's: --remove-finalizers does not touch them. If they \
                        must go without ArgoCD, remove their finalizer yourself (`kubectl -n NS patch application \
                        NAME --type json -p '[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]'`; their \
                        resources are then left in the cluster).
                        """
                    ]).joined(separator: "\n"))
            }
            if lastProgress.map({ now - $0 >= progressEvery }) ?? true {
                reporter.info(
                    """
                    Waiting (\(formatDuration(now - start)) of \(formatDuration(timeout))): ArgoCD must first \
                    finish deleting \(names.joined(separator: ", ")) (aphex removes ArgoCD only when no \
                    Application waits for it)
                    """
                )
                lastProgress = now
            }
            try await clock.sleep(for: min(poll, max(.milliseconds(10), deadline - now)))
        }
    }

    /// Applications anywhere that are being deleted and still carry an ArgoCD finalizer.
    func applicationsAwaitingArgoCD() async throws -> [JSON] {
        let items: [JSON]
        do {
            items = try await retrying("list Applications") { try await api.list(.applications) }
        } catch let e as KubeAPIError {
            if case .notFound = e { return [] }  // no Application CRD: nothing waits
            throw e
        }
        return items.filter { a in
            a[path: "metadata", "deletionTimestamp"] != nil
                && (a[path: "metadata", "finalizers"]?.array ?? []).contains {
                    $0.string.map(Self.isArgoFinalizer) ?? false
                }
        }
    }

    /// The child Applications of `root` that still exist (ArgoCD's app-of-apps tracking: the
    /// root's status.resources, the instance label, the tracking-id annotation).
    func children(of root: JSON) async throws -> [String] {
        guard let name = root.name else { return [] }
        let namespace = root.namespace ?? RootApplication.namespace
        let listed = Set(
            (root[path: "status", "resources"]?.array ?? []).filter { $0["kind"]?.string == "Application" }
                .compactMap { $0["name"]?.string })
        let apps = (try? await api.list(.applications, namespace: namespace)) ?? []
        return apps.compactMap { a -> String? in
            guard let n = a.name, n != name else { return nil }
            let tracked =
                listed.contains(n) || a.labels["app.kubernetes.io/instance"] == name
                || (a.annotations["argocd.argoproj.io/tracking-id"]?.hasPrefix(name + ":") ?? false)
            return tracked ? n : nil
        }.sorted()
    }

    func progress(_ remaining: [(OwnedObject, JSON)], applications: Bool) async throws -> String {
        var parts: [String] = []
        for (o, obj) in remaining.prefix(5) {
            let finalizers =
                (obj[path: "metadata", "finalizers"]?.array ?? []).compactMap(\.string)
                + (obj[path: "spec", "finalizers"]?.array ?? []).compactMap(\.string)
            var s = "\(o.display) is still there"
            if !finalizers.isEmpty { s += " (finalizers: \(finalizers.joined(separator: ", ")))" }
            if applications {
                let kids = try await children(of: obj)
                s +=
                    kids.isEmpty
                    ? ", no child Applications left"
                    : """
                    , \(kids.count) child Application\(kids.count == 1 ? "" : "s") \
                    remain\(kids.count == 1 ? "s" : ""): \
                    \(kids.prefix(6).joined(separator: ", "))\(kids.count > 6 ? ", ..." : "")
                    """
            }
            parts.append(s)
        }
        if remaining.count > 5 { parts.append("and \(remaining.count - 5) more") }
        return parts.joined(separator: "; ")
    }

    /// ArgoCD's application controller: missing, not ready, or ready (with what to do).
    struct ControllerState {
        var text: String
        var fix: String
        var ready: Bool
    }

    func controllerState() async throws -> ControllerState {
        let ns = RootApplication.namespace
        let sts = try? await api.get(.statefulSets, namespace: ns, name: Self.controllerName)
        guard let sts else {
            return ControllerState(
                text: "missing",
                fix:
                    """
                    re-install ArgoCD so its application controller runs again (re-running `aphex bootstrap` with \
                    the same flags re-applies it)
                    """,
                ready: false)
        }
        let want = sts[path: "spec", "replicas"]?.int ?? 1
        let ready = sts[path: "status", "readyReplicas"]?.int ?? 0
        if want == 0 || ready < want {
            return ControllerState(
                text: "not ready (\(ready)/\(want) replicas ready)",
                fix: want == 0
                    ? "scale it up: `kubectl -n \(ns) scale statefulset \(Self.controllerName) --replicas=1`"
                    : "see why its pod is not ready: `kubectl -n \(ns) describe pod \(Self.controllerName)-0`",
                ready: false)
        }
        return ControllerState(
            text: "ready (\(ready)/\(want) replicas), yet it has not removed the finalizer",
            fix: "read its log for the deletion's error: `kubectl -n \(ns) logs statefulset/\(Self.controllerName)`",
            ready: true)
    }

    func timeoutError(_ remaining: [(OwnedObject, JSON)], applications: Bool, waited: Duration) async throws
        -> AphexError
    {
        var lines: [String] = ["Still present:"]
        for (o, obj) in remaining {
            let finalizers =
                ((obj[path: "metadata", "finalizers"]?.array ?? []) + (obj[path: "spec", "finalizers"]?.array ?? []))
                .compactMap(\.string)
            var line = "  \(o.display)"
            if let since = obj[path: "metadata", "deletionTimestamp"]?.string {
                line += ": being deleted since \(since)"
            }
            line += "; finalizers: \(finalizers.isEmpty ? "none" : finalizers.joined(separator: ", "))"
            if applications {
                let kids = try await children(of: obj)
                line +=
                    kids.isEmpty
                    ? "; no child Applications left"
                    : """
                    ; \(kids.count) child Application\(kids.count == 1 ? "" : "s") remain: \
                    \(kids.joined(separator: ", "))
                    """
            } else if let phase = obj[path: "status", "phase"]?.string {
                line += "; phase \(phase)"
                for c in obj[path: "status", "conditions"]?.array ?? [] where c["status"]?.string == "True" {
                    line += "; \(c["type"]?.string ?? ""): \(c["message"]?.string ?? "")"
                }
            }
            lines.append(line)
        }
        let first = remaining[0].0
        if applications {
            let controller = try await controllerState()
            lines.append(
                """
                ArgoCD's application controller (StatefulSet \
                \(RootApplication.namespace)/\(Self.controllerName)): \(controller.text)
                """
            )
            lines.append("What to do (either):")
            lines.append(
                """
                  - Let ArgoCD clean up (\(controller.ready ? "it runs but does not finish" : "bring it back")): \
                \(controller.fix); then run `\(rerun)` again.
                """
            )
            lines.append(
                """
                  - Or run `\(rerun) --remove-finalizers`: aphex removes ArgoCD's finalizer from the Applications \
                it created (\(remaining.map(\.0.name).joined(separator: ", "))) and they go at once, but ArgoCD \
                then deletes NOTHING they deployed: their child Applications and all their resources are left in \
                the cluster, for you to remove.
                """
            )
            return AphexError.timeout(
                """
                \(first.display) is still there after \(formatDuration(waited)): ArgoCD has not processed its \
                finalizer, so aphex stopped before removing anything else (deleting ArgoCD now would leave that \
                finalizer unprocessed for good). Nothing else was deleted.
                """,
                detail: lines.joined(separator: "\n"))
        }
        lines.append(
            """
            What to do: the finalizers above belong to the controllers named in them; when they have finished (or \
            the finalizers are removed), run `\(rerun)` again. aphex's record (ConfigMap \
            \(OwnershipRecord.namespace)/\(OwnershipRecord.name)) is kept until everything in it is gone.
            """
        )
        return AphexError.timeout(
            """
            \(first.display)\(remaining.count > 1 ? " (and \(remaining.count - 1) more)" : "") is still being \
            deleted after \(formatDuration(waited)) (--timeout \(formatDuration(timeout))).
            """,
            detail: lines.joined(separator: "\n"))
    }

    /// Retries transient API failures (5xx, connection trouble) a few times, 1 s apart.
    func retrying<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let e as KubeAPIError where e.isTransient && attempt < 5 {
                attempt += 1
                reporter.debug("\(what): \(e); retrying")
                try await clock.sleep(for: .seconds(1))
            }
        }
    }
}
