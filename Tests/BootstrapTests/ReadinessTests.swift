import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing

/// Every Application state combination ArgoCD produces, judged by the readiness rules.
@Suite struct ReadinessTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var app: JSON
        var wasHealthy = false
        var phase: AppPhase
        var reasonContains: String
        var testDescription: String { label }
    }

    static let t0 = "2026-11-24T10:00:00Z", t1 = "2026-11-24T10:01:00Z", t2 = "2026-11-24T10:01:05Z"

    static func app(
        sync: String? = "Synced", health: String? = "Healthy", op: String? = nil, finished: String? = nil,
        reconciled: String? = nil, opRevision: String? = nil, syncRevision: String? = nil,
        opMessage: String? = nil, healthMessage: String? = nil, conditions: [JSON] = [], noStatus: Bool = false
    ) -> JSON {
        var a: JSON = ["metadata": ["name": "x", "namespace": "argocd"]]
        if noStatus { return a }
        a.set(["status"], to: [:])
        if let sync { a.set(["status", "sync", "status"], to: .string(sync)) }
        if let syncRevision { a.set(["status", "sync", "revision"], to: .string(syncRevision)) }
        if let health { a.set(["status", "health", "status"], to: .string(health)) }
        if let healthMessage { a.set(["status", "health", "message"], to: .string(healthMessage)) }
        if let op {
            a.set(["status", "operationState", "phase"], to: .string(op))
            a.set(["status", "operationState", "startedAt"], to: .string(t0))
            if let finished { a.set(["status", "operationState", "finishedAt"], to: .string(finished)) }
            if let opRevision { a.set(["status", "operationState", "syncResult", "revision"], to: .string(opRevision)) }
            if let opMessage { a.set(["status", "operationState", "message"], to: .string(opMessage)) }
        }
        if let reconciled { a.set(["status", "reconciledAt"], to: .string(reconciled)) }
        if !conditions.isEmpty { a.set(["status", "conditions"], to: .array(conditions)) }
        return a
    }

    static let cases: [Case] = [
        // Missing status
        Case(
            label: "no status at all (just created)", app: app(noStatus: true), phase: .pending,
            reasonContains: "no status"),
        Case(label: "empty status", app: app(sync: nil, health: nil), phase: .pending, reasonContains: "no status"),
        Case(
            label: "sync status only", app: app(sync: "OutOfSync", health: nil), phase: .pending,
            reasonContains: "no status"),
        Case(
            label: "health status only", app: app(sync: nil, health: "Healthy"), phase: .pending,
            reasonContains: "no status"),
        Case(
            label: "no status yet but an operation is running", app: app(sync: nil, health: nil, op: "Running"),
            phase: .progressing, reasonContains: "Running"),
        // The converged state and its look-alikes
        Case(
            label: "Synced Healthy, no operation", app: app(), phase: .converged, reasonContains: "Synced and Healthy"),
        Case(
            label: "Synced Healthy, op Succeeded, reconciled after",
            app: app(op: "Succeeded", finished: t1, reconciled: t2), phase: .converged, reasonContains: "Synced"),
        Case(
            label: "Synced Healthy, op Succeeded, reconciled same second",
            app: app(op: "Succeeded", finished: t1, reconciled: t1), phase: .converged, reasonContains: "Synced"),
        Case(
            label: "Synced Healthy, op Succeeded, reconciled BEFORE it finished (stale verdict)",
            app: app(op: "Succeeded", finished: t2, reconciled: t1), phase: .progressing, reasonContains: "reconcile"),
        Case(
            label: "Synced Healthy, op Succeeded, never reconciled", app: app(op: "Succeeded", finished: t1),
            phase: .progressing, reasonContains: "reconcile"),
        Case(
            label: "Synced Healthy, op Running (sync in progress)", app: app(op: "Running", reconciled: t2),
            phase: .progressing, reasonContains: "Running"),
        Case(
            label: "Synced Healthy, op Terminating", app: app(op: "Terminating"), phase: .progressing,
            reasonContains: "Terminating"),
        Case(
            label: "Synced Healthy, fractional timestamps",
            app: app(op: "Succeeded", finished: "2026-11-24T10:01:00.500Z", reconciled: "2026-11-24T10:01:01Z"),
            phase: .converged, reasonContains: "Synced"),
        // Sync states
        Case(label: "OutOfSync Healthy", app: app(sync: "OutOfSync"), phase: .progressing, reasonContains: "OutOfSync"),
        Case(
            label: "OutOfSync Missing", app: app(sync: "OutOfSync", health: "Missing"), phase: .progressing,
            reasonContains: "OutOfSync"),
        Case(
            label: "Unknown sync with ComparisonError condition",
            app: app(
                sync: "Unknown", health: "Healthy",
                conditions: [["type": "ComparisonError", "message": "rpc error: authentication required"]]),
            phase: .progressing, reasonContains: "authentication required"),
        Case(
            label: "OutOfSync, op Running (retrying)",
            app: app(sync: "OutOfSync", health: "Missing", op: "Running", opMessage: "Retrying attempt #2"),
            phase: .progressing, reasonContains: "Retrying"),
        // Health states
        Case(
            label: "Synced Progressing", app: app(health: "Progressing", healthMessage: "Waiting for rollout"),
            phase: .progressing, reasonContains: "Progressing"),
        Case(label: "Synced Missing", app: app(health: "Missing"), phase: .progressing, reasonContains: "Missing"),
        Case(
            label: "Synced Suspended", app: app(health: "Suspended"), phase: .progressing, reasonContains: "Suspended"),
        Case(
            label: "Synced Unknown health", app: app(health: "Unknown"), phase: .progressing,
            reasonContains: "Unknown"),
        Case(
            label: "Degraded before ever Healthy (still starting)", app: app(health: "Degraded"), phase: .progressing,
            reasonContains: "still starting"),
        Case(
            label: "Degraded after having been Healthy",
            app: app(health: "Degraded", healthMessage: "CrashLoopBackOff"), wasHealthy: true, phase: .failed,
            reasonContains: "after having been Healthy"),
        Case(
            label: "OutOfSync Degraded after Healthy", app: app(sync: "OutOfSync", health: "Degraded"),
            wasHealthy: true, phase: .failed, reasonContains: "Degraded"),
        Case(
            label: "Healthy again after Healthy (no failure)", app: app(), wasHealthy: true, phase: .converged,
            reasonContains: "Synced"),
        // Failed operations
        Case(
            label: "op Failed, OutOfSync",
            app: app(
                sync: "OutOfSync", health: "Missing", op: "Failed", finished: t1,
                opMessage: "one or more objects failed to apply"), phase: .failed, reasonContains: "failed to apply"),
        Case(
            label: "op Error",
            app: app(sync: "OutOfSync", health: "Missing", op: "Error", finished: t1, opMessage: "ComparisonError"),
            phase: .failed, reasonContains: "Error"),
        Case(
            label: "op Failed while Synced Healthy, not reconciled since (current)",
            app: app(op: "Failed", finished: t2, reconciled: t1), phase: .failed, reasonContains: "Failed"),
        Case(
            label: "stale op Failed: recovered, reconciled after", app: app(op: "Failed", finished: t1, reconciled: t2),
            phase: .converged, reasonContains: "Synced"),
        Case(
            label: "stale op Failed: for a superseded revision",
            app: app(
                sync: "OutOfSync", health: "Healthy", op: "Failed", finished: t1, reconciled: t2, opRevision: "aaa",
                syncRevision: "bbb"), phase: .progressing, reasonContains: "OutOfSync"),
        Case(
            label: "op Failed for the current revision",
            app: app(
                sync: "OutOfSync", health: "Healthy", op: "Failed", finished: t1, reconciled: t2, opRevision: "bbb",
                syncRevision: "bbb"), phase: .failed, reasonContains: "Failed")
    ]

    @Test(arguments: cases)
    func applicationRules(_ c: Case) {
        let v = Readiness.judgeApplication(c.app, wasHealthy: c.wasHealthy)
        #expect(v.phase == c.phase, "\(c.label): \(v.reason)")
        #expect(v.reason.contains(c.reasonContains), "\(c.label): \(v.reason)")
    }

    @Test func timestampsCompareAsTimesNotText() {
        #expect(Readiness.isAtOrAfter("2026-11-24T10:01:00Z", "2026-11-24T10:00:59.900Z"))
        #expect(!Readiness.isAtOrAfter("2026-11-24T10:00:59Z", "2026-11-24T10:01:00Z"))
        #expect(Readiness.isAtOrAfter("2026-11-24T11:00:00+01:00", "2026-11-24T10:00:00Z"))
        #expect(!Readiness.isAtOrAfter(nil, "2026-11-24T10:00:00Z"))
    }

    @Test func parsesRFC3339LikeFoundation() {
        let f = ISO8601DateFormatter()
        for s in ["2026-11-24T10:00:00Z", "1999-12-31T23:59:59Z", "2024-02-29T12:30:45Z", "1970-01-01T00:00:00Z"] {
            #expect(Readiness.parseTime(s) == f.date(from: s), "\(s)")
        }
        #expect(
            Readiness.parseTime("2026-11-24T10:00:00.250Z")?.timeIntervalSince(
                Readiness.parseTime("2026-11-24T10:00:00Z")!) == 0.25)
        #expect(Readiness.parseTime("2026-11-24T11:00:00+01:00") == Readiness.parseTime("2026-11-24T10:00:00Z"))
        #expect(Readiness.parseTime("2026-11-24T09:30:00-00:30") == Readiness.parseTime("2026-11-24T10:00:00Z"))
        for bad in [
            "", "yesterday", "2026-11-24", "2026-11-24T10:00:00", "2026-13-01T00:00:00Z", "2026-11-24T10:00:00Zjunk"
        ] {
            #expect(Readiness.parseTime(bad) == nil, "\(bad)")
        }
    }

    // MARK: workloads

    static func workload(
        _ kind: String, gen: Int64 = 2, observed: Int64 = 2, desired: Int64 = 2, ready: Int64 = 2,
        updated: Int64 = 2, available: Int64 = 2, total: Int64? = nil
    ) -> JSON {
        var w: JSON = [
            "kind": .string(kind), "metadata": ["name": "w", "generation": .int(gen)],
            "status": ["observedGeneration": .int(observed)]
        ]
        if kind == "DaemonSet" {
            w.set(["status", "desiredNumberScheduled"], to: .int(desired))
            w.set(["status", "numberReady"], to: .int(ready))
            w.set(["status", "updatedNumberScheduled"], to: .int(updated))
            w.set(["status", "numberAvailable"], to: .int(available))
        } else {
            w.set(["spec", "replicas"], to: .int(desired))
            w.set(["status", "readyReplicas"], to: .int(ready))
            w.set(["status", "updatedReplicas"], to: .int(updated))
            w.set(["status", "availableReplicas"], to: .int(available))
            w.set(["status", "replicas"], to: .int(total ?? desired))
        }
        return w
    }

    @Test(arguments: ["Deployment", "StatefulSet", "DaemonSet"])
    func workloadRules(_ kind: String) {
        #expect(Readiness.judgeWorkload(Self.workload(kind)).ready)
        let stale = Readiness.judgeWorkload(Self.workload(kind, gen: 3, observed: 2))
        #expect(!stale.ready && stale.summary.contains("not observed"))
        #expect(!Readiness.judgeWorkload(Self.workload(kind, ready: 1)).ready)
        #expect(!Readiness.judgeWorkload(Self.workload(kind, updated: 1)).ready)
        #expect(!Readiness.judgeWorkload(Self.workload(kind, available: 1)).ready)
    }

    @Test func deploymentWithOldReplicasTerminatingIsNotReady() {
        let r = Readiness.judgeWorkload(Self.workload("Deployment", total: 3))
        #expect(!r.ready)
        #expect(r.summary.contains("terminating"))
    }

    @Test func deploymentDefaultsToOneReplica() {
        var w = Self.workload("Deployment", desired: 1, ready: 1, updated: 1, available: 1)
        w.set(["spec", "replicas"], to: nil)
        #expect(Readiness.judgeWorkload(w).ready)
        w.set(["status", "readyReplicas"], to: nil)
        #expect(!Readiness.judgeWorkload(w).ready)
    }

    @Test func statefulSetMidRolloutIsNotReady() {
        var w = Self.workload("StatefulSet")
        w.set(["status", "currentRevision"], to: "app-1")
        w.set(["status", "updateRevision"], to: "app-2")
        #expect(!Readiness.judgeWorkload(w).ready)
    }
}

