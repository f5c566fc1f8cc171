import AphexCore
import Bootstrap
import Foundation
import KubeClient
import SimCluster
import TestSupport

/// A context for command tests: results captured in memory; the runner and the HTTP transport
/// fail loudly (TestSupport's unscripted `RecordingRunner`, `RefusingTransport`) and the API
/// client factory throws `SeamNotSetUp`, unless the test gives its own.
struct TestContext {
    let out = BufferWriter()
    var ctx: AppContext

    init(
        home: String = NSTemporaryDirectory(), environment: [String: String] = [:],
        clock: any TimeSource = SystemClock(), makeKubeAPI: KubeAPIFactory? = nil
    ) {
        var env = environment
        env["HOME"] = env["HOME"] ?? home
        let host = HostContext(
            runner: RecordingRunner(), reporter: CollectingReporter(), clock: clock, environment: env,
            homeDirectory: home,
            makeTransport: { _ in RefusingTransport() })
        ctx = AppContext(host: host, output: out, makeKubeAPI: makeKubeAPI ?? AppContext.kubeAPINotSetUp)
    }

    /// A context whose API client is the simulated cluster's (in process, its virtual clock).
    init(sim: SimCluster) {
        self.init(
            home: sim.home, environment: sim.environment, clock: sim.clock,
            makeKubeAPI: { _, _ in KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock) })
    }
}
