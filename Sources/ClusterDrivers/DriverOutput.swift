import AphexCore
import Foundation

// The documented JSON shapes of the drivers' results (docs/drivers.md, "JSON output"): what
// `kind create`, `k3s install`, `k3s status`, `k3s join` and every `--dry-run` print with
// `--output json`. Fields documented as null are encoded as null when unknown.

extension NodeCondition: Encodable {
    enum CodingKeys: String, CodingKey { case type, status, reason, message }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(status, forKey: .status)
        try c.encode(reason, forKey: .reason)
        try c.encode(message, forKey: .message)
    }
}

extension NodeState: Encodable {
    enum CodingKeys: String, CodingKey { case name, ready, roles, kubeletVersion, conditions }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(ready, forKey: .ready)
        try c.encode(roles, forKey: .roles)
        try c.encode(kubeletVersion, forKey: .kubeletVersion)
        try c.encode(conditions, forKey: .conditions)
    }
}

extension ClusterAccess: Encodable {
    enum CodingKeys: String, CodingKey {
        case driver, clusterName, kubeconfig, context, outcome, seconds, nodesReadySeconds, nodes
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(driver, forKey: .driver)
        try c.encode(clusterName, forKey: .clusterName)
        try c.encode(kubeconfig, forKey: .kubeconfig)
        try c.encode(context, forKey: .context)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(roundMillis(seconds), forKey: .seconds)
        try c.encode(nodesReadySeconds.map(roundMillis), forKey: .nodesReadySeconds)
        try c.encode(nodes, forKey: .nodes)
    }
}

extension ClusterDescription: Encodable {
    enum CodingKeys: String, CodingKey {
        case driver, clusterName, exists, managed, kubeconfig, context, apiReachable, healthy, nodes, details, problem
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(driver, forKey: .driver)
        try c.encode(clusterName, forKey: .clusterName)
        try c.encode(exists, forKey: .exists)
        try c.encode(managed, forKey: .managed)
        try c.encode(kubeconfig, forKey: .kubeconfig)
        try c.encode(context, forKey: .context)
        try c.encode(apiReachable, forKey: .apiReachable)
        try c.encode(healthy, forKey: .healthy)
        try c.encode(nodes, forKey: .nodes)
        try c.encode(details, forKey: .details)
        try c.encode(problem, forKey: .problem)
    }
}

/// `{"summary", "argv", "command", "environment", "stdin"}`; the last four only for a command,
/// `environment` only when it sets variables, `stdin` only when it has one.
extension PlannedAction: Encodable {
    enum CodingKeys: String, CodingKey { case summary, argv, command, environment, stdin }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(summary, forKey: .summary)
        guard let command else { return }
        try c.encode(command.argv, forKey: .argv)
        try c.encode(command.display, forKey: .command)
        if !command.environment.isEmpty { try c.encode(command.environment, forKey: .environment) }
        try c.encodeIfPresent(command.stdin.map { String(decoding: $0, as: UTF8.self) }, forKey: .stdin)
    }
}

extension K3sAgent.Result: Encodable {
    enum CodingKeys: String, CodingKey { case outcome, server, node, seconds }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(outcome.rawValue, forKey: .outcome)
        try c.encode(server, forKey: .server)
        try c.encode(node, forKey: .node)
        try c.encode((seconds * 1000).rounded() / 1000, forKey: .seconds)
    }
}
