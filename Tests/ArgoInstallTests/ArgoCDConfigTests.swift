import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing

/// argocd-cm health check, server.insecure + restart, readiness wait, platform-root.
@Suite struct ArgoCDConfigTests {
    func installedArgo() async throws -> Harness {
        let h = try Harness()
        try await h.install(["argocd"])
        h.cluster.clearRecord()
        return h
    }

    @Test func addsTheHealthCheckAndWaitsForReadiness() async throws {
        let h = try await installedArgo()
        let report = try await ArgoCDConfig.configure(h.env, insecure: false, dryRun: false)
        #expect(report.changed == ["argocd-cm: added the Application health check"])
        let cm = h.cluster.object("ConfigMap", "argocd", "argocd-cm")!
        let lua = cm[path: "data", "resource.customizations.health.argoproj.io_Application"]?.string
        #expect(lua?.contains("hs.status = obj.status.health.status") == true)
        #expect(lua?.hasPrefix("hs = {}\nhs.status = \"Progressing\"") == true)
        // The install's own labels are kept (a separate field manager, partial object).
        #expect(cm.labels["app.kubernetes.io/part-of"] == "argocd")
        #expect(h.cluster.applies.map { $0.argv.contains("--field-manager=aphex-config") } == [true])
        // Waited: the workloads become ready 5s (virtual) after they were applied.
        #expect(h.clock.now() >= .seconds(5))
        // No restart without --argocd-insecure.
        #expect(!h.cluster.commands.contains { $0.argv.contains("patch") })
        // Re-run: nothing written.
        h.cluster.clearRecord()
        let again = try await ArgoCDConfig.configure(h.env, insecure: false, dryRun: false)
        #expect(again.outcome == .unchanged)
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func insecureSetsTheParamAndRestartsOnlyWhenChanged() async throws {
        let h = try await installedArgo()
        _ = try await ArgoCDConfig.configure(h.env, insecure: true, dryRun: false)
        let params = h.cluster.object("ConfigMap", "argocd", "argocd-cmd-params-cm")!
        #expect(params[path: "data", "server.insecure"]?.string == "true")
        let patches = h.cluster.commands.filter { $0.argv.contains("patch") }
        #expect(patches.count == 1)
        #expect(Array(patches[0].argv[5...9]) == ["patch", "deployment", "argocd-server", "--namespace", "argocd"])
        let server = h.cluster.object("Deployment", "argocd", "argocd-server")!
        #expect(
            server[path: "spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]?.string
                != nil)
        #expect(server[path: "metadata", "generation"]?.int == 2)
        h.cluster.clearRecord()
        let again = try await ArgoCDConfig.configure(h.env, insecure: true, dryRun: false)
        #expect(again.outcome == .unchanged)
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func notReadyTimesOutWithPodDiagnosis() async throws {
        let h = try await installedArgo()
        h.cluster.stuck = ["argocd-repo-server"]
        let error = await #expect(throws: AphexError.self) {
            try await ArgoCDConfig.configure(h.env, insecure: false, dryRun: false, readyTimeout: .seconds(60))
        }
        #expect(error?.status == .timeout)
        #expect(error?.message.contains("argocd-repo-server") == true)
        #expect(error?.message.contains("0/1") == true)
        #expect(error?.detail?.contains("ImagePullBackOff") == true)
        #expect(error?.detail?.contains("argocd-server") == false)
    }

    @Test func withoutArgoCDItSaysSo() async throws {
        let h = try Harness()
        let error = await #expect(throws: AphexError.self) {
            try await ArgoCDConfig.configure(h.env, insecure: false, dryRun: false)
        }
        #expect(error?.message.contains("argocd-cm does not exist") == true)
    }

