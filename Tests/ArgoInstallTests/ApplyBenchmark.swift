import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing

/// The apply phase of all five bundles (ArgoCD, Tekton pipelines, triggers, interceptors,
/// dashboard), concurrent vs sequential, on the in-memory cluster with real latency:
/// every kubectl call costs APHEX_BENCH_CALL_MS (default 150) plus APHEX_BENCH_OBJECT_MS
/// (default 3) per object, and a CRD becomes Established APHEX_BENCH_CRD_MS (default 800)
/// after it is applied. Run by scripts/bench-apply.sh (APHEX_BENCH=1); skipped otherwise.
@Suite struct ApplyBenchmark {
    static var enabled: Bool { ProcessInfo.processInfo.environment["APHEX_BENCH"] == "1" }

    static func setting(_ key: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[key].flatMap(Int.init) ?? fallback
    }

    static func bundles() throws -> [ManifestBundle] {
        try resolveComponents(Catalog.names).map { c in
            let bytes =
                c.name == "tekton-dashboard"
                ? Array(Fixtures.dashboard().utf8) : try Fixtures.shared(Fixtures.sharedFiles[c.name]!)
            return try ManifestBundle(
                FetchedManifest(
                    component: c, bytes: bytes, sha256: Digest.sha256Hex(bytes), origin: .cache(path: "bench")))
        }
    }

    /// Seconds for one fresh install of `bundles`.
    static func measure(_ bundles: [ManifestBundle], sequential: Bool) async throws -> (Double, Int) {
        let clock = SystemClock()
        let cluster = FakeCluster(clock: clock)
        cluster.callLatency = .milliseconds(setting("APHEX_BENCH_CALL_MS", 150))
        cluster.objectLatency = .milliseconds(setting("APHEX_BENCH_OBJECT_MS", 3))
        cluster.crdDelay = .milliseconds(setting("APHEX_BENCH_CRD_MS", 800))
        let env = InstallEnvironment(
            runner: cluster.runner, api: cluster.api, clock: clock, reporter: SilentReporter(),
            kubectl: Kubectl(kubeconfig: "/bench/kubeconfig", runner: cluster.runner),
            pollInterval: .milliseconds(100))
        let installer = BundleInstaller(env: env, sequential: sequential)
        let start = ContinuousClock.now
        let report = try await installer.install(bundles)
        let elapsed = (ContinuousClock.now - start).seconds
        #expect(report.changed.count == bundles.count)
        return (elapsed, cluster.applies.count)
    }

    @Test(.enabled(if: ApplyBenchmark.enabled))
    func applyPhaseConcurrentVsSequential() async throws {
        let bundles = try Self.bundles()
        let runs = Self.setting("APHEX_BENCH_RUNS", 3)
        var concurrent: [Double] = [], sequential: [Double] = []
        var calls = 0
        for _ in 0..<runs {
            let (c, n) = try await Self.measure(bundles, sequential: false)
            let (s, _) = try await Self.measure(bundles, sequential: true)
            concurrent.append(c)
            sequential.append(s)
            calls = n
        }
        func median(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }
        let objects = bundles.reduce(0) { $0 + $1.objectCount }
        let c = median(concurrent), s = median(sequential)
        print(
            String(
                format:
                    """
                    BENCH apply-phase bundles=%d objects=%d kubectl_calls=%d runs=%d concurrent_s=%.2f \
                    sequential_s=%.2f speedup=%.2fx
                    """,
                bundles.count, objects, calls, runs, c, s, s / c))
        #expect(c < s)
    }
}
