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

    /// From a Node object (an item of LIST /api/v1/nodes).
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

/// Reads nodes through the Kubernetes API (`makeKubeAPI`: libcurl, or `kubectl get --raw` for
/// kubeconfigs only kubectl can authenticate with) and waits, with a deadline, until the API
/// server answers and every node is Ready.
public struct NodeWaiter: Sendable {
    public var host: HostContext
    /// Between polls.
    public var interval: Duration
    /// Per API request.
    public var requestTimeout: Duration

    public init(host: HostContext, interval: Duration = .seconds(2), requestTimeout: Duration = .seconds(10)) {
        self.host = host
        self.interval = interval
        self.requestTimeout = requestTimeout
    }

    /// One read (LIST /api/v1/nodes) with a kubeconfig/context, one try: a caller that polls is
    /// its own retry. Throws `KubeAPIError` when the API server does not answer, and
    /// `AphexError(.usage)` when the kubeconfig cannot be used.
    public func readNodes(kubeconfig: String, context: String?) async throws -> [NodeState] {
        try await Self.readNodes(api: api(kubeconfig: kubeconfig, context: context))
    }

    /// The API client the reads use: `makeKubeAPI` with `requestTimeout`, one try per request.
    func api(kubeconfig: String, context: String?) throws -> any KubeAPI {
        try makeKubeAPI(
            host: host, kubeconfigPath: kubeconfig, context: context, requestTimeout: requestTimeout, retry: .none)
    }

    /// One read through the Kubernetes API (LIST /api/v1/nodes), sorted by name.
    public static func readNodes(api: any KubeAPI) async throws -> [NodeState] {
        try await api.list(.nodes).map(NodeState.init(node:)).sorted { $0.name < $1.name }
    }

    /// Why a read failed, when it is worth reading again: the API server did not answer (or
    /// answered with an error), or the kubeconfig cannot be used yet. Nil for anything else
    /// (kubectl missing for an exec-plugin kubeconfig): that is thrown as it is.
    static func readFailure(_ error: any Error) -> String? {
        switch error {
        case let e as KubeAPIError: return e.description
        case let e as AphexError where e.status == .usage:
            return e.message + (e.detail.map { "\n" + $0 } ?? "")
        default: return nil
        }
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
        // One client for the whole wait (its connection is reused), made once the kubeconfig can be used.
        var client: (any KubeAPI)?
        while true {
            try Task.checkCancellation()
            polls += 1
            do {
                let api = try client ?? api(kubeconfig: kubeconfig, context: context)
                client = api
                let nodes = try await Self.readNodes(api: api)
                lastNodes = nodes
                lastError = nil
                if nodes.count >= expectedNodes && nodes.allSatisfy(\.ready) {
                    return NodeWaitResult(nodes: nodes, seconds: (host.clock.now() - start).seconds)
                }
            } catch {
                guard let failure = Self.readFailure(error) else { throw error }
                lastError = failure
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
            Kubectl(kubeconfig: kubeconfig, context: context, runner: runner).argv(["describe", "nodes"]))
        let names = notReady.isEmpty ? "" : " (not Ready: \(notReady.map(\.name).joined(separator: ", ")))"
        return AphexError.timeout(
            """
            Timed out after \(formatDuration(timeout)) waiting for the API server and nodes of \(what) to be \
            Ready\(names). Inspect with `\(inspect)`, then re-run with a longer --timeout.
            """,
            detail: detail.joined(separator: "\n"))
    }
}
