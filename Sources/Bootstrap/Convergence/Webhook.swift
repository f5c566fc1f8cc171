import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// cmctl's classes of "cert-manager is not really ready" (cmctl check api).
public enum WebhookFailure: String, Sendable, Codable, Equatable {
    case crdsMissing = "CRDs missing"
    case serviceMissing = "service missing"
    case webhookNotReady = "webhook not ready"
    case caBundleNotInjected = "CA bundle not injected"
}

public struct WebhookStep: Sendable, Codable, Equatable {
    public enum Result: String, Sendable, Codable {
        case passed, failed, implied
        case notChecked = "not-checked"
    }
    public var step: Int
    public var name: String
    public var result: Result
    public var message: String?
}

/// The four-step proof that cert-manager's webhook really answers (PLATFORM.md).
public struct WebhookProof: Sendable, Codable, Equatable {
    public var ready: Bool
    /// 1-4: the first step that failed.
    public var failedStep: Int?
    public var failure: WebhookFailure?
    /// What failed, with the API's own error message for step 4.
    public var message: String?
    /// The cainjector pod's state when a CA bundle is missing.
    public var cainjector: String?
    public var steps: [WebhookStep]

    /// "CA bundle not injected (step 2)": the class and the failing step (nil when ready, or when
    /// the proof could not run).
    public var classSummary: String? {
        guard !ready, let failure else { return nil }
        return "\(failure.rawValue)" + (failedStep.map { " (step \($0))" } ?? "")
    }

    public var summary: String {
        if ready { return "ready (dry-run create of an Issuer accepted by the webhook)" }
        var s = "\(failure?.rawValue ?? "not ready") (step \(failedStep ?? 0))"
        if let message { s += ": \(message)" }
        if let cainjector { s += "; cainjector: \(cainjector)" }
        return s
    }
}

public enum WebhookCheck {
    static let stepNames = [
        1: "webhook Service has a ready endpoint",
        2: "ValidatingWebhookConfiguration caBundle injected",
        3: "MutatingWebhookConfiguration caBundle injected",
        4: "server-side dry-run create of an Issuer succeeds"
    ]

    /// Runs the proof. `full`: check steps 1-3 even when the dry-run passes (the waiter does, once);
    /// otherwise a passing dry-run implies 1-3 (they are checked only to name a failure), which
    /// keeps `aphex status` at one request for the proof.
    /// Transient API errors are thrown (callers retry); everything else is a verdict.
    public static func prove(api: any KubeAPI, catalog: ConvergenceCatalog = .default, full: Bool = true) async throws
        -> WebhookProof
    {
        let dry = try await dryRun(api: api, catalog: catalog)
        if dry.ok && !full {
            return WebhookProof(
                ready: true,
                steps: (1...3).map { WebhookStep(step: $0, name: stepNames[$0]!, result: .implied) }
                    + [WebhookStep(step: 4, name: stepNames[4]!, result: .passed)])
        }
        if !dry.ok, dry.failure == .crdsMissing {
            return failing(
                step: 4, .crdsMissing,
                "the cert-manager.io API is not served (\(dry.message)); cert-manager's CRDs are not installed yet",
                passed: [], cainjector: nil)
        }
        var passed: [Int] = []
        // 1. endpoints
        let slices = try await api.list(
            .endpointSlices, namespace: catalog.certManagerNamespace,
            labelSelector: "kubernetes.io/service-name=\(catalog.certManagerWebhookService)")
        let readyEndpoints = slices.flatMap { $0["endpoints"]?.array ?? [] }
            .filter { $0[path: "conditions", "ready"]?.bool != false }  // nil means ready (API contract)
        if readyEndpoints.isEmpty {
            let svc = try await api.get(
                .services, namespace: catalog.certManagerNamespace, name: catalog.certManagerWebhookService)
            if svc == nil {
                return failing(
                    step: 1, .serviceMissing,
                    "Service \(catalog.certManagerNamespace)/\(catalog.certManagerWebhookService) does not exist",
                    passed: passed, cainjector: nil)
            }
            let total = slices.flatMap { $0["endpoints"]?.array ?? [] }.count
            return failing(
                step: 1, .webhookNotReady,
                """
                Service \(catalog.certManagerNamespace)/\(catalog.certManagerWebhookService) has no ready \
                endpoint (\(total) endpoint(s), none ready): the webhook pod is not ready
                """,
                passed: passed, cainjector: nil)
        }
        passed.append(1)
        // 2, 3. caBundles
        for (step, ref) in [(2, ResourceRef.validatingWebhooks), (3, ResourceRef.mutatingWebhooks)] {
            let config = try await api.get(ref, namespace: nil, name: catalog.certManagerWebhookConfiguration)
            if let problem = caBundleProblem(config, kind: ref.kind, name: catalog.certManagerWebhookConfiguration) {
                let missingObject = config == nil
                let cainjector = missingObject ? nil : await cainjectorState(api: api, catalog: catalog)
                return failing(
                    step: step, missingObject ? .webhookNotReady : .caBundleNotInjected, problem, passed: passed,
                    cainjector: cainjector)
            }
            passed.append(step)
        }
        // 4. the webhook really answers
        if !dry.ok {
            let failure = dry.failure ?? .webhookNotReady
            let cainjector = failure == .caBundleNotInjected ? await cainjectorState(api: api, catalog: catalog) : nil
            return failing(
                step: 4, failure, "dry-run create of an Issuer failed: \(dry.message)", passed: passed,
                cainjector: cainjector)
        }
        return WebhookProof(
            ready: true, steps: (1...4).map { WebhookStep(step: $0, name: stepNames[$0]!, result: .passed) })
    }

