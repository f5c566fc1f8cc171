import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// What one step did (or, with --dry-run, would do).
public struct StepResult: Sendable, Equatable {
    public var outcome: StepOutcome
    /// One line for the progress output and the summary.
    public var detail: String
    /// What changed or would change (objects, secrets by name — never values).
    public var changes: [String]
    /// The commands the step ran or would run (argv, shell-quoted; never stdin).
    public var commands: [String]

    public init(_ outcome: StepOutcome, _ detail: String = "", changes: [String] = [], commands: [String] = []) {
        self.outcome = outcome
        self.detail = detail
        self.changes = changes
        self.commands = commands
    }
}

/// A recorded step: for timings, the summary and `--output json`.
public struct StepRecord: Sendable, Equatable, Codable {
    public var id: String
    public var title: String
    public var outcome: StepOutcome
    public var seconds: Double
    public var detail: String
    public var changes: [String]
    public var commands: [String]
}

/// State shared by the steps of one bootstrap run (kind's Action context).
public final class PipelineState: @unchecked Sendable {
    public let app: AppContext
    public let options: BootstrapOptions
    /// Set by the cluster step.
    public var kubeconfig: String?
    public var kubeContext: String?
    public var serverURL: String?
    public var records: [StepRecord] = []
    public var waves: [WaveTiming] = []
    /// Waves already converged when the wait began (their seconds say nothing).
    public var alreadyConverged: Set<Int> = []
    public var warnings: [String] = []
    public var converged: Bool?
    /// When the pipeline began and when its last step ended (the run's wall time: steps
    /// started early overlap, so their seconds do not add up to it).
    public var span: (start: Duration, end: Duration)?
    /// The run recorder behind --junit/--timeline (the wait step hands it to the waiter).
    public var convergenceObserver: (any ConvergenceObserver)?
    /// The cluster lock (~/.aphex/clusters/NAME.lock), taken before the first step that
    /// changes anything and held until the run ends.
    public var lock: ClusterLock?
    /// Builds the API client once the kubeconfig is known: the context's `makeKubeAPI` on the
    /// resolved kubeconfig, unless a test passes its own.
    public var makeAPI: @Sendable (HostContext, _ kubeconfig: String, _ context: String?) throws -> any KubeAPI
    private var cachedAPI: (any KubeAPI)?

    public init(
        app: AppContext, options: BootstrapOptions,
        makeAPI: (@Sendable (HostContext, String, String?) throws -> any KubeAPI)? = nil
    ) {
        self.app = app
        self.options = options
        let factory = app.makeKubeAPI
        self.makeAPI =
            makeAPI ?? { host, kubeconfig, context in
                try factory(host, try Kubeconfig.load(path: kubeconfig).resolve(context: context))
            }
    }

    public var reporter: any Reporter { app.reporter }
    public var dryRun: Bool { options.dryRun }

    /// The kubeconfig the steps use; the cluster step sets it.
    public func requireKubeconfig() throws -> String {
        guard let k = kubeconfig else {
            throw AphexError.failed("internal: the cluster step did not provide a kubeconfig")
        }
        return k
    }

    public func api() throws -> any KubeAPI {
        // Steps started early call this concurrently with the step in turn.
        try apiLock.withLock {
            if let cachedAPI { return cachedAPI }
            let kubeconfig = try requireKubeconfig()
            if dryRun && !Kubeconfig.exists(kubeconfig) {
                // Planning for a cluster that does not exist yet: it is empty, so every step plans
                // from nothing (and nothing is contacted).
                return EmptyClusterAPI()
            }
            let made = try makeAPI(app.host, kubeconfig, kubeContext)
            cachedAPI = made
            return made
        }
    }
    private let apiLock = NSLock()

    /// aphex's record of what it creates on this cluster (nil on a dry run): every step that
    /// creates objects records them, so `aphex destroy --use-existing` removes only those.
    public func ownership() throws -> OwnershipRecord? {
        if dryRun { return nil }
        if let cachedOwnership { return cachedOwnership }
        let made = OwnershipRecord(api: try api())
        cachedOwnership = made
        return made
    }
    private var cachedOwnership: OwnershipRecord?

    public func kubectl() throws -> Kubectl {
        Kubectl(kubeconfig: try requireKubeconfig(), context: kubeContext, runner: app.runner)
    }

    // MARK: steps started early

    private let earlyLock = NSLock()
    private var early: [String: Task<StepResult, any Error>] = [:]
    /// When each early step really ran (its own start, and its end once it finished).
    private var earlyTimes: [String: (start: Duration, end: Duration?)] = [:]

    /// Starts `step`'s body now, in the background (a later step that does not depend on the
    /// current one: Tekton's apply while ArgoCD's runs). The pipeline's own turn for it then
    /// awaits this result instead of running the body again.
    public func startEarly(_ step: PipelineStep) {
        let clock = app.host.clock
        earlyLock.withLock {
            guard early[step.id] == nil else { return }
            earlyTimes[step.id] = (clock.now(), nil)
            early[step.id] = Task {
                defer { self.earlyLock.withLock { self.earlyTimes[step.id]?.end = clock.now() } }
                return try await step.body(self)
            }
        }
    }

