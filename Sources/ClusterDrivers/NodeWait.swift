import AphexCore
import KubeClient
import Foundation

/// One node condition as the API reports it.
public struct NodeCondition: Sendable, Equatable {
    public var type: String
    public var status: String
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }

    /// Ready should be True; the pressure / unavailable conditions should be False.
    public var isHealthy: Bool { type == "Ready" ? status == "True" : status != "True" }

    /// "Ready=False (KubeletNotReady: container runtime network not ready)"
    public var text: String {
        var s = "\(type)=\(status)"
        let why = [reason, message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        if !why.isEmpty { s += " (\(why))" }
        return s
    }
}

/// A node and its readiness.
public struct NodeState: Sendable, Equatable {
    public var name: String
    public var ready: Bool
    public var roles: [String]
    public var kubeletVersion: String?
    public var conditions: [NodeCondition]

    public init(
        name: String, ready: Bool, roles: [String] = [], kubeletVersion: String? = nil,
        conditions: [NodeCondition] = []
    ) {
        self.name = name
        self.ready = ready
        self.roles = roles
        self.kubeletVersion = kubeletVersion
        self.conditions = conditions
    }

    /// From a Node object (`kubectl get nodes -o json` item, or a KubeAPI list item).
    public init(node: JSON) {
        name = node.name ?? "?"
        conditions = (node[path: "status", "conditions"]?.array ?? []).compactMap { c in
            guard let t = c["type"]?.string else { return nil }
            return NodeCondition(
                type: t, status: c["status"]?.string ?? "Unknown",
                reason: c["reason"]?.string, message: c["message"]?.string)
        }
        ready = conditions.contains { $0.type == "Ready" && $0.status == "True" }
        roles = node.labels.keys.compactMap { k in
            k.hasPrefix("node-role.kubernetes.io/") ? String(k.dropFirst("node-role.kubernetes.io/".count)) : nil
        }.sorted()
        kubeletVersion = node[path: "status", "nodeInfo", "kubeletVersion"]?.string
    }

    /// "kind-worker: Ready=False (KubeletNotReady: ...), MemoryPressure=True"
    public var diagnosis: String {
        let bad = conditions.filter { !$0.isHealthy }
        if bad.isEmpty && !conditions.contains(where: { $0.type == "Ready" }) {
            return "\(name): no Ready condition reported yet"
        }
        return "\(name): " + (bad.isEmpty ? "Ready" : bad.map(\.text).joined(separator: ", "))
    }
}

extension ClusterDescription {
    /// The nodes a health check read, and the problem they show: none registered, or some
    /// not Ready (each with its conditions).
    mutating func recordNodes(_ nodes: [NodeState]) {
        self.nodes = nodes
        apiReachable = true
        if nodes.isEmpty {
            problem = "no nodes registered"
        } else if !nodes.allSatisfy(\.ready) {
            problem = "nodes not Ready: " + nodes.filter { !$0.ready }.map(\.diagnosis).joined(separator: "; ")
        }
    }
}

/// What a node wait observed.
public struct NodeWaitResult: Sendable, Equatable {
    public var nodes: [NodeState]
    public var seconds: Double
}

/// Reads nodes with `kubectl get nodes -o json` through the runner and waits, with a
/// deadline, until the API server answers and every node is Ready.
public struct NodeWaiter: Sendable {
    public var host: HostContext
    /// Between polls.
    public var interval: Duration
    /// Per kubectl call.
    public var requestTimeout: Duration

    public init(host: HostContext, interval: Duration = .seconds(2), requestTimeout: Duration = .seconds(10)) {
        self.host = host
        self.interval = interval
        self.requestTimeout = requestTimeout
    }

    /// The argv that lists nodes for a kubeconfig/context.
    public func listCommand(kubeconfig: String, context: String?) -> Command {
        Command(
            kubectlArgv(
                ["get", "nodes", "-o", "json"], kubeconfig: kubeconfig, context: context,
                requestTimeout: requestTimeout, runner: host.runner),
            environment: Kubeconfig.kubectlEnvironment(kubeconfig), timeout: requestTimeout + .seconds(5))
    }

    /// One read. Throws `CommandError` when the API server does not answer.
    public func readNodes(kubeconfig: String, context: String?) async throws -> [NodeState] {
        let out = try await host.runner.run(listCommand(kubeconfig: kubeconfig, context: context))
        let list: JSON
        do { list = try JSON.parse(out.stdout) } catch {
            throw AphexError.failed(
                """
                `kubectl get nodes -o json` printed something that is not JSON. Check that `kubectl` on PATH is \
                the real kubectl.
                """
            )
        }
        return list.items.map(NodeState.init(node:)).sorted { $0.name < $1.name }
    }

