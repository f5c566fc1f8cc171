import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// How long one wave took to converge, as observed by the waiter (bootstrap's summary prints them).
public struct WaveTiming: Sendable, Codable, Equatable {
    public var wave: Int
    public var apps: [String]
    /// From the moment every earlier wave was converged (or the wait began) to this wave's convergence.
    public var seconds: Double

    public init(wave: Int, apps: [String], seconds: Double) {
        self.wave = wave
        self.apps = apps
        self.seconds = seconds
    }
}

/// What `waitForConvergence` returns when the platform converged.
public struct ConvergenceResult: Sendable, Codable, Equatable {
    public var converged: Bool
    public var seconds: Double
    /// Per wave: from the moment every earlier wave was converged (or the wait began) to its convergence.
    public var waves: [WaveTiming]
    /// Waves that were already converged when the wait began (their seconds are 0).
    public var alreadyConverged: [Int]
    public var webhook: WebhookProof?
    public var authToken: AuthTokenCheck?
    /// API requests that failed transiently and were retried.
    public var retriedErrors: Int
}

/// How a wait ended (the CLI turns it into an exit code; bootstrap into an AphexError).
public enum WaitOutcome: Sendable {
    case converged(ConvergenceResult)
    /// An app failed (Degraded after Healthy, a failed sync) or Authentik rejected the token: exit 1.
    case failed(Diagnosis, ConvergenceResult)
    /// The deadline passed: exit 3.
    case timedOut(Diagnosis, ConvergenceResult)
}

/// Waits until every wave is converged. Throws `AphexError(.timeout)` (exit 3) with the
/// diagnosis on timeout and `AphexError(.failed)` (exit 1) at once when an app fails.
/// The per-wave timings are in the result (bootstrap prints them).
public func waitForConvergence(
    ctx: AppContext, api: any KubeAPI, options: WaitOptions,
    catalog: ConvergenceCatalog = .default
) async throws -> ConvergenceResult {
    let outcome = try await ConvergenceWaiter(ctx: ctx, api: api, options: options, catalog: catalog).run()
    switch outcome {
    case .converged(let r): return r
    case .failed(let d, _): throw d.error(timedOut: false)
    case .timedOut(let d, _): throw d.error(timedOut: true)
    }
}

/// The wave-ordered waiter: WATCH Applications (re-list on stream end or 410), or poll at most
/// once a second when watching is not possible; transient API errors are retried quietly with
/// backoff and reported only when they persist.
public final class ConvergenceWaiter: @unchecked Sendable {
    let ctx: AppContext
    let api: any KubeAPI
    let options: WaitOptions
    let catalog: ConvergenceCatalog
    var clock: any TimeSource { ctx.host.clock }
    var reporter: any Reporter { ctx.reporter }

    /// Persisting API failures are reported after this long.
    public var quietRetryPeriod: Duration = .seconds(10)
    public var maxBackoff: Duration = .seconds(4)
    /// Between two webhook dry-runs, and between two full proofs while the webhook is not ready.
    public var checkInterval: Duration = .seconds(1)
    public var maxCheckInterval: Duration = .seconds(15)
    private var lastWebhookProof: Duration?
    private var webhookFirstCheck: Duration?
    public var tokenRecheckInterval: Duration = .seconds(10)
    /// Re-list when the watch has been silent this long (a stalled watch must not hide changes;
    /// client-go's informers resync for the same reason).
    public var resyncInterval: Duration = .seconds(5)
    private var lastEventAt: Duration?

