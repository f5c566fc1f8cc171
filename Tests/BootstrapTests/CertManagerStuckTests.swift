import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing

/// cert-manager stuck before it is Healthy (issue 13 §1), on the in-process simulator's
/// `cabundle-hook` scenario: its sync Running behind the startupapicheck PostSync hook, health
/// Progressing, the webhook's caBundle never injected; the hook then fails the operation, and
/// later cert-foundation's ClusterIssuer is rejected by the webhook (x509).
@Suite struct CertManagerStuckTests {
    func sim(at seconds: Double = 0) throws -> SimCluster {
        let sim = try SimCluster(scenario: WaitSimTests.scenario("cabundle-hook"))
        if seconds > 0 { sim.run(until: .milliseconds(Int64(seconds * 1000)), step: .seconds(1)) { _ in false } }
        return sim
    }

    func app(_ sim: SimCluster, _ name: String) -> JSON? {
        sim.world.get(ResourceRef.applications, namespace: "argocd", name: name)
    }

    func status(_ sim: SimCluster, format: OutputFormat = .text, _ options: StatusOptions = StatusOptions())
        async throws -> (AphexCore.ExitStatus, String)
    {
        let out = BufferWriter()
        let ctx = testContext(clock: sim.clock, format: format, output: out)
        let s = try await StatusReport.run(
            ctx, options, api: KubeClient(server: sim.baseURL, transport: sim.transport), server: sim.baseURL)
        return (s, out.text)
    }

