import AphexCore
import KubeClient
import Foundation
import Testing
@testable import SimCluster

/// The `cabundle-hook` scenario plays what it claims, in ArgoCD's own status shapes, so the
/// convergence tests that run on it prove something about real clusters.
@Suite struct CertManagerHookScenario {
    /// The scenario's state at scenario time `seconds` (root applied at 0).
    func at(_ seconds: Double) async throws -> SimCluster {
        let sim = try SimCluster(scenario: "cabundle-hook")
        try await applyRoot(sim)
        sim.run(until: .milliseconds(Int64(seconds * 1000)), step: .seconds(1)) { _ in false }
        return sim
    }

    @Test func certManagerRunsBehindItsPostSyncHookWhileTheCABundleIsMissing() async throws {
        let sim = try await at(60)
        let cm = try #require(app(sim, "cert-manager"))
        #expect(cm[path: "status", "operationState", "phase"] == "Running")
        #expect(cm[path: "status", "operationState", "message"] == "one or more tasks are running")
        #expect(cm[path: "status", "health", "status"] == "Progressing")
        #expect(cm[path: "status", "sync", "status"] == "Synced")
        let resources = cm[path: "status", "resources"]?.array ?? []
        #expect(resources.first { $0["name"] == "cert-manager" }?[path: "health", "status"] == "Progressing")
        #expect(resources.first { $0["name"] == "cert-manager-webhook" }?[path: "health", "status"] == "Healthy")
        let hook = (cm[path: "status", "operationState", "syncResult", "resources"]?.array ?? []).first {
            $0["kind"] == "Job"
        }
        #expect(hook?["name"] == "cert-manager-startupapicheck")
        #expect(hook?["hookType"] == "PostSync" && hook?["hookPhase"] == "Running" && hook?["syncPhase"] == "PostSync")
        // cainjector runs (as the chart labels it) but never injects.
        let hooks =
            sim.world.get(ResourceRef.validatingWebhooks, namespace: nil, name: "cert-manager-webhook")?["webhooks"]?
            .array ?? []
        #expect(!hooks.isEmpty && hooks.allSatisfy { ($0[path: "clientConfig", "caBundle"]?.string ?? "").isEmpty })
        #expect(
            try !sim.world.list(
                ResourceRef.pods, namespace: "cert-manager", labelSelector: "app.kubernetes.io/component=cainjector"
            ).isEmpty)
        // ArgoCD holds the later waves back.
        #expect(app(sim, "external-secrets")?[path: "status", "operationState"] == nil)
    }

    @Test func theHookFailsTheOperationThenTheWebhookRejectsCertFoundation() async throws {
        let sim = try await at(160)
        let cm = try #require(app(sim, "cert-manager"))
        #expect(cm[path: "status", "operationState", "phase"] == "Failed")
        #expect(
            cm[path: "status", "operationState", "message"]
                == "one or more synchronization tasks completed unsuccessfully")
        #expect(cm[path: "status", "operationState", "finishedAt"]?.string != nil)
        #expect((cm[path: "status", "conditions"]?.array ?? []).contains { $0["type"] == "SyncError" })

        sim.run(until: .seconds(60), step: .seconds(1)) { _ in false }  // t = 220
        #expect(app(sim, "cert-manager")?[path: "status", "health", "status"] == "Healthy")
        let cf = try #require(app(sim, "cert-foundation"))
        let op = cf[path: "status", "operationState"]
        #expect(op?["phase"] == "Failed")
        #expect(op?["retryCount"]?.int == 2)
        let message = op?["message"]?.string ?? ""
        #expect(
            message.hasPrefix("one or more objects failed to apply, reason: error when creating \"/dev/shm/"),
            "\(message)")
        #expect(
            message.contains("Internal error occurred: failed calling webhook \"webhook.cert-manager.io\""),
            "\(message)")
        #expect(message.contains("x509: certificate signed by unknown authority"), "\(message)")
        #expect(message.hasSuffix(" (retried 2 times)."), "\(message)")
        #expect(cf[path: "status", "sync", "status"] == "OutOfSync")
        let failed = (op?[path: "syncResult", "resources"]?.array ?? []).first { $0["kind"] == "ClusterIssuer" }
        #expect(failed?["status"] == "SyncFailed" && failed?["hookPhase"] == "Failed")
        #expect(
            (cf[path: "status", "conditions"]?.array ?? []).first?["message"]?.string?.hasPrefix(
                "Failed sync attempt to ") == true)
        // Wave 30 never starts.
        #expect(app(sim, "ingress")?[path: "status", "operationState"] == nil)
    }

    @Test func whileRetryingArgoCDSaysWhenItRetries() async throws {
        let sim = try await at(197)
        let op = app(sim, "cert-foundation")?[path: "status", "operationState"]
        #expect(op?["phase"] == "Running")
        #expect(op?["retryCount"]?.int == 1)
        let message = op?["message"]?.string ?? ""
        #expect(
            message.range(
                of: #"x509: certificate signed by unknown authority\. Retrying attempt #1 at \d{1,2}:\d{2}(AM|PM)\.$"#,
                options: .regularExpression) != nil, "\(message)")
    }
}