    // state
    private var objects: [String: JSON] = [:]
    private var resourceVersion: String?
    private var healthySeen = Set<String>()
    private var start: Duration = .zero
    private var waveStart: [Int: Duration] = [:]
    private var waveDone: [Int: Duration] = [:]
    private var alreadyDone = Set<Int>()
    private var webhook: WebhookProof?
    private var lastWebhookCheck: Duration?
    private var token: AuthTokenCheck?
    private var tokenRejections = 0
    private var lastTokenCheck: Duration?
    private var firstFailure: Duration?
    private var lastError: String?
    private var warnedDown = false
    private var retried = 0
    private var backoff: Duration = .seconds(1)
    /// Before the re-list after a failed watch; doubles while watches keep failing.
    private var watchBackoff: Duration = .seconds(1)
    private var needList = true
    private var nextListAt: Duration = .zero
    private var lastListAt: Duration?
    private var watchDisabled = false
    private var watchTask: Task<Void, Never>?
    private var lastRows: [[String]] = []
    private var lastDrawSecond = -1
    private var listedOnce = false
    private let mailbox = Mailbox()

    public init(ctx: AppContext, api: any KubeAPI, options: WaitOptions, catalog: ConvergenceCatalog = .default) {
        self.ctx = ctx
        self.api = api
        self.options = options
        self.catalog = catalog
    }

    var live: Bool { reporter is LiveReporter }

    public func run() async throws -> WaitOutcome {
        start = clock.now()
        let deadline = start + options.timeout
        options.observer?.waitStarted(at: start, timeout: options.timeout)
        defer { watchTask?.cancel() }
        while true {
            try Task.checkCancellation()
            for signal in mailbox.drain() { apply(signal) }
            let now = clock.now()
            if !needList, let listed = lastListAt, now - max(listed, lastEventAt ?? listed) >= resyncInterval {
                needList = true
                nextListAt = now
            }
            if needList && now >= nextListAt { await list(now: now) }
            if let fatal {
                throw AphexError(
                    .failed,
                    """
                    The Kubernetes API refused aphex's credentials while waiting: \(fatal). Check the \
                    kubeconfig's user (\(ctx.resolvedKubeconfig())) and its RBAC: aphex needs to read \
                    Applications in namespace \(catalog.argocdNamespace).
                    """
                )
            }
            if listedOnce {
                var eval = Waves.evaluate(Array(objects.values), healthySeen: healthySeen, catalog: catalog).limited(
                    to: options.wave)
                for app in eval.apps where app.health == "Healthy" { healthySeen.insert(app.name) }
                await runChecks(&eval, now: clock.now())
                let drawnAt = clock.now()
                draw(eval, now: drawnAt)
                options.observer?.observe(eval, at: drawnAt)
                if !eval.failed.isEmpty || token?.result == .rejected && tokenRejections >= 2 {
                    await proveForDiagnosis(&eval, stuck: eval.failed)
                    let headline: String
                    if let f = eval.failed.first {
                        // cert-manager's webhook leads when it explains the failure.
                        headline =
                            "Application \(f.name) (wave \(f.wave)) failed: "
                            + (webhookLead([f]).map { "\($0); " } ?? "") + f.reason
                            + (f.reason.hasSuffix(".") ? "" : ".")
                    } else {
                        headline = "Authentik rejects the bootstrap-token aphex generated."
                    }
                    let d = await Diagnoser.diagnose(
                        api: api, evaluation: eval, objects: objects, headline: headline,
                        webhook: webhook, authToken: token, catalog: catalog)
                    return finish(.failed(d, result(eval, converged: false)))
                }
                if eval.converged {
                    return finish(.converged(result(eval, converged: true)))
                }
            }
            if now >= deadline {
                return finish(.timedOut(await timeoutDiagnosis(), result(currentEvaluation(), converged: false)))
            }
            let wake = min(deadline - clock.now(), .seconds(1))
            if wake > .zero { await mailbox.wait(timeout: wake, clock: clock) }
        }
    }

    /// Tells the observer (--junit, --timeline) how the wait ended.
    private func finish(_ outcome: WaitOutcome) -> WaitOutcome {
        options.observer?.finished(outcome, at: clock.now())
        return outcome
    }

    // MARK: reading

