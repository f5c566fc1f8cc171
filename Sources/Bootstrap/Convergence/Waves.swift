import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// One child Application of platform-root as aphex judges it.
public struct AppState: Sendable, Codable, Equatable {
    public var name: String
    public var namespace: String
    public var wave: Int
    /// The raw sync-wave annotation when it is not an integer (then the app counts as wave 0).
    public var invalidWave: String?
    /// status.sync.status ("" when there is no status yet).
    public var sync: String
    /// status.health.status ("" when there is no status yet).
    public var health: String
    public var phase: AppPhase
    public var reason: String
    /// false when platform-root lists it but the Application object does not exist yet.
    public var exists: Bool

    public var converged: Bool { phase == .converged }
}

public struct WaveState: Sendable, Codable, Equatable {
    public var wave: Int
    public var apps: [AppState]
    public var converged: Bool { !apps.isEmpty && apps.allSatisfy(\.converged) }
    public var synced: Int { apps.filter { $0.sync == "Synced" }.count }
    public var healthy: Int { apps.filter { $0.health == "Healthy" }.count }
}

/// The children of platform-root grouped by wave, with their verdicts.
public struct PlatformEvaluation: Sendable, Equatable {
    /// platform-root exists.
    public var rootFound: Bool
    public var rootSync: String
    public var rootHealth: String
    public var waves: [WaveState]
    /// Things worth telling the user that are not an app's state (bad annotations, no children).
    public var problems: [String]

    public var apps: [AppState] { waves.flatMap(\.apps) }
    public var failed: [AppState] { apps.filter { $0.phase == .failed } }
    /// Every wave converged (and there is at least one child: the app-of-apps trap).
    public var converged: Bool { rootFound && !waves.isEmpty && waves.allSatisfy(\.converged) }
    public var firstUnconvergedWave: WaveState? { waves.first { !$0.converged } }
    public func wave(_ n: Int) -> WaveState? { waves.first { $0.wave == n } }
    public func app(_ name: String) -> AppState? { apps.first { $0.name == name } }

    /// Only the waves up to and including `limit` (`aphex wait --wave N`).
    public func limited(to limit: Int?) -> PlatformEvaluation {
        guard let limit else { return self }
        var copy = self
        copy.waves = waves.filter { $0.wave <= limit }
        return copy
    }
}

public enum Waves {
    /// Parses argocd.argoproj.io/sync-wave as ArgoCD does (an integer; missing = 0).
    /// Returns the wave and, for a malformed value, the raw text (counted as wave 0, reported).
    public static func parse(_ annotation: String?) -> (wave: Int, invalid: String?) {
        guard let annotation else { return (0, nil) }
        if let n = Int(annotation) { return (n, nil) }
        return (0, annotation)
    }

    /// The children of platform-root: the Applications platform-root's status lists (kind
    /// Application), when it lists any; otherwise every Application in ArgoCD's namespace but
    /// the root. Listed children that do not exist yet are included as not created.
    public static func children(of apps: [JSON], catalog: ConvergenceCatalog) -> (
        root: JSON?, children: [(name: String, namespace: String, object: JSON?)]
    ) {
        let inNamespace = apps.filter { ($0.namespace ?? catalog.argocdNamespace) == catalog.argocdNamespace }
        let root = inNamespace.first { $0.name == catalog.rootApplication }
        let byName = Dictionary(inNamespace.compactMap { a in a.name.map { ($0, a) } }, uniquingKeysWith: { a, _ in a })
        let listed = (root?[path: "status", "resources"]?.array ?? []).filter {
            $0["kind"]?.string == "Application" && ($0["group"]?.string ?? "argoproj.io") == "argoproj.io"
        }
        if !listed.isEmpty {
            var seen = Set<String>()
            var out: [(String, String, JSON?)] = []
            for r in listed {
                guard let name = r["name"]?.string, name != catalog.rootApplication, seen.insert(name).inserted else {
                    continue
                }
                let ns = r["namespace"]?.string ?? catalog.argocdNamespace
                out.append(
                    (
                        name, ns,
                        ns == catalog.argocdNamespace
                            ? byName[name] : apps.first { $0.name == name && $0.namespace == ns }
                    ))
            }
            return (root, out)
        }
        let others = inNamespace.filter { $0.name != catalog.rootApplication }
            .compactMap { a -> (String, String, JSON?)? in a.name.map { ($0, catalog.argocdNamespace, a) } }
        return (root, others)
    }

    /// Judges every child and groups them by wave (ascending). `healthySeen`: apps seen Healthy
    /// earlier (so Degraded is a failure, not a start-up state).
    public static func evaluate(_ apps: [JSON], healthySeen: Set<String> = [], catalog: ConvergenceCatalog = .default)
        -> PlatformEvaluation
    {
        let (root, children) = children(of: apps, catalog: catalog)
        var problems: [String] = []
        var byWave: [Int: [AppState]] = [:]
        for child in children {
            let (wave, invalid) = parse(child.object?.annotations[catalog.waveAnnotation])
            if let invalid {
                problems.append(
                    """
                    Application \(child.name) has sync-wave annotation '\(invalid)', which is not an integer; \
                    ArgoCD treats it as wave 0. Fix the annotation in the platform repository.
                    """
                )
            }
            let state: AppState
            if let obj = child.object {
                let verdict = Readiness.judgeApplication(obj, wasHealthy: healthySeen.contains(child.name))
                state = AppState(
                    name: child.name, namespace: child.namespace, wave: wave, invalidWave: invalid,
                    sync: obj[path: "status", "sync", "status"]?.string ?? "",
                    health: obj[path: "status", "health", "status"]?.string ?? "",
                    phase: verdict.phase, reason: verdict.reason, exists: true)
            } else {
                state = AppState(
                    name: child.name, namespace: child.namespace, wave: wave, invalidWave: nil,
                    sync: "", health: "", phase: .pending,
                    reason: "listed by \(catalog.rootApplication) but not created yet", exists: false)
            }
            byWave[wave, default: []].append(state)
        }
        if root == nil {
            problems.append(
                """
                Application \(catalog.rootApplication) was not found in namespace \(catalog.argocdNamespace): \
                bootstrap has not applied it yet (run `aphex bootstrap`), or this is not an aphex platform.
                """
            )
        } else if children.isEmpty {
            problems.append(
                """
                \(catalog.rootApplication) has no child Applications yet: ArgoCD has not synced it (check its \
                sync status and the repository URL).
                """
            )
        }
        let waves = byWave.keys.sorted().map { WaveState(wave: $0, apps: byWave[$0]!.sorted { $0.name < $1.name }) }
        return PlatformEvaluation(
            rootFound: root != nil,
            rootSync: root?[path: "status", "sync", "status"]?.string ?? "",
            rootHealth: root?[path: "status", "health", "status"]?.string ?? "",
            waves: waves, problems: problems)
    }
}
