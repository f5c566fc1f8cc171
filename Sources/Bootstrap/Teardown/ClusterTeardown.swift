import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `aphex destroy`: deletes the kind cluster or uninstalls k3s (only one aphex created,
/// issue 14.2), or with `--use-existing` only the objects aphex recorded creating
/// (`ExistingTeardown`).
public enum ClusterTeardown {
    /// `readLine` reads the typed confirmation (stdin in production).
    public static func destroy(
        _ ctx: AppContext, _ options: DestroyOptions,
        readLine: () -> String? = { Swift.readLine() }
    ) async throws -> ExitStatus {
        if options.useExisting {
            return try await destroyExisting(ctx, options, readLine: readLine)
        }
        let name = ctx.target.clusterName
        let deployment = try destroyDeployment(ctx, options)
        let what =
            deployment == .kind
            ? "the kind cluster '\(name)' and everything in it"
            : "k3s on this host (k3s-uninstall.sh) and everything in it"
        if options.dryRun {
            ctx.output.write("Would remove \(what).\n")
            if let note = adoptedNote(ctx, deployment: deployment) { ctx.output.write(note + "\n") }
            return .ok
        }
        // Only a cluster aphex created (issue 14.2): an adopted one is someone else's.
        try await requireCreatedByAphex(ctx, deployment: deployment, force: options.force, command: "destroy")
        if !options.yes {
            guard options.stdinIsTTY else {
                throw AphexError.usage(
                    """
                    `aphex destroy` removes \(what). It asks for confirmation, but stdin is not a terminal: \
                    re-run with --yes to confirm non-interactively.
                    """
                )
            }
            let nameFlag = ctx.target.clusterName == "platform-cluster" ? "" : " --cluster-name \(name)"
            FileHandle.standardError.write(
                Data(
                    """
                    This removes \(what).
                    The generated credentials go with it: keep them first with
                      aphex secrets export --file \
                    ~/aphex-secrets-\(name).json\(nameFlag)
                    (rebuild later with `aphex bootstrap --secrets-from FILE`).
                    Type the cluster name '\(name)' to confirm: 
                    """.utf8))
            guard readLine()?.trimmingCharacters(in: .whitespaces) == name else {
                ctx.reporter.info("Not confirmed; nothing was removed.")
                return .failed
            }
        }
        let lock = try await ClusterLock.acquire(ctx.host, name: name, command: "aphex destroy")
        defer { lock.release() }
        try await destroyCluster(ctx, deployment: deployment)
        ctx.output.write("Removed \(what).\n")
        return .ok
    }

    static func destroyDeployment(_ ctx: AppContext, _ options: DestroyOptions) throws -> Deployment {
        if let d = options.deployment { return d }
        if let d = recordedDeployment(userHost(ctx.host), clusterName: ctx.target.clusterName) { return d }
        throw AphexError.usage(
            """
            aphex has no record of a cluster named '\(ctx.target.clusterName)' \
            (\(userHost(ctx.host).clusterDirectory(ctx.target.clusterName))). Pass --deployment kind|k3s to say \
            what to remove, or --cluster-name for another cluster.
            """
        )
    }

    // MARK: only what aphex created (issue 14.2)

    /// The host whose ~/.aphex holds aphex's records (the invoking user's under sudo).
    static func userHost(_ host: HostContext) -> HostContext {
        var h = host
        h.homeDirectory = host.invokingUserHome
        return h
    }

    /// For --dry-run: a note when aphex's record says it did not create the cluster.
    package static func adoptedNote(_ ctx: AppContext, deployment: Deployment) -> String? {
        guard let r = ClusterRecord.load(userHost(ctx.host), name: ctx.target.clusterName), !r.createdByAphex else {
            return nil
        }
        return
            """
            Note: aphex did not create this \(deployment.rawValue) cluster (it adopted one that already existed): \
            the real run refuses unless --force is given.
            """
    }

    /// Refuses (exit 2, nothing changed) to delete a cluster aphex did not create, unless
    /// `force`. A cluster that does not exist is fine (only aphex's leftover record goes).
    package static func requireCreatedByAphex(_ ctx: AppContext, deployment: Deployment, force: Bool, command: String)
        async throws
    {
        let name = ctx.target.clusterName
        let host = userHost(ctx.host)
        let record = ClusterRecord.load(host, name: name)
        if let record, record.createdByAphex, record.deployment == deployment.rawValue { return }
        let exists: Bool
        switch deployment {
        case .kind:
            let driver = KindDriver(host: ctx.host, spec: KindClusterSpec(name: name))
            try await driver.requireAvailablePublic()
            exists = try await driver.listClusters().contains(name)
        case .k3s:
            exists = K3sDriver(host: ctx.host, spec: K3sInstallSpec(name: name)).isInstalledForUninstall
        }
        guard exists else { return }
        let thing = deployment == .kind ? "the kind cluster '\(name)'" : "k3s on this host"
        if force {
            ctx.reporter.warn("--force: deleting \(thing), which aphex did not create.")
            return
        }
        let why =
            record.map { r in
                r.deployment == deployment.rawValue
                    ? """
                    it already existed when aphex first used it, so aphex only adopted it \
                    (\(ClusterRecord.path(host, name: name)) says createdByAphex: false)
                    """
                    : "aphex's record for '\(name)' is of a \(r.deployment) cluster"
            } ?? "aphex has no record of creating it (no \(ClusterRecord.path(host, name: name)))"
        let existing =
            deployment == .kind
            ? """
            `aphex destroy --use-existing --kubeconfig \(host.kubeconfigPath(forCluster: name)) --context \
            kind-\(name)`
            """
            : "`aphex destroy --use-existing --kubeconfig \(host.kubeconfigPath(forCluster: name))`"
        throw AphexError.usage(
            """
            aphex did not create \(thing): \(why). `aphex \(command)` deletes only clusters aphex created, so \
            nothing was deleted. To remove only what aphex installed on it, run \(existing); to delete the whole \
            cluster anyway, re-run with --force.
            """
        )
    }

    // MARK: --use-existing (issues 14.1 and 17)

    static func destroyExisting(
        _ ctx: AppContext, _ options: DestroyOptions,
        readLine: () -> String?
    ) async throws -> ExitStatus {
        let kubeconfig = ctx.resolvedKubeconfig()
        let endpoint = try Kubeconfig.load(path: kubeconfig).resolve(context: ctx.target.context)
        let api = try ctx.makeKubeAPI(ctx.host, endpoint)
        let at = "the cluster at \(endpoint.server) (context \(endpoint.contextName))"
        let recorded: [OwnedObject]?
        do {
            recorded = try await OwnershipRecord.read(api: api)
        } catch let e as KubeAPIError {
            throw AphexError.failed(
                """
                Could not read aphex's record of what it created on \(at) (ConfigMap \
                \(OwnershipRecord.namespace)/\(OwnershipRecord.name)): \(e). Nothing was deleted. Check that the \
                cluster is reachable with this kubeconfig and context.
                """
            )
        }
        guard let recorded, !recorded.isEmpty else {
            ctx.output.write(
                """
                Nothing to remove from \(at): it has no record of objects aphex created \
                (ConfigMap \(OwnershipRecord.namespace)/\(OwnershipRecord.name)). Either `aphex destroy \
                --use-existing` \
                already removed them, or aphex did not bootstrap this cluster. Nothing was deleted.

                """)
            return .ok
        }
        let plan = ExistingTeardown.order(recorded)
        let summary = ExistingTeardown.summary(recorded)
        if options.dryRun {
            var text =
                """
                Would remove from \(at) the \(recorded.count) objects aphex created (\(summary)), in this order, \
                and nothing else:\n
                """
            for o in plan.flatMap({ $0 }) {
                text += "  \(o.display)\(o.isNamespace ? " (with everything in it)" : "")\n"
            }
            text +=
                """
                Objects that existed before aphex are kept. The record itself \
                (\(OwnershipRecord.namespace)/\(OwnershipRecord.name)) goes last.\n
                """
            ctx.output.write(text)
            return .ok
        }
        if !options.yes {
            guard options.stdinIsTTY else {
                throw AphexError.usage(
                    """
                    `aphex destroy --use-existing` removes what aphex created on \(at). It asks for confirmation, \
                    but stdin is not a terminal: re-run with --yes to confirm non-interactively.
                    """
                )
            }
            var export = ["aphex", "secrets", "export", "--file", "FILE"]
            if let k = ctx.target.kubeconfig { export += ["--kubeconfig", k] }
            if let c = ctx.target.context { export += ["--context", c] }
            FileHandle.standardError.write(
                Data(
                    """
                    This removes what aphex created on \(at)
                    (kubeconfig \(kubeconfig)): \(recorded.count) objects: \(summary).
                    ArgoCD deletes platform-root's Applications first. Objects that existed before aphex
                    are kept, and so is the cluster. The generated credentials go with it: keep them first
                    with `\(Shell.quote(export))`.
                    Type the context name '\(endpoint.contextName)' to confirm: 
                    """.utf8))
            guard readLine()?.trimmingCharacters(in: .whitespaces) == endpoint.contextName else {
                ctx.reporter.info("Not confirmed; nothing was removed.")
                return .failed
            }
        }
        let lock = try await ClusterLock.acquire(
            ctx.host, name: ctx.target.clusterName, command: "aphex destroy --use-existing")
        defer { lock.release() }
        // Read again under the lock: a bootstrap that held it may have recorded more.
        let current = (try await OwnershipRecord.read(api: api)) ?? []
        let teardown = ExistingTeardown(
            ctx: ctx, api: api, objects: current, timeout: options.timeout,
            removeFinalizers: options.removeFinalizers,
            rerun: resumeDestroyCommand(ctx, options))
        let result: ExistingTeardown.Result
        do {
            result = try await teardown.run()
        } catch is CancellationError {
            throw teardown.interrupted()
        } catch let e as AphexError where e.status == .interrupted {
            throw e
        } catch {
            if Task.isCancelled { throw teardown.interrupted() }
            throw error
        }
        var text =
            """
            Removed what aphex created on \(at): \(result.removed) object\(result.removed == 1 ? "" : "s"); the \
            cluster itself is kept.\n
            """
        for k in result.kept { text += "Kept \(k)\n" }
        ctx.output.write(text)
        return .ok
    }

    /// The command line that re-runs this destroy (to resume it).
    static func resumeDestroyCommand(_ ctx: AppContext, _ o: DestroyOptions) -> String {
        var argv = ["aphex", "destroy", "--use-existing"]
        if ctx.target.clusterName != "platform-cluster" { argv += ["--cluster-name", ctx.target.clusterName] }
        if let k = ctx.target.kubeconfig { argv += ["--kubeconfig", k] }
        if let c = ctx.target.context { argv += ["--context", c] }
        if o.timeout != .seconds(300) { argv += ["--timeout", formatDuration(o.timeout)] }
        argv.append("--yes")
        return Shell.quote(argv)
    }
}

/// The deployment aphex recorded when it created the cluster (~/.aphex/clusters/NAME/cluster.json).
func recordedDeployment(_ host: HostContext, clusterName: String) -> Deployment? {
    ClusterRecord.load(host, name: clusterName).flatMap { Deployment(rawValue: $0.deployment) }
}

/// Deletes the kind cluster or uninstalls k3s (the drivers do the work).
func destroyCluster(_ ctx: AppContext, deployment: Deployment) async throws {
    if try await !ClusterStep.destroy(ctx, deployment: deployment) {
        ctx.reporter.info("There was no \(deployment.rawValue) cluster '\(ctx.target.clusterName)' to remove.")
    }
}

extension KindDriver {
    /// The `kind version` probe as an error (exit 4) when kind is missing.
    package func requireAvailablePublic() async throws {
        let a = await isAvailable()
        if !a.available { throw AphexError.prerequisite(a.reason ?? "kind is not available") }
    }
}

extension K3sDriver {
    /// k3s-uninstall.sh exists: there is a k3s server install to remove.
    package var isInstalledForUninstall: Bool { FileManager.default.fileExists(atPath: paths.k3sUninstallScript) }
}
