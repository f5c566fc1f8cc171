import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers
import TestSupport

/// A transport that plays a script: each `send` takes the next outcome (the last repeats).
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    enum Outcome: Sendable {
        case response(HTTPResponse)
        case failure(TransportError)
    }
    private let lock = NSLock()
    private var script: [Outcome]
    private(set) var requests: [HTTPRequest] = []

    init(_ script: [Outcome]) { self.script = script }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let next: Outcome = lock.withLock {
            requests.append(request)
            return script.count > 1 ? script.removeFirst() : script[0]
        }
        switch next {
        case .response(let r): return r
        case .failure(let e): throw e
        }
    }

    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        let r = try await send(request)
        _ = onData(r.body)
        return r.status
    }

    var count: Int { lock.withLock { requests.count } }

    static let ok = Outcome.response(
        HTTPResponse(
            status: 200, headers: ["content-type": "application/json"],
            body: Array(#"{"kind":"ConfigMap","metadata":{"name":"x"}}"#.utf8)))
    static let reset = Outcome.failure(.connectionReset("http://api/x (Connection reset by peer)"))
    static let refused = Outcome.failure(.connectionRefused("http://api/x (Connection refused)"))
    static func status(_ code: Int, retryAfter: String? = nil) -> Outcome {
        .response(
            HTTPResponse(
                status: code, headers: retryAfter.map { ["retry-after": $0] } ?? [:],
                body: Array(#"{"kind":"Status","message":"busy","code":\#(code)}"#.utf8)))
    }
}

/// Issue 13: every KubeClient request is tried again after a transient failure, within a small
/// budget, on the virtual clock.
@Suite struct KubeClientRetryTests {
    func client(_ t: ScriptedTransport, _ clock: VirtualClock, jitter: Double = 0.5, log: CurlCollected<String>? = nil)
        -> KubeClient
    {
        KubeClient(
            server: "http://api", transport: t, retry: KubeRetryPolicy(attempts: 3, random: { jitter }), clock: clock,
            onRetry: log.map { l in { l.append($0) } })
    }

    @Test func resetsAreRetriedWithExponentialBackoff() async throws {
        let t = ScriptedTransport([ScriptedTransport.reset, ScriptedTransport.reset, ScriptedTransport.ok])
        let clock = VirtualClock()
        let log = CurlCollected<String>()
        let obj = try await client(t, clock, log: log).get(.configMaps, namespace: "a", name: "x")
        #expect(obj?.name == "x")
        #expect(t.count == 3)
        #expect(clock.sleeps == [.milliseconds(200), .milliseconds(400)])  // jitter 0.5 = the nominal backoff
        #expect(log.values.count == 2)
        #expect(
            log.values.first?.contains("GET /api/v1/namespaces/a/configmaps/x: connection reset") == true,
            "\(log.values)")
        #expect(log.values.first?.contains("attempt 2 of 3") == true)
    }

    @Test func jitterStaysWithinHalfToOneAndAHalfOfTheBackoff() {
        let low = KubeRetryPolicy(attempts: 3, random: { 0 }), high = KubeRetryPolicy(attempts: 3, random: { 0.999 })
        #expect(low.backoff(attempt: 1) == .milliseconds(100))
        #expect(high.backoff(attempt: 1) > .milliseconds(299) && high.backoff(attempt: 1) < .milliseconds(300))
        #expect(low.backoff(attempt: 2) == .milliseconds(200))
        #expect(KubeRetryPolicy(attempts: 9, random: { 0.5 }).backoff(attempt: 8) == .seconds(2))  // capped
        // Real jitter: concurrent requests do not retry in step.
        let real = KubeRetryPolicy.standard
        let draws = Set((0..<20).map { _ in real.backoff(attempt: 1) })
        #expect(draws.count > 1)
        #expect(draws.allSatisfy { $0 >= .milliseconds(100) && $0 < .milliseconds(300) })
    }

    @Test func givesUpAfterThreeTriesAndSaysSo() async throws {
        let t = ScriptedTransport([ScriptedTransport.reset])
        let clock = VirtualClock()
        do {
            _ = try await client(t, clock).list(.pods, namespace: "a")
            Issue.record("expected an error")
        } catch KubeAPIError.transport(.connectionReset(let m)) {
            #expect(m.hasSuffix("(3 attempts)"), "\(m)")
        }
        #expect(t.count == 3)
        #expect(clock.sleeps.count == 2)
    }

    @Test func retryAfterIsHonoured() async throws {
        // Seconds.
        var t = ScriptedTransport([ScriptedTransport.status(429, retryAfter: "3"), ScriptedTransport.ok])
        var clock = VirtualClock()
        #expect(try await client(t, clock).get(.configMaps, namespace: "a", name: "x") != nil)
        #expect(clock.sleeps == [.seconds(3)])
        // An HTTP date, 5 s after the client's wall clock.
        clock = VirtualClock()
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = f.string(from: clock.wallNow().addingTimeInterval(5))
        t = ScriptedTransport([ScriptedTransport.status(503, retryAfter: date), ScriptedTransport.ok])
        #expect(try await client(t, clock).get(.configMaps, namespace: "a", name: "x") != nil)
        #expect(clock.sleeps == [.seconds(5)])
        // Longer than the policy waits: the answer is returned as it is, at once.
        clock = VirtualClock()
        t = ScriptedTransport([ScriptedTransport.status(429, retryAfter: "120"), ScriptedTransport.ok])
        await #expect(throws: KubeAPIError.server(status: 429, message: "busy")) {
            _ = try await client(t, clock).get(.configMaps, namespace: "a", name: "x")
        }
        #expect(t.count == 1)
        #expect(clock.sleeps.isEmpty)
        // Without Retry-After, a 429 backs off as a reset does.
        clock = VirtualClock()
        t = ScriptedTransport([ScriptedTransport.status(429), ScriptedTransport.ok])
        _ = try await client(t, clock).get(.configMaps, namespace: "a", name: "x")
        #expect(clock.sleeps == [.milliseconds(200)])
    }

    /// What is retried depends on whether the request may have reached the server and whether
    /// sending it twice is safe (docs/kube-client.md, "Retries").
    @Test(
        arguments: [
            // (method, path, content type, first outcome, tries)
            ("GET", "/api/v1/pods", nil, "reset", 2),
            ("GET", "/api/v1/pods", nil, "503", 2),
            ("GET", "/api/v1/pods", nil, "500", 1),  // a 500 is deterministic (webhook, field errors)
            ("GET", "/api/v1/pods", nil, "500+retry-after", 2),
            ("GET", "/api/v1/pods", nil, "404", 1),
            ("POST", "/api/v1/namespaces", "application/json", "reset", 1),  // a create may have happened
            ("POST", "/api/v1/namespaces", "application/json", "503", 1),
            ("POST", "/api/v1/namespaces", "application/json", "refused", 2),  // nothing was sent
            ("POST", "/api/v1/namespaces", "application/json", "429", 2),  // flow control: not processed
            ("POST", "/apis/cert-manager.io/v1/namespaces/cm/issuers?dryRun=All", "application/json", "reset", 2),
            ("PATCH", "/api/v1/namespaces/a/secrets/s", "application/merge-patch+json", "reset", 2),
            ("PATCH", "/api/v1/namespaces/a/secrets/s", "application/json-patch+json", "reset", 1),
            ("PUT", "/api/v1/namespaces/a/configmaps/c", "application/json", "reset", 1),
            ("DELETE", "/api/v1/namespaces/a", nil, "503", 1)
        ] as [(String, String, String?, String, Int)])
    func whatIsRetried(_ method: String, _ path: String, _ contentType: String?, _ first: String, _ tries: Int)
        async throws
    {
        let outcome: ScriptedTransport.Outcome
        switch first {
        case "reset": outcome = ScriptedTransport.reset
        case "refused": outcome = ScriptedTransport.refused
        case "500+retry-after": outcome = ScriptedTransport.status(500, retryAfter: "1")
        default: outcome = ScriptedTransport.status(Int(first)!)
        }
        let t = ScriptedTransport([outcome, ScriptedTransport.ok])
        _ = try? await client(t, VirtualClock()).request(
            method, path: path, body: method == "GET" || method == "DELETE" ? nil : [123, 125],
            contentType: contentType)
        #expect(t.count == tries, "\(method) \(path) after \(first)")
    }

    @Test func retriesNeverLogHeaderValues() async throws {
        let t = ScriptedTransport([ScriptedTransport.reset, ScriptedTransport.ok])
        let log = CurlCollected<String>()
        _ = try await client(t, VirtualClock(), log: log).request(
            "GET", path: "/api/v1/namespaces/a/services/s:80/proxy/me?token=q",
            body: nil, contentType: nil, headers: ["Authorization": "Bearer s3cret-token"])
        #expect(t.count == 2)
        #expect(t.requests.allSatisfy { $0.headers["Authorization"] == "Bearer s3cret-token" })
        #expect(!log.values.joined().contains("s3cret-token"))
        #expect(!log.values.joined().contains("token=q"))
    }

    /// The real transport: a connection dropped during the TLS handshake (a proxy resetting new
    /// connections, as in issue 13's measurement) is a retryable reset, not a TLS verdict.
    @Test(arguments: [true, false])
    func tlsHandshakeDroppedIsARetryableReset(_ rst: Bool) async throws {
        let dropper = try HTTPTestServer(dropping: rst ? .reset : .close)
        defer { dropper.stop() }
        do {
            _ = try await CurlTransport().send(
                HTTPRequest(url: "https://127.0.0.1:\(dropper.port)/api", timeout: .seconds(10)))
            Issue.record("expected an error")
        } catch let e as TransportError {
            #expect(e.isRetryable, "\(e)")
            guard case .connectionReset(let m) = e else {
                Issue.record("got \(e)")
                return
            }
            #expect(m.contains("TLS handshake"), "\(m)")
        }
    }

    @Test func tlsVerdictsAreNotRetried() {
        let wrongCA = CurlTransport.mapError(
            rawCode: 60, detail: "SSL certificate problem: unable to get local issuer certificate", url: "u")
        #expect(!wrongCA.isRetryable)
        let alert = CurlTransport.mapError(
            rawCode: 35, detail: "OpenSSL/3.0: error:0A000418:SSL routines::tlsv1 alert unknown ca", url: "u")
        #expect(!alert.isRetryable)
        let eof = CurlTransport.mapError(
            rawCode: 35, detail: "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 10.0.0.1:6443 ", url: "u")
        #expect(eof.isRetryable)
        let midStream = CurlTransport.mapError(
            rawCode: 56, detail: "OpenSSL SSL_read: error:0A000126:SSL routines::unexpected eof while reading, errno 0",
            url: "u")
        #expect(midStream.isRetryable)
    }
}
