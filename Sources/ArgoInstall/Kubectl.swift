import AphexCore
import KubeClient
import Foundation

/// The seams an install step works through.
public struct InstallEnvironment: Sendable {
    public var runner: any CommandRunner
    public var api: any KubeAPI
    public var clock: any TimeSource
    public var reporter: any Reporter
    public var kubectl: Kubectl
    /// Polling interval for CRDs, workloads.
    public var pollInterval: Duration
    /// How many kubectl processes one large apply may be split across (1: never split).
    public var maxApplyStreams = ApplyChunks.maxStreams
    /// aphex's record of what it created (nil: not recorded, e.g. a dry run or a unit test).
    /// Applies made with `record: true` print the applied objects (`-o json`) and their uids
    /// go into it.
    public var ownership: OwnershipRecord?

    public init(
        runner: any CommandRunner, api: any KubeAPI, clock: any TimeSource, reporter: any Reporter,
        kubectl: Kubectl, pollInterval: Duration = .milliseconds(500), ownership: OwnershipRecord? = nil
    ) {
        self.runner = runner
        self.api = api
        self.clock = clock
        self.reporter = reporter
        self.kubectl = kubectl
        self.pollInterval = pollInterval
        self.ownership = ownership
    }

    /// Applies objects with server-side apply; kubectl failures become an AphexError naming `what`.
    /// A large set is split into a few streams applied by concurrent kubectl processes: kubectl
    /// sends one PATCH at a time, so one process spends a bundle's whole apply waiting on round
    /// trips (the API server handles them concurrently). Order inside a set does not matter to the
    /// API server (namespaces and CRDs are applied, and CRDs Established, before the rest).
    /// `record`: the objects were `prepare`d in the ownership record; their uids are recorded.
    func apply(
        _ objects: [JSON], namespace: String? = nil, fieldManager: String = FieldManager.apply,
        what: String, record: Bool = false, validate: Bool = true
    ) async throws {
        guard !objects.isEmpty else { return }
        let ownership = record ? self.ownership : nil
        let argv = kubectl.applyArgv(
            fieldManager: fieldManager, validate: validate, namespace: namespace,
            outputJSON: ownership != nil)
        let streams = ApplyChunks.split(objects.map { $0.serialized() }, maxStreams: maxApplyStreams)
        // Generous: ArgoCD's CRDs are megabytes; a hung API server must still end the run.
        @Sendable func applyOne(_ stream: String) async throws {
            let out = try await KubectlSlots.shared.with {
                try await self.run(Command(argv, stdinText: stream, timeout: .seconds(300)), what: what)
            }
            if let ownership, let out {
                try await ownership.created(Kubectl.objects(fromJSONOutput: out.stdoutText))
            }
        }
        if streams.count == 1 {
            try await applyOne(streams[0])
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for stream in streams {
                group.addTask { try await applyOne(stream) }
            }
            // Every stream runs to its end (as one kubectl carries on after a failed object);
            // the first failure is reported.
            var first: (any Error)?
            while let result = await group.nextResult() {
                if case .failure(let e) = result, first == nil { first = e }
            }
            if let first { throw first }
        }
    }

    @discardableResult
    func run(_ command: Command, what: String) async throws -> CommandOutput? {
        do {
            return try await runner.run(command)
        } catch let e as CommandError {
            if e.reason == .notFound {
                throw AphexError.prerequisite(
                    """
                    kubectl was not found on PATH, so aphex cannot \(what). Install kubectl \
                    (https://kubernetes.io/docs/tasks/tools/) and run again.
                    """
                )
            }
            if e.isTimeout {
                throw AphexError.timeout("kubectl timed out while trying to \(what).", detail: e.description)
            }
            throw AphexError.failed(
                """
                Could not \(what): kubectl failed. Check that the cluster is reachable (`kubectl --kubeconfig \
                \(kubectl.kubeconfig) get nodes`) and read kubectl's message below; re-running aphex resumes \
                where it stopped.
                """,
                detail: e.description)
        }
    }
}

