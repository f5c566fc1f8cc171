@testable import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

/// Installing the five real bundles on the in-memory cluster: order, concurrency rules,
/// idempotence, upgrades, timeouts, dry run.
final class Harness: @unchecked Sendable {
    let home = Fixtures.TempDir()
    let dir: Fixtures.TempDir
    let clock = VirtualClock()
    let reporter = CollectingReporter()
    let cluster: FakeCluster

    init(dashboardVersion: String = "v0.64.0") throws {
        dir = try Fixtures.manifestsDir(dashboardVersion: dashboardVersion)
        cluster = FakeCluster(clock: clock)
    }

    var env: InstallEnvironment {
        InstallEnvironment(
            runner: cluster.runner, api: cluster.api, clock: clock, reporter: reporter,
            kubectl: Kubectl(kubeconfig: "/tmp/kc", context: "kind-test", runner: cluster.runner))
    }

    var fetcher: ManifestFetcher {
        var s = FetchSettings(
            cacheDirectory: home.path + "/cache", lockPath: home.path + "/manifests.lock", manifestsDir: dir.path)
        s.retries = 0
        return ManifestFetcher(transport: NoNetworkTransport(), clock: clock, reporter: reporter, settings: s)
    }

    @discardableResult
    func install(
        _ names: [String] = Catalog.names, versions: [String: String] = [:], dryRun: Bool = false,
        sequential: Bool = false, crdTimeout: Duration = .seconds(120)
    ) async throws -> InstallReport {
        try await ComponentInstall.run(
            ComponentRequest(names: names, versions: versions), fetcher: fetcher, env: env,
            dryRun: dryRun, sequential: sequential, crdTimeout: crdTimeout)
    }

    /// Index of the first apply containing an object of `kind` (optionally `name`).
    func firstApply(kind: String, name: String? = nil) -> Int? {
        cluster.applies.firstIndex { $0.objects.contains { $0.kind == kind && (name == nil || $0.name == name) } }
    }
    func lastApply(kind: String, name: String? = nil) -> Int? {
        cluster.applies.lastIndex { $0.objects.contains { $0.kind == kind && (name == nil || $0.name == name) } }
    }
}