    @Test func timeoutWhileCertManagerIsProgressingLeadsWithTheCABundle() async throws {
        let r = try await WaitSimTests().wait(try sim(), timeout: .seconds(60))
        // The case this is about: cert-manager not Healthy, its operation still Running.
        let cm = app(r.sim, "cert-manager")
        #expect(cm?[path: "status", "operationState", "phase"] == "Running")
        #expect(cm?[path: "status", "health", "status"] == "Progressing")

        #expect(r.error?.status == .timeout, "\(r.error?.description ?? "converged?")")
        let headline = r.error?.message ?? ""
        #expect(
            headline.hasPrefix(
                """
                Timed out after 1m: cert-manager's webhook: CA bundle not injected (step 2); wave 10 is not \
                converged
                """),
            "\(headline)")
        let lines = (r.error?.detail ?? "").split(separator: "\n").map(String.init)
        // The proof comes first, with the cainjector pod's state; then the app, still saying why ArgoCD waits.
        #expect(
            lines.first?.hasPrefix(
                """
                  cert-manager webhook: CA bundle not injected (step 2): ValidatingWebhookConfiguration \
                cert-manager-webhook
                """
            ) == true, "\(lines)")
        #expect(lines.first?.contains("cainjector: pod cert-manager/cert-manager-cainjector-") == true, "\(lines)")
        #expect(
            lines.contains {
                $0.contains(
                    """
                    Application cert-manager (wave 10): sync Synced, health Progressing — cert-manager's webhook: \
                    CA bundle not injected (step 2); sync operation Running: one or more tasks are running
                    """
                )
            }, "\(lines)")
        #expect(lines.contains { $0.contains("Deployment cert-manager/cert-manager: Progressing") }, "\(lines)")
        #expect(
            lines.contains { $0.contains("Job cert-manager/cert-manager-startupapicheck: Running — PostSync hook") },
            "what the operation waits on: \(lines)")
        #expect(lines.contains { $0.contains("cert-manager's CA bundle is not injected") }, "the hint: \(lines)")
    }

    @Test func waitShowsTheProofWhileCertManagerIsNotHealthy() async throws {
        let r = try await WaitSimTests().wait(try sim(), timeout: .seconds(70), format: .json)
        #expect(r.error?.status == .timeout)
        // Said while waiting (stderr), not only at the end.
        #expect(
            r.reporter.logs.contains {
                $0.contains("cert-manager's webhook has not been ready for")
                    && $0.contains("CA bundle not injected (step 2)")
            },
            "\(r.reporter.logs)")
        let doc = try JSON.parse(r.output)
        #expect(doc["outcome"] == "timeout")
        let webhook = doc[path: "diagnosis", "webhook"]
        #expect(webhook?["failedStep"]?.int == 2)
        #expect(webhook?["failure"] == "CA bundle not injected")
        #expect(webhook?["cainjector"]?.string?.contains("cert-manager-cainjector-") == true)
        #expect(doc[path: "result", "webhook", "failedStep"]?.int == 2)
        let cm = doc[path: "diagnosis", "apps"]?.array?.first { $0["name"] == "cert-manager" }
        #expect(cm?["cause"] == "cert-manager's webhook: CA bundle not injected (step 2)")
        #expect(cm?["health"] == "Progressing")
    }

    @Test func operationFailureExitsOneAtOnceLeadingWithTheCABundle() async throws {
        let r = try await WaitSimTests().wait(try sim(), timeout: .seconds(600))
        #expect(r.error?.status == .failed, "\(r.error?.description ?? "converged?")")
        #expect(
            r.sim.world.nowSeconds < 160,
            "failed when the hook failed (149 s), not at the timeout: \(r.sim.world.nowSeconds)")
        #expect(
            r.error?.message
                == """
                Application cert-manager (wave 10) failed: cert-manager's webhook: CA bundle not injected (step \
                2); sync operation Failed: one or more synchronization tasks completed unsuccessfully.
                """,
            "\(r.error?.message ?? "")")
        #expect(r.error?.detail?.contains("cainjector: pod cert-manager/cert-manager-cainjector-") == true)
    }

    @Test func childRejectedByTheWebhookIsTracedToTheCABundle() async throws {
        let sim = try sim(at: 220)
        #expect(app(sim, "cert-foundation")?[path: "status", "operationState", "phase"] == "Failed")
        let r = try await WaitSimTests().wait(sim, timeout: .seconds(60))
        #expect(r.error?.status == .failed, "\(r.error?.description ?? "converged?")")
        let headline = r.error?.message ?? ""
        #expect(
            headline.hasPrefix(
                """
                Application cert-foundation (wave 20) failed: cert-manager's webhook: CA bundle not injected \
                (step 2); sync operation Failed: one or more objects failed to apply
                """
            ), "\(headline)")
        #expect(headline.contains("x509: certificate signed by unknown authority"))
        #expect(!headline.hasSuffix(".."), "\(headline)")
        let detail = r.error?.detail ?? ""
        #expect(
            detail.contains(
                """
                    cause: cert-manager's webhook: CA bundle not injected (step 2): the API server cannot verify \
                cert-manager's webhook (x509
                """
            ), "\(detail)")
        #expect(detail.contains("  cert-manager webhook: CA bundle not injected (step 2)"), "\(detail)")
        #expect(detail.contains("argocd app sync cert-foundation"), "the retry hint: \(detail)")
    }

    @Test func statusShowsTheProofWhileCertManagerIsProgressing() async throws {
        let sim = try sim(at: 60)
        let (s, text) = try await status(sim)
        #expect(s == .failed)
        #expect(
            text.contains(
                """
                \ncert-manager webhook: CA bundle not injected (step 2): ValidatingWebhookConfiguration \
                cert-manager-webhook
                """
            ), "\(text)")
        #expect(text.contains("cainjector: pod cert-manager/cert-manager-cainjector-"), "\(text)")
        #expect(
            text.contains(
                """
                cert-manager's webhook: CA bundle not injected (step 2); sync operation Running: one or more \
                tasks are running
                """
            ), "\(text)")
        #expect(
            text.contains(
                "Not converged: wave 10 (cert-manager): cert-manager's webhook: CA bundle not injected (step 2). "),
            "\(text)")

        let (_, json) = try await status(sim, format: .json)
        let doc = try JSON.parse(json)
        #expect(doc[path: "certManager", "ready"] == false)
        #expect(doc[path: "certManager", "failedStep"]?.int == 2)
        #expect(doc[path: "certManager", "failure"] == "CA bundle not injected")
        #expect(doc[path: "certManager", "cainjector"]?.string?.contains("cert-manager-cainjector-") == true)
        #expect(
            doc[path: "certManager", "steps"]?.array?.map { $0["result"]?.string ?? "" } == [
                "passed", "failed", "not-checked", "not-checked"
            ])
        let cm = doc["waves"]?.array?.flatMap { $0["apps"]?.array ?? [] }.first { $0["name"] == "cert-manager" }
        #expect(cm?["health"] == "Progressing")
        #expect(cm?["cause"] == "cert-manager's webhook: CA bundle not injected (step 2)")
    }

    @Test func statusTracesTheRejectedChildToTheCABundle() async throws {
        let sim = try sim(at: 220)
        let (_, json) = try await status(sim, format: .json)
        let doc = try JSON.parse(json)
        let cf = doc["waves"]?.array?.flatMap { $0["apps"]?.array ?? [] }.first { $0["name"] == "cert-foundation" }
        #expect(cf?["phase"] == "failed")
        #expect(
            cf?["cause"]?.string?.hasPrefix(
                "cert-manager's webhook: CA bundle not injected (step 2): the API server cannot verify") == true,
            "\(cf ?? .null)")
        // Focused on the child alone, the proof it is traced to stays in the document.
        var focus = StatusOptions()
        focus.app = "cert-foundation"
        let (_, focused) = try await status(sim, format: .json, focus)
        #expect(try JSON.parse(focused)[path: "certManager", "failedStep"]?.int == 2)
    }
}
