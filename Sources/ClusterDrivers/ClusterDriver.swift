import AphexCore
import KubeClient
import Foundation

// MARK: - The driver protocol (kind's providers model: one interface, an availability probe each)

/// Whether a driver can work on this host, and if not, the fix.
public struct DriverAvailability: Sendable, Equatable {
    public var available: Bool
    /// Why not, with the fix ("kind was not found on PATH. Install it from ...").
    public var reason: String?

    public init(available: Bool, reason: String? = nil) {
        self.available = available
        self.reason = reason
    }
    public static let ok = DriverAvailability(available: true)
}

/// How `ensureCluster` got its cluster.
public enum ClusterOutcome: String, Sendable, Codable, Equatable {
    /// Created (or installed) by this run.
    case created
    /// Already there and healthy: reused, nothing changed.
    case reused
    /// A cluster aphex does not manage (`--use-existing`), verified reachable and permitted.
    case existing
    /// `--dry-run`: what would be used.
    case planned
}

/// What every later step needs to talk to the cluster.
public struct ClusterAccess: Sendable, Equatable {
    /// "kind", "k3s" or "existing".
    public var driver: String
    public var clusterName: String
    /// The kubeconfig file to use (aphex's own copy for kind/k3s).
    public var kubeconfig: String
    /// The context inside it; nil = the file's current context.
    public var context: String?
    public var outcome: ClusterOutcome
    /// Time ensureCluster took, seconds.
    public var seconds: Double
    /// Time from "cluster exists" until every node was Ready (nil when not waited).
    public var nodesReadySeconds: Double?
    public var nodes: [NodeState]

    public init(
        driver: String, clusterName: String, kubeconfig: String, context: String?,
        outcome: ClusterOutcome, seconds: Double = 0, nodesReadySeconds: Double? = nil,
        nodes: [NodeState] = []
    ) {
        self.driver = driver
        self.clusterName = clusterName
        self.kubeconfig = kubeconfig
        self.context = context
        self.outcome = outcome
        self.seconds = seconds
        self.nodesReadySeconds = nodesReadySeconds
        self.nodes = nodes
    }
}

/// A point-in-time view of a driver's cluster (`k3s status`, `aphex status`'s header).
public struct ClusterDescription: Sendable, Equatable {
    public var driver: String
    public var clusterName: String
    /// The cluster (or the k3s install) exists on this host.
    public var exists: Bool
    /// aphex has a record for it in ~/.aphex/clusters/NAME.
    public var managed: Bool
    public var kubeconfig: String?
    public var context: String?
    public var apiReachable: Bool
    public var nodes: [NodeState]
    /// Driver-specific facts (k3s version, kind node image, ...).
    public var details: [String: String]
    /// Why the API is not reachable, when it is not.
    public var problem: String?

    public init(
        driver: String, clusterName: String, exists: Bool, managed: Bool, kubeconfig: String? = nil,
        context: String? = nil, apiReachable: Bool = false, nodes: [NodeState] = [],
        details: [String: String] = [:], problem: String? = nil
    ) {
        self.driver = driver
        self.clusterName = clusterName
        self.exists = exists
        self.managed = managed
        self.kubeconfig = kubeconfig
        self.context = context
        self.apiReachable = apiReachable
        self.nodes = nodes
        self.details = details
        self.problem = problem
    }

    /// Healthy = exists, API answers, at least one node and every node Ready.
    public var healthy: Bool { exists && apiReachable && !nodes.isEmpty && nodes.allSatisfy(\.ready) }
}

/// One thing a driver would do (`--dry-run`). Commands carry their stdin (a kind config,
/// never a secret); file writes name the path and mode.
public struct PlannedAction: Sendable, Equatable {
    public var summary: String
    public var command: Command?

    public init(_ summary: String, command: Command? = nil) {
        self.summary = summary
        self.command = command
    }