    /// `watch`: the generation of the watch that sent it (signals of replaced watches are dropped).
    enum Signal: Sendable {
        case event(WatchEvent, watch: Int)
        case ended(String?, gone: Bool, unsupported: Bool, watch: Int)
    }
    private var watchGeneration = 0

    private func apply(_ signal: Signal) {
        switch signal {
        case .event(_, let gen) where gen != watchGeneration, .ended(_, _, _, let gen) where gen != watchGeneration:
            return
        case .event(let e, _):
            lastEventAt = clock.now()
            watchBackoff = .seconds(1)  // the watch works
            switch e {
            case .added(let o), .modified(let o):
                if let n = o.name, (o.namespace ?? catalog.argocdNamespace) == catalog.argocdNamespace {
                    objects[n] = o
                }
                if let rv = o[path: "metadata", "resourceVersion"]?.string { resourceVersion = rv }
            case .deleted(let o):
                if let n = o.name { objects[n] = nil }
            case .bookmark(let rv):
                resourceVersion = rv
            }
        case .ended(let error, let gone, let unsupported, _):
            if unsupported && !watchDisabled {
                watchDisabled = true
                reporter.debug(
                    """
                    Watching Applications is not possible (\(error ?? "unsupported")); polling them every second \
                    instead.
                    """
                )
            }
            needList = true
            let now = clock.now()
            if gone || error == nil || unsupported {
                nextListAt = max(now, (lastListAt ?? now) + .seconds(1))
            } else {
                // A failed watch (a reset, a 5xx, a broken stream) re-lists only after a backoff:
                // at once, a watch that keeps failing would make a tight LIST+WATCH loop.
                noteFailure(error!, now: now)
                nextListAt = max(now + watchBackoff, (lastListAt ?? now) + .seconds(1))
                watchBackoff = min(watchBackoff * 2, maxBackoff)
            }
        }
    }

    private func list(now: Duration) async {
        lastListAt = now
        do {
            let list = try await api.list(
                .applications, namespace: catalog.argocdNamespace, labelSelector: nil, fieldSelector: nil)
            var fresh: [String: JSON] = [:]
            for item in list.items { if let n = item.name { fresh[n] = item } }
            objects = fresh
            resourceVersion = list[path: "metadata", "resourceVersion"]?.string
            listedOnce = true
            noteSuccess(now: clock.now())
            needList = false
            startWatch()
        } catch let e as KubeAPIError where isNotFound(e) {
            // The Application CRD is not served yet: nothing to judge; keep waiting.
            objects = [:]
            listedOnce = true
            noteSuccess(now: clock.now())
            nextListAt = now + .seconds(2)
        } catch {
            if let e = error as? KubeAPIError {
                switch e {
                case .unauthorized, .forbidden: fatal = e
                default: break
                }
            }
            noteFailure(describe(error), now: now)
            nextListAt = now + backoff
            backoff = min(backoff * 2, maxBackoff)
        }
    }
    private var fatal: KubeAPIError?

    private func isNotFound(_ e: KubeAPIError) -> Bool {
        if case .notFound = e { return true }
        return false
    }

    private func startWatch() {
        watchTask?.cancel()
        guard !watchDisabled else {
            needList = true
            nextListAt = (lastListAt ?? clock.now()) + .seconds(1)
            return
        }
        let stream = api.watch(
            .applications, namespace: catalog.argocdNamespace, labelSelector: nil,
            resourceVersion: resourceVersion, timeoutSeconds: 300)
        let mailbox = self.mailbox
        watchGeneration += 1
        let gen = watchGeneration
        watchTask = Task {
            do {
                for try await event in stream {
                    mailbox.post(.event(event, watch: gen))
                }
                if !Task.isCancelled { mailbox.post(.ended(nil, gone: false, unsupported: false, watch: gen)) }
            } catch is CancellationError {
            } catch let e as KubeAPIError {
                switch e {
                case .gone: mailbox.post(.ended(nil, gone: true, unsupported: false, watch: gen))
                // Not served, refused as a request, or forbidden (RBAC may grant list but not
                // watch): poll instead.
                case .notFound, .invalid, .forbidden, .unsupported:
                    mailbox.post(.ended(e.description, gone: false, unsupported: true, watch: gen))
                default: mailbox.post(.ended(e.description, gone: false, unsupported: false, watch: gen))
                }
            } catch {
                if !Task.isCancelled {
                    mailbox.post(.ended(String(describing: error), gone: false, unsupported: false, watch: gen))
                }
            }
        }
    }

