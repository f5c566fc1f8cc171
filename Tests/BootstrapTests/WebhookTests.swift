import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

@Suite struct WebhookTests {
    func fixture(
        caBundle: Bool = true, endpointsReady: Bool? = true, service: Bool = true,
        dryRun: (Int, String)? = nil
    ) -> FakeKube {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: nil, caBundleInjectedAt: caBundle ? 0 : nil)
        if !service { k.handlers.removeAll() }
        if endpointsReady == nil {
            k.put(
                .endpointSlices,
                [
                    "metadata": [
                        "name": "cert-manager-webhook-abc", "namespace": "cert-manager",
                        "labels": ["kubernetes.io/service-name": "cert-manager-webhook"]
                    ], "endpoints": []
                ])
        } else if endpointsReady == false {
            k.put(
                .endpointSlices,
                [
                    "metadata": [
                        "name": "cert-manager-webhook-abc", "namespace": "cert-manager",
                        "labels": ["kubernetes.io/service-name": "cert-manager-webhook"]
                    ],
                    "endpoints": [["addresses": ["10.0.0.5"], "conditions": ["ready": false]]]
                ])
        }
        if let dryRun {
            k.handlers.insert(
                (
                    "/apis/cert-manager.io/",
                    { _, _, _ in
                        HTTPResponse(
                            status: dryRun.0,
                            body: Array((["kind": "Status", "message": .string(dryRun.1)] as JSON).serialized().utf8))
                    }
                ), at: 0)
        }
        return k
    }

    @Test func allFourStepsPass() async throws {
        let p = try await WebhookCheck.prove(api: fixture(), full: true)
        #expect(p.ready)
        #expect(p.steps.map(\.result) == [.passed, .passed, .passed, .passed])
    }

    @Test func fastModeUsesOneRequestWhenTheDryRunPasses() async throws {
        let k = fixture()
        let before = k.requestCount
        let p = try await WebhookCheck.prove(api: k, full: false)
        #expect(p.ready)
        #expect(k.requestCount - before == 1)
        #expect(p.steps.map(\.result) == [.implied, .implied, .implied, .passed])
    }

    @Test func emptyCABundleIsNamedWithTheCAInjectorState() async throws {
        let k = fixture(caBundle: false)
        k.put(
            .pods,
            Obj.pod(
                "cert-manager", "cert-manager-cainjector-7d9", labels: ["app.kubernetes.io/component": "cainjector"],
                waiting: ("CrashLoopBackOff", "back-off 40s restarting failed container"), restarts: 4))
        let p = try await WebhookCheck.prove(api: k, full: false)
        #expect(!p.ready)
        #expect(p.failure == .caBundleNotInjected)
        #expect(p.failedStep == 2)
        #expect(p.message?.contains("empty clientConfig.caBundle") == true)
        #expect(p.cainjector?.contains("cert-manager-cainjector-7d9: CrashLoopBackOff") == true)
        #expect(p.summary.contains("CA bundle not injected (step 2)"))
    }

    @Test func caBundleThatIsNotPEMFails() {
        let bad = Data("not a certificate".utf8).base64EncodedString()
        #expect(
            WebhookCheck.caBundleProblem(
                Obj.webhookConfig(caBundle: bad), kind: "ValidatingWebhookConfiguration", name: "x")?.contains(
                    "not a PEM") == true)
        #expect(
            WebhookCheck.caBundleProblem(
                Obj.webhookConfig(caBundle: Obj.pem), kind: "ValidatingWebhookConfiguration", name: "x") == nil)
        #expect(
            WebhookCheck.caBundleProblem(["metadata": ["name": "x"], "webhooks": []], kind: "V", name: "x")?.contains(
                "no webhooks") == true)
    }

    @Test func noReadyEndpointIsWebhookNotReady() async throws {
        for ready in [false, nil] as [Bool?] {
            let p = try await WebhookCheck.prove(
                api: fixture(
                    endpointsReady: ready,
                    dryRun: (
                        500,
                        #"""
                        Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call \#
                        webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": \#
                        no endpoints available for service "cert-manager-webhook"
                        """#
                    )), full: true)
            #expect(p.failure == .webhookNotReady)
            #expect(p.failedStep == 1)
        }
    }

    @Test func missingServiceIsServiceMissing() async throws {
        let k = fixture(
            endpointsReady: nil,
            dryRun: (
                500,
                #"""
                failed calling webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate": \#
                service "cert-manager-webhook" not found
                """#
            ))
        let p = try await WebhookCheck.prove(api: ServiceDeleted(base: k), full: true)
        #expect(p.failure == .serviceMissing)
        #expect(p.failedStep == 1)
    }

    @Test func crdsMissingComesFromTheDryRun() async throws {
        let p = try await WebhookCheck.prove(
            api: fixture(dryRun: (404, "the server could not find the requested resource")), full: true)
        #expect(p.failure == .crdsMissing)
        #expect(p.failedStep == 4)
    }

    @Test func dryRunFailureAfterThreePassingStepsReportsTheAPIMessage() async throws {
        let msg =
            #"""
            Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: \#
            Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": dial tcp \#
            10.96.0.10:443: connect: connection refused
            """#
        let p = try await WebhookCheck.prove(api: fixture(dryRun: (500, msg)), full: true)
        #expect(p.failedStep == 4)
        #expect(p.failure == .webhookNotReady)
        #expect(p.message?.contains("connect: connection refused") == true)
        #expect(p.steps.prefix(3).allSatisfy { $0.result == .passed })
    }

    @Test(arguments: [
        (404, "anything", WebhookFailure.crdsMissing),
        (500, #"failed to find API group "cert-manager.io""#, .crdsMissing),
        (500, #"no matches for kind "Issuer" in version "cert-manager.io/v1""#, .crdsMissing),
        (500, #"Post "https://x": service "cert-manager-webhook" not found"#, .serviceMissing),
        (500, #"Post "https://x": x509: certificate signed by unknown authority"#, .caBundleNotInjected),
        (500, #"Post "https://x": dial tcp: connect: connection refused"#, .webhookNotReady),
        (500, #"Post "https://x": context deadline exceeded"#, .webhookNotReady)
    ])
    func classifiesLikeCmctl(_ status: Int, _ message: String, _ expected: WebhookFailure) {
        #expect(WebhookCheck.classify(status: status, message: message) == expected)
    }

    @Test func transientAPIErrorsAreThrownForTheCallerToRetry() async {
        let k = fixture()
        k.fault = { _, _ in .server(status: 503, message: "etcd leader changed") }
        await #expect(throws: KubeAPIError.self) { try await WebhookCheck.prove(api: k, full: true) }
    }
}

/// A view of a FakeKube where the webhook Service does not exist.
struct ServiceDeleted: KubeAPI {
    let base: FakeKube
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        if ref == .services {
            _ = try await base.get(ref, namespace: namespace, name: name)
            return nil
        }
        return try await base.get(ref, namespace: namespace, name: name)
    }
    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    {
        try await base.list(ref, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector)
    }
    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    {
        try await base.request(method, path: path, body: body, contentType: contentType, headers: headers)
    }
    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?, timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        base.watch(
            ref, namespace: namespace, labelSelector: labelSelector, resourceVersion: resourceVersion,
            timeoutSeconds: timeoutSeconds)
    }
}