/// What an install step did (or, in a dry run, would do), for the bootstrap pipeline.
public struct InstallReport: Sendable, Equatable {
    public var outcome: StepOutcome
    /// What was changed ("ArgoCD v3.3.0: applied 59 objects (3 CRDs)").
    public var changed: [String]
    /// What was checked and already right.
    public var unchanged: [String]
    /// Dry run: what would be done, with the commands.
    public var planned: [String]

    public init(outcome: StepOutcome? = nil, changed: [String] = [], unchanged: [String] = [], planned: [String] = []) {
        self.changed = changed
        self.unchanged = unchanged
        self.planned = planned
        self.outcome = outcome ?? (!planned.isEmpty ? .planned : (!changed.isEmpty ? .done : .unchanged))
    }

    /// One-paragraph summary for the step line.
    public var summary: String {
        var parts: [String] = []
        if !planned.isEmpty { parts.append("would: " + planned.joined(separator: "; ")) }
        if !changed.isEmpty { parts.append(changed.joined(separator: "; ")) }
        if !unchanged.isEmpty { parts.append("unchanged: " + unchanged.joined(separator: "; ")) }
        return parts.joined(separator: ". ")
    }

    public static func merged(_ reports: [InstallReport]) -> InstallReport {
        InstallReport(
            changed: reports.flatMap(\.changed), unchanged: reports.flatMap(\.unchanged),
            planned: reports.flatMap(\.planned))
    }
}

extension JSON {
    /// True when every field of `desired` is present with the same value in self (objects
    /// recursively; arrays and scalars compare whole). Numbers compare by value.
    public func contains(_ desired: JSON) -> Bool {
        switch (desired, self) {
        case (.object(let d), .object(let l)):
            for (k, v) in d {
                guard let lv = l[k], lv.contains(v) else { return false }
            }
            return true
        case (.array(let d), .array(let l)):
            return d.count == l.count && zip(d, l).allSatisfy { $1.contains($0) }
        default:
            if let a = desired.double, let b = self.double { return a == b }
            return desired == self
        }
    }
}

/// How a set of objects is split into concurrent kubectl applies: at most `maxStreams`; a stream
/// per `objectsPerStream` objects (kubectl's PATCHes are one round trip each) or per
/// `bytesPerStream` (large CRDs take the API server long to process), so that small sets stay
/// whole (a kubectl process costs a start and a few discovery requests); balanced by size,
/// each stream keeping the objects' order.
enum ApplyChunks {
    static let maxStreams = 4
    static let objectsPerStream = 14
    static let bytesPerStream = 96 * 1024

    /// The stdin streams (one compact JSON object per line) for serialized objects.
    static func split(_ objects: [String], maxStreams: Int = maxStreams) -> [String] {
        let total = objects.reduce(0) { $0 + $1.utf8.count }
        let wanted = max(objects.count / objectsPerStream, total / bytesPerStream)
        let count = max(1, min(maxStreams, objects.count, wanted))
        guard count > 1 else { return [objects.joined(separator: "\n") + "\n"] }
        var bins = [[Int]](repeating: [], count: count)
        var sizes = [Int](repeating: 0, count: count)
        for i in objects.indices.sorted(by: { objects[$0].utf8.count > objects[$1].utf8.count }) {
            let lightest = sizes.indices.min { sizes[$0] < sizes[$1] }!
            bins[lightest].append(i)
            sizes[lightest] += objects[i].utf8.count
        }
        return bins.filter { !$0.isEmpty }.map { $0.sorted().map { objects[$0] }.joined(separator: "\n") + "\n" }
    }
}

/// At most this many kubectl processes at once, across every install step running: they are
/// CPU-heavy (JSON conversion of megabyte CRDs) and each holds an API connection.
actor KubectlSlots {
    static let shared = KubectlSlots(6)
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func with<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
