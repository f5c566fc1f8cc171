import AphexCore
import Bootstrap
import Foundation
import KubeClient
import SimCluster

/// A context for command tests: results captured in memory; the runner, the HTTP transport
/// and the API client factory fail loudly (`SeamNotSetUp`) unless the test gives its own.
struct TestContext {
    let out = BufferWriter()
    var ctx: AppContext

    init(home: String = NSTemporaryDirectory(), environment: [String: String] = [:],
         clock: any TimeSource = SystemClock(), makeKubeAPI: KubeAPIFactory? = nil) {
        var env = environment
        env["HOME"] = env["HOME"] ?? home
        let host = HostContext(runner: RefusingRunner(), reporter: SilentReporter(), clock: clock, environment: env,
                               homeDirectory: home,
                               makeTransport: { _ in RefusingTransport() })
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

/// Fails every request: a command test never reaches a real server through a transport it did
/// not set up.
struct RefusingTransport: HTTPTransport {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw SeamNotSetUp(seam: "the HTTP transport (\(request.method) \(request.url))")
    }
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        throw SeamNotSetUp(seam: "the HTTP transport (\(request.method) \(request.url))")
    }
}

/// Drops every event (command tests read stdout).
struct SilentReporter: Reporter {
    func emit(_ event: ReportEvent) {}
}