    private func describe(_ error: any Error) -> String {
        if let e = error as? KubeAPIError { return e.description }
        if let e = error as? AphexError { return e.message }
        return String(describing: error)
    }

    private func noteFailure(_ message: String, now: Duration) {
        retried += 1
        lastError = message
        if firstFailure == nil { firstFailure = now }
        reporter.debug("API error (retrying): \(message)")
        if !warnedDown, let f = firstFailure, now - f >= quietRetryPeriod {
            warnedDown = true
            reporter.warn(
                """
                The Kubernetes API has not answered for \(formatDuration(now - f)) (\(message)); still retrying \
                until the timeout.
                """
            )
        }
    }

    private func noteSuccess(now: Duration) {
        if warnedDown, let f = firstFailure {
            reporter.info("The Kubernetes API is answering again (after \(formatDuration(now - f))).")
        }
        firstFailure = nil
        warnedDown = false
        backoff = .seconds(1)
    }

    // MARK: extra proofs

    private func runChecks(_ eval: inout PlatformEvaluation, now: Duration) async {
        // cert-manager: the Application converged is not enough; its webhook must answer. Before
        // it converges (Progressing behind a hook, a failing sync ...) the proof is what explains
        // it: once its wave is reached, the full proof runs at once and every 15 s.
        if let cm = eval.app(catalog.certManagerApplication), cm.exists, !cm.converged, webhook?.ready != true,
            reached(cm, eval)
        {
            if lastWebhookProof == nil || now - lastWebhookProof! >= maxCheckInterval {
                lastWebhookProof = now
                if let proof = try? await WebhookCheck.prove(api: api, catalog: catalog, full: true) {
                    record(proof, app: cm, now: now)
                }
            }
        }
        // Converged: a dry-run create each second (1 request) detects readiness promptly; the full
        // proof runs when it passes (to confirm steps 1-3) and every 15 s while it fails (to name the step).
        if let cm = eval.app(catalog.certManagerApplication), cm.converged, webhook?.ready != true {
            if webhookFirstCheck == nil { webhookFirstCheck = now }
            // 1 s for the first 10 s (the caBundle usually lands then), 2 s after (a stuck webhook stays cheap).
            let interval = now - webhookFirstCheck! < .seconds(10) ? checkInterval : checkInterval * 2
            if lastWebhookCheck == nil || now - lastWebhookCheck! >= interval {
                lastWebhookCheck = now
                let dry = try? await WebhookCheck.dryRun(api: api, catalog: catalog)
                // A proof from before the app converged says nothing about now: name the step at once.
                let classify =
                    lastWebhookProof == nil || lastWebhookProof! < webhookFirstCheck!
                    || now - lastWebhookProof! >= maxCheckInterval
                if dry?.ok == true || (dry != nil && classify) {
                    lastWebhookProof = now
                    if let proof = try? await WebhookCheck.prove(api: api, catalog: catalog, full: true) {
                        record(proof, app: cm, now: now)
                    }
                }
            }
        }
        annotate(&eval)
        // Authentik: once the auth app is Healthy, its bootstrap-token must authenticate.
        if let auth = eval.app(catalog.authApplication), auth.health == "Healthy",
            token == nil || token?.result == .rejected
        {
            if lastTokenCheck == nil || now - lastTokenCheck! >= (token == nil ? .zero : tokenRecheckInterval) {
                lastTokenCheck = now
                let check = await AuthTokenVerifier.check(api: api, catalog: catalog)
                token = check
                switch check.result {
                case .verified:
                    reporter.emit(
                        .stepFinished(
                            id: "authentik-token", title: "Authentik accepts the bootstrap-token", outcome: .done,
                            seconds: 0, detail: nil))
                case .unverified:
                    reporter.warn(
                        """
                        Could not verify Authentik's bootstrap-token (\(check.detail)); not blocking: ArgoCD \
                        reports the auth app Healthy.
                        """
                    )
                case .rejected:
                    tokenRejections += 1
                    if tokenRejections < 2 {
                        reporter.warn(
                            """
                            Authentik rejected the bootstrap-token; checking again in \
                            \(formatDuration(tokenRecheckInterval)).
                            """
                        )
                    }
                }
            }
            if token?.result == .rejected {
                override(&eval, app: catalog.authApplication, .progressing, "Healthy, but " + (token?.detail ?? ""))
            }
        }
    }

