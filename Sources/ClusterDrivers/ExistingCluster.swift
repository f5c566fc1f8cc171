import AphexCore
import KubeClient
import Foundation

/// A permission aphex needs on a cluster it does not manage.
public struct RequiredPermission: Sendable, Equatable {
    public var verb: String
    /// resource[.group] as `kubectl auth can-i` takes it.
    public var resource: String
    public var allNamespaces: Bool

    public init(_ verb: String, _ resource: String, allNamespaces: Bool = false) {
        self.verb = verb
        self.resource = resource
        self.allNamespaces = allNamespaces
    }

    /// "create customresourcedefinitions.apiextensions.k8s.io"
    public var text: String { "\(verb) \(resource)" + (allNamespaces ? " (all namespaces)" : "") }

    /// What bootstrap creates: namespaces, CRDs (ArgoCD, Tekton), cluster roles and bindings
    /// (their controllers), Secrets (generated credentials) in several namespaces.
    public static let bootstrap: [RequiredPermission] = [
        RequiredPermission("create", "namespaces"),
        RequiredPermission("create", "customresourcedefinitions.apiextensions.k8s.io"),
        RequiredPermission("create", "clusterroles.rbac.authorization.k8s.io"),
        RequiredPermission("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        RequiredPermission("create", "secrets", allNamespaces: true),
    ]
}

/// A cluster aphex did not create (`--use-existing`, `--kubeconfig`, `--context`). It is
/// never created, changed or deleted by the driver: ensureCluster only verifies that the API
/// server answers and that the credentials may create what bootstrap creates.
public struct ExistingClusterDriver: ClusterDriver {
    public let host: HostContext
    public let clusterName: String
    public let kubeconfigPath: String
    public let context: String?
    public let permissions: [RequiredPermission]

    public init(host: HostContext, clusterName: String, kubeconfig: String, context: String?,
                permissions: [RequiredPermission] = RequiredPermission.bootstrap) {
        self.host = host
        self.clusterName = clusterName
        self.kubeconfigPath = kubeconfig
        self.context = context
        self.permissions = permissions
    }

    public var driverName: String { "existing" }

    // MARK: argv

    public var reachabilityCommand: Command {
        Command(kubectlArgv(["version", "-o", "json"], kubeconfig: kubeconfigPath, context: context,
                            requestTimeout: .seconds(10), runner: host.runner),
                environment: Kubeconfig.kubectlEnvironment(kubeconfigPath), timeout: .seconds(20))
    }
    public func canICommand(_ p: RequiredPermission) -> Command {
        Command(kubectlArgv(["auth", "can-i", p.verb, p.resource] + (p.allNamespaces ? ["--all-namespaces"] : []),
                            kubeconfig: kubeconfigPath, context: context, requestTimeout: .seconds(10), runner: host.runner),
                environment: Kubeconfig.kubectlEnvironment(kubeconfigPath), timeout: .seconds(20), checkExit: false)
    }

    public func isAvailable() async -> DriverAvailability {
        if !Kubeconfig.isReadable(kubeconfigPath) {
            return DriverAvailability(available: false, reason: "The kubeconfig \(kubeconfigPath) does not exist or is not readable. Pass one with --kubeconfig.")
        }
        return .ok
    }

    var where_: String { "\(kubeconfigPath)" + (context.map { ", context \($0)" } ?? "") }

    public func ensureCluster() async throws -> ClusterAccess {
        let start = host.clock.now()
        let a = await isAvailable()
        guard a.available else { throw AphexError.usage(a.reason!) }
        try await StepTimer(host, "cluster.existing.reach", "Checking the API server of the existing cluster (\(where_))").run {
            try await checkReachable()
        }
        try await StepTimer(host, "cluster.existing.permissions", "Checking permissions (\(permissions.map(\.text).joined(separator: ", ")))").run {
            try await checkPermissions()
        }
        return ClusterAccess(driver: driverName, clusterName: clusterName, kubeconfig: kubeconfigPath, context: context,
                             outcome: .existing, seconds: (host.clock.now() - start).seconds)
    }