    /// Human form: the summary, then `$ argv`, env and stdin indented.
    public var text: String {
        var lines = [summary]
        if let command {
            let env = command.environment.keys.sorted().map { "\($0)=\(Shell.quote(command.environment[$0]!))" }
            lines.append("    $ " + (env + [command.display]).joined(separator: " "))
            if let stdin = command.stdin {
                lines.append("    stdin:")
                for l in String(decoding: stdin, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                {
                    lines.append("      " + l)
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A cluster driver: kind, k3s or an existing cluster. Each ensures its cluster (reusing a
/// healthy one), deletes it, hands out its kubeconfig and describes it. All commands go
/// through `HostContext.runner`; all progress through its reporter.
public protocol ClusterDriver: Sendable {
    /// "kind", "k3s" or "existing".
    var driverName: String { get }
    var clusterName: String { get }
    /// Can this driver work here? (tools on PATH, root, ...). Runs at most a version probe.
    func isAvailable() async -> DriverAvailability
    /// Create or reuse the cluster, wait until its API and nodes are Ready, and return how to
    /// reach it. Throws `AphexError` (.usage broken cluster, .prerequisite, .timeout, .failed).
    func ensureCluster() async throws -> ClusterAccess
    /// Remove the cluster and aphex's directory for it. Returns false when there was nothing.
    @discardableResult
    func delete() async throws -> Bool
    /// The kubeconfig/context for the cluster as it is now (no changes made).
    func kubeconfig() async throws -> ClusterAccess
    /// A read-only health view.
    func describe() async throws -> ClusterDescription
    /// What `ensureCluster` would do, for --dry-run (runs nothing).
    func planEnsure() -> [PlannedAction]
    /// What `delete` would do, for --dry-run (runs nothing).
    func planDelete() -> [PlannedAction]
}

// MARK: - aphex's per-cluster record (~/.aphex/clusters/NAME/cluster.json)

/// The small metadata file next to each cluster's kubeconfig, so `status`, `destroy` and
/// `kind list` find a cluster by `--cluster-name` alone.
public struct ClusterRecord: Sendable, Equatable {
    public static let fileName = "cluster.json"

    public var name: String
    /// "kind" or "k3s".
    public var deployment: String
    public var createdAt: Date
    /// false when aphex adopted a cluster that already existed.
    public var createdByAphex: Bool
    public var kubeconfig: String
    public var context: String?
    /// kind: the user's kubeconfig was merged too (`kind delete` must clean it).
    public var mergedKubeconfig: Bool
    /// kind node image / k3s version.
    public var version: String?

    public init(
        name: String, deployment: String, createdAt: Date, createdByAphex: Bool, kubeconfig: String,
        context: String?, mergedKubeconfig: Bool = false, version: String? = nil
    ) {
        self.name = name
        self.deployment = deployment
        self.createdAt = createdAt
        self.createdByAphex = createdByAphex
        self.kubeconfig = kubeconfig
        self.context = context
        self.mergedKubeconfig = mergedKubeconfig
        self.version = version
    }

    public static func path(_ host: HostContext, name: String) -> String {
        host.clusterDirectory(name) + "/" + fileName
    }

    /// The record for NAME, or nil when aphex does not manage a cluster of that name.
    public static func load(_ host: HostContext, name: String) -> ClusterRecord? {
        guard let data = FileManager.default.contents(atPath: path(host, name: name)) else { return nil }
        return try? JSONDecoder().decode(ClusterRecord.self, from: data)
    }

    public func save(_ host: HostContext) throws {
        try PrivateFiles.write(
            Array((JSON.text(of: self, pretty: true) + "\n").utf8),
            to: ClusterRecord.path(host, name: name), owner: PrivateFiles.invokingUser(host.environment))
    }
}

/// The file's shape: `{"name", "deployment", "createdAt" (RFC 3339), "createdByAphex", "kubeconfig",
/// "context", "mergedKubeconfig", "version"}`, `null` for an unset context or version. Records
/// written by older aphex versions may lack createdAt, createdByAphex or mergedKubeconfig.
extension ClusterRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case name, deployment, createdAt, createdByAphex, kubeconfig, context, mergedKubeconfig, version
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        deployment = try c.decode(String.self, forKey: .deployment)
        kubeconfig = try c.decode(String.self, forKey: .kubeconfig)
        createdAt =
            (try? c.decodeIfPresent(String.self, forKey: .createdAt)).flatMap { $0.flatMap(RFC3339.parse) }
            ?? Date(timeIntervalSince1970: 0)
        createdByAphex = (try? c.decodeIfPresent(Bool.self, forKey: .createdByAphex)) ?? true
        context = try? c.decodeIfPresent(String.self, forKey: .context)
        mergedKubeconfig = (try? c.decodeIfPresent(Bool.self, forKey: .mergedKubeconfig)) ?? false
        version = try? c.decodeIfPresent(String.self, forKey: .version)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(deployment, forKey: .deployment)
        try c.encode(RFC3339.format(createdAt), forKey: .createdAt)
        try c.encode(createdByAphex, forKey: .createdByAphex)
        try c.encode(kubeconfig, forKey: .kubeconfig)
        try c.encode(context, forKey: .context)
        try c.encode(mergedKubeconfig, forKey: .mergedKubeconfig)
        try c.encode(version, forKey: .version)
    }
}

func roundMillis(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }

/// Times a step and reports it (kind's " ✓ Creating cluster" lines).
struct StepTimer {
    let host: HostContext
    let id: String
    let title: String
    let start: Duration

    init(_ host: HostContext, _ id: String, _ title: String) {
        self.host = host
        self.id = id
        self.title = title
        self.start = host.clock.now()
        host.reporter.emit(.stepStarted(id: id, title: title))
    }

    var elapsed: Double { (host.clock.now() - start).seconds }

    func finish(_ outcome: StepOutcome, _ detail: String? = nil) {
        host.reporter.emit(.stepFinished(id: id, title: title, outcome: outcome, seconds: elapsed, detail: detail))
    }

    /// Runs `body`; reports done (or the outcome it returns) or failed.
    func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let v = try await body()
            finish(.done)
            return v
        } catch {
            finish(.failed, firstLine(of: error))
            throw error
        }
    }
}

func firstLine(of error: any Error) -> String {
    let text = (error as? AphexError)?.message ?? String(describing: error)
    return String(text.split(separator: "\n").first ?? "")
}
