@testable import AphexCLI
import AphexCore
import ArgumentParser
import Bootstrap
import KubeClient
import SimCluster
import Testing

/// `aphex status` parsed from argv and run against the in-process simulated cluster.
@Suite struct StatusCommandTests {
    /// A kind cluster with ArgoCD's namespace but no platform-root yet: not converged.
    func run(_ argv: [String]) async throws -> (code: Int32, out: String) {
        let sim = try SimCluster(scenario: "happy-kind")
        let t = TestContext(sim: sim)
        let cmd = try Status.parse(argv + ["--kubeconfig", sim.kubeconfigPath])
        do {
            try await cmd.run(cmd.context(t.ctx))
            return (0, t.out.text)
        } catch let e as ExitCode {
            return (e.rawValue, t.out.text)
        }
    }

    @Test func jsonDocumentAndExit1WhenNotConverged() async throws {
        let (code, out) = try await run(["--output", "json"])
        #expect(code == 1)
        let doc = try JSON.parse(out)
        #expect(doc["schemaVersion"]?.int == 1)
        #expect(doc["converged"]?.bool == false)
        #expect(doc[path: "cluster", "reachable"]?.bool == true)
        #expect(doc[path: "root", "found"]?.bool == false)
        #expect(doc[path: "root", "name"]?.string == "platform-root")
        // Keys sorted, `"key": value`, two-space indent.
        #expect(out.hasPrefix("{\n  \"certManager\": ") || out.hasPrefix("{\n  \"cluster\": "), "\(out.prefix(40))")
        #expect(out.hasSuffix("}\n"))
    }

    @Test func textReportAndExit1WhenNotConverged() async throws {
        let (code, out) = try await run([])
        #expect(code == 1)
        #expect(out.contains("Cluster: reachable"), "\(out)")
        #expect(out.contains("platform-root"), "\(out)")
        #expect(!out.hasPrefix("{"))
    }

    @Test func withoutAnAPIFactoryTheTestFailsLoudly() async throws {
        let sim = try SimCluster(scenario: "happy-kind")
        let t = TestContext(home: sim.home)  // no makeKubeAPI: never a real cluster
        let cmd = try Status.parse(["--kubeconfig", sim.kubeconfigPath])
        await #expect(throws: SeamNotSetUp.self) { try await cmd.run(cmd.context(t.ctx)) }
    }
}
