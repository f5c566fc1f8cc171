import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

/// The waiter on in-process scenarios with a virtual clock (sleeps advance time at once).
@Suite struct WaitTests {
    func run(
        _ k: FakeKube, timeout: Double = 120, wave: Int? = nil, reporter: CollectingReporter = CollectingReporter(),
        format: OutputFormat = .text, output: BufferWriter = BufferWriter()
    ) async throws -> (AphexCore.ExitStatus?, AphexError?) {
        let ctx = testContext(clock: k.clock, reporter: reporter, format: format, output: output)
        var o = WaitOptions()
        o.timeout = .milliseconds(Int64(timeout * 1000))
        o.wave = wave
        do {
            return (try await WaitReport.run(ctx, o, api: k), nil)
        } catch let e as AphexError {
            return (nil, e)
        }
    }

    @Test func happyPlatformConvergesWaveByWaveWithTimings() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        let reporter = CollectingReporter()
        let output = BufferWriter()
        let (status, error) = try await run(k, reporter: reporter, output: output)
        #expect(error == nil, "\(error?.description ?? "")")
        #expect(status == .ok)
        // Converged right after the last wave (t=20 s), not much later.
        #expect(k.clock.now() >= .seconds(20) && k.clock.now() <= .seconds(22))
        let waveSteps = reporter.events.compactMap { e -> String? in
            if case .stepFinished(let id, _, _, _, _) = e, id.hasPrefix("wave-") { return id } else { return nil }
        }
        #expect(waveSteps == ["wave-0", "wave-3", "wave-10", "wave-15", "wave-20", "wave-30"])
        #expect(output.text.contains("Converged in"))
        #expect(output.text.contains("cert-manager"))
        // The webhook proof and the token check ran and passed.
        #expect(
            reporter.events.contains {
                if case .stepFinished(let id, _, .done, _, _) = $0 {
                    return id == "cert-manager-webhook"
                } else {
                    return false
                }
            })
        #expect(
            reporter.events.contains {
                if case .stepFinished(let id, _, .done, _, _) = $0 {
                    return id == "authentik-token"
                } else {
                    return false
                }
            })
        // The token never shows up in anything reported or written.
        let all = reporter.events.map { "\($0)" }.joined() + output.text
        #expect(!all.contains(PlatformFixture.token))
        // Live table rows were emitted with the five columns.
        let table = reporter.events.last { if case .table = $0 { return true } else { return false } }
        if case .table(_, let columns, let rows)? = table {
            #expect(columns == ["WAVE", "APPS", "SYNC", "HEALTH", "ELAPSED"])
            #expect(rows.count == 6)
        } else {
            Issue.record("no table")
        }
    }

    @Test func webhookReadinessIsDetectedWithinASecondOrTwo() async throws {
        // Every app is converged at 9 s; the caBundle lands at 12.5 s: that is the final transition.
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 1, 3: 2, 10: 9, 15: 9, 20: 9, 30: 9], caBundleInjectedAt: 12.5)
        let (status, _) = try await run(k)
        #expect(status == .ok)
        #expect(k.clock.now() >= .milliseconds(12500) && k.clock.now() <= .milliseconds(14500), "\(k.clock.now())")
    }

    @Test func requestRateStaysLowWhileWaiting() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 3, 3: 5, 10: 9, 15: 12, 20: 16, 30: 290])
        _ = try await run(k, timeout: 600)
        let seconds = k.clock.now().seconds
        #expect(seconds >= 290)
        #expect(Double(k.requestCount) / seconds <= 2.0, "\(k.requestCount) requests in \(seconds)s")
    }

    @Test func pollingFallbackWhenWatchIsUnsupported() async throws {
        let k = FakeKube(clock: VirtualClock())
        k.supportsWatch = false
        PlatformFixture.install(k)
        let (status, _) = try await run(k)
        #expect(status == .ok)
        let lists = k.requests.filter { $0.hasPrefix("LIST /apis/argoproj.io") }.count
        #expect(lists <= Int(k.clock.now().seconds) + 2, "polls at most once a second: \(lists) lists")
    }

    /// Issue 13: a watch that fails with anything but 410 backs off before the re-list (at once,
    /// a watch that keeps failing made a tight LIST+WATCH loop); the backoff doubles to 4 s.
    @Test func failingWatchBacksOffBeforeRelisting() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        let times = CollectedTimes()
        // Fails 100 times, then works: without a backoff the failures all happen at t=0.
        k.watchFailure = { n, now in
            guard n <= 100 else { return nil }
            times.append(now)
            return n % 2 == 0
                ? KubeAPIError.server(status: 500, message: "etcdserver: request timed out")
                : KubeAPIError.transport(.connectionReset("https://127.0.0.1:6443"))
        }
        let (status, error) = try await run(k, timeout: 120)
        #expect(error == nil, "\(error?.description ?? "")")
        #expect(status == .ok)
        let t = times.values
        #expect(t.count >= 4, "\(t)")
        #expect(t.count <= 12, "\(t.count) failed watches in \(k.clock.now()): a tight loop")
        // Between two failed watches: the backoff (1 s, 2 s, 4 s, 4 s ...), plus up to the
        // waiter's 1 s tick before it sees the failure.
        let gaps = zip(t.dropFirst(), t).map { $0 - $1 }
        for (gap, backoff) in zip(gaps, [1, 2, 4, 4, 4, 4, 4]) {
            #expect(gap >= .seconds(backoff) && gap <= .seconds(backoff + 1), "backoff \(backoff) s: \(gaps)")
        }
        let lists = k.requests.filter { $0.hasPrefix("LIST /apis/argoproj.io") }.count
        #expect(lists <= t.count + 8, "\(lists) lists")
    }

    /// A 403 on WATCH (RBAC that grants list but not watch) falls back to polling: one watch
    /// attempt, then a LIST at most once a second until converged.
    @Test func forbiddenWatchFallsBackToPolling() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        let times = CollectedTimes()
        k.watchFailure = { n, now in
            guard n <= 100 else { return nil }
            times.append(now)
            return KubeAPIError.forbidden(
                #"""
                applications.argoproj.io is forbidden: User "ci" cannot watch resource "applications" in API \#
                group "argoproj.io" in the namespace "argocd"
                """#
            )
        }
        let reporter = CollectingReporter()
        let (status, error) = try await run(k, reporter: reporter)
        #expect(error == nil, "\(error?.description ?? "")")
        #expect(status == .ok)
        #expect(times.values.count == 1, "watched again after a 403: \(times.values.count) times")
        let lists = k.requests.filter { $0.hasPrefix("LIST /apis/argoproj.io") }.count
        #expect(lists <= Int(k.clock.now().seconds) + 2, "polls at most once a second: \(lists) lists")
        #expect(lists >= Int(k.clock.now().seconds) / 2, "polls: \(lists) lists in \(k.clock.now())")
        #expect(reporter.logs.contains { $0.contains("polling them every second") }, "\(reporter.logs.suffix(5))")
    }

    @Test func jsonOutputIsADocumentWithTheResult() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        let output = BufferWriter()
        let (status, _) = try await run(k, format: .json, output: output)
        #expect(status == .ok)
        let doc = try JSON.parse(output.text)
        #expect(doc["outcome"]?.string == "converged")
        #expect(doc["schemaVersion"]?.int == 1)
        #expect(doc[path: "result", "waves"]?.array?.count == 6)
        #expect(doc[path: "result", "webhook", "ready"]?.bool == true)
    }

    @Test func degradedAfterHealthyExitsOneAtOnce() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 2])
        k.at(6) { k in
            var a = Obj.app("ingress-controller", wave: "0", sync: "Synced", health: "Degraded")
            a.set(["status", "health", "message"], to: "Deployment ingress-nginx-controller: CrashLoopBackOff")
            a.set(
                ["status", "resources"],
                to: [
                    [
                        "kind": "Deployment", "namespace": "ingress-nginx", "name": "ingress-nginx-controller",
                        "health": ["status": "Degraded", "message": "Deployment exceeded its progress deadline"]
                    ]
                ])
            k.put(.applications, a)
            k.put(.deployments, Obj.deployment("ingress-nginx", "ingress-nginx-controller", ready: 0))
            k.put(
                .pods,
                Obj.pod(
                    "ingress-nginx", "ingress-nginx-controller-5d8", labels: ["app": "ingress-nginx-controller"],
                    waiting: ("CrashLoopBackOff", "back-off 5m0s restarting failed container=controller"), restarts: 7))
        }
        k.handlers.append(
            (
                "/api/v1/namespaces/ingress-nginx/pods/ingress-nginx-controller-5d8/log",
                { _, _, _ in
                    HTTPResponse(status: 200, body: Array("line1\nline2\nF1124 fatal: cannot bind :80\n".utf8))
                }
            ))
        let (status, error) = try await run(k, timeout: 600)
        #expect(status == nil)
        #expect(error?.status == .failed)
        #expect(k.clock.now() <= .seconds(8), "failed at once, not at the timeout")
        let text = error?.description ?? ""
        #expect(text.contains("ingress-controller"))
        #expect(text.contains("Degraded after having been Healthy"))
        #expect(text.contains("CrashLoopBackOff"))
        #expect(text.contains("fatal: cannot bind :80"))
    }

    @Test func stuckCABundleTimesOutNamingIt() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, caBundleInjectedAt: nil)
        k.put(
            .pods,
            Obj.pod(
                "cert-manager", "cert-manager-cainjector-7d9", labels: ["app.kubernetes.io/component": "cainjector"],
                waiting: ("CrashLoopBackOff", "back-off 2m40s"), restarts: 6))
        let waitingRequests = Counter()
        k.at(59.5) { waitingRequests.value = $0.requestCount }
        let (status, error) = try await run(k, timeout: 60)
        #expect(status == nil)
        #expect(error?.status == .timeout)
        let text = error?.description ?? ""
        #expect(text.contains("wave 10"))
        #expect(text.contains("CA bundle not injected"))
        #expect(text.contains("cert-manager-cainjector-7d9: CrashLoopBackOff"))
        #expect(k.clock.now() >= .seconds(60) && k.clock.now() <= .seconds(62))
        let byPath = Dictionary(grouping: k.requests.prefix(waitingRequests.value), by: { String($0.prefix(60)) })
        #expect(
            Double(waitingRequests.value) / 59.5 <= 2.0,
            """
            a stuck webhook costs at most 2 requests/second: \(waitingRequests.value) in 59.5 s: \
            \(byPath.mapValues(\.count))
            """
        )
    }

    @Test func imagePullTimesOutNamingTheImage() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 2, 3: 3])
        var auth = Obj.app("auth", wave: "10", sync: "Synced", health: "Progressing")
        auth.set(
            ["status", "resources"],
            to: [
                [
                    "kind": "Deployment", "namespace": "auth-system", "name": "authentik-server",
                    "health": [
                        "status": "Progressing",
                        "message": "Waiting for rollout to finish: 0 of 1 updated replicas are available..."
                    ]
                ],
                ["kind": "ConfigMap", "namespace": "auth-system", "name": "cfg"]
            ])
        k.put(.applications, auth)
        k.put(
            .deployments,
            Obj.deployment(
                "auth-system", "authentik-server", ready: 0,
                labels: ["app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": "server"]))
        k.put(
            .pods,
            Obj.pod(
                "auth-system", "authentik-server-6f7",
                labels: ["app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": "server"],
                waiting: ("ImagePullBackOff", "Back-off pulling image \"ghcr.io/goauthentik/server:2099.1\""),
                image: "ghcr.io/goauthentik/server:2099.1", phase: "Pending"))
        k.put(
            .events,
            [
                "metadata": ["name": "e1", "namespace": "auth-system"], "type": "Warning", "reason": "Failed",
                "count": 5,
                "involvedObject": ["kind": "Pod", "name": "authentik-server-6f7"],
                "lastTimestamp": "2026-11-24T10:00:00Z",
                "message": "Failed to pull image \"ghcr.io/goauthentik/server:2099.1\": not found"
            ])
        let (_, error) = try await run(k, timeout: 90)
        #expect(error?.status == .timeout)
        let text = error?.description ?? ""
        #expect(text.contains("ImagePullBackOff, image ghcr.io/goauthentik/server:2099.1"))
        #expect(text.contains("Failed Pod/authentik-server-6f7"))
        #expect(text.contains("Application auth (wave 10)"))
        #expect(text.contains("cannot be pulled"), "a hint names the fix")
    }

    @Test func apiFaultsAtTwentyPercentStillConverge() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        var rng = SeededRandom(seed: 42)
        let draws = (0..<5000).map { _ in rng.next() % 100 < 20 }
        k.fault = { n, _ in
            guard draws[n % draws.count] else { return nil }
            return n % 2 == 0
                ? .server(status: 503, message: "the server is currently unable to handle the request")
                : .transport(.connectionReset("https://127.0.0.1:6443"))
        }
        let reporter = CollectingReporter()
        let (status, error) = try await run(k, reporter: reporter)
        #expect(error == nil, "\(error?.description ?? "")")
        #expect(status == .ok)
        #expect(k.clock.now() <= .seconds(40))
        // Retried quietly: no warning for short blips.
        #expect(!reporter.logs.contains { $0.contains("has not answered") })
    }

    @Test func apiDownForTwentySecondsRecovers() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 3, 3: 5, 10: 9, 15: 12, 20: 16, 30: 35])
        k.at(15) { $0.dropWatches(with: KubeAPIError.transport(.connectionRefused("https://127.0.0.1:6443"))) }
        k.fault = { _, now in
            now >= .seconds(15) && now < .seconds(35) ? .transport(.connectionRefused("https://127.0.0.1:6443")) : nil
        }
        let reporter = CollectingReporter()
        let (status, error) = try await run(k, timeout: 120, reporter: reporter)
        #expect(error == nil, "\(error?.description ?? "")")
        #expect(status == .ok)
        #expect(
            k.clock.now() >= .seconds(35) && k.clock.now() <= .seconds(40),
            "recovered within the backoff after the API returned")
        #expect(reporter.logs.contains { $0.contains("has not answered") })
        #expect(reporter.logs.contains { $0.contains("answering again") })
    }

    @Test func apiDownUntilTheTimeoutSaysSo() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        k.fault = { _, _ in .transport(.connectionRefused("https://127.0.0.1:6443")) }
        let (_, error) = try await run(k, timeout: 30)
        #expect(error?.status == .timeout)
        #expect(error?.message.contains("has not answered") == true)
    }

    @Test func credentialsRejectedFailsAtOnce() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        k.fault = { _, _ in .unauthorized("Unauthorized") }
        let (_, error) = try await run(k, timeout: 300)
        #expect(error?.status == .failed)
        #expect(error?.message.contains("refused aphex's credentials") == true)
        #expect(k.clock.now() < .seconds(2))
    }

    @Test func authentikRejectingTheTokenIsAFailure() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, authAccepts: false)
        let (_, error) = try await run(k, timeout: 300)
        #expect(error?.status == .failed)
        #expect(error?.description.contains("rejected the bootstrap-token with HTTP 403") == true)
        #expect(error?.description.contains(PlatformFixture.token) == false)
        #expect(k.clock.now() < .seconds(60))
    }

    @Test func unreachableAuthentikIsUnverifiedAndDoesNotBlock() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        k.handlers.removeAll { $0.prefix.contains("authentik-server") }
        k.handlers.append(
            (
                "/api/v1/namespaces/auth-system/services/authentik-server:9000/proxy/",
                { _, _, _ in
                    HTTPResponse(
                        status: 503,
                        body: Array(
                            #"{"kind":"Status","message":"no endpoints available for service \"authentik-server\""}"#
                                .utf8))
                }
            ))
        let reporter = CollectingReporter()
        let (status, _) = try await run(k, reporter: reporter)
        #expect(status == .ok)
        #expect(reporter.logs.contains { $0.contains("Could not verify Authentik's bootstrap-token") })
    }

    @Test func waveLimitStopsEarly() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k, convergeAt: [0: 3, 3: 5])
        let (status, _) = try await run(k, timeout: 60, wave: 3)
        #expect(status == .ok)
        #expect(k.clock.now() <= .seconds(6))
    }

    @Test func watchExpiryReListsAndKeepsGoing() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        k.at(4) { $0.dropWatches(with: KubeAPIError.gone("too old resource version")) }
        k.at(10) { $0.dropWatches() }
        let (status, _) = try await run(k)
        #expect(status == .ok)
        #expect(k.requests.filter { $0.hasPrefix("WATCH") }.count >= 3)
    }
}

/// xorshift64: reproducible fault patterns.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E3779B97F4A7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int {
        get {
            lock.lock()
            defer { lock.unlock() }
            return n
        }
        set {
            lock.lock()
            n = newValue
            lock.unlock()
        }
    }
}

@Suite struct AuthTokenTests {
    @Test func answersAreInterpretedByWhoGaveThem() {
        #expect(
            AuthTokenVerifier.interpret(status: 200, body: Array(#"{"user":{"username":"akadmin"}}"#.utf8)).result
                == .verified)
        #expect(
            AuthTokenVerifier.interpret(status: 403, body: Array(#"{"detail":"Token invalid/expired"}"#.utf8)).result
                == .rejected)
        // No credentials reached Authentik (the API server strips Authorization after authenticating aphex).
        #expect(
            AuthTokenVerifier.interpret(
                status: 403, body: Array(#"{"detail":"Authentication credentials were not provided."}"#.utf8)
            ).result == .unverified)
        // The API server's own 401 (it tried the header as its credentials).
        #expect(
            AuthTokenVerifier.interpret(
                status: 401, body: Array(#"{"kind":"Status","code":401,"message":"Unauthorized"}"#.utf8)
            ).result == .unverified)
        #expect(
            AuthTokenVerifier.interpret(
                status: 503, body: Array(#"{"kind":"Status","message":"no endpoints available"}"#.utf8)
            ).result == .unverified)
        #expect(AuthTokenVerifier.interpret(status: 502, body: []).result == .unverified)
    }

    @Test func configSyncJobSuccessVerifiesIndirectly() async {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        k.handlers.removeAll { $0.prefix.contains("authentik-server") }
        k.put(.jobs, ["metadata": ["name": "auth-config-sync", "namespace": "auth-system"], "status": ["succeeded": 1]])
        let check = await AuthTokenVerifier.check(api: k)
        #expect(check.result == .verified)
        #expect(check.detail.contains("auth-config-sync"))
        #expect(!check.detail.contains(PlatformFixture.token))
    }

    /// Issue 14: one KubeAPI with headers, no downcast. Any API (here a forwarding wrapper, as a
    /// retrying or logging decorator would be) presents the token; the kubectl fallback, which
    /// cannot send it, says so instead of silently passing for "not reachable".
    @Test func everyKubeAPIPresentsTheTokenOrSaysItCannot() async throws {
        let k = FakeKube(clock: VirtualClock())
        PlatformFixture.install(k)
        let wrapped = await AuthTokenVerifier.check(api: Forwarding(base: k))
        #expect(wrapped.result == .verified, "\(wrapped.detail)")

        // The fallback: kubectl serves the Secret, but the header cannot go through kubectl.
        let secret = try #require(k.object(.secrets, "auth-system", "authentik-secrets"))
        let secretText = secret.serialized()
        let notFound = #"Error from server (NotFound): jobs.batch "auth-config-sync" not found"#
        let runner = RecordingRunner()
        runner.on(["kubectl"]) { command in
            command.argv.last == "/api/v1/namespaces/auth-system/secrets/authentik-secrets"
                ? CommandOutput(status: 0, stdout: secretText)
                : CommandOutput(status: 1, stdout: "", stderr: notFound)
        }
        let check = await AuthTokenVerifier.check(
            api: KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil))
        #expect(check.result == .unverified)
        #expect(check.detail.contains("cannot be presented to Authentik"), "\(check.detail)")
        #expect(check.detail.contains("Authorization"))
        #expect(!check.detail.contains(PlatformFixture.token))
        #expect(!runner.argvs.map { $0.joined(separator: " ") }.joined().contains(PlatformFixture.token))
    }
}

/// A KubeAPI that forwards everything to another one.
struct Forwarding: KubeAPI {
    let base: any KubeAPI
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        try await base.get(ref, namespace: namespace, name: name)
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

final class CollectedTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Duration] = []
    func append(_ d: Duration) { lock.withLock { items.append(d) } }
    var values: [Duration] { lock.withLock { items } }
}