    func checkReachable() async throws {
        do {
            _ = try await host.runner.run(reachabilityCommand)
        } catch let e as CommandError {
            if case .notFound = e.reason {
                throw AphexError.prerequisite("kubectl was not found on PATH; aphex needs it for an existing cluster. Install kubectl (https://kubernetes.io/docs/tasks/tools/) and re-run.")
            }
            throw AphexError(.prerequisite,
                "The existing cluster's API server did not answer (\(where_)). Nothing was changed. Check the kubeconfig and context (`\(Shell.quote(["kubectl"] + Kubeconfig.kubectlFlags(kubeconfigPath) + ["config", "get-contexts"]))`) and that the cluster is running.",
                detail: e.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Every required permission through `kubectl auth can-i` (a SelfSubjectAccessReview).
    /// Missing ones are reported by name, all at once: exit 4 (a prerequisite), nothing changed.
    public func missingPermissions() async throws -> [RequiredPermission] {
        // The checks are independent: all at once (five kubectl processes one after another
        // took most of a second).
        let commands = permissions.map(canICommand)
        let runner = host.runner
        let outputs: [CommandOutput] = try await withThrowingTaskGroup(of: (Int, CommandOutput).self) { group in
            for (i, c) in commands.enumerated() { group.addTask { (i, try await runner.run(c)) } }
            var out = [CommandOutput?](repeating: nil, count: commands.count)
            for try await (i, o) in group { out[i] = o }
            return out.compactMap { $0 }
        }
        var missing: [RequiredPermission] = []
        for (i, p) in permissions.enumerated() {
            let out = outputs[i]
            let answer = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            if out.status == 0 && answer.hasPrefix("yes") { continue }
            if answer.hasPrefix("no") { missing.append(p); continue }
            throw AphexError.failed("`\(commands[i].display)` failed (exit status \(out.status)); could not check permissions.",
                                    detail: out.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return missing
    }

    func checkPermissions() async throws {
        let missing = try await missingPermissions()
        guard missing.isEmpty else {
            throw AphexError(.prerequisite,
                "The credentials in \(where_) may not \(missing.map(\.text).joined(separator: ", ")). Nothing was changed. Bootstrap creates namespaces, CRDs, cluster roles and bindings and Secrets: use a cluster-admin context (--context), or ask an administrator to bind you to cluster-admin.",
                detail: "missing: " + missing.map(\.text).joined(separator: "; "))
        }
    }

    @discardableResult
    public func delete() async throws -> Bool {
        throw AphexError.usage("aphex does not delete clusters it did not create (\(where_)). `aphex destroy --use-existing` removes only what aphex installed on it.")
    }

    public func kubeconfig() async throws -> ClusterAccess {
        ClusterAccess(driver: driverName, clusterName: clusterName, kubeconfig: kubeconfigPath, context: context, outcome: .existing)
    }

    public func describe() async throws -> ClusterDescription {
        var d = ClusterDescription(driver: driverName, clusterName: clusterName,
                                   exists: Kubeconfig.isReadable(kubeconfigPath), managed: false,
                                   kubeconfig: kubeconfigPath, context: context)
        guard d.exists else { d.problem = "kubeconfig \(kubeconfigPath) not readable"; return d }
        do {
            d.nodes = try await NodeWaiter(host: host).readNodes(kubeconfig: kubeconfigPath, context: context)
            d.apiReachable = true
        } catch let e as CommandError {
            d.problem = "the API server did not answer: " + firstLineOf(e.stderr, or: e.description)
        }
        return d
    }

    public func planEnsure() -> [PlannedAction] {
        [PlannedAction("Check that the existing cluster's API server answers (\(where_))", command: reachabilityCommand)]
            + permissions.map { PlannedAction("Check permission: \($0.text)", command: canICommand($0)) }
    }

    public func planDelete() -> [PlannedAction] {
        [PlannedAction("Nothing: aphex never deletes a cluster it did not create")]
    }
}