    /// Keeps the latest proof; says when it passes, and when one failing class has persisted for
    /// 15 s after cert-manager's objects were applied (a stuck webhook is worth a line, a webhook
    /// still starting is not).
    private func record(_ proof: WebhookProof, app cm: AppState, now: Duration) {
        webhook = proof
        if proof.ready {
            reporter.emit(
                .stepFinished(
                    id: "cert-manager-webhook", title: "cert-manager webhook answers (4-step proof)", outcome: .done,
                    seconds: 0, detail: nil))
            return
        }
        reporter.debug("cert-manager webhook not ready: \(proof.summary)")
        let key = proof.classSummary ?? "unknown"
        if webhookClass?.key != key { webhookClass = (key, now) }
        if let c = webhookClass, now - c.since >= maxCheckInterval, cm.sync == "Synced", reportedWebhookClass != key {
            reportedWebhookClass = key
            reporter.warn(
                "cert-manager's webhook has not been ready for \(formatDuration(now - c.since)): \(proof.summary)")
        }
    }
    private var webhookClass: (key: String, since: Duration)?
    private var reportedWebhookClass: String?

    /// Every wave before `app`'s is converged: ArgoCD is on its wave (or past it).
    private func reached(_ app: AppState, _ eval: PlatformEvaluation) -> Bool {
        eval.waves.filter { $0.wave < app.wave }.allSatisfy(\.converged)
    }

    /// cert-manager's Application as the proof leaves it: converged but unproven is progressing;
    /// stuck otherwise (not failed: a failure's headline says it), its reason leads with the class.
    /// Judged from the object again, so annotating twice changes nothing.
    private func annotate(_ eval: inout PlatformEvaluation) {
        guard let cm = eval.app(catalog.certManagerApplication), webhook?.ready != true,
            let obj = objects[cm.name]
        else { return }
        let raw = Readiness.judgeApplication(obj, wasHealthy: healthySeen.contains(cm.name))
        if raw.phase == .converged {
            override(
                &eval, app: cm.name, .progressing,
                "Synced and Healthy, but the webhook is not ready: " + (webhook?.summary ?? "not checked yet"))
        } else if raw.phase != .failed, let c = webhook?.classSummary {
            override(&eval, app: cm.name, raw.phase, "cert-manager's webhook: \(c); \(raw.reason)")
        }
    }

