import ClusterDrivers
import Foundation

/// What `destroy --use-existing` removes: only what aphex created, never the cluster.
enum ExistingClusterTeardown {
    static let partOf = "app.kubernetes.io/part-of in (argocd,tekton-pipelines,tekton-triggers,tekton-dashboard)"
    static let clusterScopedKinds = ["customresourcedefinitions", "clusterroles", "clusterrolebindings",
                                     "mutatingwebhookconfigurations", "validatingwebhookconfigurations"]

    /// The kubectl argvs, in order: platform-root first (its finalizer makes ArgoCD delete the
    /// children while ArgoCD still runs), then ArgoCD's and Tekton's cluster-scoped objects,
    /// then the namespaces aphex created (labelled managed-by=aphex) and Tekton's resolvers namespace.
    static func commands(_ kubectl: Kubectl) -> [[String]] {
        var cmds: [[String]] = [
            kubectl.argv(["delete", "applications.argoproj.io", "platform-root", "-n", "argocd", "--ignore-not-found", "--wait=false"]),
        ]
        for kind in clusterScopedKinds {
            cmds.append(kubectl.argv(["delete", kind, "-l", partOf, "--ignore-not-found", "--wait=false"]))
        }
        cmds.append(kubectl.argv(["delete", "namespaces", "-l", "\(managedByLabel.0)=\(managedByLabel.1)", "--ignore-not-found", "--wait=false"]))
        cmds.append(kubectl.argv(["delete", "namespaces", "-l", "app.kubernetes.io/part-of=tekton-pipelines", "--ignore-not-found", "--wait=false"]))
        return cmds
    }
}

extension Commands {
    public static func destroy(_ ctx: AppContext, _ options: DestroyOptions) async throws -> ExitStatus {
        try await destroy(ctx, options, makeAPI: defaultMakeAPI, readLine: { Swift.readLine() })
    }

    public static func destroy(_ ctx: AppContext, _ options: DestroyOptions,
                               makeAPI: @escaping @Sendable (HostContext, String, String?) throws -> any KubeAPI,
                               readLine: () -> String?) async throws -> ExitStatus {
        let name = ctx.target.clusterName
        let what: String
        if options.useExisting {
            what = "platform-root (and the Applications it owns), ArgoCD, Tekton and the namespaces aphex created on the cluster of \(ctx.resolvedKubeconfig()) — the cluster itself is kept"
        } else {
            let deployment = try destroyDeployment(ctx, options)
            what = deployment == .kind ? "the kind cluster '\(name)' and everything in it"
                                       : "k3s on this host (k3s-uninstall.sh) and everything in it"
        }
        if options.dryRun {
            ctx.output.write("Would remove \(what).\n")
            if options.useExisting {
                let kubectl = Kubectl(kubeconfig: ctx.resolvedKubeconfig(), context: ctx.target.context, runner: ctx.runner)
                for argv in ExistingClusterTeardown.commands(kubectl) { ctx.output.write("  $ \(Shell.quote(argv))\n") }
            }
            return .ok
        }
        if !options.yes {
            guard options.stdinIsTTY else {
                throw AphexError.usage("`aphex destroy` removes \(what). It asks for confirmation, but stdin is not a terminal: re-run with --yes to confirm non-interactively.")
            }
            FileHandle.standardError.write(Data("""
                This removes \(what).
                The generated credentials go with it: keep them first with
                  aphex secrets export --file ~/aphex-secrets-\(name).json\(ctx.target.clusterName == "platform-cluster" ? "" : " --cluster-name \(name)")
                (rebuild later with `aphex bootstrap --secrets-from FILE`).
                Type the cluster name '\(name)' to confirm: 
                """.utf8))
            guard readLine()?.trimmingCharacters(in: .whitespaces) == name else {
                ctx.reporter.info("Not confirmed; nothing was removed.")
                return .failed
            }
        }
        if options.useExisting {
            try await teardownExisting(ctx, makeAPI: makeAPI)
        } else {
            try await destroyCluster(ctx, deployment: try destroyDeployment(ctx, options))
        }
        ctx.output.write("Removed \(what).\n")
        return .ok
    }

    static func destroyDeployment(_ ctx: AppContext, _ options: DestroyOptions) throws -> Deployment {
        if let d = options.deployment { return d }
        if let d = recordedDeployment(ctx.host, clusterName: ctx.target.clusterName) { return d }
        throw AphexError.usage("aphex has no record of a cluster named '\(ctx.target.clusterName)' (\(ctx.host.clusterDirectory(ctx.target.clusterName))). Pass --deployment kind|k3s to say what to remove, or --cluster-name for another cluster.")
    }

    static func teardownExisting(_ ctx: AppContext,
                                 makeAPI: @escaping @Sendable (HostContext, String, String?) throws -> any KubeAPI) async throws {
        let kubeconfig = ctx.resolvedKubeconfig()
        let kubectl = Kubectl(kubeconfig: kubeconfig, context: ctx.target.context, runner: ctx.runner)
        let commands = ExistingClusterTeardown.commands(kubectl)
        let clock = ctx.host.clock
        // 1. platform-root, then wait (bounded) for ArgoCD to finish the cascade.
        ctx.reporter.emit(.stepStarted(id: "platform-root", title: "Deleting platform-root and its Applications"))
        let start = clock.now()
        _ = try await ctx.runner.run(Command(commands[0], timeout: .seconds(60)))
        let api = try makeAPI(ctx.host, kubeconfig, ctx.target.context)
        let deadline = start + .seconds(300)
        var gone = false
        while clock.now() < deadline {
            do {
                if try await api.get(.applications, namespace: "argocd", name: "platform-root") == nil { gone = true; break }
            } catch {
                // transient API error: try again
            }
            try await clock.sleep(for: .seconds(1))
        }
        ctx.reporter.emit(.stepFinished(id: "platform-root", title: "Deleting platform-root and its Applications",
                                        outcome: gone ? .done : .failed, seconds: (clock.now() - start).seconds,
                                        detail: gone ? nil : "still present after 5m; continuing (check ArgoCD's application-controller)"))
        // 2. cluster-scoped objects and namespaces.
        ctx.reporter.emit(.stepStarted(id: "components", title: "Deleting ArgoCD, Tekton and aphex's namespaces"))
        let start2 = clock.now()
        for argv in commands.dropFirst() {
            _ = try await ctx.runner.run(Command(argv, timeout: .seconds(120)))
        }
        ctx.reporter.emit(.stepFinished(id: "components", title: "Deleting ArgoCD, Tekton and aphex's namespaces",
                                        outcome: .done, seconds: (clock.now() - start2).seconds, detail: nil))
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
