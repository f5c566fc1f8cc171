import ClusterDrivers
import Foundation

/// Field managers aphex applies with.
public enum FieldManager {
    /// Release manifests, platform-root, markers.
    public static let apply = "aphex"
    /// aphex's partial ConfigMap edits (argocd-cm, ...): a separate manager, so that
    /// re-applying the release manifest (manager "aphex") never drops them and vice versa.
    public static let config = "aphex-config"
}

extension Kubectl {
    /// `kubectl --kubeconfig K [--context C] apply --server-side --force-conflicts
    /// --field-manager=M [--namespace NS] -f -`: server-side apply from stdin (ArgoCD's CRDs
    /// exceed the client-side annotation limit).
    public func ssaApplyArgv(namespace: String? = nil, fieldManager: String = FieldManager.apply) -> [String] {
        var args = ["apply", "--server-side", "--force-conflicts", "--field-manager=\(fieldManager)"]
        if let namespace { args += ["--namespace", namespace] }
        return argv(args + ["-f", "-"])
    }
}

/// The seams an install step works through.
public struct InstallEnvironment: Sendable {
    public var runner: any CommandRunner
    public var api: any KubeAPI
    public var clock: any TimeSource
    public var reporter: any Reporter
    public var kubectl: Kubectl
    /// Polling interval for CRDs, workloads.
    public var pollInterval: Duration
    /// aphex's record of what it created (nil: not recorded, e.g. a dry run or a unit test).
    /// Applies made with `record: true` print the applied objects (`-o json`) and their uids
    /// go into it.
    public var ownership: OwnershipRecord?

    public init(runner: any CommandRunner, api: any KubeAPI, clock: any TimeSource, reporter: any Reporter,
                kubectl: Kubectl, pollInterval: Duration = .milliseconds(500), ownership: OwnershipRecord? = nil) {
        self.runner = runner
        self.api = api
        self.clock = clock
        self.reporter = reporter
        self.kubectl = kubectl
        self.pollInterval = pollInterval
        self.ownership = ownership
    }

    /// Applies objects with server-side apply; kubectl failures become an AphexError naming `what`.
    /// `record`: the objects were `prepare`d in the ownership record; their uids are recorded.
    func apply(_ objects: [JSON], namespace: String? = nil, fieldManager: String = FieldManager.apply,
               what: String, record: Bool = false) async throws {
        guard !objects.isEmpty else { return }
        var argv = kubectl.ssaApplyArgv(namespace: namespace, fieldManager: fieldManager)
        let ownership = record ? self.ownership : nil
        if ownership != nil { argv += ["-o", "json"] }
        // Generous: ArgoCD's CRDs are megabytes; a hung API server must still end the run.
        let out = try await run(Command(argv, stdinText: Manifests.stream(objects), timeout: .seconds(300)), what: what)
        if let ownership, let out {
            try await ownership.created(Kubectl.objects(fromJSONOutput: out.stdoutText))
        }
    }

    @discardableResult
    func run(_ command: Command, what: String) async throws -> CommandOutput? {
        do {
            return try await runner.run(command)
        } catch let e as CommandError {
            if e.reason == .notFound {
                throw AphexError.prerequisite("kubectl was not found on PATH, so aphex cannot \(what). Install kubectl (https://kubernetes.io/docs/tasks/tools/) and run again.")
            }
            if e.isTimeout { throw AphexError.timeout("kubectl timed out while trying to \(what).", detail: e.description) }
            throw AphexError.failed("Could not \(what): kubectl failed. Check that the cluster is reachable (`kubectl --kubeconfig \(kubectl.kubeconfig) get nodes`) and read kubectl's message below; re-running aphex resumes where it stopped.", detail: e.description)
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

    public var json: JSON {
        ["outcome": .string(outcome.rawValue), "changed": .array(changed.map(JSON.string)),
         "unchanged": .array(unchanged.map(JSON.string)), "planned": .array(planned.map(JSON.string))]
    }

    public static func merged(_ reports: [InstallReport]) -> InstallReport {
        InstallReport(changed: reports.flatMap(\.changed), unchanged: reports.flatMap(\.unchanged),
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