@Suite struct InstallTests {
    @Test(arguments: [false, true])
    func freshInstallAppliesEverythingInOrder(sequential: Bool) async throws {
        let h = try Harness()
        let report = try await h.install(sequential: sequential)
        #expect(report.outcome == .done)
        #expect(report.changed.count == 5)
        #expect(report.changed[0] == "ArgoCD v3.3.0: applied 60 objects (3 CRDs)")

        let applies = h.cluster.applies
        // Every apply is server-side, forced, by field manager aphex, from stdin.
        for a in applies {
            #expect(Array(a.argv.prefix(5)) == ["kubectl", "--kubeconfig", "/tmp/kc", "--context", "kind-test"])
            #expect(a.argv.contains("--server-side") && a.argv.contains("--force-conflicts"))
            #expect(a.argv.contains("--field-manager=aphex"))
            #expect(Array(a.argv.suffix(2)) == ["-f", "-"])
        }
        // Namespaces first: every Namespace apply precedes every other apply.
        let nsApplies = applies.indices.filter { applies[$0].objects.allSatisfy { $0.kind == "Namespace" } }
        let otherApplies = applies.indices.filter { !nsApplies.contains($0) }
        #expect(nsApplies.max()! < otherApplies.min()!)
        #expect(applies.filter { $0.objects.contains { $0.kind == "Namespace" } }.count == nsApplies.count)
        // CRDs before the objects of the same bundle, and each custom resource after its CRD.
        #expect(
            h.lastApply(kind: "CustomResourceDefinition", name: "applications.argoproj.io")!
                < h.firstApply(kind: "StatefulSet", name: "argocd-application-controller")!)
        #expect(
            h.lastApply(kind: "CustomResourceDefinition", name: "clusterinterceptors.triggers.tekton.dev")!
                < h.firstApply(kind: "ClusterInterceptor")!)
        // Interceptors after triggers is finished (its marker written).
        #expect(
            h.firstApply(kind: "ConfigMap", name: "aphex-component-tekton-triggers")!
                < h.firstApply(kind: "ClusterInterceptor")!)
        // ArgoCD's namespace-less objects go to argocd.
        let argoRest = applies.first { $0.objects.contains { $0.name == "argocd-server" && $0.kind == "Deployment" } }!
        #expect(argoRest.argv.contains("--namespace") && argoRest.argv.contains("argocd"))
        #expect(h.cluster.object("Deployment", "argocd", "argocd-server") != nil)
        #expect(h.cluster.object("ClusterRole", nil, "argocd-server") != nil)
        // Images rewritten in what was applied.
        #expect(!applies.contains { $0.stdin.contains("gcr.io/tekton-releases") })
        let controller = h.cluster.object("Deployment", "tekton-pipelines", "tekton-pipelines-controller")!
        #expect(
            controller[path: "spec", "template", "spec", "containers"]?[0]?["image"]?.string
                == "ghcr.io/tektoncd/github.com/tektoncd/pipeline/cmd/controller:v0.65.0")
        // Markers.
        let marker = h.cluster.object("ConfigMap", "argocd", "aphex-component-argocd")!
        #expect(marker.annotations["aphex.dev/component-version"] == "v3.3.0")
        #expect(marker[path: "data", "sha256"]?.string == Catalog.argocd.digests["v3.3.0"])
        // The release's own (digest-checked) objects skip kubectl's per-process OpenAPI check;
        // what aphex writes itself (namespaces, markers) keeps kubectl's strict validation.
        for a in applies {
            let release = !a.objects.contains { $0.kind == "Namespace" || $0.name.hasPrefix("aphex-component-") }
            #expect(a.argv.contains("--validate=false") == release, "\(a.argv) \(a.objects.map(\.kind))")
        }
        // All 59 + 75 + 42 + 8 + 4 upstream objects, argocd's namespace and five markers.
        let appliedCount: Int = applies.reduce(0) { $0 + $1.objects.count }
        let expected: Int = 59 + 75 + 42 + 8 + 4 + 1 + 5
        #expect(appliedCount == expected)
    }

    @Test func reRunAppliesNothing() async throws {
        let h = try Harness()
        try await h.install()
        h.cluster.clearRecord()
        let report = try await h.install()
        #expect(report.outcome == .unchanged)
        #expect(report.unchanged.count == 5)
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func versionBumpReappliesOnlyThatBundle() async throws {
        let h = try Harness(dashboardVersion: "v0.64.0")
        try await h.install()
        h.dir.write("tekton-dashboard-v0.65.0.yaml", Array(Fixtures.dashboard(version: "v0.65.0").utf8))
        h.cluster.clearRecord()
        let report = try await h.install(versions: ["tekton-dashboard": "v0.65.0"])
        #expect(report.changed == ["Tekton Dashboard v0.65.0: upgraded from v0.64.0, applied 4 objects (0 CRDs)"])
        #expect(report.unchanged.count == 4)
        let touched = Set(h.cluster.applies.flatMap { $0.objects.map(\.name) })
        #expect(touched == ["tekton-dashboard", "tekton-dashboard-backend-view", "aphex-component-tekton-dashboard"])
        #expect(
            h.cluster.object("ConfigMap", "tekton-pipelines", "aphex-component-tekton-dashboard")?[
                path: "data", "version"]?.string == "v0.65.0")
    }

    @Test func concurrentAppliesOverlapButRespectDependencies() async throws {
        let h = try Harness()
        h.cluster.callLatency = .milliseconds(30)
        try await h.install()
        // The first CRD applies of argocd, pipelines and triggers all happen before any of
        // them has its rest applied: they ran concurrently.
        let firstRest = ["argocd-server", "tekton-pipelines-controller", "tekton-triggers-controller"]
            .map { h.firstApply(kind: "Deployment", name: $0)! }
        let crds = ["applications.argoproj.io", "pipelines.tekton.dev", "triggers.triggers.tekton.dev"]
            .map { h.firstApply(kind: "CustomResourceDefinition", name: $0)! }
        #expect(crds.max()! < firstRest.min()!)
    }

    @Test func crdNeverEstablishedTimesOutNamingIt() async throws {
        let h = try Harness()
        h.cluster.neverEstablish = ["appprojects.argoproj.io"]
        let error = await #expect(throws: AphexError.self) {
            try await h.install(["argocd"], crdTimeout: .seconds(30))
        }
        #expect(error?.status == .timeout)
        #expect(error?.message.contains("appprojects.argoproj.io") == true)
        #expect(error?.detail?.contains("no Established condition") == true)
        // Nothing but namespaces and CRDs were applied, and no marker.
        #expect(h.firstApply(kind: "Deployment") == nil)
        #expect(h.cluster.object("ConfigMap", "argocd", "aphex-component-argocd") == nil)
    }

    @Test func digestMismatchAppliesNothing() async throws {
        let h = try Harness()
        h.dir.write("argocd-v3.3.0.yaml", Array("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n".utf8))
        let error = await #expect(throws: AphexError.self) { try await h.install() }
        #expect(error?.status == .failed)
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func kubectlFailureNamesTheBundle() async throws {
        let h = try Harness()
        // Interceptors alone: their namespace and CRDs (from pipelines/triggers) are missing.
        let error = await #expect(throws: AphexError.self) { try await h.install(["tekton-interceptors"]) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("Tekton Core Interceptors v0.34.0") == true)
        #expect(error?.detail?.contains("not found") == true)
    }

    @Test func dryRunTouchesNothing() async throws {
        let h = try Harness()
        let report = try await h.install(dryRun: true)
        #expect(report.outcome == .planned)
        #expect(report.planned.count == 5)
        #expect(
            report.planned[0].hasPrefix(
                """
                install ArgoCD v3.3.0 from \
                https://raw.githubusercontent.com/argoproj/argo-cd/v3.3.0/manifests/install.yaml (1 namespaces, 3 \
                CRDs, 56 objects)
                """
            ))
        #expect(
            report.planned[0].contains(
                """
                $ kubectl --kubeconfig /tmp/kc --context kind-test apply --server-side --force-conflicts \
                --field-manager=aphex --namespace argocd -f -
                """
            ))
        #expect(h.cluster.commands.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: h.home.path + "/manifests.lock"))
        // After an install, a dry run plans nothing.
        try await h.install()
        h.cluster.clearRecord()
        let again = try await h.install(dryRun: true)
        #expect(again.outcome == .unchanged)
        #expect(h.cluster.commands.isEmpty)
    }

    @Test func rewritesAreReportedAtDebugLevel() async throws {
        let h = try Harness()
        try await h.install(["tekton-pipelines"])
        let debug = h.reporter.messages(.debug).filter { $0.contains("-> ghcr.io/tektoncd/") }
        #expect(debug.count == 8)
        #expect(h.reporter.messages(.info).contains { $0.contains("rewrote 8 image references") })
    }
}