/// Item 9 of issue 14: integers from the API server are the server's to choose. A hostile or
/// buggy one (Int64.max replicas, negative counts) gets a verdict, never a trap.
@Suite struct HostileCountTests {
    static let extremes: [Int64] = [.max, .min, -1, 0, 1, Int64(Int32.max) + 1]

    /// Before: `total - desired` trapped for desired = Int64.min (and total - desired beyond Int64).
    @Test(arguments: ["Deployment", "StatefulSet", "DaemonSet"])
    func everyCombinationOfExtremeCountsIsJudged(kind: String) {
        for a in Self.extremes {
            for b in Self.extremes {
                let w: JSON = [
                    "kind": .string(kind), "metadata": ["name": "w", "generation": .int(a)],
                    "spec": ["replicas": .int(a)],
                    "status": [
                        "observedGeneration": .int(b), "replicas": .int(b), "readyReplicas": .int(a),
                        "updatedReplicas": .int(b), "availableReplicas": .int(a),
                        "desiredNumberScheduled": .int(a), "numberReady": .int(b),
                        "updatedNumberScheduled": .int(a), "numberAvailable": .int(b)
                    ]
                ]
                _ = Readiness.judgeWorkload(w)
            }
        }
    }

    @Test func negativeDesiredReplicasWithAPodLeftIsNotReady() {
        let w: JSON = [
            "kind": "Deployment", "metadata": ["name": "w", "generation": 1],
            "spec": ["replicas": .int(.min)],
            "status": ["observedGeneration": 1, "replicas": .int(.max)]
        ]
        let r = Readiness.judgeWorkload(w)
        #expect(!r.ready)
        #expect(r.summary == "0/0 ready, 2147483647 old replica(s) terminating")
    }

    /// Before: the restart counts were summed unchecked; two Int64.max restarts trapped.
    @Test func restartCountsAreClampedAndTheirSumSaturates() {
        let pod: JSON = [
            "metadata": ["name": "p", "namespace": "n"],
            "status": [
                "phase": "Running",
                "initContainerStatuses": [["name": "i", "restartCount": .int(.max), "ready": true]],
                "containerStatuses": [
                    ["name": "a", "restartCount": .int(.max), "ready": true],
                    ["name": "b", "restartCount": .int(-5), "ready": true]
                ]
            ]
        ]
        let report = Pods.describe(pod)
        #expect(report.restarts == 2 * Int(Int32.max))
        #expect(report.ready == "2/2")
        #expect(
            JSON.int(-5).apiCount == 0 && JSON.int(.max).apiCount == Int64(Int32.max) && JSON.string("7").apiCount == 7)
    }
}
