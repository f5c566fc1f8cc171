import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import SimCluster
import Testing

/// The same apply phase on the shared simulated cluster (its kubectl emulation, API server
/// and CRD controller, on the real clock: CRDs Established per the scenario's timings).
@Suite struct SimApplyBenchmark {
    static func measure(_ bundles: [ManifestBundle], sequential: Bool) async throws -> Double {
        let sim = try SimCluster(scenario: "happy-kind", clock: SystemClock())
        let api = KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock)
        let env = InstallEnvironment(
            runner: sim.runner, api: api, clock: sim.clock, reporter: SilentReporter(),
            kubectl: Kubectl(kubeconfig: sim.kubeconfigPath, runner: sim.runner),
            pollInterval: .milliseconds(100))
        let start = ContinuousClock.now
        let report = try await BundleInstaller(env: env, sequential: sequential).install(bundles)
        #expect(report.changed.count == bundles.count)
        return (ContinuousClock.now - start).seconds
    }

    @Test(.enabled(if: ApplyBenchmark.enabled))
    func applyPhaseOnTheSimulator() async throws {
        let bundles = try ApplyBenchmark.bundles()
        let runs = ApplyBenchmark.setting("APHEX_BENCH_RUNS", 3)
        var c: [Double] = [], s: [Double] = []
        for _ in 0..<runs {
            c.append(try await Self.measure(bundles, sequential: false))
            s.append(try await Self.measure(bundles, sequential: true))
        }
        func median(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }
        print(
            String(
                format: "BENCH apply-phase-sim runs=%d concurrent_s=%.2f sequential_s=%.2f speedup=%.2fx",
                runs, median(c), median(s), median(s) / median(c)))
        #expect(median(c) < median(s))
    }
}