@Suite struct InstallErrorTests {
    @Test func missingKubectlIsAPrerequisite() async throws {
        let h = try Harness()
        var env = h.env
        let missing = RecordingRunner()
        missing.notFound(["kubectl"])
        env.runner = missing
        let error = await #expect(throws: AphexError.self) {
            try await ComponentInstall.run(
                ComponentRequest(names: ["argocd"]), fetcher: h.fetcher, env: env, dryRun: false)
        }
        #expect(error?.status == .prerequisite)
        #expect(error?.message.contains("kubectl was not found on PATH") == true)
    }

    @Test func componentsFileSelectsVersionsAndPins() async throws {
        let h = try Harness()
        let file = h.home.path + "/components.yaml"
        // Pin the dashboard stand-in by digest, and pick its version from the file.
        h.dir.write("tekton-dashboard-v0.65.0.yaml", Array(Fixtures.dashboard(version: "v0.65.0").utf8))
        let wrong = String(repeating: "0", count: 64)
        FileManager.default.createFile(
            atPath: file,
            contents: Data("versions: {tekton-dashboard: v0.65.0}\nsha256: {tekton-dashboard: \(wrong)}\n".utf8))
        let error = await #expect(throws: AphexError.self) {
            try await ComponentInstall.run(
                ComponentRequest(names: ["tekton-dashboard"], componentsFile: file),
                fetcher: h.fetcher, env: h.env, dryRun: false)
        }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("components file pins \(wrong)") == true)
        #expect(h.cluster.commands.isEmpty)
        let missing = await #expect(throws: AphexError.self) {
            try await ComponentInstall.run(
                ComponentRequest(names: ["argocd"], componentsFile: h.home.path + "/nope.yaml"),
                fetcher: h.fetcher, env: h.env, dryRun: false)
        }
        #expect(missing?.status == .usage)
    }
}

/// A large set of objects goes to kubectl as a few concurrent streams (kubectl PATCHes one
/// object at a time): the apply phase's speed on a real API server (issue 13).
@Suite struct ApplyStreamTests {
    @Test func largeSetsSplitIntoBalancedStreamsSmallOnesStayWhole() throws {
        let objects = (0..<40).map { i in
            #"""
            {"kind":"ConfigMap","metadata":{"name":"cm\#(i)"},\#
            "data":{"x":"\#(String(repeating: "a", count: 12000 + 100 * i))"}}
            """#
        }
        let streams = ApplyChunks.split(objects)
        #expect(streams.count == ApplyChunks.maxStreams)
        // Every object exactly once, each stream in the objects' order, sizes balanced.
        let lines = streams.map { $0.split(separator: "\n").map(String.init) }
        #expect(lines.flatMap { $0 }.sorted() == objects.sorted())
        for l in lines { #expect(l == l.sorted { objects.firstIndex(of: $0)! < objects.firstIndex(of: $1)! }) }
        let sizes = streams.map(\.utf8.count)
        #expect(Double(sizes.max()!) < 1.25 * Double(sizes.min()!))
        // Small sets, and one-stream environments, stay whole.
        #expect(ApplyChunks.split(Array(objects.prefix(3))).count == 1)
        #expect(ApplyChunks.split(objects, maxStreams: 1).count == 1)
        #expect(ApplyChunks.split(objects, maxStreams: 1)[0] == objects.joined(separator: "\n") + "\n")
    }

    @Test func argoCDsObjectsGoThroughConcurrentKubectlProcesses() async throws {
        let h = try Harness()
        h.cluster.callLatency = .milliseconds(100)  // real sleeping: concurrent calls overlap
        try await h.install(["argocd"])
        // The 56 objects after the CRDs: several streams, together exactly the bundle's objects;
        // the three CRDs (a megabyte) too.
        let rest = h.cluster.applies.filter {
            $0.objects.contains { $0.kind == "Deployment" || $0.kind == "ClusterRole" || $0.kind == "Service" }
        }
        #expect(rest.count > 1)
        #expect(rest.flatMap(\.objects).count == 56)
        let crds = h.cluster.applies.filter { $0.objects.contains { $0.kind == "CustomResourceDefinition" } }
        #expect(crds.count == 3 && crds.allSatisfy { $0.objects.count == 1 })
        // And they ran at the same time.
        #expect(h.cluster.maxInFlight > 1)
    }
}
