import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

@Suite struct DiagnosisTests {
    /// auth stuck on an image pull, dex crash-looping, a sync error on controllers.
    func world() -> FakeKube {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: nil)
        var auth = Obj.app("auth", wave: "10", sync: "Synced", health: "Progressing")
        auth.set(
            ["status", "resources"],
            to: [
                [
                    "kind": "Deployment", "namespace": "auth-system", "name": "authentik-server",
                    "health": ["status": "Progressing", "message": "Waiting for rollout to finish"]
                ],
                ["kind": "Deployment", "namespace": "auth-system", "name": "dex", "health": ["status": "Degraded"]],
                [
                    "kind": "Pod", "namespace": "auth-system", "name": "authentik-worker-0",
                    "health": ["status": "Progressing"]
                ],
                ["kind": "Service", "namespace": "auth-system", "name": "dex", "health": ["status": "Healthy"]]
            ])
        auth.set(
            ["status", "conditions"],
            to: [["type": "SyncError", "message": "rpc error: code = Unknown desc = authentication required"]])
        auth.set(
            ["status", "operationState"],
            to: ["phase": "Running", "message": "waiting for healthy state of apps/Deployment/authentik-server"])
        k.put(.applications, auth)
        k.put(
            .deployments,
            Obj.deployment("auth-system", "authentik-server", ready: 0, labels: ["app": "authentik-server"]))
        k.put(.deployments, Obj.deployment("auth-system", "dex", ready: 0, labels: ["app": "dex"]))
        k.put(
            .pods,
            Obj.pod(
                "auth-system", "authentik-server-1", labels: ["app": "authentik-server"],
                waiting: ("ErrImagePull", "rpc error: not found"), image: "ghcr.io/goauthentik/server:bad",
                phase: "Pending"))
        // healthy: not shown
        k.put(.pods, Obj.pod("auth-system", "authentik-server-2", labels: ["app": "authentik-server"]))
        k.put(
            .pods,
            Obj.pod(
                "auth-system", "dex-7c", labels: ["app": "dex"], waiting: ("CrashLoopBackOff", "back-off 1m20s"),
                restarts: 3))
        var pending = Obj.pod("auth-system", "authentik-worker-0", labels: [:], phase: "Pending")
        pending.set(["status", "containerStatuses"], to: nil)
        pending.set(
            ["status", "conditions"],
            to: [
                [
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient memory."
                ]
            ])
        k.put(.pods, pending)
        k.handlers.append(
            (
                "/api/v1/namespaces/auth-system/pods/dex-7c/log",
                { _, path, _ in
                    #expect(path.contains("tailLines=5"))
                    return HTTPResponse(
                        status: 200,
                        body: Array(
                            """
                            a\nb\nc\nd\ne\nfailed to query provider \
                            \"https://auth.home.local/application/o/dex/\": 503\n
                            """
                            .utf8))
                }
            ))
        for (i, e) in [
            ("BackOff", "dex-7c", "Back-off restarting failed container"),
            ("Failed", "authentik-server-1", "Failed to pull image"),
            ("Unrelated", "other-pod", "nope")
        ].enumerated() {
            k.put(
                .events,
                [
                    "metadata": ["name": .string("e\(i)"), "namespace": "auth-system"], "type": "Warning",
                    "reason": .string(e.0),
                    "involvedObject": ["kind": "Pod", "name": .string(e.1)], "message": .string(e.2),
                    "lastTimestamp": .string("2026-11-24T10:0\(i):00Z")
                ])
        }
        return k
    }

    func diagnose(_ k: FakeKube, webhook: WebhookProof? = nil) async throws -> Diagnosis {
        let list = try await k.list(.applications, namespace: "argocd", labelSelector: nil, fieldSelector: nil).items
        let objects = Dictionary(uniqueKeysWithValues: list.map { ($0.name!, $0) })
        var eval = Waves.evaluate(list)
        // Waves 0 and 3 converged, so wave 10 is first.
        for name in ["ingress-controller", "gpu"] {
            for w in eval.waves.indices {
                for a in eval.waves[w].apps.indices where eval.waves[w].apps[a].name == name {
                    eval.waves[w].apps[a].phase = .converged
                }
            }
        }
        return await Diagnoser.diagnose(
            api: k, evaluation: eval, objects: objects, headline: "Timed out after 20m.", webhook: webhook)
    }

    @Test func namesAppsResourcesPodsLogsAndEvents() async throws {
        let d = try await diagnose(world())
        #expect(d.wave == 10)
        let auth = try #require(d.apps.first { $0.name == "auth" })
        #expect(auth.conditions == ["SyncError: rpc error: code = Unknown desc = authentication required"])
        #expect(auth.operationMessage?.contains("authentik-server") == true)
        #expect(
            auth.resources.map(\.name) == ["authentik-server", "dex", "authentik-worker-0"],
            "Healthy resources are left out")
        let server = auth.resources[0]
        #expect(server.pods.map(\.name) == ["authentik-server-1"], "ready pods are left out")
        #expect(server.pods[0].reason == "ErrImagePull" && server.pods[0].image == "ghcr.io/goauthentik/server:bad")
        let dex = auth.resources[1].pods[0]
        #expect(dex.reason == "CrashLoopBackOff")
        #expect(dex.logTail?.count == 5)
        #expect(dex.logTail?.last?.contains("failed to query provider") == true)
        let worker = auth.resources[2].pods[0]
        #expect(worker.reason == "Unschedulable" && worker.message?.contains("Insufficient memory") == true)
        #expect(auth.events.count == 2)
        #expect(!auth.events.contains { $0.contains("other-pod") })

        let text = d.text
        for needle in [
            "Application auth (wave 10): sync Synced, health Progressing",
            "condition SyncError: rpc error",
            "Deployment auth-system/authentik-server: Progressing — Waiting for rollout to finish",
            "pod auth-system/authentik-server-1: ErrImagePull, image ghcr.io/goauthentik/server:bad",
            "pod auth-system/dex-7c: CrashLoopBackOff, 3 restarts",
            "| failed to query provider",
            "Unschedulable (0/1 nodes are available: 1 Insufficient memory.)",
            "BackOff Pod/dex-7c: Back-off restarting failed container"
        ] {
            #expect(text.contains(needle), "missing: \(needle)\n\(text)")
        }
        // The fixes: image pull, Dex waits for Authentik, private repo, scheduling.
        #expect(d.hints.contains { $0.contains("ghcr.io/goauthentik/server:bad cannot be pulled") })
        #expect(d.hints.contains { $0.contains("Dex crash-loops until Authentik") })
        #expect(d.hints.contains { $0.contains("private") })
        #expect(d.hints.contains { $0.contains("cannot be scheduled") })
    }

    @Test func webhookFailureAndHintAreIncluded() async throws {
        let k = world()
        // caBundle never injected (convergeAt nil, injected at 8 s)
        let proof = try await WebhookCheck.prove(api: k, full: true)
        let d = try await diagnose(k, webhook: proof)
        #expect(d.text.contains("cert-manager webhook: CA bundle not injected (step 2)"))
        #expect(d.hints.contains { $0.contains("cainjector") })
    }

    @Test func podDescriptionsPickTheTellingReason() {
        var p = Obj.pod("ns", "p", labels: [:], waiting: ("ContainerCreating", ""))
        p.set(
            ["status", "initContainerStatuses"],
            to: [
                [
                    "name": "init", "image": "busybox:bad",
                    "state": ["waiting": ["reason": "ImagePullBackOff", "message": "x"]]
                ]
            ])
        let r = Pods.describe(p)
        #expect(r.reason == "ImagePullBackOff" && r.image == "busybox:bad")
        var t = Obj.pod("ns", "t", labels: [:])
        t.set(
            ["status", "containerStatuses"],
            to: [
                [
                    "name": "c", "image": "i", "ready": false, "restartCount": 2,
                    "state": ["terminated": ["exitCode": 137, "reason": "OOMKilled"]]
                ]
            ])
        #expect(Pods.describe(t).reason == "OOMKilled")
        #expect(Pods.describe(Obj.pod("ns", "ok", labels: [:])).isHealthy)
    }

    @Test func tooManyOpenFilesAndInterceptorsHints() {
        let d = Diagnosis(
            headline: "x", wave: 20,
            apps: [
                AppDiagnosis(
                    name: "controllers", wave: 20, phase: .progressing, sync: "Synced", health: "Degraded",
                    reason: "r", operationMessage: nil, conditions: [], resources: [],
                    events: [
                        "BackOff Pod/el-1: empty caBundle in clusterInterceptor", "Failed Pod/x: too many open files"
                    ])
            ],
            webhook: nil, authToken: nil, problems: [], hints: [])
        let hints = Diagnoser.hints(for: d)
        #expect(hints.contains { $0.contains("interceptors") })
        #expect(hints.contains { $0.contains("inotify") })
    }

    /// `aphex wait`, `aphex status --wait` and bootstrap end with the same error for a
    /// diagnosis: the headline as the message, the rest of the rendering as the detail.
    @Test func diagnosisErrorCarriesHeadlineAndRendering() {
        let d = Diagnosis(
            headline: "Wave 10 is not converged after 5m.", wave: 10,
            problems: ["cert-manager webhook not serving"], hints: ["See docs/troubleshooting.md."])
        let timeout = d.error(timedOut: true)
        #expect(timeout.status == .timeout)
        #expect(timeout.message == d.headline)
        #expect(timeout.message + "\n" + (timeout.detail ?? "") == d.text)
        #expect(timeout.detail?.contains("cert-manager webhook not serving") == true)
        let failed = d.error(timedOut: false)
        #expect(failed.status == .failed && failed.message == d.headline && failed.detail == timeout.detail)
    }
}
