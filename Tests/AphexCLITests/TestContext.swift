import AphexCore
import Bootstrap
import Foundation
import KubeClient
import SimCluster

/// A context for command tests: results captured in memory, a runner that refuses every
/// command, and no API client (`makeKubeAPI` fails loudly unless the test gives one).
struct TestContext {
    let out = BufferWriter()
    var ctx: AppContext

    init(home: String = NSTemporaryDirectory(), environment: [String: String] = [:],
         clock: any TimeSource = SystemClock(), makeKubeAPI: KubeAPIFactory? = nil) {
        var env = environment
        env["HOME"] = env["HOME"] ?? home
        let host = HostContext(runner: RefusingRunner(), reporter: SilentReporter(), clock: clock, environment: env,
                               homeDirectory: home,
                               makeTransport: { _ in fatalError("this test did not set up an HTTP transport") })
        ctx = AppContext(host: host, output: out, makeKubeAPI: makeKubeAPI ?? AppContext.kubeAPINotSetUp)
    }

    /// A context whose API client is the simulated cluster's (in process, its virtual clock).
    init(sim: SimCluster) {
        self.init(home: sim.home, environment: sim.environment, clock: sim.clock,
                  makeKubeAPI: { _, _ in KubeClient(server: sim.baseURL, transport: sim.transport, clock: sim.clock) })
    }
}

/// Fails every command: a command test that reaches for a host tool it did not fake fails.
struct RefusingRunner: CommandRunner {
    func run(_ command: Command) async throws -> CommandOutput {
        throw SeamNotSetUp(seam: "the command runner (\(command.display))")
    }
}

/// Drops every event (command tests read stdout).
struct SilentReporter: Reporter {
    func emit(_ event: ReportEvent) {}
}
