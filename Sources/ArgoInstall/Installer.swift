import AphexCore
import KubeClient
import Foundation

/// The version marker aphex keeps per bundle: ConfigMap aphex-component-NAME in the bundle's
/// marker namespace, annotated aphex.dev/component-version. Read before applying: a bundle
/// whose marker shows the same version and digest is skipped; another version is upgraded.
public enum VersionMarker {
    public static let versionAnnotation = "aphex.dev/component-version"
    public static let componentLabel = "aphex.dev/component"

    public static func name(_ component: String) -> String { "aphex-component-\(component)" }

    public static func render(_ b: ManifestBundle, appliedAt: Date) -> JSON {
        let c = b.component
        return [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": [
                "name": .string(name(c.name)), "namespace": .string(c.component.markerNamespace),
                "labels": [
                    .init(stringLiteral: ManagedBy.key): .string(ManagedBy.value),
                    .init(stringLiteral: componentLabel): .string(c.name)
                ],
                "annotations": [.init(stringLiteral: versionAnnotation): .string(c.version)]
            ],
            "data": [
                "component": .string(c.name), "version": .string(c.version), "sha256": .string(b.sha256),
                "url": .string(c.url), "appliedAt": .string(rfc3339(appliedAt))
            ]
        ]
    }

    /// (version, sha256) recorded in the cluster, nil when the bundle was never applied by aphex.
    public static func read(_ component: Component, api: any KubeAPI) async throws -> (
        version: String, sha256: String?
    )? {
        guard let cm = try await api.get(.configMaps, namespace: component.markerNamespace, name: name(component.name))
        else {
            return nil
        }
        let version = cm["data"]?["version"]?.string ?? cm[path: "metadata", "annotations"]?[versionAnnotation]?.string
        guard let version else { return nil }
        return (version, cm["data"]?["sha256"]?.string)
    }
}

/// Applies bundles: namespaces first, then per bundle its CRDs (waited for until Established)
/// and the rest; independent bundles concurrently, a bundle after the bundles it names in
/// `after`. Skips bundles whose marker matches.
public struct BundleInstaller: Sendable {
    public var env: InstallEnvironment
    /// Apply one bundle after another (the benchmark's baseline; APHEX_APPLY_SEQUENTIAL=1).
    public var sequential: Bool
    /// How long a CRD may take to become Established.
    public var crdTimeout: Duration

    public init(env: InstallEnvironment, sequential: Bool = false, crdTimeout: Duration = .seconds(120)) {
        self.env = env
        self.sequential = sequential
        self.crdTimeout = crdTimeout
    }

    /// What to do with each bundle, decided from the markers.
    public enum Decision: Sendable, Equatable {
        case install
        case upgrade(from: String)
        case reapply(reason: String)
        case unchanged
    }

    public func decide(_ b: ManifestBundle) async throws -> Decision {
        guard let marker = try await VersionMarker.read(b.component.component, api: env.api) else { return .install }
        if marker.version != b.component.version { return .upgrade(from: marker.version) }
        if let d = marker.sha256, d != b.sha256 {
            return .reapply(reason: "manifest digest changed (\(d.prefix(12)) -> \(b.sha256.prefix(12)))")
        }
        return .unchanged
    }