    /// One read through the Kubernetes API (LIST /api/v1/nodes), sorted by name.
    public static func readNodes(api: any KubeAPI) async throws -> [NodeState] {
        try await api.list(.nodes).map(NodeState.init(node:)).sorted { $0.name < $1.name }
    }

    /// Polls until at least `expectedNodes` nodes exist and all are Ready. On the deadline
    /// throws `AphexError(.timeout)` naming the nodes that are not Ready and their
    /// conditions (or the API server's last error when it never answered).
    public func waitUntilReady(
        kubeconfig: String, context: String?, timeout: Duration,
        expectedNodes: Int = 1, what: String = "the cluster"
    ) async throws -> NodeWaitResult {
        let start = host.clock.now()
        let deadline = start + timeout
        var lastNodes: [NodeState] = []
        var lastError: String?
        var polls = 0
        while true {
            try Task.checkCancellation()
            polls += 1
            do {
                let nodes = try await readNodes(kubeconfig: kubeconfig, context: context)
                lastNodes = nodes
                lastError = nil
                if nodes.count >= expectedNodes && nodes.allSatisfy(\.ready) {
                    return NodeWaitResult(nodes: nodes, seconds: (host.clock.now() - start).seconds)
                }
            } catch let e as CommandError {
                if case .notFound = e.reason {
                    throw AphexError.prerequisite(
                        """
                        kubectl was not found on PATH; aphex uses it to read the cluster's nodes. Install kubectl \
                        (https://kubernetes.io/docs/tasks/tools/) and re-run.
                        """
                    )
                }
                lastError =
                    e.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                    ? e.description : e.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let now = host.clock.now()
            if now >= deadline { break }
            try await host.clock.sleep(for: min(interval, deadline - now))
        }
        throw Self.timeoutError(
            what: what, timeout: timeout, nodes: lastNodes, lastError: lastError,
            expectedNodes: expectedNodes, kubeconfig: kubeconfig, context: context, runner: host.runner)
    }

    static func timeoutError(
        what: String, timeout: Duration, nodes: [NodeState], lastError: String?,
        expectedNodes: Int, kubeconfig: String, context: String?,
        runner: any CommandRunner
    ) -> AphexError {
        var detail: [String] = []
        let notReady = nodes.filter { !$0.ready }
        if let lastError, nodes.isEmpty {
            detail.append("The API server never answered. Last error:")
            detail.append(contentsOf: lastError.split(separator: "\n").map { "  " + $0 })
        } else {
            if !notReady.isEmpty {
                detail.append("Nodes not Ready:")
                detail.append(contentsOf: notReady.map { "  " + $0.diagnosis })
            }
            if nodes.count < expectedNodes {
                detail.append(
                    """
                    Only \(nodes.count) of \(expectedNodes) nodes registered \
                    (\(nodes.map(\.name).joined(separator: ", ")).
                    """
                )
            }
            if let lastError { detail.append("Last API error: \(lastError)") }
        }
        let inspect = Shell.quote(
            kubectlArgv(
                ["describe", "nodes"], kubeconfig: kubeconfig, context: context, requestTimeout: nil, runner: runner))
        let names = notReady.isEmpty ? "" : " (not Ready: \(notReady.map(\.name).joined(separator: ", ")))"
        return AphexError.timeout(
            """
            Timed out after \(formatDuration(timeout)) waiting for the API server and nodes of \(what) to be \
            Ready\(names). Inspect with `\(inspect)`, then re-run with a longer --timeout.
            """,
            detail: detail.joined(separator: "\n"))
    }
}

/// kubectl argv through the shared `Kubectl` builder (`kubectl --kubeconfig K [--context C] ARGS`),
/// with a per-request timeout so a dead API server cannot hang a wait.
func kubectlArgv(
    _ args: [String], kubeconfig: String, context: String?, requestTimeout: Duration?,
    runner: any CommandRunner
) -> [String] {
    var a = args
    if let requestTimeout { a += ["--request-timeout", "\(Int(requestTimeout.seconds.rounded(.up)))s"] }
    return Kubectl(kubeconfig: kubeconfig, context: context, runner: runner).argv(a)
}