    static func failing(step: Int, _ failure: WebhookFailure, _ message: String, passed: [Int], cainjector: String?)
        -> WebhookProof
    {
        let steps = (1...4).map { n in
            WebhookStep(
                step: n, name: stepNames[n]!, result: passed.contains(n) ? .passed : n == step ? .failed : .notChecked,
                message: n == step ? message : nil)
        }
        return WebhookProof(
            ready: false, failedStep: step, failure: failure, message: message, cainjector: cainjector, steps: steps)
    }

    /// nil when the configuration has at least one webhook and every caBundle decodes to a PEM certificate.
    public static func caBundleProblem(_ config: JSON?, kind: String, name: String) -> String? {
        guard let config else {
            return "\(kind) \(name) does not exist (cert-manager's manifests are not fully applied)"
        }
        let hooks = config["webhooks"]?.array ?? []
        if hooks.isEmpty { return "\(kind) \(name) has no webhooks" }
        for (i, hook) in hooks.enumerated() {
            let b64 = hook[path: "clientConfig", "caBundle"]?.string ?? ""
            if b64.isEmpty {
                return
                    "\(kind) \(name) webhooks[\(i)] (\(hook["name"]?.string ?? "?")) has an empty clientConfig.caBundle"
            }
            guard let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters),
                String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----")
            else {
                return
                    """
                    \(kind) \(name) webhooks[\(i)] (\(hook["name"]?.string ?? "?")) has a caBundle that is not a \
                    PEM certificate
                    """
            }
        }
        return nil
    }

    struct DryRun {
        var ok: Bool
        var failure: WebhookFailure?
        var message: String
    }

    /// POST .../issuers?dryRun=All: nothing is stored; the API server still calls the webhooks.
    static func dryRun(api: any KubeAPI, catalog: ConvergenceCatalog) async throws -> DryRun {
        let issuer: JSON = [
            "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
            "metadata": ["name": "aphex-webhook-check", "namespace": .string(catalog.certManagerNamespace)],
            "spec": ["selfSigned": [:]]
        ]
        let path = ResourceRef.issuers.path(namespace: catalog.certManagerNamespace) + "?dryRun=All"
        let response = try await api.request(
            "POST", path: path, body: Array(issuer.serialized().utf8), contentType: "application/json")
        // 409: an Issuer of that name exists; admission (the webhook) ran before storage said so.
        if (200..<300).contains(response.status) || response.status == 409 { return DryRun(ok: true, message: "") }
        let message =
            (try? JSON.parse(response.body))?["message"]?.string
            ?? response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if response.status == 503 || response.status == 429 || response.status == 504 && !message.contains("webhook") {
            throw KubeAPIError.server(status: response.status, message: message)
        }
        return DryRun(
            ok: false, failure: classify(status: response.status, message: message),
            message: message.isEmpty ? "HTTP \(response.status)" : message)
    }

    /// Whether an Application's sync failure is the API server failing to verify cert-manager's
    /// webhook (`failed calling webhook "webhook.cert-manager.io": ... x509: certificate signed by
    /// unknown authority`): the webhook's caBundle, not the app, is what is wrong.
    public static func isCertManagerX509(_ text: String, catalog: ConvergenceCatalog = .default) -> Bool {
        guard text.contains("x509: certificate signed by unknown authority") else { return false }
        return text.contains("\"\(catalog.certManagerWebhookName)\"")
            || text.contains("\(catalog.certManagerWebhookService).\(catalog.certManagerNamespace).svc")
    }

    /// What an Application's last sync said, where the webhook's rejection shows: the operation's
    /// message, the messages of its failed resources, its conditions.
    static func syncTexts(_ app: JSON?) -> [String] {
        let st = app?["status"]
        return [st?[path: "operationState", "message"]?.string].compactMap { $0 }
            + (st?[path: "operationState", "syncResult", "resources"]?.array ?? []).compactMap { $0["message"]?.string }
            + (st?["conditions"]?.array ?? []).compactMap { $0["message"]?.string }
    }

    /// Why Application `name` is stuck when cert-manager's webhook explains it, else nil: for
    /// cert-manager's own Application, a failing proof; for any other, a sync rejected by the
    /// webhook's TLS (x509), traced back to the caBundle with what the proof says now.
    public static func cause(
        of name: String, object: JSON?, proof: WebhookProof?, catalog: ConvergenceCatalog = .default
    ) -> String? {
        if name == catalog.certManagerApplication {
            return proof?.classSummary.map { "cert-manager's webhook: \($0)" }
        }
        guard syncTexts(object).contains(where: { isCertManagerX509($0, catalog: catalog) }) else { return nil }
        let why =
            """
            the API server cannot verify cert-manager's webhook (x509: certificate signed by unknown authority), \
            so it rejects this app's cert-manager objects
            """
        guard let proof else { return "cert-manager's webhook CA bundle: \(why)" }
        if proof.ready {
            return
                "cert-manager's webhook was not verifiable when this app synced (x509); it answers now: retry the sync"
        }
        return "cert-manager's webhook: \(proof.classSummary ?? "not ready"): \(why)"
    }

    /// cmctl's regular expressions, plus the "no endpoints" form API servers use today.
    public static func classify(status: Int, message: String) -> WebhookFailure {
        let m = message
        if status == 404 || m.contains("the server could not find the requested resource")
            || m.contains("failed to find API group \"cert-manager.io\"") || m.contains("no matches for kind")
        {
            return .crdsMissing
        }
        if m.range(of: #"service "[^"]*" not found"#, options: .regularExpression) != nil { return .serviceMissing }
        if m.contains("x509:") || m.contains("certificate signed by unknown authority") { return .caBundleNotInjected }
        return .webhookNotReady  // connection refused, no endpoints available, deadline exceeded, ...
    }

    /// "pod cert-manager/cert-manager-cainjector-x: CrashLoopBackOff, 4 restarts" or why there is none.
    static func cainjectorState(api: any KubeAPI, catalog: ConvergenceCatalog) async -> String {
        guard
            let pods = try? await api.list(
                .pods, namespace: catalog.certManagerNamespace, labelSelector: catalog.certManagerCAInjectorSelector)
        else {
            return "could not read the cainjector pods"
        }
        if pods.isEmpty {
            return
                """
                no cainjector pod in \(catalog.certManagerNamespace) (selector \
                \(catalog.certManagerCAInjectorSelector)): the cainjector Deployment is missing or scaled to 0
                """
        }
        return pods.map { p in
            let r = Pods.describe(p)
            return r.isHealthy
                ? "pod \(r.namespace)/\(r.name): Running, \(r.ready) ready (check its logs for RBAC errors)" : r.summary
        }.joined(separator: "; ")
    }
}
