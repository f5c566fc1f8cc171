import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing
import TestSupport

/// `aphex destroy --use-existing` on a cluster that was in use before aphex (issues 14.1 and 17):
/// the built binary against scenarios blackbox-existing (ArgoCD processes finalizers; platform-root's
/// takes 2 s) and blackbox-existing-stuck (ArgoCD never processes a finalizer).
@Suite(.serialized) struct DestroyExistingBlackBoxTests {
    static func bootstrap(_ h: SimHarness) async throws -> SimHarness.RunResult {
        try await h.run(
            [
                "bootstrap", "--deployment", "kind", "--use-existing", "--manifests-dir", Lifecycle.manifestsDir,
                "--no-wait"
            ],
            timeout: 300)
    }

    static func object(_ h: SimHarness, _ kind: String, _ namespace: String?, _ name: String) throws -> JSON? {
        try h.objects().first { $0["kind"]?.string == kind && $0.namespace == namespace && $0.name == name }
    }

    /// Waits (wall clock) until `condition` holds on the world.
    static func waitUntil(_ h: SimHarness, seconds: Double = 30, _ condition: ([JSON]) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(try h.objects()) { return true }
            usleep(50_000)
        }
        return false
    }

    static let children = ["ingress-controller", "catalog", "controllers"]

    static func childrenExist(_ objects: [JSON]) -> Bool {
        children.allSatisfy { c in objects.contains { $0["kind"]?.string == "Application" && $0.name == c } }
    }

    static func describe(_ r: SimHarness.RunResult) -> String {
        "exit \(r.status) after \(Int(r.seconds))s\n--- stderr\n"
            + r.stderr.split(separator: "\n").suffix(40).joined(separator: "\n")
    }

    // MARK: 14.1

    @Test func destroyKeepsWhatExistedBeforeAphexAndRemovesWhatAphexCreated() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing")
        defer { h.stop() }
        let before = try #require(try Self.object(h, "Namespace", nil, "argocd"))
        let teamApp = try #require(try Self.object(h, "Application", "argocd", "team-app"))

        let boot = try await Self.bootstrap(h)
        #expect(boot.status == 0, "\(Self.describe(boot))")
        #expect(boot.stderr.contains("namespace argocd existed before aphex"), "\(Self.describe(boot))")
        // The argocd namespace was used as it was: never labelled.
        let argocd = try #require(try Self.object(h, "Namespace", nil, "argocd"))
        #expect(argocd.labels == before.labels, "aphex labelled a namespace it did not create: \(argocd.labels)")
        // aphex's record lists what it created, with uids, and nothing that was there before.
        let cm = try #require(try Self.object(h, "ConfigMap", "kube-system", "aphex-ownership"))
        let recorded = try JSON.parse(cm["data"]?["objects.json"]?.string ?? "[]").array ?? []
        func isRecorded(_ kind: String, _ ns: String?, _ name: String) -> Bool {
            recorded.contains {
                $0["kind"]?.string == kind && $0["namespace"]?.string == ns && $0["name"]?.string == name
            }
        }
        #expect(recorded.count > 50)
        #expect(
            recorded.allSatisfy { $0["uid"]?.string?.isEmpty == false },
            "every entry has its uid after a successful run")
        #expect(isRecorded("Application", "argocd", "platform-root"))
        #expect(isRecorded("Namespace", nil, "auth-system") && isRecorded("Secret", "auth-system", "dex-secrets"))
        #expect(
            isRecorded("Deployment", "argocd", "argocd-server")
                && isRecorded("CustomResourceDefinition", nil, "appprojects.argoproj.io"))
        #expect(!isRecorded("Namespace", nil, "argocd"))
        #expect(!isRecorded("CustomResourceDefinition", nil, "applications.argoproj.io"))
        #expect(!isRecorded("Application", "argocd", "team-app"))
        #expect(try Self.waitUntil(h, Self.childrenExist), "ArgoCD never created platform-root's children")

        try h.resetRecord()
        let r = try await h.run(["destroy", "--use-existing", "--yes"], timeout: 120)
        #expect(r.status == 0, "\(Self.describe(r))")
        #expect(
            r.stdout.contains(
                "Removed what aphex created on the cluster at \(h.serverURL) (context kind-platform-cluster)"),
            "\(r.stdout)")

        // What existed before aphex is still there, untouched.
        let after = try #require(
            try Self.object(h, "Namespace", nil, "argocd"), "the argocd namespace that existed before aphex was deleted"
        )
        #expect(after[path: "metadata", "uid"] == before[path: "metadata", "uid"] && after.labels == before.labels)
        let teamAfter = try #require(
            try Self.object(h, "Application", "argocd", "team-app"), "an unrelated Application was deleted")
        #expect(teamAfter[path: "metadata", "uid"] == teamApp[path: "metadata", "uid"])
        #expect(teamAfter[path: "metadata", "deletionTimestamp"] == nil)
        #expect(try Self.object(h, "CustomResourceDefinition", nil, "applications.argoproj.io") != nil)
        let rec = try h.record()
        for needle in ["team-app", "namespaces/argocd", "customresourcedefinitions/applications.argoproj.io"] {
            #expect(!rec.requests.contains { $0.mutating && $0.path.hasSuffix(needle) }, "destroy wrote to \(needle)")
        }
        // No label-selector deletes: only named objects.
        #expect(!rec.requests.contains { $0.method == "DELETE" && $0.query.contains("labelSelector") })

        // aphex's own objects are gone, the record last.
        let world = try h.objects()
        func exists(_ kind: String, _ ns: String?, _ name: String) -> Bool {
            world.contains { $0["kind"]?.string == kind && $0.namespace == ns && $0.name == name }
        }
        for ns in ["auth-system", "tekton-pipelines", "platform-system", "external-secrets", "cert-manager"] {
            #expect(!exists("Namespace", nil, ns), "namespace \(ns) (aphex's) is still there")
        }
        #expect(!exists("Application", "argocd", "platform-root"))
        for c in Self.children { #expect(!exists("Application", "argocd", c), "child Application \(c) is still there") }
        #expect(
            !exists("Deployment", "argocd", "argocd-server")
                && !exists("StatefulSet", "argocd", "argocd-application-controller"))
        #expect(!exists("ConfigMap", "argocd", "aphex-component-argocd"))
        #expect(!exists("CustomResourceDefinition", nil, "appprojects.argoproj.io"))
        #expect(
            !world.contains {
                $0["kind"]?.string == "CustomResourceDefinition" && ($0.name ?? "").hasSuffix(".tekton.dev")
            })
        #expect(!world.contains { $0["kind"]?.string == "ClusterRole" && ($0.name ?? "").hasPrefix("argocd-") })
        #expect(!exists("ConfigMap", "kube-system", "aphex-ownership"))
        let lastDelete = rec.requests.last { $0.method == "DELETE" }
        #expect(lastDelete?.path == "/api/v1/namespaces/kube-system/configmaps/aphex-ownership")

        // A second destroy has nothing left to do.
        let again = try await h.run(["destroy", "--use-existing", "--yes"])
        #expect(again.status == 0 && again.stdout.contains("Nothing to remove"), "\(Self.describe(again))")
    }

    @Test func confirmationNamesTheContextAndTheAPIServer() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing")
        defer { h.stop() }
        #expect(try await Self.bootstrap(h).status == 0)
        // stdin is not a terminal: refused, naming the cluster; nothing deleted.
        let refused = try await h.run(["destroy", "--use-existing"])
        #expect(refused.status == 2, "\(Self.describe(refused))")
        #expect(
            refused.stderr.contains("\(h.serverURL) (context kind-platform-cluster)")
                && refused.stderr.contains("--yes"))
        #expect(try Self.object(h, "Application", "argocd", "platform-root") != nil)
        // The plan: the recorded objects in order, the record last; nothing deleted.
        let dry = try await h.run(["destroy", "--use-existing", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("Would remove from the cluster at \(h.serverURL) (context kind-platform-cluster)"))
        let lines = dry.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let root = lines.firstIndex(of: "Application argocd/platform-root"),
            ctrl = lines.firstIndex(of: "StatefulSet argocd/argocd-application-controller")
        let server = lines.firstIndex(of: "Deployment argocd/argocd-server")
        #expect(root != nil && ctrl != nil && server != nil && root! < server! && server! < ctrl!, "\(dry.stdout)")
        #expect(!lines.contains("Namespace argocd") && !lines.contains { $0.contains("team-app") })
        #expect(try h.record().requests.filter { $0.method == "DELETE" }.isEmpty)
    }

    // MARK: 17

    /// The normal path: ArgoCD processes platform-root's finalizer (2 s); aphex waits, says what
    /// it waits for, and deletes ArgoCD's application controller only after the Applications.
    @Test func destroyWaitsForArgoCDThenRemovesItsControllerLast() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing")
        defer { h.stop() }
        #expect(try await Self.bootstrap(h).status == 0)
        #expect(try Self.waitUntil(h, Self.childrenExist))
        try h.resetRecord()
        let r = try await h.run(["destroy", "--use-existing", "--yes"], timeout: 120)
        #expect(r.status == 0, "\(Self.describe(r))")
        #expect(
            r.stderr.contains("Waiting (")
                && r.stderr.contains(
                    """
                    Application argocd/platform-root is still there (finalizers: \
                    resources-finalizer.argocd.argoproj.io)
                    """
                ),
            "\(Self.describe(r))")
        let rec = try h.record()
        let deletes = rec.requests.filter { $0.method == "DELETE" }
        let rootDelete = try #require(deletes.firstIndex { $0.path.hasSuffix("/applications/platform-root") })
        #expect(rootDelete == 0, "platform-root is deleted first: \(deletes.prefix(3).map(\.path))")
        // The controller goes after platform-root has gone, and after every other ArgoCD object
        // outside aphex's namespaces.
        let ctrl = try #require(deletes.first { $0.path.hasSuffix("/statefulsets/argocd-application-controller") })
        let rootGone = try #require(
            rec.requests.last { $0.method == "GET" && $0.path.hasSuffix("/applications/platform-root") })
        #expect(rootGone.status == 404 && rootGone.seq < ctrl.seq)
        let argocdDeletes = deletes.filter {
            $0.path.contains("/namespaces/argocd/") && !$0.path.contains("/applications/")
        }
        #expect(argocdDeletes.count > 5 && argocdDeletes.last?.seq == ctrl.seq, "\(argocdDeletes.map(\.path))")
    }

    /// An ArgoCD that never processes the finalizer: destroy ends (exit 3) within --timeout,
    /// says why, and removes nothing else (ArgoCD stays, so the finalizer can still be processed).
    @Test func destroyTimesOutWithADiagnosisWhenArgoCDNeverProcessesTheFinalizer() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing-stuck")
        defer { h.stop() }
        #expect(try await Self.bootstrap(h).status == 0)
        #expect(try Self.waitUntil(h, Self.childrenExist))
        let r = try await h.run(["destroy", "--use-existing", "--yes", "--timeout", "3s"], timeout: 60)
        #expect(r.status == 3, "\(Self.describe(r))")
        #expect(r.seconds < 20)
        for phrase in [
            "Application argocd/platform-root is still there after",
            "finalizers: resources-finalizer.argocd.argoproj.io",
            "3 child Applications remain: catalog, controllers, ingress-controller",
            "ArgoCD's application controller (StatefulSet argocd/argocd-application-controller): ready",
            "Let ArgoCD clean up", "--remove-finalizers", "left in the cluster", "Nothing else was deleted"
        ] {
            #expect(r.stderr.contains(phrase), "stderr lacks '\(phrase)':\n\(Self.describe(r))")
        }
        #expect(r.stderr.contains("Waiting ("), "no progress while waiting")
        // ArgoCD and everything else of aphex's is still there, the record too.
        #expect(try Self.object(h, "StatefulSet", "argocd", "argocd-application-controller") != nil)
        #expect(try Self.object(h, "Namespace", nil, "auth-system") != nil)
        #expect(try Self.object(h, "ConfigMap", "kube-system", "aphex-ownership") != nil)
        #expect(try h.record().requests.filter { $0.method == "DELETE" }.count == 1)
    }

    /// ArgoCD was deleted behind aphex's back: the diagnosis says "missing"; --remove-finalizers
    /// then ends the destroy, touching only aphex's own Applications.
    @Test func removeFinalizersEndsTheDestroyAndTouchesOnlyAphexsApplications() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing")
        defer { h.stop() }
        #expect(try await Self.bootstrap(h).status == 0)
        #expect(try Self.waitUntil(h, Self.childrenExist))
        let gone = try await h.runProgram([
            "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "-n", "argocd", "delete",
            "statefulset", "argocd-application-controller"
        ])
        #expect(gone.status == 0, "\(gone.stderr)")
        let stuck = try await h.run(["destroy", "--use-existing", "--yes", "--timeout", "2s"], timeout: 60)
        #expect(stuck.status == 3, "\(Self.describe(stuck))")
        #expect(
            stuck.stderr.contains(
                "ArgoCD's application controller (StatefulSet argocd/argocd-application-controller): missing"),
            "\(Self.describe(stuck))")

        let teamApp = try #require(try Self.object(h, "Application", "argocd", "team-app"))
        try h.resetRecord()
        let r = try await h.run(
            ["destroy", "--use-existing", "--yes", "--timeout", "30s", "--remove-finalizers"], timeout: 120)
        #expect(r.status == 0, "\(Self.describe(r))")
        #expect(
            r.stderr.contains("removed resources-finalizer.argocd.argoproj.io from Application argocd/platform-root"),
            "\(Self.describe(r))")
        #expect(r.stderr.contains("LEFT in the cluster"))
        #expect(try Self.object(h, "Application", "argocd", "platform-root") == nil)
        let rec = try h.record()
        let patches = rec.requests.filter { $0.method == "PATCH" }
        #expect(
            patches.map(\.path) == ["/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/platform-root"],
            "\(patches.map(\.path))")
        // The Applications aphex did not create were not touched: the unrelated one and
        // platform-root's children (their resources are left, as the message says).
        let teamAfter = try #require(try Self.object(h, "Application", "argocd", "team-app"))
        #expect(teamAfter[path: "metadata", "finalizers"] == teamApp[path: "metadata", "finalizers"])
        #expect(teamAfter[path: "metadata", "resourceVersion"] == teamApp[path: "metadata", "resourceVersion"])
        for c in Self.children {
            #expect(try Self.object(h, "Application", "argocd", c) != nil, "child \(c) was deleted")
            #expect(!rec.requests.contains { $0.mutating && $0.path.hasSuffix("/applications/\(c)") })
        }
        #expect(!rec.requests.contains { $0.mutating && $0.path.hasSuffix("/applications/team-app") })
        // The rest of aphex's objects are gone.
        #expect(try Self.object(h, "Namespace", nil, "auth-system") == nil)
        #expect(try Self.object(h, "ConfigMap", "kube-system", "aphex-ownership") == nil)
    }

    /// Ctrl-C while destroy waits for ArgoCD: exit 130 with the command that resumes; the
    /// re-run finishes the job. ArgoCD's application controller is scaled to 0 for the first
    /// run, so the wait lasts until the Ctrl-C however slow the machine (with the scenario's
    /// 2 s finalizer, a loaded run finished before the signal), and back to 1 for the re-run.
    @Test func ctrlCDuringTheWaitExits130AndTheRerunResumes() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-existing")
        defer { h.stop() }
        #expect(try await Self.bootstrap(h).status == 0)
        #expect(try Self.waitUntil(h, Self.childrenExist))
        func scaleController(_ n: Int) async throws {
            let r = try await h.runProgram([
                "/usr/bin/kubectl", "--kubeconfig", h.kubeconfigPath, "-n", "argocd", "patch",
                "statefulset/argocd-application-controller", "--type=merge", "-p", "{\"spec\":{\"replicas\":\(n)}}"
            ])
            #expect(r.status == 0, "\(r.stderr) \(r.stdout)")
        }
        try await scaleController(0)
        let (p, buffer, _) = try Lifecycle.startAphex(h, ["destroy", "--use-existing", "--yes"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, p.isRunning, !buffer.text.contains("Waiting (") {
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(p.processIdentifier, SIGINT)
        await p.exited()
        usleep(200_000)
        #expect(p.terminationStatus == 130, "exit \(p.terminationStatus): \(buffer.text.suffix(800))")
        #expect(
            buffer.text.contains("aphex destroy --use-existing --yes")
                && buffer.text.contains("continue where this run stopped"),
            "\(buffer.text.suffix(800))")
        // Interrupted while ArgoCD was still cleaning up: ArgoCD and aphex's record are still there.
        #expect(try Self.object(h, "ConfigMap", "kube-system", "aphex-ownership") != nil)
        #expect(try Self.object(h, "StatefulSet", "argocd", "argocd-application-controller") != nil)

        try await scaleController(1)
        let again = try await h.run(["destroy", "--use-existing", "--yes"], timeout: 120)
        #expect(again.status == 0, "\(Self.describe(again))")
        #expect(try Self.object(h, "Application", "argocd", "platform-root") == nil)
        #expect(try Self.object(h, "Namespace", nil, "auth-system") == nil)
        #expect(try Self.object(h, "ConfigMap", "kube-system", "aphex-ownership") == nil)
        #expect(try Self.object(h, "Application", "argocd", "team-app") != nil)
    }
}
