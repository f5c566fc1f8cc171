import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension Commands {
    // MARK: kind

    public static func kindCreate(_ ctx: AppContext, _ options: KindOptions, timeout: Duration, dryRun: Bool) async throws -> ExitStatus {
        let driver = KindDriver(host: ctx.host, spec: ClusterStep.kindSpec(name: ctx.target.clusterName, options, timeout: timeout))
        if dryRun {
            writePlan(ctx, "kind create: cluster \(driver.clusterName)", driver.planEnsure())
            return .ok
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex kind create")
        defer { lock.release() }
        let access = try await driver.ensureCluster()
        writeAccess(ctx, access)
        return .ok
    }

    public static func kindDelete(_ ctx: AppContext, dryRun: Bool, yes: Bool = false, force: Bool = false) async throws -> ExitStatus {
        try await kindDelete(ctx, dryRun: dryRun, yes: yes, force: force, confirm: StdinConfirmer())
    }

    /// With an injectable confirmation (tests). Refuses (exit 2) a cluster aphex did not create
    /// unless `force`; asks before deleting unless `yes` (exit 2 without a terminal).
    public static func kindDelete(_ ctx: AppContext, dryRun: Bool, yes: Bool, force: Bool,
                                  confirm: any Confirmer) async throws -> ExitStatus {
        let driver = KindDriver(host: ctx.host, spec: KindClusterSpec(name: ctx.target.clusterName))
        if dryRun {
            var plan = driver.planDelete()
            if let note = adoptedNote(ctx, deployment: .kind) { plan.insert(PlannedAction(note), at: 0) }
            writePlan(ctx, "kind delete: cluster \(driver.clusterName)", plan)
            return .ok
        }
        try await requireCreatedByAphex(ctx, deployment: .kind, force: force, command: "kind delete")
        if !yes {
            try await driver.requireAvailablePublic()
            if try await driver.listClusters().contains(driver.clusterName) {
                guard confirm.isInteractive else {
                    throw AphexError.usage("`aphex kind delete` deletes the kind cluster '\(driver.clusterName)' and everything in it. Nothing was changed. Confirm with --yes (stdin is not a terminal, so aphex cannot ask).")
                }
                guard confirm.ask("Delete the kind cluster '\(driver.clusterName)' and everything in it (workloads, volumes, the platform's generated credentials)? Type 'yes' to continue: ") else {
                    throw AphexError.usage("Not confirmed; nothing was changed.")
                }
            }
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex kind delete")
        defer { lock.release() }
        let existed = try await driver.delete()
        writeDeletion(ctx, driver: "kind", name: driver.clusterName, existed: existed, directory: ctx.host.clusterDirectory(driver.clusterName))
        return .ok
    }

    /// `kind get clusters`, each marked when aphex manages it (has ~/.aphex/clusters/NAME/cluster.json).
    public static func kindList(_ ctx: AppContext) async throws -> ExitStatus {
        let driver = KindDriver(host: ctx.host, spec: KindClusterSpec(name: ctx.target.clusterName))
        try await driver.requireAvailablePublic()
        let names = try await driver.listClusters()
        var rows: [(name: String, record: ClusterRecord?, exists: Bool)] = names.sorted().map { name in
            let r = ClusterRecord.load(ctx.host, name: name)
            return (name, r?.deployment == "kind" ? r : nil, true)
        }
        // aphex records whose kind cluster is gone (deleted with `kind delete` directly)
        let dir = ctx.host.homeDirectory + "/.aphex/clusters"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() where !names.contains(name) {
            if let r = ClusterRecord.load(ctx.host, name: name), r.deployment == "kind" { rows.append((name, r, false)) }
        }
        if ctx.format == .json {
            ctx.writeJSON(.object(["clusters": .array(rows.map { row in
                .object([
                    "name": .string(row.name),
                    "exists": .bool(row.exists),
                    "managed": .bool(row.record != nil),
                    "kubeconfig": row.record.map { .string($0.kubeconfig) } ?? .null,
                    "context": .string("kind-\(row.name)"),
                    "createdAt": row.record.map { .string(RFC3339.format($0.createdAt)) } ?? .null,
                ])
            })]))
            return .ok
        }
        if rows.isEmpty {
            ctx.output.write("No kind clusters found.\n")
            return .ok
        }
        let width = max(4, rows.map(\.name.count).max() ?? 0)
        var text = pad("NAME", width) + "  APHEX  KUBECONFIG\n"
        for row in rows {
            text += pad(row.name, width) + "  " + pad(row.record == nil ? "no" : "yes", 5) + "  "
                + (row.record?.kubeconfig ?? "-") + (row.exists ? "" : "  (cluster gone: `aphex kind delete --cluster-name \(row.name)` removes the record)") + "\n"
        }
        ctx.output.write(text)
        return .ok
    }

    // MARK: k3s

    public static func k3sInstall(_ ctx: AppContext, _ options: K3sOptions, timeout: Duration, dryRun: Bool) async throws -> ExitStatus {
        let file = try options.componentsFile.map { try ComponentsFile.load(path: $0) }
        let driver = K3sDriver(host: ctx.host, spec: ClusterStep.k3sSpec(
            name: ctx.target.clusterName, options, timeout: timeout, componentsFile: file,
            requirePinned: PinPolicy.required(flag: options.requirePinned, environment: ctx.host.environment)))
        if dryRun {
            writePlan(ctx, "k3s install (cluster name \(driver.clusterName))", driver.planEnsure())
            return .ok
        }
        try driver.requireRoot()  // exit 4 before anything is written, the lock file included
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex k3s install")
        defer { lock.release() }
        let access = try await driver.ensureCluster()
        writeAccess(ctx, access)
        return .ok
    }

    public static func k3sUninstall(_ ctx: AppContext, yes: Bool, dryRun: Bool) async throws -> ExitStatus {
        try await k3sUninstall(ctx, yes: yes, dryRun: dryRun, confirm: StdinConfirmer())
    }

    /// With an injectable confirmation (tests).
    public static func k3sUninstall(_ ctx: AppContext, yes: Bool, dryRun: Bool, confirm: any Confirmer) async throws -> ExitStatus {
        let driver = K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: ctx.target.clusterName))
        if !driver.isInstalledForUninstall, K3sAgent.isAgent(driver.paths) {
            // This machine is an agent (`aphex k3s join`): remove it the same way.
            return try await k3sAgentUninstall(ctx, paths: driver.paths, yes: yes, dryRun: dryRun, confirm: confirm)
        }
        if dryRun {
            writePlan(ctx, "k3s uninstall", driver.planDelete())
            return .ok
        }
        if ctx.host.effectiveUID != 0 {
            throw AphexError.prerequisite("Uninstalling k3s removes a system service and /var/lib/rancher, so it must run as root: `sudo aphex k3s uninstall --yes`.")
        }
        if !yes && driver.isInstalledForUninstall {
            guard confirm.isInteractive else {
                throw AphexError.usage("`aphex k3s uninstall` deletes k3s and every workload and volume on it. Nothing was changed. Confirm with --yes (stdin is not a terminal, so aphex cannot ask).")
            }
            guard confirm.ask("Uninstall k3s and delete every workload and volume on this host? Type 'yes' to continue: ") else {
                throw AphexError.usage("Not confirmed; nothing was changed.")
            }
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: ctx.target.clusterName, command: "aphex k3s uninstall")
        defer { lock.release() }
        let existed = try await driver.delete()
        writeDeletion(ctx, driver: "k3s", name: driver.clusterName, existed: existed, directory: driver.clusterDirectory)
        return .ok
    }

    /// Installed / running / node Ready. Exit 0 when k3s is installed and its node is Ready, 1 otherwise.
    public static func k3sStatus(_ ctx: AppContext) async throws -> ExitStatus {
        let driver = K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: ctx.target.clusterName))
        let d = try await driver.describe()
        if ctx.format == .json {
            var j = d.json
            j["installed"] = .bool(d.exists)
            j["running"] = .bool(d.apiReachable)
            j["ready"] = .bool(d.healthy)
            ctx.writeJSON(j)
        } else {
            var lines = ["k3s:"]
            lines.append("  installed:  " + (d.exists ? "yes (\(d.details["version"] ?? d.details["binary"] ?? ""))" : "no"))
            lines.append("  running:    " + (d.apiReachable ? "yes (API server answers)" : d.exists ? "no" : "-"))
            lines.append("  node Ready: " + (d.nodes.isEmpty ? "-" : d.nodes.map { "\($0.name) \($0.ready ? "Ready" : "NotReady")" }.joined(separator: ", ")))
            lines.append("  kubeconfig: " + (d.kubeconfig ?? "- (run `sudo aphex k3s install` to copy it)"))
            if let p = d.problem { lines.append("  problem:    " + p) }
            ctx.output.write(lines.joined(separator: "\n") + "\n")
        }
        return d.healthy ? .ok : .failed
    }

    // MARK: output

    static func writePlan(_ ctx: AppContext, _ title: String, _ plan: [PlannedAction]) {
        if ctx.format == .json {
            ctx.writeJSON(.object(["dryRun": .bool(true), "title": .string(title), "actions": .array(plan.map(\.json))]))
            return
        }
        var text = "Plan for \(title) (dry run: nothing was run or changed):\n"
        for (i, a) in plan.enumerated() {
            text += "  \(i + 1). " + a.text.replacingOccurrences(of: "\n", with: "\n   ") + "\n"
        }
        ctx.output.write(text)
    }

    static func writeAccess(_ ctx: AppContext, _ a: ClusterAccess) {
        if ctx.format == .json { ctx.writeJSON(a.json); return }
        let what: String
        switch a.outcome {
        case .created: what = "created in \(formatDuration(.milliseconds(Int64(a.seconds * 1000))))" + (a.nodesReadySeconds.map { "; nodes Ready after \(formatDuration(.milliseconds(Int64($0 * 1000))))" } ?? "")
        case .reused: what = "already existed and is healthy: reused (nothing changed)"
        case .existing: what = "reachable, permissions verified"
        case .planned: what = "planned"
        }
        var lines = ["\(a.driver) cluster \(a.clusterName) \(what)."]
        lines.append("  kubeconfig: \(a.kubeconfig)")
        if let c = a.context { lines.append("  context:    \(c)") }
        if !a.nodes.isEmpty {
            lines.append("  nodes:      " + a.nodes.map { "\($0.name) (\($0.ready ? "Ready" : "NotReady"))" }.joined(separator: ", "))
        }
        lines.append("Use it: export KUBECONFIG=\(Shell.quote(a.kubeconfig))   or: aphex status --cluster-name \(a.clusterName)")
        ctx.output.write(lines.joined(separator: "\n") + "\n")
    }

    static func writeDeletion(_ ctx: AppContext, driver: String, name: String, existed: Bool, directory: String) {
        if ctx.format == .json {
            ctx.writeJSON(.object(["driver": .string(driver), "clusterName": .string(name), "deleted": .bool(existed),
                                   "removedDirectory": .string(directory)]))
            return
        }
        ctx.output.write(existed ? "\(driver) cluster \(name) deleted; removed \(directory).\n"
                                 : "No \(driver) cluster \(name) to delete; nothing changed in \(driver).\n")
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

/// Asks the user a yes/no question (k3s uninstall).
public protocol Confirmer: Sendable {
    var isInteractive: Bool { get }
    func ask(_ prompt: String) -> Bool
}

/// Reads the answer from stdin when it is a terminal; the prompt goes to stderr.
public struct StdinConfirmer: Confirmer {
    public init() {}
    public var isInteractive: Bool { isatty(0) == 1 }
    public func ask(_ prompt: String) -> Bool {
        FileHandle.standardError.write(Data(prompt.utf8))
        guard let line = readLine() else { return false }
        return line.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
    }
}

extension KindDriver {
    /// The `kind version` probe as an error (exit 4) when kind is missing.
    func requireAvailablePublic() async throws {
        let a = await isAvailable()
        if !a.available { throw AphexError.prerequisite(a.reason ?? "kind is not available") }
    }
}

extension K3sDriver {
    var isInstalledForUninstall: Bool { FileManager.default.fileExists(atPath: paths.k3sUninstallScript) }
}