    /// Before a diagnosis: a fresh proof when cert-manager's webhook may explain `stuck` (its wave
    /// is reached and the webhook unproven, or a stuck app's sync was rejected by the webhook).
    private func proveForDiagnosis(_ eval: inout PlatformEvaluation, stuck: [AppState]) async {
        guard webhook?.ready != true, let cm = eval.app(catalog.certManagerApplication), cm.exists else { return }
        let traced = stuck.contains {
            WebhookCheck.syncTexts(objects[$0.name]).contains { WebhookCheck.isCertManagerX509($0, catalog: catalog) }
        }
        guard traced || reached(cm, eval) else { return }
        if let proof = try? await WebhookCheck.prove(api: api, catalog: catalog, full: true) {
            webhook = proof
            lastWebhookProof = clock.now()
        }
        annotate(&eval)
    }

    /// "cert-manager's webhook: CA bundle not injected (step 2)" when the failing proof explains
    /// one of `apps` (cert-manager's own, or a sync the webhook rejected).
    private func webhookLead(_ apps: [AppState]) -> String? {
        guard let proof = webhook, let c = proof.classSummary else { return nil }
        let explains = apps.contains {
            WebhookCheck.cause(of: $0.name, object: objects[$0.name], proof: proof, catalog: catalog) != nil
        }
        return explains ? "cert-manager's webhook: \(c)" : nil
    }

    private func override(_ eval: inout PlatformEvaluation, app: String, _ phase: AppPhase, _ reason: String) {
        for w in eval.waves.indices {
            for a in eval.waves[w].apps.indices where eval.waves[w].apps[a].name == app {
                eval.waves[w].apps[a].phase = phase
                eval.waves[w].apps[a].reason = reason
            }
        }
    }

    private func currentEvaluation() -> PlatformEvaluation {
        var eval = Waves.evaluate(Array(objects.values), healthySeen: healthySeen, catalog: catalog).limited(
            to: options.wave)
        annotate(&eval)
        return eval
    }

    private func timeoutDiagnosis() async -> Diagnosis {
        let elapsed = formatDuration(options.timeout)
        if let f = firstFailure, !listedOnce || clock.now() - f >= quietRetryPeriod {
            return Diagnosis(
                headline:
                    """
                    Timed out after \(elapsed): the Kubernetes API has not answered for \
                    \(formatDuration(clock.now() - f)) (\(lastError ?? "unknown error")).
                    """,
                wave: nil, apps: [], webhook: nil, authToken: nil,
                problems: [
                    """
                    Check that the cluster is running (`aphex status`, `kind get clusters` or `systemctl status \
                    k3s`) and that the kubeconfig points at it.
                    """
                ],
                hints: [])
        }
        var eval = currentEvaluation()
        // Prove the webhook now when it may explain the stuck wave: it names the failing step.
        await proveForDiagnosis(&eval, stuck: eval.firstUnconvergedWave?.apps.filter { !$0.converged } ?? [])
        let headline: String
        if let w = eval.firstUnconvergedWave {
            let stuck = w.apps.filter { !$0.converged }
            // cert-manager's webhook leads when it holds the wave: it explains the rest.
            let lead = webhookLead(stuck).map { "\($0); " } ?? ""
            headline =
                """
                Timed out after \(elapsed): \(lead)wave \(w.wave) is not converged (\(stuck.count) of \
                \(w.apps.count) Application\(w.apps.count == 1 ? "" : "s") stuck: \
                \(stuck.map(\.name).joined(separator: ", "))).
                """
        } else if let p = eval.problems.first {
            headline = "Timed out after \(elapsed): \(p)"
        } else {
            headline = "Timed out after \(elapsed) before the platform converged."
        }
        return await Diagnoser.diagnose(
            api: api, evaluation: eval, objects: objects, headline: headline,
            webhook: webhook, authToken: token, catalog: catalog)
    }

    // MARK: progress