    /// Installs what is needed and reports per bundle.
    public func install(_ bundles: [ManifestBundle]) async throws -> InstallReport {
        var decisions: [String: Decision] = [:]
        try await withThrowingTaskGroup(of: (String, Decision).self) { group in
            for b in bundles { group.addTask { (b.name, try await self.decide(b)) } }
            for try await (name, d) in group { decisions[name] = d }
        }
        var unchanged: [String] = []
        var todo: [ManifestBundle] = []
        for b in bundles {
            if decisions[b.name] == .unchanged {
                unchanged.append("\(b.component.label) already applied")
                env.reporter.debug("\(b.component.label): marker matches (version and sha256); skipping")
            } else {
                todo.append(b)
                for w in b.warnings { env.reporter.warn(w) }
                for r in b.rewrites {
                    env.reporter.debug("\(b.component.label): \(r.object) \(r.path): \(r.from) -> \(r.to)")
                }
                if !b.rewrites.isEmpty {
                    env.reporter.info(
                        """
                        \(b.component.label): rewrote \(b.rewrites.count) image \
                        reference\(b.rewrites.count == 1 ? "" : "s") gcr.io/tekton-releases -> ghcr.io/tektoncd \
                        (--verbose lists them)
                        """
                    )
                }
            }
        }
        guard !todo.isEmpty else { return InstallReport(unchanged: unchanged) }

        // The ownership record: what exists already and is not aphex's stays out of it, and a
        // Namespace that existed before aphex is never applied (never labelled, never deleted).
        if let ownership = env.ownership {
            for i in todo.indices {
                let b = todo[i]
                let marker = VersionMarker.render(b, appliedAt: env.clock.wallNow())
                let foreign = try await ownership.prepare(
                    b.namespaces + b.crds + b.rest + [marker],
                    defaultNamespace: b.component.component.defaultNamespace)
                let kept = b.namespaces.filter { ns in
                    !foreign.contains(
                        OwnedObject.key(apiVersion: "v1", kind: "Namespace", namespace: nil, name: ns.name ?? ""))
                }
                for ns in b.namespaces where !kept.contains(ns) {
                    env.reporter.info(
                        """
                        \(b.component.label): namespace \(ns.name ?? "") existed before aphex: used as it is (not \
                        labelled, and `aphex destroy` will not delete it)
                        """
                    )
                }
                todo[i].namespaces = kept
            }
        }

        let names = Set(todo.map(\.name))
        var changed: [String] = []
        do {
            if sequential {
                for b in todo { try await applyNamespaces(b) }
                for b in todo {
                    try await applyBody(b)
                    changed.append(describe(b, decisions[b.name]!))
                }
            } else {
                // Phase 1: every bundle's namespaces (triggers and the dashboard live in the
                // namespace the pipelines bundle creates).
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for b in todo { group.addTask { try await self.applyNamespaces(b) } }
                    try await group.waitForAll()
                }
                // Phase 2: bundles concurrently, each after the in-run bundles it depends on.
                try await runWithDependencies(todo, names: names)
                changed = todo.map { describe($0, decisions[$0.name]!) }
            }
        } catch {
            try? await env.ownership?.flush()  // the uids learnt so far (pending entries stay pending)
            throw error
        }
        try await env.ownership?.flush()
        return InstallReport(changed: changed, unchanged: unchanged)
    }

    private func describe(_ b: ManifestBundle, _ d: Decision) -> String {
        let what = "\(b.objectCount) objects (\(b.crds.count) CRD\(b.crds.count == 1 ? "" : "s"))"
        switch d {
        case .install: return "\(b.component.label): applied \(what)"
        case .upgrade(let from): return "\(b.component.label): upgraded from \(from), applied \(what)"
        case .reapply(let why): return "\(b.component.label): re-applied \(what): \(why)"
        case .unchanged: return "\(b.component.label): unchanged"
        }
    }

    private func runWithDependencies(_ todo: [ManifestBundle], names: Set<String>) async throws {
        var tasks: [String: Task<Void, any Error>] = [:]
        var order: [String] = []
        // Dependencies first (Catalog order already satisfies `after`; sort defensively).
        var remaining = todo
        while !remaining.isEmpty {
            guard
                let i = remaining.firstIndex(where: { b in
                    b.component.component.after.allSatisfy { !names.contains($0) || tasks[$0] != nil }
                })
            else {
                throw AphexError.failed(
                    """
                    The component catalog has a dependency cycle among \
                    \(remaining.map(\.name).joined(separator: ", ")).
                    """
                )
            }
            let b = remaining.remove(at: i)
            let deps = b.component.component.after.compactMap { tasks[$0] }
            tasks[b.name] = Task {
                for d in deps { try await d.value }
                try Task.checkCancellation()
                try await self.applyBody(b)
            }
            order.append(b.name)
        }
        let all = tasks
        try await withTaskCancellationHandler {
            var firstError: (any Error)?
            for name in order {
                do { try await all[name]!.value } catch {
                    if firstError == nil {
                        firstError = error
                        for t in all.values { t.cancel() }
                    }
                }
            }
            if let firstError { throw firstError }
        } onCancel: {
            for t in all.values { t.cancel() }
        }
    }

    func applyNamespaces(_ b: ManifestBundle) async throws {
        try await env.apply(b.namespaces, what: "create the namespaces of \(b.component.label)", record: true)
    }

    /// CRDs, wait Established, the rest, then the marker.
    func applyBody(_ b: ManifestBundle) async throws {
        let label = b.component.label
        if !b.crds.isEmpty {
            env.reporter.debug("\(label): applying \(b.crds.count) CRDs")
            // The release's own objects, digest-checked against a pin or their first-use digest:
            // kubectl's OpenAPI check (per process, per group) would cost more than the apply.
            try await env.apply(b.crds, what: "apply the CRDs of \(label)", record: true, validate: false)
            try await waitEstablished(b.crdNames, label: label)
        }
        env.reporter.debug("\(label): applying \(b.rest.count) objects")
        try await env.apply(
            b.rest, namespace: b.component.component.defaultNamespace, what: "apply \(label)", record: true,
            validate: false)
        try await env.apply(
            [VersionMarker.render(b, appliedAt: env.clock.wallNow())],
            what: "record the version of \(label) (ConfigMap \(VersionMarker.name(b.name)))", record: true)
    }

    /// Polls the CRDs until each has condition Established=True; exit 3 naming the CRD otherwise.
    public func waitEstablished(_ names: [String], label: String) async throws {
        let deadline = env.clock.now() + crdTimeout
        var pending = names
        var lastState: [String: String] = [:]
        while true {
            // All of them at once (Tekton Pipelines has 9): one round trip per poll, not nine.
            let api = env.api
            let states: [(String, Bool, String)] = try await withThrowingTaskGroup(of: (String, Bool, String).self) {
                group in
                for name in pending {
                    group.addTask {
                        do {
                            let (ok, state) = Self.established(try await api.get(.crds, namespace: nil, name: name))
                            return (name, ok, state)
                        } catch let e as KubeAPIError where e.isTransient {
                            return (name, false, "API error: \(e)")
                        }
                    }
                }
                var out: [(String, Bool, String)] = []
                for try await r in group { out.append(r) }
                return out
            }
            var still: [String] = []
            for name in pending {
                guard let (_, ok, state) = states.first(where: { $0.0 == name }) else { continue }
                if !ok {
                    still.append(name)
                    lastState[name] = state
                }
            }
            pending = still
            if pending.isEmpty { return }
            if env.clock.now() >= deadline {
                let detail = pending.map { "  \($0): \(lastState[$0] ?? "unknown")" }.joined(separator: "\n")
                throw AphexError.timeout(
                    """
                    CRD \(pending[0]) of \(label) is not Established after \
                    \(formatDuration(crdTimeout))\(pending.count > 1 ? " (nor \(pending.count - 1) more)" : ""), \
                    so its objects were not applied. Check the API server (`kubectl get crd \(pending[0]) -o \
                    yaml`) and run again.
                    """,
                    detail: detail)
            }
            // An API server establishes a CRD within moments: poll it more often than workloads.
            try await env.clock.sleep(for: min(env.pollInterval, .milliseconds(100)))
        }
    }

    /// Established=True, or (false, why).
    static func established(_ crd: JSON?) -> (Bool, String) {
        guard let crd else { return (false, "not found") }
        let conditions = crd[path: "status", "conditions"]?.array ?? []
        if let c = conditions.first(where: { $0["type"]?.string == "Established" }) {
            if c["status"]?.string == "True" { return (true, "Established") }
            return (
                false,
                "Established=\(c["status"]?.string ?? "?"): \(c["reason"]?.string ?? "") \(c["message"]?.string ?? "")"
            )
        }
        let names = conditions.first(where: { $0["type"]?.string == "NamesAccepted" })
        if let names, names["status"]?.string != "True" {
            return (false, "NamesAccepted=\(names["status"]?.string ?? "?"): \(names["message"]?.string ?? "")")
        }
        return (false, "no Established condition yet")
    }

    /// Dry run: what would be applied, with the commands. Reads markers when the cluster
    /// answers; touches nothing.
    public func plan(_ components: [ResolvedComponent], cached: [String: ManifestBundle]) async -> InstallReport {
        var planned: [String] = [], unchanged: [String] = []
        for c in components {
            let marker = try? await VersionMarker.read(c.component, api: env.api)
            if let marker, marker.version == c.version, let b = cached[c.name],
                marker.sha256 == nil || marker.sha256 == b.sha256
            {
                unchanged.append("\(c.label) already applied")
                continue
            }
            let verb =
                marker.map { $0.version == c.version ? "re-apply" : "upgrade from \($0.version) to" } ?? "install"
            var line = "\(verb) \(c.label) from \(c.url)"
            if let b = cached[c.name] {
                line += " (\(b.namespaces.count) namespaces, \(b.crds.count) CRDs, \(b.rest.count) objects"
                if !b.rewrites.isEmpty {
                    line += ", \(b.rewrites.count) image references rewritten to ghcr.io/tektoncd"
                }
                line += ")"
            }
            line += ": $ " + Shell.quote(env.kubectl.applyArgv(namespace: c.component.defaultNamespace)) + " < manifest"
            planned.append(line)
        }
        return InstallReport(unchanged: unchanged, planned: planned)
    }
}