    @Test func dryRunDescribesAndTouchesNothing() async throws {
        let h = try await installedArgo()
        let report = try await ArgoCDConfig.configure(h.env, insecure: true, dryRun: true)
        #expect(report.outcome == .planned)
        #expect(report.planned.count == 3)
        #expect(report.planned[1].contains("patch deployment argocd-server"))
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func readinessRules() {
        func dep(
            gen: Int64, observed: Int64, replicas: Int64 = 1, updated: Int64, available: Int64, total: Int64? = nil
        ) -> JSON {
            [
                "metadata": ["generation": .int(gen)], "spec": ["replicas": .int(replicas)],
                "status": [
                    "observedGeneration": .int(observed), "updatedReplicas": .int(updated),
                    "availableReplicas": .int(available), "readyReplicas": .int(available),
                    "replicas": .int(total ?? replicas)
                ]
            ]
        }
        #expect(
            ArgoCDConfig.notReadyReason(dep(gen: 2, observed: 2, updated: 1, available: 1), kind: .deployment) == nil)
        #expect(
            ArgoCDConfig.notReadyReason(dep(gen: 3, observed: 2, updated: 1, available: 1), kind: .deployment)?
                .contains("generation 3") == true)
        #expect(
            ArgoCDConfig.notReadyReason(
                dep(gen: 2, observed: 2, updated: 1, available: 1, total: 2), kind: .deployment)?.contains(
                    "old replica") == true)
        #expect(
            ArgoCDConfig.notReadyReason(dep(gen: 1, observed: 1, updated: 1, available: 0), kind: .deployment)?
                .contains("0/1") == true)
        #expect(ArgoCDConfig.notReadyReason(nil, kind: .statefulSet) == "does not exist")
        // Item 9 of issue 14: a hostile server's counts are judged, not trapped on
        // (before: `current - updated` overflowed for updated = Int64.min).
        let hostile: JSON = [
            "metadata": ["generation": 1], "spec": ["replicas": .int(.min)],
            "status": ["observedGeneration": 1, "updatedReplicas": .int(.min), "replicas": .int(.max)]
        ]
        #expect(
            ArgoCDConfig.notReadyReason(hostile, kind: .deployment) == "2147483647 old replica(s) pending termination")
        for a: Int64 in [.max, .min, -1] {
            _ = ArgoCDConfig.notReadyReason(
                dep(gen: a, observed: a, replicas: a, updated: ~a, available: a, total: a), kind: .deployment)
            _ = ArgoCDConfig.notReadyReason(
                dep(gen: a, observed: a, replicas: a, updated: a, available: ~a, total: ~a), kind: .statefulSet)
        }
        var sts = dep(gen: 1, observed: 1, updated: 1, available: 1)
        sts.set(["status", "currentRevision"], to: "a")
        sts.set(["status", "updateRevision"], to: "b")
        #expect(ArgoCDConfig.notReadyReason(sts, kind: .statefulSet)?.contains("rolling update") == true)
    }
}

@Suite struct RootAppTests {
    @Test func rendersThePlatformRootApplication() {
        let kind = RootApplication(deployment: .kind).object
        #expect(kind[path: "metadata", "name"] == "platform-root")
        #expect(kind[path: "metadata", "namespace"] == "argocd")
        let finalizers: JSON = ["resources-finalizer.argocd.argoproj.io"]
        #expect(kind[path: "metadata", "finalizers"] == finalizers)
        #expect(kind[path: "spec", "project"] == "default")
        let source: JSON = [
            "repoURL": "https://github.com/bdchatham/AphexPlatformInfrastructure.git",
            "targetRevision": "HEAD", "path": "platform/base/argocd/apps"
        ]
        let destination: JSON = ["server": "https://kubernetes.default.svc", "namespace": "argocd"]
        let automated: JSON = ["prune": true, "selfHeal": true]
        let backoff: JSON = ["duration": "5s", "factor": 2, "maxDuration": "3m"]
        let retry: JSON = ["limit": 5, "backoff": backoff]
        #expect(kind[path: "spec", "source"] == source)
        #expect(kind[path: "spec", "destination"] == destination)
        #expect(kind[path: "spec", "syncPolicy", "automated"] == automated)
        #expect(kind[path: "spec", "syncPolicy", "retry"] == retry)
        let k3s = RootApplication(deployment: .k3s, repoURL: "git@github.com:me/fork.git", revision: "main").object
        #expect(k3s[path: "spec", "source", "path"] == "platform/deployments/k3s/argocd/apps")
        #expect(k3s[path: "spec", "source", "repoURL"] == "git@github.com:me/fork.git")
        #expect(k3s[path: "spec", "source", "targetRevision"] == "main")
        #expect(RootApplication(deployment: .kind, path: "apps").object[path: "spec", "source", "path"] == "apps")
    }

    @Test func appliesThenRefreshesAndReRunWritesNothing() async throws {
        let h = try Harness()
        try await h.install(["argocd"])
        h.cluster.clearRecord()
        let app = RootApplication(deployment: .kind)
        let report = try await app.ensure(h.env, dryRun: false)
        #expect(report.outcome == .done)
        let commands = h.cluster.commands.map { Array($0.argv[5...]) }
        #expect(commands.count == 2)
        #expect(commands[0].first == "apply")
        #expect(
            commands[1] == [
                "annotate", "applications.argoproj.io", "platform-root", "--namespace", "argocd",
                "--overwrite", "argocd.argoproj.io/refresh=normal"
            ])
        let live = h.cluster.object("Application", "argocd", "platform-root")!
        #expect(live.annotations["argocd.argoproj.io/refresh"] == "normal")
        // Same inputs: nothing written (ArgoCD's own status/annotation changes do not matter).
        h.cluster.clearRecord()
        #expect(try await app.ensure(h.env, dryRun: false).outcome == .unchanged)
        #expect(h.cluster.commands.isEmpty)
        // A new revision updates it.
        let moved = RootApplication(deployment: .kind, revision: "v2")
        #expect(try await moved.ensure(h.env, dryRun: false).changed.first?.contains("updated") == true)
        #expect(
            h.cluster.object("Application", "argocd", "platform-root")?[path: "spec", "source", "targetRevision"]
                == "v2")
    }

    @Test func beforeArgoCDTheApplyFailsClearly() async throws {
        let h = try Harness()
        let error = await #expect(throws: AphexError.self) {
            try await RootApplication(deployment: .kind).ensure(h.env, dryRun: false)
        }
        #expect(error?.message.contains("platform-root") == true)
        #expect(error?.detail?.contains("no matches for kind \"Application\"") == true)
    }
}