    /// Whether an early step's body has finished.
    func earlyFinished(_ id: String) -> Bool {
        earlyLock.withLock { earlyTimes[id]?.end != nil }
    }

    /// When an early step ran: from its early start to its end (now, if still running).
    func earlyRun(_ id: String) -> (start: Duration, end: Duration)? {
        earlyLock.withLock { earlyTimes[id].map { ($0.start, $0.end ?? app.host.clock.now()) } }
    }

    /// The early-started run of a step, if there is one (taken: awaited once).
    func takeEarly(_ id: String) -> Task<StepResult, any Error>? {
        earlyLock.withLock { early.removeValue(forKey: id) }
    }

    /// Stops whatever was started early (the pipeline failed or was interrupted).
    func cancelEarly() {
        let tasks = earlyLock.withLock { () -> [Task<StepResult, any Error>] in
            defer { early = [:] }
            return Array(early.values)
        }
        for t in tasks { t.cancel() }
    }
}

public struct PipelineStep: Sendable {
    public var id: String
    public var title: String
    public var body: @Sendable (PipelineState) async throws -> StepResult

    public init(_ id: String, _ title: String, _ body: @escaping @Sendable (PipelineState) async throws -> StepResult) {
        self.id = id
        self.title = title
        self.body = body
    }
}

/// Runs steps in order, timing each, reporting start/finish, stopping at the first failure.
public struct Pipeline: Sendable {
    public var steps: [PipelineStep]

    public init(steps: [PipelineStep]) { self.steps = steps }

    public func run(_ state: PipelineState) async throws {
        let clock = state.app.host.clock
        let began = clock.now()
        defer { state.span = (began, clock.now()) }
        for step in steps {
            try Task.checkCancellation()
            state.reporter.emit(.stepStarted(id: step.id, title: step.title))
            let start = clock.now()
            do {
                let result: StepResult
                var ran: (start: Duration, end: Duration)?
                if let started = state.takeEarly(step.id) {
                    result = try await withTaskCancellationHandler {
                        try await started.value
                    } onCancel: {
                        started.cancel()
                    }
                    ran = state.earlyRun(step.id)
                } else {
                    result = try await step.body(state)
                }
                // A step started early took the time it really ran (it overlapped the steps
                // before it), not the moment its turn took to collect the result.
                let seconds = ran.map { ($0.end - $0.start).seconds } ?? (clock.now() - start).seconds
                if let ran { state.convergenceObserver?.stepRan(id: step.id, from: ran.start, to: ran.end) }
                state.records.append(
                    StepRecord(
                        id: step.id, title: step.title, outcome: result.outcome, seconds: seconds,
                        detail: result.detail, changes: result.changes, commands: result.commands))
                state.reporter.emit(
                    .stepFinished(
                        id: step.id, title: step.title, outcome: result.outcome,
                        seconds: seconds, detail: result.detail.isEmpty ? nil : result.detail))
                if state.dryRun {
                    for change in result.changes { state.reporter.info("     + \(change)") }
                    for command in result.commands { state.reporter.info("     $ \(command)") }
                }
            } catch {
                state.cancelEarly()
                let seconds = (clock.now() - start).seconds
                let cancelled = error is CancellationError || Task.isCancelled
                state.records.append(
                    StepRecord(
                        id: step.id, title: step.title, outcome: .failed, seconds: seconds,
                        detail: cancelled
                            ? "interrupted"
                            : String(describing: error).split(separator: "\n").first.map(String.init) ?? "",
                        changes: [], commands: []))
                state.reporter.emit(
                    .stepFinished(
                        id: step.id, title: step.title, outcome: .failed, seconds: seconds,
                        detail: cancelled ? "interrupted" : nil))
                if cancelled {
                    throw PipelineInterrupted(step: step.title)
                }
                throw error
            }
        }
    }
}

/// Raised when Ctrl-C stops a step; the CLI turns it into exit 130 with a resume line.
public struct PipelineInterrupted: Error, Sendable {
    public var step: String
}

/// The API of a cluster that does not exist yet (a dry run before the cluster step has
/// created it): no objects, every read answers "not found".
struct EmptyClusterAPI: KubeAPI {
    func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? { nil }
    func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws
        -> JSON
    {
        ["apiVersion": "v1", "kind": .string(ref.kind + "List"), "metadata": ["resourceVersion": "0"], "items": []]
    }
    func request(_ method: String, path: String, body: [UInt8]?, contentType: String?, headers: [String: String])
        async throws -> HTTPResponse
    {
        HTTPResponse(
            status: 404, headers: ["content-type": "application/json"],
            body: Array(#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.utf8))
    }
    func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { $0.finish() }
    }
}
