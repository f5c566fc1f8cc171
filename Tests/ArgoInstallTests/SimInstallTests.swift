import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing
import TestSupport

/// The install steps against the shared simulated cluster (its kubectl emulation, API server
/// and controllers), through the real API client.
@Suite struct SimInstallTests {
    struct Setup {
        let sim: SimCluster
        let env: InstallEnvironment
        let dir: Fixtures.TempDir
        let fetcher: ManifestFetcher
    }

    func setup(_ scenario: String = "happy-kind") throws -> Setup {
        let sim = try SimCluster(scenario: scenario)
        let api = KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock)
        // The sim's runner races a command's timeout against a sleep on its auto-advancing
        // virtual clock, where a sleep returns at once: every command with a timeout would "time
        // out". Commands here run without their timeout (the real runner keeps it).
        let simRunner = sim.runner
        let runner = RecordingRunner { command in
            var c = command
            c.timeout = nil
            return try await simRunner.run(c)
        }
        let env = InstallEnvironment(
            runner: runner, api: api, clock: sim.clock, reporter: CollectingReporter(),
            kubectl: Kubectl(kubeconfig: sim.kubeconfigPath, runner: runner))
        let dir = try Fixtures.manifestsDir()
        let fetcher = ManifestFetcher(
            transport: NoNetworkTransport(), clock: sim.clock, reporter: SilentReporter(),
            settings: FetchSettings(
                cacheDirectory: sim.home + "/cache", lockPath: sim.home + "/lock",
                manifestsDir: dir.path))
        return Setup(sim: sim, env: env, dir: dir, fetcher: fetcher)
    }

    @Test func fullInstallThenReRunOnTheSimulator() async throws {
        let s = try setup()
        let report = try await ComponentInstall.run(
            ComponentRequest(names: Catalog.names), fetcher: s.fetcher, env: s.env, dryRun: false)
        #expect(report.changed.count == 5, "\(report)")
        let applies = s.sim.record.commands.filter { $0.argv.contains("apply") }
        #expect(applies.allSatisfy { $0.status == 0 }, "\(applies.filter { $0.status != 0 }.map(\.stderr))")
        #expect(s.sim.world.get(.crds, namespace: nil, name: "applications.argoproj.io") != nil)
        #expect(s.sim.world.get(.deployments, namespace: "argocd", name: "argocd-server") != nil)
        #expect(
            s.sim.world.get(.configMaps, namespace: "tekton-pipelines", name: "aphex-component-tekton-interceptors")
                != nil)

        let config = try await ArgoCDConfig.configure(s.env, insecure: true, dryRun: false)
        #expect(config.changed.count == 3, "\(config)")
        let cm = s.sim.world.get(.configMaps, namespace: "argocd", name: "argocd-cm")
        #expect(cm?[path: "data", ArgoCDConfig.healthKey]?.string == ArgoCDConfig.healthLua)

        let root = try await RootApplication(deployment: .kind).ensure(s.env, dryRun: false)
        #expect(root.outcome == .done)
        #expect(s.sim.world.get(.applications, namespace: "argocd", name: "platform-root") != nil)

        // Re-run everything: no mutating command at all.
        s.sim.record.reset()
        _ = try await ComponentInstall.run(
            ComponentRequest(names: Catalog.names), fetcher: s.fetcher, env: s.env, dryRun: false)
        _ = try await ArgoCDConfig.configure(s.env, insecure: true, dryRun: false)
        _ = try await RootApplication(deployment: .kind).ensure(s.env, dryRun: false)
        #expect(
            s.sim.record.commands.filter(\.mutating).isEmpty, "\(s.sim.record.commands.filter(\.mutating).map(\.argv))")
    }
}