    private func draw(_ eval: PlatformEvaluation, now: Duration) {
        // Wave clocks: a wave starts when every earlier wave is converged.
        var earlierDone = true
        for w in eval.waves {
            if earlierDone && waveStart[w.wave] == nil { waveStart[w.wave] = listedOnceBefore ? now : start }
            if w.converged && waveDone[w.wave] == nil && earlierDone {
                waveDone[w.wave] = now
                let first = now == start || !listedOnceBefore
                if first { alreadyDone.insert(w.wave) }
                let secs = (now - (waveStart[w.wave] ?? now)).seconds
                reporter.emit(
                    .stepFinished(
                        id: "wave-\(w.wave)",
                        title: "Wave \(w.wave) converged (\(w.apps.map(\.name).joined(separator: ", ")))",
                        outcome: first ? .unchanged : .done, seconds: secs, detail: nil))
            }
            earlierDone = earlierDone && w.converged
        }
        listedOnceBefore = true
        let rows = eval.waves.map { w -> [String] in
            let elapsed: String
            if let done = waveDone[w.wave] {
                elapsed = formatDuration(done - (waveStart[w.wave] ?? done))
            } else if let s = waveStart[w.wave] {
                elapsed = live ? formatDuration(now - s) : "running"
            } else {
                elapsed = "waiting"
            }
            return [
                String(w.wave), appsCell(w), "\(w.synced)/\(w.apps.count) Synced",
                "\(w.healthy)/\(w.apps.count) Healthy", elapsed
            ]
        }
        let second = Int((now - start).seconds)
        if rows != lastRows || (live && second != lastDrawSecond) {
            lastRows = rows
            lastDrawSecond = second
            reporter.emit(.table(id: "waves", columns: ["WAVE", "APPS", "SYNC", "HEALTH", "ELAPSED"], rows: rows))
        }
    }
    private var listedOnceBefore = false

    private func appsCell(_ w: WaveState) -> String {
        var names = w.apps.map { $0.converged ? $0.name : $0.name + "*" }
        var cell = names.joined(separator: ",")
        while cell.count > 48 && names.count > 1 {
            names.removeLast()
            cell = names.joined(separator: ",") + ",+\(w.apps.count - names.count)"
        }
        return cell
    }

    private func result(_ eval: PlatformEvaluation, converged: Bool) -> ConvergenceResult {
        let timings = eval.waves.compactMap { w -> WaveTiming? in
            guard let done = waveDone[w.wave] else { return nil }
            return WaveTiming(
                wave: w.wave, apps: w.apps.map(\.name), seconds: (done - (waveStart[w.wave] ?? done)).seconds)
        }
        return ConvergenceResult(
            converged: converged, seconds: (clock.now() - start).seconds, waves: timings,
            alreadyConverged: alreadyDone.sorted(),
            webhook: webhook, authToken: token, retriedErrors: retried)
    }
}

/// Where the watch task drops events; the waiter sleeps on it with a timeout.
final class Mailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ConvergenceWaiter.Signal] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var generation = 0

    func post(_ s: ConvergenceWaiter.Signal) {
        lock.lock()
        items.append(s)
        let w = waiter
        waiter = nil
        lock.unlock()
        w?.resume()
    }

    func drain() -> [ConvergenceWaiter.Signal] {
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }

    /// Returns when something was posted or after `timeout` on `clock`.
    private func beginWait() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if !items.isEmpty { return nil }
        generation += 1
        return generation
    }

    func wait(timeout: Duration, clock: any TimeSource) async {
        guard let gen = beginWait() else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForPost(gen) }
            group.addTask {
                try? await clock.sleep(for: timeout)
                self.wake(gen)
            }
            await group.next()
            group.cancelAll()
            self.wake(gen)
        }
    }

    private func waitForPost(_ gen: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if !items.isEmpty || gen != generation {
                lock.unlock()
                c.resume()
                return
            }
            waiter = c
            lock.unlock()
        }
    }

    /// Ends the wait of generation `gen` (timer fired, or the wait is over).
    private func wake(_ gen: Int) {
        lock.lock()
        guard gen == generation else {
            lock.unlock()
            return
        }
        generation += 1
        let w = waiter
        waiter = nil
        lock.unlock()
        w?.resume()
    }
}
