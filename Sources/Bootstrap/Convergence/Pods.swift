import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// What is wrong with one pod, for a diagnosis.
public struct PodReport: Sendable, Codable, Equatable {
    public var namespace: String
    public var name: String
    /// status.phase (Pending, Running, ...)
    public var phase: String
    /// "ready/total" containers.
    public var ready: String
    public var restarts: Int
    /// The most telling waiting/termination reason (ImagePullBackOff, CrashLoopBackOff, Unschedulable, ...).
    public var reason: String?
    /// The image of the container with that reason (image-pull failures).
    public var image: String?
    public var container: String?
    /// The reason's message (kubelet's text, the scheduler's message).
    public var message: String?
    /// Last log lines of a crash-looping container.
    public var logTail: [String]?

    /// One line: "pod argocd/x-1: ImagePullBackOff, image quay.io/x:v1 (Back-off pulling image ...)".
    public var summary: String {
        var s = "pod \(namespace)/\(name): "
        if let reason {
            s += reason
            if let image, reason.contains("Image") || reason == "InvalidImageName" { s += ", image \(image)" }
            if reason == "CrashLoopBackOff" || restarts > 0 { s += ", \(restarts) restart\(restarts == 1 ? "" : "s")" }
        } else {
            s += "\(phase), \(ready) ready"
        }
        if let message, !message.isEmpty { s += " (\(message))" }
        return s
    }

    /// Running with every container ready, or finished successfully.
    public var isHealthy: Bool {
        if phase == "Succeeded" { return true }
        let parts = ready.split(separator: "/")
        return reason == nil && phase == "Running" && parts.count == 2 && parts[0] == parts[1]
    }
}

public enum Pods {
    /// Reads a Pod object into a report (pure).
    public static func describe(_ pod: JSON) -> PodReport {
        let st = pod["status"]
        let statuses = (st?["initContainerStatuses"]?.array ?? []) + (st?["containerStatuses"]?.array ?? [])
        let main = st?["containerStatuses"]?.array ?? []
        let readyCount = main.filter { $0["ready"]?.bool == true }.count
        let total = max(main.count, pod[path: "spec", "containers"]?.array?.count ?? 0)
        // Each count clamped (JSON.apiCount), the sum saturating: no server value can trap here.
        let restarts = statuses.reduce(0) { sum, s in
            let (r, overflow) = sum.addingReportingOverflow(Int(s["restartCount"]?.apiCount ?? 0))
            return overflow ? Int.max : r
        }
        var report = PodReport(
            namespace: pod.namespace ?? "", name: pod.name ?? "", phase: st?["phase"]?.string ?? "Unknown",
            ready: "\(readyCount)/\(total)", restarts: restarts)
        // Waiting reasons first (the container is not running), then bad terminations.
        let waiting = statuses.compactMap { cs -> (JSON, JSON)? in
            guard let w = cs[path: "state", "waiting"] else { return nil }
            return (cs, w)
        }
        let generic: Set<String> = ["ContainerCreating", "PodInitializing"]
        if let (cs, w) = waiting.first(where: { !generic.contains($0.1["reason"]?.string ?? "") }) ?? waiting.first {
            report.reason = w["reason"]?.string ?? "Waiting"
            report.message = w["message"]?.string
            report.image = cs["image"]?.string
            report.container = cs["name"]?.string
        }
        if report.reason == nil {
            for cs in statuses {
                if let term = cs[path: "state", "terminated"], (term["exitCode"]?.int ?? 0) != 0 {
                    report.reason = term["reason"]?.string ?? "Error"
                    report.message =
                        "exit code \(term["exitCode"]?.int ?? 0)" + (term["message"]?.string.map { ": \($0)" } ?? "")
                    report.container = cs["name"]?.string
                    report.image = cs["image"]?.string
                    break
                }
            }
        }
        if report.reason == nil, report.phase == "Pending" {
            let scheduled = (st?["conditions"]?.array ?? []).first { $0["type"]?.string == "PodScheduled" }
            if let scheduled, scheduled["status"]?.string == "False" {
                report.reason = scheduled["reason"]?.string ?? "Unschedulable"
                report.message = scheduled["message"]?.string
            } else {
                report.reason = "Pending"
                report.message = st?["message"]?.string
            }
        }
        if report.reason == nil, report.phase == "Failed" {
            report.reason = st?["reason"]?.string ?? "Failed"
            report.message = st?["message"]?.string
        }
        return report
    }

    /// `k=v,k2=v2` from a workload's spec.selector.matchLabels (nil when it has none).
    public static func selector(of workload: JSON) -> String? {
        let labels = workload[path: "spec", "selector", "matchLabels"]?.stringMap ?? [:]
        guard !labels.isEmpty else { return nil }
        return labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ",")
    }

    static let workloadRefs: [String: ResourceRef] = [
        "Deployment": .deployments, "StatefulSet": .statefulSets, "DaemonSet": .daemonSets, "Job": .jobs,
        "ReplicaSet": ResourceRef(group: "apps", version: "v1", resource: "replicasets", kind: "ReplicaSet")
    ]

    /// The pods behind one resource of an Application: the pod itself, or the pods matching a
    /// workload's selector (or owned by it when it has no matchLabels).
    public static func pods(behind kind: String, namespace: String, name: String, api: any KubeAPI) async throws
        -> [JSON]
    {
        if kind == "Pod" {
            return try await api.get(.pods, namespace: namespace, name: name).map { [$0] } ?? []
        }
        guard let ref = workloadRefs[kind], let workload = try await api.get(ref, namespace: namespace, name: name)
        else { return [] }
        if let sel = selector(of: workload) {
            return try await api.list(.pods, namespace: namespace, labelSelector: sel)
        }
        let all = try await api.list(.pods, namespace: namespace, labelSelector: nil)
        return all.filter { pod in
            (pod[path: "metadata", "ownerReferences"]?.array ?? []).contains { o in
                let owner = o["name"]?.string ?? ""
                return owner == name || owner.hasPrefix(name + "-")
            }
        }
    }

    /// The last `lines` log lines of a container (the previous instance's when the current one
    /// has not started).
    public static func logTail(api: any KubeAPI, namespace: String, pod: String, container: String?, lines: Int = 5)
        async -> [String]?
    {
        var base = "/api/v1/namespaces/\(namespace)/pods/\(pod)/log?tailLines=\(lines)"
        if let container { base += "&container=\(container)" }
        for path in [base, base + "&previous=true"] {
            guard let r = try? await api.request("GET", path: path, body: nil, contentType: nil) else { continue }
            if (200..<300).contains(r.status) {
                let text = r.text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                if !text.isEmpty { return Array(text.suffix(lines)) }
            }
        }
        return nil
    }
}
