import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Where one Application stands, judged child by child (never by platform-root alone).
public enum AppPhase: String, Sendable, Codable, Equatable {
    /// No status yet (just created, controller not reconciled), or not created yet.
    case pending
    /// Syncing, OutOfSync, Progressing, Missing, Degraded before ever being Healthy, ...
    case progressing
    /// Synced, Healthy, no operation running, reconciled after the last operation.
    case converged
    /// Degraded after having been Healthy, or the current sync operation Failed/Error.
    case failed
}

public struct AppVerdict: Sendable, Equatable {
    public var phase: AppPhase
    /// One human sentence: why the app is in this phase.
    public var reason: String
    public init(_ phase: AppPhase, _ reason: String) {
        self.phase = phase
        self.reason = reason
    }
}

/// The readiness rules, pure functions over API objects (table-tested).
public enum Readiness {
    /// Judges an ArgoCD Application.
    /// - Parameter wasHealthy: the app was seen Healthy on an earlier poll (tracked per app by the
    ///   waiter); Degraded then means it broke, not that it is still starting.
    public static func judgeApplication(_ app: JSON, wasHealthy: Bool = false) -> AppVerdict {
        let status = app["status"]
        let sync = status?[path: "sync", "status"]?.string
        let health = status?[path: "health", "status"]?.string
        // ArgoCD 2.x kept health.message on the Application; 3.x keeps it on resources only.
        let healthMessage = status?[path: "health", "message"]?.string
        let op = status?["operationState"]
        let opPhase = op?["phase"]?.string
        let opMessage = op?["message"]?.string
        let finishedAt = op?["finishedAt"]?.string
        let reconciledAt = status?["reconciledAt"]?.string

        // A failed sync is final for this revision (automated sync does not retry the same
        // revision once retries are exhausted) unless the operationState is stale.
        if let opPhase, opPhase == "Failed" || opPhase == "Error" {
            let opRevision =
                op?[path: "syncResult", "revision"]?.string ?? op?[path: "operation", "sync", "revision"]?.string
            let targetRevision = status?[path: "sync", "revision"]?.string
            let supersededRevision = opRevision != nil && targetRevision != nil && opRevision != targetRevision
            let recoveredSince = sync == "Synced" && health == "Healthy" && isAtOrAfter(reconciledAt, finishedAt)
            if !supersededRevision && !recoveredSince {
                return AppVerdict(.failed, "sync operation \(opPhase)" + suffix(opMessage))
            }
        }
        if health == "Degraded" && wasHealthy {
            return AppVerdict(.failed, "Degraded after having been Healthy" + suffix(healthMessage))
        }
        guard status != nil, status != .null, let sync, let health else {
            if let opPhase, opPhase == "Running" || opPhase == "Terminating" {
                return AppVerdict(.progressing, "sync operation \(opPhase)" + suffix(opMessage))
            }
            return AppVerdict(.pending, "no status yet (ArgoCD has not reconciled it)")
        }
        if let opPhase, opPhase == "Running" || opPhase == "Terminating" {
            return AppVerdict(.progressing, "sync operation \(opPhase)" + suffix(opMessage))
        }
        if sync != "Synced" {
            return AppVerdict(.progressing, "sync \(sync)" + suffix(conditionSummary(app)))
        }
        if health != "Healthy" {
            var reason = "health \(health)" + suffix(healthMessage)
            if health == "Degraded" { reason += " (not yet Healthy; still starting)" }
            return AppVerdict(.progressing, reason)
        }
        // Synced and Healthy: make sure that is the verdict after the last operation, not before it.
        if let opPhase, op != nil {
            if opPhase == "Succeeded" || opPhase == "Failed" || opPhase == "Error" {
                if let finishedAt {
                    if reconciledAt == nil || !isAtOrAfter(reconciledAt, finishedAt) {
                        return AppVerdict(
                            .progressing,
                            "waiting for ArgoCD to reconcile after the sync that finished at \(finishedAt)")
                    }
                }
            } else {
                return AppVerdict(.progressing, "sync operation \(opPhase)" + suffix(opMessage))
            }
        }
        return AppVerdict(.converged, "Synced and Healthy")
    }

    /// Deployments, StatefulSets and DaemonSets: the controller has seen the current spec and
    /// every desired replica is updated, ready and available. Counts are read clamped
    /// (`JSON.apiCount`): a server sending Int64.max or negative replicas gets a verdict, not a
    /// crash. Generations are only compared.
    public static func judgeWorkload(_ obj: JSON) -> (ready: Bool, summary: String) {
        let kind = obj.kind ?? ""
        let generation = obj[path: "metadata", "generation"]?.int ?? 0
        let observed = obj[path: "status", "observedGeneration"]?.int ?? 0
        let st = obj["status"]
        func n(_ key: String) -> Int64 { st?[key]?.apiCount ?? 0 }
        if kind == "DaemonSet" {
            let desired = n("desiredNumberScheduled")
            let ready = n("numberReady"), updated = n("updatedNumberScheduled"), available = n("numberAvailable")
            let summary = "\(ready)/\(desired) ready"
            if observed < generation { return (false, "\(summary), spec generation \(generation) not observed yet") }
            if ready != desired || updated != desired || available != desired {
                return (false, "\(summary), \(updated) updated, \(available) available")
            }
            return (true, summary)
        }
        let desired = obj[path: "spec", "replicas"]?.apiCount ?? 1
        let ready = n("readyReplicas"), updated = n("updatedReplicas")
        let summary = "\(ready)/\(desired) ready"
        if observed < generation { return (false, "\(summary), spec generation \(generation) not observed yet") }
        if ready != desired { return (false, summary) }
        if updated != desired { return (false, "\(summary), \(updated)/\(desired) updated") }
        if kind == "StatefulSet" {
            // availableReplicas exists since 1.22; older servers omit it.
            if let available = st?["availableReplicas"]?.apiCount, available != desired {
                return (false, "\(summary), \(available)/\(desired) available")
            }
            if let cur = st?["currentRevision"]?.string, let upd = st?["updateRevision"]?.string, cur != upd,
                obj[path: "spec", "updateStrategy", "type"]?.string != "OnDelete"
            {
                return (false, "\(summary), rolling out revision \(upd)")
            }
        } else {
            let available = n("availableReplicas")
            if available != desired { return (false, "\(summary), \(available)/\(desired) available") }
            let total = n("replicas")
            if total > desired { return (false, "\(summary), \(total - desired) old replica(s) terminating") }
        }
        return (true, summary)
    }

    /// `reconciledAt` not before `finishedAt` (RFC 3339; equal seconds count as after, ArgoCD
    /// stamps both with second precision).
    public static func isAtOrAfter(_ a: String?, _ b: String?) -> Bool {
        guard let a else { return false }
        guard let b else { return true }
        if let da = parseTime(a), let db = parseTime(b) { return da >= db }
        return a >= b
    }

    /// RFC 3339 timestamps as Kubernetes writes them (with or without fractional seconds, `Z` or
    /// an offset); runs per app per poll, so it is the hand parser, not a formatter.
    public static func parseTime(_ s: String) -> Date? { RFC3339.parse(s) }

    static func conditionSummary(_ app: JSON) -> String? {
        let conds = app[path: "status", "conditions"]?.array ?? []
        let parts = conds.compactMap { c -> String? in
            guard let t = c["type"]?.string else { return nil }
            return t + (c["message"]?.string.map { ": \($0)" } ?? "")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    private static func suffix(_ s: String?) -> String {
        guard let s, !s.isEmpty else { return "" }
        return ": " + s
    }
}
